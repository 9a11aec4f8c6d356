/* libFuzzer harness: the input is a program of operations on the xalloc_
 * API, run across two threads, checked against a shadow model.
 *
 * Input format: a sequence of operations, each one opcode byte followed by
 * its argument bytes (missing bytes read as zero):
 *
 *   opcode byte:  bits 0-3  operation (OP_* below)
 *                 bits 4-6  size selector (see pick_size)
 *                 bit  7    run it on the worker thread instead of the main one
 *
 *   malloc        slot  size16
 *   calloc        slot  size16  nmemb8        (nmemb8 == 0xff: overflow check)
 *   realloc       slot  size16
 *   memalign      slot  size16  align8        (also posix_memalign, aligned_alloc)
 *   free          slot
 *   free_sized    slot                        (free_aligned_sized for aligned blocks)
 *   usable        slot                        (usable size, ownership, full content check)
 *   reallocarray  slot  size16  nmemb8
 *   errors        slot  which8                (argument errors must fail cleanly)
 *   trim          -
 *   parallel      count8 mode8                (both threads at once, cross-thread frees;
 *                                              1 + sel % 4 rounds of 1 + count8 % 64 blocks)
 *   check_all     -
 *
 * Blocks live in 256 shadow slots (pointer, requested size, alignment, usable
 * size, fill byte, id). Every block holds its fill byte over the requested
 * size, except an 8-byte stamp (id, offset) at each 4 KiB offset, so a block
 * handed out twice, moved or partly copied shows up (blocks over 64 KiB:
 * first and last 8 KiB plus two slices of every 8th page). Checked on every
 * touch: content, alignment (>= requested, 16 for sizes >= 16, 8 otherwise),
 * usable size (>= requested and stable), xalloc_owns, no overlap with any
 * other live block, calloc zeroing, realloc preserving min(old, new) bytes.
 * A failed check prints what went wrong and aborts. Sizes: mostly 0..1 KiB,
 * some up to 16 KiB, 256 KiB and 2 MiB, class and page boundaries, rarely
 * huge (up to 16 MiB); at most 256 MiB requested live at once.
 *
 * Ops flagged for the worker are handed to a second thread (created per
 * input, so its thread-exit cache flush runs every time) one run of ops at a
 * time; blocks are shared by both threads, so frees are often remote.
 * Sequential handoff keeps runs deterministic; the parallel op is the one
 * place both threads run at once.
 *
 * Reproducing: `fuzz_ops CRASH_FILE`; FUZZ_OPS_TRACE=1 prints each op and
 * block. XALLOC_CONF applies as usual (e.g. dirty_decay_ms:0 to purge at
 * once, tcache:false). Without libFuzzer: define FUZZ_OPS_STANDALONE for a
 * main() that runs each file named on the command line once.
 * Seeds: tests/fuzz/make_corpus.py writes tests/fuzz/corpus/. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* The checking loops are not what is being fuzzed: keep libFuzzer's
 * coverage and comparison tracing out of them (it made them 10x slower). */
#if defined(__clang__)
#define NO_COV __attribute__((no_sanitize("coverage")))
#else
#define NO_COV
#endif

#define NSLOTS 256
#define LIVE_CAP (256 * MiB)       /* requested bytes live at once */
#define STAMP_EVERY 4096
#define FULL_CHECK_MAX (64 * KiB)  /* larger blocks are written and checked by sampling */

enum {
    OP_MALLOC = 0,
    OP_CALLOC,
    OP_REALLOC,
    OP_MEMALIGN,
    OP_POSIX_MEMALIGN,
    OP_ALIGNED_ALLOC,
    OP_FREE,
    OP_FREE_SIZED,
    OP_USABLE,
    OP_REALLOCARRAY,
    OP_ERRORS,
    OP_TRIM,
    OP_PARALLEL,
    OP_CHECK_ALL,
    OP_MALLOC2,                    /* more weight on malloc and free */
    OP_FREE2,
};

enum { K_MALLOC, K_ALIGNED };      /* which sized free is valid for the block */

typedef struct {
    unsigned char *p;
    size_t size;                   /* requested */
    size_t align;                  /* requested alignment, 0 for plain malloc */
    size_t usable;                 /* malloc_usable_size when it was allocated */
    uint32_t id;
    uint8_t fill;
    uint8_t kind;
} slot_t;

