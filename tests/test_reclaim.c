/* Idle threads' large-class caches given back by another thread
 * (reclaim.c): what an idle thread cached goes back to the arenas, a
 * thread using its large bins right now or recently is left alone, the
 * owner goes on working afterwards with consistent counters, malloc_trim
 * takes other threads' cached large blocks too, and owners and a reclaimer
 * running at once lose no block and corrupt no contents. The hand-off
 * needs membarrier(2); without it the tests are skipped. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "arena.h"
#include "init.h"
#include "purge.h"
#include "reclaim.h"
#include "tcache.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int setup(void **state)
{
    return xa_init_slow() ? 0 : -1;
}

static void need_membarrier(void)
{
    long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED))
        skip();
}

/* Bytes in t's large bins, counted from the bins. */
static size_t bins_bytes(const xa_tsd *t)
{
    size_t sum = 0;
    for (unsigned c = XA_NSMALL; c < XA_NCLASSES; c++)
        sum += (size_t)t->large[c - XA_NSMALL].n * xa_class_size[c];
    return sum;
}

/* A worker thread that caches large blocks, then parks between two
 * barriers while the main thread acts on it; optionally parked inside
 * its large-bin hand-off, or looking recently active. */
enum { NBLOCKS = 6, BLOCK = 64 << 10 };
/* Block i: BLOCK + i * 16 KiB, each in a class of its own (a large bin
 * holds a handful). */
#define SIZE_OF(i) ((size_t)BLOCK + (size_t)(i) * (16 << 10))
#define ALL_BYTES (NBLOCKS * (size_t)BLOCK + 15 * (size_t)(16 << 10))

typedef struct worker {
    pthread_t tid;
    pthread_barrier_t parked, resume;
    bool inside;              /* park inside xa_large_enter */
    bool recent;              /* park with a GC pass just done */
    xa_tsd *t;
    size_t cached;            /* its large_cached when parked */
    size_t after;             /* its large_cached after resuming, on a fresh cycle */
    bool consistent;          /* counter equal to the bins' bytes after resuming */
    bool contents_ok;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    xa_tsd *t = xa_tsd_get();
    w->t = t;
    void *p[NBLOCKS];
    for (int i = 0; i < NBLOCKS; i++) {
        p[i] = xa_malloc(SIZE_OF(i));
        memset(p[i], 0x5c, SIZE_OF(i));
    }
    for (int i = 0; i < NBLOCKS; i++)
        xa_free(p[i]);
    w->cached = t->large_cached;
    /* Idle: the last GC pass long ago (or just now). */
    __atomic_store_n(&t->last_gc_ms, w->recent ? xa_now_ms() : xa_now_ms() - 3600 * 1000,
                     __ATOMIC_RELAXED);
    if (w->inside)
        xa_large_enter(t);
    pthread_barrier_wait(&w->parked);
    pthread_barrier_wait(&w->resume);
    if (w->inside)
        xa_large_leave(t);
    /* Back at work: the cache works and its count matches the bins. */
    bool ok = true;
    for (int i = 0; i < NBLOCKS; i++) {
        p[i] = xa_malloc(SIZE_OF(i));
        memset(p[i], i, SIZE_OF(i));
    }
    for (int i = 0; i < NBLOCKS; i++)
        for (size_t k = 0; k < SIZE_OF(i); k += 4096)
            ok = ok && ((unsigned char *)p[i])[k] == (unsigned char)i;
    for (int i = 0; i < NBLOCKS; i++)
        xa_free(p[i]);
    w->contents_ok = ok;
    w->after = t->large_cached;
    w->consistent = t->large_cached == bins_bytes(t);
    return NULL;
}

static void start(worker *w)
{
    pthread_barrier_init(&w->parked, NULL, 2);
    pthread_barrier_init(&w->resume, NULL, 2);
    assert_int_equal(pthread_create(&w->tid, NULL, worker_main, w), 0);
    pthread_barrier_wait(&w->parked);
    assert_true(w->cached >= ALL_BYTES);
}

static void finish(worker *w)
{
    pthread_barrier_wait(&w->resume);
    assert_int_equal(pthread_join(w->tid, NULL), 0);
    pthread_barrier_destroy(&w->parked);
    pthread_barrier_destroy(&w->resume);
    assert_true(w->contents_ok);
    assert_true(w->consistent);
    assert_true(w->after >= ALL_BYTES);   /* caching again */
}

/* An idle thread's large blocks go back: all of them, and only once, with
 * their pages purged (they sat unused for the idle time already), not
 * left dirty for another decay period. */
