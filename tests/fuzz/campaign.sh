#!/usr/bin/env bash
# A fuzzing campaign: every libFuzzer target for SECONDS (default 3600) from its committed
# corpus, two at a time on a 2-core machine, then each corpus minimised (-merge=1) and written
# back to tests/fuzz/corpus/<target>/ (inputs up to 4,096 bytes). Prints a table of
# executions, coverage (libFuzzer's cov: edges) and crashes; crash inputs stay in
# build-fuzz/campaign/<target>/ as crash-*, each to become a unit test.
# Usage: tests/fuzz/campaign.sh [SECONDS] [TARGET...]
# PARALLEL=N runs N targets at a time (default: one per core). CHAINS=N runs N fuzzing
# processes per target that share its corpus directory (libFuzzer reloads it every second), so
# a single slow target can use every core; their executions are added up.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
seconds=${1:-3600}
shift || true
parallel=${PARALLEL:-$(nproc)}
chains=${CHAINS:-1}
deploy/install-deps.sh fuzz
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHUSH_FUZZ=ON \
  -DHUSH_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz_all >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for b in build-fuzz/tests/fuzz/fuzz_*; do targets+=("${b##*/fuzz_}"); done
fi
# No allocation stacks in reports: the config parsers allocate on every option, and this makes
# them a quarter faster. Run a crash-* input by hand for the full report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0}
work=$root/build-fuzz/campaign
mkdir -p "$work"
run() {
  local t=$1 dir=$work/$1 i
  rm -rf "$dir" && mkdir -p "$dir/corpus"
  for i in $(seq 1 "$chains"); do
    (cd "$dir" && "$root/build-fuzz/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
       -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" "$root/tests/fuzz/corpus/$t" \
       > "$dir/log.$i" 2>&1) || true &
  done
  wait
}
running=0
for t in "${targets[@]}"; do
  run "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then wait -n; running=$((running - 1)); fi
done
wait
printf '| target | seconds | executions | cov (edges) | corpus (files, bytes) | crashes |\n| --- | ---: | ---: | ---: | ---: | ---: |\n'
for t in "${targets[@]}"; do
  dir=$work/$t
  # Minimise: what the committed corpus and the campaign found, merged into a fresh directory.
  rm -rf "$dir/min" && mkdir -p "$dir/min"
  "$root/build-fuzz/tests/fuzz/fuzz_$t" -merge=1 -max_len=4096 "$dir/min" "$root/tests/fuzz/corpus/$t" \
    "$dir/corpus" > "$dir/merge.log" 2>&1 || true
  if [ -n "$(ls -A "$dir/min")" ]; then
    rm -rf "$root/tests/fuzz/corpus/$t" && cp -r "$dir/min" "$root/tests/fuzz/corpus/$t"
  fi
  execs=$(cat "$dir"/log.* | awk '/stat::number_of_executed_units/ {n += $2; seen = 1} END {if (seen) print n}')
  cov=$(cat "$dir"/log.* | grep -o 'cov: [0-9]*' | awk '{print $2}' | sort -n | tail -1)
  files=$(find "$root/tests/fuzz/corpus/$t" -type f | wc -l)
  bytes=$(du -sb "$root/tests/fuzz/corpus/$t" | cut -f1)
  crashes=$(find "$dir" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'timeout-*' -o -maxdepth 1 -name 'oom-*' | wc -l)
  printf '| %s | %s | %s | %s | %s, %s | %s |\n' "$t" "$seconds" "${execs:-?}" "${cov:-?}" "$files" "$bytes" "$crashes"
done
