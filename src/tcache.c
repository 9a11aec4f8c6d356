#include <pthread.h>
#include <string.h>
#include "tcache.h"
#include "conf.h"
#include "purge.h"
#include "reclaim.h"
#include "report.h"

__thread xa_tsd xa_tls __attribute__((tls_model("initial-exec")));

static pthread_key_t tsd_key;
static unsigned next_arena;
static unsigned ncaching;             /* atomic: threads with a cache */
size_t xa_tcache_large_budget_bytes = XA_TCACHE_LARGE_BYTES;   /* atomic: follows ncaching */

/* A thread got (+1) or gave up (-1) its cache: share the budget anew, here
 * rather than on every free (a division). */
static void caching_threads(int delta) {
    unsigned n = __atomic_add_fetch(&ncaching, (unsigned)delta, __ATOMIC_RELAXED);
    size_t b = XA_TCACHE_LARGE_TOTAL / (n ? n : 1);
    b = b > XA_TCACHE_LARGE_BYTES ? XA_TCACHE_LARGE_BYTES : b < XA_TCACHE_LARGE_MIN ? XA_TCACHE_LARGE_MIN : b;
    __atomic_store_n(&xa_tcache_large_budget_bytes, b, __ATOMIC_RELAXED);
}

/* Blocks cached per class: about 64 KiB worth, 8 to 200 blocks. Large
 * classes keep a handful: each one is at least 16 KiB. With 32 KiB the
 * classes of 1-2 KiB held 16-25 blocks and filled 4-6 at a time: in
 * bench_scaling (1024 blocks of 8 B - 2 KiB per thread) they took 27k
 * fills and flushes per run, and two threads sharing an arena lost 12-18 %
 * of their throughput to its bin locks (64 KiB: none). */
static uint32_t bin_capacity(unsigned c) {
    if (c >= XA_NSMALL)
        return 4;
    uint32_t n = 65536 / xa_class_size[c];
    return n < 8 ? 8 : n > 200 ? 200 : n;
}

static void tsd_destroy(void *arg) {
    xa_tsd *t = arg;
    if (t->state != XA_TSD_ACTIVE)
        return;
    if (t->stacks)
        xa_reclaim_unregister(t);     /* after any reclaim of it under way */
    xa_tcache_flush_all(t);
    if (t->stacks)
        caching_threads(-1);
    void **stacks = t->stacks;
    memset(t->bins, 0, sizeof t->bins);
    memset(t->room, 0, sizeof t->room);
    memset(t->large, 0, sizeof t->large);
    memset(t->narena, 0, sizeof t->narena);
    t->stacks = NULL;
    t->state = XA_TSD_DEAD;          /* later calls in this thread skip the cache */
    if (stacks) {
        xa_chunk *ch = xa_chunk_of(stacks);
        xa_run *r = xa_chunk_map_get(ch, xa_page_of(stacks));
        xa_arena_large_free(xa_chunk_arena(ch), r);
    }
}

bool xa_tsd_boot(void) {
    return pthread_key_create(&tsd_key, tsd_destroy) == 0;
}

static size_t round_large(size_t bytes) {
    return bytes < XA_LARGE_MIN ? XA_LARGE_MIN : bytes;
}

/* The next arenas round robin: k % xa_narenas for the classes under a
 * cache line and k % xa_nshared (arenas 0 .. xa_nshared - 1, the first
 * of the same arenas) for the others; each small bin keeps the index of
 * its class's arena for free's fast path. Sub-line blocks stay with the
 * threads of their arena: reused by another thread they would put its
 * blocks on cache lines the first one's blocks share (passive false
 * sharing); larger blocks share a cache line with nobody else's. */
static void bind_arena(xa_tsd *t) {
    unsigned k = __atomic_fetch_add(&next_arena, 1, __ATOMIC_RELAXED);
    t->subline_arena = xa_arena_get(k % xa_narenas);
    t->arena = t->subline_arena ? xa_arena_get(k % xa_nshared) : NULL;
    if (t->arena == NULL)
        return;
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        xa_tbin *b = &t->bins[c];
        b->served = (b->served & ~(XA_TBIN_SERVED_ONE - 1)) | xa_tsd_arena_for(t, c)->index;
    }
}

