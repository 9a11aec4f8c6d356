/* Scalability: T threads allocate and free independently.
 *
 * For each T in the list (default 1,2,4,8) the same total number of
 * operations is split between T threads. Each thread keeps its own working
 * set of 1024 blocks of mixed small sizes (8 B - 2 KiB, log-uniform) and
 * replaces a random block per operation (one free + one malloc). Threads start
 * together at a barrier; the clock runs from the first thread's start to the
 * last thread's end.
 * On a machine with fewer cores than T the ideal is flat throughput; on
 * enough cores, throughput proportional to T. Reported: million operations
 * per second at each T (metric mops_tN). */
#include "bench_common.h"

#define WS 1024

struct worker {
    pthread_t tid;
    pthread_barrier_t *start;
    uint64_t ops;
    uint64_t seed;
    uint64_t t_start, t_end; /* per-thread clock: main may run late */
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct bench_rng r;
    bench_rng_init(&r, w->seed);
    void **ws = bench_xmalloc(WS * sizeof *ws);
    size_t *wsz = bench_xmalloc(WS * sizeof *wsz);
    for (int i = 0; i < WS; i++) {
        wsz[i] = bench_logsize(&r, 8, 2048);
        ws[i] = bench_xmalloc(wsz[i]);
        bench_fill(ws[i], wsz[i]);
    }
    pthread_barrier_wait(w->start);
    w->t_start = bench_now_ns();
    for (uint64_t i = 0; i < w->ops; i++) {
        uint64_t x = bench_rand(&r);
        unsigned s = (unsigned)(x & (WS - 1));
        bench_check(ws[s], wsz[s]);
        free(ws[s]);
        size_t sz = bench_logsize(&r, 8, 2048);
        void *p = malloc(sz);
        if (!p)
            bench_fail("malloc(%zu) returned NULL", sz);
        bench_fill(p, sz);
        ws[s] = p;
        wsz[s] = sz;
    }
    w->t_end = bench_now_ns();
    for (int i = 0; i < WS; i++) {
        bench_check(ws[i], wsz[i]);
        free(ws[i]);
    }
    free(ws);
    free(wsz);
    return NULL;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(&o, argc, argv, "scaling",
                "T threads each replacing blocks in a private working set",
                "thread counts to run, comma separated (default 1,2,4,8)");
    if (o.nthreads == 0) {
        int def[] = {1, 2, 4, 8};
        o.nthreads = 4;
        memcpy(o.threads, def, sizeof def);
    }
    uint64_t total = bench_pick(&o, 16000000, 3000000, 8000);

    for (int ti = 0; ti < o.nthreads; ti++) {
        int T = o.threads[ti];
        struct worker *w = calloc((size_t)T, sizeof *w);
        pthread_barrier_t start;
        if (!w)
            bench_fail("calloc");
        pthread_barrier_init(&start, NULL, (unsigned)T + 1);
        for (int i = 0; i < T; i++) {
            w[i].start = &start;
            w[i].ops = total / (uint64_t)T + 1;
            w[i].seed = o.seed * 1000 + (uint64_t)ti * 100 + (uint64_t)i;
            bench_spawn(&w[i].tid, work, &w[i]);
        }
        pthread_barrier_wait(&start);
        uint64_t t0 = UINT64_MAX, t1 = 0;
        for (int i = 0; i < T; i++) {
            bench_join(w[i].tid);
            t0 = w[i].t_start < t0 ? w[i].t_start : t0;
            t1 = w[i].t_end > t1 ? w[i].t_end : t1;
        }
        double sec = (double)(t1 - t0) * 1e-9;
        pthread_barrier_destroy(&start);
        uint64_t ops = w[0].ops * (uint64_t)T;
        free(w);
        char metric[32];
        snprintf(metric, sizeof metric, "mops_t%d", T);
        bench_result(metric, (double)ops / sec / 1e6, "Mops/s", "higher");
    }
    return 0;
}
