/* xallctl and xalloc_stats_print, against known allocation patterns, with
 * the default options (the suite assumes XALLOC_CONF is unset).
 *
 * Patterns whose effect on the statistics is exact: large blocks above
 * tcache_max (1 MiB: never cached, counted by their class size) and huge
 * blocks (above 2 MiB: counted by their page-rounded size). This program's
 * own malloc is glibc's (the core does not interpose), so nothing but the
 * tests' xalloc_ calls moves xalloc's statistics. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* ---- helpers (the shared ones are in testutil.h) ----------------------- */

static uint64_t u64_get(const char *name) {
    uint64_t v = 0;
    size_t len = sizeof v;
    int err = xallctl(name, &v, &len, NULL, 0);
    if (err)
        fail_msg("xallctl(\"%s\") = %d", name, err);
    return v;
}

static char *stats_text(const char *opts) {
    strbuf b = {0};
    xalloc_stats_print(sb_write_cb, &b, opts);
    assert_non_null(b.s);
    assert_true(b.calls > 0);
    return b.s;
}

static unsigned long long json_num(const char *text, const char *path) {
    const char *v = NULL;
    if (!json_find(text, path, &v, NULL))
        fail_msg("stats JSON does not parse:\n%s", text);
    if (v == NULL)
        fail_msg("no %s in the stats JSON:\n%s", path, text);
    if (*v < '0' || *v > '9')
        fail_msg("%s is not an unsigned number: %.20s", path, v);
    return strtoull(v, NULL, 10);
}

static long json_len(const char *text, const char *path) {
    const char *v = NULL;
    long n = -1;
    if (!json_find(text, path, &v, &n) || v == NULL || (*v != '[' && *v != '{'))
        fail_msg("no array %s in the stats JSON", path);
    return n;
}

/* ---- version, epoch ---------------------------------------------------- */

static void test_version(void **state) {
    const char *v = NULL;
    size_t len = sizeof v;
    assert_int_equal(xallctl("version", &v, &len, NULL, 0), 0);
    assert_non_null(v);
    assert_string_equal(v, XALLOC_VERSION);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", XALLOC_VERSION_MAJOR, XALLOC_VERSION_MINOR,
             XALLOC_VERSION_PATCH);
    assert_string_equal(v, expect);
    /* read-only */
    const char *mine = "9.9.9";
    assert_int_equal(xallctl("version", NULL, NULL, &mine, sizeof mine), EPERM);
    v = NULL;
    assert_int_equal(xallctl("version", &v, &len, NULL, 0), 0);
    assert_string_equal(v, XALLOC_VERSION);
}

static void test_epoch(void **state) {
    uint64_t e1 = epoch(), e2 = epoch();
    assert_true(e2 > e1);
    /* reading refreshes too */
    uint64_t e3 = u64_get("epoch");
    assert_true(e3 > e2);
    uint64_t e = 1;
    assert_int_equal(xallctl("epoch", NULL, NULL, &e, sizeof e - 1), EINVAL);
    assert_int_equal(xallctl("epoch", NULL, NULL, &e, sizeof e), 0);

    /* The stats are a snapshot: they move only when the epoch does. */
    settle();
    size_t a0 = allocated_now();
    void *p = xalloc_malloc(3 * MiB);
    assert_non_null(p);
    ASSERT_EQ_SZ(stat_get("stats.allocated"), a0);
    ASSERT_EQ_SZ(allocated_now(), a0 + 3 * MiB);
    xalloc_free(p);
    ASSERT_EQ_SZ(stat_get("stats.allocated"), a0 + 3 * MiB);
    ASSERT_EQ_SZ(allocated_now(), a0);
}

/* ---- stats.allocated against exact patterns ------------------------------ */

