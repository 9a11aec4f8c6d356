/* Thread caches, driven through xa_malloc / xa_free in fresh threads (a
 * fresh thread has a fresh cache). cmocka's asserts are not thread-safe,
 * so thread bodies record the first failed check and the main thread
 * reports it. Each test uses its own size class, so the arena bins it
 * looks at are untouched by the others even when threads share arenas. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "conf.h"
#include "init.h"
#include "tcache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Four arenas, the first two shared (for the classes of a cache line and
 * up) whatever the machine's CPU count: threads bound one after another
 * alternate between the shared arenas, and the tests below meet both
 * other arenas' blocks and another thread's blocks of their own. Read at
 * initialisation, which a constructor runs before main. */
const char *xalloc_conf = "narenas:4,shared_arenas:2";

static int setup(void **state)
{
    return xa_init_slow() ? 0 : -1;
}

typedef struct result {
    char msg[256];
    bool failed;
} result;

/* Record the first failure and leave the thread body. */
#define CHECK(res, cond, ...)                                              \
    do {                                                                   \
        if (!(cond)) {                                                     \
            if (!(res)->failed) {                                          \
                int k_ = snprintf((res)->msg, sizeof (res)->msg, "line %d: %s: ", \
                                  __LINE__, #cond);                        \
                if (k_ > 0 && (size_t)k_ < sizeof (res)->msg)              \
                    snprintf((res)->msg + k_, sizeof (res)->msg - (size_t)k_, __VA_ARGS__); \
                (res)->failed = true;                                      \
            }                                                              \
            return NULL;                                                   \
        }                                                                  \
    } while (0)

/* Blocks cached for class c: in its xa_tbin, or for a large class in its
 * xa_lbin. */
static unsigned cached_in(xa_tsd *t, unsigned c)
{
    return c < XA_NSMALL ? xa_tbin_count(t, c) : xa_large_bin(t, c)->n;
}

static void run_thread(void *(*fn)(void *), void *arg)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fn, arg), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
}

static void check_result(const result *r)
{
    if (r->failed)
        fail_msg("%s", r->msg);
}

/* Run body(&result) in a fresh thread (a fresh cache) and report its first
 * failed check. */
static void run_body(void *(*body)(void *))
{
    result res = {0};
    run_thread(body, &res);
    check_result(&res);
}

/* ---- bins fill to half and never exceed max --------------------------- */

static void *fill_flush_body(void *arg)
{
    result *res = arg;
    enum { SIZE = 64 };
    xa_tsd *t = xa_tsd_get();
    CHECK(res, t != NULL, "no thread state");
    CHECK(res, t->state == XA_TSD_ACTIVE, "state %u", t->state);
    CHECK(res, t->stacks != NULL, "no cache");
    for (unsigned c = 0; c < XA_NCLASSES; c++) {
        uint32_t max = t->room[c].cap;
        CHECK(res, cached_in(t, c) == 0, "class %u starts with %u", c, cached_in(t, c));
        if (xa_class_size[c] > xa_opt.tcache_max)
            CHECK(res, max == 0, "class %u above tcache_max is cached (%u)", c, max);
        else if (c < XA_NSMALL)
            CHECK(res, max >= 8 && max <= 200, "class %u max %u", c, max);
        else
            CHECK(res, max > 0, "large class %u not cached", c);
        if (c >= XA_NSMALL)   /* large frees go through the slow path's scan */
            CHECK(res, xa_tbin_max(t, c) == 0, "large class %u on the fast path", c);
    }
    unsigned c = xa_small_class(SIZE);
    xa_bin *bin = &xa_tsd_arena_for(t, c)->bins[c];
    size_t curregs0 = bin->curregs;
    uint64_t fills0 = t->nfills;

    /* The first malloc misses and fills a quarter of the bin. */
    void *first = xa_malloc(SIZE);
    CHECK(res, first != NULL, "malloc");
    CHECK(res, t->nfills == fills0 + 1, "nfills %llu", (unsigned long long)t->nfills);
    CHECK(res, xa_tbin_count(t, c) == t->room[c].cap / 4u - 1,
          "after fill n %u, max %u", xa_tbin_count(t, c), t->room[c].cap);
    CHECK(res, bin->curregs == curregs0 + t->room[c].cap / 4, "arena curregs %zu", bin->curregs);
    CHECK(res, xa_usable_size(first) == SIZE, "usable %zu", xa_usable_size(first));

    unsigned total = 3 * t->room[c].cap;
    void **p = malloc(total * sizeof *p);
    p[0] = first;
    for (unsigned i = 1; i < total; i++) {
        p[i] = xa_malloc(SIZE);
        CHECK(res, p[i] != NULL, "malloc %u", i);
        CHECK(res, xa_tbin_count(t, c) <= t->room[c].cap,
              "n %u > max %u", xa_tbin_count(t, c), t->room[c].cap);
        memset(p[i], (int)i, SIZE);
    }
    uint64_t flushes = t->nflushes;
    unsigned saw_flush = 0, floor = t->room[c].cap / 8 > 4 ? t->room[c].cap / 8 : 4;
    for (unsigned i = 0; i < total; i++) {
        uint64_t gc = t->last_gc_ms;
        unsigned max = xa_tbin_max(t, c);
        xa_free(p[i]);
        CHECK(res, xa_tbin_count(t, c) <= xa_tbin_max(t, c),
              "after free %u: n %u > max %u", i, xa_tbin_count(t, c), xa_tbin_max(t, c));
        if (t->nflushes != flushes) {
            /* The first overflow returns the older half: max/2 stay, plus
             * the new one. Later ones saw no allocation since the one
             * before: the bin only receives frees, so it flushes whole
             * and its limit halves, not below an eighth of its capacity.
             * (The periodic GC, when it ran, may have returned more.) */
            if (t->last_gc_ms == gc) {
                if (saw_flush == 0)
                    CHECK(res, xa_tbin_count(t, c) == max / 2 + 1 && xa_tbin_max(t, c) == max,
                          "first flush: n %u, max %u", xa_tbin_count(t, c), xa_tbin_max(t, c));
                else
                    CHECK(res, xa_tbin_count(t, c) == 1 &&
                                   xa_tbin_max(t, c) == (max / 2 >= floor ? max / 2 : max),
                          "free-only flush: n %u, max %u -> %u", xa_tbin_count(t, c), max,
                          xa_tbin_max(t, c));
            }
            flushes = t->nflushes;
            saw_flush++;
        }
    }
    CHECK(res, saw_flush >= 3, "freeing %u blocks flushed %u times", total, saw_flush);
    CHECK(res, xa_tbin_max(t, c) >= floor && xa_tbin_max(t, c) <= t->room[c].cap / 2,
          "max %u after the frees", xa_tbin_max(t, c));
    /* Allocating again (drain the cache, then miss once): each miss
     * doubles the limit back to the capacity. */
    unsigned shrunk = xa_tbin_max(t, c), k = xa_tbin_count(t, c) + 1;
    for (unsigned i = 0; i < k; i++)
        p[i] = xa_malloc(SIZE);
    CHECK(res, xa_tbin_max(t, c) == (shrunk * 2 < t->room[c].cap ? shrunk * 2 : t->room[c].cap),
          "max %u after a miss (was %u)", xa_tbin_max(t, c), shrunk);
    for (unsigned i = 0; i < k; i++)
        xa_free(p[i]);
    /* Cached blocks still count as handed out by the arena. */
    CHECK(res, bin->curregs == curregs0 + xa_tbin_count(t, c), "curregs %zu, base %zu, cached %u",
          bin->curregs, curregs0, xa_tbin_count(t, c));
    free(p);
    return NULL;
}

