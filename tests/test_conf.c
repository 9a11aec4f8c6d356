/* XALLOC_CONF: every option checked by its effect, in a fresh process.
 *
 * Options are read once, when xalloc boots (at load time: purge.c has a
 * constructor), so each case re-executes this binary (/proc/self/exe
 * --child CASE ARGS...) with XALLOC_CONF set to exactly what the case needs
 * (any XALLOC_CONF of the caller is dropped). The child checks the effect
 * and exits 0, or prints what went wrong and exits 1; the parent checks the
 * exit status and the child's stderr (warnings, reports, statistics).
 *
 * The weak `xalloc_conf` global is tested by tests/introspect/ (a program
 * defining it would change the defaults of every case here). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

extern char **environ;

/* Helpers shared by parent and child (RSS, time, strbuf, JSON) are in
 * testutil.h. */

/* ======================================================================== */
/* Child side: one case per process                                         */
/* ======================================================================== */

#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "child check failed (line %d): %s: ", __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
            exit(1);                                                              \
        }                                                                         \
    } while (0)

/* RSS for the child cases: they run outside cmocka, so a failure to read
 * it is reported on stderr and ends the child with status 2. */
static size_t c_rss(void) {
    size_t bytes = 0;
    if (!read_rss(&bytes)) {
        fprintf(stderr, "cannot read /proc/self/statm\n");
        exit(2);
    }
    return bytes;
}

static void c_epoch(void) {
    uint64_t e = 1;
    size_t len = sizeof e;
    CHECK(xallctl("epoch", &e, &len, &e, sizeof e) == 0, "epoch");
}

static size_t c_stat(const char *name) {
    size_t v = 0, len = sizeof v;
    int err = xallctl(name, &v, &len, NULL, 0);
    CHECK(err == 0, "xallctl(%s) = %d", name, err);
    return v;
}

static size_t c_allocated(void) {
    c_epoch();
    return c_stat("stats.allocated");
}

static size_t c_dirty(void) {
    c_epoch();
    return c_stat("stats.dirty");
}

static unsigned c_narenas(void) {
    unsigned n = 0;
    size_t len = sizeof n;
    CHECK(xallctl("arenas.narenas", &n, &len, NULL, 0) == 0, "arenas.narenas");
    return n;
}

static void c_flush(void) {
    CHECK(xallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "thread.tcache.flush");
}

static char *c_stats_json(void) {
    strbuf b = {0};
    xalloc_stats_print(sb_write_cb, &b, "J");
    CHECK(b.s != NULL, "stats_print wrote nothing");
    CHECK(json_find(b.s, NULL, NULL, NULL), "stats JSON does not parse: %s", b.s);
    return b.s;
}

/* The text of the JSON value at path (a number, true/false, or a string
 * with its quotes), copied into out. */