static void test_allocated_large(void **state) {
    enum { N = 10 };
    settle();
    size_t a0 = allocated_now();
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = xalloc_malloc(MiB);
        assert_non_null(p[i]);
        memset(p[i], i, MiB);
    }
    ASSERT_EQ_SZ(allocated_now(), a0 + N * MiB);
    for (int i = 0; i < N / 2; i++)
        xalloc_free(p[i]);
    ASSERT_EQ_SZ(allocated_now(), a0 + (N - N / 2) * MiB);
    for (int i = N / 2; i < N; i++)
        xalloc_free(p[i]);
    ASSERT_EQ_SZ(allocated_now(), a0);

    /* Not a class size: counted by the class (1 MiB + 1 -> 1.25 MiB). */
    void *q = xalloc_malloc(MiB + 1);
    assert_non_null(q);
    size_t us = xalloc_malloc_usable_size(q);
    assert_true(us >= MiB + 1);
    ASSERT_EQ_SZ(allocated_now(), a0 + us);
    xalloc_free(q);
    ASSERT_EQ_SZ(allocated_now(), a0);
}

static void test_allocated_huge(void **state) {
    enum { N = 10 };
    settle();
    size_t a0 = allocated_now();
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = xalloc_malloc(3 * MiB);
        assert_non_null(p[i]);
    }
    ASSERT_EQ_SZ(allocated_now(), a0 + N * 3 * MiB);
    void *odd = xalloc_malloc(5 * MiB + 1);     /* page-rounded */
    assert_non_null(odd);
    ASSERT_EQ_SZ(allocated_now(), a0 + N * 3 * MiB + 5 * MiB + 4096);
    for (int i = 0; i < N; i++)
        xalloc_free(p[i]);
    xalloc_free(odd);
    ASSERT_EQ_SZ(allocated_now(), a0);

    /* realloc of a huge block moves the count by the size change */
    void *r = xalloc_malloc(4 * MiB);
    assert_non_null(r);
    r = xalloc_realloc(r, 12 * MiB);
    assert_non_null(r);
    ASSERT_EQ_SZ(allocated_now(), a0 + 12 * MiB);
    r = xalloc_realloc(r, 6 * MiB);
    assert_non_null(r);
    ASSERT_EQ_SZ(allocated_now(), a0 + 6 * MiB);
    xalloc_free(r);
    ASSERT_EQ_SZ(allocated_now(), a0);
}

/* Small blocks: each counts its class size; the fill batches of the thread
 * cache count as allocated until flushed. */
static void test_allocated_small(void **state) {
    enum { N = 5000 };
    static void *p[N];
    settle();
    size_t a0 = allocated_now();
    for (int i = 0; i < N; i++) {
        p[i] = xalloc_malloc(48);
        assert_non_null(p[i]);
    }
    size_t a1 = allocated_now();
    assert_true(a1 >= a0 + N * 48);
    assert_true(a1 <= a0 + N * 48 + 200 * 48);     /* at most one batch extra */
    for (int i = 0; i < N; i++)
        xalloc_free(p[i]);
    flush();
    ASSERT_EQ_SZ(allocated_now(), a0);
}

/* ---- the other totals --------------------------------------------------- */

static void check_totals(const char *when) {
    epoch();
    size_t allocated = stat_get("stats.allocated"), active = stat_get("stats.active"),
           resident = stat_get("stats.resident"), mapped = stat_get("stats.mapped"),
           retained = stat_get("stats.retained"), metadata = stat_get("stats.metadata"),
           dirty = stat_get("stats.dirty");
    if (!(active >= allocated && resident >= allocated && mapped >= allocated && mapped >= active &&
          resident >= active + dirty && retained <= mapped && dirty <= mapped && metadata > 0 &&
          active % 4096 == 0 && mapped % 4096 == 0))
        fail_msg("%s: inconsistent totals: allocated %zu active %zu resident %zu mapped %zu "
                 "retained %zu metadata %zu dirty %zu",
                 when, allocated, active, resident, mapped, retained, metadata, dirty);
}

