#!/usr/bin/env bash
# The soak: hush under a long, mixed, partly hostile load, sampled to a CSV and drawn.
#
#   loadtest/soak.sh [SECONDS]            # default 3600, against build/hush-relay (Release)
#   RELAY=build-asan/hush-relay loadtest/soak.sh 600   # the sanitizer run: any report fails it
#
# hush-loadgen keeps ALLOCATIONS (10,000) voice-like calls (RATE packets per second each way,
# 160-byte payloads, channels to echo peers), refreshing each allocation and its channel every
# 240 s, and deletes and re-creates CHURN (1) per second. loadtest/soak_hostile.py adds 1% of
# the packet rate in malformed and hostile traffic from 127.0.1.0/24, and
# allocations it abandons, which expire (the relay runs with --default-lifetime 60). Every
# 10 s the relay's RSS, open descriptors, live allocations and relayed addresses go to
# $OUT/soak.csv, and every 120 s a reload with a broken secret file is tried during the load;
# at the end $OUT/soak.svg draws them and the script prints how flat they
# stayed after the warm-up (the first 10% of the run, at least 120 s).
# The generator's clients all come from 127.0.0.1, which no real relay sees: the per-source
# quota and the limit on unauthenticated answers are off (as in bench.sh).
# Fails if the relay dies, a well-behaved allocation is lost (a Refresh or re-bind refused or
# unanswered), or, under the sanitizers, anything is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
duration=${1:-3600}
allocations=${ALLOCATIONS:-10000}
rate=${RATE:-2}
churn=${CHURN:-1}
relay=${RELAY:-build/hush-relay}
out=${OUT:-$root/build/soak}
port=${PORT:-24780}
metrics=${METRICS_PORT:-24781}
deploy/install-deps.sh soak
if [ ! -x "$relay" ] || [ ! -x build/loadtest/hush-loadgen ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DHUSH_TESTS=OFF >/dev/null
  cmake --build build -j "$(nproc)" --target hush-relay hush-loadgen >/dev/null
fi
mkdir -p "$out"
rm -f "$out"/soak.csv "$out"/relay.log
secret=$(head -c 24 /dev/urandom | base64)
printf '%s\n' "$secret" > "$out/secret"
chmod 600 "$out/secret"
# One descriptor per allocation in each of the relay and the generator, and some: as many as allowed.
ulimit -n "$(ulimit -Hn)"

"$relay" --listen "127.0.0.1:$port" --secret-file "$out/secret" --metrics "127.0.0.1:$metrics" \
  --allow-peer 127.0.0.1/32 --relay-ports 30000-60999 --default-lifetime 60 --kernel-fastpath off \
  --source-quota 0 --user-quota 0 --max-allocations 1000000 --unauth-rate 0 \
  --threads "${THREADS:-1}" > "$out/relay.log" 2>&1 &
relay_pid=$!
pids=("$relay_pid")
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$out/secret"' EXIT
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$metrics/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

metric() {  # the sum of a metric's samples
  curl -sf "http://127.0.0.1:$metrics/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {printf "%d", s}'
}
sample() {
  local t=$1
  local rss fds allocs relayed expired blocks
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$relay_pid/status")
  fds=$(ls "/proc/$relay_pid/fd" | wc -l)
  allocs=$(metric hush_allocations_active)
  relayed=$(metric hush_relayed_addresses_active)
  expired=$(metric hush_allocations_expired_total)
  blocks=$(metric hush_source_blocks_total)
  echo "$t,$rss,$fds,$allocs,$relayed,$expired,$blocks" >> "$out/soak.csv"
}
echo "seconds,rss_kib,descriptors,allocations,relayed_addresses,expired_total,source_blocks_total" > "$out/soak.csv"

build/loadtest/hush-loadgen --server "127.0.0.1:$port" --secret "$secret" --allocations "$allocations" \
  --rate "$rate" --size 160 --duration "$duration" --refresh 240 --churn "$churn" --peer-port "${PEER_PORT:-20100}" \
  --server-pid "$relay_pid" --json > "$out/loadgen.json" 2> "$out/loadgen.log" &
pids+=($!)
loadgen_pid=$!
hostile_rate=$(python3 -c "print(max(1.0, 0.01 * 2 * $allocations * $rate))")
python3 loadtest/soak_hostile.py --server "127.0.0.1:$port" --secret "$secret" --rate "$hostile_rate" \
  --seconds "$duration" > "$out/hostile.json" 2>&1 &
pids+=($!)

# Every 120 s a reload with a broken secret file (no secret in it), which must be rejected with
# the running configuration kept, and 5 s later one with the good file again.
(while sleep 120; do
   printf '# emptied by mistake\n' > "$out/secret"
   kill -HUP "$relay_pid" 2>/dev/null || exit 0
   sleep 5
   printf '%s\n' "$secret" > "$out/secret"
   kill -HUP "$relay_pid" 2>/dev/null || exit 0
 done) &
pids+=($!)

start=$(date +%s)
while kill -0 "$loadgen_pid" 2>/dev/null; do
  kill -0 "$relay_pid" 2>/dev/null || { echo "soak: the relay died" >&2; tail -20 "$out/relay.log" >&2; exit 1; }
  sample $(($(date +%s) - start))
  sleep 10
done
wait "$loadgen_pid" || true

kill -0 "$relay_pid" 2>/dev/null || { echo "soak: the relay died" >&2; exit 1; }
kill -INT "$relay_pid"  # a clean stop, so that LeakSanitizer reports, if it has something to say
wait "$relay_pid" || true
# Debian's python3, which has python3-matplotlib (a python3 earlier in PATH may not).
/usr/bin/python3 loadtest/plot_soak.py "$out/soak.csv" "$out/soak.svg" "$duration"
echo "loadgen: $(cat "$out/loadgen.json")"
echo "hostile: $(cat "$out/hostile.json")"
status=0
lost=$(python3 -c "
import json; e = json.load(open('$out/loadgen.json'))['errors']
print(sum(v for k, v in e.items() if k.startswith(('refresh', 're-bind'))))")
echo "well-behaved allocations lost: $lost"
echo "reloads: $(grep -c 'SIGHUP: .*running configuration is kept\|configuration rejected' "$out/relay.log" || true) rejected (broken secret file), $(grep -c 'configuration and secrets reloaded' "$out/relay.log" || true) applied"
[ "$lost" -eq 0 ] || status=1
if grep -qE 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$out/relay.log"; then
  echo "soak: sanitizer report in $out/relay.log" >&2
  status=1
fi
exit $status
