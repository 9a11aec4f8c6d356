/* Memory use measured from outside: the resident set size of this process
 * (/proc/self/statm), with margins wide enough for a shared machine.
 *   - free order: 512 MiB of mixed small and medium blocks, all freed but
 *     the last one: the memory goes back without malloc_trim;
 *   - density: 4 million 16-byte blocks cost about 64 MiB, not more;
 *   - thread exit: threads that allocate, free and exit leave nothing behind;
 *   - idle threads: the large blocks that threads cached before going idle
 *     go back while another thread keeps working;
 *   - teardown: a thread freeing what it built returns the pages at once.
 * Bookkeeping arrays come from mmap, never from malloc, so they are not
 * part of what is measured (and never share pages with xalloc's). Default
 * options assumed (XALLOC_CONF unset). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Under a sanitizer the work is scaled down and the RSS limits are not
 * asserted (UNDER_SANITIZER): the runtimes' own memory moves RSS too. */
#include "testutil.h"

static void *map_array(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    return p;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void) {
    return test_xorshift(&rng_state);
}

/* 60 % 16-256 B, 25 % 256 B-2 KiB, 10 % 2-8 KiB, 5 % 16-64 KiB. */
static size_t mixed_size(void) {
    uint64_t r = rng();
    unsigned pick = (unsigned)(r % 100);
    r >>= 8;
    if (pick < 60)
        return 16 + r % 241;
    if (pick < 85)
        return 256 + r % (2048 - 256 + 1);
    if (pick < 95)
        return 2048 + r % (8192 - 2048 + 1);
    return 16 * KiB + r % (48 * KiB + 1);
}

/* ---- free order ---------------------------------------------------------- */

/* Everything freed but the block allocated last: that one block must not
 * pin the rest (chunks, slabs, dirty pages past the decay floor). Within
 * 2 s, with no malloc_trim, RSS is back under 16 MiB above the start. */
static void test_free_all_but_last(void **state) {
    const size_t total = UNDER_SANITIZER ? 128 * MiB : 512 * MiB;
    const size_t cap = 2 * 1024 * 1024;
    size_t rss0 = rss_bytes();
    void **p = map_array(cap * sizeof *p);
    size_t n = 0, bytes = 0;
    while (bytes < total) {
        assert_true(n < cap);
        size_t sz = mixed_size();
        p[n] = xalloc_malloc(sz);
        assert_non_null(p[n]);
        memset(p[n], (int)(n & 0xff), sz);
        bytes += sz;
        n++;
    }
    size_t rss_peak = rss_bytes();
    if (!UNDER_SANITIZER && rss_peak < rss0 + total * 9 / 10)
        fail_msg("RSS only %zu MiB above the start with %zu MiB live", (rss_peak - rss0) >> 20,
                 total >> 20);
    for (size_t i = 0; i + 1 < n; i++)
        xalloc_free(p[i]);
    void *last = p[n - 1];
    size_t last_size = xalloc_malloc_usable_size(last);
    munmap(p, cap * sizeof *p);

    const size_t limit = rss0 + 16 * MiB;
    size_t rss1;
    if (!rss_wait_under(limit, now_s() + 2.0, 50, &rss1))
        fail_msg("cannot read /proc/self/statm");
    if (!UNDER_SANITIZER && rss1 >= limit)
        fail_msg("%zu blocks (%zu MiB) freed but the last: RSS %zu MiB at start, %zu MiB at peak, "
                 "still %zu MiB 2 s later (limit %zu MiB)",
                 n - 1, bytes >> 20, rss0 >> 20, rss_peak >> 20, rss1 >> 20, limit >> 20);
    /* the survivor is intact */
    const unsigned char *b = last;
    for (size_t i = 0; i < last_size && i < 64; i++)
        assert_int_equal(b[i], (unsigned char)((n - 1) & 0xff));
    xalloc_free(last);
}

/* ---- teardown -------------------------------------------------------------- */

/* A thread frees everything it built in a phase while a large heap stays
 * live: the cap of half the active pages would let the freed pages stay
 * resident until they decay, but a thread freeing flush after flush with no
 * allocation in between is tearing down, and its pages go back at once
 * (past 2 MiB). Counted in stats.dirty, right after the last free. */
