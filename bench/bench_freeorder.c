/* Free order: allocate a lot, free all but the last block allocated.
 *
 * Allocates small blocks (32 - 512 B) until 64 MiB (16 MiB with --quick)
 * are live, frees them in allocation order except the very last one, and
 * then watches the resident size for 2 s (0.3 s with --quick) without
 * calling malloc_trim. While it waits, every 50 ms it does 1000 malloc/free
 * pairs of 64 B, like a program that has gone quiet but is not dead, so an
 * allocator that purges on a clock or on allocation ticks gets its chance.
 * ptmalloc (glibc) cannot shrink the heap past the last block, which sits at
 * the top of it: the memory stays resident. Reported: RSS right after the
 * frees and at the end of the wait (MB, lower is better) and how much of
 * the RSS that the allocation added is still resident at the end (percent).
 * SAMPLE lines trace the resident size over the whole run. */
#include "bench_common.h"

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(&o, argc, argv, "freeorder",
                "free everything but the last block; RSS before and after", NULL);
    size_t target = (size_t)bench_pick(&o, 64u << 20, 16u << 20, 512u << 10);
    double wait_ms = o.mode == BENCH_SMOKE ? 20 : o.mode == BENCH_QUICK ? 300 : 2000;
    double step_ms = o.mode == BENCH_SMOKE ? 10 : 50;

    long rss0 = bench_rss_kb();
    uint64_t t0 = bench_now_ns();
#define T_MS() ((double)(bench_now_ns() - t0) * 1e-6)
    bench_sample("start", 0, rss0);

    size_t cap = target / 32 + 16, n = 0, bytes = 0;
    void **blk = bench_xmalloc(cap * sizeof *blk);
    uint32_t *bsz = bench_xmalloc(cap * sizeof *bsz);
    struct bench_rng r;
    bench_rng_init(&r, o.seed);
    size_t next_sample = target / 8;
    while (bytes < target && n < cap) {
        size_t sz = bench_logsize(&r, 32, 512);
        blk[n] = bench_xmalloc(sz);
        bsz[n] = (uint32_t)sz;
        bench_fill(blk[n], sz);
        bytes += sz;
        n++;
        if (bytes >= next_sample) {
            bench_sample("alloc", T_MS(), bench_rss_kb());
            next_sample += target / 8;
        }
    }
    long rss_full = bench_rss_kb();
    bench_sample("alloc", T_MS(), rss_full);

    for (size_t i = 0; i + 1 < n; i++) {
        bench_check(blk[i], bsz[i]);
        free(blk[i]);
    }
    long rss_freed = bench_rss_kb();
    bench_sample("freed", T_MS(), rss_freed);

    double w0 = T_MS();
    long rss_end = rss_freed;
    while (T_MS() - w0 < wait_ms) {
        bench_sleep_ms(step_ms);
        for (int i = 0; i < 1000; i++) {
            void *p = bench_xmalloc(64);
            bench_fill(p, 64);
            bench_escape(p);
            bench_check(p, 64);
            free(p);
        }
        rss_end = bench_rss_kb();
        bench_sample("wait", T_MS(), rss_end);
    }

    bench_check(blk[n - 1], bsz[n - 1]);
    free(blk[n - 1]);
    free(blk);
    free(bsz);
    bench_sample("end", T_MS(), bench_rss_kb());

    double kept = bench_retained_pct(rss0, rss_full, rss_end);
    printf("INFO bench=freeorder blocks=%zu bytes=%zu rss_start_mb=%.2f "
           "rss_allocated_mb=%.2f\n", n, bytes, rss0 / 1024.0, rss_full / 1024.0);
    bench_result("rss_after_free_mb", rss_freed / 1024.0, "MB", "lower");
    bench_result("rss_after_wait_mb", rss_end / 1024.0, "MB", "lower");
    bench_result("retained_pct", kept, "%", "lower");
    return 0;
}
