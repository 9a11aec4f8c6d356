/* Arenas: small fills and frees (remote frees too), large runs (every
 * class, alignment, coalescing, in-place resize), free pages never passing
 * for live blocks, dirty/active accounting, dirty-before-clean reuse,
 * purge, and the release of empty chunks. Each test takes its own arena
 * index from the top of the table, so no other test shares its state. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "arena.h"
#include "conf.h"
#include "init.h"
#include "purge.h"
#include "slab.h"
#include "stats.h"

#include <stdlib.h>
#include <string.h>

/* setup_no_decay: no time-based purging, so counts of dirty pages and
 * cached mappings do not depend on how fast the tests run. */
#include "testutil.h"

static unsigned next_index = XA_MAX_ARENAS;

/* A never used arena. */
static xa_arena *fresh_arena(void)
{
    assert_true(next_index > 0);
    xa_arena *a = xa_arena_get(--next_index);
    assert_non_null(a);
    assert_int_equal(a->index, next_index);
    assert_int_equal(a->nchunks, 0);
    assert_int_equal(a->nactive, 0);
    assert_ptr_equal(xa_arena_get(next_index), a);   /* created once */
    return a;
}

static xa_run *run_of(const void *p)
{
    assert_true(xa_registry_has(xa_chunk_of(p)));
    return xa_chunk_map_get(xa_chunk_of(p), xa_page_of(p));
}

static unsigned class_of_size(size_t size)
{
    unsigned c = xa_size_class(size);
    assert_int_equal(xa_class_size[c], size);
    return c;
}

static void *large(xa_arena *a, size_t size, size_t align)
{
    bool zeroed;
    void *p = xa_arena_large_alloc(a, class_of_size(size), align, &zeroed);
    assert_non_null(p);
    return p;
}

static void large_free(xa_arena *a, void *p)
{
    xa_run *r = run_of(p);
    assert_int_equal(r->kind, XA_RUN_LARGE);
    assert_ptr_equal(r->addr, p);
    xa_arena_large_free(a, r);
}

/* xa_arena_purge runs under the arena lock, like its callers in src/. */
static size_t purge(xa_arena *a)
{
    xa_mutex_lock(&a->lock);
    size_t n = xa_arena_purge(a, true);
    xa_mutex_unlock(&a->lock);
    return n;
}

/* Each test starts with no dirty pages anywhere: earlier tests' leftovers
 * must not push this one over a dirty-page limit. */
static int clean_slate(void **state)
{
    xa_purge_all();
    return 0;
}

/* One place that knows xa_arena_fill's statistics argument. */
static unsigned fill(xa_arena *a, unsigned c, void **out, unsigned want)
{
    return xa_arena_fill(a, c, out, want, 0);
}

static int cmp_ptr(const void *x, const void *y)
{
    uintptr_t a = (uintptr_t)*(void *const *)x, b = (uintptr_t)*(void *const *)y;
    return (a > b) - (a < b);
}

/* ---- small ------------------------------------------------------------- */

/* Check that every pointer is a live region of class c owned by a. */
static void check_regions(xa_arena *a, unsigned c, void **out, unsigned n)
{
    size_t size = xa_class_size[c];
    size_t lowbit = size & -size;
    size_t align = lowbit < XA_PAGE ? lowbit : XA_PAGE;   /* slabs start on pages */
    for (unsigned i = 0; i < n; i++) {
        xa_run *r = run_of(out[i]);
        assert_ptr_equal(xa_chunk_arena(xa_chunk_of(out[i])), a);
        assert_int_equal(r->kind, XA_RUN_SLAB);
        assert_int_equal(r->sizeclass, c);
        int idx = xa_slab_region_of(r, out[i]);
        assert_true(idx >= 0);
        assert_false(xa_bitmap_is_free(&r->bitmap, (unsigned)idx));
        assert_int_equal((uintptr_t)out[i] % align, 0);
        assert_ptr_equal(xa_lookup_fast(out[i]), r);
    }
    void **s = malloc(n * sizeof *s);
    memcpy(s, out, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_ptr);
    for (unsigned i = 1; i < n; i++)
        assert_true((char *)s[i] - (char *)s[i - 1] >= (ptrdiff_t)size);   /* distinct, disjoint */
    free(s);
}

/* The slabs holding out[0 .. n) of class c, just filled: each with the
 * regions of all its pages (a slab cut from a dirty run may keep a sliver
 * of up to XA_RUN_MIN_PAGES - 1 pages past its class's geometry, and uses
 * it), and all of them full but one. Returns how many and their pages. */
static size_t check_slabs(unsigned c, void **out, unsigned n, size_t *pages)
{
    const xa_slab_geom *g = &xa_slab_geom_of[c];
    xa_run **runs = malloc(n * sizeof *runs);
    size_t nruns = 0, regs = 0, partial = 0;
    *pages = 0;
    for (unsigned i = 0; i < n; i++) {
        xa_run *r = run_of(out[i]);
        size_t k = 0;
        while (k < nruns && runs[k] != r)
            k++;
        if (k < nruns)
            continue;
        runs[nruns++] = r;
        assert_in_range(r->npages, g->pages, g->pages + XA_RUN_MIN_PAGES - 1);
        assert_int_equal(r->nregs, xa_slab_regs(c, r->npages));
        assert_true((size_t)r->nregs * xa_class_size[c] <= (size_t)r->npages * XA_PAGE);
        assert_true((size_t)(r->nregs + 1) * xa_class_size[c] > (size_t)r->npages * XA_PAGE ||
                    r->nregs == XA_BITMAP_MAX_BITS);
        regs += r->nregs;
        *pages += r->npages;
        partial += r->nfree != 0;
    }
    assert_true(regs >= n);
    assert_true(partial <= 1);                         /* no slab more than needed */
    free(runs);
    return nruns;
}

