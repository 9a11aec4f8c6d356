/* Cross-thread: producers allocate, consumers free.
 *
 * P producer threads allocate blocks (mostly 16 B - 1 KiB, one in sixteen
 * 1 - 8 KiB), write a tag into each and hand them over in batches of 1024
 * through one bounded queue (mutex + condition variables, 16 batches deep)
 * to C consumer threads, which check and free them. Every block is thus
 * freed by a thread that did not allocate it: the allocator must route the
 * memory back (remote free lists, owner arenas, ...) without losing it or
 * hoarding it. The batches themselves are malloc'd by the producer and freed
 * by the consumer too. Reported: million blocks per second (each one malloc
 * and one remote free), the process's peak RSS, and that peak (above the
 * RSS at start) over the peak of live requested bytes. Live data is bounded
 * by the queue (about 10 MiB), so a high ratio means memory freed remotely
 * is not being reused. Live bytes are counted per block: each thread adds
 * what it allocates and subtracts what it frees, and publishes its sum
 * every LIVE_PUBLISH blocks and before each hand-over (so a free is never
 * published before its malloc); the peak is off by at most LIVE_PUBLISH - 1
 * blocks per thread. (Counting whole batches at hand-over missed the batch
 * each producer is filling: with 8 producers on a 16-core machine a third
 * of the live bytes, so that even an allocator with no overhead at all
 * would have scored about 1.7.) */
#include "bench_common.h"

#include <stdatomic.h>
#include <stddef.h>

#define BATCH 1024
#define QCAP 16

struct batch {
    struct batch *next;
    uint32_t n;
    void *p[BATCH];
    uint32_t sz[BATCH];
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    struct batch *head, *tail;
    int count;
    int producers_left;
} q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
       PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0};

#define LIVE_PUBLISH 16

static pthread_barrier_t start;
static _Atomic size_t live_bytes, peak_live_bytes;

/* One thread's live bytes not yet added to live_bytes (negative for a
 * consumer). */
struct live_count {
    ptrdiff_t pending;
    unsigned blocks;
};

static void live_publish(struct live_count *l)
{
    ptrdiff_t d = l->pending;
    l->pending = 0;
    l->blocks = 0;
    if (d <= 0) {
        atomic_fetch_sub(&live_bytes, (size_t)-d);
        return;
    }
    size_t now = atomic_fetch_add(&live_bytes, (size_t)d) + (size_t)d;
    size_t peak = atomic_load(&peak_live_bytes);
    while (now > peak && !atomic_compare_exchange_weak(&peak_live_bytes, &peak, now)) {
    }
}

static void live_note(struct live_count *l, ptrdiff_t bytes)
{
    l->pending += bytes;
    if (++l->blocks == LIVE_PUBLISH)
        live_publish(l);
}
/* Clock from the first thread past the barrier to the last one done (the
 * main thread may be scheduled late on a small machine). */
static _Atomic uint64_t t_first = UINT64_MAX, t_last = 0;

static void mark_start(void)
{
    uint64_t t = bench_now_ns(), cur = atomic_load(&t_first);
    while (t < cur && !atomic_compare_exchange_weak(&t_first, &cur, t)) {
    }
}

static void mark_end(void)
{
    uint64_t t = bench_now_ns(), cur = atomic_load(&t_last);
    while (t > cur && !atomic_compare_exchange_weak(&t_last, &cur, t)) {
    }
}

static void push(struct batch *b)
{
    pthread_mutex_lock(&q.lock);
    while (q.count >= QCAP)
        pthread_cond_wait(&q.not_full, &q.lock);
    b->next = NULL;
    if (q.tail)
        q.tail->next = b;
    else
        q.head = b;
    q.tail = b;
    q.count++;
    pthread_cond_signal(&q.not_empty);
    pthread_mutex_unlock(&q.lock);
}

static struct batch *pop(void)
{
    pthread_mutex_lock(&q.lock);
    while (q.count == 0 && q.producers_left > 0)
        pthread_cond_wait(&q.not_empty, &q.lock);
    struct batch *b = q.head;
    if (b) {
        q.head = b->next;
        if (!q.head)
            q.tail = NULL;
        q.count--;
        pthread_cond_signal(&q.not_full);
    }
    pthread_mutex_unlock(&q.lock);
    return b;
}

struct producer {
    pthread_t tid;
    uint64_t batches;
    uint64_t seed;
};

