#!/usr/bin/env bash
# The encrypted legs side by side: hush, coturn and a bare forwarder (the ceiling) over UDP,
# TCP, TLS 1.3 and DTLS 1.2, on the same machine in the same script.
#
#   loadtest/bench-transports.sh            everything below (about 15 minutes on 2 cores)
#   ONLY=voice loadtest/bench-transports.sh  one part: voice, memory, handshakes or storm
#
# voice       CPU per relayed packet at voice load: CALLS clients (200), each a connection of
#             its own with an allocation and a channel, 50 packets per second each way of 160
#             bytes, for 8 s; RUNS rounds (3) with the servers' order rotating; medians, ranges
#             and the ratios coturn/hush and hush/ceiling per leg. hush runs twice on TLS and
#             DTLS: with its default padding (block:128, which makes TLS 1.3 the only version)
#             and with --padding off. coturn 4.6.1 has no TLS 1.3: it and hush --padding off
#             are measured on TLS 1.2, hush and the ceiling on TLS 1.3. The ceilings are
#             hush-ceiling (UDP) and hush-stream-ceiling (TCP, TLS, DTLS: the same OpenSSL
#             settings as hush, TLS records padded to 128 bytes as hush's default, no TURN).
# memory      MEMORY_CLIENTS (10,000) clients at 2 packets per second each way, over UDP and
#             over TLS: the server's RSS with all of them connected; the difference per client
#             is what a TLS connection costs beyond the allocation.
# handshakes  full handshakes per second (no session resumption) one server thread completes,
#             TLS and DTLS: two client threads open, handshake and close connections for 5 s
#             (on TLS, hush with TLS 1.3 and, --padding off, TLS 1.2 as coturn).
# storm       the voice load on TLS and DTLS while two threads storm the server with new
#             handshakes: the calls' loss and round trip against the same load without.
#
# Every server runs one relay thread pinned to core 0 (coturn: --relay-threads 1; its listener
# threads are its own), the generators run on core 1, the kernel fast path is off. Results in
# build/bench-transports/ (results.jsonl, summary.md).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
runs=${RUNS:-3}
calls=${CALLS:-200}
memory_clients=${MEMORY_CLIENTS:-10000}
only=${ONLY:-voice,memory,handshakes,storm}
out=${OUT:-$root/build/bench-transports}
port=3478
tls_port=5349
secret=bench-secret-$$

deploy/install-deps.sh bench
for p in $port $tls_port; do
  if [ -n "$(ss -Hlun "sport = :$p")$(ss -Hltn "sport = :$p")" ]; then
    echo "bench-transports: something already listens on port $p" >&2
    exit 1
  fi
done
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target hush-relay hush-loadgen hush-ceiling hush-streamgen hush-stream-ceiling >/dev/null
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p "$out"
rm -f "$out/results.jsonl"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
echo "$secret" >"$work/secret"
chmod 600 "$work/secret"
# A P-256 certificate for every server: the same signature cost for all.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
  -days 2 -subj /CN=bench.hush.test 2>/dev/null

# start_server NAME LEG -> $pid. NAME: hush, hush-nopad, coturn, ceiling.
start_server() {
  case "$1" in
    hush | hush-nopad)
      local padding=()
      [ "$1" = hush-nopad ] && padding=(--padding off)
      taskset -c 0 build/hush-relay --listen 127.0.0.1:$port --tls-listen 127.0.0.1:$tls_port \
        --cert "$work/cert.pem" --key "$work/key.pem" --secret-file "$work/secret" --allow-peer 127.0.0.0/8 \
        --threads 1 --relay-ports 40000-65000 --log-level error --kernel-fastpath off "${padding[@]}" \
        --user-quota 0 --source-quota 0 --unauth-rate 0 --max-allocations 1000000 --max-connections 0 \
        --max-connections-per-source 0 >"$work/server.log" 2>&1 &
      ;;
    coturn)
      taskset -c 0 turnserver -n --listening-ip 127.0.0.1 --listening-port $port --tls-listening-port $tls_port \
        --relay-ip 127.0.0.1 --use-auth-secret --static-auth-secret "$secret" --realm hush --relay-threads 1 \
        --cert "$work/cert.pem" --pkey "$work/key.pem" --min-port 40000 --max-port 65000 --allow-loopback-peers \
        --no-cli --no-tcp-relay --total-quota 0 --user-quota 0 --log-file /dev/null --no-stdout-log \
        >"$work/server.log" 2>&1 &
      ;;
    ceiling)
      if [ "$2" = udp ]; then
        taskset -c 0 build/loadtest/hush-ceiling --listen 127.0.0.1:$port --peer-port 20100 --peers 64 \
          >"$work/server.log" 2>&1 &
      else
        taskset -c 0 build/loadtest/hush-stream-ceiling --transport "$2" --listen 127.0.0.1:$tls_port \
          --cert "$work/cert.pem" --key "$work/key.pem" --block-padding 128 --peer-port 20100 --peers 64 \
          >"$work/server.log" 2>&1 &
      fi
      ;;
  esac
  pid=$!
  sleep 0.8
  kill -0 "$pid" 2>/dev/null || { echo "bench-transports: $1 did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
}

stop_server() {
  kill -INT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  sleep 0.3
}

