/* API semantics of the xalloc_ entry points: the edge cases programs rely on
 * (zero sizes, overflow, alignment arguments, realloc contents, calloc
 * zeroing, ownership queries, errno). Everything goes through the xalloc_
 * names; plain malloc in this program is glibc's and is used only as a
 * "foreign" pointer for xalloc_owns. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "testutil.h"

/* ---- helpers ------------------------------------------------------------ */

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static int is_aligned(const void *p, size_t align) {
    return ((uintptr_t)p & (align - 1)) == 0;
}

/* Byte i of a block filled with `seed` is byte (i & 7) of word(i >> 3). Word
 * based so multi-MiB blocks fill and verify quickly even at -O0; index based so
 * any prefix of a block can be checked after realloc moved it. */
static inline uint64_t pat_word(size_t w, uint64_t seed) {
    uint64_t x = ((uint64_t)w + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    return x ^ (x >> 29);
}
static inline unsigned char pat_byte(size_t i, uint64_t seed) {
    return (unsigned char)(pat_word(i >> 3, seed) >> (8 * (i & 7)));
}

static void fill(void *p, size_t n, uint64_t seed) {
    unsigned char *b = p;
    size_t i = 0;
    if (is_aligned(p, 8)) {
        uint64_t *w = p;
        for (; i + 8 <= n; i += 8) w[i >> 3] = pat_word(i >> 3, seed);
    }
    for (; i < n; i++) b[i] = pat_byte(i, seed);
}

/* Returns the first offset < n that does not hold the pattern, or SIZE_MAX. */
static size_t mismatch(const void *p, size_t n, uint64_t seed) {
    const unsigned char *b = p;
    size_t i = 0;
    if (is_aligned(p, 8)) {
        const uint64_t *w = p;
        for (; i + 8 <= n; i += 8)
            if (w[i >> 3] != pat_word(i >> 3, seed)) break;
    }
    for (; i < n; i++)
        if (b[i] != pat_byte(i, seed)) return i;
    return SIZE_MAX;
}

#define assert_pattern(p, n, seed)                                           \
    do {                                                                     \
        size_t bad_ = mismatch((p), (n), (seed));                            \
        if (bad_ != SIZE_MAX)                                                \
            fail_msg("pattern broken at offset %zu of %zu (block %p)", bad_, \
                     (size_t)(n), (void *)(p));                              \
    } while (0)

static int all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    size_t i = 0;
    if (is_aligned(p, 8))
        for (; i + 8 <= n; i += 8)
            if (*(const uint64_t *)(b + i) != 0) return 0;
    for (; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

/* A block xalloc handed out: non-NULL, owned, usable >= n, both ends writable. */
static void check_block(void *p, size_t align, size_t n) {
    assert_non_null(p);
    if (!is_aligned(p, align))
        fail_msg("%p is not %zu-aligned (size %zu)", p, align, n);
    assert_true(xalloc_owns(p));
    size_t us = xalloc_malloc_usable_size(p);
    if (us < n) fail_msg("usable size %zu < request %zu", us, n);
    /* Write both ends of the request and the last usable byte (a fault here
     * means the block is shorter than claimed), then restore them so callers
     * can still verify the contents. */
    volatile unsigned char *b = p;
    if (us) {
        unsigned char first = b[0], last = b[us - 1];
        b[0] = (unsigned char)~first;
        b[us - 1] = (unsigned char)~last;
        if (n) {
            unsigned char end = b[n - 1];
            b[n - 1] = (unsigned char)~end;
            b[n - 1] = end;
        }
        assert_int_equal(b[us - 1], (unsigned char)~last);
        b[us - 1] = last;
        b[0] = first;
    }
}

/* ---- zero sizes and NULL ------------------------------------------------ */

/* malloc(0) must give a distinct, freeable pointer each time (glibc does, and
 * programs compare such pointers or use them as keys). */
static void test_malloc_zero_unique(void **state) {
    enum { N = 256 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = xalloc_malloc(0);
        assert_non_null(p[i]);
        assert_true(xalloc_owns(p[i]));
        for (int j = 0; j < i; j++) assert_ptr_not_equal(p[i], p[j]);
    }
    for (int i = 0; i < N; i++) xalloc_free(p[i]);

    /* calloc with a zero factor behaves the same way. */
    void *a = xalloc_calloc(0, 16), *b = xalloc_calloc(16, 0), *c = xalloc_calloc(0, 0);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(b, c);
    assert_ptr_not_equal(a, c);
    xalloc_free(a);
    xalloc_free(b);
    xalloc_free(c);
}

static void test_free_null(void **state) {
    xalloc_free(NULL);
    xalloc_free_sized(NULL, 0);
    xalloc_free_sized(NULL, 100);
    xalloc_free_aligned_sized(NULL, 64, 100);
    assert_int_equal(xalloc_malloc_usable_size(NULL), 0);
    assert_false(xalloc_owns(NULL));
}

/* realloc(NULL, n) is malloc(n), for every size range. */
static void test_realloc_null_is_malloc(void **state) {
    const size_t sizes[] = {0, 1, 24, 1000, 40 * KiB, 300 * KiB, 5 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = xalloc_realloc(NULL, sizes[i]);
        check_block(p, 8, sizes[i]);
        fill(p, sizes[i], i);
        assert_pattern(p, sizes[i], i);
        xalloc_free(p);
        p = xalloc_reallocarray(NULL, 1, sizes[i]);
        check_block(p, 8, sizes[i]);
        xalloc_free(p);
    }
}

/* realloc(p, 0) frees p and returns NULL, like glibc. Freeing is verified by
 * releasing many huge blocks this way: a leak would pin ~512 MiB resident. */
static void test_realloc_zero_frees(void **state) {
    const size_t sizes[] = {1, 24, 1000, 40 * KiB, 300 * KiB, 5 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = xalloc_malloc(sizes[i]);
        assert_non_null(p);
        memset(p, 0x77, sizes[i]);
        assert_null(xalloc_realloc(p, 0));
    }
    void *warm = xalloc_malloc(8 * MiB);
    memset(warm, 1, 8 * MiB);
    assert_null(xalloc_realloc(warm, 0));
    size_t before = rss_bytes();
    for (int i = 0; i < 64; i++) {
        void *p = xalloc_malloc(8 * MiB);
        assert_non_null(p);
        memset(p, i + 1, 8 * MiB);
        assert_null(xalloc_realloc(p, 0));
    }
    size_t after = rss_bytes();
    if (after > before + 128 * MiB)
        fail_msg("realloc(p, 0) did not release memory: RSS grew %zu MiB", (after - before) / MiB);
}

/* ---- sizes that cannot be served ---------------------------------------- */

#define assert_enomem(expr)                                  \
    do {                                                     \
        errno = 0;                                           \
        void *r_ = (expr);                                   \
        if (r_ != NULL) fail_msg("%s returned %p", #expr, r_); \
        assert_int_equal(errno, ENOMEM);                     \
    } while (0)

static void test_impossible_sizes(void **state) {
    const size_t big = (size_t)PTRDIFF_MAX + 1;
    assert_enomem(xalloc_malloc(SIZE_MAX));
    assert_enomem(xalloc_malloc(SIZE_MAX - 4096));
    assert_enomem(xalloc_malloc(big));
    assert_enomem(xalloc_calloc(SIZE_MAX / 2, 3));
    assert_enomem(xalloc_calloc(3, SIZE_MAX / 2));
    /* 2^32 * 2^32 wraps to exactly 0: must not become a 0-byte block. */
    assert_enomem(xalloc_calloc((size_t)1 << 32, (size_t)1 << 32));
    assert_enomem(xalloc_calloc(1, big));
    assert_enomem(xalloc_realloc(NULL, SIZE_MAX));
    assert_enomem(xalloc_reallocarray(NULL, SIZE_MAX / 2, 3));
    /* Rounding the size up to the alignment or to a page must not wrap. */
    assert_enomem(xalloc_memalign(4096, SIZE_MAX - 100));
    assert_enomem(xalloc_aligned_alloc(64, SIZE_MAX));
    assert_enomem(xalloc_memalign(64, big));
    assert_enomem(xalloc_valloc(SIZE_MAX));
    assert_enomem(xalloc_pvalloc(SIZE_MAX));
    assert_enomem(xalloc_pvalloc(SIZE_MAX - page_size() + 2));
    /* A valid (power of two) alignment larger than any address space. */
    assert_enomem(xalloc_aligned_alloc((size_t)1 << 62, 1));

    void *p = (void *)&p;
    assert_int_equal(xalloc_posix_memalign(&p, 64, SIZE_MAX), ENOMEM);
    assert_int_equal(xalloc_posix_memalign(&p, 4096, SIZE_MAX - 100), ENOMEM);
    assert_int_equal(xalloc_posix_memalign(&p, (size_t)1 << 62, 1), ENOMEM);

    /* The allocator still works afterwards. */
    p = xalloc_malloc(100);
    check_block(p, 16, 100);
    xalloc_free(p);
}

/* A failed realloc/reallocarray leaves the original block valid and intact. */
static void test_failed_realloc_keeps_block(void **state) {
    const size_t sizes[] = {1, 24, 1000, 40 * KiB, 300 * KiB, 5 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        void *p = xalloc_malloc(n);
        assert_non_null(p);
        fill(p, n, 1000 + i);

        assert_enomem(xalloc_realloc(p, SIZE_MAX));
        assert_enomem(xalloc_realloc(p, (size_t)PTRDIFF_MAX + 1));
        assert_enomem(xalloc_reallocarray(p, SIZE_MAX / 2, 3));
        assert_enomem(xalloc_reallocarray(p, (size_t)1 << 32, (size_t)1 << 32));
        assert_true(xalloc_owns(p));
        assert_true(xalloc_malloc_usable_size(p) >= n);
        assert_pattern(p, n, 1000 + i);

        /* Still a live, resizable block. */
        void *q = xalloc_reallocarray(p, 2, n);
        check_block(q, 8, 2 * n);
        assert_pattern(q, n, 1000 + i);
        xalloc_free(q);
    }
}

/* ---- alignment ---------------------------------------------------------- */

/* posix_memalign: alignment must be a power of two multiple of sizeof(void *). */
static void test_posix_memalign_einval(void **state) {
    size_t bad[] = {0, 1, 2, 3, 24, 48, 100, 4095, 4097, ((size_t)1 << 20) + 8};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (bad[i] != 0 && (bad[i] & (bad[i] - 1)) == 0 && bad[i] % sizeof(void *) == 0)
            continue;
        void *p = NULL;
        int r = xalloc_posix_memalign(&p, bad[i], 64);
        if (r != EINVAL) fail_msg("posix_memalign(alignment %zu) returned %d, want EINVAL", bad[i], r);
    }
    if (sizeof(void *) == 8) {
        void *p = NULL;
        /* 4 is a power of two but not a multiple of sizeof(void *). */
        assert_int_equal(xalloc_posix_memalign(&p, 4, 64), EINVAL);
    }
}

/* aligned_alloc/memalign reject non-power-of-two alignments with EINVAL. */
static void test_aligned_alloc_einval(void **state) {
    size_t bad[] = {3, 5, 6, 24, 48, 100, 4095, 4097, 3 * MiB};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        errno = 0;
        void *p = xalloc_aligned_alloc(bad[i], 64);
        if (p) fail_msg("aligned_alloc(%zu, 64) returned %p", bad[i], p);
        assert_int_equal(errno, EINVAL);
        errno = 0;
        p = xalloc_memalign(bad[i], 64);
        if (p) fail_msg("memalign(%zu, 64) returned %p", bad[i], p);
        assert_int_equal(errno, EINVAL);
    }
}

enum { VIA_POSIX, VIA_MEMALIGN, VIA_ALIGNED_ALLOC };

static void *alloc_aligned(int via, size_t align, size_t n) {
    void *p = NULL;
    switch (via) {
    case VIA_POSIX: {
        int r = xalloc_posix_memalign(&p, align, n);
        if (r != 0) fail_msg("posix_memalign(%zu, %zu) failed: %d", align, n, r);
        break;
    }
    case VIA_MEMALIGN: p = xalloc_memalign(align, n); break;
    default: p = xalloc_aligned_alloc(align, n); break;
    }
    if (!p) fail_msg("aligned allocation via %d (align %zu, size %zu) returned NULL", via, align, n);
    return p;
}

/* Every power-of-two alignment from 1 up to 1 GiB works with all three entry
 * points, for sizes around the alignment. Blocks of one alignment are kept live
 * together and fully patterned so overlapping blocks would be detected. */
static void test_alignments(void **state) {
    for (size_t align = 1; align <= GiB; align <<= 1) {
        size_t sizes[6];
        int ns = 0;
        sizes[ns++] = 1;
        if (align <= MiB) {
            sizes[ns++] = 7;
            if (align > 1) sizes[ns++] = align - 1;
            sizes[ns++] = align;
            sizes[ns++] = align + 1;
            sizes[ns++] = 3 * align;
        } else {
            sizes[ns++] = 4096;
        }
        void *live[3 * 6];
        size_t live_n[3 * 6];
        int nl = 0;
        for (int via = VIA_POSIX; via <= VIA_ALIGNED_ALLOC; via++) {
            if (via == VIA_POSIX && align < sizeof(void *)) continue;
            for (int s = 0; s < ns; s++) {
                size_t n = sizes[s];
                void *p = alloc_aligned(via, align, n);
                check_block(p, align, n);
                if (align <= MiB) {
                    fill(p, n, align * 31 + (size_t)nl);
                    live[nl] = p;
                    live_n[nl++] = n;
                } else {
                    xalloc_free(p); /* keep the footprint of giant alignments small */
                }
            }
        }
        for (int i = 0; i < nl; i++) {
            assert_pattern(live[i], live_n[i], align * 31 + (size_t)i);
            xalloc_free(live[i]);
        }
    }
}

/* ---- usable size, natural alignment ------------------------------------- */

/* Results of size >= 16 are 16-byte aligned (max_align_t); smaller ones are
 * at least 8-byte aligned. Checked for every size up to 64 KiB. */
static void test_min_alignment(void **state) {
    for (size_t n = 1; n <= 64 * KiB; n++) {
        void *p = xalloc_malloc(n);
        assert_non_null(p);
        size_t want = n >= 16 ? 16 : 8;
        if (!is_aligned(p, want)) fail_msg("malloc(%zu) = %p not %zu-aligned", n, p, want);
        xalloc_free(p);
    }
    const size_t huge[] = {2 * MiB, 4 * MiB - 1, 4 * MiB + 1, 8 * MiB + 3, 33 * MiB};
    for (size_t i = 0; i < sizeof huge / sizeof *huge; i++) {
        void *p = xalloc_malloc(huge[i]);
        check_block(p, 16, huge[i]);
        xalloc_free(p);
        p = xalloc_calloc(1, huge[i]);
        check_block(p, 16, huge[i]);
        xalloc_free(p);
    }
}

/* All of malloc_usable_size(p) bytes belong to the caller: several blocks of a
 * size are filled to their usable size and must not clobber each other, and a
 * realloc to a larger size keeps the requested prefix. */
static void test_usable_size_writable(void **state) {
    size_t sizes[8192];
    int ns = 0;
    for (size_t n = 1; n <= 4096; n++) sizes[ns++] = n;
    for (size_t n = 4097; n <= MiB; n += 4099) sizes[ns++] = n;
    const size_t extra[] = {16 * KiB, 64 * KiB, 512 * KiB, 2 * MiB, 4 * MiB - 1, 4 * MiB + 1, 8 * MiB + 3, 33 * MiB};
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) sizes[ns++] = extra[i];

    for (int s = 0; s < ns; s++) {
        size_t n = sizes[s];
        enum { K = 8 };
        int k = n <= 64 * KiB ? K : 2;
        void *p[K];
        size_t us[K];
        for (int i = 0; i < k; i++) {
            p[i] = xalloc_malloc(n);
            check_block(p[i], n >= 16 ? 16 : 8, n);
            us[i] = xalloc_malloc_usable_size(p[i]);
            fill(p[i], us[i], n * K + (size_t)i);
        }
        for (int i = 0; i < k; i++) {
            size_t bad = mismatch(p[i], us[i], n * K + (size_t)i);
            if (bad != SIZE_MAX)
                fail_msg("size %zu: block %p (usable %zu) clobbered at offset %zu", n, p[i], us[i], bad);
        }
        for (int i = 0; i < k; i++) {
            void *q = xalloc_realloc(p[i], us[i] + n + 1);
            check_block(q, 16, us[i] + n + 1);
            assert_pattern(q, n, n * K + (size_t)i);
            xalloc_free(q);
        }
    }
}