static void *produce(void *arg)
{
    struct producer *pr = arg;
    struct bench_rng r;
    struct live_count live = {0, 0};
    bench_rng_init(&r, pr->seed);
    pthread_barrier_wait(&start);
    mark_start();
    for (uint64_t b = 0; b < pr->batches; b++) {
        struct batch *bt = bench_xmalloc(sizeof *bt);
        live_note(&live, (ptrdiff_t)sizeof *bt);
        bt->n = BATCH;
        for (int i = 0; i < BATCH; i++) {
            uint64_t x = bench_rand(&r);
            size_t sz = (x & 15) == 0 ? bench_logsize(&r, 1025, 8192)
                                      : bench_logsize(&r, 16, 1024);
            void *p = malloc(sz);
            if (!p)
                bench_fail("malloc(%zu) returned NULL", sz);
            bench_fill(p, sz);
            bt->p[i] = p;
            bt->sz[i] = (uint32_t)sz;
            live_note(&live, (ptrdiff_t)sz);
        }
        live_publish(&live);          /* before its consumer can free it */
        push(bt);
    }
    pthread_mutex_lock(&q.lock);
    q.producers_left--;
    pthread_cond_broadcast(&q.not_empty);
    pthread_mutex_unlock(&q.lock);
    mark_end();
    return NULL;
}

static void *consume(void *arg)
{
    uint64_t *freed = arg;
    struct live_count live = {0, 0};
    pthread_barrier_wait(&start);
    mark_start();
    struct batch *b;
    while ((b = pop()) != NULL) {
        for (uint32_t i = 0; i < b->n; i++) {
            bench_check(b->p[i], b->sz[i]);
            free(b->p[i]);
            live_note(&live, -(ptrdiff_t)b->sz[i]);
        }
        *freed += b->n;
        free(b);
        live_note(&live, -(ptrdiff_t)sizeof *b);
    }
    live_publish(&live);
    mark_end();
    return NULL;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(&o, argc, argv, "xthread",
                "producers allocate, consumers free (remote frees)",
                "P: number of producers = number of consumers "
                "(default max(2, cpus/2))");
    int P = o.nthreads ? o.threads[0] : (bench_ncpus() / 2 > 2 ? bench_ncpus() / 2 : 2);
    int C = P;
    long rss0 = bench_rss_kb();
    uint64_t total_batches = bench_pick(&o, 10000, 2000, 8);
    uint64_t per = total_batches / (uint64_t)P;
    if (per == 0)
        per = 1;

    struct producer *pr = calloc((size_t)P, sizeof *pr);
    pthread_t *ct = calloc((size_t)C, sizeof *ct);
    uint64_t *freed = calloc((size_t)C * 8, sizeof *freed); /* padded */
    if (!pr || !ct || !freed)
        bench_fail("calloc");
    q.producers_left = P;
    pthread_barrier_init(&start, NULL, (unsigned)(P + C + 1));
    for (int i = 0; i < P; i++) {
        pr[i].batches = per;
        pr[i].seed = o.seed * 1000 + (uint64_t)i;
        bench_spawn(&pr[i].tid, produce, &pr[i]);
    }
    for (int i = 0; i < C; i++)
        bench_spawn(&ct[i], consume, &freed[i * 8]);
    pthread_barrier_wait(&start);
    for (int i = 0; i < P; i++)
        bench_join(pr[i].tid);
    for (int i = 0; i < C; i++)
        bench_join(ct[i]);
    double sec = (double)(atomic_load(&t_last) - atomic_load(&t_first)) * 1e-9;

    uint64_t n = 0;
    for (int i = 0; i < C; i++)
        n += freed[i * 8];
    if (n != per * (uint64_t)P * BATCH)
        bench_fail("freed %llu blocks, expected %llu", (unsigned long long)n,
                   (unsigned long long)(per * (uint64_t)P * BATCH));
    if (atomic_load(&live_bytes) != 0)
        bench_fail("live bytes do not add up: %zu left", atomic_load(&live_bytes));
    pthread_barrier_destroy(&start);
    free(pr);
    free(ct);
    free(freed);

    long rss_peak = bench_peak_rss_kb();
    double live_mb = (double)atomic_load(&peak_live_bytes) / 1048576.0;
    printf("INFO bench=xthread producers=%d consumers=%d blocks=%llu "
           "live_peak_mb=%.2f rss_start_mb=%.2f\n", P, C, (unsigned long long)n,
           live_mb, rss0 / 1024.0);
    bench_result("mops", (double)n / sec / 1e6, "Mops/s", "higher");
    bench_result("peak_rss_mb", (double)rss_peak / 1024.0, "MB", "lower");
    bench_result("peak_rss_over_live", (double)(rss_peak - rss0) / 1024.0 / live_mb, "x",
                 "lower");
    return 0;
}
