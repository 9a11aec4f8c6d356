/* Thread caches: per thread, one LIFO stack of free blocks per size class.
 * The fast paths in alloc.h pop and push here without a lock or an atomic;
 * misses fill a batch from the thread's arena, overflows flush a batch back
 * to the arenas that own the blocks. The thread state lives in initial-exec
 * TLS so reaching it is one instruction off the thread pointer. */
#ifndef XA_TCACHE_H
#define XA_TCACHE_H

#include "arena.h"
#include "freemark.h"

/* A class's cache as the fast paths see it: pointers, not counts, so a
 * push or pop is a store and a pointer bump with no index arithmetic. */
typedef struct xa_tbin {
    /* sp[-1], or NULL when empty: malloc's block is one load away, not two
     * (the stack pointer, then the slot). */
    void *top;
    /* Between top and sp, which malloc and free both store: adjacent,
     * GCC merges the two stores into one vector store, built in 3 more
     * instructions. */
    void **limit;             /* room's stack + what the fast frees may fill
                                 to; the stack itself: slow path only */
    void **sp;                /* one past the newest cached block */
    /* The lowest sp since the last GC pass (room's stack + the blocks left
     * unused: idle). malloc's fast path pops only above it, so one compare
     * covers both "empty" and "a new low" (jemalloc's trick); the slow path
     * lowers it. */
    void **low;
    /* Blocks served by this thread times 2^16 (a plain counter, no atomic)
     * plus, in the low 16 bits, the index of the arena this thread takes
     * the class's blocks from ("home", bind_arena): free's owner test
     * reads it in the line it loads anyway, so classes may come from
     * different arenas at no cost. One word keeps the bin at 40 bytes: at
     * 48 indexing took an instruction more on each path, at 64 (a line
     * each) bench_fastpath ran 1 % slower. The count wraps after 2^48
     * blocks of one class, never into home. Read through the helpers. */
    uint64_t served;
} xa_tbin;

#define XA_TBIN_SERVED_ONE ((uint64_t)1 << 16)
_Static_assert(XA_MAX_ARENAS <= 1 << 16, "an arena index fits the bin's home bits");

XA_INLINE uint64_t xa_tbin_nmalloc(const xa_tbin *b) {
    return b->served >> 16;
}

XA_INLINE unsigned xa_tbin_home(const xa_tbin *b) {
    return (uint16_t)b->served;
}

/* What only the slow paths need of a class's cache, small or large. */
typedef struct xa_tbin_room {
    void **stack;             /* stack[0 .. sp) cached, newest on top; stack[-1] is NULL */
    uint32_t cap;             /* capacity; 0: class not cached. Large classes
                                 keep their blocks in an xa_lbin */
} xa_tbin_room;

/* A large class's cached blocks (16 KiB up to tcache_max). Only slow paths
 * use them, inside the large-bin hand-off (xa_large_enter), so that another
 * thread can give an idle thread's blocks back (reclaim.c). They are kept
 * apart from the xa_tbin of the class, which the free fast path reads for
 * any class before it sees max 0: that one stays empty for good, and the
 * fast path never reads what a reclaimer writes. */
typedef struct xa_lbin {
    void **stack;             /* stack[0 .. n), newest on top */
    uint32_t n;
    uint32_t low;             /* fewest cached since the last GC pass: idle blocks */
} xa_lbin;

/* After any change to a bin's stack pointer outside the fast paths. */
XA_INLINE void xa_tbin_sync_top(xa_tbin *b) {
    b->top = b->sp[-1];
}

/* Pop a cached block: sp (b->sp) is above the low-water mark, so the bin
 * is not empty and sp[-2] exists (stack[-1] at worst). */
XA_INLINE void *xa_tbin_pop(xa_tbin *b, void **sp) {
    void *p = b->top;
    uint64_t served = b->served;      /* loads first: fewer reloads after the stores */
    b->top = sp[-2];
    b->sp = sp - 1;
    b->served = served + XA_TBIN_SERVED_ONE;
    xa_block_unmark(p);
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
    return c >= XA_SUBLINE_CLASSES && b->served >= XA_TBIN_SERVED_ONE;   /* allocated some */
}