# generate SERVER LEG ARGS...: one generator run against $pid, its JSON on stdout.
generate() {
  local server=$1 leg=$2
  shift 2
  local target=127.0.0.1:$tls_port auth=(--secret "$secret") version=()
  [ "$leg" = tls ] && { [ "$server" = coturn ] || [ "$server" = hush-nopad ]; } && version=(--tls-version 1.2)
  [ "$leg" = tcp ] && target=127.0.0.1:$port
  [ "$server" = ceiling ] && auth=(--ceiling)
  if [ "$leg" = udp ]; then
    [ "$server" = ceiling ] && target=127.0.0.1:$port
    taskset -c 1 build/loadtest/hush-loadgen --server 127.0.0.1:$port "${auth[@]}" --peers 64 --peer-port 20100 \
      --server-pid "$pid" --json "$@"
  else
    [ "$server" = ceiling ] && [ "$leg" = tcp ] && target=127.0.0.1:$tls_port
    taskset -c 1 build/loadtest/hush-streamgen --transport "$leg" --server "$target" "${auth[@]}" --peers 64 \
      --peer-port 20100 --server-pid "$pid" "${version[@]}" --json "$@"
  fi
}

record() {  # part server leg json
  printf '{"part":"%s","server":"%s","leg":"%s","result":%s}\n' "$1" "$2" "$3" "$4" >>"$out/results.jsonl"
}

servers_for() {  # the servers of leg $1 in round $2, rotating
  local s=(hush coturn ceiling)
  [ "$1" = tls ] || [ "$1" = dtls ] && s=(hush hush-nopad coturn ceiling)
  local k=$(($2 % ${#s[@]}))
  echo "${s[@]:k}" "${s[@]:0:k}"
}

if [[ ",$only," == *,voice,* ]]; then
  for round in $(seq "$runs"); do
    for leg in udp tcp tls dtls; do
      for server in $(servers_for $leg "$round"); do
        start_server "$server" "$leg"
        r=$(generate "$server" "$leg" --allocations "$calls" --rate 50 --size 160 --duration 8 --warmup 1)
        stop_server
        record voice "$server" "$leg" "$r"
        echo "  voice round $round $leg $server: $(echo "$r" | /usr/bin/python3 -c 'import json,sys; r = json.load(sys.stdin)
print(r["server_us_per_pkt"], "us/packet, loss", r["loss_pct"], "%, p99", r["rtt_us"]["p99"], "us")')" >&2
      done
    done
  done
fi

if [[ ",$only," == *,memory,* ]]; then
  for server in hush coturn; do
    for leg in udp tls; do
      start_server "$server" "$leg"
      r=$(generate "$server" "$leg" --allocations "$memory_clients" --rate 2 --size 160 --duration 10)
      stop_server
      record memory "$server" "$leg" "$r"
      echo "  memory $leg $server: $(echo "$r" | /usr/bin/python3 -c 'import json,sys; r = json.load(sys.stdin)
print(r["ready"], "clients, RSS", r["server_rss_kib"], "KiB, loss", r["loss_pct"], "%")')" >&2
    done
  done
fi

# Up to 70 s for the TCP connections of earlier parts to leave TIME_WAIT: with thousands of
# the generator's own there, its storm threads wait on connect() and the storm measures that.
settle_time_wait() {
  for _ in $(seq 70); do
    [ "$(ss -Htan state time-wait "( dport = :$tls_port or sport = :$tls_port )" | wc -l)" -lt 500 ] && return
    sleep 1
  done
}

if [[ ",$only," == *,handshakes,* ]]; then
  for round in $(seq "$runs"); do
    for leg in tls dtls; do
      servers=(hush coturn)
      [ $leg = tls ] && servers=(hush hush-nopad coturn)  # hush-nopad: TLS 1.2, as coturn
      for server in "${servers[@]}"; do
        settle_time_wait
        start_server "$server" "$leg"
        r=$(generate "$server" "$leg" --allocations 1 --rate 1 --duration 5 --storm-threads 2)
        stop_server
        record handshakes "$server" "$leg" "$r"
        echo "  handshakes round $round $leg $server: $(echo "$r" | /usr/bin/python3 -c 'import json,sys; r = json.load(sys.stdin)
print(r["storm"]["per_s"], "/s, p99", r["storm"]["p99_ms"], "ms")')" >&2
      done
    done
  done
fi

if [[ ",$only," == *,storm,* ]]; then
  for leg in tls dtls; do
    for server in hush coturn; do
      for storm in 0 2; do
        [ "$storm" = 0 ] || settle_time_wait
        start_server "$server" "$leg"
        r=$(generate "$server" "$leg" --allocations "$calls" --rate 50 --size 160 --duration 8 --warmup 1 \
              --storm-threads $storm)
        stop_server
        record "storm-$storm" "$server" "$leg" "$r"
        echo "  storm $storm $leg $server: $(echo "$r" | /usr/bin/python3 -c 'import json,sys; r = json.load(sys.stdin)
print("calls loss", r["loss_pct"], "%, p99", r["rtt_us"]["p99"], "us; storm", r.get("storm", {}).get("per_s", 0), "/s")')" >&2
      done
    done
  done
fi

/usr/bin/python3 loadtest/summarise_transports.py "$out/results.jsonl" "$calls" "$memory_clients" | tee "$out/summary.md"
