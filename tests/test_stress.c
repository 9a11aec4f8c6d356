/* Multithreaded stress: several threads doing random malloc / calloc /
 * posix_memalign / aligned_alloc / realloc / free over all size ranges, with
 * blocks handed between threads through a shared exchange so that many frees
 * are remote (freed by a thread other than the allocating one). Every block
 * carries a pattern derived from its address and size that is verified before
 * it is freed or resized, so overlapping blocks, lost realloc contents or
 * recycled-while-live memory show up as failures.
 *
 * Environment:
 *   XALLOC_TEST_SEED      reproduce a run (the seed is printed)
 *   XALLOC_STRESS_OPS     operations per thread (default below)
 *   XALLOC_STRESS_THREADS number of threads (default 4)
 *
 * Assertions made inside worker threads are recorded and reported by the
 * main thread (cmocka's longjmp cannot cross threads). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DEFAULT_OPS 20000 /* sanitizers are 5-20x slower */
#else
#define DEFAULT_OPS 150000
#endif

#define SLOTS 1024         /* live blocks per thread */
#define EXCHANGE_CAP 4096  /* blocks in transit between threads */
#define EDGE 64            /* bytes patterned at each end of a block */
#define STRIDE 16381       /* and one byte every STRIDE in between */

static unsigned g_seed;
static long g_ops;
static int g_threads;

/* ---- failure reporting from threads -------------------------------------- */

static atomic_int g_failures;

static void report(const char *fmt, ...) {
    if (atomic_fetch_add(&g_failures, 1) < 20) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        fprintf(stderr, "stress failure (seed %u): %s\n", g_seed, msg); /* one write */
    }
}

/* ---- blocks and patterns ------------------------------------------------- */

typedef struct {
    unsigned char *p;
    size_t size;
    size_t align; /* alignment it was requested with (>= 1) */
} block_t;

static inline uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Mostly small: 90% <= 1 KiB, 9% <= 256 KiB, 1% up to 8 MiB. */
static size_t random_size(uint64_t *r) {
    uint64_t x = rng_next(r);
    unsigned pick = (unsigned)(x % 100);
    x >>= 8;
    if (pick < 90) return 1 + (size_t)(x % KiB);
    if (pick < 99) return 1 + (size_t)(x % (256 * KiB));
    return 1 + (size_t)(x % (8 * MiB));
}

static inline unsigned char pat(const block_t *b, size_t i) {
    uint64_t h = ((uint64_t)(uintptr_t)b->p >> 3) * 0x9E3779B97F4A7C15ull ^ b->size;
    return (unsigned char)((h >> 32) ^ i ^ (i >> 8) ^ (i >> 16));
}

/* The patterned offsets of a block of `size` bytes: all of it when small,
 * else the first and last EDGE bytes plus every STRIDE-th byte in between
 * (cheap even for 8 MiB blocks, yet touches every part of them). */
static inline size_t next_off(size_t i, size_t size) {
    if (size <= 4 * EDGE || i + 1 < EDGE || i + 1 >= size - EDGE) return i + 1;
    /* here i is EDGE - 1 + k * STRIDE */
    return i + STRIDE < size - EDGE ? i + STRIDE : size - EDGE;
}

#define FOR_PATTERNED(i, size, limit) \
    for (size_t i = 0, end_ = (limit) < (size) ? (limit) : (size); i < end_; i = next_off(i, (size)))

static void fill_block(const block_t *b) {
    FOR_PATTERNED(i, b->size, b->size) b->p[i] = pat(b, i);
}

/* Verify the pattern written for `b` on the first `limit` bytes of `at`
 * (at == b->p unless the block was moved by realloc). */
static int check_pattern(const block_t *b, const unsigned char *at, size_t limit, const char *when) {
    FOR_PATTERNED(i, b->size, limit) {
        if (at[i] != pat(b, i)) {
            report("%s: block %p size %zu: byte %zu is %#x, want %#x", when, (void *)b->p, b->size, i,
                   at[i], pat(b, i));
            return 0;
        }
    }
    return 1;
}

static void check_fresh(const block_t *b, int zeroed, const char *what) {
    if (!b->p) {
        report("%s(%zu, align %zu) returned NULL", what, b->size, b->align);
        return;
    }
    size_t a = b->align < 16 && b->size >= 16 ? 16 : b->align;
    if ((uintptr_t)b->p & (a - 1)) report("%s(%zu): %p not %zu-aligned", what, b->size, (void *)b->p, a);
    if (zeroed) {
        FOR_PATTERNED(i, b->size, b->size) {
            if (b->p[i]) {
                report("calloc(%zu) = %p: byte %zu is %#x, not zero", b->size, (void *)b->p, i, b->p[i]);
                break;
            }
        }
    }
}