/* No two live blocks overlap: thousands of mixed-size blocks, each patterned
 * with its own seed, all verified after everything has been allocated. */
static void test_live_blocks_disjoint(void **state) {
    enum { N = 20000 };
    void **p = calloc(N, sizeof *p);
    size_t *n = calloc(N, sizeof *n);
    assert_non_null(p);
    assert_non_null(n);
    uint64_t r = 88172645463325252ull;
    for (int i = 0; i < N; i++) {
        test_xorshift(&r);
        unsigned pick = (unsigned)(r % 1000);
        n[i] = pick < 900 ? 1 + r % 1024 : pick < 995 ? 1 + r % (256 * KiB) : 1 + r % (6 * MiB);
        p[i] = xalloc_malloc(n[i]);
        assert_non_null(p[i]);
        fill(p[i], n[i], (uint64_t)i);
        if (i % 3 == 0) { /* free some as we go so holes get reused */
            int j = (int)((r >> 20) % (uint64_t)(i + 1));
            if (p[j]) {
                assert_pattern(p[j], n[j], (uint64_t)j);
                xalloc_free(p[j]);
                p[j] = NULL;
            }
        }
    }
    for (int i = 0; i < N; i++)
        if (p[i]) {
            assert_pattern(p[i], n[i], (uint64_t)i);
            xalloc_free(p[i]);
        }
    free(p);
    free(n);
}