static void test_idle_thread_given_back(void **state)
{
    need_membarrier();
    worker w = {0};
    start(&w);
    xa_arena *a = w.t->arena;
    size_t dirty0 = a->ndirty;
    uint64_t purged0 = a->npurged_pages;
    size_t got = xa_reclaim_idle(xa_now_ms(), 1000);
    assert_int_equal(got, w.cached);
    assert_true(a->ndirty <= dirty0);
    assert_true(a->npurged_pages - purged0 >= got >> XA_PAGE_SHIFT);
    assert_int_equal(w.t->large_cached, 0);
    assert_int_equal(bins_bytes(w.t), 0);
    assert_int_equal(xa_reclaim_idle(xa_now_ms(), 1000), 0);
    finish(&w);
}

/* A thread whose GC ran within the idle time keeps its blocks. */
static void test_recent_thread_kept(void **state)
{
    need_membarrier();
    worker w = {.recent = true};
    start(&w);
    assert_int_equal(xa_reclaim_idle(xa_now_ms(), 60 * 1000), 0);
    assert_int_equal(w.t->large_cached, w.cached);
    finish(&w);
}

/* A thread inside its hand-off (using its large bins) is skipped, even by
 * a reclaim of every thread; once it leaves, the blocks can go. */
static void test_busy_thread_skipped(void **state)
{
    need_membarrier();
    worker w = {.inside = true};
    start(&w);
    assert_int_equal(xa_reclaim_idle(xa_now_ms(), 0), 0);
    assert_int_equal(w.t->large_cached, w.cached);
    assert_int_equal(bins_bytes(w.t), w.cached);
    finish(&w);
}

/* malloc_trim gives back every other thread's cached large blocks, idle or
 * not (here: recently active). */
static void test_trim_takes_other_threads(void **state)
{
    need_membarrier();
    worker w = {.recent = true};
    start(&w);
    xa_purge_all();
    assert_int_equal(w.t->large_cached, 0);
    assert_int_equal(bins_bytes(w.t), 0);
    finish(&w);
}

/* In a forked child only the forking thread is left: a reclaim there finds
 * nobody to take from (the parent's other threads do not exist). Not under
 * TSan, whose lock tracking gives up on the hundred-odd locks the fork
 * handlers hold. */
