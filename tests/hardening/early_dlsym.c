/* Run under LD_PRELOAD=libxalloc.so. The first thing main does is
 * dlsym(RTLD_NEXT, "malloc") (and the other allocation functions): dlsym
 * may allocate itself, before the program ever called malloc. The functions
 * found must be xalloc's (the preloaded library comes right after the
 * program in the lookup order), and blocks from them must mix freely with
 * plain malloc/free. Then dlsym and dlerror, which allocate and free their
 * error strings inside libc, are hammered from several threads at once. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "preload_check.h"

typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef int (*posix_memalign_fn)(void **, size_t, size_t);

static malloc_fn next_malloc;
static free_fn next_free;
static calloc_fn next_calloc;
static realloc_fn next_realloc;
static posix_memalign_fn next_posix_memalign;
static malloc_fn default_malloc;

static void test_next_functions_are_xalloc(void **state) {
    assert_non_null(next_malloc);
    assert_non_null(next_free);
    assert_non_null(next_calloc);
    assert_non_null(next_realloc);
    assert_non_null(next_posix_memalign);
    assert_ptr_equal(next_malloc, default_malloc);

    void *a = next_malloc(100);
    if (!owned(a)) fail_msg("dlsym(RTLD_NEXT, \"malloc\") gave a malloc whose block %p is not xalloc's", a);
    unsigned char *c = next_calloc(100, 100);
    assert_true(owned(c));
    for (int i = 0; i < 10000; i++) assert_int_equal(c[i], 0);
    c = next_realloc(c, 1u << 20);
    assert_true(owned(c));
    void *al = NULL;
    assert_int_equal(next_posix_memalign(&al, 65536, 1000), 0);
    assert_true(owned(al));
    assert_int_equal((uintptr_t)al & 65535, 0);
    /* Cross: blocks from the dlsym'ed functions freed with plain free and
     * the other way round. */
    free(a);
    free(c);
    next_free(al);
    void *p = malloc(5000);
    assert_true(owned(p));
    next_free(p);
}

#define NDL 4
#define ROUNDS 2000

static void *dl_hammer(void *arg) {
    intptr_t bad = 0;
    for (int i = 0; i < ROUNDS; i++) {
        /* A failing lookup makes libc malloc an error string ... */
        if (dlsym(RTLD_NEXT, "xalloc_no_such_symbol") != NULL) bad++;
        char *msg = dlerror();   /* ... which the next dl call frees */
        if (msg == NULL) bad++;
        malloc_fn m = (malloc_fn)dlsym(RTLD_NEXT, "malloc");
        void *p = m ? m(24 + (size_t)i % 512) : NULL;
        if (!owned(p)) bad++;
        free(p);
    }
    return (void *)bad;
}

static void test_dlsym_dlerror_threads(void **state) {
    pthread_t t[NDL];
    for (int i = 0; i < NDL; i++) assert_int_equal(pthread_create(&t[i], NULL, dl_hammer, NULL), 0);
    intptr_t bad = 0;
    for (int i = 0; i < NDL; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (intptr_t)r;
    }
    assert_int_equal(bad, 0);
}

int main(void) {
    /* Before any allocation in main. */
    next_malloc = (malloc_fn)dlsym(RTLD_NEXT, "malloc");
    next_free = (free_fn)dlsym(RTLD_NEXT, "free");
    next_calloc = (calloc_fn)dlsym(RTLD_NEXT, "calloc");
    next_realloc = (realloc_fn)dlsym(RTLD_NEXT, "realloc");
    next_posix_memalign = (posix_memalign_fn)dlsym(RTLD_NEXT, "posix_memalign");
    default_malloc = (malloc_fn)dlsym(RTLD_DEFAULT, "malloc");
    require_preloaded("early_dlsym");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_functions_are_xalloc),
        cmocka_unit_test(test_dlsym_dlerror_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
