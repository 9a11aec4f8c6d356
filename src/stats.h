/* Statistics: gathered on demand from the arenas' and huge shards' own
 * counters (kept under the locks those paths take anyway) and the thread
 * caches' plain per-thread counters, so the fast paths pay nothing. */
#ifndef XA_STATS_H
#define XA_STATS_H

#include "xa_common.h"
#include "sizeclass.h"

typedef struct xa_class_stats {
    uint64_t nrequests, nfills, nflushes, nslabs_created;
    size_t curregs, nslabs;
} xa_class_stats;

typedef struct xa_arena_stats {
    unsigned index;
    size_t allocated_small, allocated_large;   /* bytes */
    size_t active, dirty, mapped, metadata;     /* bytes */
    size_t nchunks;
    uint64_t nlarge_malloc, nlarge_free, npurge_calls, npurged_pages;
    xa_class_stats classes[XA_NSMALL];
} xa_arena_stats;

typedef struct xa_stats {
    size_t allocated;      /* bytes in live blocks (thread-cached ones count) */
    size_t active;         /* bytes in pages holding live blocks */
    size_t resident;       /* active + dirty + metadata: an upper bound */
    size_t mapped;         /* chunks and huge mappings */
    size_t retained;       /* mapped but purged: address space only */
    size_t metadata;       /* chunk headers and descriptor memory */
    size_t dirty;
    size_t huge_allocated, huge_nblocks;
    uint64_t huge_nmalloc, huge_nfree;
    unsigned narenas_used;
} xa_stats;

/* Totals; per_arena (may be NULL) receives one entry per arena in use,
 * at most XA_MAX_ARENAS. Returns the number of entries written. */
unsigned xa_stats_collect(xa_stats *out, xa_arena_stats *per_arena);

/* Where the default writer goes: stderr, or a duplicate of it taken at
 * start-up for stats_print (GNU tools close stderr in their own exit
 * handler, which runs before ours). */
extern int xa_stats_fd;

typedef void (*xa_write_cb)(void *opaque, const char *text);
/* opts: NULL or a string; 'J' gives JSON, 'a' leaves out per-arena
 * sections, 'b' leaves out per-class rows. */
void xa_stats_print(xa_write_cb cb, void *opaque, const char *opts);

void xa_stats_prefork(void);
void xa_stats_postfork_parent(void);
void xa_stats_postfork_child(void);
void xa_ctl_prefork(void);
void xa_ctl_postfork_parent(void);
void xa_ctl_postfork_child(void);

#endif