static void test_small_fill_free_refill(void **state)
{
    xa_arena *a = fresh_arena();
    void **out = malloc(5000 * sizeof *out), **copy = malloc(5000 * sizeof *copy);
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        const xa_slab_geom *g = &xa_slab_geom_of[c];
        xa_bin *bin = &a->bins[c];
        unsigned want = 2 * g->nregs + 3;                  /* spans 3+ geometry slabs */
        size_t active0 = a->nactive, pages;

        assert_int_equal(fill(a, c, out, want), want);
        check_regions(a, c, out, want);
        assert_int_equal(bin->curregs, want);
        size_t nslabs = check_slabs(c, out, want, &pages);
        assert_int_equal(bin->nslabs, nslabs);
        assert_int_equal(a->nactive - active0, pages);
        size_t active1 = a->nactive;
        size_t chunks = a->nchunks;

        /* Everything back: empty slabs go, the current one stays. */
        memcpy(copy, out, want * sizeof *out);       /* small_free may reuse its array */
        xa_arena_small_free(a, c, copy, want);
        assert_int_equal(bin->curregs, 0);
        assert_int_equal(bin->nslabs, 1);
        assert_int_equal(a->nactive, active0 + bin->cur->npages);   /* the kept slab */
        /* Regions of the kept slab read as free (a second free is caught);
         * released slabs: see test_double_free_released_slab. */
        xa_run *cur = bin->cur;
        for (unsigned i = 0; i < want; i++)
            if ((char *)out[i] >= cur->addr && (char *)out[i] < cur->addr + cur->npages * XA_PAGE)
                assert_null(xa_lookup_fast(out[i]));

        /* Refill: the memory is reused, the arena does not grow. */
        assert_int_equal(fill(a, c, out, want), want);
        check_regions(a, c, out, want);
        assert_int_equal(bin->curregs, want);
        assert_int_equal(bin->nslabs, check_slabs(c, out, want, &pages));
        assert_int_equal(a->nchunks, chunks);
        assert_int_equal(a->nactive - active0, pages);
        assert_true(a->nactive <= active1 + (XA_RUN_MIN_PAGES - 1) * nslabs);
        xa_arena_small_free(a, c, out, want);
    }
    free(out);
    free(copy);
}

/* A fill that fits one fresh slab hands back its lowest regions with the
 * lowest address last (the tcache pops it first). */
static void test_small_fill_order(void **state)
{
    xa_arena *a = fresh_arena();
    void *out[64];
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        unsigned want = xa_slab_geom_of[c].nregs < 64 ? xa_slab_geom_of[c].nregs : 64;
        assert_int_equal(fill(a, c, out, want), want);
        xa_run *r = run_of(out[want - 1]);
        assert_ptr_equal(out[want - 1], r->addr);
        for (unsigned i = 0; i + 1 < want; i++)
            assert_ptr_equal(out[i], (char *)out[i + 1] + xa_class_size[c]);
        /* Free a middle one and the first: the next fill returns the lowest. */
        if (want >= 3) {
            void *mid = out[want / 2], *low = out[want - 1];
            xa_arena_small_free(a, c, &mid, 1);
            xa_arena_small_free(a, c, &low, 1);
            void *two[2];
            assert_int_equal(fill(a, c, two, 2), 2);
            assert_ptr_equal(two[1], low);
            assert_ptr_equal(two[0], mid);
        }
    }
}

/* Slabs that are not the current one go into nonfull when a region frees
 * and are refilled from there, lowest address first. */
static void test_small_nonfull(void **state)
{
    xa_arena *a = fresh_arena();
    unsigned c = xa_small_class(256);
    unsigned nregs = xa_slab_geom_of[c].nregs;
    unsigned want = 3 * nregs;
    void **out = malloc(want * sizeof *out);
    assert_int_equal(fill(a, c, out, want), want);
    qsort(out, want, sizeof *out, cmp_ptr);
    /* One region from each of the two lower (full, not current) slabs. */
    void *x = out[nregs + 5], *y = out[7];
    xa_arena_small_free(a, c, &x, 1);
    xa_arena_small_free(a, c, &y, 1);
    assert_int_equal(a->bins[c].curregs, want - 2);
    void *got[2];
    assert_int_equal(fill(a, c, got, 2), 2);
    assert_ptr_equal(got[1], y);                   /* lower slab first */
    assert_ptr_equal(got[0], x);
    assert_true(xa_rb_empty(&a->bins[c].nonfull));
    xa_arena_small_free(a, c, out, want);
    assert_int_equal(a->bins[c].curregs, 0);
    assert_int_equal(a->bins[c].nslabs, 1);
    free(out);
}

/* A bin whose lock is busy takes frees on its remote list (chained through
 * the blocks, still taken in the bitmaps); the next fill hands them out
 * first, and a drain or a locked free returns the rest to their slabs. */
static void test_small_remote_free(void **state)
{
    xa_arena *a = fresh_arena();
    unsigned c = xa_small_class(64);
    xa_bin *bin = &a->bins[c];
    void *out[10], *batch[5];
    assert_int_equal(fill(a, c, out, 10), 10);
    assert_int_equal(bin->curregs, 10);

    memcpy(batch, out, sizeof batch);
    xa_mutex_lock(&bin->lock);                       /* "busy": trylock fails */
    xa_arena_small_free(a, c, batch, 5);
    xa_mutex_unlock(&bin->lock);
    assert_ptr_equal(bin->remote, out[0]);
    for (unsigned i = 0; i < 5; i++) {
        assert_ptr_equal(*(void **)out[i], i < 4 ? out[i + 1] : NULL);   /* the chain */
        assert_non_null(xa_lookup_fast(out[i]));     /* still taken */
    }
    assert_int_equal(bin->curregs, 10);

    /* A fill of 3 takes 3 remote blocks; the other 2 go back to the slab. */
    void *got[3];
    assert_int_equal(fill(a, c, got, 3), 3);
    assert_null(bin->remote);
    unsigned from_remote = 0;
    for (unsigned k = 0; k < 3; k++)
        for (unsigned i = 0; i < 5; i++)
            from_remote += got[k] == out[i];
    assert_int_equal(from_remote, 3);
    assert_int_equal(bin->curregs, 8);
    unsigned now_free = 0;
    for (unsigned i = 0; i < 5; i++)
        now_free += xa_lookup_fast(out[i]) == NULL;
    assert_int_equal(now_free, 2);

    /* Another busy free, then an explicit drain. */
    memcpy(batch, out + 5, 2 * sizeof *batch);
    xa_mutex_lock(&bin->lock);
    xa_arena_small_free(a, c, batch, 2);
    xa_mutex_unlock(&bin->lock);
    assert_non_null(bin->remote);
    assert_int_equal(bin->curregs, 8);
    xa_arena_drain_remote(a);
    assert_null(bin->remote);
    assert_int_equal(bin->curregs, 6);
    assert_null(xa_lookup_fast(out[5]));
    assert_null(xa_lookup_fast(out[6]));

    /* The rest: out[7..9] and the three refilled blocks. */
    void *rest[6] = { out[7], out[8], out[9], got[0], got[1], got[2] };
    xa_arena_small_free(a, c, rest, 6);
    assert_int_equal(bin->curregs, 0);
    assert_null(bin->remote);
}

/* An arena about to cut a new slab first takes the blocks of that class
 * that threads of other arenas freed remotely (a pipeline's freed memory
 * must not sit in one arena while another grows), leaving the rest on
 * their list, then free regions of the other arenas' non-full slabs (not
 * their current slab). Classes under a cache line are not taken (false
 * sharing). */
