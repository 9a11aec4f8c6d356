/* Thread caches: per thread, one LIFO stack of free blocks per size class.
 * The fast paths in alloc.h pop and push here without a lock or an atomic;
 * misses fill a batch from the thread's arena, overflows flush a batch back
 * to the arenas that own the blocks. The thread state lives in initial-exec
 * TLS so reaching it is one instruction off the thread pointer. */
#ifndef XA_TCACHE_H
#define XA_TCACHE_H

#include "arena.h"

/* The counts are 32-bit: 16-bit ones cost the fast paths a zero-extension
 * per use. */
typedef struct xa_tbin {
    /* stack[n - 1], or NULL when empty: malloc's block is one load away,
     * not two (the count, then the stack slot). */
    void *top;
    void **stack;             /* stack[0 .. n) cached blocks, newest on top;
                                 stack[-1] is NULL */
    uint32_t n;
    uint32_t max;             /* what the fast paths may fill to; 0: slow path only */
    uint32_t low;             /* fewest cached since the last GC pass: idle blocks */
    uint16_t cap;             /* capacity; 0: class not cached. Large classes have
                                 max 0: their frees take the slow path, which
                                 scans the few cached ones for a double free */
    uint64_t nmalloc;         /* served by this thread: a plain counter, no atomic */
} xa_tbin;

/* After any change to a bin's stack or count outside the fast paths. */
XA_INLINE void xa_tbin_sync_top(xa_tbin *b) {
    b->top = b->stack[(ptrdiff_t)b->n - 1];
}

/* Pop a cached block (the bin must not be empty). */
XA_INLINE void *xa_tbin_pop(xa_tbin *b) {
    void *p = b->top;
    void **stack = b->stack;          /* loads first: fewer reloads after the stores */
    unsigned n = b->n - 1u;
    uint64_t nmalloc = b->nmalloc;
    b->top = stack[(ptrdiff_t)n - 1];
    b->n = n;
    b->nmalloc = nmalloc + 1;
    if (unlikely(n < b->low))
        b->low = n;
    return p;
}

enum xa_tsd_state {
    XA_TSD_UNINIT = 0,        /* TLS starts zeroed: every bin has max 0 */
    XA_TSD_ACTIVE,
    XA_TSD_INITIALIZING,      /* recursion while setting up: no cache */
    XA_TSD_DEAD,              /* thread exiting: serve from the arena directly */
};

/* Small blocks this thread frees that belong to another arena wait here,
 * never handed out by this thread, and go home in batches onto their
 * bins' remote lists: those of classes under a cache line (reusing them
 * here would put this thread's next blocks on cache lines another
 * thread's blocks share: passive false sharing), and those of classes
 * this thread does not allocate (a consumer in a pipeline would only
 * hold them). The others go into the bin like the thread's own
 * (xa_tcache_keeps_foreign). */
#define XA_FOREIGN_MAX 64

/* Whether a freed block of another arena in small class c stays in bin b
 * (see XA_FOREIGN_MAX): a class of a cache line or more that this thread
 * allocates too. Sending every such block home cost the Larson-style
 * bench_server on a 16-core Xeon 44 % of its throughput (132 against 237
 * M ops/s kept; jemalloc, which keeps every block, 217): each one a
 * compare-and-swap on a list head that the other 15 threads push to. On
 * 2 cores keeping them costs 10-15 % there (benchmarks.md). */
XA_INLINE bool xa_tcache_keeps_foreign(const xa_tbin *b, unsigned c) {
    return c >= XA_SUBLINE_CLASSES && b->nmalloc != 0;
}

/* Large classes (16 KiB up to tcache_max) are cached within a byte budget
 * per thread: XA_TCACHE_LARGE_TOTAL shared by the threads that have a
 * cache, at most XA_TCACHE_LARGE_BYTES and at least XA_TCACHE_LARGE_MIN
 * each. A few blocks of each class would otherwise let a thread hoard
 * megabytes, and a thread that goes idle keeps its cache until it
 * allocates again, so many threads must not multiply the worst case.
 * 256 MiB keeps 8 MiB each up to 32 threads: with 128 MiB, 32 and 64
 * threads got 4 and 2 MiB, and bench_oversub's CPU per operation grew
 * with the thread count (16-core Xeon, 16 -> 64 threads: 2.19x with
 * 128 MiB, 1.48x with 256, 1.11x with 512 at +5 % peak RSS over 256;
 * 2 cores, 2 -> 32 threads: 1.53 -> 1.41). */
#ifndef XA_TCACHE_LARGE_BYTES
#define XA_TCACHE_LARGE_BYTES ((size_t)8 << 20)
#endif
#ifndef XA_TCACHE_LARGE_TOTAL
#define XA_TCACHE_LARGE_TOTAL ((size_t)256 << 20)
#endif
#define XA_TCACHE_LARGE_MIN ((size_t)256 << 10)

