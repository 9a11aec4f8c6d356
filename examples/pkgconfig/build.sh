#!/bin/sh
# Builds main.c against an installed xalloc found through pkg-config.
#   ./build.sh [OUTPUT]          (default: ./example-pkgconfig)
# If xalloc is installed under a prefix pkg-config does not search, point
# PKG_CONFIG_PATH at <prefix>/lib/pkgconfig first. To run the result, the
# dynamic linker must find libxalloc.so too: install it where ld.so looks,
# or set LD_LIBRARY_PATH to $(pkg-config --variable=libdir xalloc).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-./example-pkgconfig}
cflags=$(pkg-config --cflags xalloc)
libs=$(pkg-config --libs xalloc)
# shellcheck disable=SC2086   # the flags are meant to be split into words
${CC:-cc} -O2 -Wall -Wextra $cflags "$here/main.c" -o "$out" $libs
echo "built $out"
