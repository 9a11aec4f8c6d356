/* Linked against libxalloc (shared or static) with no xalloc_ calls for the
 * allocation itself: plain malloc & co. must resolve to xalloc, which
 * xalloc_owns() confirms for every result. Also checks that allocations made
 * inside libc (strdup) come from xalloc, so that free() on them is safe.
 * Exits non-zero, naming each failed call, when anything went elsewhere. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static int failures;

static void expect_owned(const char *what, void *p) {
    if (!p) {
        fprintf(stderr, "FAIL: %s returned NULL\n", what);
        failures++;
    } else if (!xalloc_owns(p)) {
        fprintf(stderr, "FAIL: %s = %p did not come from xalloc\n", what, p);
        failures++;
    }
}

/* Keep the compiler from pairing up or eliding malloc/free calls. */
static void *volatile sink;

int main(void) {
    void *p = malloc(24);
    expect_owned("malloc(24)", p);
    sink = p;
    memset(p, 0x5a, 24);

    void *big = malloc(10u << 20);
    expect_owned("malloc(10 MiB)", big);
    sink = big;

    void *c = calloc(10, 10);
    expect_owned("calloc(10, 10)", c);
    sink = c;
    for (int i = 0; c && i < 100; i++)
        if (((unsigned char *)c)[i]) {
            fprintf(stderr, "FAIL: calloc memory not zeroed\n");
            failures++;
            break;
        }

    p = realloc(p, 5000);
    expect_owned("realloc(p, 5000)", p);
    sink = p;
    if (p && ((unsigned char *)p)[23] != 0x5a) {
        fprintf(stderr, "FAIL: realloc lost contents\n");
        failures++;
    }

    void *r = realloc(NULL, 100);
    expect_owned("realloc(NULL, 100)", r);

    void *a = NULL;
    int e = posix_memalign(&a, 4096, 100);
    if (e) {
        fprintf(stderr, "FAIL: posix_memalign returned %d\n", e);
        failures++;
    } else {
        expect_owned("posix_memalign(4096, 100)", a);
        if ((uintptr_t)a & 4095) {
            fprintf(stderr, "FAIL: posix_memalign result %p not aligned\n", a);
            failures++;
        }
    }

    void *al = aligned_alloc(64, 128);
    expect_owned("aligned_alloc(64, 128)", al);
    void *m = memalign(256, 10);
    expect_owned("memalign(256, 10)", m);
    void *v = valloc(10);
    expect_owned("valloc(10)", v);
    if (p && malloc_usable_size(p) < 5000) {
        fprintf(stderr, "FAIL: malloc_usable_size(p) = %zu < 5000\n", malloc_usable_size(p));
        failures++;
    }

    /* Memory allocated inside libc must be xalloc's too, or free() below
     * would be handed a foreign pointer. */
    char *s = strdup("interposed");
    expect_owned("strdup (allocation inside libc)", s);

    free(s);
    free(v);
    free(m);
    free(al);
    free(a);
    free(r);
    free(c);
    free(big);
    free(p);
    free(NULL);

    if (failures) {
        fprintf(stderr, "%d allocation(s) did not go to xalloc\n", failures);
        return 1;
    }
    printf("all allocations served by xalloc\n");
    return 0;
}