/* Large classes (16 KiB up to tcache_max) are cached within a byte budget
 * per thread: XA_TCACHE_LARGE_TOTAL shared by the threads that have a
 * cache, at most XA_TCACHE_LARGE_BYTES and at least XA_TCACHE_LARGE_MIN
 * each. A few blocks of each class would otherwise let a thread hoard
 * megabytes, so many threads must not multiply the worst case (an idle
 * thread's share goes back after the decay time: reclaim.c). 512 MiB
 * keeps 8 MiB each up to 64 threads: with less, bench_oversub's CPU per
 * operation grew with the thread count (16-core Xeon, 16 -> 64 threads:
 * 2.19x with 128 MiB, 1.48x with 256, 1.13x with 512 at +7 % peak RSS
 * over 256; 2 cores, 2 -> 32 threads: 1.53 with 128, 1.41 with 256). */
#ifndef XA_TCACHE_LARGE_BYTES
#define XA_TCACHE_LARGE_BYTES ((size_t)8 << 20)
#endif
#ifndef XA_TCACHE_LARGE_TOTAL
#define XA_TCACHE_LARGE_TOTAL ((size_t)512 << 20)
#endif
#define XA_TCACHE_LARGE_MIN ((size_t)256 << 10)

typedef struct xa_tsd {
    xa_tbin bins[XA_NCLASSES];        /* large classes: served only, never a block */
    xa_arena *arena;                  /* classes of a cache line and up, large blocks */
    xa_arena *subline_arena;          /* the classes under a cache line (bind_arena) */
    uintptr_t last_free_bin;          /* the bin the last fast free pushed to (alloc.h) */
    uint32_t nforeign;
    void *foreign[XA_FOREIGN_MAX];
    uint8_t state;
    uint64_t last_gc_ms;
    unsigned gc_next;                 /* next bin the incremental GC visits */
    unsigned gc_ticks;                /* slow paths taken, for the GC's clock reads */
    unsigned flush_streak;            /* overflow flushes since the last malloc slow path */
    void **stacks;                    /* one block holding every stack */
    xa_tbin_room room[XA_NCLASSES];
    size_t large_cached;              /* bytes in large-class bins; stored with
                                         xa_large_cached_set (reclaim.c peeks) */
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
    /* Another thread may give this thread's large bins back when it goes
     * idle (reclaim.c): the owner's uses of them run between
     * xa_large_enter and xa_large_leave, the reclaimer sets reclaiming.
     * Both atomic. */
    uint32_t in_large;                /* owner: 1 while using its large bins */
    uint32_t reclaiming;              /* reclaimer: odd while a reclaim of this thread is under way */
    struct xa_tsd *list_prev, *list_next;   /* threads with a cache; reclaim.c's lock */
    /* The large classes' blocks (xa_large_bin): slow paths only, so after
     * the fields the fast paths read. */
    xa_lbin large[XA_NLARGE];
} xa_tsd;

/* The arena this thread's blocks of class c come from. */
XA_INLINE xa_arena *xa_tsd_arena_for(const xa_tsd *t, unsigned c) {
    return c < XA_SUBLINE_CLASSES ? t->subline_arena : t->arena;
}

/* Blocks cached in small class c's bin, and how many the fast frees may
 * fill it to. */
XA_INLINE uint32_t xa_tbin_count(const xa_tsd *t, unsigned c) {
    return (uint32_t)(t->bins[c].sp - t->room[c].stack);
}

XA_INLINE uint32_t xa_tbin_max(const xa_tsd *t, unsigned c) {
    return (uint32_t)(t->bins[c].limit - t->room[c].stack);
}

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

/* The owner's side of the large-bin hand-off (reclaim.c): everything that
 * reads or writes this thread's large bins (xa_lbin), large_cached or the
 * large classes' narena counts runs between xa_large_enter and
 * xa_large_leave, which do not nest. No atomic read-modify-write, no
 * fence: two plain stores and a load, because the reclaimer, which is
 * rare, pays for the ordering with a membarrier() between setting
 * reclaiming and reading in_large (an asymmetric Dekker handshake). If a
 * reclaim is under way, enter waits for that one to end; any later one
 * sees in_large and leaves this thread alone. */
void xa_large_enter_wait(xa_tsd *t, uint32_t seen);

/* The owner's half of the handshake: mark, then read the reclaimer's
 * counter (odd: a reclaim of this thread is under way). */