static void test_totals(void **state) {
    settle();
    check_totals("at rest");
    /* no huge mappings kept for reuse: the huge blocks below are new mappings */
    assert_int_equal(xallctl("arena.purge", NULL, NULL, NULL, 0), 0);
    epoch();
    size_t act0 = stat_get("stats.active"), map0 = stat_get("stats.mapped"),
           res0 = stat_get("stats.resident");
    enum { N = 10 };
    void *l[N], *h[N];
    for (int i = 0; i < N; i++) {
        l[i] = xalloc_malloc(MiB);
        h[i] = xalloc_malloc(3 * MiB);
        assert_non_null(l[i]);
        assert_non_null(h[i]);
        memset(l[i], 1, MiB);
        memset(h[i], 1, 3 * MiB);
    }
    check_totals("with 40 MiB live");
    epoch();
    assert_true(stat_get("stats.active") >= act0 + 40 * MiB);
    assert_true(stat_get("stats.mapped") >= map0 + 30 * MiB);
    assert_true(stat_get("stats.resident") >= res0 + 40 * MiB);
    for (int i = 0; i < N; i++) {
        xalloc_free(l[i]);
        xalloc_free(h[i]);
    }
    check_totals("after the free");
    epoch();
    assert_true(stat_get("stats.active") <= act0 + MiB);
}

/* ---- dirty pages and arena.purge ---------------------------------------- */

static void test_dirty_and_purge(void **state) {
    settle();
    void *anchor = xalloc_malloc(64 * KiB);
    void *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = xalloc_malloc(MiB);
        assert_non_null(p[i]);
        memset(p[i], 1, MiB);
    }
    void *h = xalloc_malloc(8 * MiB);
    assert_non_null(h);
    memset(h, 1, 8 * MiB);
    size_t rss0 = rss_bytes();
    epoch();
    size_t d0 = stat_get("stats.dirty");
    for (int i = 0; i < 3; i++)
        xalloc_free(p[i]);
    xalloc_free(h);
    epoch();
    size_t d1 = stat_get("stats.dirty");
    /* 3 MiB of runs below the dirty floor plus a huge mapping kept for reuse */
    if (d1 < d0 + 3 * MiB)
        fail_msg("stats.dirty %zu -> %zu after freeing 3 MiB of large and 8 MiB of huge blocks", d0, d1);
    assert_int_equal(xallctl("arena.purge", NULL, NULL, NULL, 0), 0);
    epoch();
    ASSERT_EQ_SZ(stat_get("stats.dirty"), 0);
    size_t rss1 = rss_bytes();
    if (!UNDER_SANITIZER && rss1 + 8 * MiB > rss0)
        fail_msg("RSS %zu KiB -> %zu KiB after arena.purge", rss0 >> 10, rss1 >> 10);
    check_totals("after arena.purge");
    /* an action: no value to read or write */
    size_t v, len = sizeof v;
    assert_int_equal(xallctl("arena.purge", &v, &len, NULL, 0), EINVAL);
    assert_int_equal(xallctl("arena.purge", NULL, NULL, &v, sizeof v), EINVAL);
    xalloc_free(anchor);
}

/* stats.dirty counts pages that were written and freed, not the clean
 * pages a freed run happens to merge with. Runs first in this program, so
 * the arena is fresh: the 640 KiB block is carved from the clean remainder
 * of the first chunk, and freeing it may dirty 640 KiB, not the chunk. */
static void test_dirty_counts_freed_pages_only(void **state) {
    settle();
    assert_int_equal(xallctl("arena.purge", NULL, NULL, NULL, 0), 0);
    epoch();
    ASSERT_EQ_SZ(stat_get("stats.dirty"), 0);
    void *p = xalloc_malloc(640 * KiB);         /* above tcache_max: back to the arena at once */
    assert_non_null(p);
    memset(p, 1, 640 * KiB);
    size_t rss0 = rss_bytes();
    xalloc_free(p);
    epoch();
    size_t dirty = stat_get("stats.dirty");
    size_t rss1 = rss_bytes();
    if (dirty > 640 * KiB)
        fail_msg("freeing one 640 KiB block made stats.dirty %zu KiB (RSS %zu KiB -> %zu KiB)",
                 dirty >> 10, rss0 >> 10, rss1 >> 10);
    assert_true(dirty > 0);
}

