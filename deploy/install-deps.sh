#!/usr/bin/env bash
# Installs the Debian 12 packages hush needs. Idempotent: apt-get update runs once, and only
# when something is missing. Usage: deploy/install-deps.sh run|test|bench|profile|fuzz|soak|package
set -euo pipefail
profile=${1:-run}
# libbpf-dev, bpftool and clang build the kernel fast path (--kernel-fastpath); without them it is left out.
packages=(g++ cmake ninja-build pkg-config libboost-dev libssl-dev libcli11-dev prometheus-cpp-dev libnice-dev libbpf-dev bpftool clang)
if [ "$profile" = test ]; then
  # promtool (package prometheus), yamllint, python3-yaml and systemd-analyze check deploy/;
  # stun-client is an RFC 3489 NAT classifier, a client for the classic Binding tests.
  # liblinphone-dev, baresip-core and nftables: the Softphone tests (SIP phones behind NATs).
  # help2man, lintian and dpkg-dev: the Debian package the tests build and install.
  # chromium and firefox-esr: headless WebRTC clients (tests/browsers).
  packages+=(chromium firefox-esr googletest libgtest-dev coturn clang libclang-rt-14-dev iproute2 ethtool prometheus yamllint python3-yaml systemd openssl libnice-dev stun-client liblinphone-dev baresip-core nftables help2man lintian dpkg-dev adduser)
elif [ "$profile" = bench ]; then
  packages+=(googletest libgtest-dev coturn python3 python3-matplotlib util-linux curl iproute2 ethtool)
elif [ "$profile" = soak ]; then  # loadtest/soak.sh
  packages+=(python3 python3-matplotlib curl)
elif [ "$profile" = fuzz ]; then  # tests/fuzz/campaign.sh and coverage.sh
  packages+=(clang libclang-rt-14-dev llvm-14)
elif [ "$profile" = package ]; then  # deploy/package.sh and deploy/package-test.sh
  packages+=(help2man lintian dpkg-dev python3 coturn passwd adduser)
elif [ "$profile" = profile ]; then  # loadtest/profile-gap.sh
  packages+=(python3 util-linux linux-perf)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "Installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # coturn's tools are test clients here and promtool checks rules: their services stay off.
  for service in coturn prometheus; do
    if [[ " ${missing[*]} " == *" $service "* ]] && command -v systemctl >/dev/null 2>&1; then
      $sudo systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
  done
fi
