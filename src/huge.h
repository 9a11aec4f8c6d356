/* Huge allocations (above XA_LARGE_MAX, or aligned beyond what a chunk can
 * host): each its own mapping, aligned to at least 4 MiB so free() tells
 * it from a chunk pointer by its alignment alone. Records live in 16
 * red-black trees keyed by address, sharded by (address >> 22) % 16, each
 * with its own lock: one global tree was jemalloc 3's bottleneck. */
#ifndef XA_HUGE_H
#define XA_HUGE_H

#include "xa_common.h"

#define XA_HUGE_SHARDS 16

void xa_huge_boot(void);

/* size is rounded up to whole pages; alignment is a power of two.
 * *zeroed tells whether the pages are fresh from the OS. */
void *xa_huge_alloc(size_t size, size_t alignment, bool *zeroed);
/* Usable size of the huge block starting at p, 0 when there is none. */
size_t xa_huge_usable(const void *p);
/* False when p is not the start of a live huge block (nothing changes). */
bool xa_huge_free(void *p);
/* Resize in place or move with mremap (no copy); NULL when the OS refuses,
 * p still valid then. newsize must be above XA_LARGE_MAX. */
void *xa_huge_realloc(void *p, size_t newsize);

typedef struct xa_huge_stats {
    size_t allocated;      /* usable bytes */
    size_t nblocks;
    uint64_t nmalloc, nfree;
    size_t meta;           /* bytes of records */
    size_t cached;         /* freed mappings kept for reuse */
} xa_huge_stats;
void xa_huge_stats_get(xa_huge_stats *out);

void xa_huge_prefork(void);
void xa_huge_postfork_parent(void);
void xa_huge_postfork_child(void);

#endif