static void c_json_value(const char *text, const char *path, char *out, size_t cap) {
    const char *v = NULL;
    CHECK(json_find(text, path, &v, NULL) && v != NULL, "no %s in %s", path, text);
    size_t n = strcspn(v, ",}]");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

/* Effect of narenas: arenas.narenas, and threads (more than N of them)
 * spread over at most N arenas, each of them in use. */
static void *narenas_thread(void *arg) {
    pthread_barrier_t *bar = arg;
    void *p = xalloc_malloc(100);
    CHECK(p != NULL, "malloc in thread");
    pthread_barrier_wait(bar);          /* all alive together: each has its own arena binding */
    xalloc_free(p);
    return NULL;
}

static int case_narenas(int argc, char **argv) {
    unsigned want = strcmp(argv[0], "default") == 0 ? default_narenas() : (unsigned)atoi(argv[0]);
    CHECK(c_narenas() == want, "arenas.narenas %u, expected %u", c_narenas(), want);
    void *p = xalloc_malloc(100);
    enum { NT = 7 };
    unsigned nt = want < 16 ? want + 3 : NT;
    pthread_t th[32];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, nt + 1);
    for (unsigned i = 0; i < nt; i++)
        CHECK(pthread_create(&th[i], NULL, narenas_thread, &bar) == 0, "pthread_create");
    pthread_barrier_wait(&bar);
    for (unsigned i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    char *js = c_stats_json();
    long arenas = -1;
    CHECK(json_find(js, "xalloc.arenas", NULL, &arenas), "arenas");
    unsigned users = nt + 1;
    unsigned expect_used = users < want ? users : want;
    CHECK(arenas >= 1 && (unsigned)arenas <= want, "%ld arenas in use with narenas %u", arenas, want);
    CHECK((unsigned)arenas == expect_used, "%u threads used %ld arenas, expected %u (round robin)",
          users, arenas, expect_used);
    char v[64];
    c_json_value(js, "xalloc.opt.narenas", v, sizeof v);
    CHECK((unsigned)atoi(v) == want, "opt.narenas %s", v);
    xalloc_free(p);
    free(js);
    return 0;
}

/* A block of `size` bytes: after malloc + free, is it still counted as
 * allocated (kept by the thread cache) until thread.tcache.flush? */
static bool c_cached_after_free(size_t size) {
    void *w = xalloc_malloc(size);     /* warm-up: thread state, cache stacks */
    CHECK(w != NULL, "malloc");
    xalloc_free(w);
    c_flush();
    size_t a0 = c_allocated();
    void *p = xalloc_malloc(size);
    CHECK(p != NULL, "malloc(%zu)", size);
    memset(p, 1, size);
    size_t usable = xalloc_malloc_usable_size(p);
    size_t a1 = c_allocated();
    CHECK(a1 >= a0 + usable, "allocated %zu -> %zu after malloc(%zu)", a0, a1, size);
    xalloc_free(p);
    size_t a2 = c_allocated();
    c_flush();
    size_t a3 = c_allocated();
    CHECK(a3 == a0, "allocated %zu at start, %zu after free and flush", a0, a3);
    if (a2 == a1)
        return true;                    /* still counted: cached */
    CHECK(a2 == a0, "after free of an uncached block allocated is %zu, expected %zu (was %zu)",
          a2, a0, a1);
    CHECK(a1 == a0 + usable, "uncached malloc moved allocated by %zu, not %zu", a1 - a0, usable);
    return false;
}

/* Effect of shared_arenas: with more threads than arenas, all alive, the
 * blocks of a cache line and up (100 B) come from the shared arenas, each
 * of them in use, and those under a line (16 B) from every arena. */
static pthread_barrier_t shared_bar[2];

static void *shared_thread(void *arg) {
    void *big = xalloc_malloc(100), *small = xalloc_malloc(16);
    CHECK(big != NULL && small != NULL, "malloc in thread");
    pthread_barrier_wait(&shared_bar[0]);   /* the main thread reads the stats */
    pthread_barrier_wait(&shared_bar[1]);
    xalloc_free(big);
    xalloc_free(small);
    return NULL;
}

/* The arenas in stats JSON js with blocks of class size out (cached ones
 * count). */
static unsigned arenas_holding(const char *js, unsigned size) {
    long na = 0, nc = 0;
    unsigned holding = 0;
    CHECK(json_find(js, "xalloc.arenas", NULL, &na), "arenas");
    for (long i = 0; i < na; i++) {
        char path[128], v[64];
        snprintf(path, sizeof path, "xalloc.arenas[%ld].classes", i);
        CHECK(json_find(js, path, NULL, &nc), "%s", path);
        for (long k = 0; k < nc; k++) {
            snprintf(path, sizeof path, "xalloc.arenas[%ld].classes[%ld].size", i, k);
            c_json_value(js, path, v, sizeof v);
            if ((unsigned)atoi(v) != size)
                continue;
            snprintf(path, sizeof path, "xalloc.arenas[%ld].classes[%ld].curregs", i, k);
            c_json_value(js, path, v, sizeof v);
            holding += atoi(v) > 0;
        }
    }
    return holding;
}

static int case_shared(int argc, char **argv) {
    unsigned narenas = c_narenas();
    unsigned want = strcmp(argv[0], "default") == 0 ? (narenas + 1) / 2 : (unsigned)atoi(argv[0]);
    unsigned nt = narenas + 3;          /* up to 259: every arena gets a thread */
    pthread_t *th = calloc(nt, sizeof *th);
    CHECK(th != NULL, "calloc");
    pthread_barrier_init(&shared_bar[0], NULL, nt + 1);
    pthread_barrier_init(&shared_bar[1], NULL, nt + 1);
    for (unsigned i = 0; i < nt; i++)
        CHECK(pthread_create(&th[i], NULL, shared_thread, NULL) == 0, "pthread_create");
    pthread_barrier_wait(&shared_bar[0]);
    char *js = c_stats_json();
    pthread_barrier_wait(&shared_bar[1]);
    for (unsigned i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    free(th);
    char v[64];
    c_json_value(js, "xalloc.opt.shared_arenas", v, sizeof v);
    CHECK((unsigned)atoi(v) == want, "opt.shared_arenas %s, expected %u", v, want);
    unsigned big = arenas_holding(js, 112), small = arenas_holding(js, 16);
    CHECK(big == want, "%u threads took 100 B blocks from %u arenas, expected %u", nt, big, want);
    CHECK(small == narenas, "%u threads took 16 B blocks from %u arenas, expected %u", nt, small,
          narenas);
    free(js);
    return 0;
}

static int case_tcache(int argc, char **argv) {
    bool want = atoi(argv[0]) != 0;
    bool got = c_cached_after_free(100);
    CHECK(got == want, "100-byte block cached after free: %d, expected %d", got, want);
    got = c_cached_after_free(16 * KiB);
    CHECK(got == want, "16 KiB block cached after free: %d, expected %d", got, want);
    return 0;
}

/* argv: size expected_cached [size expected_cached ...] */
static int case_cached(int argc, char **argv) {
    for (int i = 0; i + 1 < argc; i += 2) {
        size_t size = (size_t)strtoull(argv[i], NULL, 0);
        bool want = atoi(argv[i + 1]) != 0;
        bool got = c_cached_after_free(size);
        CHECK(got == want, "%zu-byte block cached after free: %d, expected %d", size, got, want);
    }
    return 0;
}

/* Two touched 1 MiB large blocks in the first chunk, next to live blocks
 * (so the chunk never empties and is never unmapped), then freed: 2 MiB
 * dirty. 96 MiB of live, never touched ballast (address space, no RSS)
 * keeps the arena's dirty-page limit (1/8 of its active pages) far above
 * 2 MiB, so only decay (or dirty_decay_ms:0) returns them. */
enum { FREED_MIB = 2, BALLAST_MIB = 96 };
static void *anchor_small, *anchor_large, *ballast[BALLAST_MIB];

static void free_some_mib(size_t *rss_before_free, size_t *dirty_after) {
    anchor_small = xalloc_malloc(100);
    anchor_large = xalloc_malloc(64 * KiB);
    CHECK(anchor_small && anchor_large, "anchors");
    void *p[FREED_MIB];
    for (int i = 0; i < FREED_MIB; i++) {
        p[i] = xalloc_malloc(MiB);
        CHECK(p[i] != NULL, "malloc 1 MiB");
        memset(p[i], 0x11, MiB);
    }
    for (int i = 0; i < BALLAST_MIB; i++) {
        ballast[i] = xalloc_malloc(MiB);
        CHECK(ballast[i] != NULL, "malloc 1 MiB");
    }
    *rss_before_free = c_rss();
    for (int i = 0; i < FREED_MIB; i++)
        xalloc_free(p[i]);
    *dirty_after = c_dirty();
}

/* Allocation activity that reaches the arena (768 KiB: above tcache_max, so
 * every malloc and free takes the arena lock and may purge). */
static void arena_activity(void) {
    void *q = xalloc_malloc(768 * KiB);
    CHECK(q != NULL, "malloc 768 KiB");
    memset(q, 0x22, 768 * KiB);
    xalloc_free(q);
}

/* dirty_decay_ms:0: freed pages go back at once. */
static int case_decay0(int argc, char **argv) {
    size_t rss0, dirty;
    free_some_mib(&rss0, &dirty);
    size_t rss1 = c_rss();
    CHECK(dirty < 64 * KiB, "dirty %zu right after freeing 2 MiB with dirty_decay_ms:0", dirty);
    CHECK(UNDER_SANITIZER || rss1 + 3 * MiB / 2 < rss0, "RSS %zu -> %zu: 2 MiB freed did not go back",
          rss0, rss1);

    /* 64 MiB of large blocks. */
    enum { N = 64 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = xalloc_malloc(MiB);
        CHECK(p[i] != NULL, "malloc");
        memset(p[i], 0x33, MiB);
    }
    size_t r0 = c_rss();
    for (int i = 0; i < N; i++)
        xalloc_free(p[i]);
    dirty = c_dirty();
    size_t r1 = c_rss();
    CHECK(dirty < 64 * KiB, "dirty %zu right after freeing 64 MiB", dirty);
    CHECK(UNDER_SANITIZER || r1 + 48 * MiB < r0, "RSS %zu -> %zu after freeing 64 MiB", r0, r1);
    return 0;
}

/* dirty_decay_ms:-1: dirty pages stay, through time and activity. */
static int case_decay_never(int argc, char **argv) {
    size_t rss0, dirty;
    free_some_mib(&rss0, &dirty);
    CHECK(dirty >= 2 * MiB, "dirty %zu right after freeing 2 MiB", dirty);
    sleep_ms(1500);
    for (int i = 0; i < 50; i++) {
        arena_activity();
        sleep_ms(5);
    }
    size_t d2 = c_dirty(), rss1 = c_rss();
    CHECK(d2 >= 2 * MiB, "dirty %zu -> %zu after 1.5 s with dirty_decay_ms:-1", dirty, d2);
    CHECK(UNDER_SANITIZER || rss1 + MiB > rss0, "RSS %zu -> %zu: pages were purged with dirty_decay_ms:-1", rss0, rss1);
    return 0;
}

/* Default decay (1 s): with the program active, the dirty pages go back
 * after about a second. argv[0] = seconds to wait at most. */
static int case_decay_active(int argc, char **argv) {
    double limit = atof(argv[0]);
    size_t rss0, dirty;
    free_some_mib(&rss0, &dirty);
    CHECK(dirty >= 2 * MiB, "dirty %zu right after freeing 2 MiB: decay is not immediate", dirty);
    double t0 = now_s(), t;
    size_t d = dirty;
    while ((t = now_s() - t0) < limit) {
        arena_activity();
        d = c_dirty();
        if (d < MiB / 2)
            break;
        sleep_ms(20);
    }
    size_t rss1 = c_rss();
    CHECK(d < MiB / 2, "stats.dirty still %zu (RSS %zu KiB, was %zu KiB before the free) after "
                   "%.1f s of allocation activity with dirty_decay_ms:1000",
          d, rss1 >> 10, rss0 >> 10, t);
    CHECK(t >= 0.8, "dirty went back after %.2f s, before the decay time", t);
    CHECK(UNDER_SANITIZER || rss1 + 3 * MiB / 2 < rss0, "RSS %zu -> %zu although dirty is %zu", rss0,
          rss1, d);
    return 0;
}

/* Bytes of freed huge mappings kept for reuse: the total dirty minus the
 * arenas' dirty pages, from the stats JSON. */
static size_t c_huge_cached(void) {
    char *js = c_stats_json();
    char v[64], path[96];
    c_json_value(js, "xalloc.stats.dirty", v, sizeof v);
    long long cached = atoll(v);
    long n = 0;
    CHECK(json_find(js, "xalloc.arenas", NULL, &n), "arenas");
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof path, "xalloc.arenas[%ld].dirty", i);
        c_json_value(js, path, v, sizeof v);
        cached -= atoll(v);
    }
    free(js);
    CHECK(cached >= 0, "arena dirty pages exceed the total");
    return (size_t)cached;
}