static void test_small_take_from_other_arenas(void **state)
{
    xa_arena *a = fresh_arena(), *b = fresh_arena();
    unsigned c = xa_small_class(128);
    unsigned nregs = xa_slab_geom_of[c].nregs;
    void **out = malloc((nregs + 10) * sizeof *out);
    void *got[4], *more[4];
    assert_int_equal(fill(a, c, out, 10), 10);
    xa_stats st0, st1;
    xa_stats_collect(&st0, NULL);
    xa_arena_small_free_remote(a, c, out, 6);
    xa_stats_collect(&st1, NULL);
    ASSERT_EQ_SZ(st1.allocated, st0.allocated - 6 * 128);   /* on a remote list: freed */
    assert_int_equal(fill(b, c, got, 4), 4);
    assert_int_equal(b->bins[c].nslabs_created, 0);
    for (unsigned k = 0; k < 4; k++) {
        assert_ptr_equal(xa_chunk_arena(xa_chunk_of(got[k])), a);     /* still a's blocks */
        assert_non_null(xa_lookup_fast(got[k]));             /* and live */
        bool queued = false;
        for (unsigned i = 0; i < 6; i++)
            queued |= got[k] == out[i];
        assert_true(queued);
    }
    unsigned left = 0;
    for (void *p = a->bins[c].remote; p; p = *(void **)p)
        left++;
    assert_int_equal(left, 2);
    assert_int_equal(a->bins[c].curregs, 10);
    assert_int_equal(b->bins[c].curregs, 0);

    /* The last two; a's current slab is left alone: then b's own slab. */
    assert_int_equal(fill(b, c, more, 4), 4);
    assert_null(a->bins[c].remote);
    assert_int_equal(b->bins[c].nslabs_created, 1);
    assert_int_equal(b->bins[c].curregs, 2);
    for (unsigned k = 0; k < 4; k++)
        xa_arena_small_free(xa_chunk_arena(xa_chunk_of(more[k])), c, &more[k], 1);
    xa_arena_small_free(a, c, got, 4);

    /* A non-full slab of a (not its current one): free regions taken. */
    void *rest[4];
    unsigned total = fill(a, c, out + 10, nregs);      /* a's first slab fills up */
    assert_int_equal(total, nregs);
    assert_true(a->bins[c].nslabs_created >= 2);
    xa_run *first = run_of(out[6]);
    assert_true(first != a->bins[c].cur);
    void *hole = out[6];
    xa_arena_small_free(a, c, &hole, 1);               /* now non-full */
    size_t a_regs = a->bins[c].curregs;
    while (b->bins[c].cur && b->bins[c].cur->nfree) {   /* use up b's own slab */
        void *x;
        assert_int_equal(fill(b, c, &x, 1), 1);
        assert_ptr_equal(xa_chunk_arena(xa_chunk_of(x)), b);
    }
    uint64_t slabs = b->bins[c].nslabs_created;
    assert_int_equal(fill(b, c, rest, 1), 1);
    assert_ptr_equal(rest[0], hole);
    assert_int_equal(b->bins[c].nslabs_created, slabs);
    assert_int_equal(a->bins[c].curregs, a_regs + 1);

    /* A class under a cache line: b cuts its own slab, a's list stays. */
    unsigned s = xa_small_class(32);
    void *sm[4], *sg[2];
    assert_int_equal(fill(a, s, sm, 4), 4);
    xa_arena_small_free_remote(a, s, sm, 4);
    assert_int_equal(fill(b, s, sg, 2), 2);
    assert_ptr_equal(xa_chunk_arena(xa_chunk_of(sg[0])), b);
    assert_ptr_equal(xa_chunk_arena(xa_chunk_of(sg[1])), b);
    assert_non_null(a->bins[s].remote);
    xa_arena_small_free(b, s, sg, 2);
    xa_arena_drain_remote(a);
    assert_int_equal(a->bins[s].curregs, 0);
    free(out);
}

/* ---- large ------------------------------------------------------------- */

static void test_large_each_class(void **state)
{
    xa_arena *a = fresh_arena();
    for (unsigned c = XA_NSMALL; c < XA_NCLASSES; c++) {
        size_t size = xa_class_size[c], npages = size >> XA_PAGE_SHIFT;
        size_t active = a->nactive, allocated = a->large_allocated;
        uint64_t nmalloc = a->nlarge_malloc, nfree = a->nlarge_free;
        bool zeroed = false;
        char *p = xa_arena_large_alloc(a, c, XA_PAGE, &zeroed);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % XA_PAGE, 0);
        assert_ptr_equal(xa_chunk_arena(xa_chunk_of(p)), a);
        xa_run *r = run_of(p);
        assert_int_equal(r->kind, XA_RUN_LARGE);
        assert_int_equal(r->sizeclass, c);
        assert_int_equal(r->npages, npages);
        assert_ptr_equal(r->addr, p);
        assert_ptr_equal(xa_lookup_fast(p), r);
        assert_null(xa_lookup_fast(p + XA_PAGE));       /* interior */
        /* Large runs map their first and last pages (chunk.h). */
        assert_ptr_equal(run_of(p + (npages - 1) * XA_PAGE), r);
        assert_int_equal(a->nactive, active + npages);
        assert_int_equal(a->large_allocated, allocated + size);
        assert_int_equal(a->nlarge_malloc, nmalloc + 1);
        if (zeroed)
            for (size_t i = 0; i < size; i += 512)
                assert_int_equal(p[i], 0);
        memset(p, 0x77, size);

        xa_arena_large_free(a, r);
        assert_int_equal(a->nactive, active);
        assert_int_equal(a->large_allocated, allocated);
        assert_int_equal(a->nlarge_free, nfree + 1);
        assert_null(xa_lookup_fast(p));                 /* a second free is caught */
        assert_int_equal(run_of(p)->kind, XA_RUN_FREE);
    }
    assert_int_equal(a->nactive, 0);
}

static void test_large_alignment(void **state)
{
    xa_arena *a = fresh_arena();
    static const size_t sizes[] = { 16384, 20480, 65536, 229376, 1048576, 2097152 };
    enum { NS = sizeof sizes / sizeof sizes[0] };
    void *keep[NS * 8];
    unsigned nkeep = 0;
    /* A 16 KiB run first, so the next free page is not already aligned. */
    void *first = large(a, 16384, XA_PAGE);
    for (size_t align = 2 * XA_PAGE; align <= ((size_t)1 << 20); align *= 2) {
        for (unsigned k = 0; k < NS; k++) {
            size_t np = sizes[k] >> XA_PAGE_SHIFT, ap = align >> XA_PAGE_SHIFT;
            if (np + ap - 1 > XA_USABLE_PAGES)
                continue;                               /* cannot fit any chunk */
            char *p = large(a, sizes[k], align);
            if ((uintptr_t)p % align)
                fail_msg("size %zu align %zu: %p", sizes[k], align, (void *)p);
            xa_run *r = run_of(p);
            assert_int_equal(r->npages, np);
            assert_ptr_equal(run_of(p + sizes[k] - 1), r);
            assert_ptr_equal(xa_lookup_fast(p), r);
            p[0] = 1;
            p[sizes[k] - 1] = 2;
            if (sizes[k] >= ((size_t)1 << 20))
                large_free(a, p);                       /* keep the arena small */
            else
                keep[nkeep++] = p;
        }
    }
    for (unsigned i = 0; i < nkeep; i++)
        large_free(a, keep[i]);
    large_free(a, first);
    assert_int_equal(a->nactive, 0);
    assert_int_equal(a->large_allocated, 0);
}

