#!/usr/bin/env bash
# Runs xalloc's bundled benchmarks with several allocators on exactly the same
# runs and prints markdown tables (median [min, max], xalloc's ratio to each
# other allocator, geometric mean). See docs/benchmarks.md.
#
#   bench/run.sh [--quick] [--runs N] [--only NAME[,NAME]] [--alloc NAME[,NAME]]
#                [--lib PATH] [--install-peers] [--ref NAME] [--scale F]
#                [--out DIR] [--chart auto|gnuplot|python|none] [--timeout S]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CALLER_PWD=$PWD
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

ALL_BENCHES=(fastpath scaling xthread server falseshare growth large frag freeorder idle oversub)
PEER_PACKAGES=(libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0)

usage() {
    cat <<EOF
usage: bench/run.sh [options]

Builds xalloc (Release, in build-bench/) and the benchmarks, then runs every
benchmark with every allocator it finds, interleaved (A B C A B C ...), and
reports the median, min and max of the runs.

  --quick              short runs (each benchmark ~0.2 s); implies --runs 3
  --runs N             runs per benchmark and allocator (default 5)
  --only LIST          benchmarks, comma separated (default: all)
                       ${ALL_BENCHES[*]}
  --alloc LIST         allocators, comma separated (default: all found)
                       ${ALL_ALLOCS[*]}
  --lib PATH           use this libxalloc.so instead of building one
  --install-peers      apt-get install ${PEER_PACKAGES[*]}
  --ref NAME           allocator whose ratio to the others is shown
                       (default xalloc; glibc when xalloc is not selected)
  --scale F            multiply every benchmark's amount of work by F
  --out DIR            results folder (default bench/results/<date>-<time>)
  --chart KIND         auto (gnuplot, else python3, else none), gnuplot,
                       python, none
  --timeout S          kill a single run after S seconds (default 300,
                       60 with --quick)
  -h, --help           this text

Results: DIR/summary.md (the tables), DIR/raw.csv (every result line),
DIR/summary.csv (medians), DIR/runs.csv (status and wall time of each run),
DIR/samples.csv (RSS over time), DIR/chart.svg, DIR/freeorder_rss.svg and
DIR/freeorder_rss.csv (RSS over time in the freeorder benchmark, the median
run of each allocator by rss_after_wait_mb).
bench/results/latest points at the newest DIR.
bench/fastpath_instructions.sh counts the instructions of a malloc/free pair.
EOF
}

QUICK=0
RUNS=""
ONLY=""
ALLOC_LIST=""
LIB=""
INSTALL=0
REF=""
SCALE=""
OUT=""
CHART=auto
TIMEOUT=""

die() { echo "run.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --runs) [ $# -ge 2 ] || die "--runs needs a value"; RUNS=$2; shift ;;
        --runs=*) RUNS=${1#*=} ;;
        --only) [ $# -ge 2 ] || die "--only needs a value"; ONLY=$2; shift ;;
        --only=*) ONLY=${1#*=} ;;
        --alloc) [ $# -ge 2 ] || die "--alloc needs a value"; ALLOC_LIST=$2; shift ;;
        --alloc=*) ALLOC_LIST=${1#*=} ;;
        --lib) [ $# -ge 2 ] || die "--lib needs a value"; LIB=$2; shift ;;
        --lib=*) LIB=${1#*=} ;;
        --install-peers) INSTALL=1 ;;
        --ref) [ $# -ge 2 ] || die "--ref needs a value"; REF=$2; shift ;;
        --ref=*) REF=${1#*=} ;;
        --scale) [ $# -ge 2 ] || die "--scale needs a value"; SCALE=$2; shift ;;
        --scale=*) SCALE=${1#*=} ;;
        --out) [ $# -ge 2 ] || die "--out needs a value"; OUT=$2; shift ;;
        --out=*) OUT=${1#*=} ;;
        --chart) [ $# -ge 2 ] || die "--chart needs a value"; CHART=$2; shift ;;
        --chart=*) CHART=${1#*=} ;;
        --timeout) [ $# -ge 2 ] || die "--timeout needs a value"; TIMEOUT=$2; shift ;;
        --timeout=*) TIMEOUT=${1#*=} ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1' (try --help)" ;;
    esac
    shift
done

# Paths given on the command line are relative to where run.sh was started.
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$CALLER_PWD/$1" ;; esac; }
[ -z "$LIB" ] || LIB=$(abspath "$LIB")
[ -z "$OUT" ] || OUT=$(abspath "$OUT")

if [ -z "$RUNS" ]; then RUNS=$([ $QUICK = 1 ] && echo 3 || echo 5); fi
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
if [ -z "$TIMEOUT" ]; then TIMEOUT=$([ $QUICK = 1 ] && echo 60 || echo 300); fi
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive integer"
if [ -n "$SCALE" ]; then
    [[ "$SCALE" =~ ^[0-9]*\.?[0-9]+$ ]] || die "--scale must be a positive number"
fi
case "$CHART" in auto|gnuplot|python|none) ;; *) die "--chart must be auto, gnuplot, python or none" ;; esac

