#!/usr/bin/env bash
# Installs what is needed, builds, and runs hush-relay with its safe default: 127.0.0.1:3478,
# a secret generated for this run only, and a ready credential and turn: URI printed.
# Extra arguments go to hush-relay (see --help and docs/configuration.md).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh run
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DHUSH_TESTS=OFF >/dev/null
cmake --build build --target hush-relay
exec build/hush-relay "$@"