/* Freed neighbours merge into one free run that a bigger request fits. */
static void test_coalesce(void **state)
{
    xa_arena *a = fresh_arena();
    char *A = large(a, 16384, XA_PAGE), *B = large(a, 16384, XA_PAGE);
    char *C = large(a, 16384, XA_PAGE), *D = large(a, 16384, XA_PAGE);
    /* A fresh chunk is carved from its start: adjacent runs. */
    assert_ptr_equal(A, (char *)xa_chunk_of(A) + XA_HEADER_PAGES * XA_PAGE);
    assert_ptr_equal(B, A + 16384);
    assert_ptr_equal(C, B + 16384);
    assert_ptr_equal(D, C + 16384);   /* D keeps the chunk's tail away from C */

    large_free(a, B);
    xa_run *f = run_of(B);
    assert_int_equal(f->kind, XA_RUN_FREE);
    assert_int_equal(f->npages, 4);
    large_free(a, A);
    f = run_of(A);
    assert_int_equal(f->kind, XA_RUN_FREE);
    assert_ptr_equal(f->addr, A);
    assert_int_equal(f->npages, 8);
    assert_ptr_equal(run_of(B + 16384 - 1), f);     /* last page entry */
    large_free(a, C);
    f = run_of(A);
    assert_int_equal(f->kind, XA_RUN_FREE);
    assert_ptr_equal(f->addr, A);
    assert_int_equal(f->npages, 12);
    assert_ptr_equal(run_of(C + 16384 - 1), f);
    assert_int_equal(a->ndirty, 12);

    /* The combined size fits exactly where A was (best fit over the tail). */
    char *E = large(a, 49152, XA_PAGE);
    assert_ptr_equal(E, A);
    assert_int_equal(a->ndirty, 0);
    large_free(a, E);
    large_free(a, D);
    assert_int_equal(a->nactive, 0);
}

static void test_resize(void **state)
{
    xa_arena *a = fresh_arena();
    unsigned c16 = class_of_size(16384), c20 = class_of_size(20480);
    unsigned c32 = class_of_size(32768), c40 = class_of_size(40960);
    char *A = large(a, 16384, XA_PAGE), *B = large(a, 16384, XA_PAGE);
    char *C = large(a, 16384, XA_PAGE), *G = large(a, 16384, XA_PAGE);
    assert_ptr_equal(B, A + 16384);
    assert_ptr_equal(C, B + 16384);
    xa_run *r = run_of(A), *rb = run_of(B);
    size_t active = a->nactive, allocated = a->large_allocated;

    /* Neighbour taken: refused, nothing changes. */
    assert_false(xa_arena_large_resize(a, r, c32));
    assert_int_equal(r->npages, 4);
    assert_int_equal(r->sizeclass, c16);
    assert_ptr_equal(run_of(B), rb);
    assert_int_equal(rb->kind, XA_RUN_LARGE);
    assert_int_equal(a->nactive, active);
    assert_int_equal(a->large_allocated, allocated);

    /* Neighbour free: grows in place over it. */
    memset(A, 0x3c, 16384);
    large_free(a, B);
    active -= 4;
    allocated -= 16384;
    assert_true(xa_arena_large_resize(a, r, c32));
    assert_int_equal(r->npages, 8);
    assert_int_equal(r->sizeclass, c32);
    assert_ptr_equal(r->addr, A);
    assert_ptr_equal(run_of(A), r);                  /* first and last pages mapped */
    assert_ptr_equal(run_of(A + 7 * XA_PAGE), r);
    assert_int_equal(a->nactive, active + 4);
    assert_int_equal(a->large_allocated, allocated + 16384);
    assert_int_equal(a->ndirty, 0);                  /* B's pages are in use again */
    assert_int_equal((unsigned char)A[16383], 0x3c);
    memset(A, 0x3d, 32768);

    /* Now C is right behind: growing further fails. */
    assert_false(xa_arena_large_resize(a, r, c40));
    assert_int_equal(r->npages, 8);
    assert_int_equal(r->sizeclass, c32);
    assert_int_equal(a->nactive, active + 4);

    /* Shrink in place: the tail becomes a free (dirty) run. */
    assert_true(xa_arena_large_resize(a, r, c16));
    assert_int_equal(r->npages, 4);
    assert_int_equal(r->sizeclass, c16);
    assert_int_equal(a->nactive, active);
    assert_int_equal(a->large_allocated, allocated);
    xa_run *tail = run_of(A + 16384);
    assert_int_equal(tail->kind, XA_RUN_FREE);
    assert_int_equal(tail->npages, 4);
    assert_int_equal(a->ndirty, 4);
    assert_null(xa_lookup_fast(A + 16384));

    /* A free neighbour that is too small (4 pages for 6 more) is no help. */
    assert_false(xa_arena_large_resize(a, r, c40));
    assert_int_equal(r->npages, 4);
    assert_int_equal(r->sizeclass, c16);
    assert_int_equal(run_of(A + 16384)->kind, XA_RUN_FREE);
    assert_int_equal(a->nactive, active);
    assert_int_equal(a->ndirty, 4);

    /* Grow into part of the free neighbour: the rest stays free. */
    assert_true(xa_arena_large_resize(a, r, c20));
    assert_int_equal(r->npages, 5);
    tail = run_of(A + 20480);
    assert_int_equal(tail->kind, XA_RUN_FREE);
    assert_int_equal(tail->npages, 3);
    assert_ptr_equal(run_of(C - 1), tail);
    assert_int_equal(a->ndirty, 3);
    assert_int_equal(a->nactive, active + 1);

    large_free(a, A);
    large_free(a, C);
    large_free(a, G);
    assert_int_equal(a->nactive, 0);
    assert_int_equal(a->large_allocated, 0);
}

/* At the end of a chunk, growth past the last page is refused even though
 * a (too small) free neighbour exists; growth within it succeeds. */