T_START=$(date +%s)
elapsed() { local s=$(( $(date +%s) - T_START )); printf '%d:%02d' $((s / 60)) $((s % 60)); }
note() { echo "[$(elapsed)] $*" >&2; }

# ---------------------------------------------------------------- benchmarks
BENCHES=()
if [ -n "$ONLY" ]; then
    IFS=, read -r -a req <<< "$ONLY"
    for b in "${req[@]}"; do
        [ -f "bench/bench_$b.c" ] || die "no benchmark '$b' (have: ${ALL_BENCHES[*]})"
        BENCHES+=("$b")
    done
else
    BENCHES=("${ALL_BENCHES[@]}")
fi

# ---------------------------------------------------------------- peers
if [ $INSTALL = 1 ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    note "installing ${PEER_PACKAGES[*]} with apt-get"
    $SUDO apt-get update -qq || note "apt-get update failed"
    for p in "${PEER_PACKAGES[@]}"; do
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null \
            || note "could not install $p"
    done
fi

peer_missing() {
    if [ "$2" = 1 ]; then
        die "$1 not found (install ${PKG[$1]} or use --install-peers)"
    else
        note "$1 not found (package ${PKG[$1]}), skipping it; --install-peers installs it"
    fi
}
select_allocs "$ALLOC_LIST"

if [ -z "$REF" ]; then
    if has_alloc xalloc; then REF=xalloc
    elif has_alloc glibc; then REF=glibc
    else REF=${ALLOCS[0]}; fi
fi
has_alloc "$REF" || die "--ref $REF is not among the allocators (${ALLOCS[*]})"
BASE=glibc
has_alloc glibc || BASE=${ALLOCS[0]}

# ---------------------------------------------------------------- output dir
if [ -z "$OUT" ]; then
    OUT="bench/results/$(date +%Y%m%d-%H%M%S)$([ $QUICK = 1 ] && echo -quick || true)"
fi
mkdir -p "$OUT" "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
if [[ "$OUT" == "$ROOT/bench/results/"* ]]; then
    ln -sfn "$(basename "$OUT")" "$ROOT/bench/results/latest" 2>/dev/null || true
fi

# ---------------------------------------------------------------- build
if has_alloc xalloc; then xalloc_lib "$LIB" "$OUT/build.log" keep; fi

BIN="$OUT/bin"
mkdir -p "$BIN"
CC=${CC:-cc}
note "building benchmarks with $CC -O2 into $BIN"
pids=()
for b in "${BENCHES[@]}"; do
    "$CC" -O2 -Wall -Wextra -Wno-unused-parameter -pthread -o "$BIN/bench_$b" \
        "bench/bench_$b.c" >"$OUT/logs/compile_$b.log" 2>&1 &
    pids+=($!)
done
i=0
for b in "${BENCHES[@]}"; do
    if ! wait "${pids[$i]}"; then
        cat "$OUT/logs/compile_$b.log" >&2
        die "compiling bench_$b failed"
    fi
    [ -s "$OUT/logs/compile_$b.log" ] || rm -f "$OUT/logs/compile_$b.log"
    i=$((i + 1))
done

# ---------------------------------------------------------------- describe
pkg_version() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || true; }
{
    echo "# xalloc benchmark results"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || uname -m), $(nproc 2>/dev/null || echo '?') CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null), Linux $(uname -r)"
    echo "- mode: $([ $QUICK = 1 ] && echo quick || echo full)${SCALE:+, scale $SCALE}, $RUNS runs per benchmark and allocator, interleaved"
    echo "- xalloc: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
    echo "- allocators:"
    for a in "${ALLOCS[@]}"; do
        case "$a" in
            glibc) echo "  - glibc $(glibc_version) (no preload)" ;;
            xalloc) echo "  - xalloc: ${LIBPATH[xalloc]}" ;;
            *) echo "  - $a ${PKG[$a]} $(pkg_version "${PKG[$a]}"): ${LIBPATH[$a]}" ;;
        esac
    done
} >"$OUT/header.md"