static void test_teardown_returns_pages(void **state) {
    enum { NB = 48 * 1024, BSZ = 1000, NP = 8192, PSZ = 4096 };
    void **ballast = map_array(NB * sizeof *ballast), **p = map_array(NP * sizeof *p);
    for (size_t i = 0; i < NB; i++) {
        ballast[i] = xalloc_malloc(BSZ);          /* about 48 MiB that stays live */
        assert_non_null(ballast[i]);
        memset(ballast[i], 7, BSZ);
    }
    for (size_t i = 0; i < NP; i++) {
        p[i] = xalloc_malloc(PSZ);                /* a 32 MiB phase */
        assert_non_null(p[i]);
        memset(p[i], 1, PSZ);
    }
    epoch();
    size_t dirty0 = stat_get("stats.dirty");
    for (size_t i = 0; i < NP; i++)
        xalloc_free(p[i]);
    epoch();
    size_t dirty = stat_get("stats.dirty"), active = stat_get("stats.active");
    if (dirty > dirty0 + 4 * MiB)
        fail_msg("32 MiB freed in a row: %zu KiB dirty right after (%zu KiB before, %zu KiB active)",
                 dirty >> 10, dirty0 >> 10, active >> 10);
    for (size_t i = 0; i < NB; i++)
        xalloc_free(ballast[i]);
    munmap(ballast, NB * sizeof *ballast);
    munmap(p, NP * sizeof *p);
}

/* ---- density -------------------------------------------------------------- */

static void test_small_object_density(void **state) {
    const size_t n = UNDER_SANITIZER ? 1000000 : 4000000;
    const size_t payload = n * 16;
    assert_int_equal(xallctl("arena.purge", NULL, NULL, NULL, 0), 0);
    void **p = map_array(n * sizeof *p);
    memset(p, 0, n * sizeof *p);              /* resident before the baseline */
    size_t rss0 = rss_bytes();
    for (size_t i = 0; i < n; i++) {
        p[i] = xalloc_malloc(16);
        assert_non_null(p[i]);
        *(uint64_t *)p[i] = i;
    }
    size_t rss1 = rss_bytes();
    size_t growth = rss1 > rss0 ? rss1 - rss0 : 0;
    size_t limit = payload + payload / 20 + 2 * MiB;
    if (!UNDER_SANITIZER && growth > limit)
        fail_msg("%zu 16-byte blocks (%zu MiB) grew RSS by %zu KiB, more than %zu KiB", n,
                 payload >> 20, growth >> 10, limit >> 10);
    if (!UNDER_SANITIZER && growth < payload * 9 / 10)
        fail_msg("RSS grew by only %zu KiB for %zu MiB of blocks: measurement broken?", growth >> 10,
                 payload >> 20);
    for (size_t i = 0; i < n; i += 4099)
        assert_int_equal(*(uint64_t *)p[i], i);
    for (size_t i = 0; i < n; i++)
        xalloc_free(p[i]);
    munmap(p, n * sizeof *p);
}

/* ---- thread exit ------------------------------------------------------------ */

static void *worker(void *arg) {
    enum { MAXB = 8192 };
    void **blocks = arg;                        /* this thread's slice of an mmap'd array */
    size_t bytes = 0, nb = 0;
    uint64_t x = (uint64_t)(uintptr_t)arg | 1;
    while (bytes < MiB && nb < MAXB) {
        size_t sz = 16 + test_xorshift(&x) % 1009;
        blocks[nb] = xalloc_malloc(sz);
        if (blocks[nb] == NULL)
            return (void *)1;
        memset(blocks[nb], 0x5c, sz);
        bytes += sz;
        nb++;
    }
    for (size_t i = 0; i < nb; i++)
        xalloc_free(blocks[i]);
    return NULL;
}

static void run_threads(int nthreads, int batch, void **slices, size_t per) {
    for (int done = 0; done < nthreads; done += batch) {
        pthread_t th[64];
        int k = nthreads - done < batch ? nthreads - done : batch;
        for (int i = 0; i < k; i++)
            assert_int_equal(pthread_create(&th[i], NULL, worker, slices + (size_t)i * per), 0);
        for (int i = 0; i < k; i++) {
            void *ret;
            pthread_join(th[i], &ret);
            assert_null(ret);
        }
    }
}

static void *idle(void *arg) {
    return arg;
}