static void test_resize_chunk_end(void **state)
{
    xa_arena *a = fresh_arena();
    /* 512 + 448 + 56 + 4 pages = 1020 of the 1022 usable: 2 pages left. */
    char *p1 = large(a, 2097152, XA_PAGE), *p2 = large(a, 1835008, XA_PAGE);
    char *p3 = large(a, 229376, XA_PAGE), *p4 = large(a, 16384, XA_PAGE);
    assert_int_equal(a->nchunks, 1);
    assert_int_equal(xa_page_of(p4), XA_CHUNK_PAGES - 6);
    xa_run *r = run_of(p4);
    assert_false(xa_arena_large_resize(a, r, class_of_size(28672)));   /* 7 pages: past the end */
    assert_int_equal(r->npages, 4);
    assert_true(xa_arena_large_resize(a, r, class_of_size(24576)));    /* 6 pages: the last two */
    assert_int_equal(r->npages, 6);
    assert_ptr_equal(run_of((char *)xa_chunk_of(p4) + XA_CHUNK - 1), r);
    assert_false(xa_arena_large_resize(a, r, class_of_size(28672)));
    large_free(a, p1);
    large_free(a, p2);
    large_free(a, p3);
    large_free(a, p4);
    assert_int_equal(a->nactive, 0);
    assert_int_equal(a->nchunks, 1);
}

/* Free pages never pass for live blocks, however they were merged: the
 * stale map entries inside a free run may name descriptors that were
 * freed (merged away) and recycled by the base allocator; those must read
 * as dead. */
static void check_no_live_block_in(char *from, char *to)
{
    for (char *p = from; p < to; p += XA_PAGE) {
        xa_run *r = xa_lookup_fast(p);
        if (r != NULL)
            fail_msg("xa_lookup_fast(%p) (page %u, free) returns descriptor %p: kind %u class %u "
                     "addr %p npages %u", (void *)p, xa_page_of(p), (void *)r, r->kind,
                     r->sizeclass, (void *)r->addr, r->npages);
    }
    for (char *p = from; p < to; p += XA_PAGE)
        if (xa_owns(p))
            fail_msg("xa_owns(%p) (page %u, free) is true", (void *)p, xa_page_of(p));
}

/* Deterministic case (a regression test): B absorbs the free run A, A's
 * descriptor goes to the otherwise empty base free list while A's interior
 * pages still map to it. When the free-list link overwrote its first word
 * it read as kind 0, class 0 with addr/npages still covering A, so page
 * starts passed the region test and the bitmap read landed on zeroed
 * memory: "taken", a live 8-byte block. */
static void test_stale_descriptor_lookup(void **state)
{
    xa_arena *a = fresh_arena();
    char *A = large(a, 16384, XA_PAGE), *B = large(a, 32768, XA_PAGE);
    char *G = large(a, 16384, XA_PAGE);
    /* Head and tail both non-empty: takes the one recycled descriptor and
     * a fresh one, leaving the base free list empty. */
    char *H = large(a, 16384, 65536);
    large_free(a, A);
    large_free(a, B);                  /* merges A: A's descriptor is freed */
    check_no_live_block_in(A, G);
    large_free(a, G);
    large_free(a, H);
}

/* The practical face of the same hazard: a double free of a region whose
 * slab was released and merged away must be caught (the lookup once
 * succeeded with a stale class-0 descriptor, so free cached a page of a
 * free run as an 8-byte block). */
static void test_double_free_released_slab(void **state)
{
    xa_arena *a = fresh_arena();
    unsigned c = xa_small_class(4096);               /* 8-page slabs, page-aligned regions */
    assert_int_equal(xa_slab_geom_of[c].nregs, 8);
    char *L = large(a, 16384, XA_PAGE);
    void *s1[8], *s2[8];
    assert_int_equal(fill(a, c, s1, 8), 8);          /* slab S1, right after L */
    assert_int_equal(fill(a, c, s2, 8), 8);          /* S2 becomes the current slab */
    char *H = large(a, 16384, 65536);                /* empties the descriptor free list */
    void *tmp[8];
    memcpy(tmp, s1, sizeof tmp);                     /* small_free may reuse its array */
    xa_arena_small_free(a, c, tmp, 8);               /* S1 empty, not current: released */
    large_free(a, L);                                /* L's run absorbs S1's: descriptor freed */
    for (int i = 0; i < 8; i++) {
        xa_run *r = xa_lookup_fast(s1[i]);
        if (r != NULL)
            fail_msg("double free of %p (region %d of a released slab) not detected: lookup "
                     "gives descriptor %p, kind %u class %u, usable size %zu", s1[i], 7 - i,
                     (void *)r, r->kind, r->sizeclass, xa_usable_size(s1[i]));
    }
    xa_arena_small_free(a, c, s2, 8);
    large_free(a, H);
}

static void test_free_pages_not_live(void **state)
{
    /* Merge from the right: B absorbs the free run A. */
    xa_arena *a = fresh_arena();
    char *A = large(a, 16384, XA_PAGE), *B = large(a, 32768, XA_PAGE);
    char *G1 = large(a, 16384, XA_PAGE);
    assert_ptr_equal(G1, A + 49152);                 /* consecutive in a fresh chunk */
    large_free(a, A);
    large_free(a, B);
    check_no_live_block_in(A, G1);
    large_free(a, G1);

    /* Merge from the left and on both sides. */
    a = fresh_arena();
    char *C = large(a, 16384, XA_PAGE), *D = large(a, 40960, XA_PAGE);
    char *E = large(a, 16384, XA_PAGE), *G2 = large(a, 16384, XA_PAGE);
    assert_ptr_equal(G2, C + 16384 + 40960 + 16384);
    large_free(a, D);
    large_free(a, C);
    large_free(a, E);
    check_no_live_block_in(C, G2);
    large_free(a, G2);

    /* Released slabs merged with each other (all but the current one). */
    a = fresh_arena();
    unsigned c = xa_small_class(2048);
    unsigned nregs = xa_slab_geom_of[c].nregs;
    void **out = malloc(4 * nregs * sizeof *out);
    assert_int_equal(fill(a, c, out, 4 * nregs), 4 * nregs);
    char *lo = out[4 * nregs - 1], *hi = lo;
    for (unsigned i = 0; i < 4 * nregs; i++) {
        if ((char *)out[i] < lo) lo = out[i];
        if ((char *)out[i] > hi) hi = out[i];
    }
    xa_run *cur = a->bins[c].cur;
    xa_arena_small_free(a, c, out, 4 * nregs);
    assert_int_equal(a->bins[c].nslabs, 1);
    for (char *p = (char *)XA_ALIGN_DOWN((uintptr_t)lo, XA_PAGE); p <= hi; p += XA_PAGE)
        if (p < cur->addr || p >= cur->addr + cur->npages * XA_PAGE)
            check_no_live_block_in(p, p + XA_PAGE);
    free(out);
}

/* ---- accounting and purge ---------------------------------------------- */