static void test_fill_flush_within_max(void **state)
{
    run_body(fill_flush_body);
}

/* ---- flush_all empties every bin ---------------------------------------- */

static const size_t flush_sizes[] = { 16, 100, 1000, 5000, 20000 };
#define NFLUSH (sizeof flush_sizes / sizeof flush_sizes[0])

static void *flush_all_body(void *arg)
{
    result *res = arg;
    xa_tsd *t = xa_tsd_get();
    CHECK(res, t != NULL && t->stacks != NULL, "no cache");
    xa_arena *a = t->arena;            /* the large blocks' arena */
    void *p[NFLUSH][10];
    for (unsigned k = 0; k < NFLUSH; k++) {
        for (unsigned i = 0; i < 10; i++)
            CHECK(res, (p[k][i] = xa_malloc(flush_sizes[k])) != NULL, "malloc %zu", flush_sizes[k]);
        for (unsigned i = 0; i < 10; i++)
            xa_free(p[k][i]);
    }
    size_t cached_small[NFLUSH] = {0}, curregs[NFLUSH] = {0};
    for (unsigned k = 0; k < NFLUSH; k++) {
        unsigned c = xa_size_class(flush_sizes[k]);
        CHECK(res, cached_in(t, c) > 0, "class %u empty before flush", c);
        if (c < XA_NSMALL) {
            cached_small[k] = xa_tbin_count(t, c);
            curregs[k] = xa_tsd_arena_for(t, c)->bins[c].curregs;
        }
    }
    unsigned cl = xa_size_class(20000);
    uint32_t nlarge = cached_in(t, cl);
    size_t large_allocated = a->large_allocated;
    uint64_t nlarge_free = a->nlarge_free;

    xa_tcache_flush_all(t);
    for (unsigned c = 0; c < XA_NCLASSES; c++)
        CHECK(res, cached_in(t, c) == 0, "class %u still holds %u", c, cached_in(t, c));
    for (unsigned k = 0; k < NFLUSH; k++) {
        unsigned c = xa_size_class(flush_sizes[k]);
        if (c >= XA_NSMALL)
            continue;
        xa_bin *bin = &xa_tsd_arena_for(t, c)->bins[c];
        CHECK(res, bin->curregs == curregs[k] - cached_small[k],
              "class %u curregs %zu, was %zu with %zu cached", c, bin->curregs,
              curregs[k], cached_small[k]);
    }
    CHECK(res, a->nlarge_free == nlarge_free + nlarge, "nlarge_free");
    CHECK(res, a->large_allocated == large_allocated - nlarge * xa_class_size[cl],
          "large_allocated %zu", a->large_allocated);
    /* The cache still works afterwards. */
    void *q = xa_malloc(100);
    CHECK(res, q != NULL, "malloc after flush");
    xa_free(q);
    return NULL;
}

static void test_flush_all(void **state)
{
    run_body(flush_all_body);
}

