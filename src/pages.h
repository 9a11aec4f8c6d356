/* The operating-system layer: the only part that maps, unmaps or advises
 * memory. Everything above it asks for pages here. */
#ifndef XA_PAGES_H
#define XA_PAGES_H

#include "xa_common.h"

/* size and alignment are multiples of the page size; alignment a power of
 * two. Returns NULL (errno untouched by design of the caller) on failure. */
void *xa_pages_map(size_t size, size_t alignment);
void  xa_pages_unmap(void *addr, size_t size);
/* size bytes of zeros, read-only: no commit charge, and reads of pages
 * never made writable map the shared zero page. NULL on failure. */
void *xa_pages_reserve_zeros(size_t size);
/* Make [addr, addr + size) of such a reservation writable (charged from
 * then on); false when the OS refuses. */
bool  xa_pages_make_writable(void *addr, size_t size);
/* Give the pages back to the OS; they read as zero afterwards. */
void  xa_pages_purge(void *addr, size_t size);
/* Grow or shrink a mapping in place; false when the neighbour is taken. */
bool  xa_pages_resize_in_place(void *addr, size_t old_size, size_t new_size);
/* Move a mapping's pages to new_addr (which must be a mapping of new_size
 * that this call replaces) without copying them. */
bool  xa_pages_move(void *old_addr, size_t old_size, void *new_addr, size_t new_size);

/* Map [addr, addr + size) again if a failed move left it unmapped (kernels
 * before 6.17 unmap the destination first); never replaces a mapping.
 * Reports and aborts when the range was taken by someone else meanwhile. */
void  xa_pages_ensure_mapped(void *addr, size_t size);
/* Whether xa_pages_move accepts a range made of several kernel mappings;
 * the probe's answer is cached in xa_pages_move_spans_known, which tests
 * set to -1 to take the path of kernels before 6.17. */
bool  xa_pages_move_spans_mappings(void);
extern int xa_pages_move_spans_known;

enum xa_thp_mode { XA_THP_DEFAULT, XA_THP_ALWAYS, XA_THP_NEVER };
void xa_pages_set_thp(void *addr, size_t size, int mode);

#endif
