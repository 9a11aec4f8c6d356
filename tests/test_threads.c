/* Thread lifecycle: per-thread caches must be flushed and their memory reused
 * when threads exit, and memory may outlive the thread that allocated it or be
 * freed by another thread and then handed out again, intact.
 *
 * RSS bounds are generous (a leak of per-thread state over 9,000 threads is
 * hundreds of MiB) and are skipped under sanitizers, whose own bookkeeping
 * grows with the number of threads. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "xalloc.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* Also read by the worker threads, where cmocka cannot report a failure:
 * abort instead. */
static size_t rss_or_abort(void) {
    size_t bytes = 0;
    if (!read_rss(&bytes)) abort();
    return bytes;
}

static inline uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Byte i of a block tagged `tag`. Blocks up to 1 KiB are patterned whole,
 * bigger ones at both ends and every SPARSE bytes (keeps 10,000 threads cheap). */
#define SPARSE 509
static inline unsigned char pat(uint64_t tag, size_t i) {
    return (unsigned char)((tag * 0x9E3779B97F4A7C15ull >> 40) ^ i ^ (i >> 8));
}
static inline size_t next_i(size_t i, size_t n) {
    return n <= KiB || i + 1 < 64 || i + 1 >= n - 64 ? i + 1 : (i + SPARSE < n - 64 ? i + SPARSE : n - 64);
}
static void fill(unsigned char *p, size_t n, uint64_t tag) {
    for (size_t i = 0; i < n; i = next_i(i, n)) p[i] = pat(tag, i);
}
static int intact(const unsigned char *p, size_t n, uint64_t tag) {
    for (size_t i = 0; i < n; i = next_i(i, n))
        if (p[i] != pat(tag, i)) return 0;
    return 1;
}

/* ---- 10,000 short-lived threads, one after another ---------------------- */

#define SMALL_PER_THREAD 100
#define LARGE_PER_THREAD 3
#define HANDED_BACK 4  /* blocks each thread leaves for the main thread to free */
#define HANDED_IN 16   /* blocks the main thread gives each thread to free */

typedef struct {
    long index;
    unsigned char *in[HANDED_IN]; /* allocated by main, freed by the thread */
    size_t in_size[HANDED_IN];
    unsigned char *out[HANDED_BACK]; /* allocated by the thread, freed by main */
    size_t out_size[HANDED_BACK];
    uint64_t out_tag[HANDED_BACK];
    int ok;
} life_t;

static void *short_lived(void *argp) {
    life_t *a = argp;
    uint64_t r = (uint64_t)a->index * 7919 + 1;
    unsigned char *p[SMALL_PER_THREAD + LARGE_PER_THREAD];
    size_t n[SMALL_PER_THREAD + LARGE_PER_THREAD];
    a->ok = 1;
    for (int i = 0; i < SMALL_PER_THREAD + LARGE_PER_THREAD; i++) {
        n[i] = i < SMALL_PER_THREAD ? 8 + rng_next(&r) % 505 : 16 * KiB + rng_next(&r) % (240 * KiB);
        p[i] = xalloc_malloc(n[i]);
        if (!p[i]) {
            a->ok = 0;
            return NULL;
        }
        fill(p[i], n[i], (uint64_t)a->index << 8 | (uint64_t)i);
    }
    for (int i = 0; i < HANDED_IN; i++) {
        if (!intact(a->in[i], a->in_size[i], (uint64_t)a->index << 8 | 0xff)) a->ok = 0;
        xalloc_free(a->in[i]);
    }
    for (int i = 0; i < SMALL_PER_THREAD + LARGE_PER_THREAD; i++)
        if (!intact(p[i], n[i], (uint64_t)a->index << 8 | (uint64_t)i)) a->ok = 0;
    /* Hand back two small and two large blocks, free the rest. */
    int k = 0;
    for (int i = 0; i < SMALL_PER_THREAD + LARGE_PER_THREAD; i++) {
        if (k < HANDED_BACK && (i == 10 || i == 50 || i == SMALL_PER_THREAD || i == SMALL_PER_THREAD + 2)) {
            a->out[k] = p[i];
            a->out_size[k] = n[i];
            a->out_tag[k++] = (uint64_t)a->index << 8 | (uint64_t)i;
        } else {
            xalloc_free(p[i]);
        }
    }
    return NULL;
}

static long env_long(const char *name, long def) {
    const char *s = getenv(name);
    return s && *s ? strtol(s, NULL, 0) : def;
}

