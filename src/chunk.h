/* Chunks: 4 MiB of address space, 4 MiB-aligned, owned by one arena. The
 * first two pages are the header: the owning arena and a page map with one
 * entry per page, pointing at the descriptor of the run that covers it and
 * carrying its size class in the low byte. User data never shares a page
 * with metadata.
 *
 *   pointer -> chunk (mask) -> map[page] -> class : one load,
 *                                        -> run descriptor : two.
 *
 * A registry with one bit per 4 MiB of address space tells xalloc's chunks
 * from foreign memory before any header is read. */
#ifndef XA_CHUNK_H
#define XA_CHUNK_H

#include "xa_common.h"
#include "bitmap.h"
#include "rbtree.h"
#include "sizeclass.h"

struct xa_arena;

enum xa_run_kind {
    XA_RUN_FREE  = 1,    /* free pages, in the arena's avail tree */
    XA_RUN_SLAB  = 2,    /* pages cut into regions of one small class */
    XA_RUN_LARGE = 3,    /* one large allocation */
    XA_RUN_PURGING = 4,  /* free, taken out of the trees while madvise runs
                            without the arena lock: neighbours leave it be */
};

/* Marks a descriptor that the free fast path must not trust (free runs):
 * it is above every tcache class, so one compare sends it to the slow path. */
#define XA_CLASS_NONE 0xff

/* A run of pages inside a chunk. Invariants:
 *  - runs tile the usable pages of a chunk; map[] entries of every page of
 *    a slab point at its descriptor; large and free runs guarantee only
 *    their first and last page entries (interior entries may be stale and
 *    are never trusted without the range check: a stale entry names a dead
 *    descriptor (class XA_CLASS_NONE) or one whose range excludes the page);
 *  - a slab's bitmap has nregs bits, set = free; nfree counts them;
 *  - a free run is in arena->avail (ordered by npages, then address) and,
 *    when dirty, on the arena's dirty list. */
typedef struct xa_run {
    uint8_t kind;
    uint8_t sizeclass;        /* slab and large: class; free: XA_CLASS_NONE */
    uint8_t dirty;            /* free: pages may be resident and non-zero */
    uint8_t zeroed;           /* large: pages were known zero when handed out */
    uint16_t nfree;           /* slab: free regions */
    uint16_t nregs;           /* slab: regions in total; large: 1 */
    uint16_t npages;
    uint16_t page;            /* index of the first page in its chunk */
    uint16_t desc_size;       /* bytes of this descriptor, for the base allocator */
    /* The owning arena's index. The free fast path's "is this my arena's
     * block" test reads it here, on the descriptor line it loads anyway,
     * not from the chunk header: the headers of all chunks are 4 MiB
     * aligned, so their first lines share one cache set and evicted each
     * other (bench_oversub: 19 % of its L1 misses on that one word). */
    uint16_t arena;
    /* Slab: the high-water mark, one past the highest region ever taken
     * from it (by a fill). The lowest free region is always taken first,
     * so every region below it has left the slab at least once and none
     * past it has: the free fast path takes no region at or past it.
     * Large: 1. */
    uint16_t hwm;
    char *addr;               /* first byte of the run */
    xa_rb_node node;          /* slab: bin->nonfull; free: arena->avail */
    union {
        struct {              /* free runs */
            struct xa_run *dirty_prev, *dirty_next;
            uint64_t dirty_since_ms;
        };
        xa_bitmap bitmap;     /* slabs: XA_BITMAP_WORDS(nregs) words follow */
    };
} xa_run;

#define XA_RUN_DESC_SIZE (offsetof(xa_run, bitmap) + 3 * sizeof(void *))

/* The fewest pages any run asks for: a slab or the smallest large class.
 * A run cut from a dirty free run may take up to XA_RUN_MIN_PAGES - 1
 * pages beyond what it asked for (arena.c: run_alloc). */
#define XA_RUN_MIN_PAGES (XA_LARGE_MIN >> XA_PAGE_SHIFT)

XA_INLINE size_t xa_slab_desc_size(unsigned nregs) {
    size_t s = offsetof(xa_run, bitmap) + xa_bitmap_size(nregs);
    return s > XA_RUN_DESC_SIZE ? s : XA_RUN_DESC_SIZE;
}

/* The header's first two words stand where the header pages' own map
 * entries would be and read as entries of no class, so the free path
 * indexes the header by page number with no bounds test. */
typedef struct xa_chunk {
    uintptr_t arena_entry;            /* the owning arena, as an entry of no class */
    uintptr_t none_entry;             /* an entry of no class, no descriptor */
    uintptr_t map[XA_USABLE_PAGES];   /* map[i] covers page i + XA_HEADER_PAGES */
} xa_chunk;