static void test_thread_exit(void **state) {
    enum { THREADS = 100, BATCH = 10, PER = 8192 };
    void **slices = map_array((size_t)BATCH * PER * sizeof(void *));
    memset(slices, 0, (size_t)BATCH * PER * sizeof(void *));
    /* Thread stacks are cached by glibc and count in RSS: create them first. */
    pthread_t th[BATCH];
    for (int i = 0; i < BATCH; i++)
        assert_int_equal(pthread_create(&th[i], NULL, idle, NULL), 0);
    for (int i = 0; i < BATCH; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(xallctl("arena.purge", NULL, NULL, NULL, 0), 0);
    size_t a0 = allocated_now();
    size_t rss0 = rss_bytes();

    run_threads(THREADS, BATCH, slices, PER);

    /* Every thread cache was flushed at exit and its stacks freed. */
    size_t a1 = allocated_now();
    if (a1 != a0)
        fail_msg("stats.allocated %zu before %d threads, %zu after they exited (%+lld)", a0, THREADS,
                 a1, (long long)a1 - (long long)a0);
    size_t rss1 = rss_bytes();
    size_t limit = rss0 + 8 * MiB;
    if (!UNDER_SANITIZER && rss1 > limit) {
        size_t dirty = 0, len = sizeof dirty;
        unsigned narenas = 0;
        size_t nlen = sizeof narenas;
        xallctl("stats.dirty", &dirty, &len, NULL, 0);
        xallctl("arenas.narenas", &narenas, &nlen, NULL, 0);
        fail_msg("%d threads each allocated and freed 1 MiB, then exited: RSS %zu KiB -> %zu KiB "
                 "(limit %zu KiB); stats.dirty %zu KiB over %u arenas",
                 THREADS, rss0 >> 10, rss1 >> 10, limit >> 10, dirty >> 10, narenas);
    }
    munmap(slices, (size_t)BATCH * PER * sizeof(void *));
}

/* ---- idle threads ---------------------------------------------------------- */

enum { IDLERS = 8 };
static pthread_barrier_t idlers_cached, idlers_done;

/* About 4 MiB of 64 - 512 KiB blocks, one per class, written, freed into
 * this thread's cache; then idle until told to go. */
static void *cache_then_idle(void *arg) {
    void *p[16];
    int n = 0;
    for (size_t sz = 64 * KiB; sz <= 512 * KiB && n < 16; sz += 64 * KiB, n++) {
        p[n] = xalloc_malloc(sz);
        if (p[n] == NULL)
            return (void *)1;
        memset(p[n], 0x3c, sz);
    }
    for (int i = 0; i < n; i++)
        xalloc_free(p[i]);
    pthread_barrier_wait(&idlers_cached);
    pthread_barrier_wait(&idlers_done);
    return arg;
}

static void test_idle_threads_give_back(void **state) {
    long cmds = syscall(SYS_membarrier, 0 /* MEMBARRIER_CMD_QUERY */, 0, 0);
    if (cmds < 0 || !(cmds & (1 << 3) /* MEMBARRIER_CMD_PRIVATE_EXPEDITED */))
        skip();
    pthread_t th[IDLERS];
    pthread_barrier_init(&idlers_cached, NULL, IDLERS + 1);
    pthread_barrier_init(&idlers_done, NULL, IDLERS + 1);
    assert_int_equal(xallctl("arena.purge", NULL, NULL, NULL, 0), 0);
    size_t rss0 = rss_bytes();
    for (int i = 0; i < IDLERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, cache_then_idle, NULL), 0);
    pthread_barrier_wait(&idlers_cached);
    size_t rss_cached = rss_bytes();
    /* This thread keeps allocating (its cache GC runs and looks at the
     * others) for up to 5 s, well past the default decay of 1 s. */
    size_t rss1 = rss_cached, limit = rss0 + 8 * MiB;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double waited = 0;
    while (waited < 5.0 && (UNDER_SANITIZER || rss1 > limit)) {
        for (int i = 0; i < 64; i++) {
            void *big = xalloc_malloc(40 * KiB), *small = xalloc_malloc(100);
            assert_non_null(big);
            assert_non_null(small);
            memset(big, 1, 64);
            xalloc_free(big);
            xalloc_free(small);
        }
        usleep(2000);
        rss1 = rss_bytes();
        clock_gettime(CLOCK_MONOTONIC, &t);
        waited = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9;
        if (UNDER_SANITIZER && waited > 1.5)
            break;
    }
    pthread_barrier_wait(&idlers_done);
    for (int i = 0; i < IDLERS; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        assert_null(ret);
    }
    pthread_barrier_destroy(&idlers_cached);
    pthread_barrier_destroy(&idlers_done);
    if (!UNDER_SANITIZER && rss1 > limit)
        fail_msg("%d idle threads cached large blocks: RSS %zu KiB before them, %zu KiB when "
                 "they went idle, still %zu KiB after %.1f s (limit %zu KiB)", IDLERS, rss0 >> 10,
                 rss_cached >> 10, rss1 >> 10, waited, limit >> 10);
    print_message("RSS %zu KiB -> %zu KiB cached by idle threads -> %zu KiB after %.2f s\n",
                  rss0 >> 10, rss_cached >> 10, rss1 >> 10, waited);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_free_all_but_last),
        cmocka_unit_test(test_teardown_returns_pages),
        cmocka_unit_test(test_small_object_density),
        cmocka_unit_test(test_thread_exit),
        cmocka_unit_test(test_idle_threads_give_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