/* ---- the free mark (freemark.h) ----------------------------------------- */

enum { MARK_SIZE = 2560, MARK_N = 12 };

static void *free_mark_body(void *arg)
{
    result *res = arg;
    xa_tsd *t = xa_tsd_get();
    CHECK(res, t != NULL && t->stacks != NULL, "no cache");
    unsigned c = xa_small_class(MARK_SIZE);
    void *p[MARK_N];
    for (unsigned i = 0; i < MARK_N; i++) {
        CHECK(res, (p[i] = xa_malloc(MARK_SIZE)) != NULL, "malloc %u", i);
        CHECK(res, !xa_block_marked(p[i]), "block %u handed out with the mark", i);
        memset(p[i], 0x33, MARK_SIZE);
    }
    /* Cached blocks hold the mark, and only their first word changes. */
    for (unsigned i = 0; i < MARK_N; i++) {
        xa_free(p[i]);
        unsigned char *b = p[i];
        CHECK(res, xa_block_marked(b), "cached block %u lacks the mark", i);
        CHECK(res, b[8] == 0x33 && b[MARK_SIZE - 1] == 0x33, "free wrote past the mark");
    }
    /* Handed out again (LIFO), without it. */
    for (unsigned i = MARK_N; i-- > 0;) {
        void *q = xa_malloc(MARK_SIZE);
        CHECK(res, q == p[i], "block %u not reused first", i);
        CHECK(res, !xa_block_marked(q), "reused block %u still marked", i);
    }
    /* A live block whose data reads as the mark is freed like any other,
     * once: a false alarm costs a search, not a report. */
    uint32_t n0 = xa_tbin_count(t, c);
    xa_block_mark(p[0]);
    xa_free(p[0]);
    CHECK(res, xa_tbin_count(t, c) == n0 + 1, "marked live block not cached (%u -> %u)", n0,
          xa_tbin_count(t, c));
    void *again = xa_malloc(MARK_SIZE);
    CHECK(res, again == p[0], "the falsely marked block not reused");
    CHECK(res, !xa_block_marked(again), "reused block still marked");
    /* Blocks put back into their slab keep the mark there; a fill hands
     * them out cleared. */
    for (unsigned i = 0; i < MARK_N; i++)
        xa_free(p[i]);
    xa_tcache_flush_all(t);
    CHECK(res, xa_tbin_count(t, c) == 0, "flush left %u", xa_tbin_count(t, c));
    for (unsigned i = 0; i < MARK_N; i++)
        CHECK(res, xa_block_marked(p[i]), "block %u back in its slab lacks the mark", i);
    for (unsigned i = 0; i < MARK_N; i++) {
        CHECK(res, (p[i] = xa_malloc(MARK_SIZE)) != NULL, "malloc %u", i);
        CHECK(res, !xa_block_marked(p[i]), "refilled block %u still marked", i);
    }
    for (unsigned i = 0; i < MARK_N; i++)
        xa_free(p[i]);
    return NULL;
}

static void test_free_mark(void **state)
{
    run_body(free_mark_body);
}

/* ---- thread exit returns the cache -------------------------------------- */

enum { EXIT_SIZE = 96, EXIT_N = 50 };

typedef struct exit_ctx {
    result res;
    xa_arena *arena;
    size_t curregs_before, curregs_alive;
    void *p[EXIT_N];
} exit_ctx;

static void *exit_body(void *arg)
{
    exit_ctx *x = arg;
    xa_tsd *t = xa_tsd_get();
    CHECK(&x->res, t != NULL && t->stacks != NULL, "no cache");
    unsigned c = xa_small_class(EXIT_SIZE);
    x->arena = xa_tsd_arena_for(t, c);
    x->curregs_before = x->arena->bins[c].curregs;
    for (unsigned i = 0; i < EXIT_N; i++)
        CHECK(&x->res, (x->p[i] = xa_malloc(EXIT_SIZE)) != NULL, "malloc");
    for (unsigned i = 0; i < EXIT_N; i++)
        xa_free(x->p[i]);
    x->curregs_alive = x->arena->bins[c].curregs;
    CHECK(&x->res, xa_tbin_count(t, c) >= EXIT_N, "cached %u", xa_tbin_count(t, c));
    return NULL;                       /* exit: the key destructor flushes */
}

static void test_thread_exit_flushes(void **state)
{
    exit_ctx *x = calloc(1, sizeof *x);
    run_thread(exit_body, x);
    check_result(&x->res);
    unsigned c = xa_small_class(EXIT_SIZE);
    xa_bin *bin = &x->arena->bins[c];
    assert_true(x->curregs_alive > x->curregs_before);
    /* After join: every block the thread cached went back to its arena. */
    assert_int_equal(bin->curregs, x->curregs_before);
    void *lowest = x->p[0];
    for (unsigned i = 0; i < EXIT_N; i++) {
        assert_null(xa_lookup_fast(x->p[i]));          /* free in its slab */
        if (x->p[i] < lowest)
            lowest = x->p[i];
    }
    /* Another thread (this one) gets them back from the arena, lowest first. */
    void *again;
    assert_int_equal(xa_arena_fill(x->arena, c, &again, 1, 0), 1);
    assert_ptr_equal(again, lowest);
    xa_arena_small_free(x->arena, c, &again, 1);
    assert_int_equal(bin->curregs, x->curregs_before);
    free(x);
}

