/* The metadata allocator: run descriptors, huge-block records, arenas and
 * other bookkeeping come from here, never from the user heap, so no user
 * write can reach them. Memory comes in 64 KiB blocks from the OS, carved
 * by a bump pointer, recycled through free lists per 16-byte size.
 *
 * An xa_base has no lock of its own: its owner's lock protects it (the
 * arena lock for an arena's base, a huge shard's lock for its base). */
#ifndef XA_BASE_H
#define XA_BASE_H

#include "xa_common.h"

#define XA_BASE_QUANTUM   16
#define XA_BASE_NLISTS    64          /* recycled sizes: 16 .. 1024 bytes */
#define XA_BASE_BLOCK     ((size_t)64 << 10)

typedef struct xa_base {
    char *cur, *end;                  /* bump region of the current block */
    void *free[XA_BASE_NLISTS];       /* singly linked, by size / 16 - 1 */
    size_t mapped;                    /* bytes taken from the OS */
    size_t in_use;                    /* bytes handed out and not freed */
} xa_base;

/* Returns memory of at least size bytes, 16-byte aligned, or NULL when the
 * OS refuses. Contents are unspecified. */
void *xa_base_alloc(xa_base *b, size_t size);
/* Only sizes up to 1024 bytes are recycled; bigger records live forever.
 * A freed record's first size - 8 bytes stay as the owner left them. */
void  xa_base_free(xa_base *b, void *p, size_t size);

#endif
