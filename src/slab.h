/* Slabs: a run of pages cut into regions of one small class, with a
 * bitmap of which regions are free. The owning bin's lock protects them. */
#ifndef XA_SLAB_H
#define XA_SLAB_H

#include "chunk.h"
#include "freemark.h"
#include "sizeclass.h"

/* Regions of class c that a slab of npages holds: the class's geometry,
 * or more when the slab kept a dirty sliver past it (arena.c). */
unsigned xa_slab_regs(unsigned c, size_t npages);

/* Turn run r (kind, addr, npages already set, a descriptor sized for
 * xa_slab_regs(c, r->npages)) into an empty slab of class c. */
void xa_slab_init(xa_run *r, unsigned c);

/* Move up to want free regions, lowest address first, into out[]. */
unsigned xa_slab_take(xa_run *r, void **out, unsigned want);

/* Region index of p in slab r, or -1 when p is not the start of a region
 * inside r. Cheap: a multiply and a compare, no division. */
XA_INLINE int xa_slab_region_of(const xa_run *r, const void *p) {
    size_t off = (size_t)((const char *)p - r->addr);
    if (off >= (size_t)r->npages << XA_PAGE_SHIFT)
        return -1;
    unsigned idx = xa_region_index(r->sizeclass, off);
    if ((size_t)idx * xa_class_size[r->sizeclass] != off || idx >= r->nregs)
        return -1;
    return (int)idx;
}

/* Mark region idx free. Returns false, changing nothing, when the bitmap
 * says it is free already (a double free). */
XA_INLINE bool xa_slab_put(xa_run *r, unsigned idx) {
    if (unlikely(xa_bitmap_is_free(&r->bitmap, idx)))
        return false;
    xa_bitmap_set_free(&r->bitmap, idx);
    r->nfree++;
    return true;
}

#endif