/* ---- low addresses first ----------------------------------------------- */

static void *low_first_body(void *arg)
{
    result *res = arg;
    enum { SIZE = 192 };
    xa_tsd *t = xa_tsd_get();
    CHECK(res, t != NULL && t->stacks != NULL, "no cache");
    unsigned c = xa_small_class(SIZE);
    char *p0 = xa_malloc(SIZE);
    CHECK(res, p0 != NULL, "malloc");
    unsigned n = xa_tbin_count(t, c);
    CHECK(res, n > 0, "nothing cached after a fill");
    /* The first block is the lowest of the batch... */
    for (unsigned i = 0; i < n; i++)
        CHECK(res, (char *)t->room[c].stack[i] > p0,
              "cached %p below first %p", t->room[c].stack[i], (void *)p0);
    /* ...and the rest come out in ascending order. */
    char **p = malloc((n + 1) * sizeof *p);
    p[0] = p0;
    for (unsigned i = 1; i <= n; i++) {
        p[i] = xa_malloc(SIZE);
        CHECK(res, p[i] > p[i - 1],
              "block %u at %p not above %p", i, (void *)p[i], (void *)p[i - 1]);
    }
    CHECK(res, xa_tbin_count(t, c) == 0, "batch not used up");
    for (unsigned i = 0; i <= n; i++)
        xa_free(p[i]);
    /* Everything back in the arena: the next fill starts at the bottom again. */
    xa_tcache_flush_all(t);
    char *q = xa_malloc(SIZE);
    CHECK(res, q == p0, "after flush got %p, lowest was %p", (void *)q, (void *)p0);
    xa_free(q);
    free(p);
    return NULL;
}

static void test_low_addresses_first(void **state)
{
    run_body(low_first_body);
}

/* ---- large classes are cached too -------------------------------------- */

static void *large_body(void *arg)
{
    result *res = arg;
    enum { SIZE = 24576 };
    xa_tsd *t = xa_tsd_get();
    CHECK(res, t != NULL && t->stacks != NULL, "no cache");
    unsigned c = xa_size_class(SIZE);
    xa_tbin *b = &t->bins[c];
    xa_lbin *l = xa_large_bin(t, c);
    CHECK(res, t->room[c].cap > 0, "class %u not cached", c);
    void *p[16];
    for (unsigned i = 0; i < 16; i++) {
        CHECK(res, (p[i] = xa_malloc(SIZE)) != NULL, "malloc");
        CHECK(res, ((uintptr_t)p[i] & XA_PAGE_MASK) == 0, "not page aligned");
        CHECK(res, xa_usable_size(p[i]) == SIZE, "usable %zu", xa_usable_size(p[i]));
    }
    for (unsigned i = 0; i < 16; i++) {
        xa_free(p[i]);
        CHECK(res, l->n <= t->room[c].cap, "n %u > max %u", l->n, t->room[c].cap);
    }
    CHECK(res, l->n > 0, "nothing cached");
    /* The class's xa_tbin, which the free fast path reads, stays empty:
     * nothing a reclaimer of this thread's large bins writes. */
    CHECK(res, xa_tbin_count(t, c) == 0 && b->top == NULL && xa_tbin_max(t, c) == 0,
          "xa_tbin n %u max %u", xa_tbin_count(t, c), xa_tbin_max(t, c));
    /* A cached large block is reused as is. */
    void *top = l->stack[l->n - 1];
    CHECK(res, xa_malloc(SIZE) == top, "cache not used");
    xa_free(top);
    return NULL;
}

static void test_large_cached(void **state)
{
    run_body(large_body);
}

/* ---- large classes share a byte budget --------------------------------- */

/* Cached bytes of the large-class bins, counted from the bins themselves. */
static size_t large_bytes(const xa_tsd *t)
{
    size_t sum = 0;
    for (unsigned c = XA_NSMALL; c < XA_NCLASSES; c++)
        sum += (size_t)xa_large_bin((xa_tsd *)t, c)->n * xa_class_size[c];
    return sum;
}

static void *budget_body(void *arg)
{
    result *res = arg;
    xa_tsd *t = xa_tsd_get();
    CHECK(res, t != NULL && t->stacks != NULL, "no cache");
    /* Four blocks of every cached large class: about 10 MiB with the
     * default tcache_max, more than the budget. */
    enum { MAXN = 256 };
    void *p[MAXN];
    unsigned n = 0;
    for (unsigned c = XA_NSMALL; c < XA_NCLASSES && t->room[c].cap && n + 4 <= MAXN; c++)
        for (unsigned k = 0; k < 4; k++) {
            CHECK(res, (p[n] = xa_malloc(xa_class_size[c])) != NULL, "malloc");
            memset(p[n++], 0x6b, 64);
        }
    CHECK(res, n >= 40, "only %u large blocks cacheable", n);
    size_t budget = xa_tcache_large_budget();
    CHECK(res, budget == XA_TCACHE_LARGE_BYTES, "budget %zu with two threads", budget);
    for (unsigned i = 0; i < n; i++) {
        xa_free(p[i]);
        CHECK(res, t->large_cached <= budget, "%zu bytes cached after %u frees",
              t->large_cached, i + 1);
        CHECK(res, t->large_cached == large_bytes(t), "counter %zu, bins hold %zu",
              t->large_cached, large_bytes(t));
    }
    /* The budget is used, not refused: it holds more than half of it, and
     * the biggest class freed last is among what is kept. */
    CHECK(res, t->large_cached > budget / 2, "only %zu bytes cached", t->large_cached);
    unsigned last = xa_size_class(xa_usable_size(p[n - 1]));
    CHECK(res, cached_in(t, last) > 0, "the last freed class %u is not cached", last);
    /* Blocks popped and flushed keep the counter true. */
    for (unsigned i = 0; i < 8; i++)
        p[i] = xa_malloc(xa_class_size[last]);
    CHECK(res, t->large_cached == large_bytes(t), "after mallocs: %zu vs %zu", t->large_cached,
          large_bytes(t));
    for (unsigned i = 0; i < 8; i++)
        xa_free(p[i]);
    xa_tcache_flush_all(t);
    CHECK(res, t->large_cached == 0 && large_bytes(t) == 0, "after flush: %zu", t->large_cached);
    return NULL;
}

