# Shell functions shared by bench/run.sh and bench/fastpath_instructions.sh,
# so both find, select and build the allocators the same way. Sourced (from
# bash), not run. The caller defines die MESSAGE and note MESSAGE, runs in
# the repository root, and defines peer_missing NAME EXPLICIT (what to say
# when a peer allocator is not installed; EXPLICIT is 1 when --alloc named it).

ALL_ALLOCS=(xalloc glibc jemalloc tcmalloc mimalloc)

# Library path of each selected allocator ("" for glibc: no preload), and
# the Debian package of each peer.
declare -A LIBPATH PKG
PKG[jemalloc]=libjemalloc2
PKG[tcmalloc]=libtcmalloc-minimal4
PKG[mimalloc]=libmimalloc2.0
ALLOCS=()

MULTIARCH=$( (gcc -print-multiarch || dpkg-architecture -qDEB_HOST_MULTIARCH) 2>/dev/null || true)

# find_lib GLOB... -> path of the first library found
find_lib() {
    local d n f
    for n in "$@"; do
        for d in ${MULTIARCH:+/usr/lib/$MULTIARCH} /usr/lib64 /usr/lib /usr/local/lib; do
            for f in "$d"/$n; do
                [ -f "$f" ] && { echo "$f"; return 0; }
            done
        done
        f=$( (ldconfig -p 2>/dev/null || true) | awk -v n="$n" '$1 == n { print $NF; exit }')
        [ -n "$f" ] && [ -f "$f" ] && { echo "$f"; return 0; }
    done
    return 1
}

peer_lib() {
    case "$1" in
        jemalloc) find_lib 'libjemalloc.so.2' 'libjemalloc.so' ;;
        tcmalloc) find_lib 'libtcmalloc_minimal.so.4' 'libtcmalloc_minimal.so' 'libtcmalloc.so.4' ;;
        mimalloc) find_lib 'libmimalloc.so.2' 'libmimalloc.so.2.*' 'libmimalloc.so' ;;
        *) return 1 ;;
    esac
}

# select_allocs LIST: ALLOCS and LIBPATH from the comma separated LIST
# (every allocator found when LIST is empty).
select_allocs() {
    local a p explicit req
    if [ -n "$1" ]; then
        IFS=, read -r -a req <<< "$1"
        explicit=1
    else
        req=("${ALL_ALLOCS[@]}")
        explicit=0
    fi
    for a in "${req[@]}"; do
        case "$a" in
            xalloc|glibc) ALLOCS+=("$a") ;;
            jemalloc|tcmalloc|mimalloc)
                if p=$(peer_lib "$a"); then
                    LIBPATH[$a]=$p
                    ALLOCS+=("$a")
                else
                    peer_missing "$a" $explicit
                fi ;;
            *) die "unknown allocator '$a' (have: ${ALL_ALLOCS[*]})" ;;
        esac
    done
    [ ${#ALLOCS[@]} -gt 0 ] || die "no allocator selected"
    LIBPATH[glibc]=""
}

has_alloc() { local x; for x in "${ALLOCS[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }

# xalloc_lib LIB LOG [keep]: LIBPATH[xalloc] from --lib LIB, or else from a
# Release build in build-bench/, its output in LOG ("keep": LOG outlives the
# run, so the messages point at it).
xalloc_lib() {
    local lib=$1 log=$2 shown=""
    [ "${3:-}" = keep ] && shown=$log
    if [ -n "$lib" ]; then
        [ -f "$lib" ] || die "--lib $lib: no such file"
    else
        note "building xalloc (Release) in build-bench/${shown:+, log: $shown}"
        if ! { cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DXALLOC_BUILD_TESTS=OFF \
               && cmake --build build-bench -j2; } >"$log" 2>&1; then
            tail -n 20 "$log" >&2
            die "building xalloc failed${shown:+ (see $shown)}; use --lib PATH, or --alloc without xalloc"
        fi
        lib=build-bench/libxalloc.so
        [ -f "$lib" ] || die "the build did not produce $lib"
    fi
    LIBPATH[xalloc]=$(readlink -f "$lib")
}

glibc_version() { ldd --version 2>/dev/null | head -n1 | awk '{ print $NF }'; }
