/* A shared library whose constructor, before any allocation in the process
 * has reached xalloc, asks xalloc_owns() about pointers xalloc never handed
 * out and calls the functions that must accept NULL. Under LD_PRELOAD this
 * constructor runs before libxalloc's own (it is initialised last), so
 * these are the first calls into xalloc. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>

int xalloc_owns(const void *ptr) __attribute__((weak));

int owns_probe_ran;
int owns_probe_errors;
static char static_area[64];

__attribute__((constructor)) static void owns_probe(void) {
    char local[16] = { 0 };
    owns_probe_ran = 1;
    if (xalloc_owns == NULL) return;          /* not preloaded: main reports it */
    if (xalloc_owns(local) != 0) owns_probe_errors |= 1;
    if (xalloc_owns(static_area) != 0) owns_probe_errors |= 2;
    if (xalloc_owns(NULL) != 0) owns_probe_errors |= 4;
    if (malloc_usable_size(NULL) != 0) owns_probe_errors |= 8;
    free(NULL);
    void *p = malloc(10);                     /* and then allocation works */
    if (p == NULL || !xalloc_owns(p)) owns_probe_errors |= 16;
    free(p);
}