typedef struct {
    const uint8_t *data;
    size_t size, pos;
} reader_t;

static slot_t slots[NSLOTS];
static size_t live_bytes;
static uint32_t next_id;

/* ---- failure -------------------------------------------------------------- */

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "fuzz_ops: CHECK FAILED: %s\n", msg);
    fflush(stderr);
    abort();
}

/* FUZZ_OPS_TRACE=1 in the environment: print every operation (to
 * understand a crash input). */
static int trace_on = -1;

__attribute__((format(printf, 1, 2))) static void trace(const char *fmt, ...) {
    if (trace_on < 0) {
        const char *e = getenv("FUZZ_OPS_TRACE");
        trace_on = e && *e && *e != '0';
    }
    if (!trace_on)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* ---- input ---------------------------------------------------------------- */

static uint8_t get8(reader_t *r) {
    return r->pos < r->size ? r->data[r->pos++] : 0;
}

static uint16_t get16(reader_t *r) {
    uint16_t lo = get8(r);
    return (uint16_t)(lo | (uint16_t)get8(r) << 8);
}

static const size_t edge_sizes[] = {
    0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 127, 128, 129, 255, 256, 257,
    1023, 1024, 1025, 4095, 4096, 4097, 8191, 8192, 8193, 14335, 14336, 14337, 16383,
    16384, 16385, 20480, 32767, 32768, 32769, 65536, 65537, 1 * MiB - 1, 1 * MiB,
    2 * MiB - 4096, 2 * MiB - 1, 2 * MiB, 2 * MiB + 1, 2 * MiB + 4096,
    4 * MiB - 8192, 4 * MiB - 4096, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 8 * MiB, 16 * MiB,
};
#define N_EDGE (sizeof edge_sizes / sizeof edge_sizes[0])

/* Mostly small (0..1 KiB), some medium and large (up to a bit over the
 * 2 MiB large/huge boundary), rarely huge (up to 16 MiB), and the class and
 * page boundaries. */
static size_t pick_size(unsigned sel, uint16_t v) {
    switch (sel & 7) {
    case 0: case 1: case 2: case 3:
        return v % 1025;
    case 4:
        return v % (16 * KiB + 1);
    case 5:
        return (size_t)v << 2 | (v & 3);                 /* < 256 KiB */
    case 6:
        return (size_t)v * 33;                           /* < 2.07 MiB */
    default:
        if ((v & 7) == 0) {
            size_t s = 2 * MiB + (size_t)(v >> 3) * 2048 + (v >> 5);
            return s > 16 * MiB ? 16 * MiB : s;          /* huge */
        }
        return edge_sizes[(v >> 3) % N_EDGE];
    }
}

/* Power-of-two alignments 1 B .. 64 KiB, rarely 128 KiB .. 4 MiB. */
static size_t pick_align(uint8_t a) {
    if (a >= 0xf0)
        return (size_t)1 << (17 + (a - 0xf0) % 6);
    return (size_t)1 << (a % 17);
}

/* ---- block contents ------------------------------------------------------- */

/* The pattern of a block of `size` bytes with identity id: the fill byte,
 * except an 8-byte stamp (id, offset) at each 4 KiB offset o with
 * o + 8 <= size. Blocks up to FULL_CHECK_MAX are written and checked whole;
 * larger ones only on their kept set (see for_each_kept), so a 16 MiB block
 * costs a few hundred page faults, not four thousand. */

static uint64_t stamp_of(uint32_t id, size_t off) {
    return ((uint64_t)id << 32 | (uint32_t)(off / STAMP_EVERY)) ^ 0x5bd1e9955bd1e995ull;
}

static uint8_t fill_of(uint32_t id) {
    return (uint8_t)(1 + (id * 7u) % 255);               /* never zero */
}

typedef void (*range_fn)(void *ctx, size_t from, size_t to);

NO_COV static void clip(size_t a, size_t b, size_t from, size_t to, range_fn fn, void *ctx) {
    if (a < from)
        a = from;
    if (b > to)
        b = to;
    if (a < b)
        fn(ctx, a, b);
}

/* The bytes of a block of `size` bytes that are written and checked,
 * clipped to [from, to): all of them up to FULL_CHECK_MAX; above, the first
 * and last 8 KiB, and in every 8th page (which ones depends on id) its first
 * 72 bytes (stamp included) and its last 64 bytes. */
NO_COV static void for_each_kept(size_t size, uint32_t id, size_t from, size_t to, range_fn fn, void *ctx) {
    if (size <= FULL_CHECK_MAX) {
        clip(0, size, from, to, fn, ctx);
        return;
    }
    clip(0, 8 * KiB, from, to, fn, ctx);
    for (size_t o = 8 * KiB + (id % 8) * STAMP_EVERY; o + STAMP_EVERY <= size - 8 * KiB; o += 8 * STAMP_EVERY) {
        clip(o, o + 72, from, to, fn, ctx);
        clip(o + STAMP_EVERY - 64, o + STAMP_EVERY, from, to, fn, ctx);
    }
    clip(size - 8 * KiB, size, from, to, fn, ctx);
}

/* Writes the pattern over [from, to); a stamp that starts before `from` but
 * ends inside the range is written whole (its earlier bytes were fill). */
NO_COV static void write_range(void *ctx, size_t from, size_t to) {
    const slot_t *s = ctx;
    memset(s->p + from, s->fill, to - from);
    for (size_t o = from / STAMP_EVERY * STAMP_EVERY; o + 8 <= to; o += STAMP_EVERY) {
        if (o + 8 <= from)
            continue;
        uint64_t st = stamp_of(s->id, o);
        memcpy(s->p + o, &st, 8);
    }
}

/* Pattern over the kept bytes of s's block within [from, to). */
static void write_block(const slot_t *s, size_t from, size_t to) {
    for_each_kept(s->size, s->id, from, to, write_range, (void *)s);
}

/* How many leading bytes of p[0 .. n) equal c (n when all do). */
NO_COV static size_t fill_run(const unsigned char *p, size_t n, unsigned char c) {
    uint64_t w = 0x0101010101010101ull * c;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        if (x != w)
            break;
    }
    while (i < n && p[i] == c)
        i++;
    return i;
}