XA_INLINE uint32_t xa_large_mark(xa_tsd *t) {
    __atomic_store_n(&t->in_large, 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return __atomic_load_n(&t->reclaiming, __ATOMIC_ACQUIRE);
}

XA_INLINE void xa_large_enter(xa_tsd *t) {
    uint32_t seen = xa_large_mark(t);
    if (unlikely(seen & 1))
        xa_large_enter_wait(t, seen);
}

XA_INLINE void xa_large_leave(xa_tsd *t) {
    __atomic_store_n(&t->in_large, 0, __ATOMIC_RELEASE);
}

/* xa_large_enter without the wait, for the paths that call nothing: false,
 * and out again, when a reclaim of this thread is under way (the caller
 * then takes a path that enters and waits). */
XA_INLINE bool xa_large_try_enter(xa_tsd *t) {
    if (likely(!(xa_large_mark(t) & 1)))
        return true;
    xa_large_leave(t);
    return false;
}

/* Inside the hand-off. An atomic store (a plain move): a reclaimer reads
 * it without the hand-off, as a hint, to skip threads that cache nothing. */
XA_INLINE void xa_large_cached_set(xa_tsd *t, size_t bytes) {
    __atomic_store_n(&t->large_cached, bytes, __ATOMIC_RELAXED);
}

/* The slow paths read the clock for the GC once per XA_GC_CLOCK_EVERY. */
#define XA_GC_CLOCK_EVERY 16

/* The blocks of large class c (c >= XA_NSMALL). */
XA_INLINE xa_lbin *xa_large_bin(xa_tsd *t, unsigned c) {
    return &t->large[c - XA_NSMALL];
}

/* Whether large bin l holds p (a handful of blocks). */
XA_INLINE bool xa_lbin_holds(const xa_lbin *l, const void *p) {
    for (unsigned i = 0; i < l->n; i++)
        if (l->stack[i] == p)
            return true;
    return false;
}

/* Pop the newest block of large class c (its bin must not be empty). */
XA_INLINE void *xa_lbin_pop(xa_tsd *t, unsigned c) {
    xa_lbin *l = xa_large_bin(t, c);
    void *p = l->stack[--l->n];
    if (l->n < l->low)
        l->low = l->n;
    t->bins[c].served += XA_TBIN_SERVED_ONE;
    xa_large_cached_set(t, t->large_cached - xa_class_size[c]);
    return p;
}

/* A freed large block into its bin when the bin has room and the thread
 * stays within its large-class budget: most large frees, without the
 * flushes of xa_tcache_free_slow. False: take that path (also once per
 * XA_GC_CLOCK_EVERY, so that its GC clock keeps ticking). The caller
 * checked that p is not in the bin already. */
XA_INLINE bool xa_tcache_put_large(xa_tsd *t, unsigned c, void *p) {
    xa_lbin *l = xa_large_bin(t, c);
    size_t cached = t->large_cached + xa_class_size[c];
    unsigned tick = t->gc_ticks + 1;
    if (l->n >= t->room[c].cap || cached > xa_tcache_large_budget() ||
        tick % XA_GC_CLOCK_EVERY == 0)
        return false;
    t->gc_ticks = tick;
    l->stack[l->n++] = p;
    xa_large_cached_set(t, cached);
    return true;
}

/* Refill an empty bin from the arena; returns a block or NULL. */
void *xa_tcache_alloc_slow(xa_tsd *t, unsigned c);
/* Push into a full bin: flush the older half first. A large block that
 * would take the thread past XA_TCACHE_LARGE_BYTES is not cached: false,
 * the caller frees it to its arena. Large classes: the caller is inside
 * the hand-off. */
bool xa_tcache_free_slow(xa_tsd *t, unsigned c, void *p);
/* Queue a small block of another arena; sends the queue home when full. */
void xa_tcache_free_foreign(xa_tsd *t, void *p);
/* Whether small block p of class c is in this thread's cache: its bin or
 * the foreign queue (a marked block, xa_block_marked: a double free). */
bool xa_tcache_holds(const xa_tsd *t, unsigned c, const void *p);
/* Return every cached block to its arena (thread exit, malloc_trim). */
void xa_tcache_flush_all(xa_tsd *t);
/* Return every block of t's large bins to its arena as one that sat
 * unused for the decay time (xa_arena_large_free_idle: the reclaimer
 * purges them next); bytes returned. The caller holds t's large-bin
 * hand-off: t's owner inside xa_large_enter, or the reclaimer
 * (reclaim.c). */
size_t xa_tcache_flush_large(xa_tsd *t);

/* Bytes this thread allocated / freed so far (thread.allocated). */
uint64_t xa_tsd_allocated(const xa_tsd *t);
uint64_t xa_tsd_deallocated(xa_tsd *t);   /* enters the large-bin hand-off */

/* pthread key destructor and its key, created at bootstrap. */
bool xa_tsd_boot(void);


#endif
