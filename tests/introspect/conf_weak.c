/* The weak xalloc_conf global: a program's compiled-in defaults, applied
 * before XALLOC_CONF, which wins key by key.
 *   conf_weak NARENAS CACHED40K
 * checks arenas.narenas == NARENAS and whether a freed 40 KiB block stays
 * in the thread cache (tcache_max:32k below: 0; 64k or the default 512 KiB: 1).
 * Built against the shared library, the static archive and the core. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xalloc.h"

const char *xalloc_conf = "narenas:3,tcache_max:32k";

static size_t allocated(void) {
    uint64_t e = 1;
    size_t len = sizeof e, v = 0;
    if (xallctl("epoch", &e, &len, &e, sizeof e) != 0)
        return (size_t)-1;
    len = sizeof v;
    if (xallctl("stats.allocated", &v, &len, NULL, 0) != 0)
        return (size_t)-1;
    return v;
}

static int flush(void) {
    return xallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s NARENAS CACHED40K\n", argv[0]);
        return 2;
    }
    unsigned want = (unsigned)atoi(argv[1]);
    int want_cached = atoi(argv[2]);
    unsigned n = 0;
    size_t len = sizeof n;
    if (xallctl("arenas.narenas", &n, &len, NULL, 0) != 0 || n != want) {
        fprintf(stderr, "FAIL: arenas.narenas %u, expected %u (XALLOC_CONF=%s)\n", n, want,
                getenv("XALLOC_CONF") ? getenv("XALLOC_CONF") : "(unset)");
        return 1;
    }
    /* No stdio between the measurements: it may allocate. */
    void *w = xalloc_malloc(40 << 10);
    xalloc_free(w);
    flush();
    size_t a0 = allocated();
    void *p = xalloc_malloc(40 << 10);
    memset(p, 1, 40 << 10);
    size_t a1 = allocated();
    xalloc_free(p);
    size_t a2 = allocated();
    flush();
    size_t a3 = allocated();
    int cached = a2 == a1 && a3 == a0;
    int uncached = a2 == a0;
    if (a1 < a0 + (40 << 10) || (want_cached ? !cached : !uncached)) {
        fprintf(stderr, "FAIL: 40 KiB block: allocated %zu, %zu after malloc, %zu after free, "
                        "%zu after flush; expected it %s\n",
                a0, a1, a2, a3, want_cached ? "cached (tcache_max:64k from XALLOC_CONF)"
                                            : "not cached (tcache_max:32k from xalloc_conf)");
        return 1;
    }
    return 0;
}