typedef struct {
    const slot_t *s;
    const unsigned char *at;
    const char *when;
} check_ctx;

/* Check bytes [from, to) of c->at against the pattern of c->s. */
NO_COV static void check_range(void *ctx, size_t from, size_t to) {
    const check_ctx *c = ctx;
    const slot_t *s = c->s;
    const unsigned char *at = c->at;
    for (size_t i = from; i < to;) {
        size_t o = i / STAMP_EVERY * STAMP_EVERY;
        if (o + 8 <= s->size && i < o + 8) {             /* inside a stamp */
            uint64_t st = stamp_of(s->id, o);
            unsigned char want = ((const unsigned char *)&st)[i - o];
            if (at[i] != want)
                fail("%s: block id %u at %p (size %zu, align %zu): stamp byte %zu is %#x, want %#x",
                     c->when, s->id, (void *)at, s->size, s->align, i, at[i], want);
            i++;
            continue;
        }
        size_t end = o + STAMP_EVERY < to ? o + STAMP_EVERY : to;
        i += fill_run(at + i, end - i, s->fill);
        if (i < end)
            fail("%s: block id %u at %p (size %zu, align %zu): byte %zu is %#x, want fill %#x",
                 c->when, s->id, (void *)at, s->size, s->align, i, at[i], s->fill);
    }
}

/* Check the kept bytes among the first `limit` of `at` (s->p unless realloc
 * moved the block) against s's pattern. */
static void check_block(const slot_t *s, const unsigned char *at, size_t limit, const char *when) {
    check_ctx c = { s, at, when };
    for_each_kept(s->size, s->id, 0, limit < s->size ? limit : s->size, check_range, &c);
}

typedef struct {
    const unsigned char *p;
    size_t n;
    const char *what;
} zero_ctx;

NO_COV static void zero_range(void *ctx, size_t from, size_t to) {
    const zero_ctx *z = ctx;
    size_t i = from + fill_run(z->p + from, to - from, 0);
    if (i < to)
        fail("%s(%zu) = %p: byte %zu is %#x, not zero", z->what, z->n, (void *)z->p, i, z->p[i]);
}

static void check_zero(const unsigned char *p, size_t n, const char *what) {
    zero_ctx z = { p, n, what };
    for_each_kept(n, (uint32_t)(uintptr_t)p >> 12, 0, n, zero_range, &z);
}

/* ---- shadow bookkeeping --------------------------------------------------- */

