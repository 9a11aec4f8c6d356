/* The metadata allocator: alignment, no overlap, recycling per size,
 * oversized records, and its mapped / in_use accounting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base.h"

#include <stdlib.h>
#include <string.h>

typedef struct blk {
    unsigned char *p;
    size_t size;
} blk;

static int cmp_blk(const void *x, const void *y)
{
    const blk *a = x, *b = y;
    return (a->p > b->p) - (a->p < b->p);
}

static unsigned char pattern(size_t i) { return (unsigned char)(i * 37 + 11); }

/* Many sizes, including > 1024 and > one 64 KiB block: every block is
 * 16-aligned, and a per-block byte pattern survives writes to all others. */
static void test_alloc_distinct(void **state)
{
    xa_base b = {0};
    enum { N = 600 };
    blk *v = calloc(N, sizeof *v);
    size_t want_in_use = 0;
    for (size_t i = 0; i < N; i++) {
        size_t size = i % 50 == 7 ? 1025 + i * 13 : i % 97 == 3 ? 70000 + i : 1 + (i * 7919) % 1024;
        v[i].size = size;
        v[i].p = xa_base_alloc(&b, size);
        assert_non_null(v[i].p);
        assert_int_equal((uintptr_t)v[i].p % XA_BASE_QUANTUM, 0);
        memset(v[i].p, pattern(i), size);
        want_in_use += XA_ALIGN_UP(size, XA_BASE_QUANTUM);
    }
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; k < v[i].size; k++)
            if (v[i].p[k] != pattern(i))
                fail_msg("block %zu (size %zu) byte %zu overwritten", i, v[i].size, k);
    /* Address ranges must be disjoint. */
    qsort(v, N, sizeof *v, cmp_blk);
    for (size_t i = 1; i < N; i++)
        assert_true(v[i - 1].p + v[i - 1].size <= v[i].p);
    assert_int_equal(b.in_use, want_in_use);
    assert_true(b.mapped >= b.in_use);
    free(v);
}

/* A freed block comes back for the next request of the same rounded size,
 * and only for that size. */
static void test_reuse(void **state)
{
    xa_base b = {0};
    void *p = xa_base_alloc(&b, 48);
    void *q = xa_base_alloc(&b, 48);
    assert_ptr_not_equal(p, q);
    size_t in_use = b.in_use, mapped = b.mapped;
    xa_base_free(&b, p, 48);
    assert_int_equal(b.in_use, in_use - 48);
    /* Another size does not take it. */
    void *r = xa_base_alloc(&b, 64);
    assert_ptr_not_equal(r, p);
    /* 33..48 round to 48 and do. */
    assert_ptr_equal(xa_base_alloc(&b, 40), p);
    assert_int_equal(b.in_use, in_use + 64);
    assert_int_equal(b.mapped, mapped);

    /* LIFO per size: the most recently freed first. */
    xa_base_free(&b, p, 48);
    xa_base_free(&b, q, 48);
    assert_ptr_equal(xa_base_alloc(&b, 48), q);
    assert_ptr_equal(xa_base_alloc(&b, 48), p);

    /* Each size from 16 to 1024 is recycled: free lists 0 .. 63. */
    for (size_t s = XA_BASE_QUANTUM; s <= XA_BASE_QUANTUM * XA_BASE_NLISTS; s += XA_BASE_QUANTUM) {
        void *x = xa_base_alloc(&b, s);
        assert_non_null(x);
        xa_base_free(&b, x, s);
        assert_ptr_equal(xa_base_alloc(&b, s), x);
    }
}

/* Freeing keeps all but the last word of a record as the owner left it:
 * arena.c marks run descriptors dead before freeing them, and stale page
 * map entries may still read those fields. */