static void check_live(const block_t *b, const char *when) {
    check_pattern(b, b->p, b->size, when);
}

static void allocate(block_t *b, uint64_t *r) {
    b->size = random_size(r);
    b->align = 1;
    unsigned how = (unsigned)(rng_next(r) % 100);
    const char *what = how < 55 ? "malloc" : how < 70 ? "calloc" : how < 90 ? "posix_memalign" : "aligned_alloc";
    if (how < 55) {
        b->p = xalloc_malloc(b->size);
        check_fresh(b, 0, "malloc");
    } else if (how < 70) {
        size_t n = 1 + rng_next(r) % 8;
        b->size = (b->size + n - 1) / n * n;
        b->p = xalloc_calloc(n, b->size / n);
        check_fresh(b, 1, "calloc");
    } else if (how < 90) {
        void *p = NULL;
        b->align = (size_t)8 << (rng_next(r) % 14); /* 8 .. 64 KiB */
        int e = xalloc_posix_memalign(&p, b->align, b->size);
        if (e) report("posix_memalign(%zu, %zu) = %d", b->align, b->size, e);
        b->p = p;
        check_fresh(b, 0, "posix_memalign");
    } else {
        b->align = (size_t)1 << (rng_next(r) % 17); /* 1 .. 64 KiB */
        b->p = xalloc_aligned_alloc(b->align, b->size);
        check_fresh(b, 0, "aligned_alloc");
    }
    if (!b->p) return;
    size_t us = xalloc_malloc_usable_size(b->p);
    if (us < b->size)
        report("%s(size %zu, align %zu) = %p: usable size %zu < size", what, b->size, b->align, (void *)b->p, us);
    fill_block(b);
}

static void release(block_t *b, uint64_t *r, const char *when) {
    if (!b->p) return;
    check_live(b, when);
    if (!xalloc_owns(b->p)) report("%s: xalloc_owns(%p) false for a live block", when, (void *)b->p);
    unsigned how = (unsigned)(rng_next(r) % 4);
    if (how == 0 && b->align == 1) xalloc_free_sized(b->p, b->size);
    else if (how == 1 && b->align > 1) xalloc_free_aligned_sized(b->p, b->align, b->size);
    else xalloc_free(b->p);
    b->p = NULL;
}

/* realloc to a new size: the old prefix must survive, alignment >= 16 for
 * blocks of 16+ bytes (realloc does not keep larger requested alignments). */
static void resize(block_t *b, uint64_t *r) {
    check_live(b, "before realloc");
    size_t n;
    switch (rng_next(r) % 4) {
    case 0: n = b->size + 1 + rng_next(r) % (b->size < 64 ? 64 : b->size); break; /* grow */
    case 1: n = b->size / 2 + 1; break;                                                  /* shrink */
    case 2: n = b->size + 1 + rng_next(r) % 32; break;                                   /* nudge */
    default: n = random_size(r); break;                                                  /* jump */
    }
    if (n > 16 * MiB) n = 16 * MiB;
    unsigned char *q = xalloc_realloc(b->p, n);
    if (!q) {
        report("realloc(%p, %zu) returned NULL", (void *)b->p, n);
        return; /* old block still valid; leave it */
    }
    if (n >= 16 && ((uintptr_t)q & 15)) report("realloc(%zu) = %p not 16-aligned", n, (void *)q);
    check_pattern(b, q, n, "after realloc");
    b->p = q;
    b->size = n;
    b->align = 1;
    fill_block(b);
}

/* ---- the exchange -------------------------------------------------------- */

static pthread_mutex_t g_xlock = PTHREAD_MUTEX_INITIALIZER;
static block_t g_exchange[EXCHANGE_CAP];
static int g_xcount;

static int xpush(const block_t *b) {
    int ok = 0;
    pthread_mutex_lock(&g_xlock);
    if (g_xcount < EXCHANGE_CAP) {
        g_exchange[g_xcount++] = *b;
        ok = 1;
    }
    pthread_mutex_unlock(&g_xlock);
    return ok;
}

/* Pops a random entry so blocks from every thread get mixed. */
static int xpop(block_t *out, uint64_t *r) {
    int ok = 0;
    pthread_mutex_lock(&g_xlock);
    if (g_xcount > 0) {
        int i = (int)(rng_next(r) % (uint64_t)g_xcount);
        *out = g_exchange[i];
        g_exchange[i] = g_exchange[--g_xcount];
        ok = 1;
    }
    pthread_mutex_unlock(&g_xlock);
    return ok;
}