/* ---- arenas.narenas ----------------------------------------------------- */

static void test_narenas(void **state) {
    unsigned n = 0;
    size_t len = sizeof n;
    assert_int_equal(xallctl("arenas.narenas", &n, &len, NULL, 0), 0);
    assert_int_equal(n, default_narenas());
    size_t wrong = 0, wlen = sizeof wrong;
    assert_int_equal(xallctl("arenas.narenas", &wrong, &wlen, NULL, 0), EINVAL);
    unsigned two = 2;
    assert_int_equal(xallctl("arenas.narenas", NULL, NULL, &two, sizeof two), EPERM);
    assert_int_equal(xallctl("arenas.narenas", &n, &len, NULL, 0), 0);
    assert_int_equal(n, default_narenas());
}

/* ---- thread.allocated / thread.deallocated ------------------------------- */

typedef struct other {
    pthread_barrier_t bar;
    uint64_t a[4], d[4];
} other;

static void *other_thread(void *arg) {
    other *o = arg;
    o->a[0] = u64_get("thread.allocated");
    o->d[0] = u64_get("thread.deallocated");
    pthread_barrier_wait(&o->bar);      /* 1: main allocates and frees */
    pthread_barrier_wait(&o->bar);      /* 2 */
    o->a[1] = u64_get("thread.allocated");
    o->d[1] = u64_get("thread.deallocated");
    /* now this thread allocates and main watches its own counters */
    void *p[5];
    for (int i = 0; i < 5; i++)
        p[i] = xalloc_malloc(MiB);
    for (int i = 0; i < 5; i++)
        xalloc_free(p[i]);
    o->a[2] = u64_get("thread.allocated");
    o->d[2] = u64_get("thread.deallocated");
    pthread_barrier_wait(&o->bar);      /* 3 */
    return NULL;
}

static void test_thread_counters(void **state) {
    enum { N = 10 };
    settle();
    uint64_t a0 = u64_get("thread.allocated"), d0 = u64_get("thread.deallocated");
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = xalloc_malloc(MiB);
        assert_non_null(p[i]);
    }
    uint64_t a1 = u64_get("thread.allocated");
    assert_true(a1 >= a0 + N * MiB);
    assert_true(a1 <= a0 + N * MiB + 64 * KiB);
    ASSERT_EQ_SZ(u64_get("thread.deallocated"), d0);
    for (int i = 0; i < N; i++)
        xalloc_free(p[i]);
    uint64_t d1 = u64_get("thread.deallocated");
    assert_true(d1 >= d0 + N * MiB);
    assert_true(d1 <= d0 + N * MiB + 64 * KiB);

    /* small blocks through the thread cache count as well */
    static void *s[1000];
    for (int i = 0; i < 1000; i++)
        s[i] = xalloc_malloc(100);
    uint64_t a2 = u64_get("thread.allocated");
    assert_true(a2 >= a1 + 1000 * 100);
    for (int i = 0; i < 1000; i++)
        xalloc_free(s[i]);
    assert_true(u64_get("thread.deallocated") >= d1 + 1000 * 100);

    /* huge and calloc'd blocks */
    uint64_t a3 = u64_get("thread.allocated"), d3 = u64_get("thread.deallocated");
    void *h = xalloc_malloc(3 * MiB), *c = xalloc_calloc(1, 3 * MiB);
    assert_true(u64_get("thread.allocated") >= a3 + 6 * MiB);
    xalloc_free(h);
    xalloc_free(c);
    assert_true(u64_get("thread.deallocated") >= d3 + 6 * MiB);

    /* another thread's counters: untouched by this thread's traffic, and
     * the other way round */
    other o;
    pthread_barrier_init(&o.bar, NULL, 2);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_thread, &o), 0);
    pthread_barrier_wait(&o.bar);
    for (int i = 0; i < N; i++)
        p[i] = xalloc_malloc(MiB);
    for (int i = 0; i < N; i++)
        xalloc_free(p[i]);
    uint64_t am = u64_get("thread.allocated"), dm = u64_get("thread.deallocated");
    pthread_barrier_wait(&o.bar);
    pthread_barrier_wait(&o.bar);
    pthread_join(th, NULL);
    pthread_barrier_destroy(&o.bar);
    ASSERT_EQ_SZ(o.a[1], o.a[0]);
    ASSERT_EQ_SZ(o.d[1], o.d[0]);
    assert_true(o.a[2] >= o.a[1] + 5 * MiB);
    assert_true(o.d[2] >= o.d[1] + 5 * MiB);
    ASSERT_EQ_SZ(u64_get("thread.allocated"), am);
    ASSERT_EQ_SZ(u64_get("thread.deallocated"), dm);

    uint32_t small;
    size_t len = sizeof small;
    assert_int_equal(xallctl("thread.allocated", &small, &len, NULL, 0), EINVAL);
    uint64_t zero = 0;
    assert_int_equal(xallctl("thread.allocated", NULL, NULL, &zero, sizeof zero), EPERM);
    assert_int_equal(xallctl("thread.deallocated", NULL, NULL, &zero, sizeof zero), EPERM);
}

