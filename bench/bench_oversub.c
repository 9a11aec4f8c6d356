/* Oversubscription: many more threads than cores, medium and large blocks.
 *
 * The same total number of operations is run twice: split between a few
 * threads (default 2) and between many (default 32). Each thread keeps 16
 * live blocks and replaces a random one per operation; three in four new
 * blocks are 1 - 32 KiB, one in four 32 - 512 KiB, sizes past the thread
 * caches of most allocators, so they reach shared arenas and their locks.
 * One operation in sixteen also swaps the new block with a random entry of
 * a table shared by all threads, so blocks are freed by other threads too.
 * With 32 threads on 2 cores, lock holders get preempted; an allocator that
 * spins on its locks burns CPU time instead of sleeping. Reported for each
 * thread count: million operations per second and CPU nanoseconds (user +
 * system, all threads) per operation; and the ratio of CPU per operation
 * at the high count to that at the low count (1.0 is ideal); peak RSS. */
#include "bench_common.h"

#include <stdatomic.h>

#define WS 16
#define SHARED 1024

struct hdr {
    uint64_t tag;  /* bench_fill's tag lives here */
    uint64_t size; /* so whoever frees it knows the size */
};

static _Atomic(struct hdr *) shared[SHARED];
static pthread_barrier_t start;

struct worker {
    pthread_t tid;
    uint64_t ops, seed;
    uint64_t t_start, t_end;
};

static struct hdr *new_block(struct bench_rng *r)
{
    size_t sz = (bench_rand(r) & 3) == 0 ? bench_logsize(r, 32u << 10, 512u << 10)
                                         : bench_logsize(r, 1u << 10, 32u << 10);
    struct hdr *h = bench_xmalloc(sz);
    bench_fill(h, sz);
    h->size = sz;
    return h;
}

static void drop_block(struct hdr *h)
{
    if (!h)
        return;
    size_t sz = h->size;
    if (sz < 1024 || sz > (512u << 10))
        bench_fail("block %p has a corrupted size field", (void *)h);
    bench_check(h, sz);
    free(h);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct bench_rng r;
    bench_rng_init(&r, w->seed);
    struct hdr *ws[WS];
    pthread_barrier_wait(&start);
    w->t_start = bench_now_ns();
    for (int i = 0; i < WS; i++)
        ws[i] = new_block(&r);
    for (uint64_t i = 0; i < w->ops; i++) {
        uint64_t x = bench_rand(&r);
        unsigned s = (unsigned)(x & (WS - 1));
        drop_block(ws[s]);
        ws[s] = new_block(&r);
        if (((x >> 8) & 15) == 0) {
            unsigned g = (unsigned)((x >> 16) & (SHARED - 1));
            ws[s] = atomic_exchange(&shared[g], ws[s]);
            if (!ws[s])
                ws[s] = new_block(&r);
        }
    }
    for (int i = 0; i < WS; i++)
        drop_block(ws[i]);
    w->t_end = bench_now_ns();
    return NULL;
}

static void run(int T, uint64_t total, uint64_t seed, double *mops, double *cpu_ns)
{
    struct worker *w = calloc((size_t)T, sizeof *w);
    if (!w)
        bench_fail("calloc");
    pthread_barrier_init(&start, NULL, (unsigned)T);
    double c0 = bench_cpu_s();
    for (int i = 0; i < T; i++) {
        w[i].ops = total / (uint64_t)T + 1;
        w[i].seed = seed + (uint64_t)i;
        bench_spawn(&w[i].tid, work, &w[i]);
    }
    uint64_t t0 = UINT64_MAX, t1 = 0, ops = 0;
    for (int i = 0; i < T; i++) {
        bench_join(w[i].tid);
        t0 = w[i].t_start < t0 ? w[i].t_start : t0;
        t1 = w[i].t_end > t1 ? w[i].t_end : t1;
        ops += w[i].ops + WS;
    }
    double cpu = bench_cpu_s() - c0;
    pthread_barrier_destroy(&start);
    free(w);
    for (int g = 0; g < SHARED; g++)
        drop_block(atomic_exchange(&shared[g], NULL));
    *mops = (double)ops / ((double)(t1 - t0) * 1e-9) / 1e6;
    *cpu_ns = cpu * 1e9 / (double)ops;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(&o, argc, argv, "oversub",
                "many more threads than cores, medium and large blocks",
                "LOW,HIGH thread counts (default 2,32)");
    int lo = 2, hi = 32;
    if (o.nthreads >= 2) {
        lo = o.threads[0];
        hi = o.threads[1];
    } else if (o.nthreads == 1) {
        hi = o.threads[0];
    }
    uint64_t total = bench_pick(&o, 2500000, 300000, 4000);

    double mlo, clo, mhi, chi;
    run(lo, total, o.seed * 101, &mlo, &clo);
    run(hi, total, o.seed * 103, &mhi, &chi);

    char m[64];
    printf("INFO bench=oversub cpus=%d low=%d high=%d ops=%llu\n", bench_ncpus(),
           lo, hi, (unsigned long long)total);
    snprintf(m, sizeof m, "mops_t%d", lo);
    bench_result(m, mlo, "Mops/s", "higher");
    snprintf(m, sizeof m, "mops_t%d", hi);
    bench_result(m, mhi, "Mops/s", "higher");
    snprintf(m, sizeof m, "cpu_ns_per_op_t%d", lo);
    bench_result(m, clo, "ns", "lower");
    snprintf(m, sizeof m, "cpu_ns_per_op_t%d", hi);
    bench_result(m, chi, "ns", "lower");
    snprintf(m, sizeof m, "cpu_ratio_t%d_over_t%d", hi, lo);
    bench_result(m, chi / clo, "x", "lower");
    bench_result("peak_rss_mb", (double)bench_peak_rss_kb() / 1024.0, "MB",
                 "lower");
    return 0;
}
