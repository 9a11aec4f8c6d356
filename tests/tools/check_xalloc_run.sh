#!/bin/sh
# Usage: check_xalloc_run.sh XALLOC_RUN LIBXALLOC PROBE
# Runs the build tree's xalloc-run with XALLOC_LIB pointing at the freshly
# built library, and checks that the preload reaches the program:
#   --help and --version answer; a missing program is a usage error;
#   PROBE (tests/tools/preload_probe.c) finds xalloc_owns in itself and
#   xalloc owns its malloc result; ls runs under it;
#   --stats makes the program print xalloc's statistics on stderr at exit;
#   --conf reaches xalloc's option parser (a bogus key is reported);
#   an existing LD_PRELOAD and XALLOC_CONF are kept.
# (coreutils programs such as ls close stderr in their own atexit handler,
# which runs before xalloc's, so --stats is checked on PROBE.)
run=$1
lib=$2
probe=$3
status=0
if [ -z "$run" ] || [ -z "$lib" ] || [ -z "$probe" ]; then
    echo "usage: $0 XALLOC_RUN LIBXALLOC PROBE" >&2
    exit 2
fi
export XALLOC_LIB="$lib"
unset XALLOC_CONF
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xalloc-run-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "FAIL: $*" >&2
    status=1
}

# expect NAME PATTERN FILE: grep -E PATTERN in FILE, or fail showing FILE.
expect() {
    if ! grep -Eq -e "$2" "$3"; then
        fail "$1: no match for /$2/ in:"
        sed 's/^/    /' "$3" >&2
    fi
}

"$run" --help >"$tmp/help" 2>&1 || fail "--help exited with $?"
expect "--help" '^Usage: xalloc-run ' "$tmp/help"
expect "--help" '--stats' "$tmp/help"

"$run" --version >"$tmp/version" 2>&1 || fail "--version exited with $?"
expect "--version" '^xalloc-run \(xalloc\) [0-9]+\.[0-9]+\.[0-9]+$' "$tmp/version"

"$run" >"$tmp/noprog" 2>&1; rc=$?
[ $rc -eq 2 ] || fail "no program: exit status $rc (want 2)"
expect "no program" 'no program given' "$tmp/noprog"

"$run" --frobnicate true >"$tmp/badopt" 2>&1; rc=$?
[ $rc -eq 2 ] || fail "unknown option: exit status $rc (want 2)"

XALLOC_LIB=/nonexistent/libxalloc.so "$run" true >"$tmp/nolib" 2>&1; rc=$?
[ $rc -eq 127 ] || fail "missing library: exit status $rc (want 127)"

# The program sees the preload and the options.
env_out=$("$run" --conf narenas:2 env)
case $env_out in
    *"LD_PRELOAD=$lib"*) ;;
    *) fail "LD_PRELOAD does not reach the program: $(printf '%s\n' "$env_out" | grep LD_PRELOAD)" ;;
esac
case $env_out in
    *XALLOC_CONF=narenas:2*) ;;
    *) fail "XALLOC_CONF does not reach the program" ;;
esac

# Without xalloc-run the probe runs on glibc's malloc; with it, on xalloc's.
"$probe" >"$tmp/plain" 2>&1 || fail "probe alone exited with $?"
expect "probe without xalloc-run" '^preloaded: no' "$tmp/plain"
"$run" "$probe" hello >"$tmp/probe" 2>&1 || fail "xalloc-run probe exited with $?"
expect "xalloc-run probe" '^preloaded: yes \(hello\)$' "$tmp/probe"

"$run" ls / >"$tmp/ls.out" 2>"$tmp/ls.err" || fail "xalloc-run ls / exited with $?"
[ -s "$tmp/ls.out" ] || fail "xalloc-run ls /: ls printed nothing"

# --stats: the statistics come on stderr when the program exits.
"$run" --stats "$probe" >"$tmp/stats.out" 2>"$tmp/stats.err" || fail "--stats probe exited with $?"
expect "--stats" '^preloaded: yes' "$tmp/stats.out"
expect "--stats" '^___ xalloc [0-9.]+ statistics ___$' "$tmp/stats.err"
expect "--stats" '^___ end of xalloc statistics ___$' "$tmp/stats.err"
if grep -q '___' "$tmp/stats.out"; then
    fail "--stats: statistics went to stdout"
fi

# --conf reaches the option parser inside the program.
"$run" --conf bogus:1 ls / >/dev/null 2>"$tmp/bogus.err" || fail "--conf bogus:1 ls exited with $?"
expect "--conf bogus:1" "^xalloc: XALLOC_CONF: unknown key, ignored: 'bogus'" "$tmp/bogus.err"

# Options already in XALLOC_CONF are kept, --conf comes after them, and
# --stats after that (the option line of the statistics shows the result).
XALLOC_CONF=narenas:3 "$run" --conf tcache:false --stats "$probe" >/dev/null 2>"$tmp/keep.err" ||
    fail "XALLOC_CONF + --conf + --stats exited with $?"
expect "XALLOC_CONF kept" '^options: narenas:3 shared_arenas:2 tcache:false ' "$tmp/keep.err"

# An existing LD_PRELOAD stays, after xalloc.
other=$(LD_PRELOAD=/nonexistent-other.so "$run" env 2>/dev/null | grep '^LD_PRELOAD=')
[ "$other" = "LD_PRELOAD=$lib:/nonexistent-other.so" ] ||
    fail "existing LD_PRELOAD not kept after xalloc: '$other'"

# "--" ends the options: a program whose name starts with a dash.
"$run" -- true 2>"$tmp/dashdash" || fail "xalloc-run -- true exited with $?"

[ $status -eq 0 ] && echo "xalloc-run: all checks passed"
exit $status
