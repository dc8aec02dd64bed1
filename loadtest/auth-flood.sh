#!/usr/bin/env bash
# Authentication flood against calls in progress: hush and coturn side by side.
#
#   loadtest/auth-flood.sh          about 9 minutes on 2 cores
#
# Each server (one relay thread, pinned to core 0) carries CALLS voice-like calls from
# hush-loadgen (CALL_RATE packets per second each way per call, 160-byte payloads, channels to
# echo peers) while hush-authflood, on the generator's core, sends Allocate requests that look
# valid (an unexpired REST username, the realm, the nonce the server issued to that source) but
# carry a wrong MESSAGE-INTEGRITY, from SOURCES addresses of 127.2.0.0/16, at each rate of
# FLOOD_RATES per second (0: no flood, the baseline), plus one run at the highest rate with a
# nonce no server issued (--junk-nonce: what a spoofer can send). Measured, per run: the calls'
# loss and round trip, the server's CPU, and how many answers the flood got, in all and at
# most per source (the HMAC work a source could make the server do: hush blocks a source
# after --block-after failures).
#
# hush runs with its defaults but two, as bench.sh: --source-quota 0 (the calls all come from
# 127.0.0.1) and the kernel fast path off (user space is what the flood competes for). coturn
# runs as bench.sh runs it, UDP only. RUNS rounds (3), alternating which server goes first;
# medians and ranges. Results: build/auth-flood/results.json, a table on stdout (Markdown) and
# build/auth-flood/auth-flood.svg (loadtest/plot_auth_flood.py draws it again from the runs).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
runs=${RUNS:-3}
calls=${CALLS:-200}
call_rate=${CALL_RATE:-50}
duration=${DURATION:-10}
sources=${SOURCES:-4096}
read -r -a flood_rates <<<"${FLOOD_RATES:-0 25000 50000 100000}"
out=${OUT:-$root/build/auth-flood}
port=3478
secret=flood-secret-$$

deploy/install-deps.sh bench
if [ -n "$(ss -Hlun "sport = :$port")" ]; then
  echo "auth-flood: something already listens on UDP port $port:" >&2
  ss -Hlunp "sport = :$port" >&2
  exit 1
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target hush-relay hush-loadgen hush-authflood >/dev/null
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p "$out"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
echo "$secret" >"$work/secret"
chmod 600 "$work/secret"
server_cpu=0
gen_cpu=1
[ "$(nproc)" -lt 2 ] && gen_cpu=0

start_server() {
  case "$1" in
    hush)
      taskset -c $server_cpu build/hush-relay --listen 127.0.0.1:$port --secret-file "$work/secret" \
        --allow-peer 127.0.0.0/8 --threads 1 --relay-ports 40000-65000 --log-level error \
        --source-quota 0 --kernel-fastpath off >"$work/server.log" 2>&1 &
      ;;
    coturn)
      taskset -c $server_cpu turnserver -n --listening-ip 127.0.0.1 --listening-port $port --relay-ip 127.0.0.1 \
        --use-auth-secret --static-auth-secret "$secret" --realm hush --relay-threads 1 \
        --min-port 40000 --max-port 65000 --allow-loopback-peers --no-tcp --no-tls --no-dtls --no-cli \
        --no-tcp-relay --total-quota 0 --user-quota 0 --log-file /dev/null --no-stdout-log >"$work/server.log" 2>&1 &
      ;;
  esac
  pid=$!
  sleep 0.7
  kill -0 "$pid" 2>/dev/null || { echo "auth-flood: $1 did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
}

stop_server() {
  kill -INT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  sleep 0.3
}

# One run: server $1, flood rate $2 (0: none), $3 "junk" for --junk-nonce. Appends a JSON line.
one() {
  local server=$1 rate=$2 kind=${3:-integrity} flood_pid="" flood_json="{}" extra=()
  start_server "$server"
  if [ "$rate" != 0 ]; then
    [ "$kind" = junk ] && extra=(--junk-nonce)
    # Nonces first (a second or two), then the flood for the calls' whole run and a little more.
    taskset -c $gen_cpu build/loadtest/hush-authflood --server 127.0.0.1:$port --sources "$sources" \
      --source-base 127.2.0.1 --rate "$rate" --duration $((duration + 4)) "${extra[@]}" --json >"$work/flood.json" &
    flood_pid=$!
    sleep 3
  fi
  taskset -c $gen_cpu build/loadtest/hush-loadgen --server 127.0.0.1:$port --secret "$secret" \
    --allocations "$calls" --rate "$call_rate" --size 160 --duration "$duration" --warmup 1 --peers 64 \
    --peer-port 20100 --server-pid "$pid" --json >"$work/calls.json"
  if [ -n "$flood_pid" ]; then
    wait "$flood_pid"
    flood_json=$(cat "$work/flood.json")
  fi
  stop_server
  printf '{"server":"%s","flood_rate":%s,"kind":"%s","calls":%s,"flood":%s}\n' "$server" "$rate" "$kind" \
    "$(cat "$work/calls.json")" "$flood_json" | tee -a "$out/results.jsonl" >/dev/null
}

rm -f "$out/results.jsonl"
top=${flood_rates[-1]}
for round in $(seq "$runs"); do
  order=(hush coturn)
  [ $((round % 2)) = 0 ] && order=(coturn hush)
  for rate in "${flood_rates[@]}"; do
    for server in "${order[@]}"; do
      one "$server" "$rate"
      echo "  round $round: $server, flood $rate/s: $(tail -1 "$out/results.jsonl" | /usr/bin/python3 -c 'import json,sys
r = json.loads(sys.stdin.read()); c, f = r["calls"], r["flood"]
print("calls loss", c["loss_pct"], "%, p99", c["rtt_us"]["p99"], "us, server", c["server_cpu_s"], "s CPU; flood sent",
      f.get("sent_per_s", 0), "/s, answered", f.get("answers", 0), ", at most", f.get("answers_per_source_max", 0), "per source")')" >&2
    done
  done
  for server in "${order[@]}"; do one "$server" "$top" junk; done
done

/usr/bin/python3 loadtest/plot_auth_flood.py "$out/results.jsonl" "$out/auth-flood.svg" "$duration" | tee "$out/summary.md"
echo "auth-flood: runs in $out/results.json, the plot in $out/auth-flood.svg (docs/img/auth-flood.svg in the docs)"
