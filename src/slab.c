#include "slab.h"

unsigned xa_slab_regs(unsigned c, size_t npages) {
    size_t n = (npages << XA_PAGE_SHIFT) / xa_class_size[c];
    return n < XA_BITMAP_MAX_BITS ? (unsigned)n : XA_BITMAP_MAX_BITS;
}

void xa_slab_init(xa_run *r, unsigned c) {
    r->kind = XA_RUN_SLAB;
    r->sizeclass = (uint8_t)c;
    r->nregs = (uint16_t)xa_slab_regs(c, r->npages);
    r->nfree = r->nregs;
    xa_bitmap_init_full(&r->bitmap, r->nregs);
}

unsigned xa_slab_take(xa_run *r, void **out, unsigned want) {
    size_t size = xa_class_size[r->sizeclass];
    unsigned n = want < r->nfree ? want : r->nfree;
    unsigned hwm = r->hwm;
    for (unsigned i = 0; i < n; i++) {
        unsigned idx = xa_bitmap_take_first(&r->bitmap);
        out[i] = r->addr + (size_t)idx * size;
        if (idx >= hwm)
            hwm = idx + 1;
    }
    r->nfree -= (uint16_t)n;
    __atomic_store_n(&r->hwm, (uint16_t)hwm, __ATOMIC_RELAXED);   /* the free path reads it unlocked */
    return n;
}
