#!/usr/bin/env bash
# What --smoothing costs in delay: round trips through hush (100 allocations, 50 packets/s
# each way, 100-byte payloads, echo peers) without smoothing and with ticks of 10, 20 and
# 40 ms, RUNS times each (default 2). Smoothing delays the relay-to-client direction only, so
# the added round trip is the added one-way delay. About 1 minute.
#   loadtest/smoothing-latency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-2}
secret=bench-secret-$$
port=$((20000 + RANDOM % 10000))
deploy/install-deps.sh bench
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DHUSH_TESTS=OFF >/dev/null
cmake --build build --target hush-relay hush-loadgen >/dev/null
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
echo "$secret" >"$work/secret"
cpus=$(nproc)
server_cpus=0 gen_cpus=0
[ "$cpus" -ge 2 ] && gen_cpus=1

printf '%-16s %4s %7s %8s %8s %8s %8s %8s   (round trip, ms)\n' smoothing run loss p50 p90 p99 p99.9 max
for tick in off 10ms 20ms 40ms; do
  for run in $(seq "$runs"); do
    taskset -c $server_cpus build/hush-relay --listen 127.0.0.1:$port --secret-file "$work/secret" \
      --allow-peer 127.0.0.0/8 --threads 1 --relay-ports 61000-64999 --log-level error --smoothing $tick \
      >"$work/server.log" 2>&1 &
    pid=$!
    sleep 0.4
    out=$(taskset -c $gen_cpus build/loadtest/hush-loadgen --server 127.0.0.1:$port --secret "$secret" \
      --allocations 100 --rate 50 --size 100 --duration 5 --json | tail -1)
    kill -INT $pid
    wait $pid 2>/dev/null || true
    python3 -c '
import json, sys
d = json.loads(sys.argv[1]); r = d["rtt_us"]
print("%-16s %4s %6.2f%% %8.2f %8.2f %8.2f %8.2f %8.2f" % (sys.argv[2], sys.argv[3], d["loss_pct"],
      r["p50"] / 1e3, r["p90"] / 1e3, r["p99"] / 1e3, r["p999"] / 1e3, r["max"] / 1e3))' "$out" "$tick" "$run"
  done
done