XA_NOINLINE static void tsd_init(xa_tsd *t) {
    t->state = XA_TSD_INITIALIZING;
    bind_arena(t);
    if (t->arena == NULL) {
        t->state = XA_TSD_UNINIT;
        return;
    }
    if (!xa_opt.tcache || xa_opt.junk) {
        t->state = XA_TSD_ACTIVE;     /* arena bound, every bin max 0 */
        return;
    }
    unsigned ncached = 0;
    size_t total = 0;
    while (ncached < XA_NCLASSES && xa_class_size[ncached] <= xa_opt.tcache_max)
        total += bin_capacity(ncached++) + 1;   /* + the NULL below the stack */
    bool zeroed;
    size_t bytes = round_large(total * sizeof(void *));
    void **stacks = xa_arena_large_alloc(t->arena, xa_size_class(bytes), XA_PAGE, &zeroed);
    if (stacks == NULL) {
        t->state = XA_TSD_ACTIVE;     /* works, uncached */
        return;
    }
    t->stacks = stacks;
    for (unsigned c = 0, off = 0; c < ncached; c++) {
        stacks[off] = NULL;
        xa_tbin_room *room = &t->room[c];
        xa_tbin *b = &t->bins[c];
        room->cap = bin_capacity(c);
        room->stack = stacks + off + 1;
        b->top = NULL;
        b->sp = b->low = room->stack;
        if (c < XA_NSMALL) {
            b->limit = room->stack + room->cap;
        } else {                      /* the xa_tbin stays empty (xa_lbin) */
            b->limit = room->stack;
            xa_large_bin(t, c)->stack = room->stack;
            xa_large_bin(t, c)->n = 0;
        }
        off += room->cap + 1u;
    }
    t->last_gc_ms = xa_now_ms();
    caching_threads(+1);
    xa_reclaim_register(t);
    pthread_setspecific(tsd_key, t);  /* arms the exit flush */
    t->state = XA_TSD_ACTIVE;
}

xa_tsd *xa_tsd_get_slow(void) {
    xa_tsd *t = &xa_tls;
    if (unlikely(t->state == XA_TSD_UNINIT))
        tsd_init(t);
    if (unlikely(t->arena == NULL)) {
        /* Still setting up (recursion) or exiting without an arena. */
        if (t->state == XA_TSD_UNINIT)
            return NULL;
        bind_arena(t);
        if (t->arena == NULL)
            return NULL;
    }
    return t;
}

/* Blocks cached for class c, whichever kind of bin holds them. Large
 * classes: inside the hand-off. */
static uint32_t bin_count(xa_tsd *t, unsigned c) {
    return c < XA_NSMALL ? xa_tbin_count(t, c) : xa_large_bin(t, c)->n;
}

/* Blocks of class c left unused since the last GC pass: its low-water
 * mark. */
static uint32_t bin_idle(xa_tsd *t, unsigned c) {
    if (c < XA_NSMALL)
        return (uint32_t)(t->bins[c].low - t->room[c].stack);
    xa_lbin *l = xa_large_bin(t, c);
    return l->low < l->n ? l->low : l->n;
}

/* A new low-water mark for class c: the count now. */
static void bin_mark_low(xa_tsd *t, unsigned c) {
    if (c < XA_NSMALL)
        t->bins[c].low = t->bins[c].sp;
    else
        xa_large_bin(t, c)->low = xa_large_bin(t, c)->n;
}

/* stack[0 .. nflush) of class c's bin went back to the arenas: the rest
 * slides down, and the counts follow. */