/* Default decay: a freed huge block is kept mapped for reuse, as dirty
 * memory that goes back after dirty_decay_ms. The program keeps
 * allocating (small and large blocks, no huge ones): after ~1 s the 12 MiB
 * must be gone. (12 MiB: under the cache's 16 MiB floor, so it is kept
 * although no other huge block is live.) argv[0] = seconds to wait at most. */
static int case_decay_huge_active(int argc, char **argv) {
    double limit = atof(argv[0]);
    void *h = xalloc_malloc(12 * MiB);
    CHECK(h != NULL, "malloc");
    memset(h, 1, 12 * MiB);
    size_t rss0 = c_rss();
    xalloc_free(h);
    size_t cached = c_huge_cached();
    CHECK(cached >= 12 * MiB, "freed 12 MiB block: %zu bytes kept (expected a cached mapping)", cached);
    double t0 = now_s(), t;
    while ((t = now_s() - t0) < limit) {
        void *s[200];
        for (int i = 0; i < 200; i++)
            s[i] = xalloc_malloc(100 + (size_t)i * 50);
        for (int i = 0; i < 200; i++)
            xalloc_free(s[i]);
        arena_activity();
        cached = c_huge_cached();
        if (cached < MiB)
            break;
        sleep_ms(20);
    }
    size_t rss1;
    CHECK(rss_wait_under(rss0 - 9 * MiB, t0 + limit, 10, &rss1), "cannot read /proc/self/statm");
    CHECK(cached < MiB, "a freed 12 MiB huge block is still kept mapped (%zu bytes, RSS %zu KiB, "
                        "%zu KiB before the free) after %.1f s of small and large allocations with "
                        "dirty_decay_ms:1000", cached, rss1 >> 10, rss0 >> 10, t);
    CHECK(UNDER_SANITIZER || rss1 + 9 * MiB < rss0, "RSS %zu KiB -> %zu KiB", rss0 >> 10, rss1 >> 10);
    return 0;
}

/* No allocation at all after the free (xallctl does not allocate): with
 * background_thread the dirty pages go back within ~1.5 s; without it they
 * stay. argv: expect_drop seconds */