static void test_fork_child_lists_itself(void **state)
{
    need_membarrier();
#if defined(__SANITIZE_THREAD__)
    skip();
#endif
    worker w = {0};
    start(&w);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        size_t got = xa_reclaim_idle(xa_now_ms(), 0);
        void *p = xa_malloc(BLOCK);
        xa_free(p);
        _exit(got == 0 && p != NULL ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(w.t->large_cached, w.cached);   /* the parent's are untouched */
    finish(&w);
}

/* Owners busy with large blocks while another thread reclaims every thread
 * not inside its hand-off, over and over: every block keeps its contents,
 * no block is handed out twice (each carries its owner's tag and serial),
 * and every owner's counter matches its bins at the end. */
enum { OWNERS = 3, ROUNDS = 100000, LIVE = 8 };
static volatile int stress_stop;

typedef struct owner {
    pthread_t tid;
    unsigned id;
    bool ok;
    char why[128];
} owner;

static void *owner_main(void *arg)
{
    owner *o = arg;
    uint64_t *live[LIVE] = {0};
    size_t size[LIVE] = {0};
    uint64_t serial = 0, x = o->id * 7919u + 1;
    o->ok = true;
    for (unsigned r = 0; r < ROUNDS && o->ok; r++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        unsigned i = (unsigned)(x >> 33) % LIVE;
        if (live[i]) {
            uint64_t want = ((uint64_t)o->id << 48) | live[i][1];
            if (live[i][0] != want || live[i][size[i] / 8 - 1] != want) {
                snprintf(o->why, sizeof o->why, "owner %u: block %p lost its tag", o->id,
                         (void *)live[i]);
                o->ok = false;
            }
            xa_free(live[i]);
        }
        size[i] = (size_t)16 << 10 << ((x >> 20) % 5);   /* 16 - 256 KiB */
        live[i] = xa_malloc(size[i]);
        if (live[i] == NULL) {
            o->ok = false;
            snprintf(o->why, sizeof o->why, "owner %u: malloc failed", o->id);
            break;
        }
        live[i][1] = ++serial;
        live[i][0] = live[i][size[i] / 8 - 1] = ((uint64_t)o->id << 48) | serial;
    }
    for (unsigned i = 0; i < LIVE; i++)
        xa_free(live[i]);
    xa_tsd *t = &xa_tls;
    xa_large_enter(t);
    if (o->ok && t->large_cached != bins_bytes(t)) {
        snprintf(o->why, sizeof o->why, "owner %u: counter %zu, bins %zu", o->id,
                 t->large_cached, bins_bytes(t));
        o->ok = false;
    }
    xa_large_leave(t);
    return NULL;
}

static void *reclaimer_main(void *arg)
{
    size_t *total = arg;
    while (!__atomic_load_n(&stress_stop, __ATOMIC_RELAXED))
        *total += xa_reclaim_idle(xa_now_ms(), 0);
    return NULL;
}

static void test_owners_and_reclaimer_at_once(void **state)
{
    need_membarrier();
    owner o[OWNERS];
    pthread_t rt;
    size_t reclaimed = 0;
    stress_stop = 0;
    assert_int_equal(pthread_create(&rt, NULL, reclaimer_main, &reclaimed), 0);
    for (unsigned i = 0; i < OWNERS; i++) {
        o[i].id = i + 1;
        assert_int_equal(pthread_create(&o[i].tid, NULL, owner_main, &o[i]), 0);
    }
    for (unsigned i = 0; i < OWNERS; i++)
        assert_int_equal(pthread_join(o[i].tid, NULL), 0);
    __atomic_store_n(&stress_stop, 1, __ATOMIC_RELAXED);
    assert_int_equal(pthread_join(rt, NULL), 0);
    for (unsigned i = 0; i < OWNERS; i++)
        if (!o[i].ok)
            fail_msg("%s", o[i].why);
    print_message("reclaimed %zu bytes while the owners ran\n", reclaimed);
}

/* Ends the reclaim of t that the test marked under way, after a while. */
static void *end_reclaim_later(void *arg)
{
    xa_tsd *t = arg;
    usleep(50 * 1000);
    __atomic_store_n(&t->reclaiming, t->reclaiming + 1, __ATOMIC_RELEASE);
    return NULL;
}

static void mark_reclaim_under_way(xa_tsd *t, pthread_t *helper)
{
    __atomic_store_n(&t->reclaiming, t->reclaiming + 1, __ATOMIC_RELAXED);   /* odd */
    assert_int_equal(pthread_create(helper, NULL, end_reclaim_later, t), 0);
}

/* The large-cache paths that call nothing (xa_large_try_enter) step aside
 * when a reclaim of their thread is under way; the paths they fall back to
 * wait for that reclaim to end, then free into the cache or allocate, with
 * the cached-bytes counter right. No membarrier needed: the reclaim here
 * is only the mark. */
static void test_cache_paths_meet_reclaim(void **state)
{
    (void)state;
    xa_tsd *t = &xa_tls;
    enum { SIZE = 64 << 10 };
    unsigned c = xa_size_class(SIZE);
    xa_large_enter(t);                /* empty bins: q's free finds room */
    xa_tcache_flush_large(t);
    xa_large_leave(t);
    uint64_t *p = xa_malloc(SIZE), *q = xa_malloc(SIZE);
    assert_non_null(p);
    assert_non_null(q);
    p[0] = 1;
    q[0] = 2;
    pthread_t helper;

    mark_reclaim_under_way(t, &helper);
    xa_free(q);
    assert_int_equal(__atomic_load_n(&t->reclaiming, __ATOMIC_ACQUIRE) & 1, 0);   /* waited */
    assert_int_equal(pthread_join(helper, NULL), 0);
    xa_large_enter(t);
    bool cached = xa_lbin_holds(xa_large_bin(t, c), q);
    bool counted = t->large_cached == bins_bytes(t);
    xa_large_leave(t);
    assert_true(cached);
    assert_true(counted);

    mark_reclaim_under_way(t, &helper);
    uint64_t *r = xa_malloc(SIZE);
    assert_int_equal(__atomic_load_n(&t->reclaiming, __ATOMIC_ACQUIRE) & 1, 0);
    assert_int_equal(pthread_join(helper, NULL), 0);
    assert_non_null(r);
    assert_ptr_not_equal(r, p);
    r[0] = 3;
    assert_int_equal(p[0], 1);
    xa_large_enter(t);
    counted = t->large_cached == bins_bytes(t);
    xa_large_leave(t);
    assert_true(counted);
    xa_free(r);
    xa_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_thread_given_back),
        cmocka_unit_test(test_recent_thread_kept),
        cmocka_unit_test(test_busy_thread_skipped),
        cmocka_unit_test(test_trim_takes_other_threads),
        cmocka_unit_test(test_fork_child_lists_itself),
        cmocka_unit_test(test_owners_and_reclaimer_at_once),
        cmocka_unit_test(test_cache_paths_meet_reclaim),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
