#!/usr/bin/env bash
# Measures what --padding, --smoothing and --cover leave to a phrase-fingerprinting observer of
# the encrypted relay-to-client leg (DTLS), as accuracy against chance and bytes on the wire.
#
#   loadtest/fingerprint/run.sh [--quick]
#
# 1. Corpus: the 20 phrases of phrases.txt spoken by espeak-ng in 10 voice/pitch variants.
# 2. Opus (libopus, 16 kHz, 24 kbit/s, 20 ms frames): VBR with DTX, VBR without, and CBR.
# 3. Every utterance replayed through a real hush-relay, one configuration at a time: a UDP peer
#    sends SRTP-sized packets at the trace's times; a DTLS client's socket records the datagram
#    sizes and arrival times an observer of that leg sees (never decrypted).
# 4. Leave-one-variant-out phrase identification (1-nearest neighbour) on those observations.
# --quick: VBR with DTX only, and three configurations.
# Writes build/fingerprint/results.jsonl and draws build/fingerprint/fingerprint.svg from it
# (loadtest/plot_fingerprint.py; docs/img/fingerprint.svg is a copy of a full run's).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
quick=0
[ "${1:-}" = "--quick" ] && quick=1

need=()
command -v espeak-ng >/dev/null || need+=(espeak-ng)
pkg-config --exists opus 2>/dev/null || need+=(libopus-dev)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q "${need[@]}" >/dev/null
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target hush-relay hush-fingerprint >/dev/null
fp=build/loadtest/hush-fingerprint

work=$(mktemp -d)
relay_pid=""
cleanup() {
  [ -n "$relay_pid" ] && kill -INT "$relay_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. The corpus.
voices=(en-us en-gb en-gb-scotland en-gb-x-rp en-029 en-us+f2 en-gb+f3 en-gb-x-gbclan en-gb-x-gbcwmd en-us+m3)
pitches=(50 45 55 50 40 60 50 45 55 50)
mkdir -p "$work/wav"
n=0
while IFS= read -r phrase; do
  n=$((n + 1))
  for v in "${!voices[@]}"; do
    espeak-ng -v "${voices[$v]}" -p "${pitches[$v]}" -s 160 -w "$work/wav/$(printf 'p%02d_v%02d' "$n" "$v").wav" "$phrase"
  done
done <loadtest/fingerprint/phrases.txt
echo "corpus: $n phrases x ${#voices[@]} variants ($(ls "$work/wav" | wc -l) utterances)"

# 2-4.
cert=$work/cert.pem key=$work/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$key" -out "$cert" -days 1 \
  -subj /CN=fingerprint >/dev/null 2>&1
head -c 24 /dev/urandom | base64 >"$work/secret"
port=$((20000 + RANDOM % 10000))  # below the ephemeral range, where the peers bind

configs=("none|--padding off" "block:128|--padding block:128" "fixed:256|--padding fixed:256"
         "fixed:256 + smoothing 20ms|--padding fixed:256 --smoothing 20ms"
         "fixed:256 + smoothing 20ms + cover|--padding fixed:256 --smoothing 20ms --cover")
modes=(vbr-dtx vbr cbr)
if [ $quick = 1 ]; then
  configs=("${configs[0]}" "${configs[2]}" "${configs[4]}")
  modes=(vbr-dtx)
fi

out=build/fingerprint
mkdir -p "$out"
: >"$out/results.jsonl"
printf '\n%-8s %-36s %9s %7s %12s\n' codec defence accuracy chance "wire/media"
for mode in "${modes[@]}"; do
  "$fp" encode --wav-dir "$work/wav" --mode "$mode" --out "$work/$mode.traces" 2>/dev/null
  for c in "${configs[@]}"; do
    name=${c%%|*}
    args=${c#*|}
    # Relayed ports above the ephemeral range: the peers are sockets of this host, and hush
    # refuses host peers whose port lies in its relay range.
    # shellcheck disable=SC2086
    build/hush-relay --listen 127.0.0.1:$((port + 1)) --tls-listen 127.0.0.1:$port --cert "$cert" --key "$key" \
      --secret-file "$work/secret" --allow-peer 127.0.0.0/8 --relay-ports 61000-64999 --threads 1 \
      --log-level error $args >"$work/relay.log" 2>&1 &
    relay_pid=$!
    sleep 0.5
    "$fp" replay --traces "$work/$mode.traces" --relay 127.0.0.1:$port --secret-file "$work/secret" \
      --out "$work/obs" --parallel 50
    kill -INT "$relay_pid"
    wait "$relay_pid" 2>/dev/null || true
    relay_pid=""
    read -r _ acc _ chance _ _ _ wire _ media < <("$fp" classify --observations "$work/obs")
    ratio=$(echo "$wire / $media" | bc -l)
    printf '%-8s %-36s %9.3f %7.3f %12.2f\n' "$mode" "$name" "$acc" "$chance" "$ratio"
    printf '{"codec":"%s","defence":"%s","accuracy":%s,"chance":%s,"wire_over_media":%.3f}\n' \
      "$mode" "$name" "$acc" "$chance" "$ratio" >>"$out/results.jsonl"
  done
done
/usr/bin/python3 loadtest/plot_fingerprint.py "$out/results.jsonl" "$out/fingerprint.svg"
echo "runs in $out/results.jsonl; plot $out/fingerprint.svg (docs/img/fingerprint.svg in docs/privacy.md)"
echo
echo "accuracy: share of utterances whose phrase the observer named right, each tested against the"
echo "other 9 variants (chance: 1 in 20); wire/media: bytes in DTLS datagrams to the client over the"
echo "media bytes (SRTP-sized packets) the peer sent."
