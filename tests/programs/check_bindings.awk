# Reads one process's LD_DEBUG=bindings log. A malloc-family symbol may bind
# to libxalloc, or to an object (a non-PIE executable's canonical PLT entry)
# that itself binds that symbol to libxalloc; any other binding (to libc's
# allocator) is printed as bad and makes the exit status 1. On success it
# prints the number of references to malloc that reach libxalloc.
function field(s, re_before, re_after) { sub(re_before, "", s); sub(re_after, "", s); return s }
/binding file .* to .*: normal symbol `/ {
    s = $0
    sym = field(s, "^.*normal symbol `", "'.*$")
    if (sym !~ /^(malloc|calloc|realloc|free|cfree|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|reallocarray|malloc_usable_size)$/)
        next
    from = field(s, "^.*binding file ", " \\[[0-9]+\\] to .*$")
    to = field(s, "^.* \\[[0-9]+\\] to ", " \\[[0-9]+\\]: normal symbol .*$")
    n++
    line[n] = $0; lsym[n] = sym; lto[n] = to
    if (to ~ /libxalloc[^\/]*$/)
        direct[from SUBSEP sym] = 1
}
END {
    bad = 0; ok = 0
    for (i = 1; i <= n; i++) {
        if (lto[i] ~ /libxalloc[^\/]*$/ || ((lto[i] SUBSEP lsym[i]) in direct)) {
            if (lsym[i] == "malloc") ok++
        } else {
            print "bad binding: " line[i]
            bad = 1
        }
    }
    if (!bad) print ok
    exit bad
}
