/* Idle threads: memory that threads cached before they went quiet.
 *
 * T worker threads (default 16) each allocate, write and free about 4 MiB
 * of blocks of 64 - 512 KiB (in 32 KiB steps: at most two per size class)
 * and 256 KiB of small blocks (16 B - 8 KiB), so that a thread cache keeps
 * what it can of them; then they block on a barrier, as worker threads of
 * a pool do between jobs. The main thread goes on working for 2 s (1.6 s
 * with --quick: past the usual decay time of 1 s either way): every 2 ms,
 * 64 malloc/free pairs of 100 B and 40 KiB. An allocator whose thread
 * caches keep what idle threads freed holds that memory until the threads
 * run again or exit. Reported: RSS when the workers have gone idle and at
 * the end of the wait (MB, lower is better), and how much of what the
 * workers added is still resident at the end (percent). SAMPLE lines
 * trace the RSS. */
#include "bench_common.h"

static pthread_barrier_t cached, resume;

static void *worker(void *arg)
{
    struct bench_rng *r = arg;
    void *big[16], *small[512];
    size_t bsz[16], ssz[512];
    int nb = 0, ns = 0;
    for (size_t sz = 64u << 10; sz <= 512u << 10 && nb < 16; sz += 32u << 10) {
        big[nb] = bench_xmalloc(sz);
        bsz[nb] = sz;
        bench_fill(big[nb], sz);
        bench_touch_pages(big[nb], sz);
        nb++;
    }
    for (size_t total = 0; total < (256u << 10) && ns < 512; ns++) {
        ssz[ns] = bench_logsize(r, 16, 8192);
        small[ns] = bench_xmalloc(ssz[ns]);
        bench_fill(small[ns], ssz[ns]);
        total += ssz[ns];
    }
    for (int i = 0; i < nb; i++) {
        bench_check(big[i], bsz[i]);
        free(big[i]);
    }
    for (int i = 0; i < ns; i++) {
        bench_check(small[i], ssz[i]);
        free(small[i]);
    }
    pthread_barrier_wait(&cached);
    pthread_barrier_wait(&resume);
    return NULL;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(&o, argc, argv, "idle",
                "threads cache memory and go idle; RSS while another thread works",
                "T: number of idle worker threads (default 16)");
    int T = o.nthreads ? o.threads[0] : 16;
    if (T < 1 || T > 1024)
        bench_fail("--threads %d: 1 to 1024", T);
    /* Longer than the usual decay times (1 s) even with --quick: what an
     * allocator gives back on a clock shows only past it. */
    double wait_ms = o.mode == BENCH_SMOKE ? 20 : o.mode == BENCH_QUICK ? 1600 : 2000;

    long rss0 = bench_rss_kb();
    uint64_t t0 = bench_now_ns();
#define T_MS() ((double)(bench_now_ns() - t0) * 1e-6)
    bench_sample("start", 0, rss0);
    pthread_t *th = calloc((size_t)T, sizeof *th);
    struct bench_rng *rng = calloc((size_t)T, sizeof *rng);
    if (!th || !rng)
        bench_fail("calloc");
    pthread_barrier_init(&cached, NULL, (unsigned)T + 1);
    pthread_barrier_init(&resume, NULL, (unsigned)T + 1);
    for (int i = 0; i < T; i++) {
        bench_rng_init(&rng[i], o.seed * 1000 + (uint64_t)i);
        bench_spawn(&th[i], worker, &rng[i]);
    }
    pthread_barrier_wait(&cached);
    long rss_idle = bench_rss_kb();
    bench_sample("idle", T_MS(), rss_idle);

    double w0 = T_MS();
    long rss_end = rss_idle;
    while (T_MS() - w0 < wait_ms) {
        bench_sleep_ms(2);
        for (int i = 0; i < 64; i++) {
            void *a = bench_xmalloc(100), *b = bench_xmalloc(40u << 10);
            bench_fill(a, 100);
            bench_fill(b, 40u << 10);
            bench_escape(a);
            bench_escape(b);
            bench_check(a, 100);
            bench_check(b, 40u << 10);
            free(a);
            free(b);
        }
        rss_end = bench_rss_kb();
        bench_sample("wait", T_MS(), rss_end);
    }
    pthread_barrier_wait(&resume);
    for (int i = 0; i < T; i++)
        bench_join(th[i]);
    pthread_barrier_destroy(&cached);
    pthread_barrier_destroy(&resume);
    free(th);
    free(rng);
    bench_sample("end", T_MS(), bench_rss_kb());

    double kept = bench_retained_pct(rss0, rss_idle, rss_end);
    printf("INFO bench=idle threads=%d rss_start_mb=%.2f wait_ms=%.0f\n", T, rss0 / 1024.0,
           wait_ms);
    bench_result("rss_idle_mb", rss_idle / 1024.0, "MB", "lower");
    bench_result("rss_after_wait_mb", rss_end / 1024.0, "MB", "lower");
    bench_result("retained_pct", kept, "%", "lower");
    return 0;
}
