/* Run under LD_PRELOAD=libxalloc.so with the path of dlopen_lib as argv[1].
 * Blocks cross the boundary both ways: the library allocates and the
 * program frees, the program allocates and the library frees or reallocs;
 * a block the library made outlives dlclose; threads use the library's
 * dynamic TLS (malloc'ed by glibc) and exit before or after dlclose. The
 * load/unload cycle repeats. Every block must be xalloc's. */
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

static const char *lib_path;

typedef struct lib {
    void *handle;
    void *(*malloc_)(size_t);
    void (*free_)(void *);
    void *(*realloc_)(void *, size_t);
    char *(*strdup_)(const char *);
    void *(*held)(void);
    int (*tls_touch)(void);
} lib;

static void lib_open(lib *l) {
    l->handle = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
    if (l->handle == NULL) fail_msg("dlopen(%s): %s", lib_path, dlerror());
    l->malloc_ = (void *(*)(size_t))dlsym(l->handle, "lib_malloc");
    l->free_ = (void (*)(void *))dlsym(l->handle, "lib_free");
    l->realloc_ = (void *(*)(void *, size_t))dlsym(l->handle, "lib_realloc");
    l->strdup_ = (char *(*)(const char *))dlsym(l->handle, "lib_strdup");
    l->held = (void *(*)(void))dlsym(l->handle, "lib_held");
    l->tls_touch = (int (*)(void))dlsym(l->handle, "lib_tls_touch");
    assert_true(l->malloc_ && l->free_ && l->realloc_ && l->strdup_ && l->held && l->tls_touch);
}

static void *tls_user(void *arg) {
    lib *l = arg;
    intptr_t bad = 0;
    for (int i = 1; i <= 100; i++)
        if (l->tls_touch() != i) bad++;
    void *p = l->malloc_(777);
    if (!owned(p)) bad++;
    free(p);
    return (void *)bad;
}

static void test_blocks_cross_the_boundary(void **state) {
    lib l;
    lib_open(&l);
    assert_true(owned(l.held()));

    /* library allocates, program frees */
    static const size_t sizes[] = { 1, 48, 1000, 14000, 40000, 700000, 3u << 20, 9u << 20 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = l.malloc_(sizes[i]);
        if (!owned(p)) fail_msg("lib_malloc(%zu) = %p is not xalloc's", sizes[i], (void *)p);
        assert_int_equal(p[sizes[i] - 1], 0x6c);
        free(p);
    }
    char *s = l.strdup_("from the library");
    assert_true(owned(s));
    assert_string_equal(s, "from the library");
    free(s);

    /* program allocates, library frees or reallocs */
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = malloc(sizes[i]);
        assert_true(owned(p));
        memset(p, 0x70, sizes[i]);
        if (i % 2) {
            p = l.realloc_(p, sizes[i] * 2 + 10);
            assert_true(owned(p));
            assert_int_equal(p[sizes[i] - 1], 0x70);
        }
        l.free_(p);
    }

    /* a block of the library outlives it */
    unsigned char *survivor = l.malloc_(5000);
    assert_true(owned(survivor));
    /* threads touch the library's dynamic TLS; some exit before dlclose */
    pthread_t t[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, tls_user, &l), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_int_equal((intptr_t)r, 0);
    }
    assert_int_equal(l.tls_touch(), 1);   /* main's TLS block too */
    assert_int_equal(dlclose(l.handle), 0);
    for (int i = 0; i < 5000; i++) assert_int_equal(survivor[i], 0x6c);
    assert_true(owned(survivor));
    free(survivor);
}

static void test_open_close_cycles(void **state) {
    for (int round = 0; round < 30; round++) {
        lib l;
        lib_open(&l);
        void *kept = l.malloc_(100 + (size_t)round);
        void *mine = malloc(200);
        l.free_(mine);
        assert_int_equal(l.tls_touch(), 1);
        assert_int_equal(dlclose(l.handle), 0);
        assert_true(owned(kept));
        free(kept);
    }
}

int main(int argc, char **argv) {
    require_preloaded("dlopen_main");
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH_OF_DLOPEN_LIB\n", argv[0]);
        return 2;
    }
    lib_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_cross_the_boundary),
        cmocka_unit_test(test_open_close_cycles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
