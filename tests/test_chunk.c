/* Chunks and the chunk registry: alignment, header layout, registration
 * and unregistration, and no false positives for foreign memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "chunk.h"
#include "pages.h"
#include "init.h"

#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    return xa_init_slow() ? 0 : -1;    /* maps the registry */
}

static int static_object;

/* The header is exactly two pages: owner, reserved word, one map slot per
 * usable page; user data starts right after. */
static void test_layout(void **state)
{
    assert_int_equal(sizeof(xa_chunk), XA_HEADER_PAGES * XA_PAGE);
    assert_int_equal(XA_HEADER_PAGES, 2);
    assert_int_equal(offsetof(xa_chunk, map) + XA_USABLE_PAGES * sizeof(xa_run *),
                     XA_HEADER_PAGES * XA_PAGE);
    assert_int_equal(XA_CHUNK, (size_t)4 << 20);
    assert_int_equal(XA_USABLE_PAGES, 1024 - 2);
}

static void test_new_delete(void **state)
{
    struct xa_arena *owner = (struct xa_arena *)&static_object;   /* opaque here */
    enum { N = 4 };
    xa_chunk *ch[N];
    for (int i = 0; i < N; i++) {
        ch[i] = xa_chunk_new(owner, XA_THP_DEFAULT);
        assert_non_null(ch[i]);
        assert_int_equal((uintptr_t)ch[i] % XA_CHUNK, 0);
        assert_ptr_equal(xa_chunk_arena(ch[i]), owner);
        assert_true(xa_registry_has(ch[i]));
        /* The registry works per 4 MiB: any address inside answers. */
        assert_true(xa_registry_has((char *)ch[i] + XA_CHUNK - 1));
        assert_ptr_equal(xa_chunk_of((char *)ch[i] + 12345), ch[i]);
        assert_int_equal(xa_page_of((char *)ch[i] + XA_HEADER_PAGES * XA_PAGE), XA_HEADER_PAGES);
        assert_int_equal(xa_page_of((char *)ch[i] + XA_CHUNK - 1), XA_CHUNK_PAGES - 1);
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(ch[i], ch[j]);
    }
    /* The whole chunk is usable memory; page map setters hit the header. */
    char *data = (char *)ch[0] + XA_HEADER_PAGES * XA_PAGE;
    memset(data, 0xab, XA_USABLE_PAGES * XA_PAGE);
    static xa_run fake_run = { .kind = XA_RUN_SLAB, .sizeclass = 5 };
    xa_run *fake = &fake_run;
    xa_chunk_map_set(ch[0], XA_HEADER_PAGES, fake);
    xa_chunk_map_set(ch[0], XA_CHUNK_PAGES - 1, fake);
    assert_ptr_equal(xa_map_run(ch[0]->map[0]), fake);
    assert_ptr_equal(xa_map_run(ch[0]->map[XA_USABLE_PAGES - 1]), fake);
    assert_int_equal(xa_map_class(ch[0]->map[0]), fake->sizeclass);   /* entries copy the class */
    assert_ptr_equal(xa_chunk_map_get(ch[0], XA_CHUNK_PAGES - 1), fake);
    assert_int_equal((unsigned char)data[0], 0xab);   /* map writes stay in the header */
    assert_ptr_equal(xa_chunk_arena(ch[0]), owner);

    /* Deleting one leaves the others registered. */
    xa_chunk *gone = ch[1];
    xa_chunk_delete(gone);
    assert_false(xa_registry_has(gone));
    assert_false(xa_registry_has((char *)gone + XA_CHUNK / 2));
    for (int i = 0; i < N; i++)
        if (i != 1)
            assert_true(xa_registry_has(ch[i]));
    for (int i = 0; i < N; i++)
        if (i != 1) {
            xa_chunk_delete(ch[i]);
            assert_false(xa_registry_has(ch[i]));
        }
}

/* Only chunks are registered, not their neighbourhood. */
static void test_neighbours(void **state)
{
    xa_chunk *ch = xa_chunk_new(NULL, XA_THP_DEFAULT);
    assert_non_null(ch);
    bool before = xa_registry_has((char *)ch - 1);
    bool after = xa_registry_has((char *)ch + XA_CHUNK);
    xa_chunk_delete(ch);
    /* No other chunk exists in this process, so both neighbours are foreign. */
    assert_false(before);
    assert_false(after);
}

static void test_foreign(void **state)
{
    int on_stack = 0;
    void *small = malloc(32), *big = malloc((size_t)8 << 20);   /* glibc: heap and mmap */
    assert_false(xa_registry_has(&on_stack));
    assert_false(xa_registry_has(&static_object));
    assert_false(xa_registry_has((void *)&test_foreign));
    assert_false(xa_registry_has(small));
    assert_false(xa_registry_has(big));
    assert_false(xa_registry_has((char *)big + ((size_t)4 << 20)));
    assert_false(xa_registry_has(NULL));
    /* Beyond 47 bits the registry has no bits: false, and no out-of-bounds read. */
    assert_false(xa_registry_has((void *)((uintptr_t)1 << 47)));
    assert_false(xa_registry_has((void *)(((uintptr_t)1 << 47) + XA_CHUNK)));
    assert_false(xa_registry_has((void *)((uintptr_t)1 << 56)));
    assert_false(xa_registry_has((void *)UINTPTR_MAX));
    assert_false(xa_registry_has((void *)~(uintptr_t)XA_CHUNK_MASK));
    /* The last in-range slot is readable and clear. */
    assert_false(xa_registry_has((void *)(((uintptr_t)1 << 47) - 1)));
    free(small);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_new_delete),
        cmocka_unit_test(test_neighbours),
        cmocka_unit_test(test_foreign),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
