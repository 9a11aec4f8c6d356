/* Growth: realloc chains from 16 B to tens of MiB.
 *
 * A chain starts with malloc(16) and grows one buffer with realloc until it
 * reaches the maximum (32 MiB by default, 8 MiB in --quick, 64 KiB in
 * --smoke), writing the newly added bytes after every step, as a program
 * appending to a buffer does. Between two steps the chain also allocates a
 * small record (16 - 64 B) that stays live until the chain ends, so the
 * buffer is not always the last thing allocated. Two growth policies:
 *   steps     +16 B per step up to 4 KiB, then +1/32 of the current size
 *             (about 550 reallocs per chain to 32 MiB);
 *   doubling  the size doubles every step (about 21 reallocs).
 * After each realloc the chain checks that the old contents moved intact.
 * Reported: milliseconds per chain for each policy and the peak RSS. */
#include "bench_common.h"

static unsigned char pattern(size_t off) { return (unsigned char)(off * 131 + (off >> 12)); }

/* Writes the pattern into [from, to). */
static void write_range(unsigned char *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        p[i] = pattern(i);
}

static void check_range(const unsigned char *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (p[i] != pattern(i))
            bench_fail("realloc lost byte %zu of the buffer", i);
}

static double chain(size_t max, int doubling, struct bench_rng *r, void **recs,
                    size_t *recsz, size_t nrec_max)
{
    uint64_t t0 = bench_now_ns();
    size_t size = 16, nrec = 0;
    unsigned char *p = bench_xmalloc(size);
    write_range(p, 0, size);
    while (size < max) {
        size_t next = doubling ? size * 2 : size + (size < 4096 ? 16 : size / 32);
        if (next > max)
            next = max;
        unsigned char *q = realloc(p, next);
        if (!q)
            bench_fail("realloc(%zu) returned NULL", next);
        p = q;
        /* Spot-check what moved: the head, the old tail. */
        check_range(p, 0, 16);
        check_range(p, size - 16, size);
        write_range(p, size, next);
        size = next;
        if (nrec < nrec_max) {
            recsz[nrec] = 16 + bench_below(r, 49);
            recs[nrec] = bench_xmalloc(recsz[nrec]);
            bench_fill(recs[nrec], recsz[nrec]);
            nrec++;
        }
    }
    check_range(p, 0, size < 4096 ? size : 4096);
    free(p);
    for (size_t i = 0; i < nrec; i++) {
        bench_check(recs[i], recsz[i]);
        free(recs[i]);
    }
    return (double)(bench_now_ns() - t0) * 1e-6;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(&o, argc, argv, "growth",
                "realloc chains from 16 B to tens of MiB, by small steps and "
                "by doubling", NULL);
    size_t max = o.mode == BENCH_SMOKE ? 64 * 1024
               : o.mode == BENCH_QUICK ? 8u << 20 : 32u << 20;
    uint64_t chains = bench_pick(&o, 8, 10, 2);
    enum { NREC = 4096 };
    void **recs = bench_xmalloc(NREC * sizeof *recs);
    size_t *recsz = bench_xmalloc(NREC * sizeof *recsz);
    struct bench_rng r;
    bench_rng_init(&r, o.seed);

    /* Interleave the two policies; report the mean per chain. */
    double steps_ms = 0, doubling_ms = 0;
    for (uint64_t c = 0; c < chains; c++) {
        steps_ms += chain(max, 0, &r, recs, recsz, NREC);
        doubling_ms += chain(max, 1, &r, recs, recsz, NREC);
    }
    free(recs);
    free(recsz);
    printf("INFO bench=growth max_bytes=%zu chains_per_policy=%llu\n", max,
           (unsigned long long)chains);
    bench_result("steps_ms_per_chain", steps_ms / (double)chains, "ms", "lower");
    bench_result("doubling_ms_per_chain", doubling_ms / (double)chains, "ms",
                 "lower");
    bench_result("peak_rss_mb", (double)bench_peak_rss_kb() / 1024.0, "MB",
                 "lower");
    return 0;
}