/* ---- calloc ------------------------------------------------------------- */

/* calloc memory reads as zero even when it reuses blocks that were dirtied and
 * freed just before (small, large and huge sizes). */
static void calloc_reuse(size_t size, int count, int rounds) {
    void **p = calloc((size_t)count, sizeof *p);
    assert_non_null(p);
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < count; i++) {
            p[i] = xalloc_malloc(size);
            assert_non_null(p[i]);
            memset(p[i], 0xff, xalloc_malloc_usable_size(p[i]));
        }
        for (int i = 0; i < count; i++) xalloc_free(p[i]);
        for (int i = 0; i < count; i++) {
            p[i] = xalloc_calloc(1, size);
            assert_non_null(p[i]);
            if (!all_zero(p[i], size)) fail_msg("calloc(1, %zu) = %p not zeroed (round %d, #%d)", size, p[i], r, i);
            memset(p[i], 0xff, size);
        }
        for (int i = 0; i < count; i++) xalloc_free(p[i]);
        /* Same again with nmemb > 1. */
        for (int i = 0; i < count; i++) {
            p[i] = xalloc_calloc(size / 8, 8);
            assert_non_null(p[i]);
            if (!all_zero(p[i], size / 8 * 8)) fail_msg("calloc(%zu, 8) not zeroed", size / 8);
            memset(p[i], 0xee, size / 8 * 8);
        }
        for (int i = 0; i < count; i++) xalloc_free(p[i]);
    }
    free(p);
}

