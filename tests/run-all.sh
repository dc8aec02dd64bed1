#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test:
#   1. Release build with warnings as errors: unit and integration tests (ctest); then the
#      Debian package from that build, installed, run and purged (deploy/package-test.sh).
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build: unit and integration tests.
#   3. libFuzzer targets built with clang, each run for FUZZ_SECONDS (default 10) from the
#      committed corpus (tests/fuzz/campaign.sh runs them for long).
# The two g++ builds are unity builds (16 sources per translation unit: Asio, Beast and
# OpenSSL headers parsed once per batch, not once per file). The non-unity builds that catch
# a missing #include are deploy.check's (the Dockerfile's build of the relay from its COPYed
# files) and the fuzz stage's. Tests run 2 per core: most of their time is spent waiting on
# sockets and timers, and those that must run alone are RUN_SERIAL (tests/CMakeLists.txt).
# For the same reason the next stage's build runs beside each stage's tests, at the lowest
# CPU priority.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc)
test_jobs=$((2 * jobs))
unity=(-DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=16)
fuzz_seconds=${FUZZ_SECONDS:-10}
deploy/install-deps.sh test

# build_behind LOG CMAKE-BUILD-ARGS...: builds at the lowest priority in the background, in a
# process group of its own ($behind), beside tests that mostly wait; finish_behind waits for it
# and fails loudly. If this script stops early, the build stops with it.
behind=""
trap '[ -z "$behind" ] || kill -- -"$behind" 2>/dev/null || true' EXIT
build_behind() {
  behind_log=$1
  shift
  setsid nice -n 19 cmake --build "$@" >"$behind_log" 2>&1 &
  behind=$!
}
finish_behind() {
  local status=0
  wait "$behind" || status=$?
  behind=""
  if [ "$status" != 0 ]; then
    tail -n 80 "$behind_log"
    echo "build failed: $behind_log" >&2
    exit 1
  fi
}

echo "== Release build, unit and integration tests (the sanitizer build beside them)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DHUSH_WERROR=ON -DHUSH_TESTS=ON -DHUSH_SANITIZE=OFF \
  "${unity[@]}" >/dev/null
cmake --build build -j "$jobs"
# -O1 and no load generator keep the sanitizer build short.
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DHUSH_WERROR=ON -DHUSH_TESTS=ON -DHUSH_SANITIZE=ON -DHUSH_LOADTEST=OFF "${unity[@]}" >/dev/null
build_behind build-asan/background-build.log build-asan -j "$jobs"
ctest --test-dir build --no-tests=error --output-on-failure -j "$test_jobs"

echo "== Debian package: built from the Release tree, lintian, installed, run as its unit runs it, purged"
deb=$(deploy/package.sh build)
deploy/package-test.sh "$deb"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer: unit and integration tests (the fuzzers' build beside them)"
finish_behind
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHUSH_FUZZ=ON \
  -DHUSH_TESTS=OFF >/dev/null
build_behind build-fuzz/background-build.log build-fuzz -j "$jobs" --target fuzz_all
# The one test that only waits out a 60 s lifetime runs in the Release stage alone, and so
# does the one that runs the relay out of file descriptors: the sanitizers' runtime needs
# descriptors of its own (UBSan's vptr check probes memory through a pipe), so at the limit
# it reports a valid object as having an invalid vptr. Of the Softphone tests (real SIP
# phones, calls in real time) one runs here, the relay sanitized under a ZRTP call; the other
# three run in the Release stage alone.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --no-tests=error --output-on-failure -j "$test_jobs" -E 'KernelFastpath.AnExpiredAllocation|BadInput.RunningOutOfDescriptors|Softphone.ZrtpCallOverTurn|Softphone.Baresip'

echo "== libFuzzer, ${fuzz_seconds}s per target"
finish_behind
# Two targets at a time (one per core): each runs from its corpus into a scratch directory (the
# committed corpus is read only), and its summary is printed when it ends. A crash fails CI.
fuzz_one() {
  local binary=$1 target=${1##*/fuzz_} work
  work=$(mktemp -d)
  if (cd "$work" && "$root/$binary" -max_total_time="$fuzz_seconds" -max_len=4096 -print_final_stats=1 "$work" \
        "$root/tests/fuzz/corpus/$target" >"$work.log" 2>&1); then
    tail -n 12 "$work.log"
    echo "fuzz: $target ran ${fuzz_seconds}s with no crash"
    rm -rf "$work" "$work.log"
  else
    tail -n 60 "$work.log"
    echo "fuzz: $target FAILED (inputs in $work)"
    return 1
  fi
}
running=0
failed=0
for binary in build-fuzz/tests/fuzz/fuzz_*; do
  fuzz_one "$binary" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
[ "$failed" = 0 ] || { echo "fuzz: a target failed" >&2; exit 1; }
echo "All tests passed: unit, integration (Release and ASan/UBSan), fuzz."