/* ---- thread.tcache.flush -------------------------------------------------- */

static void test_tcache_flush(void **state) {
    enum { N = 16 };   /* fewer than a bin keeps even when it only frees */
    settle();
    size_t a0 = allocated_now();
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = xalloc_malloc(100);
    void *l = xalloc_malloc(20 * KiB);         /* a large class the cache keeps */
    for (int i = 0; i < N; i++)
        xalloc_free(p[i]);
    xalloc_free(l);
    size_t a1 = allocated_now();
    if (a1 < a0 + N * 112 + 20 * KiB)
        fail_msg("freed blocks left the thread cache before the flush: %zu -> %zu", a0, a1);
    assert_int_equal(xallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0);
    ASSERT_EQ_SZ(allocated_now(), a0);
    /* flushing an empty cache is fine */
    assert_int_equal(xallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0);
    ASSERT_EQ_SZ(allocated_now(), a0);
    size_t v, len = sizeof v;
    assert_int_equal(xallctl("thread.tcache.flush", &v, &len, NULL, 0), EINVAL);
    assert_int_equal(xallctl("thread.tcache.flush", NULL, NULL, &v, sizeof v), EINVAL);
}

/* A thread that never allocated: its counters are zero, a flush is a no-op. */
static void *fresh_thread(void *arg) {
    uint64_t *out = arg;
    out[0] = u64_get("thread.allocated");
    out[1] = u64_get("thread.deallocated");
    out[2] = (uint64_t)xallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    return NULL;
}

static void test_fresh_thread(void **state) {
    uint64_t out[3] = { 1, 1, 1 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fresh_thread, out), 0);
    pthread_join(th, NULL);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 0);
    assert_int_equal(out[2], 0);
}

/* ---- error codes ------------------------------------------------------- */

