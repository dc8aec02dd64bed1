#!/usr/bin/env bash
# Where hush's CPU per packet goes beyond the ceiling forwarder's: profiles hush and the
# ceiling (perf record -p, 5 s each) under the same load and sums the samples of every
# function into groups, so the difference reads as system calls, readiness, the network
# stack, scheduling, OpenSSL, copies and the relay's own code
# (docs/performance.md). Needs root (or perf_event_paranoid <= 1). About a minute a load.
#   loadtest/profile-gap.sh                           UDP: voice-1000 and scale-10000
#   LOADS="flood-100|100|1000" loadtest/profile-gap.sh   name|allocations|packets/s each
#   loadtest/profile-gap.sh tcp tls dtls              each leg at voice load: 200 clients, a
#                                                     connection each, 50 packets/s each way
#                                                     of 160 bytes; ceiling hush-stream-ceiling
#                                                     (TLS records padded to 128 as hush's default)
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh profile
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DHUSH_TESTS=OFF >/dev/null
cmake --build build --target hush-relay hush-loadgen hush-ceiling hush-streamgen hush-stream-ceiling >/dev/null
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
secret=profile-secret-$$
port=3478
tls_port=5349
work=$(mktemp -d)
out=build/profile-gap  # perf reports by function, NAME-hush.txt and NAME-ceiling.txt
mkdir -p "$out"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
echo "$secret" >"$work/secret"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
  -days 2 -subj /CN=profile.hush.test 2>/dev/null
server_cpu=0 gen_cpu=1
[ "$(nproc)" -ge 2 ] || gen_cpu=0

profile() {  # server leg allocations rate -> $work/$server.data
  local server=$1 leg=$2 n=$3 rate=$4 pid gen
  if [ "$server" = hush ]; then
    taskset -c $server_cpu build/hush-relay --listen 127.0.0.1:$port --tls-listen 127.0.0.1:$tls_port \
      --cert "$work/cert.pem" --key "$work/key.pem" --secret-file "$work/secret" \
      --allow-peer 127.0.0.0/8 --threads 1 --relay-ports 40000-65000 --log-level error --user-quota 0 \
      --source-quota 0 --unauth-rate 0 --max-allocations 1000000 --max-connections 0 \
      --max-connections-per-source 0 --kernel-fastpath off >"$work/server.log" 2>&1 &
  elif [ "$leg" = udp ]; then
    taskset -c $server_cpu build/loadtest/hush-ceiling --listen 127.0.0.1:$port --peer-port 20100 --peers 64 \
      --peer-host 127.0.0.1 >"$work/server.log" 2>&1 &
  else
    taskset -c $server_cpu build/loadtest/hush-stream-ceiling --transport "$leg" --listen 127.0.0.1:$tls_port \
      --cert "$work/cert.pem" --key "$work/key.pem" --block-padding 128 --peer-port 20100 --peers 64 \
      >"$work/server.log" 2>&1 &
  fi
  pid=$!
  sleep 0.7
  local auth=(--secret "$secret") target=127.0.0.1:$tls_port
  [ "$server" = ceiling ] && auth=(--ceiling)
  if [ "$leg" = udp ]; then
    taskset -c $gen_cpu build/loadtest/hush-loadgen --server 127.0.0.1:$port --allocations "$n" --rate "$rate" \
      --size 100 --duration 12 --threads 2 --peers 64 --peer-port 20100 "${auth[@]}" --json >"$work/$server.json" &
  else
    [ "$leg" = tcp ] && [ "$server" = hush ] && target=127.0.0.1:$port
    taskset -c $gen_cpu build/loadtest/hush-streamgen --transport "$leg" --server "$target" --allocations "$n" \
      --rate "$rate" --size 160 --duration 12 --peers 64 --peer-port 20100 "${auth[@]}" --json >"$work/$server.json" &
  fi
  gen=$!
  sleep 4  # set-up done, traffic running
  perf record -q -F 2000 -g -p "$pid" -o "$work/$server.data" -- sleep 5 >/dev/null 2>&1
  # System calls and context switches per relayed packet (the offered rate, both ways).
  perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$pid" -o "$out/$name-$server.stat" -- sleep 2 \
    >/dev/null 2>&1
  wait "$gen"
  cp "$work/$server.json" "$out/$name-$server.json"
  kill -INT "$pid" 2>/dev/null || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  sleep 0.3
}

if [ $# -gt 0 ]; then
  loads=()
  for leg in "$@"; do
    case "$leg" in
      udp) loads+=("voice-udp|udp|200|50") ;;
      tcp | tls | dtls) loads+=("voice-$leg|$leg|200|50") ;;
      *) echo "profile-gap: unknown leg $leg (udp, tcp, tls, dtls)" >&2; exit 2 ;;
    esac
  done
