#!/usr/bin/env bash
# Builds the Debian package hush-relay_VERSION_ARCH.deb (deploy/debian/packaging.cmake: CPack)
# in BUILD_DIR (default build, the Release tree the tests use), checks it with lintian and
# prints its path. deploy/package-test.sh installs, runs and purges it.
#   deploy/package.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
deploy/install-deps.sh package >&2
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target hush-relay hush-probe hush-manpages >&2
rm -f "$build"/hush-relay_*.deb
(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls "$build"/hush-relay_*.deb)
# An error or a warning fails; the informational tags left are explained in docs/operations.md.
lintian --fail-on error,warning "$deb" >&2
echo "$deb"