static void test_many_sequential_threads(void **state) {
    /* Sanitizers make thread creation slow and skip the RSS bound anyway. */
    const long nthreads = env_long("XALLOC_TEST_THREADS", UNDER_SANITIZER ? 2000 : 10000);
    const long checkpoint = nthreads / 10;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * KiB);
    life_t prev = {0}, cur;
    size_t rss_checkpoint = 0;
    int bad = 0;

    for (long t = 0; t < nthreads; t++) {
        memset(&cur, 0, sizeof cur);
        cur.index = t;
        for (int i = 0; i < HANDED_IN; i++) {
            cur.in_size[i] = i < HANDED_IN - 2 ? 8 + (size_t)(t + i) % 300 : 20 * KiB + (size_t)i;
            cur.in[i] = xalloc_malloc(cur.in_size[i]);
            assert_non_null(cur.in[i]);
            fill(cur.in[i], cur.in_size[i], (uint64_t)t << 8 | 0xff);
        }
        pthread_t tid;
        assert_int_equal(pthread_create(&tid, &attr, short_lived, &cur), 0);
        assert_int_equal(pthread_join(tid, NULL), 0);
        if (!cur.ok) {
            if (bad++ < 5) fprintf(stderr, "thread %ld saw a corrupted or missing block\n", t);
        }
        /* Free the previous thread's leftovers (outliving their thread by a
         * full generation), keep this one's until the next round. */
        for (int i = 0; i < HANDED_BACK; i++) {
            if (!prev.out[i]) continue;
            if (!intact(prev.out[i], prev.out_size[i], prev.out_tag[i]))
                if (bad++ < 5) fprintf(stderr, "block of dead thread %ld changed after its exit\n", prev.index);
            if (!xalloc_owns(prev.out[i])) bad++;
            xalloc_free(prev.out[i]);
        }
        prev = cur;
        if (t + 1 == checkpoint) rss_checkpoint = rss_or_abort();
    }
    for (int i = 0; i < HANDED_BACK; i++) xalloc_free(prev.out[i]);
    pthread_attr_destroy(&attr);
    size_t rss_end = rss_or_abort();
    if (bad) fail_msg("%d problems with blocks across thread lifetimes", bad);

    long growth = (long)rss_end - (long)rss_checkpoint;
    printf("RSS after %ld threads: %zu KiB, after %ld: %zu KiB (growth %ld KiB)\n", checkpoint,
           rss_checkpoint / KiB, nthreads, rss_end / KiB, growth / 1024);
    if (!UNDER_SANITIZER && growth > (long)(16 * MiB))
        fail_msg("RSS grew by %ld KiB between thread %ld and thread %ld: per-thread caches are not "
                 "released at thread exit", growth / 1024, checkpoint, nthreads);
}

/* ---- allocate in A, free in B, allocate again in A ---------------------- */

#define CROSS_N 100000

typedef struct {
    unsigned char **p;
    size_t *n;
    sem_t round1_done, round2_go;
    size_t rss_round1, rss_round2;
    int ok;
} cross_t;

static size_t cross_size(uint64_t *r) { return 16 + (size_t)(rng_next(r) % 241); }

static void *thread_a(void *argp) {
    cross_t *c = argp;
    uint64_t r = 12345;
    c->ok = 1;
    for (int i = 0; i < CROSS_N; i++) {
        c->n[i] = cross_size(&r);
        c->p[i] = xalloc_malloc(c->n[i]);
        if (!c->p[i]) {
            c->ok = 0;
            break;
        }
        fill(c->p[i], c->n[i], (uint64_t)i);
    }
    c->rss_round1 = rss_or_abort();
    sem_post(&c->round1_done);
    sem_wait(&c->round2_go);
    if (!c->ok) return NULL;
    /* Round 2: the blocks B freed are available again; everything handed out
     * now is live at once, so a block handed out twice breaks a pattern. */
    for (int i = 0; i < CROSS_N; i++) {
        c->n[i] = cross_size(&r);
        c->p[i] = xalloc_malloc(c->n[i]);
        if (!c->p[i]) {
            c->ok = 0;
            return NULL;
        }
        fill(c->p[i], c->n[i], (uint64_t)i ^ 0xabcdef);
    }
    c->rss_round2 = rss_or_abort();
    for (int i = 0; i < CROSS_N; i++) {
        if (!intact(c->p[i], c->n[i], (uint64_t)i ^ 0xabcdef)) c->ok = 0;
        xalloc_free(c->p[i]);
    }
    return NULL;
}

static void *thread_b(void *argp) {
    cross_t *c = argp;
    for (int i = 0; i < CROSS_N; i++) {
        if (!intact(c->p[i], c->n[i], (uint64_t)i)) c->ok = 0;
        xalloc_free(c->p[i]);
        c->p[i] = NULL;
    }
    return NULL;
}

