/* Run under LD_PRELOAD=libxalloc.so, linked against a library whose
 * constructors allocate before main: every block they kept must be xalloc's
 * and intact, and freeing them here must work. A block handed to the
 * library is freed by its destructor after main returns. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "early_ctor_lib.h"
#include "preload_check.h"

static int main_ctor_ran;

/* The program's own constructor runs after the library's. */
__attribute__((constructor)) static void program_ctor(void) {
    char *p = malloc(4000);
    if (p) p[0] = 1;
    main_ctor_ran = p != NULL && owned(p);
    free(p);
}

static int all(const void *p, size_t n, unsigned char c) {
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i] != c) return 0;
    return 1;
}

static void test_constructor_blocks(void **state) {
    struct ctor_report *r = &ctor_report;
    assert_int_equal(r->ran, 2);
    assert_int_equal(r->errors, 0);
    assert_true(main_ctor_ran);
    void *blocks[] = { r->small, r->large, r->huge, r->zeroed, r->grown, r->aligned, r->dup };
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        if (!owned(blocks[i])) fail_msg("block %zu made by the constructor (%p) is not xalloc's", i, blocks[i]);
    }
    assert_true(all(r->small, 100, 0xa1));
    assert_true(all(r->large, 200 * 1024, 0xa2));
    assert_true(all(r->huge, 6u << 20, 0xa3));
    assert_string_equal(r->dup, "made before main");
    assert_memory_equal(r->grown, "constructor!", 13);
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) free(blocks[i]);
}

static void test_allocation_after(void **state) {
    for (int i = 0; i < 1000; i++) {
        void *p = malloc((size_t)i * 13 + 1);
        assert_true(owned(p));
        free(p);
    }
    ctor_handover = malloc(100);
    assert_true(owned(ctor_handover));
    memset(ctor_handover, 0x77, 100);
}

int main(void) {
    require_preloaded("early_ctor");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constructor_blocks),
        cmocka_unit_test(test_allocation_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