static void drain_exchange(void) {
    uint64_t r = 1;
    block_t b;
    while (xpop(&b, &r)) release(&b, &r, "drain");
}

/* ---- workers ------------------------------------------------------------- */

typedef struct {
    int id;
    long ops;
} worker_arg_t;

static void *mixed_worker(void *argp) {
    worker_arg_t *arg = argp;
    uint64_t r = ((uint64_t)g_seed << 16) ^ (uint64_t)(arg->id + 1) * 0x9E3779B97F4A7C15ull;
    if (!r) r = 1;
    block_t *slots = calloc(SLOTS, sizeof *slots); /* glibc: bookkeeping only */
    if (!slots) {
        report("out of memory for slots");
        return NULL;
    }
    for (long op = 0; op < arg->ops; op++) {
        block_t *b = &slots[rng_next(&r) % SLOTS];
        unsigned what = (unsigned)(rng_next(&r) % 100);
        if (what < 50) { /* allocate or free */
            if (b->p) release(b, &r, "before free");
            else allocate(b, &r);
        } else if (what < 70) { /* realloc chain */
            if (b->p) resize(b, &r);
            else allocate(b, &r);
        } else if (what < 85) { /* hand a block to another thread */
            if (b->p) {
                check_live(b, "before push");
                if (xpush(b)) b->p = NULL;
                else release(b, &r, "exchange full");
            } else {
                allocate(b, &r);
            }
        } else { /* free a block some thread handed over */
            block_t other;
            if (xpop(&other, &r)) release(&other, &r, "remote free");
        }
    }
    for (int i = 0; i < SLOTS; i++) release(&slots[i], &r, "final free");
    free(slots);
    return NULL;
}

static atomic_int g_producers_left;

/* Producers only allocate and hand over; consumers only free: nearly every
 * free is remote. */
static void *producer(void *argp) {
    worker_arg_t *arg = argp;
    uint64_t r = ((uint64_t)g_seed << 20) ^ (uint64_t)(arg->id + 101) * 0x9E3779B97F4A7C15ull;
    for (long op = 0; op < arg->ops; op++) {
        block_t b;
        allocate(&b, &r);
        if (!b.p) continue;
        if (rng_next(&r) % 4 == 0) resize(&b, &r);
        if (!xpush(&b)) release(&b, &r, "producer, exchange full");
    }
    atomic_fetch_sub(&g_producers_left, 1);
    return NULL;
}

static void *consumer(void *argp) {
    worker_arg_t *arg = argp;
    uint64_t r = ((uint64_t)g_seed << 24) ^ (uint64_t)(arg->id + 201) * 0x9E3779B97F4A7C15ull;
    for (;;) {
        block_t b;
        if (xpop(&b, &r)) {
            release(&b, &r, "consumer free");
        } else if (atomic_load(&g_producers_left) == 0) {
            if (!xpop(&b, &r)) break;
            release(&b, &r, "consumer free");
        } else {
            sched_yield();
        }
    }
    return NULL;
}

static void run_threads(int n, void *(*fn)(void *), long ops, pthread_t *tids, worker_arg_t *args, int first) {
    for (int i = 0; i < n; i++) {
        args[first + i].id = first + i;
        args[first + i].ops = ops;
        assert_int_equal(pthread_create(&tids[first + i], NULL, fn, &args[first + i]), 0);
    }
}

/* ---- tests --------------------------------------------------------------- */

static void test_mixed(void **state) {
    pthread_t tids[256];
    worker_arg_t args[256];
    atomic_store(&g_failures, 0);
    run_threads(g_threads, mixed_worker, g_ops, tids, args, 0);
    for (int i = 0; i < g_threads; i++) pthread_join(tids[i], NULL);
    drain_exchange();
    if (atomic_load(&g_failures)) fail_msg("%d failures, see stderr (seed %u)", atomic_load(&g_failures), g_seed);
}

static void test_producer_consumer(void **state) {
    pthread_t tids[256];
    worker_arg_t args[256];
    int np = g_threads / 2 > 0 ? g_threads / 2 : 1;
    int nc = g_threads - np > 0 ? g_threads - np : 1;
    atomic_store(&g_failures, 0);
    atomic_store(&g_producers_left, np);
    run_threads(np, producer, g_ops / 2, tids, args, 0);
    run_threads(nc, consumer, 0, tids, args, np);
    for (int i = 0; i < np + nc; i++) pthread_join(tids[i], NULL);
    drain_exchange();
    if (atomic_load(&g_failures)) fail_msg("%d failures, see stderr (seed %u)", atomic_load(&g_failures), g_seed);
}