typedef struct xa_tsd {
    xa_tbin bins[XA_NCLASSES];
    xa_arena *arena;
    uint32_t arena_index;             /* arena's index; XA_NO_ARENA without one */
    uintptr_t last_free_bin;          /* the bin the last fast free pushed to (alloc.h) */
    uint32_t nforeign;
    void *foreign[XA_FOREIGN_MAX];
    uint8_t state;
    uint64_t last_gc_ms;
    unsigned gc_next;                 /* next bin the incremental GC visits */
    unsigned gc_ticks;                /* slow paths taken, for the GC's clock reads */
    unsigned flush_streak;            /* overflow flushes since the last malloc slow path */
    void **stacks;                    /* one block holding every stack */
    size_t large_cached;              /* bytes in large-class bins */
    uint64_t nfills, nflushes;
    uint64_t merged[XA_NCLASSES];     /* nmalloc already added to the arena bin's nrequests */
    /* Per class, blocks the bin took from the arena (fills, and large
     * blocks served past it) less those it gave back (flushes). Frees into
     * the bin are not counted on the fast path but follow from these:
     * n + nmalloc - narena (xa_tsd_deallocated). */
    uint64_t narena[XA_NCLASSES];
    uint64_t overflowed_at[XA_NSMALL];  /* nmalloc at the bin's last overflow */
    uint64_t foreign_sent[XA_NSMALL];   /* blocks of each class sent home from foreign[] */
    uint64_t direct_allocated;        /* bytes served outside the cache (huge, aligned, ...) */
    uint64_t direct_deallocated;
} xa_tsd;

extern __thread xa_tsd xa_tls __attribute__((tls_model("initial-exec")));

/* The calling thread's state, set up on first use. Returns NULL only when
 * no arena can be created (out of memory). The check is inline: every slow
 * path asks, and the state is nearly always ready. */
xa_tsd *xa_tsd_get_slow(void);
XA_INLINE xa_tsd *xa_tsd_get(void) {
    xa_tsd *t = &xa_tls;
    if (likely(t->state != XA_TSD_UNINIT && t->arena != NULL))
        return t;
    return xa_tsd_get_slow();
}

/* The large-class byte budget of each thread now. */
extern XA_INTERNAL size_t xa_tcache_large_budget_bytes;   /* atomic */
XA_INLINE size_t xa_tcache_large_budget(void) {
    return __atomic_load_n(&xa_tcache_large_budget_bytes, __ATOMIC_RELAXED);
}

/* The slow paths read the clock for the GC once per XA_GC_CLOCK_EVERY. */
#define XA_GC_CLOCK_EVERY 16

/* Whether bin b holds p (a large bin: a handful of blocks). */
XA_INLINE bool xa_tbin_holds(const xa_tbin *b, const void *p) {
    for (unsigned i = 0; i < b->n; i++)
        if (b->stack[i] == p)
            return true;
    return false;
}

/* A freed large block into its bin when the bin has room and the thread
 * stays within its large-class budget: most large frees, without the
 * flushes of xa_tcache_free_slow. False: take that path (also once per
 * XA_GC_CLOCK_EVERY, so that its GC clock keeps ticking). The caller
 * checked that p is not in the bin already. */
XA_INLINE bool xa_tcache_put_large(xa_tsd *t, unsigned c, void *p) {
    xa_tbin *b = &t->bins[c];
    size_t cached = t->large_cached + xa_class_size[c];
    unsigned tick = t->gc_ticks + 1;
    if (b->n >= b->cap || cached > xa_tcache_large_budget() || tick % XA_GC_CLOCK_EVERY == 0)
        return false;
    t->gc_ticks = tick;
    b->stack[b->n++] = p;
    b->top = p;
    t->large_cached = cached;
    return true;
}

/* Refill an empty bin from the arena; returns a block or NULL. */
void *xa_tcache_alloc_slow(xa_tsd *t, unsigned c);
/* Push into a full bin: flush the older half first. A large block that
 * would take the thread past XA_TCACHE_LARGE_BYTES is not cached: false,
 * the caller frees it to its arena. */
bool xa_tcache_free_slow(xa_tsd *t, unsigned c, void *p);
/* Queue a small block of another arena; sends the queue home when full. */
void xa_tcache_free_foreign(xa_tsd *t, void *p);
/* Return every cached block to its arena (thread exit, malloc_trim). */
void xa_tcache_flush_all(xa_tsd *t);

/* Bytes this thread allocated / freed so far (thread.allocated). */
uint64_t xa_tsd_allocated(const xa_tsd *t);
uint64_t xa_tsd_deallocated(const xa_tsd *t);

/* pthread key destructor and its key, created at bootstrap. */
bool xa_tsd_boot(void);

/* Which arena a new thread gets: round robin over narenas. */
unsigned xa_tsd_next_arena(void);

#endif
