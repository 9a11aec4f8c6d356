#!/bin/sh
# Usage: check_bindings.sh <program linked with libxalloc.so> <libxalloc.so>
# Checks that libxalloc.so exports malloc and free, and that when the program
# runs the dynamic linker binds malloc to libxalloc rather than to libc.
prog=$1
lib=$2
status=0

if [ -z "$prog" ] || [ -z "$lib" ]; then
    echo "usage: $0 PROGRAM LIBXALLOC" >&2
    exit 2
fi

if command -v nm >/dev/null 2>&1; then
    for sym in malloc free calloc realloc posix_memalign; do
        if ! nm -D --defined-only "$lib" | grep -Eq " [TtWi] $sym\$"; then
            echo "FAIL: $lib does not export $sym" >&2
            status=1
        fi
    done
fi

out=$(LD_DEBUG=bindings "$prog" 2>&1)
if ! printf '%s\n' "$out" | grep -q "binding file .* to .*libxalloc.*: normal symbol \`malloc'"; then
    echo "FAIL: malloc is not bound to libxalloc; bindings for malloc were:" >&2
    printf '%s\n' "$out" | grep "symbol \`malloc'" >&2
    status=1
fi
# No malloc reference may be bound to libc's own malloc.
if printf '%s\n' "$out" | grep -q "binding file .* to .*libc\.so.*: normal symbol \`malloc'"; then
    echo "FAIL: some malloc reference binds to libc:" >&2
    printf '%s\n' "$out" | grep "to .*libc\.so.*: normal symbol \`malloc'" >&2
    status=1
fi

[ $status -eq 0 ] && echo "malloc binds to libxalloc"
exit $status