static void test_dirty_and_purge(void **state)
{
    xa_arena *a = fresh_arena();
    char *A = large(a, 16384, XA_PAGE), *B = large(a, 32768, XA_PAGE);
    char *C = large(a, 16384, XA_PAGE), *D = large(a, 16384, XA_PAGE);
    char *E = large(a, 16384, XA_PAGE);
    assert_int_equal(a->nactive, 4 + 8 + 4 + 4 + 4);
    assert_int_equal(a->ndirty, 0);
    memset(B, 0xbb, 32768);
    memset(D, 0xdd, 16384);

    large_free(a, B);
    assert_int_equal(a->ndirty, 8);
    assert_int_equal(a->nactive, 16);
    large_free(a, D);
    assert_int_equal(a->ndirty, 12);
    assert_int_equal(a->nactive, 12);

    uint64_t calls = a->npurge_calls, pages = a->npurged_pages;
    assert_int_equal(purge(a), 12);
    assert_int_equal(a->ndirty, 0);
    assert_null(a->dirty_oldest);
    assert_null(a->dirty_newest);
    assert_int_equal(a->npurge_calls, calls + 1);
    assert_int_equal(a->npurged_pages, pages + 12);
    /* Purged pages read as zero. */
    for (size_t i = 0; i < 32768; i += 256)
        assert_int_equal(B[i], 0);
    assert_int_equal(purge(a), 0);     /* nothing left */

    /* A purged run is handed out as known zero. */
    bool zeroed = false;
    char *D2 = xa_arena_large_alloc(a, class_of_size(16384), XA_PAGE, &zeroed);
    assert_ptr_equal(D2, D);                          /* best fit: the 4-page hole */
    assert_true(zeroed);
    for (size_t i = 0; i < 16384; i += 256)
        assert_int_equal(D2[i], 0);

    /* Slabs count as active pages too. */
    unsigned c = xa_small_class(1024);
    size_t before = a->nactive;
    void *blk;
    assert_int_equal(fill(a, c, &blk, 1), 1);
    assert_int_equal(a->nactive, before + xa_slab_geom_of[c].pages);
    xa_arena_small_free(a, c, &blk, 1);                /* current slab: kept */
    assert_int_equal(a->nactive, before + xa_slab_geom_of[c].pages);

    large_free(a, A);
    large_free(a, C);
    large_free(a, D2);
    large_free(a, E);
    purge(a);
    assert_int_equal(a->ndirty, 0);
    assert_int_equal(a->nactive, xa_slab_geom_of[c].pages);
}

/* Dirty runs are reused before clean ones, even when a clean run fits
 * better: their pages are already faulted in. */
static void test_dirty_before_clean(void **state)
{
    xa_arena *a = fresh_arena();
    char *A = large(a, 16384, XA_PAGE), *B = large(a, 32768, XA_PAGE);
    char *C = large(a, 16384, XA_PAGE), *D = large(a, 16384, XA_PAGE);
    char *E = large(a, 16384, XA_PAGE);
    large_free(a, D);
    purge(a);                          /* D: a clean 4-page hole */
    large_free(a, B);                                 /* B: a dirty 8-page hole */
    assert_int_equal(a->ndirty, 8);

    bool zeroed = true;
    char *X = xa_arena_large_alloc(a, class_of_size(16384), XA_PAGE, &zeroed);
    assert_ptr_equal(X, B);                           /* not the exact clean fit D */
    assert_false(zeroed);
    assert_int_equal(a->ndirty, 4);

    /* Nothing dirty fits 5 pages: clean memory, known zero. */
    char *Y = xa_arena_large_alloc(a, class_of_size(20480), XA_PAGE, &zeroed);
    assert_true(zeroed);
    assert_true(Y != B + 16384);
    assert_int_equal(a->ndirty, 4);

    large_free(a, A);
    large_free(a, C);
    large_free(a, E);
    large_free(a, X);
    large_free(a, Y);
    assert_int_equal(a->nactive, 0);
}

/* A dirty tail shorter than any run stays with the run cut before it
 * instead of lingering as dirty pages nothing can use; clean tails are
 * split off as before. The kept pages are the run's: an in-place resize
 * to a class that size succeeds, freeing returns them all, and in a slab
 * they hold no region a free could take for one. */
static void test_dirty_sliver_kept(void **state)
{
    xa_arena *a = fresh_arena();
    char *A = large(a, 16384, XA_PAGE), *B = large(a, 28672, XA_PAGE);
    char *C = large(a, 16384, XA_PAGE), *E = large(a, 20480, XA_PAGE);
    char *D = large(a, 16384, XA_PAGE);
    size_t active = a->nactive;
    large_free(a, B);                                 /* a dirty 7-page hole */
    assert_int_equal(a->ndirty, 7);

    char *X = large(a, 16384, XA_PAGE);
    assert_ptr_equal(X, B);
    xa_run *r = run_of(X);
    assert_int_equal(r->npages, 7);                   /* 4 asked, the 3 after kept */
    assert_int_equal(a->ndirty, 0);
    assert_int_equal(a->nactive, active);
    assert_true(xa_arena_large_resize(a, r, class_of_size(28672)));
    assert_int_equal(r->npages, 7);
    assert_int_equal(r->sizeclass, class_of_size(28672));
    memset(X, 1, 28672);
    assert_true(xa_arena_large_resize(a, r, class_of_size(20480)));
    assert_int_equal(r->npages, 5);                   /* shrinking gives the rest back */
    assert_int_equal(a->ndirty, 2);
    large_free(a, X);
    assert_int_equal(a->ndirty, 7);                   /* merged again */

    /* A slab cut from a dirty 5-page hole keeps the fifth page and cuts
     * regions there too: a quarter more than its class's 4-page slabs.
     * They are handed out, written, validated and taken back like the
     * others; the end of the run is the end of the last region. */
    large_free(a, E);
    unsigned c16 = class_of_size(16);
    assert_int_equal(xa_slab_geom_of[c16].pages, 4);
    unsigned n16 = 5 * XA_PAGE / 16;
    void **p = malloc(n16 * sizeof *p);
    assert_int_equal(fill(a, c16, p, n16), n16);
    xa_run *s = run_of(p[0]);
    assert_ptr_equal(s->addr, E);
    assert_int_equal(s->npages, 5);
    assert_int_equal(s->nregs, n16);
    assert_int_equal(s->nfree, 0);
    assert_int_equal(a->bins[c16].nslabs, 1);
    check_regions(a, c16, p, n16);
    assert_int_equal(xa_slab_region_of(s, E + 4 * XA_PAGE), 4 * XA_PAGE / 16);
    assert_int_equal(xa_slab_region_of(s, E + 5 * XA_PAGE - 16), n16 - 1);
    assert_int_equal(xa_slab_region_of(s, E + 5 * XA_PAGE), -1);
    for (unsigned i = 0; i < n16; i++)
        memset(p[i], (int)i, 16);
    for (unsigned i = 0; i < n16; i++)
        assert_int_equal(((unsigned char *)p[i])[15], (unsigned char)i);
    xa_arena_small_free(a, c16, p, n16);
    assert_int_equal(s->nfree, n16);
    free(p);
    xa_arena_release_empty_slabs(a);

    /* Clean pages are not kept: a clean 7-page hole gives 4 and leaves 3. */
    purge(a);
    char *Y = large(a, 16384, XA_PAGE);
    assert_int_equal(run_of(Y)->npages, 4);

    large_free(a, A);
    large_free(a, C);
    large_free(a, D);
    large_free(a, Y);
    assert_int_equal(a->nactive, 0);
}

