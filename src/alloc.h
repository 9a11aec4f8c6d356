/* The allocation and free paths. The fast paths are inline here and fit on
 * one screen: a table lookup and a pop, or a validated push; no lock, no
 * atomic, no division. Everything else is out of line in alloc.c. */
#ifndef XA_ALLOC_H
#define XA_ALLOC_H

#include "tcache.h"
#include "init.h"

void *xa_malloc_slow(size_t size);
void  xa_free_slow(void *p);
/* The rest of free for p, a block of run r that xa_freed_run (or the
 * stricter xa_lookup_fast) accepted. */
void  xa_free_live(void *p, xa_run *r);
void *xa_calloc(size_t nmemb, size_t size);
void *xa_realloc(void *p, size_t size);
/* alignment: a power of two (callers check). */
void *xa_aligned_alloc(size_t alignment, size_t size);
size_t xa_usable_size(const void *p);
/* free with a size the caller promises, checked against the block:
 * exact_class for malloc results, only "fits" for aligned ones. */
void xa_free_sized(void *p, size_t size, bool exact_class);
bool xa_owns(const void *p);

/* The bin's loads wait for the last fast free's bin address. Its stores
 * to the bin (n, the stack slot) get their addresses late, after the page
 * map load, while this bin's address is known at once: the CPU runs the
 * loads ahead and, when the classes match, must squash and replay them
 * (a memory-order violation). The false dependency (an always-forwarded
 * load, ANDed to zero) orders them instead: bench_fastpath pair 7.64 ->
 * 7.23 ns, freed-at-once 6.11 -> 6.03 (Zen 5); a free that misses the
 * cache now delays the next malloc (bench_scaling, 1 thread: -1.6 %). */
XA_INLINE xa_tbin *xa_malloc_bin(xa_tsd *t, unsigned c) {
    xa_tbin *b = &t->bins[c];
#if defined(__x86_64__)
    uintptr_t after = t->last_free_bin;
    __asm__("and $0, %1\n\tadd %1, %0" : "+r"(b), "+r"(after));
#endif
    return b;
}

XA_INLINE void *xa_malloc(size_t size) {
    if (likely(size <= XA_SMALL_MAX)) {
        xa_tbin *b = xa_malloc_bin(&xa_tls, xa_small_class(size));
        void **sp = b->sp;
        if (likely(sp != b->low))
            return xa_tbin_pop(b, sp);
    }
    return xa_malloc_slow(size);
}

/* The page map entry for p (chunk.h), or 0 when p is not inside a chunk
 * xalloc owns. Never-used pages read 0; header pages read entries of no
 * class. */
XA_INLINE uintptr_t xa_map_entry_of(const xa_chunk *ch, const void *p) {
    if (unlikely(!xa_registry_has(ch)))
        return 0;
    return xa_chunk_entry(ch, xa_page_of(p));
}

/* Whether p starts region reg of live run r (class c): the start of one of
 * its nregs regions (one multiply, no division), so neither before the run
 * nor in the tail a slab's last region leaves unused (a block there would
 * overlap the next run). A large run is one region. Free runs and dead
 * descriptors carry class XA_CLASS_NONE and fail the caller's class test. */
XA_INLINE bool xa_region_start(const xa_run *r, unsigned c, const void *p, unsigned *reg) {
    uint64_t index;
    bool exact = xa_region_exact(c, (size_t)((const char *)p - r->addr), &index);
    *reg = (unsigned)index;
    return exact && index < r->nregs;
}

/* The run of a live xalloc block p, given p's map entry e; NULL when p does
 * not start one (foreign, interior, free run, header, or a region the slab
 * bitmap says is free: a double free). The class comes from the entry and
 * must be the descriptor's (interior entries of free and large runs may be
 * stale). A class byte past the last class (XA_CLASS_NONE) fails the
 * region test. Large runs read as bit 0 taken (arena.c clears that word),
 * so one test serves both kinds. */
XA_INLINE xa_run *xa_live_run(uintptr_t e, const void *p) {
    xa_run *r = xa_map_run(e);
    unsigned c = xa_map_class(e), reg;
    if (unlikely(r == NULL || r->sizeclass != c ||
                 !xa_region_start(r, c, p, &reg) || xa_bitmap_is_free(&r->bitmap, reg)))
        return NULL;
    return r;
}

XA_INLINE xa_run *xa_lookup_fast(const void *p) {
    return xa_live_run(xa_map_entry_of(xa_chunk_of(p), p), p);
}

/* xa_live_run for the free fast path: the region must be one its slab has
 * handed out (below the high-water mark), and the bitmap is not read. A
 * region free in its slab holds the free mark (freemark.h), which sends
 * it on to the slow path's checks; one never handed out fails here, and
 * xa_free_slow reports it. */
XA_INLINE xa_run *xa_freed_run(uintptr_t e, const void *p) {
    xa_run *r = xa_map_run(e);
    unsigned c = xa_map_class(e);
    uint64_t index;
    if (unlikely(r == NULL || r->sizeclass != c ||
                 !xa_region_exact(c, (size_t)((const char *)p - r->addr), &index) ||
                 index >= __atomic_load_n(&r->hwm, __ATOMIC_RELAXED)))
        return NULL;
    return r;
}

/* Fast: a live block of this thread's arena goes onto its class's cache
 * stack; another arena's small block onto the queue that takes it home;
 * either way it gets the free mark. A block that cannot be cached that
 * way (a full bin or queue, a large class, a block already marked free,
 * no cache yet) goes on validated, without a second lookup; anything
 * else (a bad pointer, NULL, huge) takes the slow path. The validation
 * (ending with the relaxed atomic high-water mark read) comes first, the
 * bin after it, so little stays live across the atomic load. */
XA_INLINE void xa_free(void *p) {
    const xa_chunk *ch = xa_chunk_of(p);
    uintptr_t e = xa_map_entry_of(ch, p);
    unsigned c = xa_map_class(e);
    xa_run *r = xa_freed_run(e, p);
    if (unlikely(r == NULL)) {
        xa_free_slow(p);
        return;
    }
    xa_tsd *t = &xa_tls;
    xa_tbin *b = &t->bins[c];
    /* Opaque to the compiler, so it keeps the address in a register rather
     * than recomputing it from the thread pointer for the final store. */
    __asm__("" : "+r"(b));
    void **sp = b->sp;
    if (unlikely(sp >= b->limit || xa_block_marked(p)))
        goto slow;
    /* r->sizeclass (equal to c): with c itself GCC keeps a copy of it live
     * through the local path, one more instruction there. */
    if (unlikely(r->arena != xa_tbin_home(b)) && !xa_tcache_keeps_foreign(b, r->sizeclass)) {
        unsigned nf = t->nforeign;              /* another arena's: queue it home */
        if (unlikely(nf == XA_FOREIGN_MAX))
            goto slow;
        t->foreign[nf] = p;
        t->nforeign = nf + 1;
        xa_block_mark(p);
        return;
    }
    *sp = p;
    xa_block_mark(p);
    b->top = p;
    b->sp = sp + 1;
    t->last_free_bin = (uintptr_t)b;
    return;
slow:
    xa_free_live(p, r);
}

#endif
