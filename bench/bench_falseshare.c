/* False sharing: threads write hard to small blocks they allocated.
 *
 * T threads (default: number of CPUs, at least 2) each repeat: malloc a
 * small block, increment a word in it many times, free it. If the allocator
 * hands blocks from one cache line to two threads, every write bounces the
 * line between cores and the loop slows down by an order of magnitude.
 * Three timed variants, each the same total work:
 *   baseline  each thread writes its own 128-byte aligned slot of a static
 *             array (no allocator; the reference time);
 *   active    each thread mallocs its blocks itself;
 *   passive   the main thread mallocs T adjacent blocks and gives one to
 *             each thread, which frees it and then runs the active loop
 *             (an allocator that recycles the freed block for that thread
 *             keeps neighbouring threads on one line: hoard's cache-scratch).
 * The work is done in three repetitions of the three variants and the
 * fastest repetition of each counts. Reported: slowdown_active and
 * slowdown_passive, the time relative to the baseline (1.0 is ideal, lower
 * is better). */
#include "bench_common.h"

#define OBJ 8

enum variant { BASELINE, ACTIVE, PASSIVE };

struct worker {
    pthread_t tid;
    enum variant v;
    void *given;
    volatile uint64_t *own;
    uint64_t rounds, writes;
    uint64_t t_start, t_end; /* per-thread clock: main may run late */
    double cpu_s;            /* thread CPU time of the timed part */
};

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Share of the timed interval the threads actually ran, over all variants:
 * near 1.0 on idle cores; well below means other load kept the threads
 * from running together, and false sharing cannot show. */
static double ran_cpu_s, ran_wall_s;

static pthread_barrier_t start;
static struct {
    uint64_t w[16];
} __attribute__((aligned(128))) private_slot[256];

static inline void hammer(volatile uint64_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        *p += 1;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(&start);
    w->t_start = bench_now_ns();
    double c0 = thread_cpu_s();
    if (w->v == BASELINE) {
        for (uint64_t r = 0; r < w->rounds; r++) {
            *w->own = 0;
            hammer(w->own, w->writes);
            if (*w->own != w->writes)
                bench_fail("lost writes in the baseline loop");
        }
        w->cpu_s = thread_cpu_s() - c0;
        w->t_end = bench_now_ns();
        return NULL;
    }
    if (w->v == PASSIVE) {
        bench_check(w->given, OBJ);
        free(w->given);
    }
    for (uint64_t r = 0; r < w->rounds; r++) {
        volatile uint64_t *p = bench_xmalloc(OBJ);
        *p = 0;
        hammer(p, w->writes);
        if (*p != w->writes)
            bench_fail("lost writes to block %p", (void *)p);
        free((void *)p);
    }
    w->cpu_s = thread_cpu_s() - c0;
    w->t_end = bench_now_ns();
    return NULL;
}

static double run(enum variant v, int T, uint64_t rounds, uint64_t writes)
{
    struct worker *w = calloc((size_t)T, sizeof *w);
    if (!w)
        bench_fail("calloc");
    pthread_barrier_init(&start, NULL, (unsigned)T + 1);
    for (int i = 0; i < T; i++) {
        w[i].v = v;
        w[i].rounds = rounds;
        w[i].writes = writes;
        w[i].own = &private_slot[i % 256].w[0];
        if (v == PASSIVE) {
            w[i].given = bench_xmalloc(OBJ);
            bench_fill(w[i].given, OBJ);
        }
    }
    for (int i = 0; i < T; i++)
        bench_spawn(&w[i].tid, work, &w[i]);
    pthread_barrier_wait(&start);
    uint64_t t0 = UINT64_MAX, t1 = 0;
    for (int i = 0; i < T; i++) {
        bench_join(w[i].tid);
        t0 = w[i].t_start < t0 ? w[i].t_start : t0;
        t1 = w[i].t_end > t1 ? w[i].t_end : t1;
        ran_cpu_s += w[i].cpu_s;
    }
    double sec = (double)(t1 - t0) * 1e-9;
    ran_wall_s += sec * T;
    pthread_barrier_destroy(&start);
    free(w);
    return sec;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(&o, argc, argv, "falseshare",
                "threads allocate small blocks and write them hard",
                "number of threads (default max(2, cpus))");
    int T = o.nthreads ? o.threads[0] : (bench_ncpus() > 2 ? bench_ncpus() : 2);
    uint64_t writes_total = bench_pick(&o, 300000000, 40000000, 20000);
    uint64_t rounds = o.mode == BENCH_SMOKE ? 10 : 1000;
    uint64_t writes = writes_total / rounds;

    /* The work is split into repetitions of the three variants, and each
     * variant's fastest repetition counts: other load on the machine can only
     * make a repetition slower (threads not running at the same time hide
     * false sharing and inflate the baseline alike). */
    int reps = o.mode == BENCH_SMOKE ? 1 : 3;
    writes /= (uint64_t)reps;
    if (writes == 0)
        writes = 1;
    double base = 1e30, active = 1e30, passive = 1e30;
    for (int i = 0; i < reps; i++) {
        double t = run(BASELINE, T, rounds, writes);
        base = t < base ? t : base;
        t = run(ACTIVE, T, rounds, writes);
        active = t < active ? t : active;
        t = run(PASSIVE, T, rounds, writes);
        passive = t < passive ? t : passive;
    }

    printf("INFO bench=falseshare threads=%d writes_per_thread=%llu "
           "repetitions=%d baseline_s=%.4f active_s=%.4f passive_s=%.4f "
           "concurrency=%.2f\n", T,
           (unsigned long long)(rounds * writes * (uint64_t)reps), reps, base,
           active, passive, ran_cpu_s / ran_wall_s);
    if (o.mode != BENCH_SMOKE && ran_cpu_s / ran_wall_s < 0.8)
        fprintf(stderr, "falseshare: warning: the threads ran only %.0f%% of the "
                "time (other load?); false sharing may not show\n",
                100.0 * ran_cpu_s / ran_wall_s);
    bench_result("slowdown_active", active / base, "x", "lower");
    bench_result("slowdown_passive", passive / base, "x", "lower");
    return 0;
}
