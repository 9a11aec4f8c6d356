/* Shared by the programs run under LD_PRELOAD=libxalloc.so: they are not
 * linked against xalloc, so xalloc_owns() is a weak reference that the
 * dynamic linker fills in only when the library really is preloaded. */
#ifndef HARDENING_PRELOAD_CHECK_H
#define HARDENING_PRELOAD_CHECK_H

#include <stdio.h>
#include <stdlib.h>

int xalloc_owns(const void *ptr) __attribute__((weak));

/* Nonzero when p is a block of the preloaded xalloc. */
static inline int owned(const void *p) {
    return xalloc_owns != NULL && p != NULL && xalloc_owns(p);
}

static inline void require_preloaded(const char *prog) {
    if (xalloc_owns == NULL) {
        fprintf(stderr, "%s: xalloc_owns is not defined: run with LD_PRELOAD=libxalloc.so\n", prog);
        exit(2);
    }
}

#endif