/* A live block other than slot i's that [p, p + usable) overlaps. */
NO_COV static const slot_t *find_overlap(unsigned i, const void *p, size_t usable) {
    uintptr_t a0 = (uintptr_t)p, a1 = a0 + (usable ? usable : 1);
    for (unsigned j = 0; j < NSLOTS; j++) {
        const slot_t *o = &slots[j];
        if (j == i || o->p == NULL)
            continue;
        uintptr_t b0 = (uintptr_t)o->p, b1 = b0 + (o->usable ? o->usable : 1);
        if (a0 < b1 && b0 < a1)
            return o;
    }
    return NULL;
}

/* Checks a freshly returned block and records it in slot i (empty). */
static void adopt(unsigned i, void *p, size_t size, size_t align, int kind, const char *what) {
    slot_t *s = &slots[i];
    if (p == NULL)
        fail("%s(size %zu, align %zu) returned NULL", what, size, align);
    size_t want = align;
    size_t natural = size >= 16 ? 16 : 8;
    if (want < natural)
        want = natural;
    if ((uintptr_t)p & (want - 1))
        fail("%s(size %zu, align %zu) = %p: not %zu-aligned", what, size, align, p, want);
    size_t usable = xalloc_malloc_usable_size(p);
    if (usable < size)
        fail("%s(size %zu, align %zu) = %p: usable size %zu < requested", what, size, align, p, usable);
    if (!xalloc_owns(p))
        fail("%s(size %zu) = %p: xalloc_owns says no", what, size, p);
    const slot_t *o = find_overlap(i, p, usable);
    if (o)
        fail("%s(size %zu) = %p (usable %zu) overlaps live block id %u at %p (size %zu, usable %zu)",
             what, size, p, usable, o->id, (void *)o->p, o->size, o->usable);
    trace("  %s -> slot %u = %p size %zu align %zu usable %zu id %u\n", what, i, p, size, align, usable,
          next_id + 1);
    s->p = p;
    s->size = size;
    s->align = align;
    s->usable = usable;
    s->id = ++next_id;
    s->fill = fill_of(s->id);
    s->kind = (uint8_t)kind;
    live_bytes += size;
}

static void verify_slot(const slot_t *s, const char *when) {
    check_block(s, s->p, s->size, when);
    size_t usable = xalloc_malloc_usable_size(s->p);
    if (usable != s->usable)
        fail("%s: block id %u at %p: usable size changed from %zu to %zu", when, s->id, (void *)s->p,
             s->usable, usable);
}

static void release(unsigned i, int how) {
    slot_t *s = &slots[i];
    if (s->p == NULL)
        return;
    trace("  free slot %u = %p size %zu id %u (%s)\n", i, (void *)s->p, s->size, s->id,
          how == 0 ? "free" : "sized");
    verify_slot(s, "before free");
    if (how == 0) {
        xalloc_free(s->p);
    } else if (s->kind == K_MALLOC) {
        xalloc_free_sized(s->p, s->size);
    } else {
        xalloc_free_aligned_sized(s->p, s->align, s->size);
    }
    live_bytes -= s->size;
    memset(s, 0, sizeof *s);
}

static int fits(size_t extra) {
    return extra <= LIVE_CAP && live_bytes <= LIVE_CAP - extra;
}

/* ---- operations ----------------------------------------------------------- */

static void op_malloc(unsigned i, size_t size) {
    release(i, 0);
    if (!fits(size))
        return;
    void *p = xalloc_malloc(size);
    adopt(i, p, size, 0, K_MALLOC, "malloc");
    write_block(&slots[i], 0, size);
}

static void op_calloc(unsigned i, size_t size, uint8_t k) {
    release(i, 1);
    if (k == 0xff) {                                     /* nmemb * size overflows */
        errno = 0;
        void *p = xalloc_calloc(SIZE_MAX / 2 + 1 + size, 2);
        if (p != NULL || errno != ENOMEM)
            fail("calloc with an overflowing product: %p, errno %d", p, errno);
        return;
    }
    size_t nmemb = 1 + k % 16, each = size / nmemb, total = nmemb * each;
    if (!fits(total))
        return;
    unsigned char *p = xalloc_calloc(nmemb, each);
    if (p == NULL)
        fail("calloc(%zu, %zu) returned NULL", nmemb, each);
    check_zero(p, total, "calloc");
    adopt(i, p, total, 0, K_MALLOC, "calloc");
    write_block(&slots[i], 0, total);
}