static int case_decay_idle(int argc, char **argv) {
    bool expect_drop = atoi(argv[0]) != 0;
    double limit = atof(argv[1]);
    size_t rss0, dirty;
    free_some_mib(&rss0, &dirty);
    CHECK(dirty >= 2 * MiB, "dirty %zu right after freeing 2 MiB: decay is not immediate", dirty);
    double t0 = now_s(), t;
    size_t d = dirty;
    while ((t = now_s() - t0) < limit) {
        sleep_ms(50);
        d = c_dirty();
        if (d < MiB / 2)
            break;
    }
    if (expect_drop) {
        size_t rss1;
        CHECK(rss_wait_under(rss0 - 3 * MiB / 2, t0 + limit, 10, &rss1), "cannot read /proc/self/statm");
        CHECK(d < MiB / 2, "dirty still %zu after %.1f s idle with background_thread:true", d, t);
        CHECK(UNDER_SANITIZER || rss1 + 3 * MiB / 2 < rss0, "RSS %zu -> %zu although dirty is %zu", rss0,
              rss1, d);
    } else {
        CHECK(d >= 2 * MiB, "dirty %zu -> %zu after %.1f s idle without background thread", dirty, d, t);
    }
    return 0;
}

/* A thread caches 1.25 MiB of large blocks and blocks; this thread
 * allocates nothing. With background_thread the blocks go back to their
 * arenas once the thread has been idle for the decay time
 * (stats.allocated counts thread-cached blocks); without it they stay.
 * Needs membarrier(2): where it is refused, nothing is checked.
 * argv: expect_drop seconds */
static pthread_barrier_t idler_cached, idler_done;

static void *cache_and_idle(void *arg) {
    void *p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = xalloc_malloc((size_t)(i + 1) * 128 * 1024);   /* 128 - 512 KiB */
        if (p[i] == NULL)
            return (void *)1;
        memset(p[i], 0x2d, 4096);
    }
    for (int i = 0; i < 4; i++)
        xalloc_free(p[i]);
    pthread_barrier_wait(&idler_cached);
    pthread_barrier_wait(&idler_done);
    return arg;
}

static int case_idle_thread(int argc, char **argv) {
    bool expect_drop = atoi(argv[0]) != 0;
    double limit = atof(argv[1]);
    long cmds = syscall(SYS_membarrier, 0 /* MEMBARRIER_CMD_QUERY */, 0, 0);
    if (cmds < 0 || !(cmds & (1 << 3) /* MEMBARRIER_CMD_PRIVATE_EXPEDITED */)) {
        fprintf(stderr, "membarrier unavailable: not checked\n");
        return 0;
    }
    pthread_t th;
    pthread_barrier_init(&idler_cached, NULL, 2);
    pthread_barrier_init(&idler_done, NULL, 2);
    size_t a0 = c_allocated();
    CHECK(pthread_create(&th, NULL, cache_and_idle, NULL) == 0, "pthread_create");
    pthread_barrier_wait(&idler_cached);
    size_t a1 = c_allocated();
    CHECK(a1 >= a0 + MiB, "stats.allocated %zu -> %zu: the blocks are not cached", a0, a1);
    double t0 = now_s(), t;
    size_t a = a1;
    while ((t = now_s() - t0) < limit) {
        sleep_ms(50);
        a = c_allocated();
        if (a + MiB <= a1)
            break;
    }
    pthread_barrier_wait(&idler_done);
    void *ret;
    pthread_join(th, &ret);
    CHECK(ret == NULL, "malloc failed in the idle thread");
    if (expect_drop)
        CHECK(a + MiB <= a1, "stats.allocated %zu -> %zu -> %zu: an idle thread still caches its "
              "large blocks after %.1f s with background_thread:true", a0, a1, a, t);
    else
        CHECK(a + MiB > a1, "stats.allocated %zu -> %zu -> %zu after %.1f s with nothing "
              "running that could take them back", a0, a1, a, t);
    return 0;
}

/* background_thread: a thread named xalloc-purge exists (or not). */
static int case_bgthread(int argc, char **argv) {
    bool want = atoi(argv[0]) != 0;
    void *p = xalloc_malloc(100);
    xalloc_free(p);
    sleep_ms(50);
    bool found = false;
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL, "opendir");
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f && fgets(comm, sizeof comm, f) && strncmp(comm, "xalloc-purge", 12) == 0)
            found = true;
        if (f)
            fclose(f);
    }
    closedir(d);
    CHECK(found == want, "xalloc-purge thread present: %d, expected %d", found, want);
    return 0;
}

/* thp: the VMA of a chunk carries VmFlags hg (always), nh (never) or
 * neither (default). */
static int case_thp(int argc, char **argv) {
    if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) != 0) {
        fprintf(stderr, "no THP in this kernel: effect not checked\n");
        return 0;
    }
    void *p = xalloc_malloc(100);
    CHECK(p != NULL, "malloc");
    uintptr_t a = (uintptr_t)p;
    FILE *f = fopen("/proc/self/smaps", "r");
    CHECK(f != NULL, "smaps");
    char line[512];
    bool in = false, seen = false;
    char flags[512] = "";
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {       /* a VMA's first line */
            in = a >= lo && a < hi;
            continue;
        }
        if (in && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(flags, sizeof flags, "%s", line + 8);
            seen = true;
        }
    }
    fclose(f);
    CHECK(seen, "no VMA for %p in smaps", p);
    bool hg = strstr(flags, " hg") != NULL, nh = strstr(flags, " nh") != NULL;
    const char *mode = argv[0];
    if (strcmp(mode, "always") == 0)
        CHECK(hg && !nh, "thp:always but chunk VmFlags:%s", flags);
    else if (strcmp(mode, "never") == 0)
        CHECK(nh && !hg, "thp:never but chunk VmFlags:%s", flags);
    else
        CHECK(!nh && !hg, "thp:default but chunk VmFlags:%s", flags);
    char *js = c_stats_json();
    char v[64], q[80];
    c_json_value(js, "xalloc.opt.thp", v, sizeof v);
    snprintf(q, sizeof q, "\"%s\"", mode);
    CHECK(strcmp(v, q) == 0, "opt.thp %s, expected %s", v, q);
    free(js);
    return 0;
}

/* Bad pointers: a double free of a small block (on top of the thread
 * cache), of a large block (uncached), and a free of a stack address. With
 * abort_on_error:false each is reported and the program goes on. */
