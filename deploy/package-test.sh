#!/usr/bin/env bash
# Installs the Debian package on this machine, checks it as an operator would, and purges it:
#   - the files are where Debian puts them, the config is a conffile, the man pages open;
#   - hush-relay --check-config accepts the installed configuration (and its generated secret);
#   - started as the unit starts it (its ExecStart, as user hush), the relay answers a STUN
#     Binding from coturn's turnutils_stunclient, and a credential minted from the installed
#     secret allocates (turnutils_uclient);
#   - dpkg --purge leaves no file of the package, no /etc/hush and no user hush behind.
# Needs root (or sudo) and nothing else of the package's on this machine.
#   deploy/package-test.sh build/hush-relay_0.1.0_amd64.deb
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(realpath "$1")
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
deploy/install-deps.sh package
fail() { echo "package-test: $*" >&2; exit 1; }
if dpkg-query -W -f='${Status}' hush-relay 2>/dev/null | grep -q "installed"; then
  fail "hush-relay is already installed here; purge it first"
fi
relay_pid=""
cleanup() {
  [ -z "$relay_pid" ] || $sudo kill -INT "$relay_pid" 2>/dev/null || true
  $sudo dpkg --purge hush-relay >/dev/null 2>&1 || true
}
trap cleanup EXIT

$sudo apt-get install -y -qq "$deb" >/dev/null
files=$(dpkg-query -L hush-relay)
for f in /usr/bin/hush-relay /usr/bin/hush-probe /lib/systemd/system/hush-relay.service \
         /usr/lib/sysusers.d/hush-relay.conf /etc/hush/hush-relay.conf /usr/share/man/man8/hush-relay.8.gz \
         /usr/share/man/man1/hush-probe.1.gz /usr/share/doc/hush-relay/copyright; do
  [ -e "$f" ] || fail "$f is missing"
  grep -qx "$f" <<<"$files" || fail "$f is not the package's"
done
grep -qx /etc/hush/hush-relay.conf /var/lib/dpkg/info/hush-relay.conffiles || fail "the config is not a conffile"
getent passwd hush >/dev/null || fail "no user hush"
[ "$(stat -c '%a %G' /etc/hush/secret)" = "640 hush" ] || fail "/etc/hush/secret: $(stat -c '%a %U:%G' /etc/hush/secret)"
man -l /usr/share/man/man8/hush-relay.8.gz 2>/dev/null | grep -q -- "--relay-ports" || fail "the man page lacks --relay-ports"
man -l /usr/share/man/man8/hush-relay.8.gz 2>/dev/null | grep -q "import-coturn" || fail "the man page lacks import-coturn"
/usr/bin/hush-relay --config /etc/hush/hush-relay.conf --check-config | grep -q "configuration OK"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/hush-relay.service 2>&1 | grep -v "^$" && fail "systemd-analyze verify" || true
fi

# As the unit starts it: its ExecStart, as its user.
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/hush-relay.service)
[ "${exec_start%% *}" = /usr/bin/hush-relay ] || fail "ExecStart is $exec_start"
user=$(sed -n 's/^User=//p' /lib/systemd/system/hush-relay.service)
log=$(mktemp)
# shellcheck disable=SC2086
$sudo setpriv --reuid="$user" --regid="$user" --init-groups $exec_start >"$log" 2>&1 &
relay_pid=$!
for _ in $(seq 50); do
  ss -Hlun "sport = :3478" | grep -q 127.0.0.1 && break
  sleep 0.1
done
out=$(timeout 10 turnutils_stunclient -p 3478 127.0.0.1 2>&1) || fail "no answer to Binding: $out"
grep -q "UDP reflexive addr: 127.0.0.1" <<<"$out" || fail "Binding: $out"
cred_user="$(( $(date +%s) + 600 )):package-test"
secret=$($sudo head -1 /etc/hush/secret)
out=$(timeout 20 turnutils_uclient -y -W "$secret" -u "$cred_user" -n 1 -m 1 -p 3478 127.0.0.1 2>&1) || true
grep -q "Total lost packets 0" <<<"$out" || fail "allocation with a credential from the installed secret: $out"
ps -o user= -p "$(pgrep -f '^/usr/bin/hush-relay --config /etc/hush/hush-relay.conf' | head -1)" | grep -qx hush ||
  fail "the relay does not run as hush"
$sudo kill -INT "$relay_pid"  # SIGTERM drains (up to --drain-timeout); SIGINT stops
wait "$relay_pid" 2>/dev/null || true
relay_pid=""
grep -q "127.0.0.1" "$log" && fail "the relay's log names an address: $(cat "$log")"
rm -f "$log"

$sudo dpkg --purge hush-relay >/dev/null
for f in $files; do
  [ -d "$f" ] && continue
  [ ! -e "$f" ] || fail "$f is left after purge"
done
[ ! -e /etc/hush ] || fail "/etc/hush is left after purge: $(ls -A /etc/hush)"
! getent passwd hush >/dev/null || fail "user hush is left after purge"
echo "package-test: installed, checked, ran as the unit runs it (Binding and an allocation), purged clean: $(basename "$deb")"
