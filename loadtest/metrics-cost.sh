#!/usr/bin/env bash
# What metrics cost on the packet path: hush alone, then hush with --metrics scraped every
# second (15 times more often than the usual Prometheus interval), under the same loads,
# alternating, RUNS times each (default 5). Prints median server CPU per packet and the ratio.
#   loadtest/metrics-cost.sh          (about 3 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
secret=bench-secret-$$
port=3478
mport=9641
deploy/install-deps.sh bench
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DHUSH_TESTS=OFF >/dev/null
cmake --build build --target hush-relay hush-loadgen >/dev/null
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
echo "$secret" >"$work/secret"
results="$work/results"
loads=("voice-1000|--allocations 1000 --rate 50 --size 100 --duration 6"
       "flood-1|--allocations 1 --rate 50000 --size 100 --duration 6")
for load in "${loads[@]}"; do
  name=${load%%|*}
  args=${load#*|}
  for run in $(seq 1 "$runs"); do
    for mode in plain metrics; do
      extra=()
      [ $mode = metrics ] && extra=(--metrics "127.0.0.1:$mport")
      taskset -c 0 build/hush-relay --listen 127.0.0.1:$port --secret-file "$work/secret" --allow-peer 127.0.0.0/8 \
        --threads 1 --relay-ports 40000-65000 --log-level error --user-quota 0 --source-quota 0 --unauth-rate 0 \
        "${extra[@]}" >/dev/null 2>&1 &
      pid=$!
      sleep 0.7
      scraper=""
      if [ $mode = metrics ]; then
        (while sleep 1; do
           curl -sf "http://127.0.0.1:$mport/metrics" >/dev/null && echo ok >>"$work/scrapes-$name"
         done) &
        scraper=$!
      fi
      # shellcheck disable=SC2086
      out=$(taskset -c 1 build/loadtest/hush-loadgen --server 127.0.0.1:$port $args --secret "$secret" \
              --peers 64 --peer-port 20100 --server-pid "$pid" --json)
      [ -n "$scraper" ] && kill "$scraper" 2>/dev/null
      kill -INT "$pid"; wait "$pid" 2>/dev/null || true
      us=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["server_us_per_pkt"])')
      echo "$name $mode $us" | tee -a "$results" >&2
    done
  done
  echo "$name: $(wc -l <"$work/scrapes-$name") successful scrapes during the runs with metrics" >&2
done
python3 - "$results" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
print("\nserver CPU us/pkt, medians:  load  plain  with-metrics  ratio")
for load in dict.fromkeys(r[0] for r in rows):
    m = {mode: statistics.median(float(r[2]) for r in rows if r[0] == load and r[1] == mode) for mode in ("plain", "metrics")}
    print(f"  {load:<12} {m['plain']:.2f}  {m['metrics']:.2f}  {m['metrics'] / m['plain']:.3f}")
PY