static int case_bad_free(int argc, char **argv) {
    void *p = xalloc_malloc(100);
    CHECK(p != NULL, "malloc");
    xalloc_free(p);
    xalloc_free(p);                        /* double free (top of the cache) */
    void *l = xalloc_malloc(MiB);
    CHECK(l != NULL, "malloc");
    xalloc_free(l);
    xalloc_free(l);                        /* double free (large, uncached) */
    char local[64];
    xalloc_free(local + 16);               /* not xalloc's */
    void *q = xalloc_malloc(200);          /* still works */
    CHECK(q != NULL, "malloc after reports");
    memset(q, 1, 200);
    xalloc_free(q);
    printf("survived\n");
    fflush(stdout);
    return 0;
}

static bool all_bytes(const void *p, int byte, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)byte)
            return false;
    return true;
}

/* junk: fresh blocks read 0xa5, freed ones 0x5a (read while still mapped:
 * a live neighbour keeps the slab and the chunk). argv[0]: 1 junk expected. */
static int case_junk(int argc, char **argv) {
    bool junk = atoi(argv[0]) != 0;
    void *anchor = xalloc_malloc(100);          /* keeps the slab and the chunk */
    CHECK(anchor != NULL, "malloc");
    unsigned char *s = xalloc_malloc(100);
    CHECK(s != NULL, "malloc");
    CHECK(all_bytes(s, 0xa5, 100) == junk, "fresh 100-byte block: first bytes %02x %02x, junk %d",
          s[0], s[99], junk);
    unsigned char *l = xalloc_malloc(64 * KiB);
    CHECK(l != NULL, "malloc");
    CHECK(all_bytes(l, 0xa5, 64 * KiB) == junk, "fresh 64 KiB block: first byte %02x, junk %d", l[0],
          junk);
    unsigned char *h = xalloc_malloc(3 * MiB);
    CHECK(h != NULL, "malloc");
    CHECK(all_bytes(h, 0xa5, 3 * MiB) == junk, "fresh 3 MiB block: first byte %02x, junk %d", h[0],
          junk);
    xalloc_free(h);

    memset(s, 0x11, 100);
    memset(l, 0x11, 64 * KiB);
    xalloc_free(l);
    /* Right after the free, before any other allocation. */
    unsigned char l0 = l[0], lmid = l[32 * KiB], llast = l[64 * KiB - 1];
    xalloc_free(s);
    unsigned char s0 = s[0], s8 = s[8], s99 = s[99];
    if (junk) {
        CHECK(l0 == 0x5a && lmid == 0x5a && llast == 0x5a, "freed large block reads %02x %02x %02x",
              l0, lmid, llast);
        CHECK(s0 == 0x5a && s99 == 0x5a, "freed small block reads %02x %02x", s0, s99);
    } else {
        CHECK(l0 == 0x11 && llast == 0x11, "freed large block changed to %02x without junk", l0);
        /* Only the free mark in its first word (freemark.h). */
        CHECK(s8 == 0x11 && s99 == 0x11, "freed small block changed to %02x without junk", s8);
    }

    /* calloc still zeroes, realloc still copies. */
    unsigned char *z = xalloc_calloc(1, 100);
    CHECK(z && all_bytes(z, 0, 100), "calloc(100) not zero");
    unsigned char *zl = xalloc_calloc(1, 64 * KiB);
    CHECK(zl && all_bytes(zl, 0, 64 * KiB), "calloc(64 KiB) not zero");
    memset(z, 0x44, 100);
    z = xalloc_realloc(z, 5000);
    CHECK(z && all_bytes(z, 0x44, 100), "realloc lost the contents");
    xalloc_free(z);
    xalloc_free(zl);
    xalloc_free(anchor);
    return 0;
}

static int case_noop(int argc, char **argv) {
    void *p = xalloc_malloc(1000);
    CHECK(p != NULL, "malloc");
    xalloc_free(p);
    return 0;
}

/* argv: key expected [key expected ...]: opt.<key> in the stats JSON. */
static int case_opt(int argc, char **argv) {
    char *js = c_stats_json();
    for (int i = 0; i + 1 < argc; i += 2) {
        char path[128], v[128];
        snprintf(path, sizeof path, "xalloc.opt.%s", argv[i]);
        c_json_value(js, path, v, sizeof v);
        CHECK(strcmp(v, argv[i + 1]) == 0, "opt.%s is %s, expected %s", argv[i], v, argv[i + 1]);
    }
    free(js);
    return 0;
}

