#!/usr/bin/env bash
# Where hush's CPU per packet goes beyond the ceiling forwarder's: profiles hush and the
# ceiling (perf record -p, 5 s each) under the same load and sums the samples of every
# function into groups, so the difference reads as system calls, readiness, the UDP/IP
# stack, scheduling and the relay's own code (docs/performance.md, "Known limits"). Needs
# root (or perf_event_paranoid <= 1). About a minute.
#   loadtest/profile-gap.sh                           voice-1000 and scale-10000
#   LOADS="flood-100|100|1000" loadtest/profile-gap.sh   name|allocations|packets/s each
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh profile
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DHUSH_TESTS=OFF >/dev/null
cmake --build build --target hush-relay hush-loadgen hush-ceiling >/dev/null
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
secret=profile-secret-$$
port=3478
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
echo "$secret" >"$work/secret"
server_cpu=0 gen_cpu=1
[ "$(nproc)" -ge 2 ] || gen_cpu=0

profile() {  # server allocations rate -> $work/$server.data
  local server=$1 n=$2 rate=$3 pid extra
  if [ "$server" = hush ]; then
    taskset -c $server_cpu build/hush-relay --listen 127.0.0.1:$port --secret-file "$work/secret" \
      --allow-peer 127.0.0.0/8 --threads 1 --relay-ports 40000-65000 --log-level error --user-quota 0 \
      --source-quota 0 --unauth-rate 0 --max-allocations 1000000 --kernel-fastpath off >"$work/server.log" 2>&1 &
    extra="--secret $secret"
  else
    taskset -c $server_cpu build/loadtest/hush-ceiling --listen 127.0.0.1:$port --peer-port 20100 --peers 64 \
      --peer-host 127.0.0.1 >"$work/server.log" 2>&1 &
    extra="--ceiling"
  fi
  pid=$!
  sleep 0.7
  # shellcheck disable=SC2086
  taskset -c $gen_cpu build/loadtest/hush-loadgen --server 127.0.0.1:$port --allocations "$n" --rate "$rate" \
    --size 100 --duration 12 --threads 2 --peers 64 --peer-port 20100 $extra --json >"$work/$server.json" &
  local gen=$!
  sleep 4  # set-up done, traffic running
  perf record -q -F 2000 -g -p "$pid" -o "$work/$server.data" -- sleep 5 >/dev/null 2>&1
  wait "$gen"
  kill -INT "$pid" 2>/dev/null || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  sleep 0.3
}

read -r -a loads <<<"${LOADS:-voice-1000|1000|50 scale-10000|10000|5}"
for load in "${loads[@]}"; do
  IFS='|' read -r name n rate <<<"$load"
  profile hush "$n" "$rate"
  profile ceiling "$n" "$rate"
  for s in hush ceiling; do
    perf report -i "$work/$s.data" --no-children --sort dso,sym --stdio -g none -n 2>/dev/null >"$work/$s.txt"
  done
  python3 - "$name" "$work/hush.txt" "$work/ceiling.txt" <<'PY'
import re, sys
groups = [  # first match wins; the rest is the UDP/IP stack and loopback delivery
    ("user space (relay code, libc, vdso)", lambda dso, sym: not dso.startswith("[kernel")),
    ("epoll and readiness", lambda dso, sym: re.search(
        r"ep_|epoll|sock_poll|udp_poll|poll|mutex_lock|mutex_unlock|select_estimate|__pollwait|schedule_hrtimeout", sym)),
    ("scheduling (sleep and wake-up)", lambda dso, sym: re.search(
        r"finish_task_switch|__schedule|schedule|pick_next|dequeue|enqueue|update_curr|psi_|switch_mm|__switch_to", sym)),
    ("system call entry, fd lookup, msghdr copies", lambda dso, sym: re.search(
        r"do_syscall_64|entry_SYSCALL|fdget|fput|copy_msghdr|copy_iovec|import_iovec|__check_object_size|"
        r"__virt_addr_valid|_copy_from_user|_copy_to_user|syscall_exit|____sys_sendmsg|____sys_recvmsg|"
        r"__sys_sendmmsg|do_recvmmsg|___sys_|sockfd_lookup|__x64_sys|move_addr_to|check_heap_object|"
        r"__rcu_read|srso|clear_bhb|entry_", sym)),
]
other = "UDP/IP send and receive, loopback delivery"

def load(path):
    samples = {}
    for line in open(path):
        m = re.match(r"\s+[\d.]+%\s+(\d+)\s+(\S+)\s+\[.\]\s+(.*)", line)
        if m:
            samples[(m.group(2), m.group(3).strip())] = int(m.group(1))
    return samples

hush, ceiling = load(sys.argv[2]), load(sys.argv[3])
totals = {}
for key in set(hush) | set(ceiling):
    group = next((g for g, match in groups if match(*key)), other)
    t = totals.setdefault(group, [0, 0])
    t[0] += hush.get(key, 0)
    t[1] += ceiling.get(key, 0)
h, c = sum(hush.values()), sum(ceiling.values())
print(f"{sys.argv[1]}: samples hush {h}, ceiling {c} ({h / c:.2f}x)")
print(f"  {'':44}{'hush':>7}{'ceiling':>9}{'diff':>7}  share of the difference")
for group, (a, b) in sorted(totals.items(), key=lambda kv: kv[1][1] - kv[1][0]):
    print(f"  {group:44}{a:7}{b:9}{a - b:+7}  {100 * (a - b) / max(h - c, 1):5.0f}%")
PY
done