static void do_realloc(unsigned i, size_t size, int array, size_t nmemb) {
    slot_t *s = &slots[i];
    size_t old = s->p ? s->size : 0;
    if (s->p == NULL) {
        if (!fits(size))
            return;
        void *p = array ? xalloc_reallocarray(NULL, nmemb, size / nmemb) : xalloc_realloc(NULL, size);
        adopt(i, p, size, 0, K_MALLOC, array ? "reallocarray(NULL)" : "realloc(NULL)");
        write_block(&slots[i], 0, size);
        return;
    }
    if (size > old && !fits(size - old))
        return;
    verify_slot(s, "before realloc");
    slot_t was = *s;
    trace("  realloc slot %u = %p size %zu id %u -> size %zu\n", i, (void *)s->p, old, s->id, size);
    unsigned char *q = array ? xalloc_reallocarray(s->p, nmemb, size / nmemb) : xalloc_realloc(s->p, size);
    if (size == 0) {
        /* glibc semantics, which xalloc follows: the block is freed and
         * NULL returned. */
        live_bytes -= old;
        memset(s, 0, sizeof *s);
        if (q != NULL)
            adopt(i, q, 0, 0, K_MALLOC, "realloc(p, 0)");
        return;
    }
    if (q == NULL)
        fail("realloc(%p, %zu) returned NULL (old size %zu)", (void *)was.p, size, old);
    /* The old contents, up to the smaller size, must have come along. */
    check_block(&was, q, size, "after realloc");
    live_bytes -= old;
    memset(s, 0, sizeof *s);
    adopt(i, q, size, 0, K_MALLOC, array ? "reallocarray" : "realloc");
    s->id = was.id;                                      /* same contents, same stamps */
    s->fill = was.fill;
    if (size > old) {
        /* The new tail; a stamp cut by the old end is completed. Out of a
         * sampled block, also the pages near the old end: the new size may
         * sample some the old one did not keep (rewriting kept bytes just
         * verified above changes nothing). */
        size_t from = old > FULL_CHECK_MAX ? old - 16 * KiB : old;
        write_block(s, from, size);
    } else {
        /* A stamp cut by the new end becomes fill, as for a block born this size. */
        size_t o = size / STAMP_EVERY * STAMP_EVERY;
        if (o < size && size < o + 8)
            memset(s->p + o, s->fill, size - o);
        /* Shrunk out of sampling: bytes the new size checks but the old one
         * did not keep get the pattern (the kept ones were verified above). */
        if (old > FULL_CHECK_MAX)
            write_block(s, size > FULL_CHECK_MAX ? size - 8 * KiB : 0, size);
    }
}

static void op_aligned(unsigned i, int which, size_t align, size_t size) {
    release(i, 1);
    if (!fits(size))
        return;
    void *p = NULL;
    const char *what;
    switch (which) {
    case 0:
        what = "memalign";
        p = xalloc_memalign(align, size);
        break;
    case 1: {
        what = "posix_memalign";
        void *sentinel = (void *)(uintptr_t)0x1234;
        p = sentinel;
        int rc = xalloc_posix_memalign(&p, align, size);
        if (align < sizeof(void *)) {
            if (rc != EINVAL || p != sentinel)
                fail("posix_memalign(align %zu) = %d, %p: want EINVAL, untouched", align, rc, p);
            return;
        }
        if (rc != 0)
            fail("posix_memalign(align %zu, size %zu) = %d", align, size, rc);
        break;
    }
    default:
        what = "aligned_alloc";
        p = xalloc_aligned_alloc(align, size);
        break;
    }
    adopt(i, p, size, align, K_ALIGNED, what);
    write_block(&slots[i], 0, size);
}