static void bin_drop_bottom(xa_tsd *t, unsigned c, unsigned nflush) {
    t->narena[c] -= nflush;
    if (c >= XA_NSMALL) {
        xa_lbin *l = xa_large_bin(t, c);
        memmove(l->stack, l->stack + nflush, (l->n - nflush) * sizeof(void *));
        l->n -= nflush;
        if (l->n < l->low)
            l->low = l->n;
        return;
    }
    xa_tbin *b = &t->bins[c];
    void **stack = t->room[c].stack;
    memmove(stack, stack + nflush, (size_t)(b->sp - stack - nflush) * sizeof(void *));
    b->sp -= nflush;
    xa_tbin_sync_top(b);
    if (b->sp < b->low)
        b->low = b->sp;
}

/* Return stack[0 .. nflush) of large class c's bin to the owning arenas;
 * the rest slides down. Touches only what the large-bin hand-off covers
 * (tcache.h): the reclaimer calls it on other threads' bins. */
static void large_bin_flush(xa_tsd *t, unsigned c, unsigned nflush, bool idle) {
    xa_lbin *l = xa_large_bin(t, c);
    void **items = l->stack;
    xa_large_cached_set(t, t->large_cached - (size_t)nflush * xa_class_size[c]);
    for (uint32_t i = 0; i < nflush; i++) {
        xa_chunk *ch = xa_chunk_of(items[i]);
        xa_run *r = xa_chunk_map_get(ch, xa_page_of(items[i]));
        if (unlikely(r->kind != XA_RUN_LARGE || r->addr != items[i]))
            xa_report_pointer("double free", items[i]);
        else if (idle)
            xa_arena_large_free_idle(xa_chunk_arena(ch), r);
        else
            xa_arena_large_free(xa_chunk_arena(ch), r);
    }
    bin_drop_bottom(t, c, nflush);
}

/* Return stack[0 .. nflush) of bin c to the owning arenas, one bin lock per
 * arena per batch; the rest slides down. Blocks of other arenas (kept by
 * xa_tcache_keeps_foreign) go onto their bins' remote lists, or, in a full
 * flush (into_slabs: thread exit, trim), into their slabs when the bin's
 * lock is free, as foreign_flush does. Large bins: inside the hand-off. */
static void tbin_flush(xa_tsd *t, unsigned c, unsigned nflush, bool into_slabs) {
    t->nflushes++;
    if (c >= XA_NSMALL) {
        large_bin_flush(t, c, nflush, false);
        return;
    }
    void **items = t->room[c].stack;
    uint32_t done = 0;
    while (done < nflush) {
        xa_arena *a = xa_chunk_arena(xa_chunk_of(items[done]));
        uint32_t j = done;
        for (uint32_t i = done; i < nflush; i++)
            if (xa_chunk_arena(xa_chunk_of(items[i])) == a) {
                void *tmp = items[i];
                items[i] = items[j];
                items[j++] = tmp;
            }
        if (a == xa_tsd_arena_for(t, c) || into_slabs)
            xa_arena_small_free(a, c, items + done, j - done);
        else
            xa_arena_small_free_remote(a, c, items + done, j - done);
        done = j;
    }
    bin_drop_bottom(t, c, nflush);
}

size_t xa_tcache_flush_large(xa_tsd *t) {
    size_t bytes = 0;
    for (unsigned c = XA_NSMALL; c < XA_NCLASSES && t->room[c].cap; c++) {
        unsigned n = xa_large_bin(t, c)->n;
        if (n) {
            bytes += (size_t)n * xa_class_size[c];
            large_bin_flush(t, c, n, true);
        }
    }
    return bytes;
}

/* Incremental GC, one bin per pass: blocks a bin kept unused since the
 * last pass (its low-water mark) are mostly given back, so a thread whose
 * needs shrank does not hoard memory. The clock is read on every 16th slow
 * path only: large classes take the slow path on every call, and reading
 * it each time was 5 % of bench_oversub's instructions. */
#define GC_INTERVAL_MS 100