static void test_free_in_other_thread(void **state) {
    cross_t c;
    memset(&c, 0, sizeof c);
    c.p = calloc(CROSS_N, sizeof *c.p);
    c.n = calloc(CROSS_N, sizeof *c.n);
    assert_non_null(c.p);
    assert_non_null(c.n);
    sem_init(&c.round1_done, 0, 0);
    sem_init(&c.round2_go, 0, 0);
    size_t rss_start = rss_or_abort();

    pthread_t a, b;
    assert_int_equal(pthread_create(&a, NULL, thread_a, &c), 0);
    sem_wait(&c.round1_done);
    assert_true(c.ok);
    assert_int_equal(pthread_create(&b, NULL, thread_b, &c), 0);
    assert_int_equal(pthread_join(b, NULL), 0);
    if (!c.ok) fail_msg("thread B found blocks of thread A corrupted");
    sem_post(&c.round2_go);
    assert_int_equal(pthread_join(a, NULL), 0);
    if (!c.ok) fail_msg("round 2 in thread A: allocation failed or blocks overlap");

    long grow1 = (long)c.rss_round1 - (long)rss_start;
    long grow2 = (long)c.rss_round2 - (long)c.rss_round1;
    printf("cross-thread: round 1 grew RSS %ld KiB, round 2 a further %ld KiB\n", grow1 / 1024, grow2 / 1024);
    /* Round 2 allocates as much as round 1; if B's frees were reusable, it
     * fits (mostly) in the memory round 1 already made resident. */
    if (!UNDER_SANITIZER && grow2 > grow1 / 2 && grow2 > (long)(2 * MiB))
        fail_msg("memory freed by another thread was not reused: round 1 +%ld KiB, round 2 +%ld KiB",
                 grow1 / 1024, grow2 / 1024);

    sem_destroy(&c.round1_done);
    sem_destroy(&c.round2_go);
    free(c.p);
    free(c.n);
}

/* Many threads free each other's blocks at the same time, then every thread
 * allocates again: ring of 4 threads, thread i frees thread i-1's blocks. */
#define RING 4
#define RING_N 20000

typedef struct {
    int id;
    unsigned char **mine;
    size_t *mine_n;
    pthread_barrier_t *bar;
    unsigned char ***all;
    size_t **all_n;
    int ok;
} ring_t;

static void *ring_worker(void *argp) {
    ring_t *w = argp;
    uint64_t r = (uint64_t)w->id * 1000003 + 7;
    w->ok = 1;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < RING_N; i++) {
            w->mine_n[i] = 8 + (size_t)(rng_next(&r) % (i % 100 == 0 ? 64 * KiB : 1000));
            w->mine[i] = xalloc_malloc(w->mine_n[i]);
            if (!w->mine[i]) {
                w->ok = 0;
                w->mine_n[i] = 0;
                continue;
            }
            fill(w->mine[i], w->mine_n[i], (uint64_t)w->id << 32 | (uint64_t)round << 24 | (uint64_t)i);
        }
        pthread_barrier_wait(w->bar);
        int victim = (w->id + RING - 1) % RING;
        for (int i = 0; i < RING_N; i++) {
            unsigned char *p = w->all[victim][i];
            if (!p) continue;
            if (!intact(p, w->all_n[victim][i], (uint64_t)victim << 32 | (uint64_t)round << 24 | (uint64_t)i))
                w->ok = 0;
            xalloc_free(p);
        }
        pthread_barrier_wait(w->bar);
    }
    return NULL;
}

static void test_ring_of_remote_frees(void **state) {
    pthread_t tid[RING];
    ring_t w[RING];
    unsigned char **all[RING];
    size_t *all_n[RING];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, RING);
    for (int i = 0; i < RING; i++) {
        all[i] = calloc(RING_N, sizeof **all);
        all_n[i] = calloc(RING_N, sizeof **all_n);
        assert_non_null(all[i]);
        assert_non_null(all_n[i]);
    }
    for (int i = 0; i < RING; i++) {
        w[i] = (ring_t){.id = i, .mine = all[i], .mine_n = all_n[i], .bar = &bar, .all = all, .all_n = all_n};
        assert_int_equal(pthread_create(&tid[i], NULL, ring_worker, &w[i]), 0);
    }
    for (int i = 0; i < RING; i++) pthread_join(tid[i], NULL);
    for (int i = 0; i < RING; i++) {
        if (!w[i].ok) fail_msg("ring thread %d saw a corrupted block", i);
        free(all[i]);
        free(all_n[i]);
    }
    pthread_barrier_destroy(&bar);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_free_in_other_thread),
        cmocka_unit_test(test_ring_of_remote_frees),
        cmocka_unit_test(test_many_sequential_threads),
    };
    return cmocka_run_group_tests_name("xalloc_threads", tests, NULL, NULL);
}
