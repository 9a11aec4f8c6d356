/* Fast path: one thread, malloc/free pairs of 8 B to 1 KiB.
 *
 * Two loops over the same pre-drawn sizes (log-uniform, so every octave from
 * 8 B to 1 KiB is equally common):
 *   ns_per_pair       a working set of 256 live blocks; each step frees a
 *                     random slot and allocates a new block into it, so the
 *                     thread cache sees mixed classes and non-LIFO reuse;
 *   ns_per_pair_lifo  malloc, touch, free immediately (the best case).
 * Every block gets a tag at both ends, checked before it is freed. */
#include "bench_common.h"

#define WS 256
#define NTAB 4096 /* power of two */

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(&o, argc, argv, "fastpath",
                "single-thread malloc/free pairs, 8 B - 1 KiB", NULL);
    uint64_t pairs = bench_pick(&o, 60000000, 8000000, 20000);

    struct bench_rng r;
    bench_rng_init(&r, o.seed);
    static uint32_t sizes[NTAB];
    static uint16_t slots[NTAB];
    for (int i = 0; i < NTAB; i++) {
        sizes[i] = (uint32_t)bench_logsize(&r, 8, 1024);
        slots[i] = (uint16_t)bench_below(&r, WS);
    }

    static void *ws[WS];
    static size_t wsz[WS];
    for (int i = 0; i < WS; i++) {
        wsz[i] = sizes[i];
        ws[i] = bench_xmalloc(wsz[i]);
        bench_fill(ws[i], wsz[i]);
    }

    /* Warm-up, then the measured working-set loop. */
    uint64_t warm = pairs / 10 + 1;
    uint64_t t0 = 0;
    for (uint64_t i = 0; i < warm + pairs; i++) {
        if (i == warm)
            t0 = bench_now_ns();
        unsigned k = (unsigned)(i & (NTAB - 1));
        unsigned s = slots[k];
        size_t sz = sizes[(k + (i >> 12)) & (NTAB - 1)];
        bench_check(ws[s], wsz[s]);
        free(ws[s]);
        void *p = malloc(sz);
        if (!p)
            bench_fail("malloc(%zu) returned NULL", sz);
        bench_fill(p, sz);
        ws[s] = p;
        wsz[s] = sz;
    }
    double ws_ns = (double)(bench_now_ns() - t0) / (double)pairs;

    /* Immediate free (LIFO). */
    for (uint64_t i = 0; i < warm + pairs; i++) {
        if (i == warm)
            t0 = bench_now_ns();
        size_t sz = sizes[(i + (i >> 12)) & (NTAB - 1)];
        void *p = malloc(sz);
        if (!p)
            bench_fail("malloc(%zu) returned NULL", sz);
        bench_fill(p, sz);
        bench_escape(p);
        bench_check(p, sz);
        free(p);
    }
    double lifo_ns = (double)(bench_now_ns() - t0) / (double)pairs;

    for (int i = 0; i < WS; i++) {
        bench_check(ws[i], wsz[i]);
        free(ws[i]);
    }

    printf("INFO bench=fastpath pairs=%llu working_set=%d\n",
           (unsigned long long)pairs, WS);
    bench_result("ns_per_pair", ws_ns, "ns", "lower");
    bench_result("ns_per_pair_lifo", lifo_ns, "ns", "lower");
    return 0;
}
