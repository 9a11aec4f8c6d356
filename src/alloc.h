/* The allocation and free paths. The fast paths are inline here and fit on
 * one screen: a table lookup and a pop, or a validated push; no lock, no
 * atomic, no division. Everything else is out of line in alloc.c. */
#ifndef XA_ALLOC_H
#define XA_ALLOC_H

#include "tcache.h"
#include "init.h"

void *xa_malloc_slow(size_t size);
void  xa_free_slow(void *p);
void *xa_calloc(size_t nmemb, size_t size);
void *xa_realloc(void *p, size_t size);
/* alignment: a power of two (callers check). */
void *xa_aligned_alloc(size_t alignment, size_t size);
size_t xa_usable_size(const void *p);
/* free with a size the caller promises, checked against the block:
 * exact_class for malloc results, only "fits" for aligned ones. */
void xa_free_sized(void *p, size_t size, bool exact_class);
bool xa_owns(const void *p);

XA_INLINE void *xa_malloc(size_t size) {
    if (likely(size <= XA_SMALL_MAX)) {
        xa_tbin *b = &xa_tls.bins[xa_small_class(size)];
        if (likely(b->n != 0))
            return xa_tbin_pop(b);
    }
    return xa_malloc_slow(size);
}

/* The run of an xalloc block p inside a chunk, NULL when p does not start
 * a live block there (foreign, interior, free run, header, or a region the
 * slab bitmap says is free: a double free). Large runs read as bit 0 taken
 * (arena.c clears that word), so one test serves both kinds. */
XA_INLINE xa_run *xa_lookup_fast(const void *p) {
    uintptr_t off = (uintptr_t)p & XA_CHUNK_MASK;
    unsigned idx = (unsigned)(off >> XA_PAGE_SHIFT) - XA_HEADER_PAGES;
    const xa_chunk *ch = (const xa_chunk *)((uintptr_t)p - off);
    if (unlikely(idx >= XA_USABLE_PAGES || !xa_registry_has(ch)))
        return NULL;
    xa_run *r = ch->map[idx];
    if (unlikely(r == NULL || r->sizeclass >= XA_NCLASSES))
        return NULL;
    size_t roff = (size_t)((const char *)p - r->addr);
    unsigned c = r->sizeclass, reg = xa_region_index(c, roff);
    if (unlikely(roff >= ((size_t)r->npages << XA_PAGE_SHIFT) ||
                 (size_t)reg * xa_class_size[c] != roff ||
                 xa_bitmap_is_free(&r->bitmap, reg)))
        return NULL;
    return r;
}

XA_INLINE void xa_free(void *p) {
    xa_run *r = xa_lookup_fast(p);
    if (unlikely(r == NULL)) {
        xa_free_slow(p);          /* NULL, huge, or a bad pointer */
        return;
    }
    xa_tbin *b = &xa_tls.bins[r->sizeclass];
    if (likely(b->n < b->max && (b->n == 0 || b->stack[b->n - 1] != p))) {
        b->nfree++;
        b->stack[b->n++] = p;
        return;
    }
    xa_free_slow(p);
}

#endif