/* An arena that takes clean pages (resident size grows) makes other
 * arenas give back the dirty pages they hold beyond half their active
 * ones, as many as it took, oldest first; up to half their active pages
 * they keep for their own reuse. */
static void test_growth_settles_other_arenas(void **state)
{
    xa_arena *a = fresh_arena(), *b = fresh_arena();
    enum { N = 8 };
    char *x[N], *s[N];
    for (int i = 0; i < N; i++) {
        x[i] = large(b, 128 * KiB, XA_PAGE);        /* 32 pages */
        s[i] = large(b, 64 * KiB, XA_PAGE);         /* 16: keeps the x runs apart */
    }
    for (int i = 0; i < N; i++)
        large_free(b, x[i]);                        /* x[0] the oldest */
    assert_int_equal(b->nactive, N * 16);
    assert_int_equal(b->ndirty, N * 32);            /* under b's share of the floor */

    /* decay -1: nothing is ever purged, settling included. */
    long decay = xa_opt.dirty_decay_ms;
    xa_opt.dirty_decay_ms = -1;
    char *y0 = large(a, 64 * KiB, XA_PAGE);
    assert_int_equal(b->ndirty, N * 32);
    xa_opt.dirty_decay_ms = decay;

    /* a takes 64 clean pages: b's two oldest runs go back. */
    char *y1 = large(a, 256 * KiB, XA_PAGE);
    assert_int_equal(b->ndirty, N * 32 - 64);
    for (int i = 0; i < N; i++) {
        xa_run *r = run_of(x[i]);
        assert_int_equal(r->kind, XA_RUN_FREE);
        assert_int_equal(r->dirty, i >= 2);
    }

    /* a takes 256 more: b gives back 128, down to half its active pages. */
    char *y2 = large(a, MiB, XA_PAGE);
    assert_int_equal(b->ndirty, b->nactive / 2);
    assert_int_equal(b->ndirty, 64);

    large_free(a, y0);
    large_free(a, y1);
    large_free(a, y2);
    for (int i = 0; i < N; i++)
        large_free(b, s[i]);
    assert_int_equal(a->nactive, 0);
    assert_int_equal(b->nactive, 0);
}

/* ---- the lookup against an oracle ---------------------------------------- */

/* The blocks a test holds, and every chunk they came from. */
typedef struct {
    void *p[4096];
    unsigned n;
    char *chunks[16];
    unsigned nchunks;
} held;

static void hold(held *h, void *p)
{
    assert_true(h->n < 4096);
    h->p[h->n++] = p;
    char *ch = (char *)xa_chunk_of(p);
    for (unsigned i = 0; i < h->nchunks; i++)
        if (h->chunks[i] == ch)
            return;
    assert_true(h->nchunks < 16);
    h->chunks[h->nchunks++] = ch;
}

static void *unhold(held *h, unsigned i)
{
    void *p = h->p[i];
    h->p[i] = h->p[--h->n];
    return p;
}

static uint64_t oracle_rng = 0x9e3779b97f4a7c15u;

static unsigned below(unsigned n)
{
    return (unsigned)(test_xorshift(&oracle_rng) % n);
}

/* Whether free's fast path would take p as a live block: its validation
 * (no bitmap) passes and a small block does not hold the free mark. */
static bool free_fast_takes(const void *p)
{
    xa_run *r = xa_freed_run(xa_map_entry_of(xa_chunk_of(p), p), p);
    return r != NULL && (r->sizeclass >= XA_NSMALL || !xa_block_marked(p));
}

/* Every 4-byte step of every chunk the test used, header pages included:
 * the lookup (which free, realloc and malloc_usable_size rely on) finds a
 * live block exactly where a held block starts, and free's fast path
 * takes nothing else (a free region holds the free mark or lies past its
 * slab's high-water mark). */
static void scan_against_oracle(held *h)
{
    void **sorted = malloc(h->n * sizeof *sorted);
    memcpy(sorted, h->p, h->n * sizeof *sorted);
    qsort(sorted, h->n, sizeof *sorted, cmp_ptr);
    for (unsigned k = 0; k < h->nchunks; k++) {
        for (size_t off = 0; off < XA_CHUNK; off += 4) {
            char *p = h->chunks[k] + off;
            bool want = bsearch(&p, sorted, h->n, sizeof *sorted, cmp_ptr) != NULL;
            bool got = xa_lookup_fast(p) != NULL;
            if (got != want) {
                xa_run *r = off >= XA_HEADER_PAGES * XA_PAGE ? run_of(p) : NULL;
                fail_msg("lookup of %p (page %zu, offset %zu): %s, expected %s; map entry: "
                         "kind %u class %u run %p + %u pages, %u regions",
                         (void *)p, off / XA_PAGE, off % XA_PAGE, got ? "live" : "not live",
                         want ? "live" : "not live", r ? r->kind : 0, r ? r->sizeclass : 0,
                         r ? (void *)r->addr : NULL, r ? r->npages : 0, r ? r->nregs : 0);
            }
            if (!want && free_fast_takes(p)) {
                xa_run *r = run_of(p);
                fail_msg("free's fast path takes %p (page %zu, offset %zu), not live: run %p "
                         "class %u, %u regions, high-water mark %u", (void *)p, off / XA_PAGE,
                         off % XA_PAGE, (void *)r->addr, r->sizeclass, r->nregs, r->hwm);
            }
        }
    }
    free(sorted);
}

static void free_held(xa_arena *a, held *h, unsigned i)
{
    void *p = unhold(h, i);
    xa_run *r = run_of(p);
    if (r->kind == XA_RUN_LARGE)
        xa_arena_large_free(a, r);
    else
        xa_arena_small_free(a, r->sizeclass, &p, 1);
}

/* Slabs of every class part freed, slabs released and their pages reused by
 * large runs (over stale entries), large runs resized and freed, slabs cut
 * again over those pages: after each phase, no interior, tail, header,
 * freed or stale-entry address passes for a block, and every block does. */
