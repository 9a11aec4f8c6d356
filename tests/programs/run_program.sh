#!/usr/bin/env bash
# Whole-program LD_PRELOAD test of libxalloc.
#
#   usage: run_program.sh NAME LIBXALLOC
#   NAME: python | git | gcc | perl | sqlite3 | sort | xz | memcached
#
# Runs NAME's workload twice in the same scratch path, first with the system
# malloc, then with LD_PRELOAD=LIBXALLOC, and requires both runs to succeed
# with identical stdout and stderr. Then runs the program (or, for memcached,
# the preloaded server itself) under LD_DEBUG=bindings and requires that in
# every process malloc binds to libxalloc and that no malloc-family symbol
# binds to libc.
#
# XALLOC_PROG_KEEP=1 keeps the scratch directory (inputs, outputs, logs).
#
# Exit status: 0 pass, 1 fail, 77 skip (the program is not installed; the
# Debian packages are listed in packages.txt beside this script).
set -euo pipefail

name=${1:-}
lib=${2:-}
if [ -z "$name" ] || [ -z "$lib" ]; then
    echo "usage: $0 NAME LIBXALLOC" >&2
    exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say()  { echo "[$name] $*"; }
fail() { echo "[$name] FAIL: $*" >&2; exit 1; }
skip() { echo "[$name] SKIP: $*"; exit 77; }

[ -f "$lib" ] || fail "library not found: $lib"
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")

need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip "'$c' is not installed (see $here/packages.txt)"
    done
}
for tool in awk sha256sum timeout diff mktemp env; do
    command -v "$tool" >/dev/null 2>&1 || fail "required tool '$tool' is missing"
done

# A clean, deterministic environment for both runs.
unset LD_PRELOAD LD_DEBUG LD_DEBUG_OUTPUT LD_LIBRARY_PATH PYTHONPATH PYTHONHOME \
      PYTHONMALLOC PERL5LIB PERL5OPT GIT_DIR GIT_WORK_TREE MALLOC_CONF
export LC_ALL=C TZ=UTC

tmp=$(mktemp -d "${TMPDIR:-/tmp}/xalloc-prog-$name.XXXXXX")
# XALLOC_PROG_KEEP=1 keeps the scratch directory for a look afterwards.
cleanup() {
    if [ -n "${XALLOC_PROG_KEEP:-}" ]; then echo "[$name] kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
in=$tmp/in          # inputs, generated once, shared by both runs
work=$tmp/work      # the workload's scratch directory (the same path for both runs)
mkdir -p "$in" "$tmp/ld"
MODE=plain

# P LIMIT CMD...: run CMD with a time limit, preloading libxalloc in the
# xalloc run. Says which command failed, and how, before returning its status.
P() {
    local limit=$1 rc=0
    shift
    if [ "$MODE" = xalloc ]; then
        timeout -k 5 "$limit" env LD_PRELOAD="$lib" "$@" || rc=$?
    else
        timeout -k 5 "$limit" "$@" || rc=$?
    fi
    [ $rc -eq 0 ] || report_rc "$rc" "$limit" "$@"
    return $rc
}

report_rc() {
    local rc=$1 limit=$2 how
    shift 2
    case $rc in
        124) how="timed out after ${limit}s" ;;
        134) how="aborted (SIGABRT)" ;;
        135) how="killed by SIGBUS" ;;
        137) how="killed (SIGKILL, after the time limit or out of memory)" ;;
        139) how="crashed (SIGSEGV)" ;;
        *)   how="exited with status $rc" ;;
    esac
    echo "[$name/$MODE] command $how: $*" >&2
}

# B LIMIT CMD...: run CMD preloaded and under LD_DEBUG=bindings; the log
# of each process goes to $tmp/ld/bind.PID, its output is dropped.
B() {
    local limit=$1 rc=0
    shift
    MODE=bindings
    timeout -k 5 "$limit" env LD_PRELOAD="$lib" LD_DEBUG=bindings \
        LD_DEBUG_OUTPUT="$tmp/ld/bind" "$@" > /dev/null || rc=$?
    [ $rc -eq 0 ] || { report_rc "$rc" "$limit" "$@"; fail "the LD_DEBUG=bindings run failed"; }
}