/* Argument errors: each must fail cleanly and leave the slot's block intact. */
static void op_errors(unsigned i, uint8_t which) {
    slot_t *s = &slots[i];
    void *p;
    int rc;
    errno = 0;
    switch (which % 8) {
    case 0:
        p = xalloc_malloc(SIZE_MAX - (which >> 3));
        if (p != NULL || errno != ENOMEM)
            fail("malloc(SIZE_MAX - %u) = %p, errno %d", which >> 3, p, errno);
        break;
    case 1:
        p = xalloc_malloc((size_t)PTRDIFF_MAX + 1 + which);
        if (p != NULL || errno != ENOMEM)
            fail("malloc(PTRDIFF_MAX + %u) = %p, errno %d", 1 + which, p, errno);
        break;
    case 2:
        if (s->p == NULL)
            break;
        p = xalloc_realloc(s->p, SIZE_MAX - which);
        if (p != NULL || errno != ENOMEM)
            fail("realloc(%p, SIZE_MAX - %u) = %p, errno %d", (void *)s->p, which, p, errno);
        verify_slot(s, "after failed realloc");
        break;
    case 3:
        if (s->p == NULL)
            break;
        p = xalloc_reallocarray(s->p, SIZE_MAX / 3 + which, 4);
        if (p != NULL || errno != ENOMEM)
            fail("reallocarray overflow: %p, errno %d", p, errno);
        verify_slot(s, "after failed reallocarray");
        break;
    case 4: {
        void *q = (void *)(uintptr_t)0x4321;
        unsigned align = 8 * (3 + 2 * (which >> 3));    /* 8 x odd: never a power of two */
        rc = xalloc_posix_memalign(&q, align, 100);
        if (rc != EINVAL || q != (void *)(uintptr_t)0x4321)
            fail("posix_memalign(align %u) = %d, %p: want EINVAL", align, rc, q);
        break;
    }
    case 5:
        p = xalloc_aligned_alloc(3 + 2 * (which >> 3), 64);   /* odd: not a power of two */
        if (p != NULL || errno != EINVAL)
            fail("aligned_alloc(align %u) = %p, errno %d: want NULL, EINVAL", 3 + 2 * (which >> 3), p, errno);
        break;
    case 6:
        p = xalloc_calloc(SIZE_MAX / 8 + 1 + which, 8);
        if (p != NULL || errno != ENOMEM)
            fail("calloc overflow: %p, errno %d", p, errno);
        break;
    default:
        if (xalloc_malloc_usable_size(NULL) != 0)
            fail("malloc_usable_size(NULL) != 0");
        xalloc_free(NULL);
        xalloc_free_sized(NULL, which);
        break;
    }
}

/* ---- the second thread ---------------------------------------------------- */

enum { TURN_MAIN, TURN_WORKER, TURN_PARALLEL, TURN_QUIT };

#define PAR_MAX 64

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int turn;
    reader_t *rd;
    unsigned par_n, par_rounds, par_mode;
    uint64_t par_seed;
    unsigned char *par_blk[2][PAR_MAX];
    size_t par_size[2][PAR_MAX];
} ctl_t;

static ctl_t ctl;

/* Both threads leave together (when both are on a CPU): spin briefly, then
 * yield. pthread_barrier_wait wakes the other thread only after a futex
 * round trip, by which time a short phase is often over. */
static unsigned bar_count, bar_gen;

static void par_barrier(void) {
    unsigned gen = __atomic_load_n(&bar_gen, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&bar_count, 1, __ATOMIC_ACQ_REL) == 2) {
        __atomic_store_n(&bar_count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&bar_gen, gen + 1, __ATOMIC_RELEASE);
        return;
    }
    for (unsigned spins = 0; __atomic_load_n(&bar_gen, __ATOMIC_ACQUIRE) == gen; spins++) {
        if (spins >= 2000)
            sched_yield();
#if defined(__x86_64__) || defined(__i386__)
        else
            __builtin_ia32_pause();
#endif
    }
}

static uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Sizes of the parallel op: one small class for the whole op (contention on
 * one bin of each arena), or mostly small with some up to 128 KiB. */
NO_COV static size_t par_size(uint64_t *r, unsigned mode) {
    if (mode & 1)
        return 8 * (1 + (mode >> 2) % 64);
    uint64_t x = xorshift(r);
    unsigned pick = (unsigned)(x % 100);
    x >>= 8;
    if (pick < 85) return (size_t)(x % 513);
    if (pick < 98) return (size_t)(x % (16 * KiB));
    return (size_t)(x % (128 * KiB));
}

static unsigned char par_byte(unsigned tid, unsigned i) {
    return (unsigned char)((2 * i + tid) % 255 + 1);
}

static void par_fill(unsigned char *p, size_t n, unsigned tid, unsigned i) {
    memset(p, par_byte(tid, i), n);
}