static void test_errors(void **state) {
    size_t v = 0, len = sizeof v;
    const char *unknown[] = { "nope", "", "stats", "stats.", "stats.nope", "stats.allocated.x",
                              "Stats.allocated", "stats.allocatedx", "thread", "thread.tcache",
                              "thread.tcache.flushx", "arena", "arena.purge.x", "arenas",
                              "arenas.narenas.x", "versionx", "epoch.", "opt.narenas" };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        len = sizeof v;
        int err = xallctl(unknown[i], &v, &len, NULL, 0);
        if (err != ENOENT)
            fail_msg("xallctl(\"%s\") = %d, expected ENOENT", unknown[i], err);
    }
    assert_int_equal(xallctl(NULL, &v, &len, NULL, 0), ENOENT);

    /* wrong *oldlenp: EINVAL, and the value is not written */
    const struct { const char *name; size_t size; } named[] = {
        { "version", sizeof(const char *) }, { "epoch", sizeof(uint64_t) },
        { "stats.allocated", sizeof(size_t) }, { "stats.active", sizeof(size_t) },
        { "stats.resident", sizeof(size_t) }, { "stats.mapped", sizeof(size_t) },
        { "stats.retained", sizeof(size_t) }, { "stats.metadata", sizeof(size_t) },
        { "stats.dirty", sizeof(size_t) }, { "arenas.narenas", sizeof(unsigned) },
        { "thread.allocated", sizeof(uint64_t) }, { "thread.deallocated", sizeof(uint64_t) },
    };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        unsigned char buf[32];
        size_t sizes[] = { 0, 1, named[i].size - 1, named[i].size + 1, 16 };
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            if (sizes[k] == named[i].size)
                continue;
            memset(buf, 0xee, sizeof buf);
            len = sizes[k];
            int err = xallctl(named[i].name, buf, &len, NULL, 0);
            if (err != EINVAL)
                fail_msg("xallctl(\"%s\") with *oldlenp %zu = %d, expected EINVAL", named[i].name,
                         sizes[k], err);
            for (size_t b = 0; b < sizeof buf; b++)
                if (buf[b] != 0xee)
                    fail_msg("xallctl(\"%s\") wrote the value despite EINVAL", named[i].name);
        }
        /* the right length works */
        len = named[i].size;
        assert_int_equal(xallctl(named[i].name, buf, &len, NULL, 0), 0);
        assert_int_equal(len, named[i].size);
        /* probing without a buffer is fine */
        assert_int_equal(xallctl(named[i].name, NULL, NULL, NULL, 0), 0);
    }

    /* writing read-only values: EPERM */
    const char *ro[] = { "version", "stats.allocated", "stats.active", "stats.resident",
                         "stats.mapped", "stats.retained", "stats.metadata", "stats.dirty",
                         "arenas.narenas", "thread.allocated", "thread.deallocated" };
    for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++) {
        uint64_t nv = 12345;
        int err = xallctl(ro[i], NULL, NULL, &nv, sizeof nv);
        if (err != EPERM)
            fail_msg("writing \"%s\" = %d, expected EPERM", ro[i], err);
        len = sizeof v;
        err = xallctl(ro[i], &v, &len, &nv, sizeof nv);
        if (err != EPERM && err != EINVAL)
            fail_msg("read+write \"%s\" = %d, expected EPERM", ro[i], err);
    }
    /* the stats were not changed by the attempts */
    size_t a = allocated_now();
    uint64_t big = 1ULL << 40;
    assert_int_equal(xallctl("stats.allocated", NULL, NULL, &big, sizeof big), EPERM);
    ASSERT_EQ_SZ(stat_get("stats.allocated"), a);
}

/* ---- xalloc_stats_print -------------------------------------------------- */

/* The number after "key: " in text, or fail. */
static size_t text_num(const char *text, const char *key) {
    const char *p = strstr(text, key);
    if (p == NULL)
        fail_msg("no \"%s\" in:\n%s", key, text);
    return (size_t)strtoull(p + strlen(key), NULL, 10);
}