/* Huge blocks that bypass any cache of freed mappings (> 64 MiB) are moved
 * by realloc in some threads while others map new huge blocks: an address
 * freed by a move can be handed out again at once, and the new block must
 * not inherit the old block's bookkeeping (size, ownership). Mostly
 * untouched memory, so this costs syscalls, not page faults. */
#define HUGE_RACE_ITERS 1500

static void *huge_mover(void *argp) {
    worker_arg_t *arg = argp;
    for (long i = 0; i < arg->ops; i++) {
        size_t n = (65 * MiB) + (size_t)(i % 64) * 4096;
        unsigned char *p = xalloc_malloc(n);
        unsigned char *blocker = xalloc_malloc(65 * MiB); /* so growth has to move */
        if (!p || !blocker) {
            report("huge malloc failed");
            break;
        }
        p[0] = 0x11, p[n - 1] = 0x22;
        unsigned char *q = xalloc_realloc(p, 2 * n);
        if (!q) {
            report("huge realloc(%zu) failed", 2 * n);
            xalloc_free(p);
        } else {
            if (q[0] != 0x11 || q[n - 1] != 0x22) report("huge realloc %p -> %p lost contents", (void *)p, (void *)q);
            if (xalloc_malloc_usable_size(q) < 2 * n)
                report("huge realloc(%zu) = %p: usable size %zu", 2 * n, (void *)q, xalloc_malloc_usable_size(q));
            xalloc_free(q);
        }
        xalloc_free(blocker);
    }
    return NULL;
}

static void *huge_mapper(void *argp) {
    worker_arg_t *arg = argp;
    for (long i = 0; i < arg->ops * 4; i++) {
        size_t n = (65 * MiB) + (size_t)((i * 7919) % 8192) * 1024;
        unsigned char *p = xalloc_malloc(n);
        if (!p) {
            report("huge malloc(%zu) failed", n);
            break;
        }
        size_t us = xalloc_malloc_usable_size(p);
        if (us < n) report("huge malloc(%zu) = %p: usable size %zu < size", n, (void *)p, us);
        if (!xalloc_owns(p)) report("huge malloc(%zu) = %p not owned", n, (void *)p);
        p[0] = 1, p[n - 1] = 2;
        xalloc_free(p);
    }
    return NULL;
}

static void test_huge_remap_race(void **state) {
    pthread_t tids[4];
    worker_arg_t args[4];
    long iters = g_ops / 100 < HUGE_RACE_ITERS ? g_ops / 100 + 1 : HUGE_RACE_ITERS;
    atomic_store(&g_failures, 0);
    run_threads(2, huge_mover, iters, tids, args, 0);
    run_threads(2, huge_mapper, iters, tids, args, 2);
    for (int i = 0; i < 4; i++) pthread_join(tids[i], NULL);
    if (atomic_load(&g_failures)) fail_msg("%d failures, see stderr (seed %u)", atomic_load(&g_failures), g_seed);
}

/* After all of the above the allocator is still consistent for the main
 * thread: a burst of allocations is distinct and intact. */
static void test_after(void **state) {
    enum { N = 4096 };
    static block_t b[N];
    uint64_t r = g_seed | 1;
    atomic_store(&g_failures, 0);
    for (int i = 0; i < N; i++) allocate(&b[i], &r);
    for (int i = 0; i < N; i++) release(&b[i], &r, "after");
    if (atomic_load(&g_failures)) fail_msg("%d failures, see stderr (seed %u)", atomic_load(&g_failures), g_seed);
}

static long env_long(const char *name, long def, long lo, long hi) {
    const char *s = getenv(name);
    if (!s || !*s) return def;
    char *end;
    long v = strtol(s, &end, 0);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "ignoring %s=%s\n", name, s);
        return def;
    }
    return v;
}

int main(void) {
    const char *s = getenv("XALLOC_TEST_SEED");
    if (s && *s) g_seed = (unsigned)strtoul(s, NULL, 0);
    else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        g_seed = (unsigned)(ts.tv_sec ^ ts.tv_nsec ^ ((long)getpid() << 16));
    }
    g_ops = env_long("XALLOC_STRESS_OPS", DEFAULT_OPS, 1, 1L << 40);
    g_threads = (int)env_long("XALLOC_STRESS_THREADS", 4, 1, 256);
    printf("stress seed %u (%d threads, %ld ops each)\n", g_seed, g_threads, g_ops);
    fflush(stdout);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed),
        cmocka_unit_test(test_producer_consumer),
        cmocka_unit_test(test_huge_remap_race),
        cmocka_unit_test(test_after),
    };
    return cmocka_run_group_tests_name("xalloc_stress", tests, NULL, NULL);
}