# Every process logged must bind malloc to libxalloc, and none may bind a
# malloc-family symbol to libc's allocator (check_bindings.awk; a binding to
# a non-PIE executable's PLT entry that itself binds to libxalloc is fine).
check_bindings() {
    local f nproc=0 res
    shopt -s nullglob
    local files=("$tmp"/ld/bind.*)
    shopt -u nullglob
    [ ${#files[@]} -gt 0 ] || fail "LD_DEBUG=bindings wrote no log (LD_DEBUG_OUTPUT=$tmp/ld/bind)"
    for f in "${files[@]}"; do
        nproc=$((nproc + 1))
        if ! res=$(awk -f "$here/check_bindings.awk" "$f"); then
            echo "$res" | head -n 20 >&2
            fail "process log $(basename "$f"): a malloc-family symbol binds to something other than libxalloc (above)"
        fi
        if [ "$res" -eq 0 ]; then
            echo "--- bindings in $(basename "$f") that mention malloc:" >&2
            grep "malloc" "$f" | head -n 20 >&2 || true
            fail "process log $(basename "$f"): no reference to malloc binds to libxalloc"
        fi
    done
    say "bindings: malloc binds to libxalloc in all $nproc processes run under LD_DEBUG"
}

# ---------------------------------------------------------------- python
prep_python() { need /usr/bin/python3; }
wl_python() {
    # pymalloc for small objects, then every object through malloc.
    P 60 env PYTHONHASHSEED=0 /usr/bin/python3 -s "$here/py_threads.py" 100000
    P 60 env PYTHONHASHSEED=0 PYTHONMALLOC=malloc /usr/bin/python3 -s "$here/py_threads.py" 60000
}
bind_python() {
    B 30 env PYTHONMALLOC=malloc /usr/bin/python3 -s -c \
        'import threading; t = [threading.Thread(target=lambda: [str(i) * 9 for i in range(9999)]) for _ in range(4)]; [x.start() for x in t]; [x.join() for x in t]'
}

# ---------------------------------------------------------------- git
prep_git() {
    need git
    awk -v commits=400 -f "$here/gen_git.awk" > "$in/stream"
}
git_env() {
    export HOME=$work GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
    export GIT_AUTHOR_NAME="A U Thor" GIT_AUTHOR_EMAIL=author@example.com
    export GIT_COMMITTER_NAME="C O Mitter" GIT_COMMITTER_EMAIL=committer@example.com
}
wl_git() {
    git_env
    P 30 git init -q -b main repo
    cd repo
    P 30 git config gc.auto 0
    P 30 git config pack.threads 4
    P 60 git fast-import --quiet < "$in/stream"
    P 30 git reset -q --hard
    # Porcelain commits on a topic branch and on main, then a merge and a tag.
    local i branch=topic
    P 30 git checkout -q -b topic
    for i in $(seq 1 16); do
        if [ "$i" -eq 9 ]; then branch=main; P 30 git checkout -q main; fi
        printf 'porcelain change %d\n' "$i" >> "dir$((i % 5))/extra-$branch$((i % 3)).txt"
        [ $((i % 4)) -ne 0 ] || P 30 git rm -q --ignore-unmatch "dir$((i * 7 % 5))/file$((i * 7 % 40)).txt"
        export GIT_AUTHOR_DATE="@$((1700000000 + i * 60)) +0000" GIT_COMMITTER_DATE="@$((1700000000 + i * 60 + 5)) +0000"
        P 30 git add -A
        P 30 git commit -q -m "porcelain commit $i"
    done
    P 30 git merge -q --no-ff -m "merge topic" topic
    P 30 git tag -a v1 -m "release v1"
    P 120 git gc -q
    P 30 git count-objects -v | grep -E '^(count|in-pack|packs):'
    P 30 git rev-parse HEAD topic v1 'HEAD^{tree}'
    P 60 git log -p --stat --all | sha256sum
    P 30 git log --graph --oneline -25
    P 60 git fsck --full --strict
    P 30 git blame -s dir0/file0.txt | sha256sum
    P 30 git diff --stat HEAD~200 HEAD | tail -1
    P 30 git grep -c "revision 3" HEAD -- dir1 | sha256sum
}
bind_git() {
    # gc spawns repack and a multithreaded pack-objects: all must bind.
    git_env
    B 120 git -C "$work/repo" gc -q
}

# ---------------------------------------------------------------- gcc / g++
prep_gcc() {
    need gcc g++
    awk -v funcs=150 -f "$here/gen_c.awk" > "$in/big.c"
    awk -v types=10 -f "$here/gen_cxx.awk" > "$in/big.cc"
    printf 'int f(int x) { return x * 3; }\n' > "$in/small.c"
    printf '#include <map>\n#include <string>\nint g() { std::map<std::string, int> m; m["a"] = 1; return m.size(); }\n' > "$in/small.cc"
}
wl_gcc() {
    local flags="-O2 -Wall -frandom-seed=xalloc"
    # shellcheck disable=SC2086
    P 120 gcc $flags -c "$in/big.c" -o big_c.o
    P 60 gcc big_c.o -o big_c
    # shellcheck disable=SC2086
    P 120 g++ $flags -c "$in/big.cc" -o big_cxx.o
    P 60 g++ big_cxx.o -o big_cxx
    # The compiled programs run without the preload: what matters is that the
    # compilers produced the same code.
    MODE=plain P 30 ./big_c
    MODE=plain P 30 ./big_cxx
    sha256sum big_c.o big_cxx.o
}
bind_gcc() {
    B 60 gcc -O2 -c "$in/small.c" -o small_c.o
    B 60 g++ -O2 -c "$in/small.cc" -o small_cxx.o
}

# ---------------------------------------------------------------- perl
prep_perl() { need perl; }
wl_perl() { P 60 perl "$here/perl_work.pl" 150000; }
# shellcheck disable=SC2016
bind_perl() { B 30 perl -e 'my %h; $h{$_} = "x" x ($_ % 50) for 1 .. 20000; print scalar(keys %h), "\n"'; }

# ---------------------------------------------------------------- sqlite3
prep_sqlite3() {
    need sqlite3
    awk -v rows=100000 -f "$here/gen_sql.awk" > "$in/script.sql"
}
wl_sqlite3() { P 60 sqlite3 -bail -batch test.db < "$in/script.sql"; }
bind_sqlite3() { B 30 sqlite3 -bail :memory: 'CREATE TABLE t(x); INSERT INTO t VALUES(1); SELECT count(*) FROM t;'; }

# ---------------------------------------------------------------- sort
prep_sort() {
    need sort
    awk -v n=1200000 -v seed=1 -f "$here/gen_lines.awk" > "$in/lines.txt"
}
wl_sort() {
    wc -l < "$in/lines.txt"
    # In memory, then with a small buffer so it spills to temporary files and merges.
    P 60 sort -S 100M --parallel=2 "$in/lines.txt" | sha256sum
    P 60 sort -S 16M --parallel=2 -T "$work" -t ' ' -k2,2n -k3 "$in/lines.txt" -o by_number.txt
    sha256sum < by_number.txt
    P 60 sort -S 100M --parallel=2 -u -k3,3 "$in/lines.txt" | sha256sum
}
bind_sort() { head -n 20000 "$in/lines.txt" > "$in/small.txt"; B 30 sort -S 10M --parallel=2 -o /dev/null "$in/small.txt"; }

# ---------------------------------------------------------------- xz
prep_xz() {
    need xz
    awk -v n=250000 -v seed=7 -f "$here/gen_lines.awk" > "$in/data"
    sha256sum < "$in/data" > "$in/data.sha256"
}
wl_xz() {
    P 60 xz -T2 -2 --block-size=1MiB -c "$in/data" > data.xz
    echo "compressed: $(sha256sum < data.xz)"
    P 60 xz -T2 -t data.xz
    P 60 xz -l --robot data.xz | grep -E '^(totals|file)' | cut -f1-6
    P 60 xz -T2 -dc data.xz | sha256sum > roundtrip.sha256
    cmp -s roundtrip.sha256 "$in/data.sha256" || { echo "xz round trip changed the data" >&2; return 1; }
    echo "round trip: $(cat roundtrip.sha256)"
}
bind_xz() { head -c 3000000 "$in/data" > "$in/small"; B 30 xz -T2 --block-size=1MiB -c "$in/small" > /dev/null; }

# ---------------------------------------------------------------- memcached
prep_memcached() { need memcached /usr/bin/python3; }
mc_pid=""
wl_memcached() {
    local client=(/usr/bin/python3 -s "$here/memcached_load.py")
    local user=() pre=() port="" attempt rc=0 src=0
    [ "$(id -u)" -eq 0 ] && user=(-u root)
    # The xalloc run logs its bindings: the server itself is what is checked.
    [ "$MODE" = xalloc ] && pre=(env LD_PRELOAD="$lib" LD_DEBUG=bindings LD_DEBUG_OUTPUT="$tmp/ld/bind")
    trap '[ -z "$mc_pid" ] || kill "$mc_pid" 2>/dev/null; wait 2>/dev/null' EXIT
    for attempt in 1 2 3 4 5; do
        port=$(timeout 10 "${client[@]}" --free-port)
        # Only 127.0.0.1, no UDP, 4 worker threads, enough memory for no
        # evictions. timeout is the direct child, so killing it stops the server.
        timeout -k 5 120 "${pre[@]}" memcached "${user[@]}" -l 127.0.0.1 -p "$port" -U 0 -t 4 \
            -m 256 -c 64 > "memcached.$attempt.log" 2>&1 &
        mc_pid=$!
        if timeout 15 "${client[@]}" --wait "$port" 10 && kill -0 "$mc_pid" 2>/dev/null; then
            break
        fi
        echo "memcached did not come up on 127.0.0.1:$port (attempt $attempt):" >&2
        cat "memcached.$attempt.log" >&2
        kill "$mc_pid" 2>/dev/null || true
        wait "$mc_pid" 2>/dev/null || true
        mc_pid=""
    done
    [ -n "$mc_pid" ] || { echo "could not start memcached" >&2; return 1; }
    # The load generator is never preloaded: only the server is under test.
    timeout 90 "${client[@]}" "$port" 4 20000 60 || rc=$?
    if ! kill -0 "$mc_pid" 2>/dev/null; then
        echo "memcached died during the load:" >&2
        cat "memcached.$attempt.log" >&2
    fi
    kill -TERM "$mc_pid" 2>/dev/null || true
    wait "$mc_pid" || src=$?
    mc_pid=""
    case $src in
        0|143) ;;
        *) report_rc "$src" 120 memcached
           cat "memcached.$attempt.log" >&2
           echo "memcached exited with status $src after SIGTERM" >&2
           return 1 ;;
    esac
    [ $rc -eq 0 ] || { echo "the memcached load generator failed (status $rc)" >&2; return 1; }
}
bind_memcached() { :; }

