/* Slabs on a hand-built run: init, take, region lookup, put. The run's
 * pages are a private mapping and the descriptor comes from libc, so the
 * slab code is exercised without any arena. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "slab.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static int setup(void **state)
{
    xa_sizeclass_init();
    return 0;
}

typedef struct fixture {
    xa_run *r;
    char *pages;
    size_t bytes;
} fixture;

/* A slab of class c over fresh pages, the way the arena sets one up:
 * kind, addr, npages and page first, then xa_slab_init. */
static fixture make(unsigned c)
{
    fixture f;
    const xa_slab_geom *g = &xa_slab_geom_of[c];
    f.bytes = (size_t)g->pages * XA_PAGE;
    f.pages = mmap(NULL, f.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(f.pages != MAP_FAILED);
    size_t dsize = xa_slab_desc_size(g->nregs);
    f.r = aligned_alloc(16, XA_ALIGN_UP(dsize, 16));
    assert_non_null(f.r);
    memset(f.r, 0xa5, dsize);          /* xa_slab_init must set what it uses */
    f.r->kind = XA_RUN_SLAB;
    f.r->addr = f.pages;
    f.r->npages = g->pages;
    f.r->page = XA_HEADER_PAGES;
    xa_slab_init(f.r, c);
    return f;
}

static void unmake(fixture *f)
{
    munmap(f->pages, f->bytes);
    free(f->r);
}

static void test_init(void **state)
{
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        fixture f = make(c);
        xa_run *r = f.r;
        assert_int_equal(r->kind, XA_RUN_SLAB);
        assert_int_equal(r->sizeclass, c);
        assert_int_equal(r->nregs, xa_slab_geom_of[c].nregs);
        assert_int_equal(r->nfree, r->nregs);
        assert_true(xa_bitmap_any(&r->bitmap));
        for (unsigned i = 0; i < r->nregs; i++)
            assert_true(xa_bitmap_is_free(&r->bitmap, i));
        unmake(&f);
    }
}

/* Taking everything yields each region once, in address order, inside the
 * run, on region boundaries; then nothing more. */
static void test_take_all(void **state)
{
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        fixture f = make(c);
        xa_run *r = f.r;
        size_t size = xa_class_size[c];
        unsigned nregs = r->nregs;
        void **out = calloc(nregs + 8, sizeof *out);
        /* In two batches, the second asking for more than is left. */
        unsigned first = nregs / 3;
        assert_int_equal(xa_slab_take(r, out, first), first);
        assert_int_equal(r->nfree, nregs - first);
        assert_int_equal(xa_slab_take(r, out + first, nregs + 8), nregs - first);
        assert_int_equal(r->nfree, 0);
        assert_false(xa_bitmap_any(&r->bitmap));
        for (unsigned i = 0; i < nregs; i++) {
            char *p = out[i];
            assert_ptr_equal(p, f.pages + (size_t)i * size);     /* lowest first, distinct */
            assert_true(p >= f.pages && p + size <= f.pages + f.bytes);
            assert_int_equal((uintptr_t)p % (size >= 16 ? 16 : 8), 0);
            assert_false(xa_bitmap_is_free(&r->bitmap, i));
            memset(p, (int)i, size);                              /* really usable */
        }
        assert_int_equal(xa_slab_take(r, out, 4), 0);
        free(out);
        unmake(&f);
    }
}

static void test_region_of(void **state)
{
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        fixture f = make(c);
        xa_run *r = f.r;
        size_t size = xa_class_size[c];
        for (unsigned i = 0; i < r->nregs; i++) {
            char *p = f.pages + (size_t)i * size;
            assert_int_equal(xa_slab_region_of(r, p), (int)i);
            /* Interior bytes are never region starts. */
            assert_int_equal(xa_slab_region_of(r, p + 1), -1);
            assert_int_equal(xa_slab_region_of(r, p + size / 2), -1);
            assert_int_equal(xa_slab_region_of(r, p + size - 1), -1);
        }
        /* Outside the run, and the tail behind the last region. */
        assert_int_equal(xa_slab_region_of(r, f.pages - 1), -1);
        assert_int_equal(xa_slab_region_of(r, f.pages - size), -1);
        assert_int_equal(xa_slab_region_of(r, f.pages + f.bytes), -1);
        assert_int_equal(xa_slab_region_of(r, f.pages + f.bytes + size), -1);
        size_t tail = (size_t)r->nregs * size;
        if (tail < f.bytes)
            assert_int_equal(xa_slab_region_of(r, f.pages + tail), -1);
        unmake(&f);
    }
}

/* put frees once, refuses a second time without touching anything, and
 * freed regions come back lowest first. */
static void test_put(void **state)
{
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        fixture f = make(c);
        xa_run *r = f.r;
        size_t size = xa_class_size[c];
        unsigned nregs = r->nregs;
        void **out = calloc(nregs, sizeof *out);
        assert_int_equal(xa_slab_take(r, out, nregs), nregs);

        unsigned picks[3] = { nregs - 1, nregs / 2, 0 };   /* freed high to low */
        unsigned nput = 0, done[3];
        for (unsigned k = 0; k < 3; k++) {
            unsigned idx = picks[k];
            if (xa_bitmap_is_free(&r->bitmap, idx))
                continue;                                  /* same index twice when nregs is tiny */
            assert_true(xa_slab_put(r, idx));
            done[nput++] = idx;
            assert_int_equal(r->nfree, nput);
            assert_true(xa_bitmap_is_free(&r->bitmap, idx));
            uint64_t summary = r->bitmap.summary;
            assert_false(xa_slab_put(r, idx));             /* double put */
            assert_int_equal(r->nfree, nput);
            assert_int_equal(r->bitmap.summary, summary);
        }
        void *back[3];
        assert_int_equal(xa_slab_take(r, back, 3), nput);
        for (unsigned k = 0; k < nput; k++)
            assert_ptr_equal(back[k], f.pages + (size_t)done[nput - 1 - k] * size);
        assert_int_equal(r->nfree, 0);

        /* Put everything back: the slab is empty again. */
        for (unsigned i = 0; i < nregs; i++)
            assert_true(xa_slab_put(r, (unsigned)xa_slab_region_of(r, out[i])));
        assert_int_equal(r->nfree, nregs);
        for (unsigned i = 0; i < nregs; i++)
            assert_false(xa_slab_put(r, i));
        assert_int_equal(r->nfree, nregs);
        free(out);
        unmake(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_take_all),
        cmocka_unit_test(test_region_of),
        cmocka_unit_test(test_put),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
