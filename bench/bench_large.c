/* Large and huge blocks: 16 KiB to 64 MiB with a working set.
 *
 * Each thread (default 1) keeps 16 live blocks and replaces a random one per
 * operation. Fifteen in sixteen new blocks are 16 KiB - 1 MiB, one in sixteen
 * 1 - 64 MiB (log-uniform within each range). Every page of a new block is
 * written once, as a program would use it, so an allocator that hands memory
 * back to the kernel and maps it again pays the page faults again, and one
 * that keeps too much shows a high RSS. Reported: thousand operations per
 * second (one free + one malloc + touching the block) and peak RSS. */
#include "bench_common.h"

#define WS 16

struct worker {
    pthread_t tid;
    uint64_t ops, seed;
    uint64_t t_start, t_end;
};

static size_t draw(struct bench_rng *r, size_t cap)
{
    size_t s = (bench_rand(r) & 15) == 0 ? bench_logsize(r, 1u << 20, 64u << 20)
                                         : bench_logsize(r, 16u << 10, 1u << 20);
    return s > cap ? cap : s;
}

static size_t cap_bytes;

static void *work(void *arg)
{
    struct worker *w = arg;
    struct bench_rng r;
    bench_rng_init(&r, w->seed);
    void *ws[WS];
    size_t wsz[WS];
    w->t_start = bench_now_ns();
    for (int i = 0; i < WS; i++) {
        wsz[i] = draw(&r, cap_bytes);
        ws[i] = bench_xmalloc(wsz[i]);
        bench_touch_pages(ws[i], wsz[i]);
        bench_fill(ws[i], wsz[i]);
    }
    for (uint64_t i = 0; i < w->ops; i++) {
        unsigned s = (unsigned)bench_below(&r, WS);
        bench_check(ws[s], wsz[s]);
        free(ws[s]);
        wsz[s] = draw(&r, cap_bytes);
        ws[s] = bench_xmalloc(wsz[s]);
        bench_touch_pages(ws[s], wsz[s]);
        bench_fill(ws[s], wsz[s]);
    }
    for (int i = 0; i < WS; i++) {
        bench_check(ws[i], wsz[i]);
        free(ws[i]);
    }
    w->t_end = bench_now_ns();
    return NULL;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(&o, argc, argv, "large",
                "16 KiB - 64 MiB blocks with a working set of 16 per thread",
                "number of threads (default 1)");
    int T = o.nthreads ? o.threads[0] : 1;
    cap_bytes = o.mode == BENCH_SMOKE ? 256u << 10 : 64u << 20;
    uint64_t ops = bench_pick(&o, 4000, 600, 64);

    struct worker *w = calloc((size_t)T, sizeof *w);
    if (!w)
        bench_fail("calloc");
    for (int i = 0; i < T; i++) {
        w[i].ops = ops / (uint64_t)T + 1;
        w[i].seed = o.seed * 31 + (uint64_t)i;
        bench_spawn(&w[i].tid, work, &w[i]);
    }
    uint64_t t0 = UINT64_MAX, t1 = 0, total = 0;
    for (int i = 0; i < T; i++) {
        bench_join(w[i].tid);
        t0 = w[i].t_start < t0 ? w[i].t_start : t0;
        t1 = w[i].t_end > t1 ? w[i].t_end : t1;
        total += w[i].ops + WS;
    }
    free(w);
    double sec = (double)(t1 - t0) * 1e-9;
    printf("INFO bench=large threads=%d ops=%llu\n", T, (unsigned long long)total);
    bench_result("kops", (double)total / sec / 1e3, "kops/s", "higher");
    bench_result("peak_rss_mb", (double)bench_peak_rss_kb() / 1024.0, "MB",
                 "lower");
    return 0;
}
