#!/usr/bin/env bash
# Line coverage of the protocol cores reached by the committed fuzz corpora alone: every
# target built with clang's source-based coverage, run once over its corpus (-runs=0), the
# profiles merged, and `llvm-cov report` over relay/stun, relay/auth, relay/policy and
# relay/turn (docs/security.md shows the result). Usage: tests/fuzz/coverage.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
out=${1:-$root/build-coverage/report}
build=$root/build-coverage
deploy/install-deps.sh fuzz
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHUSH_FUZZ=ON \
  -DHUSH_TESTS=OFF -DCMAKE_CXX_FLAGS="-fprofile-instr-generate -fcoverage-mapping" \
  -DCMAKE_EXE_LINKER_FLAGS="-fprofile-instr-generate" >/dev/null
cmake --build "$build" -j "$(nproc)" --target fuzz_all >/dev/null
rm -rf "$out" && mkdir -p "$out/profiles"
binaries=()
for binary in "$build"/tests/fuzz/fuzz_*; do
  target=${binary##*/fuzz_}
  LLVM_PROFILE_FILE="$out/profiles/$target.profraw" "$binary" -runs=0 -max_len=4096 \
    "$root/tests/fuzz/corpus/$target" >/dev/null 2>&1
  binaries+=("$binary")
done
objects=("${binaries[0]}")
for b in "${binaries[@]:1}"; do objects+=(-object "$b"); done
llvm-profdata-14 merge -sparse "$out"/profiles/*.profraw -o "$out/corpus.profdata"
sources=("$root/relay/stun" "$root/relay/auth" "$root/relay/policy" "$root/relay/turn")
llvm-cov-14 report -instr-profile "$out/corpus.profdata" "${objects[@]}" "${sources[@]}" \
  | tee "$out/report.txt"
llvm-cov-14 show -instr-profile "$out/corpus.profdata" "${objects[@]}" "${sources[@]}" \
  -show-line-counts-or-regions -format=text > "$out/lines.txt"
echo "Per-line listing: $out/lines.txt (lines with count 0 are '0|')"