static int child_main(int argc, char **argv) {
    alarm(30);                          /* a hang becomes a failure */
    static const struct {
        const char *name;
        int (*fn)(int, char **);
        int nargs;
    } cases[] = {
        { "narenas", case_narenas, 1 },
        { "shared", case_shared, 1 },
        { "tcache", case_tcache, 1 },
        { "cached", case_cached, 2 },
        { "decay0", case_decay0, 0 },
        { "decay_never", case_decay_never, 0 },
        { "decay_active", case_decay_active, 1 },
        { "decay_idle", case_decay_idle, 2 },
        { "idle_thread", case_idle_thread, 2 },
        { "decay_huge_active", case_decay_huge_active, 1 },
        { "bgthread", case_bgthread, 1 },
        { "thp", case_thp, 1 },
        { "bad_free", case_bad_free, 0 },
        { "junk", case_junk, 1 },
        { "noop", case_noop, 0 },
        { "opt", case_opt, 2 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(argv[0], cases[i].name) == 0) {
            CHECK(argc - 1 >= cases[i].nargs, "case %s needs %d arguments", argv[0], cases[i].nargs);
            return cases[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "unknown child case %s\n", argv[0]);
    return 2;
}

/* ======================================================================== */
/* Parent side                                                              */
/* ======================================================================== */

typedef struct child {
    int status;
    strbuf *out, *err;          /* the kept buffers below */
} child;

/* One child at a time; its output buffers live on for the next, so a
 * failed assertion, which leaves a test early, leaks nothing. */
static strbuf kept_out, kept_err;

static void child_free(child *c) {
    memset(c, 0, sizeof *c);
}

/* Run "--child args..." with XALLOC_CONF=conf (unset when conf is NULL). */
static void run_child(child *c, const char *conf, const char *args[]) {
    memset(c, 0, sizeof *c);
    c->out = &kept_out;
    c->err = &kept_err;
    c->out->len = c->err->len = 0;
    sb_add(c->out, "", 0);
    sb_add(c->err, "", 0);
    const char *argv[16];
    int n = 0;
    argv[n++] = "test_conf";
    argv[n++] = "--child";
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **env = calloc(ne + 2, sizeof *env);
    char *confvar = NULL;
    assert_non_null(env);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "XALLOC_CONF=", 12) != 0)
            env[k++] = environ[i];
    if (conf) {
        assert_true(asprintf(&confvar, "XALLOC_CONF=%s", conf) > 0);
        env[k++] = confvar;
    }
    env[k] = NULL;

    int po[2], pe[2];
    assert_int_equal(pipe2(po, O_CLOEXEC), 0);
    assert_int_equal(pipe2(pe, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(po[1], STDOUT_FILENO);
        dup2(pe[1], STDERR_FILENO);
        execve("/proc/self/exe", (char **)argv, env);
        dprintf(STDERR_FILENO, "execve: %s\n", strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    /* Read both pipes to EOF (stdout output is small: read it last). */
    char buf[4096];
    ssize_t r;
    while ((r = read(pe[0], buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
        if (r > 0)
            sb_add(c->err, buf, (size_t)r);
    while ((r = read(po[0], buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
        if (r > 0)
            sb_add(c->out, buf, (size_t)r);
    close(po[0]);
    close(pe[0]);
    while (waitpid(pid, &c->status, 0) < 0 && errno == EINTR) {
    }
    free(confvar);
    free(env);
}

static void describe(const child *c, const char *conf, const char *args[], char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "XALLOC_CONF=%s test_conf --child", conf ? conf : "(unset)");
    for (int i = 0; args[i] && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, " %s", args[i]);
}

/* The child exited 0; its stderr is shown on failure. */
#define ASSERT_CHILD_OK(c, conf, args)                                                   \
    do {                                                                                 \
        if (!WIFEXITED((c)->status) || WEXITSTATUS((c)->status) != 0) {                  \
            char d_[512];                                                                \
            describe((c), (conf), (args), d_, sizeof d_);                                \
            fail_msg("%s: %s %d; stderr:\n%s", d_,                                       \
                     WIFEXITED((c)->status) ? "exit status" : "killed by signal",        \
                     WIFEXITED((c)->status) ? WEXITSTATUS((c)->status)                   \
                                            : WTERMSIG((c)->status),                     \
                     (c)->err->s);                                                        \
        }                                                                                \
    } while (0)

/* One line "xalloc: XALLOC_CONF: ... '<key>'" in err. */
static bool has_conf_warning(const char *err, const char *key) {
    char quoted[128];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    for (const char *l = err; l && *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);
        if (len > 20 && strncmp(l, "xalloc: XALLOC_CONF: ", 21) == 0) {
            char line[512];
            snprintf(line, sizeof line, "%.*s", (int)len, l);
            if (strstr(line, quoted))
                return true;
        }
        l = e ? e + 1 : NULL;
    }
    return false;
}

/* Run a child that must pass, with (warn_key non-NULL) or without a
 * configuration warning naming warn_key. */
static void expect(const char *conf, const char *warn_key, const char *args[]) {
    child c;
    run_child(&c, conf, args);
    ASSERT_CHILD_OK(&c, conf, args);
    if (warn_key) {
        if (!has_conf_warning(c.err->s, warn_key))
            fail_msg("XALLOC_CONF=%s: no \"xalloc: XALLOC_CONF: ... '%s'\" warning; stderr:\n%s", conf,
                     warn_key, c.err->s);
    } else if (strstr(c.err->s, "xalloc:")) {
        fail_msg("XALLOC_CONF=%s: unexpected message:\n%s", conf ? conf : "(unset)", c.err->s);
    }
    child_free(&c);
}

#define ARGS(...) ((const char *[]){ __VA_ARGS__, NULL })

/* ---- narenas ------------------------------------------------------------ */

static void test_narenas(void **state) {
    expect(NULL, NULL, ARGS("narenas", "default"));
    expect("narenas:1", NULL, ARGS("narenas", "1"));
    expect("narenas:2", NULL, ARGS("narenas", "2"));
    expect("narenas:5", NULL, ARGS("narenas", "5"));
    expect("narenas:256", NULL, ARGS("narenas", "256"));
    expect("narenas:2,narenas:3", NULL, ARGS("narenas", "3"));   /* the last one wins */
}

static void test_narenas_bad(void **state) {
    const char *bad[] = { "narenas:0", "narenas:257", "narenas:-3", "narenas:abc", "narenas:",
                          "narenas:3x", "narenas:1k", "narenas:99999999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect(bad[i], "narenas", ARGS("narenas", "default"));
}

/* ---- shared_arenas ------------------------------------------------------ */

static void test_shared_arenas(void **state) {
    expect(NULL, NULL, ARGS("shared", "default"));
    expect("narenas:4", NULL, ARGS("shared", "2"));
    expect("narenas:5", NULL, ARGS("shared", "3"));
    expect("narenas:4,shared_arenas:1", NULL, ARGS("shared", "1"));
    expect("narenas:4,shared_arenas:4", NULL, ARGS("shared", "4"));   /* none shared */
    expect("narenas:3,shared_arenas:8", NULL, ARGS("shared", "3"));   /* at most narenas */
    expect("narenas:40", NULL, ARGS("shared", "20"));
}

static void test_shared_arenas_bad(void **state) {
    const char *bad[] = { "shared_arenas:0", "shared_arenas:257", "shared_arenas:-1",
                          "shared_arenas:abc", "shared_arenas:", "shared_arenas:2x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect(bad[i], "shared_arenas", ARGS("shared", "default"));
}

/* ---- tcache, tcache_max ------------------------------------------------ */

static void test_tcache(void **state) {
    expect(NULL, NULL, ARGS("tcache", "1"));
    expect("tcache:true", NULL, ARGS("tcache", "1"));
    expect("tcache:1", NULL, ARGS("tcache", "1"));
    expect("tcache:false", NULL, ARGS("tcache", "0"));
    expect("tcache:0", NULL, ARGS("tcache", "0"));
}

static void test_tcache_bad(void **state) {
    const char *bad[] = { "tcache:yes", "tcache:2", "tcache:", "tcache:False", "tcache:truex" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect(bad[i], "tcache", ARGS("tcache", "1"));
}

static void test_tcache_max(void **state) {
    /* Default 512 KiB: 512 KiB blocks are cached, 640 KiB ones are not. */
    expect(NULL, NULL, ARGS("cached", "524288", "1", "655360", "0", "100", "1"));
    expect("tcache_max:65536", NULL, ARGS("cached", "40960", "1", "65536", "1", "81920", "0"));
    expect("tcache_max:64k", NULL, ARGS("cached", "40960", "1", "81920", "0"));
    expect("tcache_max:0", NULL, ARGS("cached", "100", "0", "16384", "0"));
    expect("tcache_max:2m", NULL, ARGS("cached", "1048576", "1"));
}

static void test_tcache_max_bad(void **state) {
    const char *bad[] = { "tcache_max:-1", "tcache_max:4m", "tcache_max:x", "tcache_max:",
                          "tcache_max:64q", "tcache_max:1g" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect(bad[i], "tcache_max", ARGS("cached", "524288", "1", "655360", "0"));
}

/* A size suffix with no digits before it is not a number. */
static void test_suffix_without_digits(void **state) {
    expect("tcache_max:k", "tcache_max", ARGS("cached", "524288", "1", "655360", "0"));
    expect("dirty_decay_ms:m", "dirty_decay_ms", ARGS("opt", "dirty_decay_ms", "1000"));
}

/* ---- dirty_decay_ms, background_thread ----------------------------------- */

static void test_decay_zero(void **state) {
    expect("dirty_decay_ms:0", NULL, ARGS("decay0"));
}

static void test_decay_never(void **state) {
    expect("dirty_decay_ms:-1", NULL, ARGS("decay_never"));
}

/* Default decay, no background thread, nothing allocated: pages stay. */
static void test_decay_idle_without_thread(void **state) {
    expect(NULL, NULL, ARGS("decay_idle", "0", "1.5"));
}

/* Default decay with allocation activity: pages go back after ~1 s. */
static void test_decay_default_active(void **state) {
    expect(NULL, NULL, ARGS("decay_active", "3.0"));
}

/* Default decay, freed huge block, activity without huge blocks. */
static void test_decay_default_active_huge(void **state) {
    expect(NULL, NULL, ARGS("decay_huge_active", "3.0"));
}

/* The same with the background thread, and with dirty_decay_ms:0: passes
 * (the mapping goes back), so the case itself can succeed. */
static void test_decay_huge_control(void **state) {
    expect("background_thread:true", NULL, ARGS("decay_huge_active", "3.0"));
}

static void test_background_thread(void **state) {
    expect(NULL, NULL, ARGS("bgthread", "0"));
    expect("background_thread:false", NULL, ARGS("bgthread", "0"));
    expect("background_thread:true", NULL, ARGS("bgthread", "1"));
    /* No allocation activity at all: the thread alone purges. */
    expect("background_thread:true", NULL, ARGS("decay_idle", "1", "2.5"));
    /* ... and takes back what an idle thread cached; nothing else does. */
    expect("background_thread:true", NULL, ARGS("idle_thread", "1", "3.0"));
    expect(NULL, NULL, ARGS("idle_thread", "0", "1.6"));
}

/* tcache_reclaim: on by default; off, an idle thread keeps its cached
 * large blocks even with the background thread running. */
static void test_tcache_reclaim(void **state) {
    expect(NULL, NULL, ARGS("opt", "tcache_reclaim", "true"));
    expect("tcache_reclaim:false", NULL, ARGS("opt", "tcache_reclaim", "false"));
    expect("tcache_reclaim:maybe", "tcache_reclaim", ARGS("opt", "tcache_reclaim", "true"));
    expect("background_thread:true,tcache_reclaim:false", NULL, ARGS("idle_thread", "0", "2.0"));
}

static void test_decay_bad(void **state) {
    const char *bad[] = { "dirty_decay_ms:-2", "dirty_decay_ms:abc", "dirty_decay_ms:1x",
                          "dirty_decay_ms:", "dirty_decay_ms:-", "dirty_decay_ms:2000000000000" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect(bad[i], "dirty_decay_ms", ARGS("opt", "dirty_decay_ms", "1000"));
    expect("background_thread:maybe", "background_thread", ARGS("bgthread", "0"));
}

/* ---- thp -------------------------------------------------------------- */

static void test_thp(void **state) {
    expect(NULL, NULL, ARGS("thp", "default"));
    expect("thp:default", NULL, ARGS("thp", "default"));
    expect("thp:always", NULL, ARGS("thp", "always"));
    expect("thp:never", NULL, ARGS("thp", "never"));
    expect("thp:sometimes", "thp", ARGS("thp", "default"));
    expect("thp:", "thp", ARGS("thp", "default"));
    expect("thp:Always", "thp", ARGS("thp", "default"));
}

/* ---- abort_on_error ------------------------------------------------------ */

static void test_abort_on_error_false(void **state) {
    const char *conf = "abort_on_error:false";
    const char **args = ARGS("bad_free");
    child c;
    run_child(&c, conf, args);
    ASSERT_CHILD_OK(&c, conf, args);
    assert_non_null(strstr(c.out->s, "survived"));
    if (!strstr(c.err->s, "double free") || !strstr(c.err->s, "(ignored)") ||
        !strstr(c.err->s, "invalid free"))
        fail_msg("reports missing from stderr:\n%s", c.err->s);
    /* three bad frees, three reports */
    int n = 0;
    for (const char *s = c.err->s; (s = strstr(s, "(ignored)")); s++)
        n++;
    assert_int_equal(n, 3);
    child_free(&c);
}

static void test_abort_on_error_default(void **state) {
    const char *confs[] = { NULL, "abort_on_error:true", "abort_on_error:nope" };
    for (size_t i = 0; i < 3; i++) {
        child c;
        run_child(&c, confs[i], ARGS("bad_free"));
        if (!WIFSIGNALED(c.status) || WTERMSIG(c.status) != SIGABRT)
            fail_msg("XALLOC_CONF=%s: double free did not abort (status %#x); stderr:\n%s",
                     confs[i] ? confs[i] : "(unset)", c.status, c.err->s);
        assert_non_null(strstr(c.err->s, "double free"));
        assert_non_null(strstr(c.err->s, "(aborting)"));
        assert_null(strstr(c.out->s, "survived"));
        assert_int_equal(i == 2, has_conf_warning(c.err->s, "abort_on_error"));
        child_free(&c);
    }
}

/* ---- junk ------------------------------------------------------------- */

static void test_junk(void **state) {
    expect(NULL, NULL, ARGS("junk", "0"));
    expect("junk:false", NULL, ARGS("junk", "0"));
    expect("junk:true", NULL, ARGS("junk", "1"));
    expect("junk:1", NULL, ARGS("junk", "1"));
    expect("junk:on", "junk", ARGS("junk", "0"));
    /* junk turns the thread caches off: every block goes back at once */
    expect("junk:true", NULL, ARGS("tcache", "0"));
}

/* ---- stats_print -------------------------------------------------------- */

static void stats_at_exit(const char *conf, bool want, const char *warn) {
    child c;
    const char **args = ARGS("noop");
    run_child(&c, conf, args);
    ASSERT_CHILD_OK(&c, conf, args);
    const char *h = strstr(c.err->s, "___ xalloc " XALLOC_VERSION " statistics ___");
    const char *e = strstr(c.err->s, "___ end of xalloc statistics ___");
    if (want && (!h || !e || e < h || !strstr(h, "allocated:")))
        fail_msg("XALLOC_CONF=%s: no statistics on stderr at exit:\n%s", conf, c.err->s);
    if (!want && (h || e))
        fail_msg("XALLOC_CONF=%s: statistics printed at exit:\n%s", conf ? conf : "(unset)", c.err->s);
    if (warn && !has_conf_warning(c.err->s, warn))
        fail_msg("XALLOC_CONF=%s: no warning naming %s:\n%s", conf, warn, c.err->s);
    if (!warn && strstr(c.err->s, "XALLOC_CONF"))
        fail_msg("XALLOC_CONF=%s: unexpected warning:\n%s", conf, c.err->s);
    child_free(&c);
}

static void test_stats_print(void **state) {
    stats_at_exit(NULL, false, NULL);
    stats_at_exit("stats_print:false", false, NULL);
    stats_at_exit("stats_print:true", true, NULL);
    stats_at_exit("stats_print:2", false, "stats_print");
}

/* ---- syntax ----------------------------------------------------------- */

static void test_unknown_key(void **state) {
    /* Reported by name, ignored, and the other items still apply. */
    expect("foo:1", "foo", ARGS("narenas", "default"));
    expect("foo:1,narenas:3", "foo", ARGS("narenas", "3"));
    expect("narenas:3,Narenas:5", "Narenas", ARGS("narenas", "3"));
    expect("narenas", "narenas", ARGS("narenas", "default"));        /* no ':' */
    expect("narenas 3,tcache:false", "narenas 3", ARGS("tcache", "0"));
}

static void test_syntax_tolerated(void **state) {
    expect("", NULL, ARGS("narenas", "default"));
    expect(",narenas:2,,", NULL, ARGS("narenas", "2"));
    expect("narenas:2,tcache:false,junk:false,thp:never,dirty_decay_ms:500,stats_print:false", NULL,
           ARGS("opt", "narenas", "2", "tcache", "false", "thp", "\"never\"", "dirty_decay_ms", "500",
                "junk", "false"));
    expect("dirty_decay_ms:2k", NULL, ARGS("opt", "dirty_decay_ms", "2048"));
}

/* Several bad items: each reported, none crashes, defaults kept. */
static void test_many_bad(void **state) {
    const char *conf = "narenas:x,tcache:x,tcache_max:x,tcache_reclaim:x,dirty_decay_ms:x,"
                       "background_thread:x,thp:x,abort_on_error:x,junk:x,stats_print:x,bogus:x";
    child c;
    const char **args = ARGS("opt", "tcache", "true", "tcache_max", "524288", "tcache_reclaim", "true",
                             "dirty_decay_ms", "1000", "background_thread", "false", "thp",
                             "\"default\"", "abort_on_error", "true", "junk", "false");
    run_child(&c, conf, args);
    ASSERT_CHILD_OK(&c, conf, args);
    const char *keys[] = { "narenas", "tcache", "tcache_max", "tcache_reclaim", "dirty_decay_ms",
                           "background_thread", "thp", "abort_on_error", "junk", "stats_print",
                           "bogus" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!has_conf_warning(c.err->s, keys[i]))
            fail_msg("no warning naming '%s':\n%s", keys[i], c.err->s);
    child_free(&c);
    /* A very long key: the warning is cut, not overflowed. */
    char longconf[2048];
    memset(longconf, 'k', 1500);
    strcpy(longconf + 1500, ":1,narenas:2");
    run_child(&c, longconf, ARGS("narenas", "2"));
    ASSERT_CHILD_OK(&c, "(long key)", ARGS("narenas", "2"));
    assert_non_null(strstr(c.err->s, "xalloc: XALLOC_CONF: unknown key"));
    child_free(&c);
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "--child") == 0)
        return child_main(argc - 2, argv + 2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_narenas),
        cmocka_unit_test(test_narenas_bad),
        cmocka_unit_test(test_shared_arenas),
        cmocka_unit_test(test_shared_arenas_bad),
        cmocka_unit_test(test_tcache),
        cmocka_unit_test(test_tcache_bad),
        cmocka_unit_test(test_tcache_max),
        cmocka_unit_test(test_tcache_max_bad),
        cmocka_unit_test(test_suffix_without_digits),
        cmocka_unit_test(test_decay_zero),
        cmocka_unit_test(test_decay_never),
        cmocka_unit_test(test_decay_idle_without_thread),
        cmocka_unit_test(test_decay_default_active),
        cmocka_unit_test(test_decay_default_active_huge),
        cmocka_unit_test(test_decay_huge_control),
        cmocka_unit_test(test_background_thread),
        cmocka_unit_test(test_tcache_reclaim),
        cmocka_unit_test(test_decay_bad),
        cmocka_unit_test(test_thp),
        cmocka_unit_test(test_abort_on_error_false),
        cmocka_unit_test(test_abort_on_error_default),
        cmocka_unit_test(test_junk),
        cmocka_unit_test(test_stats_print),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_syntax_tolerated),
        cmocka_unit_test(test_many_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
