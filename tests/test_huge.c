/* Huge blocks: alignment, page-rounded usable size, lookups that only
 * accept block starts, realloc (grow, forced move, shrink), free of
 * unknown and freed pointers, statistics, and the cache of freed
 * mappings. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "huge.h"
#include "pages.h"
#include "hugecache.h"
#include "conf.h"
#include "init.h"
#include "sizeclass.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* setup_no_decay: no time-based purging, so counts of dirty pages and
 * cached mappings do not depend on how fast the tests run. */
#include "testutil.h"

/* Every test starts with an empty cache, so fresh mappings are fresh. */
static int each(void **state)
{
    xa_hugecache_purge(true);
    return 0;
}

static void *huge(size_t size, size_t align, bool *zeroed)
{
    bool z = false;
    void *p = xa_huge_alloc(size, align, &z);
    assert_non_null(p);
    if (zeroed)
        *zeroed = z;
    return p;
}

/* Is [p, p + len) mapped? msync fails with ENOMEM on unmapped pages. */
static bool mapped(void *p, size_t len)
{
    return msync(p, len, MS_ASYNC) == 0;
}

static void test_alignment_and_usable(void **state)
{
    static const size_t sizes[] = { XA_LARGE_MAX + 1, 4 * MiB, 5 * MiB + 123, 9 * MiB - 1 };
    static const size_t aligns[] = { 0, XA_PAGE, XA_CHUNK, 8 * MiB, 64 * MiB };
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (unsigned k = 0; k < sizeof aligns / sizeof aligns[0]; k++) {
            size_t want_align = aligns[k] > XA_CHUNK ? aligns[k] : XA_CHUNK;
            bool zeroed;
            char *p = huge(sizes[i], aligns[k], &zeroed);
            if ((uintptr_t)p % want_align)
                fail_msg("size %zu align %zu: %p", sizes[i], aligns[k], (void *)p);
            size_t usable = XA_ALIGN_UP(sizes[i], XA_PAGE);
            assert_int_equal(xa_huge_usable(p), usable);
            assert_true(zeroed);                  /* the cache is empty: fresh pages */
            assert_int_equal(p[0], 0);
            assert_int_equal(p[usable - 1], 0);
            memset(p, 0x11, usable);              /* all of it is usable */
            assert_true(xa_huge_free(p));
            xa_hugecache_purge(true);
        }
}

static void test_usable_only_at_start(void **state)
{
    char *p = huge(12 * MiB, 0, NULL);
    assert_int_equal(xa_huge_usable(p), 12 * MiB);
    assert_int_equal(xa_huge_usable(p + 1), 0);
    assert_int_equal(xa_huge_usable(p + XA_PAGE), 0);
    assert_int_equal(xa_huge_usable(p + XA_CHUNK), 0);       /* chunk-aligned interior */
    assert_int_equal(xa_huge_usable(p + 8 * MiB), 0);
    assert_int_equal(xa_huge_usable(p - XA_CHUNK), 0);
    assert_int_equal(xa_huge_usable(p + 12 * MiB), 0);
    int local;
    assert_int_equal(xa_huge_usable((void *)((uintptr_t)&local & ~(uintptr_t)XA_CHUNK_MASK)), 0);
    assert_true(xa_huge_free(p));
}

static void test_free_unknown_and_twice(void **state)
{
    xa_huge_stats s0, s1;
    int local;
    void *foreign = (void *)((uintptr_t)&local & ~(uintptr_t)XA_CHUNK_MASK);
    xa_huge_stats_get(&s0);
    assert_false(xa_huge_free(foreign));
    assert_false(xa_huge_free((void *)((uintptr_t)1 << 46)));

    char *p = huge(6 * MiB, 0, NULL);
    /* Interior pointers are refused and the block stays intact. */
    assert_false(xa_huge_free(p + XA_CHUNK));
    assert_false(xa_huge_free(p + XA_PAGE));
    assert_int_equal(xa_huge_usable(p), 6 * MiB);
    p[6 * MiB - 1] = 1;
    xa_huge_stats_get(&s1);
    assert_int_equal(s1.nfree, s0.nfree);

    assert_true(xa_huge_free(p));
    assert_int_equal(xa_huge_usable(p), 0);
    assert_false(xa_huge_free(p));                  /* second free */
    xa_huge_stats_get(&s1);
    assert_int_equal(s1.nfree, s0.nfree + 1);
    assert_int_equal(s1.nmalloc, s0.nmalloc + 1);
    assert_int_equal(s1.nblocks, s0.nblocks);
}

