/* Arenas: where thread caches get their memory. Each arena has one bin per
 * small class (own lock, a current slab, the other non-full slabs ordered
 * by address so low addresses fill first) and a page-run allocator over its
 * chunks (free runs in trees ordered by size then address: best fit, low
 * addresses first, dirty pages before clean). Lock order: bin lock, then
 * arena lock. */
#ifndef XA_ARENA_H
#define XA_ARENA_H

#include "chunk.h"
#include "base.h"
#include "lock.h"
#include "sizeclass.h"

#define XA_MAX_ARENAS 256

typedef struct xa_bin {
    xa_mutex lock;
    /* Blocks freed by threads that found the lock taken, linked through
     * their first word: a flush pushes its whole batch with one CAS instead
     * of waiting. Drained under the lock by the next fill (which hands them
     * out directly), free, purge or cache GC. Still "taken" in the bitmaps. */
    void *remote;
    size_t nremote;           /* atomic: blocks on it, which statistics count as free */
    xa_run *cur;              /* regions come from here first; not in nonfull */
    xa_rb_tree nonfull;       /* other slabs with 0 < nfree, by address */
    /* statistics, under lock */
    uint64_t nrequests;       /* allocations served, merged from thread caches at fill */
    uint64_t nfills, nflushes, nslabs_created;
    size_t nslabs;            /* slabs currently owned */
    size_t curregs;           /* regions handed out (tcaches count as out) */
} __attribute__((aligned(XA_CACHELINE))) xa_bin;

typedef struct xa_arena {
    xa_mutex lock;            /* runs, chunks, base, dirty list, counters below */
    unsigned index;
    /* Free runs by (npages, address), dirty and clean apart: allocation
     * takes dirty pages first (already faulted in, no page faults), so
     * only what is not reused within the decay time gets purged. */
    xa_rb_tree avail_dirty, avail_clean;
    xa_run *dirty_oldest, *dirty_newest;
    size_t ndirty;            /* pages in dirty free runs */
    size_t nactive;           /* pages in slabs and large runs */
    size_t nchunks, nempty_chunks;
    uint64_t last_purge_ms;
    unsigned purge_ticks;     /* run operations; the clock is read every 8th */
    size_t grew_clean;        /* atomic: pages taken from clean runs, not yet settled */
    xa_base base;             /* run descriptors */
    /* statistics, under lock */
    size_t large_allocated;   /* bytes */
    uint64_t nlarge_malloc, nlarge_free, npurge_calls, npurged_pages;
    xa_bin bins[XA_NSMALL];
} xa_arena;

extern xa_arena *xa_arenas[XA_MAX_ARENAS];
/* Threads are bound round robin to arenas 0 .. xa_narenas - 1 for the
 * classes under a cache line, and to arenas 0 .. xa_nshared - 1 (at most
 * xa_narenas: the first of the same arenas) for the others (tcache.c). */
extern unsigned xa_narenas, xa_nshared;

/* The arena with this index, created on first use; NULL when out of memory. */
xa_arena *xa_arena_get(unsigned index);

/* Small: fill out[] with up to want regions of class c; returns how many.
 * out[want-1] gets the lowest address, so a LIFO pops low addresses first.
 * requests: the caller's allocations since its last fill, for statistics. */
unsigned xa_arena_fill(xa_arena *a, unsigned c, void **out, unsigned want, uint64_t requests);
/* Return n regions of class c that all live in arena a. When the bin is
 * busy they go onto its remote list instead (ptrs[] is then rewritten as a
 * chain through the blocks' first words). */
void xa_arena_small_free(xa_arena *a, unsigned c, void **ptrs, unsigned n);
/* Push them onto the remote list without trying the lock: for threads of
 * another arena, so they never contend with the owner's fills, and the
 * owner's next fill reuses the blocks as they are (no bitmap updates). */
void xa_arena_small_free_remote(xa_arena *a, unsigned c, void **ptrs, unsigned n);
/* Return remote-freed blocks to their slabs in every bin of a that has
 * some and whose lock is free. */
void xa_arena_drain_remote(xa_arena *a);
/* Drain every bin and give back current slabs that hold no block (the one
 * thing a bin otherwise keeps): for malloc_trim and arena.purge. */
void xa_arena_release_empty_slabs(xa_arena *a);

/* Large: a run of class c aligned to alignment (a power of two >= page). */
void *xa_arena_large_alloc(xa_arena *a, unsigned c, size_t alignment, bool *zeroed);
void xa_arena_large_free(xa_arena *a, xa_run *r);
/* The same for a block whose pages sat unused for the decay time already
 * (an idle thread's cache, reclaim.c): its pages count as dirty long
 * enough to be purged by the next xa_arena_purge, not after another
 * decay period. */
void xa_arena_large_free_idle(xa_arena *a, xa_run *r);
/* Resize large run r to class newc in place; false when the neighbours do
 * not allow it (nothing changed then). */
bool xa_arena_large_resize(xa_arena *a, xa_run *r, unsigned newc);

/* Return dirty pages to the OS: all of them, or those past decay or over
 * the dirty cap. Called with a->lock held; drops it around madvise. */
size_t xa_arena_purge(xa_arena *a, bool all);
/* A thread is tearing its data down (see tcache.c): return the arena's
 * dirty pages beyond 2 MiB now, oldest first. Takes the arena lock. */
void xa_arena_purge_bulk(xa_arena *a);
/* Apply the decay now: purge the pages past it (or over the dirty cap).
 * Takes the arena lock. */
void xa_arena_decay(xa_arena *a);

/* fork: take every lock of every arena, release or re-init them. */
void xa_arena_prefork(void);
void xa_arena_postfork_parent(void);
void xa_arena_postfork_child(void);

uint64_t xa_now_ms(void);

#endif