/* A thread that has flushed overflowing bins TEARDOWN_FLUSHES times in a
 * row with no malloc slow path in between is freeing what it built (a
 * phase ending, a program tearing its data down): the dirty pages it
 * leaves go back at once, past 2 MiB, instead of waiting under the dirty
 * cap for the decay (bench_frag's final RSS over live
 * 1.877 -> 1.807, freeorder 12.7 -> 8.5 MB). Threads that never filled a
 * cache only free what others allocated (consumers) and are left alone.
 * Churning threads take malloc slow paths between their flushes: a burst
 * signal counted in the arena instead (dirty pages made without a dirty
 * run reused) fired thousands of times in bench_oversub's churn and cost
 * it a third of its throughput at 32 threads; this one did not move it. */
#define TEARDOWN_FLUSHES 16

static void foreign_flush(xa_tsd *t, bool into_slabs);

static void tcache_gc(xa_tsd *t) {
    if (++t->gc_ticks % XA_GC_CLOCK_EVERY != 0)
        return;
    uint64_t now = xa_now_ms();
    if (now - t->last_gc_ms < GC_INTERVAL_MS)
        return;
    __atomic_store_n(&t->last_gc_ms, now, __ATOMIC_RELAXED);   /* reclaim.c reads it */
    xa_background_maybe_start();      /* restarts it in a forked child */
    xa_arena_drain_remote(t->arena);  /* remote frees nobody picked up */
    if (t->subline_arena != t->arena)
        xa_arena_drain_remote(t->subline_arena);
    foreign_flush(t, false);          /* and ours go home within a GC interval */
    bool outside = t->in_large == 0;  /* a large free's slow path is inside */
    if (outside)
        xa_large_enter(t);
    for (unsigned k = 0; k < 8; k++) {
        unsigned c = t->gc_next;
        t->gc_next = (c + 1) % XA_NCLASSES;
        if (t->room[c].cap == 0)
            continue;
        unsigned idle = bin_idle(t, c);
        if (idle)
            tbin_flush(t, c, idle - idle / 4, false);
        bin_mark_low(t, c);
    }
    if (outside)
        xa_large_leave(t);
    xa_reclaim_maybe(now);            /* other threads' idle large bins */
}

void *xa_tcache_alloc_slow(xa_tsd *t, unsigned c) {
    xa_tbin *b = &t->bins[c];
    tcache_gc(t);
    t->nfills++;
    void *p;
    if (c < XA_NSMALL) {
        /* A quarter of the bin: what a thread that only allocates holds
         * on average is half a fill, blocks allocated but not yet used
         * (bench_xthread's producers: peak RSS over live 1.367 -> 1.316,
         * 13 interleaved runs; half a bin per fill bought no measurable
         * speed in bench_fastpath, scaling, server or frag). */
        xa_tbin_room *room = &t->room[c];
        uint32_t want = room->cap / 4 ? room->cap / 4 : 1;
        uint32_t max = xa_tbin_max(t, c);
        if (max < room->cap)          /* allocating again: win the room back */
            b->limit = room->stack + (max * 2 < room->cap ? max * 2 : room->cap);
        uint64_t requests = xa_tbin_nmalloc(b) - t->merged[c];
        t->merged[c] = xa_tbin_nmalloc(b);
        uint32_t n = xa_arena_fill(xa_tsd_arena_for(t, c), c, room->stack, want, requests);
        t->narena[c] += n;
        b->low = room->stack;
        if (n == 0)
            return NULL;
        b->sp = room->stack + n - 1;
        p = *b->sp;
        xa_tbin_sync_top(b);
        xa_block_unmark(p);
    } else {
        bool zeroed;
        p = xa_arena_large_alloc(t->arena, c, XA_PAGE, &zeroed);
        if (p == NULL)
            return NULL;
        xa_large_enter(t);
        t->narena[c]++;
        xa_large_leave(t);
    }
    b->served += XA_TBIN_SERVED_ONE;
    return p;
}

uint64_t xa_tsd_allocated(const xa_tsd *t) {
    uint64_t sum = t->direct_allocated;
    for (unsigned c = 0; c < XA_NCLASSES; c++)
        sum += xa_tbin_nmalloc(&t->bins[c]) * xa_class_size[c];
    return sum;
}