/* A map entry: the descriptor's address (below 2^56 in any x86-64 or
 * AArch64 user address space) shifted up a byte, with its class in the
 * low byte, as it was when the entry was set. The free path picks its
 * cache bin from the entry, so the bin's address waits on one load
 * instead of two (the descriptor is read in parallel, for the
 * validation); splitting the entry is a byte move and a shift whose zero
 * flag is the no-descriptor test. Stale entries may carry an old class:
 * readers compare it with the descriptor's. */
#define XA_MAP_CLASS_BITS 8

XA_INLINE uintptr_t xa_map_entry(const xa_run *r) {
    return r ? (uintptr_t)r << XA_MAP_CLASS_BITS | r->sizeclass : 0;
}

XA_INLINE xa_run *xa_map_run(uintptr_t e) {
    return (xa_run *)(e >> XA_MAP_CLASS_BITS);
}

XA_INLINE unsigned xa_map_class(uintptr_t e) {
    return (unsigned)(uint8_t)e;
}

/* The header word of an arena: its address, class XA_CLASS_NONE. */
XA_INLINE uintptr_t xa_arena_entry(const struct xa_arena *a) {
    return (uintptr_t)a << XA_MAP_CLASS_BITS | XA_CLASS_NONE;
}

_Static_assert(offsetof(xa_chunk, map) == XA_HEADER_PAGES * sizeof(uintptr_t),
               "one header word per header page");

_Static_assert(sizeof(xa_chunk) == XA_HEADER_PAGES * XA_PAGE, "chunk header is two pages");

XA_INLINE xa_chunk *xa_chunk_of(const void *p) {
    return (xa_chunk *)((uintptr_t)p & ~(uintptr_t)XA_CHUNK_MASK);
}

XA_INLINE unsigned xa_page_of(const void *p) {
    return (unsigned)(((uintptr_t)p & XA_CHUNK_MASK) >> XA_PAGE_SHIFT);
}

XA_INLINE struct xa_arena *xa_chunk_arena(const xa_chunk *ch) {
    return (struct xa_arena *)xa_map_run(ch->arena_entry);
}

/* The map entry of any page of ch, header pages included (no class). */
XA_INLINE uintptr_t xa_chunk_entry(const xa_chunk *ch, unsigned page) {
    return ((const uintptr_t *)ch)[page];
}

XA_INLINE xa_run *xa_chunk_map_get(const xa_chunk *ch, unsigned page) {
    return xa_map_run(ch->map[page - XA_HEADER_PAGES]);
}

/* Set r's class first: the entry keeps a copy. */
XA_INLINE void xa_chunk_map_set(xa_chunk *ch, unsigned page, xa_run *r) {
    ch->map[page - XA_HEADER_PAGES] = xa_map_entry(r);
}

/* The registry: byte i is 1 when [i * 4 MiB, (i + 1) * 4 MiB) is an
 * arena chunk. 2^47 bytes / 4 MiB = 2^25 bytes, reserved read-only at the
 * first chunk (chunk.c): reads of the parts never written see the shared
 * zero page and nothing is charged to the commit limit until a page of it
 * holds a chunk's byte (one 4 KiB page per 16 GiB of address space with
 * chunks). Until then the limit is 0 and nothing is registered, so the
 * test is valid before any initialisation (free of a foreign pointer from
 * a constructor that runs before xalloc's). A byte, not a bit: free tests
 * it with a load and a compare, no word index and bit test
 * (bench_fastpath freed-at-once -5 %, pair -2 %). */
#define XA_REGISTRY_BYTES ((uint64_t)1 << (47 - XA_CHUNK_SHIFT))
extern XA_INTERNAL uint64_t xa_registry_limit;   /* XA_REGISTRY_BYTES once reserved, else 0 */
extern XA_INTERNAL const uint8_t *xa_registry;

XA_INLINE bool xa_registry_has(const void *chunk) {
    uint64_t i = (uintptr_t)chunk >> XA_CHUNK_SHIFT;
    if (unlikely(i >= __atomic_load_n(&xa_registry_limit, __ATOMIC_ACQUIRE)))
        return false;
    return __atomic_load_n(&__atomic_load_n(&xa_registry, __ATOMIC_RELAXED)[i],
                           __ATOMIC_RELAXED) != 0;
}

/* Map a fresh chunk for arena with the given enum xa_thp_mode advice;
 * registers it. NULL when the OS refuses. */
xa_chunk *xa_chunk_new(struct xa_arena *arena, int thp);
/* Unregister and unmap. */
void xa_chunk_delete(xa_chunk *ch);

#endif