static void test_free_keeps_contents(void **state)
{
    xa_base b = {0};
    for (size_t size = 16; size <= 1024; size += 16) {
        unsigned char *p = xa_base_alloc(&b, size);
        assert_non_null(p);
        memset(p, 0xc3, size);
        xa_base_free(&b, p, size);
        for (size_t k = 0; k < size - sizeof(void *); k++)
            if (p[k] != 0xc3)
                fail_msg("size %zu: byte %zu changed by free", size, k);
        assert_ptr_equal(xa_base_alloc(&b, size), p);   /* and it is still recycled */
    }
}

/* Records bigger than 1024 bytes work (bump or own mapping), are writable
 * in full, and are counted. */
static void test_big(void **state)
{
    xa_base b = {0};
    static const size_t sizes[] = { 1025, 4096, 20000, XA_BASE_BLOCK - 16, XA_BASE_BLOCK,
                                    XA_BASE_BLOCK + 1, 300000 };
    enum { N = sizeof sizes / sizeof sizes[0] };
    unsigned char *p[N];
    size_t in_use = 0;
    for (size_t i = 0; i < N; i++) {
        p[i] = xa_base_alloc(&b, sizes[i]);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % XA_BASE_QUANTUM, 0);
        memset(p[i], pattern(i), sizes[i]);
        in_use += XA_ALIGN_UP(sizes[i], XA_BASE_QUANTUM);
        assert_int_equal(b.in_use, in_use);
    }
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; k < sizes[i]; k += 61)
            assert_int_equal(p[i][k], pattern(i));
    /* Small allocations still work after oversized ones. */
    unsigned char *s = xa_base_alloc(&b, 32);
    assert_non_null(s);
    memset(s, 0xee, 32);
    assert_int_equal(p[N - 1][sizes[N - 1] - 1], pattern(N - 1));
    for (size_t i = 0; i < N; i++) {
        xa_base_free(&b, p[i], sizes[i]);
        in_use -= XA_ALIGN_UP(sizes[i], XA_BASE_QUANTUM);
        assert_int_equal(b.in_use, in_use + 32);
    }
}

/* mapped grows by whole 64 KiB blocks (or page-rounded oversize records),
 * only when the bump region runs out. */
static void test_accounting(void **state)
{
    xa_base b = {0};
    assert_int_equal(b.mapped, 0);
    assert_int_equal(b.in_use, 0);
    void *p = xa_base_alloc(&b, 1);
    assert_non_null(p);
    assert_int_equal(b.mapped, XA_BASE_BLOCK);
    assert_int_equal(b.in_use, 16);
    /* Fill the rest of the first block exactly: no new mapping. */
    size_t left = XA_BASE_BLOCK - 16;
    while (left) {
        size_t s = left < 1024 ? left : 1024;
        assert_non_null(xa_base_alloc(&b, s));
        left -= s;
    }
    assert_int_equal(b.mapped, XA_BASE_BLOCK);
    assert_int_equal(b.in_use, XA_BASE_BLOCK);
    /* The next byte needs a second block. */
    assert_non_null(xa_base_alloc(&b, 16));
    assert_int_equal(b.mapped, 2 * XA_BASE_BLOCK);
    /* An oversized record is mapped on its own, page-rounded. */
    assert_non_null(xa_base_alloc(&b, 100000));
    assert_int_equal(b.mapped, 2 * XA_BASE_BLOCK + XA_ALIGN_UP(100000, XA_PAGE));
    assert_int_equal(b.in_use, XA_BASE_BLOCK + 16 + XA_ALIGN_UP(100000, 16));
    /* Recycling does not map. */
    xa_base_free(&b, p, 1);
    assert_int_equal(b.in_use, XA_BASE_BLOCK + XA_ALIGN_UP(100000, 16));
    assert_ptr_equal(xa_base_alloc(&b, 16), p);
    assert_int_equal(b.mapped, 2 * XA_BASE_BLOCK + XA_ALIGN_UP(100000, XA_PAGE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_distinct),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_free_keeps_contents),
        cmocka_unit_test(test_big),
        cmocka_unit_test(test_accounting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