static void test_stats_print_text(void **state) {
    settle();
    void *l = xalloc_malloc(MiB);
    void *s = xalloc_malloc(100);
    char *t = stats_text(NULL);
    assert_non_null(strstr(t, "___ xalloc " XALLOC_VERSION " statistics ___\n"));
    assert_non_null(strstr(t, "___ end of xalloc statistics ___\n"));
    assert_non_null(strstr(t, "allocated: "));
    assert_non_null(strstr(t, XALLOC_VERSION));
    assert_non_null(strstr(t, "\narena 0: "));
    assert_non_null(strstr(t, "requests"));     /* the per-class table */
    size_t printed = text_num(t, "\nallocated: ");
    ASSERT_EQ_SZ(printed, allocated_now());
    assert_int_equal(t[strlen(t) - 1], '\n');
    free(t);

    /* 'a': no per-arena sections; 'b': no per-class rows */
    t = stats_text("a");
    assert_non_null(strstr(t, "allocated: "));
    assert_null(strstr(t, "\narena "));
    assert_null(strstr(t, "requests"));
    free(t);
    t = stats_text("b");
    assert_non_null(strstr(t, "\narena 0: "));
    assert_null(strstr(t, "requests"));
    free(t);
    xalloc_free(l);
    xalloc_free(s);
}

static void test_stats_print_json(void **state) {
    settle();
    void *keep[4] = { xalloc_malloc(MiB), xalloc_malloc(100), xalloc_malloc(5 * MiB),
                      xalloc_malloc(20 * KiB) };
    char *j = stats_text("J");
    if (!json_find(j, NULL, NULL, NULL))
        fail_msg("stats_print J is not JSON:\n%s", j);
    const char *v = NULL;
    assert_true(json_find(j, "xalloc.version", &v, NULL));
    assert_non_null(v);
    assert_memory_equal(v, "\"" XALLOC_VERSION "\"", strlen(XALLOC_VERSION) + 2);

    epoch();
    size_t allocated = stat_get("stats.allocated");
    ASSERT_EQ_SZ(json_num(j, "xalloc.stats.allocated"), allocated);
    ASSERT_EQ_SZ(json_num(j, "xalloc.stats.active"), stat_get("stats.active"));
    ASSERT_EQ_SZ(json_num(j, "xalloc.stats.mapped"), stat_get("stats.mapped"));
    ASSERT_EQ_SZ(json_num(j, "xalloc.stats.resident"), stat_get("stats.resident"));
    ASSERT_EQ_SZ(json_num(j, "xalloc.stats.retained"), stat_get("stats.retained"));
    ASSERT_EQ_SZ(json_num(j, "xalloc.stats.metadata"), stat_get("stats.metadata"));
    ASSERT_EQ_SZ(json_num(j, "xalloc.stats.dirty"), stat_get("stats.dirty"));
    ASSERT_EQ_SZ(json_num(j, "xalloc.opt.narenas"), default_narenas());
    assert_true(json_num(j, "xalloc.stats.huge.allocated") >= 5 * MiB);
    assert_true(json_num(j, "xalloc.stats.huge.nblocks") >= 1);

    /* the parts add up to the total */
    long n = json_len(j, "xalloc.arenas");
    assert_true(n >= 1);
    unsigned long long sum = json_num(j, "xalloc.stats.huge.allocated"), dirty = 0;
    long classes = 0;
    for (long i = 0; i < n; i++) {
        char path[96];
        snprintf(path, sizeof path, "xalloc.arenas[%ld].allocated_small", i);
        sum += json_num(j, path);
        snprintf(path, sizeof path, "xalloc.arenas[%ld].allocated_large", i);
        sum += json_num(j, path);
        snprintf(path, sizeof path, "xalloc.arenas[%ld].dirty", i);
        dirty += json_num(j, path);
        snprintf(path, sizeof path, "xalloc.arenas[%ld].classes", i);
        classes += json_len(j, path);
    }
    ASSERT_EQ_SZ(sum, allocated);
    assert_true(dirty <= stat_get("stats.dirty"));
    assert_true(classes >= 1);
    free(j);

    j = stats_text("Ja");
    assert_true(json_find(j, NULL, NULL, NULL));
    assert_int_equal(json_len(j, "xalloc.arenas"), 0);
    ASSERT_EQ_SZ(json_num(j, "xalloc.stats.allocated"), allocated);
    free(j);
    j = stats_text("Jb");
    assert_true(json_find(j, NULL, NULL, NULL));
    n = json_len(j, "xalloc.arenas");
    assert_true(n >= 1);
    for (long i = 0; i < n; i++) {
        char path[96];
        snprintf(path, sizeof path, "xalloc.arenas[%ld].classes", i);
        assert_int_equal(json_len(j, path), 0);
    }
    free(j);
    for (int i = 0; i < 4; i++)
        xalloc_free(keep[i]);
}