/* The class of a live small block (the slab its page maps to). */
static unsigned block_class(const void *p) {
    return xa_chunk_map_get(xa_chunk_of(p), xa_page_of(p))->sizeclass;
}

uint64_t xa_tsd_deallocated(xa_tsd *t) {
    uint64_t sum = t->direct_deallocated;
    xa_large_enter(t);
    for (unsigned c = 0; c < XA_NCLASSES; c++)
        sum += (bin_count(t, c) + xa_tbin_nmalloc(&t->bins[c]) - t->narena[c]) * xa_class_size[c];
    xa_large_leave(t);
    for (unsigned c = 0; c < XA_NSMALL; c++)
        sum += t->foreign_sent[c] * xa_class_size[c];
    for (unsigned i = 0; i < t->nforeign; i++)   /* queued, not sent yet */
        sum += xa_class_size[block_class(t->foreign[i])];
    return sum;
}

/* How many blocks an overflowing bin keeps. Normally half: room to free
 * into and blocks to allocate from. A small bin that overflows twice with
 * no allocation in between only receives frees (a consumer thread, a
 * teardown): what it keeps nobody here will use, and in a pipeline every
 * consumer would strand half a bin of every class. It flushes whole and
 * its limit halves, down to an eighth of its capacity (at least 4 blocks
 * per flush); its next misses double the limit back. */
static unsigned overflow_keep(xa_tsd *t, unsigned c) {
    xa_tbin *b = &t->bins[c];
    unsigned cap = t->room[c].cap;
    if (c >= XA_NSMALL)
        return cap / 2u;
    bool free_only = xa_tbin_nmalloc(b) == t->overflowed_at[c];
    t->overflowed_at[c] = xa_tbin_nmalloc(b);
    unsigned max = xa_tbin_max(t, c);
    if (!free_only)
        return max / 2u;
    unsigned floor = cap / 8u > 4 ? cap / 8u : 4;
    if (max / 2u >= floor)
        b->limit = t->room[c].stack + max / 2u;
    return 0;
}

bool xa_tcache_free_slow(xa_tsd *t, unsigned c, void *p) {
    xa_tbin *b = &t->bins[c];
    tcache_gc(t);
    if (c < XA_NSMALL ? b->sp >= b->limit : bin_count(t, c) >= t->room[c].cap) {
        tbin_flush(t, c, bin_count(t, c) - overflow_keep(t, c), false);
        if (++t->flush_streak % TEARDOWN_FLUSHES == 0 && t->nfills >= TEARDOWN_FLUSHES) {
            xa_arena_purge_bulk(t->arena);
            if (t->subline_arena != t->arena)
                xa_arena_purge_bulk(t->subline_arena);
        }
    }
    if (c >= XA_NSMALL) {
        size_t size = xa_class_size[c], budget = xa_tcache_large_budget();
        if (size > budget / 4)
            return false;
        /* Over the budget: the oldest block of the bin holding the most
         * bytes goes back, so that many classes stay covered. */
        while (t->large_cached + size > budget) {
            unsigned fat = c;
            for (unsigned k = XA_NSMALL; k < XA_NCLASSES && t->room[k].cap; k++)
                if ((size_t)bin_count(t, k) * xa_class_size[k] >
                    (size_t)bin_count(t, fat) * xa_class_size[fat])
                    fat = k;
            if (bin_count(t, fat) == 0)
                return false;
            tbin_flush(t, fat, 1, false);
        }
        xa_large_cached_set(t, t->large_cached + size);
        xa_lbin *l = xa_large_bin(t, c);
        l->stack[l->n++] = p;
        return true;
    }
    *b->sp++ = p;
    xa_block_mark(p);
    b->top = p;
    return true;
}