static void test_calloc_zero_small(void **state) {
    calloc_reuse(24, 1000, 5);
    calloc_reuse(200, 500, 3);
    calloc_reuse(3000, 200, 3);
}
static void test_calloc_zero_large(void **state) {
    calloc_reuse(100 * KiB, 64, 5);
    calloc_reuse(1 * MiB, 16, 3);
}
static void test_calloc_zero_huge(void **state) { calloc_reuse(8 * MiB, 8, 4); }

/* ---- realloc ------------------------------------------------------------ */

static void realloc_case(size_t from, size_t to, uint64_t seed) {
    void *p = xalloc_malloc(from);
    assert_non_null(p);
    fill(p, from, seed);
    void *q = xalloc_realloc(p, to);
    if (!q) fail_msg("realloc(%zu -> %zu) returned NULL", from, to);
    check_block(q, to >= 16 ? 16 : 8, to);
    size_t keep = from < to ? from : to;
    size_t bad = mismatch(q, keep, seed);
    if (bad != SIZE_MAX) fail_msg("realloc %zu -> %zu lost contents at offset %zu", from, to, bad);
    xalloc_free(q);
}

/* Contents survive growing and shrinking between every pair of size ranges. */
static void test_realloc_preserves(void **state) {
    /* small (<= 14 KiB), large (to 2 MiB) and huge, with their boundaries */
    const size_t sizes[] = {1, 8, 20, 24, 100, 1000, 3000, 14 * KiB, 14 * KiB + 1, 20 * KiB,
                            100 * KiB, 700 * KiB, 2 * MiB, 2 * MiB + 1, 3 * MiB, 8 * MiB + 5};
    const size_t ns = sizeof sizes / sizeof *sizes;
    for (size_t i = 0; i < ns; i++)
        for (size_t j = 0; j < ns; j++) realloc_case(sizes[i], sizes[j], i * ns + j);
    /* huge -> larger huge, huge -> smaller huge, huge -> small */
    realloc_case(8 * MiB, 40 * MiB, 7001);
    realloc_case(40 * MiB, 9 * MiB + 7, 7002);
    realloc_case(40 * MiB, 100, 7003);
    realloc_case(40 * MiB, 1, 7004);
}