/* With many arenas in use and big numbers, the JSON stays well-formed. */
static void *busy_thread(void *arg) {
    void **slot = arg;
    *slot = xalloc_malloc(MiB);
    void *s[300];
    for (int i = 0; i < 300; i++)
        s[i] = xalloc_malloc((size_t)(i % 36 + 1) * 300);
    for (int i = 0; i < 300; i++)
        xalloc_free(s[i]);
    return NULL;
}

static void test_stats_print_json_many_arenas(void **state) {
    enum { T = 24 };
    void *slot[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++)
        assert_int_equal(pthread_create(&th[i], NULL, busy_thread, &slot[i]), 0);
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    char *j = stats_text("J");
    if (!json_find(j, NULL, NULL, NULL))
        fail_msg("stats JSON with many arenas does not parse:\n%s", j);
    long n = json_len(j, "xalloc.arenas");
    unsigned want = default_narenas() < T + 1 ? default_narenas() : T + 1;
    assert_true(n >= 1 && (unsigned long)n <= default_narenas());
    assert_true((unsigned long)n >= want / 2);
    free(j);
    char *t = stats_text(NULL);
    assert_non_null(strstr(t, "___ end of xalloc statistics ___"));
    free(t);
    for (int i = 0; i < T; i++)
        xalloc_free(slot[i]);
}

/* write_cb NULL: the text goes to stderr. */
static void test_stats_print_stderr(void **state) {
    char path[] = "/tmp/xalloc-test-ctl-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    dup2(fd, STDERR_FILENO);
    xalloc_stats_print(NULL, NULL, NULL);
    xalloc_stats_print(NULL, NULL, "J");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size > 0);
    char *buf = calloc(1, (size_t)size + 1);
    assert_int_equal(pread(fd, buf, (size_t)size, 0), size);
    close(fd);
    assert_non_null(strstr(buf, "___ xalloc " XALLOC_VERSION " statistics ___"));
    assert_non_null(strstr(buf, "allocated: "));
    const char *js = strstr(buf, "{\"xalloc\":");
    assert_non_null(js);
    assert_true(json_find(js, NULL, NULL, NULL));
    free(buf);
}

/* The callback may itself call xallctl (no lock held that it needs). */
static void reentrant_cb(void *opaque, const char *text) {
    int *calls = opaque;
    if ((*calls)++ == 0) {
        size_t v, len = sizeof v;
        assert_int_equal(xallctl("stats.allocated", &v, &len, NULL, 0), 0);
        epoch();
    }
}

static void test_stats_print_reentrant(void **state) {
    int calls = 0;
    xalloc_stats_print(reentrant_cb, &calls, NULL);
    assert_true(calls > 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dirty_counts_freed_pages_only),   /* first: fresh arena */
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_epoch),
        cmocka_unit_test(test_allocated_large),
        cmocka_unit_test(test_allocated_huge),
        cmocka_unit_test(test_allocated_small),
        cmocka_unit_test(test_totals),
        cmocka_unit_test(test_dirty_and_purge),
        cmocka_unit_test(test_narenas),
        cmocka_unit_test(test_thread_counters),
        cmocka_unit_test(test_tcache_flush),
        cmocka_unit_test(test_fresh_thread),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_stats_print_text),
        cmocka_unit_test(test_stats_print_json),
        cmocka_unit_test(test_stats_print_json_many_arenas),
        cmocka_unit_test(test_stats_print_stderr),
        cmocka_unit_test(test_stats_print_reentrant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