NO_COV static void par_check(const unsigned char *p, size_t n, unsigned tid, unsigned i) {
    unsigned char want = par_byte(tid, i);
    size_t k = fill_run(p, n, want);
    if (k < n)
        fail("parallel: block %u of thread %u at %p (size %zu): byte %zu is %#x, want %#x", i, tid,
             (void *)p, n, k, p[k], want);
}

/* Both threads at once, for a few rounds: each allocates a batch, then each
 * verifies and frees the other's batch (remote frees, into the other
 * thread's arena while that thread is busy in it) while churning through
 * allocations of its own; mode bits 1 and 5 both set: each also flushes its
 * cache and purges (malloc_trim) at the end of a round. */
NO_COV static void par_part(unsigned tid) {
    uint64_t r = ctl.par_seed * 2 + tid + 1;
    unsigned n = ctl.par_n, mode = ctl.par_mode, other = 1 - tid;
    for (unsigned round = 0; round < ctl.par_rounds; round++) {
        for (unsigned i = 0; i < n; i++) {
            size_t sz = par_size(&r, mode);
            unsigned char *p = xalloc_malloc(sz);
            if (p == NULL)
                fail("parallel: malloc(%zu) returned NULL", sz);
            par_fill(p, sz, tid, i);
            ctl.par_blk[tid][i] = p;
            ctl.par_size[tid][i] = sz;
        }
        par_barrier();
        for (unsigned i = 0; i < n; i++) {
            par_check(ctl.par_blk[other][i], ctl.par_size[other][i], other, i);
            xalloc_free(ctl.par_blk[other][i]);
            for (unsigned k = 0; k < 2; k++) {
                size_t sz = par_size(&r, mode);
                int zero = (i + k) & 1;
                unsigned char *q = zero ? xalloc_calloc(1, sz) : xalloc_malloc(sz);
                if (q == NULL)
                    fail("parallel: churn allocation of %zu returned NULL", sz);
                if (zero)
                    check_zero(q, sz, "parallel calloc");
                par_fill(q, sz, tid, PAR_MAX + i);
                par_check(q, sz, tid, PAR_MAX + i);
                if ((i + k) % 3 == 0)
                    xalloc_free_sized(q, sz);
                else
                    xalloc_free(q);
            }
        }
        if ((mode & 0x22) == 0x22)
            xalloc_malloc_trim(0);
        par_barrier();
    }
}

static void exec_op(reader_t *rd);

static int worker_op_next(const reader_t *rd) {
    if (rd->pos >= rd->size)
        return 0;
    uint8_t b = rd->data[rd->pos];
    return (b & 0x80) && (b & 15) != OP_PARALLEL;
}

static void *worker(void *arg) {
    (void)arg;
    pthread_mutex_lock(&ctl.mu);
    for (;;) {
        while (ctl.turn == TURN_MAIN)
            pthread_cond_wait(&ctl.cv, &ctl.mu);
        int turn = ctl.turn;
        if (turn == TURN_QUIT)
            break;
        pthread_mutex_unlock(&ctl.mu);
        if (turn == TURN_WORKER) {
            while (worker_op_next(ctl.rd))
                exec_op(ctl.rd);
        } else {
            par_part(1);
        }
        pthread_mutex_lock(&ctl.mu);
        ctl.turn = TURN_MAIN;
        pthread_cond_broadcast(&ctl.cv);
    }
    pthread_mutex_unlock(&ctl.mu);
    return NULL;
}

/* Main thread: give the worker a turn and wait until it hands back. */
static void hand_over(int turn) {
    pthread_mutex_lock(&ctl.mu);
    ctl.turn = turn;
    pthread_cond_broadcast(&ctl.cv);
    pthread_mutex_unlock(&ctl.mu);
    if (turn == TURN_PARALLEL)
        par_part(0);
    pthread_mutex_lock(&ctl.mu);
    while (ctl.turn != TURN_MAIN)
        pthread_cond_wait(&ctl.cv, &ctl.mu);
    pthread_mutex_unlock(&ctl.mu);
}

/* ---- dispatch ------------------------------------------------------------- */