/* Size classes per the design: 8, 16, 32, 48, ..., 128, then 4 per doubling.
 * A realloc that stays within the class of the block must not move it. */
static void test_realloc_same_class_in_place(void **state) {
    void *p = xalloc_malloc(20);
    assert_non_null(p);
    memset(p, 0x42, 20);
    void *q = xalloc_realloc(p, 24);
    assert_ptr_equal(p, q);
    q = xalloc_realloc(q, 32);
    assert_ptr_equal(p, q);
    q = xalloc_realloc(q, 17);
    assert_ptr_equal(p, q);
    for (int i = 0; i < 17; i++) assert_int_equal(((unsigned char *)q)[i], 0x42);
    xalloc_free(q);

    size_t classes[64];
    int nc = 0;
    for (size_t c = 8; c <= 128; c = c < 16 ? c + 8 : c + 16) classes[nc++] = c;
    for (size_t base = 128; base < 4096; base *= 2)
        for (int k = 1; k <= 4; k++) classes[nc++] = base + (size_t)k * base / 4;
    size_t prev = 0;
    for (int c = 0; c < nc; c++) {
        size_t lo = prev + 1, hi = classes[c];
        p = xalloc_malloc(lo);
        assert_non_null(p);
        fill(p, lo, hi);
        q = xalloc_realloc(p, hi);
        if (q != p) fail_msg("realloc %zu -> %zu (same class) moved %p -> %p", lo, hi, p, q);
        q = xalloc_realloc(q, lo + (hi - lo) / 2);
        if (q != p) fail_msg("realloc %zu -> %zu (same class) moved", hi, lo + (hi - lo) / 2);
        assert_pattern(q, lo, hi);
        xalloc_free(q);
        prev = hi;
    }

    /* Growing to the usable size never needs a move. */
    for (size_t n = 1; n <= 4096; n++) {
        p = xalloc_malloc(n);
        assert_non_null(p);
        q = xalloc_realloc(p, xalloc_malloc_usable_size(p));
        if (q != p) fail_msg("realloc(malloc(%zu), usable size) moved the block", n);
        xalloc_free(q);
    }
}