# ---------------------------------------------------------------- run
echo "run,bench,alloc,metric,value,unit,better" >"$OUT/raw.csv"
echo "run,bench,alloc,phase,t_ms,rss_kb" >"$OUT/samples.csv"
echo "run,bench,alloc,status,exit_code,wall_s" >"$OUT/runs.csv"
MODEFLAG=()
[ $QUICK = 1 ] && MODEFLAG=(--quick)
[ -n "$SCALE" ] && MODEFLAG+=(--scale "$SCALE")
TIMEOUT_CMD=()
command -v timeout >/dev/null 2>&1 && TIMEOUT_CMD=(timeout -k 5 "$TIMEOUT")

TOTAL=$((RUNS * ${#BENCHES[@]} * ${#ALLOCS[@]}))
DONE=0
FAILS=0
WARNS=0
TMP="$OUT/logs/.out"
# Ctrl-C or TERM: stop after the current run and summarise what was measured.
INTERRUPTED=0
trap 'INTERRUPTED=1' INT TERM

note "$TOTAL runs: ${#BENCHES[@]} benchmarks x ${#ALLOCS[@]} allocators (${ALLOCS[*]}) x $RUNS; results in $OUT"
for ((r = 1; r <= RUNS; r++)); do
    for b in "${BENCHES[@]}"; do
        printf '[%s] run %d/%d  %-10s' "$(elapsed)" "$r" "$RUNS" "$b" >&2
        for a in "${ALLOCS[@]}"; do
            [ $INTERRUPTED = 0 ] || break
            envs=()
            if [ -n "${LIBPATH[$a]}" ]; then
                envs=("LD_PRELOAD=${LIBPATH[$a]}" "BENCH_REQUIRE_LIB=$(basename "${LIBPATH[$a]}")")
            fi
            t0=$(date +%s%N)
            rc=0
            env -u LD_PRELOAD -u BENCH_REQUIRE_LIB "${envs[@]}" "${TIMEOUT_CMD[@]}" \
                "$BIN/bench_$b" "${MODEFLAG[@]}" >"$TMP" 2>"$TMP.err" || rc=$?
            t1=$(date +%s%N)
            [ $INTERRUPTED = 0 ] || break  # discard the run Ctrl-C cut short
            wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
            if [ $rc = 0 ] && grep -q '^RESULT ' "$TMP"; then
                status=ok
                awk -v run="$r" -v alloc="$a" '
                    $1 == "RESULT" || $1 == "SAMPLE" {
                        delete f
                        for (i = 2; i <= NF; i++) {
                            eq = index($i, "=")
                            if (eq) f[substr($i, 1, eq - 1)] = substr($i, eq + 1)
                        }
                    }
                    $1 == "RESULT" {
                        print run "," f["bench"] "," alloc "," f["metric"] "," f["value"] "," f["unit"] "," f["better"] >> raw
                    }
                    $1 == "SAMPLE" {
                        print run "," f["bench"] "," alloc "," f["phase"] "," f["t_ms"] "," f["rss_kb"] >> samples
                    }' raw="$OUT/raw.csv" samples="$OUT/samples.csv" "$TMP"
                printf '  %s %ss' "$a" "$wall" >&2
                if [ -s "$TMP.err" ]; then
                    WARNS=$((WARNS + 1))
                    { echo "== run $r $b $a"; cat "$TMP.err"; } >>"$OUT/logs/stderr.log"
                fi
            else
                status=fail
                if [ $rc = 124 ] || [ $rc = 137 ]; then status=timeout; fi
                if [ $rc = 0 ]; then rc=-1; fi  # exit 0 without RESULT lines
                FAILS=$((FAILS + 1))
                { echo "== run $r $b $a: exit $rc ($status)"; cat "$TMP.err" "$TMP"; } >>"$OUT/logs/failures.log"
                printf '  %s %s' "$a" "${status^^}" >&2
            fi
            echo "$r,$b,$a,$status,$rc,$wall" >>"$OUT/runs.csv"
            DONE=$((DONE + 1))
        done
        printf '  (%d/%d)\n' "$DONE" "$TOTAL" >&2
        [ $INTERRUPTED = 0 ] || break 2
    done
done
if [ $INTERRUPTED = 1 ]; then
    echo >&2
    note "interrupted after $DONE of $TOTAL runs; summarising those"
fi
rm -f "$TMP" "$TMP.err"
trap - INT TERM

# ---------------------------------------------------------------- summarise
ALLOCS_CSV=$(IFS=,; echo "${ALLOCS[*]}")
RATIO_REF=$REF
[ ${#ALLOCS[@]} -gt 1 ] || RATIO_REF=""
awk -v allocs="$ALLOCS_CSV" -v ref="$RATIO_REF" -v base="$BASE" \
    -v csv="$OUT/summary.csv" -v chart="$OUT/chart.dat" \
    -f "$HERE/summarize.awk" "$OUT/raw.csv" >"$OUT/tables.md"

# ---------------------------------------------------------------- RSS over time
# freeorder_rss.csv: the SAMPLE lines of one freeorder run per allocator, the
# median run by rss_after_wait_mb (the lower middle one for an even number of
# runs; the first run with samples when that result is missing). Also a
# gnuplot data file (one block per allocator, removed after the charts) and,
# in RSS_PICKS, "alloc run how" for each block.
RSS_METRIC=rss_after_wait_mb
RSS_TITLE="freeorder: resident size over time (median run of each allocator by $RSS_METRIC)"
RSS_CSV="$OUT/freeorder_rss.csv"
RSS_DAT="$OUT/logs/freeorder_rss.dat"
RSS_PICKS=()   # "alloc run how" per allocator with samples
rm -f "$RSS_CSV" "$RSS_DAT" "$OUT/freeorder_rss.svg"
if grep -q '^[0-9]*,freeorder,' "$OUT/samples.csv"; then
    mapfile -t RSS_PICKS < <(awk -F, -v allocs="$ALLOCS_CSV" -v bench=freeorder \
        -v metric="$RSS_METRIC" -v csv="$RSS_CSV" -v dat="$RSS_DAT" '
        FNR == 1 { file++; next }
        file == 1 && $2 == bench && $4 == metric {
            k = ++n[$3]; rv[$3, k] = $5 + 0; rr[$3, k] = $1 + 0; next
        }
        file == 2 && $2 == bench {
            has[$3, $1 + 0] = 1
            if (!($3 in first) || $1 + 0 < first[$3]) first[$3] = $1 + 0
            ns++; S[ns] = $0
        }
        END {
            print "alloc,run,phase,t_ms,rss_kb,rss_mb" > csv
            na = split(allocs, A, ",")
            for (i = 1; i <= na; i++) {
                a = A[i]; pick = ""; how = ""
                m = n[a] + 0
                if (m > 0) {
                    # sort the run indices 1..m by value (insertion sort)
                    for (j = 1; j <= m; j++) idx[j] = j
                    for (j = 2; j <= m; j++) {
                        t = idx[j]
                        for (k = j - 1; k >= 1 && rv[a, idx[k]] > rv[a, t]; k--) idx[k + 1] = idx[k]
                        idx[k + 1] = t
                    }
                    pick = rr[a, idx[int((m + 1) / 2)]]; how = "median"
                    if (!((a, pick) in has)) pick = ""
                }
                if (pick == "" && (a in first)) { pick = first[a]; how = "first" }
                if (pick == "") continue
                printf "# %s\n", a > dat
                for (s = 1; s <= ns; s++) {
                    split(S[s], f, ",")
                    if (f[3] != a || f[1] + 0 != pick) continue
                    printf "%s,%d,%s,%s,%s,%.3f\n", a, pick, f[4], f[5], f[6], f[6] / 1024 > csv
                    printf "%s\t%.3f\n", f[5], f[6] / 1024 > dat
                }
                printf "\n\n" > dat
                print a, pick, how
            }
        }' "$OUT/raw.csv" "$OUT/samples.csv")
    if [ ${#RSS_PICKS[@]} = 0 ]; then rm -f "$RSS_CSV" "$RSS_DAT"; fi
fi

# ---------------------------------------------------------------- charts
bars_gnuplot() {
    local n=${#ALLOCS[@]} cols="" i
    local rows
    rows=$(($(wc -l <"$OUT/chart.dat") - 1))
    [ "$rows" -gt 0 ] || return 0
    local lo hi
    read -r lo hi < <(awk -F'\t' 'NR > 1 { for (i = 2; i <= NF; i++) if ($i != "NaN") { v = $i + 0; if (v < lo) lo = v; if (v > hi) hi = v } }
        END { l = int(lo) - 1; h = int(hi) + 1; if (l > -1) l = -1; if (h < 1) h = 1; print l, h }' "$OUT/chart.dat")
    local tics="" k
    for ((k = lo; k <= hi; k++)); do
        if [ $k -ge 0 ]; then tics+="\"$((1 << k))x\" $k,"; else tics+="\"1/$((1 << -k))\" $k,"; fi
    done
    tics=${tics%,}
    for ((i = 2; i <= n + 1; i++)); do
        cols+="'$OUT/chart.dat' using $i$([ $i = 2 ] && echo ':xtic(1)' || true) title columnheader($i), "
    done
    cols=${cols%, }
    gnuplot 2>>"$OUT/logs/gnuplot.log" <<EOF
set terminal svg size $((300 + rows * (12 * n + 10))),620 dynamic font "sans,11" background rgb "white"
set output "$OUT/chart.svg"
set title "xalloc benchmarks: median result relative to $BASE (log scale, higher is better)" noenhanced
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics rotate by 45 right nomirror scale 0 font ",9" noenhanced
set ytics ($tics)
set yrange [$lo:$hi]
set grid ytics
set key tmargin center horizontal noenhanced
set bmargin 10
set datafile missing "NaN"
set datafile separator "\t"
plot $cols
EOF
}

bars_python() {
    python3 "$HERE/svgchart.py" \
        --title "xalloc benchmarks: median result relative to $BASE (log scale, higher is better)" \
        "$OUT/chart.dat" "$OUT/chart.svg"
}

rss_gnuplot() {
    [ -f "$RSS_DAT" ] || return 0
    local plot="" i=0 p a r h
    for p in "${RSS_PICKS[@]}"; do
        read -r a r h <<<"$p"
        plot+="'$RSS_DAT' index $i using 1:2 with linespoints lw 2 pt 7 ps 0.6 title \"$a (run $r$([ "$h" = first ] && echo ', first' || true))\", "
        i=$((i + 1))
    done
    gnuplot 2>>"$OUT/logs/gnuplot.log" <<EOF
set terminal svg size 1000,500 dynamic font "sans,11" background rgb "white"
set output "$OUT/freeorder_rss.svg"
set title "$RSS_TITLE" noenhanced
set xlabel "time since start (ms)"
set ylabel "RSS (MB)"
set xrange [0:*]
set yrange [0:*]
set grid
set key outside right top vertical noenhanced
set datafile separator "\t"
plot ${plot%, }
EOF
}

rss_python() {
    [ -f "$RSS_CSV" ] || return 0
    python3 "$HERE/rsschart.py" --title "$RSS_TITLE" "$RSS_CSV" "$OUT/freeorder_rss.svg"
}

# draw KIND: bars or rss, with the --chart choice; auto falls back to python3.
draw() {
    local kind=$1
    case "$CHART" in
        auto)
            if command -v gnuplot >/dev/null 2>&1 && "${kind}_gnuplot"; then return 0; fi
            if command -v gnuplot >/dev/null 2>&1; then note "gnuplot failed ($kind chart), trying python3"; fi
            if command -v python3 >/dev/null 2>&1; then
                "${kind}_python" || note "python3 $kind chart failed, no chart"
            else
                note "neither gnuplot nor python3: no $kind chart"
            fi ;;
        gnuplot) "${kind}_gnuplot" || note "gnuplot failed ($kind chart)" ;;
        python) "${kind}_python" || note "python3 $kind chart failed" ;;
        none) ;;
    esac
}
draw bars
draw rss
# gnuplot may leave an empty file behind when it fails
for f in "$OUT/chart.svg" "$OUT/freeorder_rss.svg"; do
    [ -s "$f" ] || rm -f "$f"
done
rm -f "$RSS_DAT"  # gnuplot's copy of freeorder_rss.csv

# ---------------------------------------------------------------- summary.md
{
    cat "$OUT/header.md"
    cat "$OUT/tables.md"
    if [ -f "$OUT/chart.svg" ] || [ -f "$RSS_CSV" ]; then
        echo
        echo "### Charts"
        echo
        [ -f "$OUT/chart.svg" ] && echo "- \`chart.svg\`: every metric's median relative to $BASE (log scale, higher is better)."
        if [ -f "$RSS_CSV" ]; then
            picks=""
            for p in "${RSS_PICKS[@]}"; do
                read -r a r h <<<"$p"
                picks+="${picks:+, }$a run $r$([ "$h" = first ] && echo ' (first run: no result to rank)' || true)"
            done
            if [ -f "$OUT/freeorder_rss.svg" ]; then
                echo "- \`freeorder_rss.svg\` (data: \`freeorder_rss.csv\`): resident size over time (MB against ms since the start) in the freeorder benchmark, one line per allocator, from each allocator's median run by \`$RSS_METRIC\`: $picks."
            else
                echo "- \`freeorder_rss.csv\`: resident size over time in the freeorder benchmark, each allocator's median run by \`$RSS_METRIC\` ($picks); no chart was drawn."
            fi
        fi
    fi
    if [ $INTERRUPTED = 1 ]; then
        echo
        echo "**Interrupted**: only $DONE of $TOTAL runs were made."
    fi
    if [ $WARNS -gt 0 ]; then
        echo
        echo "$WARNS successful run(s) printed warnings, see logs/stderr.log (first lines):"
        echo
        { grep -v '^== ' "$OUT/logs/stderr.log" | head -n 10 | sed 's/^/- /'; } || true
    fi
    if [ $FAILS -gt 0 ]; then
        echo
        echo "**$FAILS run(s) failed** (FAIL cells); see logs/failures.log:"
        echo
        awk -F, 'NR > 1 && $4 != "ok" { print "- run " $1 ": " $2 " with " $3 ": " $4 " (exit " $5 ")" }' "$OUT/runs.csv"
    fi
} >"$OUT/summary.md"
rm -f "$OUT/header.md" "$OUT/tables.md"

find "$OUT/logs" -type f -empty -delete 2>/dev/null || true
cat "$OUT/summary.md"
echo
charts=""
[ -f "$OUT/chart.svg" ] && charts+=", chart.svg"
[ -f "$OUT/freeorder_rss.svg" ] && charts+=", freeorder_rss.svg"
note "done in $(elapsed): $OUT/summary.md$charts, raw.csv"
[ $INTERRUPTED = 0 ] || exit 130
if [ $FAILS != 0 ]; then
    note "$FAILS run(s) failed, see $OUT/logs/failures.log"
    exit 1
fi
