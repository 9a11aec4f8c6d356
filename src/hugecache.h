/* The cache of freed huge mappings: address ranges whose pages are still
 * resident, kept for reuse so that a program freeing and allocating huge
 * blocks in a loop does not pay an mmap, a munmap and a page fault per page
 * every time. A request is served from one cached range when one fits
 * (in place when it is 4 MiB-aligned), otherwise the pages of several
 * ranges are moved with mremap onto a fresh aligned range: the kernel moves
 * page-table entries, nothing is copied and nothing faults again.
 *
 * Bounded twice: the cached bytes plus the live huge bytes stay within the
 * peak of live huge bytes over the last two decay periods (at least 16 MiB),
 * so caching never raises the peak of huge memory; and a range goes back to
 * the OS dirty_decay_ms after it was freed. */
#ifndef XA_HUGECACHE_H
#define XA_HUGECACHE_H

#include "xa_common.h"

/* The live huge bytes, kept here for the bound above. */
void xa_hugecache_live_add(size_t bytes);
void xa_hugecache_live_sub(size_t bytes);

/* Keep [addr, addr + size) (page multiples); false when the caller must
 * unmap it itself (caching off, or the range alone exceeds the bound). */
bool xa_hugecache_put(char *addr, size_t size);
/* A mapping of size bytes aligned to alignment, built from cached ranges;
 * NULL when nothing is cached (or mapping a destination failed).
 * *reused_bytes: how many of its bytes came from the cache (not zero). */
void *xa_hugecache_take(size_t size, size_t alignment, size_t *reused_bytes);
/* Fill [dst, dst + size), already mapped, with cached pages moved there;
 * returns how many leading bytes were filled. */
size_t xa_hugecache_fill(char *dst, size_t size);
/* Take exactly [addr, addr + size) if a cached range starts at addr and
 * covers it: in-place growth of the block that ends at addr. */
bool xa_hugecache_take_at(char *addr, size_t size);

/* Unmap cached ranges: all, or those past dirty_decay_ms. Returns pages. */
size_t xa_hugecache_purge(bool all);
size_t xa_hugecache_bytes(void);
bool xa_hugecache_contains(const void *p);

void xa_hugecache_prefork(void);
void xa_hugecache_postfork_parent(void);
void xa_hugecache_postfork_child(void);

#endif