/* Growing by small steps through every range (small, large, huge) keeps the
 * contents; the huge part grows in page-ish increments many times. */
static void test_realloc_grow_steps(void **state) {
    size_t n = 1;
    void *p = xalloc_malloc(n);
    assert_non_null(p);
    fill(p, n, 99);
    while (n < 3 * MiB) {
        size_t m = n + n / 8 + 1;
        p = xalloc_realloc(p, m);
        assert_non_null(p);
        assert_pattern(p, n, 99);
        n = m;
        fill(p, n, 99);
    }
    xalloc_free(p);

    n = 5 * MiB;
    p = xalloc_malloc(n);
    assert_non_null(p);
    fill(p, n, 123);
    for (int i = 0; i < 300; i++) {
        size_t m = n + 4096 + 17;
        unsigned char *q = xalloc_realloc(p, m);
        assert_non_null(q);
        /* Spot checks each step, full check at the end. */
        for (size_t off = 0; off < n; off += 65521)
            if (q[off] != pat_byte(off, 123)) fail_msg("step %d: byte %zu lost", i, off);
        if (q[n - 1] != pat_byte(n - 1, 123)) fail_msg("step %d: last byte lost", i);
        for (size_t off = n; off < m; off++) q[off] = pat_byte(off, 123);
        p = q;
        n = m;
    }
    check_block(p, 16, n);
    assert_pattern(p, n, 123);
    /* and shrink back down in steps */
    while (n > 100) {
        n = n / 3;
        p = xalloc_realloc(p, n);
        assert_non_null(p);
        assert_pattern(p, n, 123);
    }
    xalloc_free(p);
}

/* ---- valloc / pvalloc --------------------------------------------------- */

static void test_valloc_pvalloc(void **state) {
    const size_t pg = page_size();
    const size_t sizes[] = {0, 1, 100, pg - 1, pg, pg + 1, 3 * pg + 5, MiB + 1, 5 * MiB + 3};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        void *p = xalloc_valloc(n);
        check_block(p, pg, n);
        memset(p, 0x11, xalloc_malloc_usable_size(p));
        void *q = xalloc_pvalloc(n);
        size_t rounded = (n + pg - 1) / pg * pg;
        check_block(q, pg, rounded);
        memset(q, 0x22, xalloc_malloc_usable_size(q));
        if (n) {
            assert_int_equal(((unsigned char *)p)[0], 0x11);
            assert_int_equal(((unsigned char *)q)[rounded - 1], 0x22);
        }
        xalloc_free(p);
        xalloc_free(q);
    }
}

