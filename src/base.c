#include "base.h"
#include "pages.h"

/* The free-list link sits in a freed record's last word, so its first
 * bytes keep what the owner wrote there before freeing it (arena.c marks
 * descriptors dead that way; stale page-map entries may still read them). */
static void **link_of(void *p, size_t size) {
    return (void **)((char *)p + size - sizeof(void *));
}

void *xa_base_alloc(xa_base *b, size_t size) {
    size = XA_ALIGN_UP(size, XA_BASE_QUANTUM);
    size_t list = size / XA_BASE_QUANTUM - 1;
    if (list < XA_BASE_NLISTS && b->free[list]) {
        void *p = b->free[list];
        b->free[list] = *link_of(p, size);
        b->in_use += size;
        return p;
    }
    if ((size_t)(b->end - b->cur) < size) {
        size_t block = size > XA_BASE_BLOCK ? XA_ALIGN_UP(size, XA_PAGE) : XA_BASE_BLOCK;
        char *m = xa_pages_map(block, XA_PAGE);
        if (m == NULL)
            return NULL;
        b->mapped += block;
        if (block > XA_BASE_BLOCK) {      /* oversized: its own mapping */
            b->in_use += size;
            return m;
        }
        b->cur = m;
        b->end = m + block;
    }
    void *p = b->cur;
    b->cur += size;
    b->in_use += size;
    return p;
}

void xa_base_free(xa_base *b, void *p, size_t size) {
    size = XA_ALIGN_UP(size, XA_BASE_QUANTUM);
    size_t list = size / XA_BASE_QUANTUM - 1;
    b->in_use -= size;
    if (list >= XA_BASE_NLISTS)
        return;
    *link_of(p, size) = b->free[list];
    b->free[list] = p;
}