/* Send the foreign blocks home, one remote push per (arena, class). A
 * block queued twice (a double free the free mark missed: the program
 * wrote into the block after freeing it) is reported and sent once: its
 * owner would hand it out twice.
 * The queue is bucketed by class (a counting sort), then each bucket, a
 * handful of blocks, is put in (arena, address) order by insertion, which
 * makes both the duplicates and the arena groups adjacent: linear in the
 * queue in practice. (A plain insertion sort of the whole queue and a scan
 * per group was half of bench_xthread's instructions.) into_slabs: put them
 * back into their slabs when the bin's lock is free (a thread exit, a
 * trim), not onto the remote list, where they would wait for the owner's
 * next fill and keep their slabs from being released. */
static void foreign_flush(xa_tsd *t, bool into_slabs) {
    uint32_t n = t->nforeign;
    if (n == 0)
        return;
    void *sorted[XA_FOREIGN_MAX];
    xa_arena *owner[XA_FOREIGN_MAX], *sorted_owner[XA_FOREIGN_MAX];
    uint8_t cls[XA_FOREIGN_MAX];
    uint32_t start[XA_NSMALL + 1] = {0};
    for (uint32_t i = 0; i < n; i++) {
        owner[i] = xa_chunk_arena(xa_chunk_of(t->foreign[i]));
        cls[i] = (uint8_t)block_class(t->foreign[i]);
        start[cls[i] + 1]++;
    }
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        t->foreign_sent[c] += start[c + 1];
        start[c + 1] += start[c];
    }
    uint32_t fill[XA_NSMALL];
    memcpy(fill, start, sizeof fill);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t j = fill[cls[i]]++;
        sorted[j] = t->foreign[i];
        sorted_owner[j] = owner[i];
    }
    t->nforeign = 0;
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        uint32_t lo = start[c], hi = start[c + 1];
        for (uint32_t i = lo + 1; i < hi; i++) {
            void *x = sorted[i];
            xa_arena *a = sorted_owner[i];
            uint32_t j = i;
            for (; j > lo && ((uintptr_t)sorted_owner[j - 1] > (uintptr_t)a ||
                              (sorted_owner[j - 1] == a && (uintptr_t)sorted[j - 1] > (uintptr_t)x));
                 j--) {
                sorted[j] = sorted[j - 1];
                sorted_owner[j] = sorted_owner[j - 1];
            }
            sorted[j] = x;
            sorted_owner[j] = a;
        }
        /* Drop duplicates, then push each arena's run. */
        uint32_t k = lo;
        for (uint32_t i = lo; i < hi; i++) {
            if (k > lo && sorted[i] == sorted[k - 1]) {
                xa_report_pointer("double free", sorted[i]);
                continue;
            }
            sorted[k] = sorted[i];
            sorted_owner[k++] = sorted_owner[i];
        }
        for (uint32_t i = lo; i < k;) {
            uint32_t j = i + 1;
            while (j < k && sorted_owner[j] == sorted_owner[i])
                j++;
            if (into_slabs)
                xa_arena_small_free(sorted_owner[i], c, sorted + i, j - i);
            else
                xa_arena_small_free_remote(sorted_owner[i], c, sorted + i, j - i);
            i = j;
        }
    }
}

void xa_tcache_free_foreign(xa_tsd *t, void *p) {
    if (t->nforeign == XA_FOREIGN_MAX)
        foreign_flush(t, false);
    t->foreign[t->nforeign++] = p;
    xa_block_mark(p);
}

bool xa_tcache_holds(const xa_tsd *t, unsigned c, const void *p) {
    for (void **q = t->room[c].stack; q < t->bins[c].sp; q++)
        if (*q == p)
            return true;
    for (unsigned i = 0; i < t->nforeign; i++)
        if (t->foreign[i] == p)
            return true;
    return false;
}

void xa_tcache_flush_all(xa_tsd *t) {
    foreign_flush(t, true);
    xa_large_enter(t);
    for (unsigned c = 0; c < XA_NCLASSES; c++)
        if (bin_count(t, c))
            tbin_flush(t, c, bin_count(t, c), true);
    xa_large_leave(t);
}
