#!/usr/bin/env bash
# Counts the instructions that one malloc and one free of a small size cost on
# the fast path, for xalloc and every other allocator installed, with
# valgrind's callgrind, and prints xalloc's malloc fast path (objdump).
#
#   bench/fastpath_instructions.sh [--lib PATH] [--alloc LIST] [--sizes LIST]
#                                  [--pairs N]
#
# Method: bench/fastpath_calls.c warms the allocator up and then does N
# malloc(SIZE)/free pairs, every call through a wrapper that is never inlined
# (call_malloc, call_free). It runs under callgrind twice, with N and 2N
# pairs; callgrind_annotate gives each wrapper's inclusive and self
# instruction counts (Ir). inclusive - self is what malloc (or free) cost,
# whatever the allocator's symbols are called, stripped or not, and the
# difference between the two runs divided by N is the cost of one call in
# the steady state: start-up, warm-up and first-touch costs cancel out, rare
# slow paths (cache refills, flushes, sampling) are averaged in.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CALLER_PWD=$PWD
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

LIB=""
ALLOC_LIST=""
SIZES="32,256"
PAIRS=1000000

usage() {
    cat <<EOF
usage: bench/fastpath_instructions.sh [options]

Instructions per malloc and per free of a small size on the fast path, per
allocator, measured with valgrind --tool=callgrind (installed with apt-get
when missing), as a markdown table; then the disassembly of xalloc's malloc
up to its first ret.

  --lib PATH     libxalloc.so to measure (default: build xalloc Release in
                 build-bench/, as bench/run.sh does)
  --alloc LIST   allocators, comma separated (default: all found)
                 ${ALL_ALLOCS[*]}
  --sizes LIST   request sizes in bytes, comma separated (default $SIZES)
  --pairs N      malloc/free pairs of the shorter run (default $PAIRS; the
                 longer run does 2N)
  -h, --help     this text
EOF
}

