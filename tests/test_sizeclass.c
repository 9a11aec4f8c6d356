/* Size classes: the table, the size -> class mapping, waste bounds, slab
 * geometry and the division-free region index. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sizeclass.h"
#include "bitmap.h"

#include <stdio.h>

/* The design's table, written out independently of sizeclass.c. */
static const uint32_t small_expected[XA_NSMALL] = {
    8, 16, 32, 48, 64, 80, 96, 112, 128,
    160, 192, 224, 256,
    320, 384, 448, 512,
    640, 768, 896, 1024,
    1280, 1536, 1792, 2048,
    2560, 3072, 3584, 4096,
    5120, 6144, 7168, 8192,
    10240, 12288, 14336,
};

static int setup(void **state)
{
    xa_sizeclass_init();
    return 0;
}

static void test_table(void **state)
{
    for (unsigned c = 0; c < XA_NSMALL; c++)
        assert_int_equal(xa_class_size[c], small_expected[c]);
    assert_int_equal(xa_class_size[XA_NSMALL - 1], XA_SMALL_MAX);

    /* Large: 16 KiB, then 4 per doubling (2^k * 5/4, 6/4, 7/4, 8/4) up to 2 MiB. */
    unsigned c = XA_NSMALL;
    assert_int_equal(xa_class_size[c++], XA_LARGE_MIN);
    for (unsigned k = 14; k < 21; k++)
        for (unsigned i = 5; i <= 8; i++)
            assert_int_equal(xa_class_size[c++], ((uint32_t)1 << k) / 4 * i);
    assert_int_equal(c, XA_NCLASSES);
    assert_int_equal(xa_class_size[XA_NCLASSES - 1], XA_LARGE_MAX);

    for (c = XA_NSMALL; c < XA_NCLASSES; c++)
        assert_int_equal(xa_class_size[c] % XA_PAGE, 0);   /* large runs are page runs */
    for (c = 1; c < XA_NCLASSES; c++)
        assert_true(xa_class_size[c] > xa_class_size[c - 1]);
    /* Class indices must fit the uint8_t sizeclass field below XA_CLASS_NONE. */
    assert_true(XA_NCLASSES < 0xff);
    /* XA_SUBLINE_CLASSES counts the classes under a cache line. */
    assert_true(xa_class_size[XA_SUBLINE_CLASSES - 1] < XA_CACHELINE);
    assert_int_equal(xa_class_size[XA_SUBLINE_CLASSES], XA_CACHELINE);
}

/* Every size up to XA_LARGE_MAX (exhaustive: 2M sizes take milliseconds):
 * the class is the smallest one that holds it. */
static void test_size_to_class(void **state)
{
    unsigned ref = 0;
    for (size_t n = 0; n <= XA_LARGE_MAX; n++) {
        while (xa_class_size[ref] < n)
            ref++;
        unsigned c = xa_size_class(n);
        if (c != ref) {
            fprintf(stderr, "size %zu: class %u (%u bytes), expected %u (%u bytes)\n",
                    n, c, c < XA_NCLASSES ? xa_class_size[c] : 0, ref, xa_class_size[ref]);
            fail();
        }
        if (n <= XA_SMALL_MAX && xa_small_class(n) != ref)
            fail_msg("xa_small_class(%zu) = %u, expected %u", n, xa_small_class(n), ref);
    }
}

/* Above 128 bytes a block wastes at most a quarter of its size. */
static void test_internal_waste(void **state)
{
    for (size_t n = 129; n <= XA_LARGE_MAX; n++) {
        size_t cs = xa_class_size[xa_size_class(n)];
        if ((cs - n) * 4 > n)
            fail_msg("size %zu -> %zu wastes more than 25%%", n, cs);
    }
}

static void test_slab_geometry(void **state)
{
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        size_t size = xa_class_size[c];
        const xa_slab_geom *g = &xa_slab_geom_of[c];
        size_t bytes = (size_t)g->pages * XA_PAGE;
        assert_true(g->pages >= 1 && g->pages <= XA_SLAB_MAX_PAGES);
        assert_true(g->nregs >= 1);
        assert_true(g->nregs <= XA_BITMAP_MAX_BITS);
        assert_true((size_t)g->nregs * size <= bytes);
        assert_int_equal(g->nregs, bytes / size);     /* no whole region left unused */
        size_t tail = bytes - (size_t)g->nregs * size;
        if (tail * 64 > bytes) {
            /* Only allowed when no slab size does better. */
            for (size_t p = 1; p <= XA_SLAB_MAX_PAGES; p++) {
                size_t b2 = p * XA_PAGE, t2 = b2 % size;
                if (b2 / size == 0)
                    continue;
                if (t2 * bytes < tail * b2)
                    fail_msg("class %u (%zu): %u pages waste %zu, %zu pages waste only %zu",
                             c, size, g->pages, tail, p, t2);
            }
        }
    }
}

/* offset -> region index without division is exact at every byte of a
 * slab of every small class. */
static void test_region_index(void **state)
{
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        size_t size = xa_class_size[c];
        size_t bytes = (size_t)xa_slab_geom_of[c].pages * XA_PAGE;
        for (size_t off = 0; off < bytes; off++)
            if (xa_region_index(c, off) != off / size)
                fail_msg("class %u (%zu): offset %zu -> %u, expected %zu",
                         c, size, off, xa_region_index(c, off), off / size);
    }
    for (unsigned c = XA_NSMALL; c < XA_NCLASSES; c++)
        assert_int_equal(xa_region_index(c, 0), 0);
}

/* The free path's region-start test: for every class and offsets across
 * a chunk (every byte of the first MiB, then every 7th), exact exactly
 * when the offset is a multiple of the size, with the quotient as the
 * index; offsets before a run (wrapped to huge values) give an index past
 * any run's region count. */
static void test_region_exact(void **state)
{
    for (unsigned c = 0; c < XA_NCLASSES; c++) {
        size_t size = xa_class_size[c];
        uint64_t index;
        for (size_t off = 0; off < XA_CHUNK; off += off < (1u << 20) ? 1 : 7) {
            bool exact = xa_region_exact(c, off, &index);
            if (exact != (off % size == 0) || index != off / size)
                fail_msg("class %u (%zu): offset %zu -> exact %d index %llu", c, size, off,
                         exact, (unsigned long long)index);
        }
        for (size_t back = 1; back <= XA_CHUNK; back += 61) {
            xa_region_exact(c, (size_t)0 - back, &index);
            if (index < XA_BITMAP_MAX_BITS)
                fail_msg("class %u (%zu): offset -%zu -> index %llu", c, size, back,
                         (unsigned long long)index);
        }
    }
    /* Class bytes of no class (XA_CLASS_NONE in free runs and headers)
     * never start a region. */
    for (unsigned c = XA_NCLASSES; c < XA_CLASS_BYTE_VALUES; c++) {
        uint64_t index;
        for (size_t off = 0; off < XA_CHUNK; off += 4096)
            if (xa_region_exact(c, off, &index))
                fail_msg("class byte %u: offset %zu starts a region", c, off);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_size_to_class),
        cmocka_unit_test(test_internal_waste),
        cmocka_unit_test(test_slab_geometry),
        cmocka_unit_test(test_region_index),
        cmocka_unit_test(test_region_exact),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
