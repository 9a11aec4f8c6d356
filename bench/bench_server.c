/* Server simulation, in the spirit of the larson benchmark.
 *
 * A shared pool of blocks (8 B - 1 KiB, log-uniform) is cut into one slice
 * per chain of worker threads. A worker replaces random blocks of its slice
 * (check, free, malloc a new size, write) for a fixed number of operations,
 * then starts a successor thread that inherits the slice and exits, like a
 * server handing a connection's state to a new worker. So most frees happen
 * on a thread other than the one that allocated the block, often one that has
 * already exited, and thread caches are created and torn down all the time.
 * The pool starts filled by the main thread. Reported: million replacements
 * per second over the whole run, and the process's peak RSS. */
#include "bench_common.h"

#include <stdatomic.h>

struct chain {
    void **slot;
    uint32_t *size;
    uint32_t nslots;
    uint64_t seed;
    uint64_t ops_per_gen;
    uint64_t gens_left;
};

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int chains_running;
static pthread_attr_t detached;

static void *worker(void *arg)
{
    struct chain *c = arg;
    struct bench_rng r;
    bench_rng_init(&r, c->seed);
    for (uint64_t i = 0; i < c->ops_per_gen; i++) {
        uint64_t x = bench_rand(&r);
        uint32_t s = (uint32_t)(((x & 0xffffffffu) * c->nslots) >> 32);
        bench_check(c->slot[s], c->size[s]);
        free(c->slot[s]);
        size_t sz = bench_logsize(&r, 8, 1024);
        void *p = malloc(sz);
        if (!p)
            bench_fail("malloc(%zu) returned NULL", sz);
        bench_fill(p, sz);
        c->slot[s] = p;
        c->size[s] = (uint32_t)sz;
    }
    c->seed = bench_rand(&r);
    if (--c->gens_left > 0) {
        pthread_t t;
        int e = pthread_create(&t, &detached, worker, c);
        if (e)
            bench_fail("pthread_create: %s", strerror(e));
    } else {
        pthread_mutex_lock(&done_lock);
        if (--chains_running == 0)
            pthread_cond_signal(&done_cond);
        pthread_mutex_unlock(&done_lock);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(&o, argc, argv, "server",
                "larson-style: worker chains replace blocks in a shared pool "
                "and hand their slice to a successor thread",
                "number of concurrent worker chains (default max(4, cpus))");
    int T = o.nthreads ? o.threads[0] : (bench_ncpus() > 4 ? bench_ncpus() : 4);
    uint32_t per_slice = o.mode == BENCH_SMOKE ? 256 : 4096;
    uint64_t ops_per_gen = o.mode == BENCH_SMOKE ? 500 : 20000;
    uint64_t total = bench_pick(&o, 40000000, 5000000, 4000);
    uint64_t gens = total / ((uint64_t)T * ops_per_gen);
    if (gens < 2)
        gens = 2;

    size_t nslots = (size_t)T * per_slice;
    void **slot = bench_xmalloc(nslots * sizeof *slot);
    uint32_t *size = bench_xmalloc(nslots * sizeof *size);
    struct bench_rng r;
    bench_rng_init(&r, o.seed);
    for (size_t i = 0; i < nslots; i++) {
        size[i] = (uint32_t)bench_logsize(&r, 8, 1024);
        slot[i] = bench_xmalloc(size[i]);
        bench_fill(slot[i], size[i]);
    }
    struct chain *ch = calloc((size_t)T, sizeof *ch);
    if (!ch)
        bench_fail("calloc");
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    chains_running = T;

    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < T; i++) {
        ch[i].slot = slot + (size_t)i * per_slice;
        ch[i].size = size + (size_t)i * per_slice;
        ch[i].nslots = per_slice;
        ch[i].seed = o.seed * 7919 + (uint64_t)i;
        ch[i].ops_per_gen = ops_per_gen;
        ch[i].gens_left = gens;
        pthread_t t;
        int e = pthread_create(&t, &detached, worker, &ch[i]);
        if (e)
            bench_fail("pthread_create: %s", strerror(e));
    }
    pthread_mutex_lock(&done_lock);
    while (chains_running > 0)
        pthread_cond_wait(&done_cond, &done_lock);
    pthread_mutex_unlock(&done_lock);
    double sec = (double)(bench_now_ns() - t0) * 1e-9;

    for (size_t i = 0; i < nslots; i++) {
        bench_check(slot[i], size[i]);
        free(slot[i]);
    }
    free(slot);
    free(size);
    free(ch);

    uint64_t ops = (uint64_t)T * gens * ops_per_gen;
    printf("INFO bench=server chains=%d generations=%llu ops_per_generation=%llu "
           "pool_blocks=%zu\n", T, (unsigned long long)gens,
           (unsigned long long)ops_per_gen, nslots);
    bench_result("mops", (double)ops / sec / 1e6, "Mops/s", "higher");
    bench_result("peak_rss_mb", (double)bench_peak_rss_kb() / 1024.0, "MB",
                 "lower");
    return 0;
}