static void test_lookup_matches_oracle(void **state)
{
    xa_arena *a = fresh_arena();
    held *h = calloc(1, sizeof *h);
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        unsigned n = 1 + below(2 * xa_slab_geom_of[c].nregs);
        n = n > 48 ? 48 : n;
        for (unsigned i = 0; i < n; i++) {
            void *p;
            assert_int_equal(fill(a, c, &p, 1), 1);
            hold(h, p);
        }
    }
    for (unsigned i = 0; i < h->n; i++)
        if (below(3) == 0)
            free_held(a, h, i--);
    scan_against_oracle(h);

    /* Release whole slabs: free every block of half the classes. */
    for (unsigned i = 0; i < h->n; i++) {
        xa_run *r = run_of(h->p[i]);
        if (r->sizeclass % 2 == 0)
            free_held(a, h, i--);
    }
    xa_arena_release_empty_slabs(a);
    /* Large runs over those pages, some resized, some freed. */
    for (unsigned i = 0; i < 24; i++) {
        size_t size = (size_t)(4 + below(28)) * XA_PAGE;
        hold(h, large(a, xa_class_size[xa_size_class(size)], XA_PAGE));
    }
    for (unsigned i = 0; i < h->n; i++) {
        xa_run *r = run_of(h->p[i]);
        if (r->kind != XA_RUN_LARGE)
            continue;
        unsigned k = below(4);
        if (k == 0)
            free_held(a, h, i--);
        else if (k == 1)
            xa_arena_large_resize(a, r, xa_size_class((size_t)r->npages * XA_PAGE / 2));
        else if (k == 2)
            xa_arena_large_resize(a, r, xa_size_class((size_t)r->npages * XA_PAGE * 2));
    }
    scan_against_oracle(h);

    /* Slabs again, over pages with stale entries. */
    for (unsigned c = 0; c < XA_NSMALL; c += 3)
        for (unsigned i = 0; i < 16; i++) {
            void *p;
            assert_int_equal(fill(a, c, &p, 1), 1);
            hold(h, p);
        }
    scan_against_oracle(h);

    while (h->n)
        free_held(a, h, 0);
    xa_arena_release_empty_slabs(a);
    assert_int_equal(a->nactive, 0);
    free(h);
}

/* Past the one retained empty chunk, empty chunks are unmapped. */
static void test_empty_chunks_unmapped(void **state)
{
    xa_arena *a = fresh_arena();
    /* 512 + 448 + 56 + 6 pages fill the 1022 usable pages of a chunk
     * exactly: three chunks, each emptied in turn. */
    static const size_t sizes[4] = { 2097152, 1835008, 229376, 24576 };
    char *p[3][4];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 4; k++) {
            p[i][k] = large(a, sizes[k], XA_PAGE);
            memset(p[i][k], i, 4096);
            assert_ptr_equal(xa_chunk_of(p[i][k]), xa_chunk_of(p[i][0]));
        }
    assert_int_equal(a->nchunks, 3);
    assert_int_equal(a->nempty_chunks, 0);
    xa_chunk *ch[3] = { xa_chunk_of(p[0][0]), xa_chunk_of(p[1][0]), xa_chunk_of(p[2][0]) };
    assert_true(ch[0] != ch[1] && ch[1] != ch[2] && ch[0] != ch[2]);

    /* A chunk may only count as empty once its free pages form one run;
     * purging (dirty pages become clean ones) completes any merging. */
    for (int k = 0; k < 4; k++)
        large_free(a, p[0][k]);                        /* first empty chunk: retained */
    purge(a);
    assert_int_equal(a->nchunks, 3);
    assert_int_equal(a->nempty_chunks, 1);
    assert_true(xa_registry_has(ch[0]));
    for (int k = 0; k < 4; k++)
        large_free(a, p[1][k]);
    purge(a);
    assert_int_equal(a->nchunks, 2);
    assert_int_equal(a->nempty_chunks, 1);
    assert_false(xa_registry_has(ch[1]));
    for (int k = 0; k < 4; k++)
        large_free(a, p[2][k]);
    purge(a);
    assert_int_equal(a->nchunks, 1);
    assert_false(xa_registry_has(ch[2]));
    assert_true(xa_registry_has(ch[0]));
    assert_int_equal(a->nactive, 0);

    /* The retained chunk serves the next request without mapping. */
    char *q = large(a, 2097152, XA_PAGE);
    assert_ptr_equal(q, p[0][0]);
    assert_int_equal(a->nchunks, 1);
    assert_int_equal(a->nempty_chunks, 0);
    large_free(a, q);
    purge(a);
    assert_int_equal(a->nempty_chunks, 1);
    assert_int_equal(a->nchunks, 1);

    /* Slabs spread over three chunks, all freed: one chunk keeps the
     * current slab, one empty chunk stays, the other goes (at the latest
     * once the dirty pages are purged). */
    unsigned c = xa_small_class(4096);
    unsigned nregs = xa_slab_geom_of[c].nregs, pages = xa_slab_geom_of[c].pages;
    unsigned want = (2 * XA_USABLE_PAGES / pages + 2) * nregs;
    void **out = malloc(want * sizeof *out);
    assert_int_equal(fill(a, c, out, want), want);
    assert_int_equal(a->nchunks, 3);
    xa_arena_small_free(a, c, out, want);
    purge(a);
    assert_int_equal(a->nchunks, 2);
    assert_int_equal(a->nempty_chunks, 1);
    assert_int_equal(a->nactive, pages);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_small_fill_free_refill, clean_slate),
        cmocka_unit_test_setup(test_small_fill_order, clean_slate),
        cmocka_unit_test_setup(test_small_nonfull, clean_slate),
        cmocka_unit_test_setup(test_small_remote_free, clean_slate),
        cmocka_unit_test_setup(test_small_take_from_other_arenas, clean_slate),
        cmocka_unit_test_setup(test_large_each_class, clean_slate),
        cmocka_unit_test_setup(test_large_alignment, clean_slate),
        cmocka_unit_test_setup(test_coalesce, clean_slate),
        cmocka_unit_test_setup(test_resize, clean_slate),
        cmocka_unit_test_setup(test_resize_chunk_end, clean_slate),
        cmocka_unit_test_setup(test_stale_descriptor_lookup, clean_slate),
        cmocka_unit_test_setup(test_double_free_released_slab, clean_slate),
        cmocka_unit_test_setup(test_free_pages_not_live, clean_slate),
        cmocka_unit_test_setup(test_dirty_and_purge, clean_slate),
        cmocka_unit_test_setup(test_dirty_before_clean, clean_slate),
        cmocka_unit_test_setup(test_dirty_sliver_kept, clean_slate),
        cmocka_unit_test_setup(test_growth_settles_other_arenas, clean_slate),
        cmocka_unit_test_setup(test_lookup_matches_oracle, clean_slate),
        cmocka_unit_test_setup(test_empty_chunks_unmapped, clean_slate),
    };
    return cmocka_run_group_tests(tests, setup_no_decay, teardown_no_decay);
}