static void test_large_budget(void **state)
{
    run_body(budget_body);
}

/* The shared budget shrinks each thread's share as threads come, and grows
 * it back as they go. */
enum { MANY = 80 };   /* past 64: under 8 MiB each */
static pthread_barrier_t many_in, many_out;

static void *many_body(void *arg)
{
    xa_free(xa_malloc(64));                      /* sets up this thread's cache */
    pthread_barrier_wait(&many_in);
    pthread_barrier_wait(&many_out);
    return NULL;
}

static void test_large_budget_shared(void **state)
{
    xa_free(xa_malloc(64));                      /* the main thread has a cache too */
    size_t alone = xa_tcache_large_budget();
    pthread_t th[MANY];
    assert_int_equal(pthread_barrier_init(&many_in, NULL, MANY + 1), 0);
    assert_int_equal(pthread_barrier_init(&many_out, NULL, MANY + 1), 0);
    for (unsigned i = 0; i < MANY; i++)
        assert_int_equal(pthread_create(&th[i], NULL, many_body, NULL), 0);
    pthread_barrier_wait(&many_in);
    size_t crowded = xa_tcache_large_budget();
    pthread_barrier_wait(&many_out);
    for (unsigned i = 0; i < MANY; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    /* At least the MANY threads and this one: each gets at most its share. */
    assert_true(crowded <= XA_TCACHE_LARGE_TOTAL / (MANY + 1));
    assert_true(crowded >= XA_TCACHE_LARGE_MIN);
    assert_true(crowded < alone);
    assert_int_equal(xa_tcache_large_budget(), alone);   /* the exits gave it back */
    pthread_barrier_destroy(&many_in);
    pthread_barrier_destroy(&many_out);
}

/* ---- blocks go back to the arena that owns them ----------------------- */

enum { CROSS_SIZE = 320, CROSS_N = 20 };

typedef struct cross_ctx {
    result res;
    xa_arena *owner, *freer;
    size_t owner_curregs, freer_curregs;
    void *p[CROSS_N];
} cross_ctx;

static void *cross_alloc_body(void *arg)
{
    cross_ctx *x = arg;
    xa_tsd *t = xa_tsd_get();
    CHECK(&x->res, t != NULL && t->stacks != NULL, "no cache");
    x->owner = t->arena;
    x->owner_curregs = t->arena->bins[xa_small_class(CROSS_SIZE)].curregs;
    for (unsigned i = 0; i < CROSS_N; i++)
        CHECK(&x->res, (x->p[i] = xa_malloc(CROSS_SIZE)) != NULL, "malloc");
    return NULL;                       /* exits with the blocks still live */
}

static void *cross_free_body(void *arg)
{
    cross_ctx *x = arg;
    unsigned c = xa_small_class(CROSS_SIZE);
    xa_tsd *t = xa_tsd_get();
    CHECK(&x->res, t != NULL && t->stacks != NULL, "no cache");
    x->freer = t->arena;
    /* Own blocks of the same class, so one flush batch spans two arenas. */
    void *own[CROSS_N];
    for (unsigned i = 0; i < CROSS_N; i++)
        CHECK(&x->res, (own[i] = xa_malloc(CROSS_SIZE)) != NULL, "malloc");
    for (unsigned i = 0; i < CROSS_N; i++) {
        xa_free(x->p[i]);
        xa_free(own[i]);
    }
    xa_tcache_flush_all(t);
    x->freer_curregs = t->arena->bins[c].curregs;
    return NULL;
}

static void test_flush_to_owning_arena(void **state)
{
    cross_ctx *x = calloc(1, sizeof *x);
    unsigned c = xa_small_class(CROSS_SIZE);
    run_thread(cross_alloc_body, x);
    check_result(&x->res);
    /* The owner's exit flushed only what it cached; the 20 are still out. */
    assert_int_equal(x->owner->bins[c].curregs, x->owner_curregs + CROSS_N);
    run_thread(cross_free_body, x);
    check_result(&x->res);
    if (x->freer != x->owner) {
        assert_int_equal(x->freer_curregs, 0);    /* only this test uses the class */
        /* A full flush (thread exit, tcache.flush, trim) of a thread of
         * another arena puts the blocks back into the owner's slabs when
         * its bin lock is free, as here: not onto its remote list, where
         * they would wait for the owner's next fill. */
        assert_null(x->owner->bins[c].remote);
    }
    assert_int_equal(x->owner->bins[c].curregs, x->owner_curregs);
    for (unsigned i = 0; i < CROSS_N; i++)
        assert_null(xa_lookup_fast(x->p[i]));
    free(x);
}

/* A block of another arena: a thread that allocates its class (of a cache
 * line or more) keeps it in its bin, as jemalloc does with every block;
 * one that does not (a pipeline's consumer) queues it to go home, and so
 * does every thread for classes under a cache line (passive false
 * sharing). */
enum { KEEP_SIZE = 896, SUBLINE_SIZE = 40 };

typedef struct keep_ctx {
    result res;
    xa_arena *owner;
    bool same_arena;
    void *big[2], *small;
} keep_ctx;

static void *keep_body(void *arg)
{
    keep_ctx *x = arg;
    xa_tsd *t = xa_tsd_get();
    CHECK(&x->res, t != NULL && t->stacks != NULL, "no cache");
    x->same_arena = t->arena == x->owner;
    if (x->same_arena)
        return NULL;
    unsigned c = xa_small_class(KEEP_SIZE), s = xa_small_class(SUBLINE_SIZE);
    xa_tbin *b = &t->bins[c];
    CHECK(&x->res, xa_tbin_nmalloc(b) == 0 && xa_tbin_count(t, c) == 0 && t->nforeign == 0, "fresh cache");
    xa_free(x->big[0]);                          /* class never allocated here */
    CHECK(&x->res, t->nforeign == 1 && xa_tbin_count(t, c) == 0,
          "queued: %u, in the bin: %u", t->nforeign, xa_tbin_count(t, c));
    xa_free(xa_malloc(KEEP_SIZE));
    unsigned n = xa_tbin_count(t, c);
    xa_free(x->big[1]);                          /* allocated here now: kept */
    CHECK(&x->res, t->nforeign == 1 && xa_tbin_count(t, c) == n + 1 && b->top == x->big[1],
          "queued: %u, in the bin: %u", t->nforeign, xa_tbin_count(t, c));
    xa_free(xa_malloc(SUBLINE_SIZE));
    n = xa_tbin_count(t, s);
    xa_free(x->small);                           /* under a cache line: queued */
    CHECK(&x->res, t->nforeign == 2 && xa_tbin_count(t, s) == n, "queued: %u", t->nforeign);
    void *again = xa_malloc(KEEP_SIZE);           /* the kept block is reused */
    CHECK(&x->res, again == x->big[1], "reused %p, kept %p", again, x->big[1]);
    xa_free(again);
    xa_tcache_flush_all(t);                      /* home, into the owner's slabs */
    return NULL;
}

static void test_foreign_kept_by_allocating_threads(void **state)
{
    keep_ctx *x = calloc(1, sizeof *x);
    xa_tsd *t = xa_tsd_get();
    x->owner = t->arena;
    x->big[0] = xa_malloc(KEEP_SIZE);
    x->big[1] = xa_malloc(KEEP_SIZE);
    x->small = xa_malloc(SUBLINE_SIZE);
    for (int tries = 0; tries < 8; tries++) {    /* until a thread lands on another arena */
        run_thread(keep_body, x);
        check_result(&x->res);
        if (!x->same_arena)
            break;
    }
    if (x->same_arena) {
        xa_free(x->big[0]);
        xa_free(x->big[1]);
        xa_free(x->small);
        free(x);
        skip();                                  /* one arena: nothing is foreign */
    }
    unsigned c = xa_small_class(KEEP_SIZE);
    assert_null(x->owner->bins[c].remote);
    for (int i = 0; i < 2; i++)
        assert_null(xa_lookup_fast(x->big[i]));  /* all freed, none twice */
    assert_null(xa_lookup_fast(x->small));
    free(x);
}

/* A shared arena (classes of a cache line and up): a block another thread
 * of the same arena allocated is this thread's own, cached and reused
 * even in a class this thread never allocated; a sub-line block of that
 * thread comes from another arena and is queued to go home. */
enum { SHARED_SIZE = 1280, SHARED_SUBLINE_SIZE = 24 };

typedef struct shared_ctx {
    result res;
    xa_arena *shared, *subline;
    bool owner_found, matched;
    void *big, *small;
} shared_ctx;

static void *shared_alloc_body(void *arg)
{
    shared_ctx *x = arg;
    xa_tsd *t = xa_tsd_get();
    CHECK(&x->res, t != NULL && t->stacks != NULL, "no cache");
    x->shared = t->arena;
    x->subline = t->subline_arena;
    x->owner_found = x->subline == x->shared;   /* k % 4 < 2: see below */
    if (!x->owner_found)
        return NULL;
    CHECK(&x->res, (x->big = xa_malloc(SHARED_SIZE)) != NULL, "malloc");
    CHECK(&x->res, (x->small = xa_malloc(SHARED_SUBLINE_SIZE)) != NULL, "malloc");
    CHECK(&x->res, xa_chunk_arena(xa_chunk_of(x->big)) == x->shared, "big from the shared arena");
    CHECK(&x->res, xa_chunk_arena(xa_chunk_of(x->small)) == x->subline, "small from the sub-line arena");
    return NULL;                       /* exits with both blocks live */
}

static void *shared_free_body(void *arg)
{
    shared_ctx *x = arg;
    xa_tsd *t = xa_tsd_get();
    CHECK(&x->res, t != NULL && t->stacks != NULL, "no cache");
    /* Its own sub-line arena is not the shared one either: the owner test
     * must read the class's arena, not the thread's first. */
    x->matched = t->arena == x->shared && t->subline_arena != x->subline &&
                 t->subline_arena != t->arena;
    if (!x->matched)
        return NULL;
    unsigned c = xa_small_class(SHARED_SIZE);
    CHECK(&x->res, xa_tbin_nmalloc(&t->bins[c]) == 0 && xa_tbin_count(t, c) == 0 && t->nforeign == 0,
          "fresh cache");
    xa_free(x->big);
    CHECK(&x->res, xa_tbin_count(t, c) == 1 && t->bins[c].top == x->big && t->nforeign == 0,
          "in the bin: %u, queued: %u", xa_tbin_count(t, c), t->nforeign);
    void *again = xa_malloc(SHARED_SIZE);
    CHECK(&x->res, again == x->big, "reused %p, cached %p", again, x->big);
    /* The count shares its word with the class's arena index. */
    CHECK(&x->res, xa_tbin_nmalloc(&t->bins[c]) == 1 && xa_tbin_home(&t->bins[c]) == t->arena->index &&
                       xa_tbin_home(&t->bins[0]) == t->subline_arena->index,
          "served %llu, home %u", (unsigned long long)xa_tbin_nmalloc(&t->bins[c]),
          xa_tbin_home(&t->bins[c]));
    xa_free(again);
    xa_free(x->small);
    CHECK(&x->res, t->nforeign == 1 && t->foreign[0] == x->small, "queued: %u", t->nforeign);
    xa_tcache_flush_all(t);
    return NULL;
}

static void test_shared_arena_blocks_are_own(void **state)
{
    if (xa_narenas != 4 || xa_nshared != 2) {
        fprintf(stderr, "XALLOC_CONF replaced this suite's narenas:4,shared_arenas:2\n");
        skip();                                  /* the binding arithmetic below needs them */
    }
    shared_ctx *x = calloc(1, sizeof *x);
    /* Threads bind in turn (k) to shared arena k % 2 and sub-line arena
     * k % 4. The owner has one arena for both (k % 4 < 2), the freer the
     * owner's shared arena and a sub-line arena of its own (k % 4 >= 2):
     * found within four threads each. */
    for (int tries = 0; tries < 4 && !x->owner_found; tries++) {
        run_thread(shared_alloc_body, x);
        check_result(&x->res);
    }
    assert_true(x->owner_found);
    for (int tries = 0; tries < 8 && !x->matched; tries++) {
        run_thread(shared_free_body, x);
        check_result(&x->res);
    }
    assert_true(x->matched);
    assert_null(xa_lookup_fast(x->big));          /* both freed, once */
    assert_null(xa_lookup_fast(x->small));
    free(x);
}

/* ---- the incremental GC flushes only what sat unused --------------------- */

/* Make the next slow path run a GC pass that starts at bin c: the clock is
 * read on that call (the tick counter wraps to 0) and the interval passed. */
static void gc_due_at(xa_tsd *t, unsigned c)
{
    t->gc_next = c;
    t->gc_ticks = (unsigned)-1;
    t->last_gc_ms = xa_now_ms() - 1000;
}

static void *gc_body(void *arg)
{
    result *res = arg;
    enum { SIZE = 448 };
    xa_tsd *t = xa_tsd_get();
    CHECK(res, t != NULL && t->stacks != NULL, "no cache");
    unsigned c = xa_small_class(SIZE);
    xa_tbin *b = &t->bins[c];
    void *first = xa_malloc(SIZE);               /* fill */
    CHECK(res, first != NULL, "malloc");
    xa_free(first);
    unsigned n = xa_tbin_count(t, c);
    CHECK(res, n >= 8, "cached %u", n);

    /* GC pass 1 over bin c: nothing was idle (a fill just happened). */
    gc_due_at(t, c);
    void *trigger = xa_malloc(6000);             /* empty bin: slow path, runs the GC */
    CHECK(res, trigger != NULL, "malloc");
    CHECK(res, t->gc_next != c, "GC pass 1 did not run");
    CHECK(res, xa_tbin_count(t, c) == n, "pass 1 flushed: n %u, was %u", xa_tbin_count(t, c), n);

    /* The thread uses every cached block, then frees them again. */
    void **p = malloc(n * sizeof *p);
    for (unsigned i = 0; i < n; i++)
        p[i] = xa_malloc(SIZE);
    CHECK(res, xa_tbin_count(t, c) == 0, "n %u", xa_tbin_count(t, c));
    for (unsigned i = 0; i < n; i++)
        xa_free(p[i]);
    CHECK(res, xa_tbin_count(t, c) == n, "n %u", xa_tbin_count(t, c));

    /* GC pass 2: since pass 1 the bin went down to 0, so no block sat idle
     * and none should be flushed. */
    unsigned low_water = (unsigned)(b->low - t->room[c].stack);
    gc_due_at(t, c);
    void *trigger2 = xa_malloc(7000);            /* another empty bin: slow path, GC */
    CHECK(res, t->gc_next != c, "GC pass 2 did not run");
    CHECK(res, xa_tbin_count(t, c) == n,
          "GC flushed %u of %u blocks that were all in use since the last "
          "pass (low-water mark was %u)", n - xa_tbin_count(t, c), n, low_water);
    CHECK(res, low_water == 0, "low-water mark %u after the bin went empty", low_water);
    xa_free(trigger);
    xa_free(trigger2);
    free(p);
    return NULL;
}

/* Blocks that sat unused through a whole GC interval go back, three
 * quarters of them per pass. */
static void *gc_idle_body(void *arg)
{
    result *res = arg;
    enum { SIZE = 640 };
    xa_tsd *t = xa_tsd_get();
    CHECK(res, t != NULL && t->stacks != NULL, "no cache");
    unsigned c = xa_small_class(SIZE);
    xa_free(xa_malloc(SIZE));                    /* fill, then one back */
    unsigned n = xa_tbin_count(t, c);
    CHECK(res, n >= 8, "cached %u", n);
    gc_due_at(t, c);                             /* pass 1: marks the low water */
    void *t1 = xa_malloc(5000);
    CHECK(res, t->gc_next != c && xa_tbin_count(t, c) == n,
          "pass 1: gc_next %u, n %u of %u", t->gc_next, xa_tbin_count(t, c), n);
    gc_due_at(t, c);                             /* pass 2: all n sat idle since */
    void *t2 = xa_malloc(9000);
    CHECK(res, t->gc_next != c, "GC pass 2 did not run");
    CHECK(res, xa_tbin_count(t, c) == n / 4,
          "after an idle interval: %u of %u blocks kept, expected %u", xa_tbin_count(t, c), n,
          n / 4);
    xa_free(t1);
    xa_free(t2);
    return NULL;
}

static void test_gc_returns_idle_blocks(void **state)
{
    run_body(gc_idle_body);
}

/* A bin used part of the way down: the low-water mark follows the deepest
 * point (malloc's slow path lowers it a block at a time), so the GC returns
 * three quarters of what stayed below it and nothing the thread used. The
 * blocks handed out are the cached ones, newest first. */
static void *gc_partial_body(void *arg)
{
    result *res = arg;
    enum { SIZE = 320, DEEP = 5, SHALLOW = 2 };
    xa_tsd *t = xa_tsd_get();
    CHECK(res, t != NULL && t->stacks != NULL, "no cache");
    unsigned c = xa_small_class(SIZE);
    xa_free(xa_malloc(SIZE));                    /* fill, then one back */
    unsigned n = xa_tbin_count(t, c);
    CHECK(res, n > 2 * DEEP, "cached %u", n);
    gc_due_at(t, c);                             /* pass 1: marks the low water at n */
    void *t1 = xa_malloc(5000);
    CHECK(res, t->gc_next != c && xa_tbin_count(t, c) == n,
          "pass 1: gc_next %u, n %u of %u", t->gc_next, xa_tbin_count(t, c), n);
    void *p[DEEP];
    for (unsigned round = 0; round < 3; round++) {
        unsigned depth = round == 1 ? DEEP : SHALLOW;
        for (unsigned i = 0; i < depth; i++) {
            void *want = t->room[c].stack[xa_tbin_count(t, c) - 1];
            p[i] = xa_malloc(SIZE);
            CHECK(res, p[i] == want, "round %u: block %u is %p, the top was %p", round, i, p[i],
                  want);
            memset(p[i], (int)i, SIZE);
        }
        CHECK(res, xa_tbin_count(t, c) == n - depth, "round %u: n %u", round,
              xa_tbin_count(t, c));
        for (unsigned i = depth; i-- > 0;)
            xa_free(p[i]);
        CHECK(res, xa_tbin_count(t, c) == n, "round %u: n %u after the frees", round,
              xa_tbin_count(t, c));
    }
    gc_due_at(t, c);                             /* pass 2: n - DEEP sat idle */
    void *t2 = xa_malloc(9000);
    CHECK(res, t->gc_next != c, "GC pass 2 did not run");
    unsigned idle = n - DEEP;
    CHECK(res, xa_tbin_count(t, c) == n - (idle - idle / 4),
          "%u of %u blocks kept after %u sat idle, expected %u", xa_tbin_count(t, c), n, idle,
          n - (idle - idle / 4));
    xa_free(t1);
    xa_free(t2);
    return NULL;
}

static void test_gc_follows_deepest_use(void **state)
{
    run_body(gc_partial_body);
}

static void test_gc_keeps_used_blocks(void **state)
{
    run_body(gc_body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_flush_within_max),
        cmocka_unit_test(test_flush_all),
        cmocka_unit_test(test_free_mark),
        cmocka_unit_test(test_thread_exit_flushes),
        cmocka_unit_test(test_low_addresses_first),
        cmocka_unit_test(test_large_cached),
        cmocka_unit_test(test_large_budget),
        cmocka_unit_test(test_large_budget_shared),
        cmocka_unit_test(test_flush_to_owning_arena),
        cmocka_unit_test(test_foreign_kept_by_allocating_threads),
        cmocka_unit_test(test_shared_arena_blocks_are_own),
        cmocka_unit_test(test_gc_keeps_used_blocks),
        cmocka_unit_test(test_gc_returns_idle_blocks),
        cmocka_unit_test(test_gc_follows_deepest_use),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