die() { echo "fastpath_instructions.sh: $*" >&2; exit 1; }
note() { echo "[fastpath_instructions] $*" >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --lib) [ $# -ge 2 ] || die "--lib needs a value"; LIB=$2; shift ;;
        --lib=*) LIB=${1#*=} ;;
        --alloc) [ $# -ge 2 ] || die "--alloc needs a value"; ALLOC_LIST=$2; shift ;;
        --alloc=*) ALLOC_LIST=${1#*=} ;;
        --sizes) [ $# -ge 2 ] || die "--sizes needs a value"; SIZES=$2; shift ;;
        --sizes=*) SIZES=${1#*=} ;;
        --pairs) [ $# -ge 2 ] || die "--pairs needs a value"; PAIRS=$2; shift ;;
        --pairs=*) PAIRS=${1#*=} ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1' (try --help)" ;;
    esac
    shift
done
[[ "$PAIRS" =~ ^[1-9][0-9]*$ ]] || die "--pairs must be a positive integer"
[[ "$SIZES" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--sizes must be a list of positive integers"
case "$LIB" in ""|/*) ;; *) LIB="$CALLER_PWD/$LIB" ;; esac
cd "$ROOT"

# ---------------------------------------------------------------- tools
if ! command -v valgrind >/dev/null 2>&1 || ! command -v callgrind_annotate >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    note "valgrind not found, installing it with apt-get"
    { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; } >&2 \
        || die "could not install valgrind (apt-get install valgrind)"
fi
command -v objdump >/dev/null 2>&1 || note "objdump not found (binutils): no disassembly"

# ---------------------------------------------------------------- allocators
peer_missing() {
    if [ "$2" = 1 ]; then die "$1 not found"; else note "$1 not installed, skipping it"; fi
}
select_allocs "$ALLOC_LIST"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fastpath_instructions.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

if has_alloc xalloc; then xalloc_lib "$LIB" "$WORK/build.log"; fi

CC=${CC:-cc}
PROG="$WORK/fastpath_calls"
# -fno-plt: calls go straight through the GOT, no PLT stub to account for;
# no sibling calls: the wrappers really call malloc/free.
"$CC" -O2 -fno-plt -fno-optimize-sibling-calls -fno-builtin -Wall -Wextra \
    -o "$PROG" "$HERE/fastpath_calls.c" 2>"$WORK/cc.log" \
    || "$CC" -O2 -fno-plt -fno-optimize-sibling-calls -fno-builtin \
        -o "$PROG" "$HERE/fastpath_calls.c" -ldl 2>>"$WORK/cc.log" \
    || { cat "$WORK/cc.log" >&2; die "compiling bench/fastpath_calls.c failed"; }

# ---------------------------------------------------------------- measure
# Ir of function FN in callgrind file F: inclusive (INCL=yes) or self.
fn_ir() {
    local f=$1 fn=$2 incl=$3
    callgrind_annotate --inclusive="$incl" --threshold=100 "$f" 2>/dev/null | awk -v fn="$fn" '
        { for (i = 2; i <= NF; i++) if ($i ~ (":" fn "$")) { v = $1; gsub(/,/, "", v); print v; exit } }'
}

# run_one ALLOC SIZE PAIRS -> prints "malloc_ir free_ir" for one run
run_one() {
    local a=$1 size=$2 n=$3 out="$WORK/cg.$1.$2.$3"
    local envs=()
    [ -z "${LIBPATH[$a]}" ] || envs=("LD_PRELOAD=${LIBPATH[$a]}")
    if ! env -u LD_PRELOAD "${envs[@]}" valgrind -q --tool=callgrind --callgrind-out-file="$out" \
            --log-file="$WORK/vg.log" "$PROG" "$size" "$n" 2>"$WORK/prog.err"; then
        cat "$WORK/vg.log" "$WORK/prog.err" >&2
        return 1
    fi
    # LD_PRELOAD really took effect?
    local got want
    got=$(awk '$1 == "malloc:" { print $2 }' "$WORK/prog.err")
    if [ -n "${LIBPATH[$a]}" ]; then
        want=$(readlink -f "${LIBPATH[$a]}")
        [ "$(readlink -f "$got" 2>/dev/null)" = "$want" ] \
            || { note "$a: malloc resolved to $got, not $want"; return 1; }
    else
        case "$got" in *libc.so*) ;; *) note "glibc: malloc resolved to $got"; return 1 ;; esac
    fi
    local m_incl m_self f_incl f_self
    m_incl=$(fn_ir "$out" call_malloc yes); m_self=$(fn_ir "$out" call_malloc no)
    f_incl=$(fn_ir "$out" call_free yes); f_self=$(fn_ir "$out" call_free no)
    [ -n "$m_incl" ] && [ -n "$m_self" ] && [ -n "$f_incl" ] && [ -n "$f_self" ] \
        || { note "$a: no call_malloc/call_free in callgrind's output"; return 1; }
    echo "$((m_incl - m_self)) $((f_incl - f_self))"
}

IFS=, read -r -a SIZE_LIST <<< "$SIZES"
declare -A RES
T0=$(date +%s)
for size in "${SIZE_LIST[@]}"; do
    for a in "${ALLOCS[@]}"; do
        note "$a, malloc($size)/free: $PAIRS and $((2 * PAIRS)) pairs under callgrind"
        if r1=$(run_one "$a" "$size" "$PAIRS") && r2=$(run_one "$a" "$size" $((2 * PAIRS))); then
            RES[$a,$size]=$(awk -v a="$r1" -v b="$r2" -v n="$PAIRS" 'BEGIN {
                split(a, x, " "); split(b, y, " ")
                m = (y[1] - x[1]) / n; f = (y[2] - x[2]) / n
                printf "%.1f %.1f %.1f", m, f, m + f }')
        else
            RES[$a,$size]="fail"
        fi
    done
done
note "measured in $(( $(date +%s) - T0 )) s"

# ---------------------------------------------------------------- report
echo "# Fast-path instructions per call (callgrind Ir)"
echo
echo "$(valgrind --version), $PAIRS vs $((2 * PAIRS)) pairs after a warm-up; each block freed right after it is allocated; Ir = instructions executed inside malloc or free (callees included), averaged over the pairs."
echo
for a in "${ALLOCS[@]}"; do
    case "$a" in
        glibc) echo "- glibc $(glibc_version) (no preload)" ;;
        *) echo "- $a: ${LIBPATH[$a]}" ;;
    esac
done
for size in "${SIZE_LIST[@]}"; do
    echo
    echo "### malloc($size) + free"
    echo
    echo "| allocator | Ir per malloc | Ir per free | Ir per pair |"
    echo "|---|---:|---:|---:|"
    for a in "${ALLOCS[@]}"; do
        r=${RES[$a,$size]}
        if [ "$r" = fail ]; then
            echo "| $a | FAIL | FAIL | FAIL |"
        else
            read -r m f p <<<"$r"
            echo "| $a | $m | $f | $p |"
        fi
    done
done

# ---------------------------------------------------------------- disassembly
if has_alloc xalloc && command -v objdump >/dev/null 2>&1; then
    lib=${LIBPATH[xalloc]}
    start=$(nm -D --defined-only "$lib" 2>/dev/null | awk '$3 == "malloc" { print $1; exit }')
    if [ -z "$start" ]; then
        echo
        echo "(no dynamic symbol malloc in $lib)"
    else
        # Stop at the next symbol after malloc (or 4 KiB further).
        stop=$({ nm -n --defined-only "$lib" 2>/dev/null; nm -D -n --defined-only "$lib" 2>/dev/null; } \
            | awk -v s="$start" '
                function hex(h,   i, c, v) { v = 0; h = tolower(h)
                    for (i = 1; i <= length(h); i++) { c = index("0123456789abcdef", substr(h, i, 1)) - 1; v = v * 16 + c }
                    return v }
                BEGIN { sv = hex(s); best = sv + 4096 }
                NF >= 3 { v = hex($1); if (v > sv && v < best) best = v }
                END { printf "0x%x", best }')
        echo
        echo "### xalloc: malloc up to its first ret"
        echo
        echo "\`objdump -d --start-address=0x$start\` of $lib:"
        echo
        echo '```'
        objdump -d --no-show-raw-insn --start-address="0x$start" --stop-address="$stop" "$lib" \
            | awk '
                /^[0-9a-f]+ <.*>:$/ { print; next }
                /^ *[0-9a-f]+:\t/ {
                    print; n++
                    split($0, parts, "\t"); split(parts[2], w, " ")
                    if (w[1] ~ /^ret/ || (w[1] ~ /^(repz|rep|bnd)$/ && w[2] ~ /^ret/)) { done = 1; exit }
                }
                END { printf "\n%d instructions up to and including the first ret%s\n", n, done ? "" : " (no ret found before the next symbol)" }'
        echo '```'
    fi
fi