else
  read -r -a given <<<"${LOADS:-voice-1000|1000|50 scale-10000|10000|5}"
  loads=()
  for load in "${given[@]}"; do
    IFS='|' read -r name n rate <<<"$load"
    loads+=("$name|udp|$n|$rate")
  done
fi
for load in "${loads[@]}"; do
  IFS='|' read -r name leg n rate <<<"$load"
  profile hush "$leg" "$n" "$rate"
  profile ceiling "$leg" "$n" "$rate"
  for s in hush ceiling; do
    perf report -i "$work/$s.data" --no-children --sort dso,sym --stdio -g none -n 2>/dev/null >"$out/$name-$s.txt"
  done
  python3 - "$name" "$out/$name-hush.txt" "$out/$name-ceiling.txt" <<'PY'
import re, sys
groups = [  # first match wins; the rest is the TCP or UDP/IP stack and loopback delivery
    # Debian's libcrypto has no symbols for its assembly (AES-GCM among it): one group.
    ("OpenSSL: record layer and encryption", lambda dso, sym: re.search(r"libssl|libcrypto", dso)),
    ("copies in user space (memcpy, memmove)", lambda dso, sym: not dso.startswith("[kernel") and re.search(
        r"memcpy|memmove", sym)),
    ("user space (relay code, libc, vdso)", lambda dso, sym: not dso.startswith("[kernel")),
    ("copies in the kernel (user to socket buffers)", lambda dso, sym: re.search(
        r"copy_user|_copy_to_iter|_copy_from_iter|copyin|copyout|skb_copy_datagram|memcpy_erms|memcpy_orig", sym)),
    ("epoll and readiness", lambda dso, sym: re.search(
        r"ep_|epoll|sock_poll|udp_poll|tcp_poll|poll|mutex_lock|mutex_unlock|select_estimate|__pollwait|"
        r"schedule_hrtimeout", sym)),
    ("scheduling (sleep and wake-up)", lambda dso, sym: re.search(
        r"finish_task_switch|__schedule|schedule|pick_next|dequeue|enqueue|update_curr|psi_|switch_mm|__switch_to", sym)),
    ("system call entry, fd lookup, msghdr copies", lambda dso, sym: re.search(
        r"do_syscall_64|entry_SYSCALL|fdget|fput|copy_msghdr|copy_iovec|import_iovec|__check_object_size|"
        r"__virt_addr_valid|_copy_from_user|_copy_to_user|syscall_exit|____sys_sendmsg|____sys_recvmsg|"
        r"__sys_sendmmsg|do_recvmmsg|___sys_|sockfd_lookup|__x64_sys|move_addr_to|check_heap_object|"
        r"__rcu_read|srso|clear_bhb|entry_", sym)),
]
other = "TCP or UDP/IP send and receive, loopback delivery"

def load(path):
    samples = {}
    for line in open(path):
        m = re.match(r"\s+[\d.]+%\s+(\d+)\s+(\S+)\s+\[.\]\s+(.*)", line)
        if m:
            samples[(m.group(2), m.group(3).strip())] = int(m.group(1))
    return samples

hush, ceiling = load(sys.argv[2]), load(sys.argv[3])

def per_packet(report):  # from NAME-SERVER.stat and .json beside the report
    import json
    base = report[:-len(".txt")]
    pps = 2 * json.load(open(base + ".json"))["offered_pps"]
    counts = {}
    for line in open(base + ".stat"):
        f = line.strip().split(",")
        if len(f) > 2 and f[0].replace(".", "").isdigit():
            counts[f[2]] = float(f[0])
    return counts.get("raw_syscalls:sys_enter", 0) / (2 * pps), counts.get("context-switches", 0) / (2 * pps)

hs, hc = per_packet(sys.argv[2])
cs, cc = per_packet(sys.argv[3])
print(f"{sys.argv[1]}: per relayed packet, system calls hush {hs:.2f}, ceiling {cs:.2f}; "
      f"context switches hush {hc:.2f}, ceiling {cc:.2f}")
totals = {}
for key in set(hush) | set(ceiling):
    group = next((g for g, match in groups if match(*key)), other)
    t = totals.setdefault(group, [0, 0])
    t[0] += hush.get(key, 0)
    t[1] += ceiling.get(key, 0)
h, c = sum(hush.values()), sum(ceiling.values())
print(f"{sys.argv[1]}: samples hush {h}, ceiling {c} ({h / c:.2f}x)")
print(f"  {'':50}{'hush':>7}{'% of hush':>10}{'ceiling':>9}{'diff':>7}  share of the difference")
for group, (a, b) in sorted(totals.items(), key=lambda kv: kv[1][1] - kv[1][0]):
    share = f"{100 * (a - b) / (h - c):5.0f}%" if h - c > h / 20 else "    -"  # within 5%: noise
    print(f"  {group:50}{a:7}{100 * a / h:9.1f}%{b:9}{a - b:+7}  {share}")
PY
done