# ---------------------------------------------------------------- driver
declare -F "wl_$name" >/dev/null || fail "unknown program '$name'"
"prep_$name"

for MODE in plain xalloc; do
    rm -rf "$work"
    mkdir -p "$work"
    start=$(date +%s.%N)
    rc=0
    set +e
    (
        set -e
        cd "$work"
        "wl_$name"
    ) > "$tmp/$MODE.out" 2> "$tmp/$MODE.err"
    rc=$?
    set -e
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [ $rc -ne 0 ]; then
        echo "--- stderr of the $MODE run (last 40 lines):" >&2
        tail -n 40 "$tmp/$MODE.err" >&2
        echo "--- stdout of the $MODE run (last 10 lines):" >&2
        tail -n 10 "$tmp/$MODE.out" >&2
        if [ $MODE = plain ]; then
            fail "the workload failed without xalloc (status $rc): the test or the system is broken, not xalloc"
        fi
        fail "the workload failed with LD_PRELOAD=$lib (status $rc); it passed without it"
    fi
    [ -s "$tmp/$MODE.out" ] || fail "the $MODE run printed nothing: the workload checks nothing"
    say "$MODE run: ok in ${secs}s, $(wc -l < "$tmp/$MODE.out") lines of output"
done

for stream in out err; do
    if ! cmp -s "$tmp/plain.$stream" "$tmp/xalloc.$stream"; then
        echo "--- diff of std$stream, without (-) and with (+) xalloc:" >&2
        diff -u "$tmp/plain.$stream" "$tmp/xalloc.$stream" | head -n 60 >&2 || true
        fail "std$stream differs between the runs without and with LD_PRELOAD=$lib"
    fi
done
say "outputs identical without and with xalloc"

MODE=bindings
( cd "$work" && "bind_$name" )
check_bindings
say "PASS"
