/* Fragmentation: long- and short-lived objects interleaved, then a new mix.
 *
 * Phase 1 allocates objects of 16 - 512 B (log-uniform). One in eight is
 * long-lived and kept; the rest are short-lived and go through a FIFO of
 * 4096 entries, freed when they fall out of it. The phase ends when the
 * long-lived objects add up to L bytes (64 MiB; 16 MiB with --quick).
 * Then all short-lived objects and three quarters of the long-lived ones,
 * chosen at random, are freed: the survivors are scattered over the memory
 * of phase 1. Phase 2 does the same with 1 - 16 KiB objects until another
 * L bytes are live. An allocator that can reuse the holes of phase 1 for
 * the sizes of phase 2, or return the pages they free, stays close to the
 * live size. Reported, as multiples of the requested bytes that are live
 * (lower is better, 1.0 is the floor): peak RSS over the peak of live
 * bytes, and RSS at the end over the live bytes then. RSS is counted above
 * the process's RSS when main starts. Also the run time. */
#include "bench_common.h"

#define RING 4096

struct obj {
    void *p;
    size_t size;
};

static struct obj *longs;
static size_t nlong, longcap;
static struct obj ring[RING];
static size_t ring_pos;
static size_t live, peak_live;

static void put_long(void *p, size_t size)
{
    if (nlong == longcap) {
        longcap = longcap ? longcap * 2 : 65536;
        struct obj *n = realloc(longs, longcap * sizeof *longs);
        if (!n)
            bench_fail("realloc of the long-lived table failed");
        longs = n;
    }
    longs[nlong].p = p;
    longs[nlong].size = size;
    nlong++;
}

static void release(struct obj *o)
{
    if (o->p) {
        bench_check(o->p, o->size);
        free(o->p);
        live -= o->size;
        o->p = NULL;
    }
}

/* Allocates until `target` long-lived bytes were added. */
static void phase(struct bench_rng *r, size_t lo, size_t hi, size_t target)
{
    size_t added = 0;
    while (added < target) {
        size_t sz = bench_logsize(r, lo, hi);
        void *p = bench_xmalloc(sz);
        bench_fill(p, sz);
        live += sz;
        if (live > peak_live)
            peak_live = live;
        if ((bench_rand(r) & 7) == 0) {
            put_long(p, sz);
            added += sz;
        } else {
            struct obj *slot = &ring[ring_pos++ % RING];
            release(slot);
            slot->p = p;
            slot->size = sz;
        }
    }
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(&o, argc, argv, "frag",
                "long- and short-lived objects interleaved, then a new size "
                "mix; RSS against live bytes", NULL);
    long rss0 = bench_rss_kb();
    size_t L = (size_t)bench_pick(&o, 64u << 20, 16u << 20, 256u << 10);
    struct bench_rng r;
    bench_rng_init(&r, o.seed);
    uint64_t t0 = bench_now_ns();

    phase(&r, 16, 512, L);
    bench_sample("phase1", (double)(bench_now_ns() - t0) * 1e-6, bench_rss_kb());
    for (size_t i = 0; i < RING; i++)
        release(&ring[i]);
    size_t keep = 0;
    for (size_t i = 0; i < nlong; i++) {
        if ((bench_rand(&r) & 3) == 0)
            longs[keep++] = longs[i];
        else
            release(&longs[i]);
    }
    nlong = keep;
    bench_sample("freed", (double)(bench_now_ns() - t0) * 1e-6, bench_rss_kb());

    phase(&r, 1024, 16384, L);
    for (size_t i = 0; i < RING; i++)
        release(&ring[i]);
    double ms = (double)(bench_now_ns() - t0) * 1e-6;
    long rss_end = bench_rss_kb();
    long rss_peak = bench_peak_rss_kb();
    bench_sample("phase2", ms, rss_end);
    size_t live_end = live;

    for (size_t i = 0; i < nlong; i++)
        release(&longs[i]);
    free(longs);
    if (live != 0)
        bench_fail("live byte count is %zu after freeing everything", live);

    double peak_mb = (double)(rss_peak - rss0) / 1024.0;
    double end_mb = (double)(rss_end - rss0) / 1024.0;
    printf("INFO bench=frag live_peak_mb=%.2f live_end_mb=%.2f rss_start_mb=%.2f "
           "rss_peak_mb=%.2f rss_end_mb=%.2f\n", peak_live / 1048576.0,
           live_end / 1048576.0, rss0 / 1024.0, rss_peak / 1024.0,
           rss_end / 1024.0);
    bench_result("peak_rss_over_live", peak_mb / (peak_live / 1048576.0), "x",
                 "lower");
    bench_result("final_rss_over_live", end_mb / (live_end / 1048576.0), "x",
                 "lower");
    bench_result("time_ms", ms, "ms", "lower");
    return 0;
}