static void exec_op(reader_t *rd) {
    size_t at = rd->pos;
    uint8_t b = get8(rd);
    unsigned op = b & 15, sel = (b >> 4) & 7;
    trace("[%zu] %s op %u sel %u\n", at, (b & 0x80) ? "worker" : "main", op, sel);
    unsigned i;
    switch (op) {
    case OP_MALLOC:
    case OP_MALLOC2:
        i = get8(rd);
        op_malloc(i, pick_size(sel, get16(rd)));
        break;
    case OP_CALLOC: {
        i = get8(rd);
        size_t size = pick_size(sel, get16(rd));
        op_calloc(i, size, get8(rd));
        break;
    }
    case OP_REALLOC:
        i = get8(rd);
        do_realloc(i, pick_size(sel, get16(rd)), 0, 1);
        break;
    case OP_REALLOCARRAY: {
        i = get8(rd);
        size_t size = pick_size(sel, get16(rd));
        size_t nmemb = 1 + get8(rd) % 8;
        do_realloc(i, size / nmemb * nmemb, 1, nmemb);
        break;
    }
    case OP_MEMALIGN:
    case OP_POSIX_MEMALIGN:
    case OP_ALIGNED_ALLOC: {
        i = get8(rd);
        size_t size = pick_size(sel, get16(rd));
        size_t align = pick_align(get8(rd));
        op_aligned(i, (int)(op - OP_MEMALIGN), align, size);
        break;
    }
    case OP_FREE:
    case OP_FREE2:
        release(get8(rd), 0);
        break;
    case OP_FREE_SIZED:
        release(get8(rd), 1);
        break;
    case OP_USABLE:
        i = get8(rd);
        if (slots[i].p) {
            verify_slot(&slots[i], "usable");
            if (!xalloc_owns(slots[i].p))
                fail("xalloc_owns(%p) is false for a live block", (void *)slots[i].p);
        }
        break;
    case OP_ERRORS:
        i = get8(rd);
        op_errors(i, get8(rd));
        break;
    case OP_TRIM:
        xalloc_malloc_trim(0);
        break;
    case OP_PARALLEL: {
        uint8_t n = get8(rd);
        uint8_t seed = get8(rd);
        ctl.par_n = 1 + n % PAR_MAX;
        ctl.par_rounds = 1 + (sel & 3);
        ctl.par_mode = seed;
        ctl.par_seed = seed | (uint64_t)sel << 8;
        hand_over(TURN_PARALLEL);                        /* only the main thread decodes this op */
        break;
    }
    default: /* OP_CHECK_ALL */
        for (unsigned j = 0; j < NSLOTS; j++)
            if (slots[j].p)
                verify_slot(&slots[j], "check_all");
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader_t rd = { data, size, 0 };
    next_id = 0;

    pthread_mutex_init(&ctl.mu, NULL);
    pthread_cond_init(&ctl.cv, NULL);
    ctl.turn = TURN_MAIN;
    ctl.rd = &rd;
    pthread_t tid;
    if (pthread_create(&tid, NULL, worker, NULL) != 0)
        fail("pthread_create failed");

    while (rd.pos < rd.size) {
        if (worker_op_next(&rd))
            hand_over(TURN_WORKER);
        else
            exec_op(&rd);
    }

    pthread_mutex_lock(&ctl.mu);
    ctl.turn = TURN_QUIT;
    pthread_cond_broadcast(&ctl.cv);
    pthread_mutex_unlock(&ctl.mu);
    pthread_join(tid, NULL);                             /* its cache is flushed at exit */

    for (unsigned j = 0; j < NSLOTS; j++)
        release(j, (int)(j & 1));
    if (live_bytes != 0)
        fail("shadow accounting: %zu bytes still live", live_bytes);
    pthread_cond_destroy(&ctl.cv);
    pthread_mutex_destroy(&ctl.mu);
    return 0;
}

#ifdef FUZZ_OPS_STANDALONE
#include <dirent.h>
#include <sys/stat.h>

static int run_file(const char *path) {
    static uint8_t buf[1 << 20];
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

/* Runs each file named on the command line once, and every file of each
 * directory named (no fuzzing engine: for replaying a corpus under another
 * compiler or sanitizer). */
int main(int argc, char **argv) {
    unsigned runs = 0;
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) {
            perror(argv[a]);
            return 2;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[a]))
                return 2;
            runs++;
            continue;
        }
        DIR *d = opendir(argv[a]);
        if (d == NULL) {
            perror(argv[a]);
            return 2;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            if (run_file(path))
                return 2;
            runs++;
        }
        closedir(d);
    }
    printf("fuzz_ops: %u inputs ran, all checks passed\n", runs);
    return 0;
}
#endif