static void fill_pattern(char *p, size_t len)
{
    for (size_t i = 0; i < len; i += 4096)
        memcpy(p + i, &i, sizeof i);
}

static void check_pattern(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i += 4096) {
        size_t v;
        memcpy(&v, p + i, sizeof v);
        if (v != i)
            fail_msg("contents lost at offset %zu", i);
    }
}

static void test_realloc_grow(void **state)
{
    char *p = huge(5 * MiB, 0, NULL);
    fill_pattern(p, 5 * MiB);
    char *q = xa_huge_realloc(p, 13 * MiB + 5);
    assert_non_null(q);
    assert_int_equal((uintptr_t)q % XA_CHUNK, 0);
    assert_int_equal(xa_huge_usable(q), 13 * MiB + XA_PAGE);
    check_pattern(q, 5 * MiB);
    memset(q + 5 * MiB, 0x22, 8 * MiB + XA_PAGE);
    if (q != p) {
        assert_int_equal(xa_huge_usable(p), 0);
        assert_false(xa_huge_free(p));
    }
    /* Same page count: nothing to do. */
    assert_ptr_equal(xa_huge_realloc(q, 13 * MiB + 1), q);
    assert_true(xa_huge_free(q));
}

/* A mapping right behind the block forces the move path. */
static void test_realloc_moves(void **state)
{
    xa_huge_stats s0, s1;
    xa_huge_stats_get(&s0);
    char *p = huge(4 * MiB, 0, NULL);
    fill_pattern(p, 4 * MiB);
    void *blocker = mmap(p + 4 * MiB, XA_PAGE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    bool own_blocker = blocker == (void *)(p + 4 * MiB);
    if (!own_blocker) {
        /* Something else is there already: it blocks just as well. */
        if (blocker != MAP_FAILED)
            munmap(blocker, XA_PAGE);              /* old kernel ignored the hint */
        assert_true(mapped(p + 4 * MiB, XA_PAGE));
    }
    char *q = xa_huge_realloc(p, 10 * MiB);
    assert_non_null(q);
    assert_ptr_not_equal(q, p);
    assert_int_equal((uintptr_t)q % XA_CHUNK, 0);
    assert_int_equal(xa_huge_usable(q), 10 * MiB);
    assert_int_equal(xa_huge_usable(p), 0);
    check_pattern(q, 4 * MiB);
    memset(q + 4 * MiB, 0x33, 6 * MiB);
    assert_false(xa_huge_free(p));
    xa_huge_stats_get(&s1);
    assert_int_equal(s1.nblocks, s0.nblocks + 1);
    assert_int_equal(s1.allocated, s0.allocated + 10 * MiB);
    if (own_blocker)
        munmap(blocker, XA_PAGE);
    assert_true(xa_huge_free(q));
}

static void test_realloc_shrink_in_place(void **state)
{
    xa_huge_stats s0, s1;
    char *p = huge(12 * MiB, 0, NULL);
    fill_pattern(p, 12 * MiB);
    xa_huge_stats_get(&s0);
    char *q = xa_huge_realloc(p, 5 * MiB + 1);
    assert_ptr_equal(q, p);
    assert_int_equal(xa_huge_usable(p), 5 * MiB + XA_PAGE);
    check_pattern(p, 5 * MiB);
    xa_huge_stats_get(&s1);
    assert_int_equal(s1.allocated, s0.allocated - (12 * MiB - 5 * MiB - XA_PAGE));
    assert_int_equal(s1.nblocks, s0.nblocks);
    /* The tail is given back: unmapped, or kept in the cache of mappings. */
    size_t tail = 12 * MiB - 5 * MiB - XA_PAGE;
    assert_true(!mapped(p + 5 * MiB + XA_PAGE, tail) || s1.cached == s0.cached + tail);
    /* Still one block: growing back works, then free takes it whole. */
    q = xa_huge_realloc(p, 8 * MiB);
    assert_non_null(q);
    check_pattern(q, 5 * MiB);
    assert_int_equal(xa_huge_usable(q), 8 * MiB);
    assert_true(xa_huge_free(q));
    xa_hugecache_purge(true);
    assert_false(mapped(q, XA_PAGE));
}

static void test_stats(void **state)
{
    xa_huge_stats s0, s1, s2;
    xa_huge_stats_get(&s0);
    void *p = huge(3 * MiB, 0, NULL), *q = huge(7 * MiB + 1, 8 * MiB, NULL);
    xa_huge_stats_get(&s1);
    assert_int_equal(s1.nmalloc, s0.nmalloc + 2);
    assert_int_equal(s1.nblocks, s0.nblocks + 2);
    assert_int_equal(s1.allocated, s0.allocated + 3 * MiB + 7 * MiB + XA_PAGE);
    assert_int_equal(s1.nfree, s0.nfree);
    assert_true(s1.meta > 0);                       /* records live in base memory */
    assert_true(xa_huge_free(p));
    assert_true(xa_huge_free(q));
    xa_huge_stats_get(&s2);
    assert_int_equal(s2.nfree, s0.nfree + 2);
    assert_int_equal(s2.nblocks, s0.nblocks);
    assert_int_equal(s2.allocated, s0.allocated);
}

/* Freed mappings are kept (counted in stats.cached) and reused, not fresh
 * then; a purge unmaps them. */
static void test_cache_reuse(void **state)
{
    xa_huge_stats s;
    bool zeroed;
    char *p = huge(6 * MiB, 0, &zeroed);
    assert_true(zeroed);
    memset(p, 0x44, 6 * MiB);
    assert_true(xa_huge_free(p));
    xa_huge_stats_get(&s);
    assert_int_equal(s.cached, 6 * MiB);
    assert_int_equal(xa_huge_usable(p), 0);         /* cached is not live */
    assert_false(xa_huge_free(p));

    char *q = huge(6 * MiB, 0, &zeroed);
    assert_ptr_equal(q, p);
    assert_false(zeroed);                           /* old contents: not fresh */
    xa_huge_stats_get(&s);
    assert_int_equal(s.cached, 0);
    assert_true(xa_huge_free(q));

    assert_int_equal(xa_hugecache_purge(true), (6 * MiB) >> XA_PAGE_SHIFT);
    xa_huge_stats_get(&s);
    assert_int_equal(s.cached, 0);
    assert_false(mapped(p, XA_PAGE));
    q = huge(6 * MiB, 0, &zeroed);
    assert_true(zeroed);
    assert_int_equal(q[0], 0);
    assert_true(xa_huge_free(q));
}

/* A bigger cached mapping serves a smaller block in place: the request
 * gets its start, the rest stays cached, still resident. A later request
 * with no aligned cached range gets a fresh aligned range with cached pages
 * moved onto it (mremap): the old contents show that nothing faulted anew. */
static void test_cache_split_and_move(void **state)
{
    xa_huge_stats s;
    char *p = huge(12 * MiB, 0, NULL);
    memset(p, 0x77, 12 * MiB);
    assert_true(xa_huge_free(p));
    bool zeroed;
    char *q = huge(5 * MiB, 0, &zeroed);
    assert_ptr_equal(q, p);
    assert_false(zeroed);
    assert_int_equal(xa_huge_usable(q), 5 * MiB);
    xa_huge_stats_get(&s);
    assert_int_equal(s.cached, 7 * MiB);            /* [5 MiB, 12 MiB) */
    assert_true(mapped(q + 5 * MiB, 7 * MiB));
    char *r = huge(4 * MiB, 0, &zeroed);
    assert_int_equal((uintptr_t)r & XA_CHUNK_MASK, 0);
    if (xa_pages_move_spans_mappings()) {
        assert_false(zeroed);
        assert_int_equal(r[0], 0x77);               /* pages moved, not faulted */
        assert_int_equal(r[4 * MiB - 1], 0x77);
        xa_huge_stats_get(&s);
        assert_int_equal(s.cached, 3 * MiB);
    }
    memset(q, 1, 5 * MiB);
    memset(r, 2, 4 * MiB);
    assert_true(xa_huge_free(q));
    assert_true(xa_huge_free(r));
}

/* Growth of a block with cached pages right behind it takes them in place. */
static void test_realloc_grows_over_cached(void **state)
{
    char *p = huge(16 * MiB, 0, NULL);
    memset(p, 5, 16 * MiB);
    assert_true(xa_huge_free(p));
    char *q = huge(8 * MiB, 0, NULL);
    assert_ptr_equal(q, p);                         /* [8, 16) MiB stay cached */
    assert_ptr_equal(xa_huge_realloc(q, 12 * MiB), q);
    assert_int_equal(xa_huge_usable(q), 12 * MiB);
    assert_int_equal(q[12 * MiB - 1], 5);           /* the cached pages, not fresh ones */
    xa_huge_stats s;
    xa_huge_stats_get(&s);
    assert_int_equal(s.cached, 4 * MiB);
    assert_true(xa_huge_free(q));
}

/* The path of kernels before 6.17, which cannot move a range made of two
 * mappings: freed neighbours are not joined, a block is reused only from an
 * aligned cached range in place, and realloc still grows and moves blocks
 * (copying where the kernel refuses), contents intact. */
static void test_cache_without_joined_moves(void **state)
{
    int saved = xa_pages_move_spans_known;
    xa_pages_move_spans_known = -1;
    char *a = huge(4 * MiB, 0, NULL), *b = huge(4 * MiB, 0, NULL);
    memset(a, 1, 4 * MiB);
    memset(b, 2, 4 * MiB);
    assert_true(xa_huge_free(a));
    assert_true(xa_huge_free(b));
    xa_huge_stats s;
    xa_huge_stats_get(&s);
    assert_int_equal(s.cached, 8 * MiB);
    bool zeroed;
    char *m = huge(8 * MiB, 0, &zeroed);            /* no single range fits */
    assert_true(zeroed);
    xa_huge_stats_get(&s);
    assert_int_equal(s.cached, 8 * MiB);             /* both still cached, apart */
    char *q = huge(3 * MiB, 0, &zeroed);            /* in place, from an aligned one */
    assert_true(q == a || q == b);
    assert_false(zeroed);
    assert_int_equal(q[0], q == a ? 1 : 2);
    memset(m, 3, 8 * MiB);
    char *g = xa_huge_realloc(m, 24 * MiB);
    assert_non_null(g);
    assert_int_equal(g[0], 3);
    assert_int_equal(g[8 * MiB - 1], 3);
    memset(g + 8 * MiB, 4, 16 * MiB);
    g = xa_huge_realloc(g, 5 * MiB);
    assert_non_null(g);
    assert_int_equal(g[5 * MiB - 1], 3);
    assert_true(xa_huge_free(g));
    assert_true(xa_huge_free(q));
    xa_pages_move_spans_known = saved;
}

/* Neighbouring freed blocks merge in the cache; the merged mapping serves
 * a bigger request and can still be resized (one mapping to the kernel). */
static void test_cache_merge_then_grow(void **state)
{
    char *a = huge(4 * MiB, 0, NULL), *b = huge(4 * MiB, 0, NULL);
    memset(a, 1, 4 * MiB);
    memset(b, 2, 4 * MiB);
    char *lo = a < b ? a : b, *hi = a < b ? b : a;
    bool adjacent = lo + 4 * MiB == hi;
    assert_true(xa_huge_free(a));
    assert_true(xa_huge_free(b));
    xa_huge_stats s;
    xa_huge_stats_get(&s);
    assert_int_equal(s.cached, 8 * MiB);
    char *m = huge(8 * MiB, 0, NULL);
    if (adjacent)
        assert_ptr_equal(m, lo);
    memset(m, 3, 8 * MiB);
    char *g = xa_huge_realloc(m, 20 * MiB);
    assert_non_null(g);
    assert_int_equal(xa_huge_usable(g), 20 * MiB);
    assert_int_equal(g[8 * MiB - 1], 3);
    g = xa_huge_realloc(g, 6 * MiB);
    assert_non_null(g);
    assert_int_equal(g[6 * MiB - 1], 3);
    assert_true(xa_huge_free(g));
}

/* A block moved by mremap keeps its own kernel mapping (VMA): it never
 * merges with a neighbouring mapping. If the cache joins the two when both
 * are freed, a block carved from the joined range spans two VMAs, and
 * mremap (grow in place or move) refuses such a range with EFAULT. realloc
 * must still succeed: memory is plentiful. */
static void test_realloc_after_cache_merge(void **state)
{
    /* 1. A block that realloc had to move (a mapping right behind it). */
    char *p = huge(4 * MiB, 0, NULL);
    memset(p, 1, 4 * MiB);
    void *blocker = mmap(p + 4 * MiB, XA_PAGE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    bool own_blocker = blocker == (void *)(p + 4 * MiB);
    if (!own_blocker && blocker != MAP_FAILED)
        munmap(blocker, XA_PAGE);
    char *q = xa_huge_realloc(p, 8 * MiB);
    assert_non_null(q);
    assert_ptr_not_equal(q, p);
    memset(q, 2, 8 * MiB);

    /* 2. A fresh block right next to it (mmap hands out neighbouring ranges). */
    char *r = NULL, *keep[16];
    unsigned nkeep = 0;
    while (r == NULL && nkeep < 16) {
        char *x = huge(4 * MiB, 0, NULL);
        memset(x, 3, 4 * MiB);
        if (x + 4 * MiB == q || q + 8 * MiB == x)
            r = x;
        else
            keep[nkeep++] = x;
    }
    char *lo = r == NULL ? NULL : r < q ? r : q;

    /* 3. Both freed: the cache joins them into one 12 MiB range. */
    if (r != NULL) {
        assert_true(xa_huge_free(q));
        assert_true(xa_huge_free(r));
        xa_huge_stats st;
        xa_huge_stats_get(&st);
        assert_int_equal(st.cached, 12 * MiB);
    }
    for (unsigned i = 0; i < nkeep; i++)
        assert_true(xa_huge_free(keep[i]));
    if (own_blocker)
        munmap(blocker, XA_PAGE);
    if (r == NULL) {
        assert_true(xa_huge_free(q));
        skip();                                      /* no neighbour found: nothing to test */
    }

    /* 4. A 12 MiB block from that range, then grow it. */
    char *m = huge(12 * MiB, 0, NULL);
    assert_ptr_equal(m, lo);
    char *g = xa_huge_realloc(m, 40 * MiB);
    if (g == NULL) {
        xa_huge_free(m);
        fail_msg("xa_huge_realloc(12 MiB -> 40 MiB) of a block reused from two joined "
                 "cached mappings returned NULL");
    }
    assert_int_equal(g[12 * MiB - 1], lo == q ? 3 : 2);  /* contents kept: the upper block's */
    assert_int_equal(xa_huge_usable(g), 40 * MiB);
    assert_true(xa_huge_free(g));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_alignment_and_usable, each),
        cmocka_unit_test_setup(test_usable_only_at_start, each),
        cmocka_unit_test_setup(test_free_unknown_and_twice, each),
        cmocka_unit_test_setup(test_realloc_grow, each),
        cmocka_unit_test_setup(test_realloc_moves, each),
        cmocka_unit_test_setup(test_realloc_shrink_in_place, each),
        cmocka_unit_test_setup(test_stats, each),
        cmocka_unit_test_setup(test_cache_reuse, each),
        cmocka_unit_test_setup(test_cache_split_and_move, each),
        cmocka_unit_test_setup(test_realloc_grows_over_cached, each),
        cmocka_unit_test_setup(test_cache_without_joined_moves, each),
        cmocka_unit_test_setup(test_cache_merge_then_grow, each),
        cmocka_unit_test_setup(test_realloc_after_cache_merge, each),
    };
    return cmocka_run_group_tests(tests, setup_no_decay, teardown_no_decay);
}
