#!/bin/sh
# Installs xalloc from a build tree into a temporary prefix, builds the two
# examples against that installation (pkg-config and CMake find_package) and
# runs them. Exits non-zero when any step fails, 77 when a tool it needs
# (pkg-config, cmake, a C compiler) is missing.
#   scripts/check-examples.sh [BUILD_DIR]      (default: build)
# The build tree must be built already. KEEP=1 keeps the temporary folder.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
case $build in /*) ;; *) build=$(pwd)/$build ;; esac

say() { printf 'check-examples: %s\n' "$*"; }
fail() { say "FAIL: $*" >&2; exit 1; }

[ -f "$build/CMakeCache.txt" ] || fail "$build is not a CMake build tree (give the build folder)"
for tool in cmake pkg-config "${CC:-cc}"; do
    command -v "$tool" >/dev/null 2>&1 || { say "SKIP: $tool not found"; exit 77; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/xalloc-examples.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
    say "keeping $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
    trap 'exit 1' HUP INT TERM
fi
prefix=$tmp/prefix

say "installing $build into $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "cmake --install"; }

# Where the library went: lib, lib64 or lib/<multiarch>.
pc=$(find "$prefix" -name xalloc.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "no xalloc.pc under $prefix"
libdir=$(dirname "$(dirname "$pc")")
[ -f "$libdir/libxalloc.so" ] || fail "no libxalloc.so in $libdir"

# ---- pkg-config ----------------------------------------------------------
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pc_libdir=$(pkg-config --variable=libdir xalloc) || fail "pkg-config does not find xalloc"
pc_incdir=$(pkg-config --variable=includedir xalloc)
[ -f "$pc_libdir/libxalloc.so" ] ||
    fail "xalloc.pc libdir '$pc_libdir' has no libxalloc.so (the .pc file does not follow --prefix)"
[ -f "$pc_incdir/xalloc.h" ] ||
    fail "xalloc.pc includedir '$pc_incdir' has no xalloc.h"

say "building examples/pkgconfig"
sh "$root/examples/pkgconfig/build.sh" "$tmp/example-pkgconfig" || fail "examples/pkgconfig/build.sh"
say "running it"
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/example-pkgconfig" ||
    fail "example-pkgconfig exited with status $?"

# ---- CMake find_package ----------------------------------------------------
say "configuring examples/cmake with CMAKE_PREFIX_PATH=$prefix"
cmake -S "$root/examples/cmake" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log" >&2; fail "configuring examples/cmake (find_package(xalloc))"; }
cmake --build "$tmp/cmake-build" >"$tmp/cmake-build.log" 2>&1 ||
    { cat "$tmp/cmake-build.log" >&2; fail "building examples/cmake"; }
for exe in example example_static; do
    say "running $exe"
    LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/cmake-build/$exe" ||
        fail "$exe exited with status $?"
done

say "OK"
