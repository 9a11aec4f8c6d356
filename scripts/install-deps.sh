#!/usr/bin/env bash
# Installs what building and testing xalloc needs on Debian, when missing.
# Idempotent; does nothing when everything is present. Needs root for apt-get.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v cc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
[ -f /usr/include/cmocka.h ] || need+=(libcmocka-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
if [ "${1:-}" = "--all" ]; then
    # The whole-program tests and peers: optional for a plain build.
    for p in $(grep -v '^#' "$here/tests/programs/packages.txt" 2>/dev/null || true); do
        dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
    done
    command -v clang >/dev/null || need+=(clang)
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "install-deps: installing ${need[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