/* ---- sized frees -------------------------------------------------------- */

static void test_free_sized(void **state) {
    const size_t sizes[] = {1, 8, 24, 100, 1000, 4096, 20 * KiB, 100 * KiB, 1 * MiB, 5 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        void *p[32];
        for (int k = 0; k < 32; k++) {
            p[k] = xalloc_malloc(n);
            assert_non_null(p[k]);
            fill(p[k], n, (uint64_t)k);
        }
        for (int k = 0; k < 32; k++) {
            assert_pattern(p[k], n, (uint64_t)k);
            xalloc_free_sized(p[k], n);
        }
        /* calloc'd blocks are freed with the size passed as nmemb * size. */
        void *c = xalloc_calloc(n, 3);
        assert_non_null(c);
        xalloc_free_sized(c, n * 3);
    }
    const size_t aligns[] = {8, 16, 64, 256, 4096, 65536, 2 * MiB};
    for (size_t a = 0; a < sizeof aligns / sizeof *aligns; a++)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            size_t al = aligns[a], n = sizes[i];
            void *p = xalloc_memalign(al, n);
            check_block(p, al, n);
            xalloc_free_aligned_sized(p, al, n);
            p = xalloc_aligned_alloc(al, n);
            check_block(p, al, n);
            xalloc_free_aligned_sized(p, al, n);
            p = NULL;
            assert_int_equal(xalloc_posix_memalign(&p, al, n), 0);
            check_block(p, al, n);
            xalloc_free_aligned_sized(p, al, n);
        }
}

/* Each way of freeing a huge block really releases it (or makes it
 * reusable): 64 x 8 MiB touched and freed must not stay resident. */
static void test_free_releases_huge(void **state) {
    for (int how = 0; how < 3; how++) {
        void *warm = xalloc_memalign(64, 8 * MiB);
        memset(warm, 1, 8 * MiB);
        xalloc_free(warm);
        size_t before = rss_bytes();
        for (int i = 0; i < 64; i++) {
            void *p = how == 2 ? xalloc_memalign(64, 8 * MiB) : xalloc_malloc(8 * MiB);
            assert_non_null(p);
            memset(p, i + 1, 8 * MiB);
            if (how == 0) xalloc_free(p);
            else if (how == 1) xalloc_free_sized(p, 8 * MiB);
            else xalloc_free_aligned_sized(p, 64, 8 * MiB);
        }
        size_t after = rss_bytes();
        if (after > before + 128 * MiB)
            fail_msg("free variant %d leaked: RSS grew %zu MiB over 64 x 8 MiB", how, (after - before) / MiB);
    }
}

/* ---- ownership ---------------------------------------------------------- */

static char static_buf[1 << 16];

static void test_owns(void **state) {
    void *small = xalloc_malloc(24), *large = xalloc_malloc(100 * KiB), *huge = xalloc_malloc(9 * MiB);
    void *zero = xalloc_malloc(0), *al = xalloc_memalign(4 * MiB, 100);
    assert_true(xalloc_owns(small));
    assert_true(xalloc_owns(large));
    assert_true(xalloc_owns(huge));
    assert_true(xalloc_owns(zero));
    assert_true(xalloc_owns(al));

    int on_stack = 0;
    assert_false(xalloc_owns(&on_stack));
    assert_false(xalloc_owns(static_buf));
    assert_false(xalloc_owns(static_buf + sizeof static_buf / 2));
    assert_false(xalloc_owns("a string literal"));
    assert_false(xalloc_owns((const void *)(uintptr_t)&test_owns));
    assert_false(xalloc_owns(NULL));
    assert_false(xalloc_owns((void *)(uintptr_t)1));
    assert_false(xalloc_owns((void *)UINTPTR_MAX));

    /* glibc's blocks (brk heap and mmap'd) are not xalloc's. */
    void *g1 = malloc(24), *g2 = malloc(10 * MiB);
    assert_non_null(g1);
    assert_non_null(g2);
    assert_false(xalloc_owns(g1));
    assert_false(xalloc_owns(g2));
    free(g1);
    free(g2);

    /* Mappings made by someone else, including inaccessible ones: owns() must
     * answer without reading them (it would fault on PROT_NONE). 64 MiB covers
     * several chunk-aligned addresses whatever the chunk size is. */
    const size_t len = 64 * MiB;
    unsigned char *m = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(m != MAP_FAILED);
    for (size_t off = 0; off < len; off += 256 * KiB) assert_false(xalloc_owns(m + off));
    assert_false(xalloc_owns(m + 123));
    munmap(m, len);
    m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(m != MAP_FAILED);
    for (size_t off = 0; off < len; off += 256 * KiB) assert_false(xalloc_owns(m + off));
    munmap(m, len);

    /* The xalloc blocks are unaffected by all of the above. */
    assert_true(xalloc_owns(small));
    assert_true(xalloc_owns(huge));
    xalloc_free(small);
    xalloc_free(large);
    xalloc_free(huge);
    xalloc_free(zero);
    xalloc_free(al);
}

/* ---- errno -------------------------------------------------------------- */

/* free must not clobber errno (POSIX.1-2024), even when it returns memory to
 * the OS. */
static void test_free_preserves_errno(void **state) {
    const size_t sizes[] = {1, 24, 1000, 40 * KiB, 300 * KiB, 5 * MiB, 64 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = xalloc_malloc(sizes[i]);
        assert_non_null(p);
        memset(p, 1, sizes[i]);
        errno = EBADF;
        xalloc_free(p);
        assert_int_equal(errno, EBADF);

        p = xalloc_malloc(sizes[i]);
        assert_non_null(p);
        errno = 12345;
        xalloc_free_sized(p, sizes[i]);
        assert_int_equal(errno, 12345);

        p = xalloc_memalign(4096, sizes[i]);
        assert_non_null(p);
        errno = EBADF;
        xalloc_free_aligned_sized(p, 4096, sizes[i]);
        assert_int_equal(errno, EBADF);
    }
    errno = EBADF;
    xalloc_free(NULL);
    assert_int_equal(errno, EBADF);
}

/* malloc_trim may return memory to the OS but never live blocks. */
static void test_malloc_trim_keeps_live(void **state) {
    enum { N = 2000 };
    static void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = xalloc_malloc(i % 10 == 0 ? 50 * KiB : 64 + (size_t)i);
        assert_non_null(p[i]);
        fill(p[i], xalloc_malloc_usable_size(p[i]), (uint64_t)i);
    }
    for (int i = 0; i < N; i += 2) xalloc_free(p[i]);
    int r = xalloc_malloc_trim(0);
    assert_true(r == 0 || r == 1);
    for (int i = 1; i < N; i += 2) {
        assert_pattern(p[i], xalloc_malloc_usable_size(p[i]), (uint64_t)i);
        xalloc_free(p[i]);
    }
    void *q = xalloc_malloc(100);
    check_block(q, 16, 100);
    xalloc_free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malloc_zero_unique),
        cmocka_unit_test(test_free_null),
        cmocka_unit_test(test_realloc_null_is_malloc),
        cmocka_unit_test(test_realloc_zero_frees),
        cmocka_unit_test(test_impossible_sizes),
        cmocka_unit_test(test_failed_realloc_keeps_block),
        cmocka_unit_test(test_posix_memalign_einval),
        cmocka_unit_test(test_aligned_alloc_einval),
        cmocka_unit_test(test_alignments),
        cmocka_unit_test(test_min_alignment),
        cmocka_unit_test(test_usable_size_writable),
        cmocka_unit_test(test_live_blocks_disjoint),
        cmocka_unit_test(test_calloc_zero_small),
        cmocka_unit_test(test_calloc_zero_large),
        cmocka_unit_test(test_calloc_zero_huge),
        cmocka_unit_test(test_realloc_preserves),
        cmocka_unit_test(test_realloc_same_class_in_place),
        cmocka_unit_test(test_realloc_grow_steps),
        cmocka_unit_test(test_valloc_pvalloc),
        cmocka_unit_test(test_free_sized),
        cmocka_unit_test(test_free_releases_huge),
        cmocka_unit_test(test_owns),
        cmocka_unit_test(test_free_preserves_errno),
        cmocka_unit_test(test_malloc_trim_keeps_live),
    };
    (void)UNDER_SANITIZER;
    return cmocka_run_group_tests_name("xalloc_api", tests, NULL, NULL);
}
