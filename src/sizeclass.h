/* Size classes: 8, 16, 32, 48, 64, 80, 96, 112, 128, then 4 classes per
 * doubling. Small classes (up to 14 KiB) live in slabs; large classes
 * (16 KiB to 2 MiB, page multiples) are page runs; above that is huge. */
#ifndef XA_SIZECLASS_H
#define XA_SIZECLASS_H

#include "xa_common.h"

#define XA_NSMALL      36
#define XA_NLARGE      29
#define XA_NCLASSES    (XA_NSMALL + XA_NLARGE)
#define XA_SMALL_MAX   ((size_t)14336)
#define XA_LARGE_MIN   ((size_t)16384)
#define XA_LARGE_MAX   ((size_t)2 << 20)
#define XA_SLAB_MAX_PAGES 16
/* Classes under a cache line (8, 16, 32, 48 B): two threads' blocks of
 * these can share a line, so they never cross from one arena's threads to
 * another's (passive false sharing). test_sizeclass checks the count. */
#define XA_SUBLINE_CLASSES 4

/* Slab geometry of a small class: chosen so the tail left over after the
 * last region is at most 1/64 of the slab. */
typedef struct xa_slab_geom {
    uint16_t pages;
    uint16_t nregs;
} xa_slab_geom;

extern uint32_t xa_class_size[XA_NCLASSES];
/* Per class, magic = floor((2^64 - 1) / size) + 1: for an offset below
 * 2^32, offset / size is the high half of the 128-bit product
 * offset * magic, and size divides offset exactly when the low half is
 * below magic (Lemire, Kaser and Kurz, "Faster remainder by direct
 * computation", 2019). One multiply gives the free path both the region
 * index and whether the pointer starts a region. The table covers every
 * value of a class byte; past the last class magic is 0, so no offset is
 * exact and the free path needs no range test of the class it reads from
 * a page map entry. */
#define XA_CLASS_BYTE_VALUES 256
extern uint64_t xa_class_magic[XA_CLASS_BYTE_VALUES];
extern xa_slab_geom xa_slab_geom_of[XA_NSMALL];
/* (size + 7) / 8 -> class for sizes up to XA_SMALL_MAX, padded to a power
 * of two so the index mask below proves every read in bounds. */
#define XA_LOOKUP_SIZE 2048
extern uint8_t xa_class_lookup[XA_LOOKUP_SIZE];

void xa_sizeclass_init(void);

/* Class of a small size (n <= XA_SMALL_MAX): one table load. A relaxed
 * atomic load (a plain byte load on x86): a thread's first malloc may read
 * the table while another thread is still writing it in bootstrap; the
 * value is then unused (that thread's cache is empty), but the read must
 * not be a data race. */
XA_INLINE unsigned xa_small_class(size_t n) {
    /* Callers pass n <= XA_SMALL_MAX; the mask changes nothing then, and
     * keeps GCC's object-size warnings quiet about constant arguments. */
    size_t i = ((n + 7) >> 3) & (XA_LOOKUP_SIZE - 1);
    return __atomic_load_n(&xa_class_lookup[i], __ATOMIC_RELAXED);
}

/* Class of any size up to XA_LARGE_MAX. */
XA_INLINE unsigned xa_size_class(size_t n) {
    if (likely(n <= XA_SMALL_MAX))
        return xa_small_class(n);
    if (n <= XA_LARGE_MIN)
        return XA_NSMALL;
    size_t x = n - 1;
    unsigned k = 63 - (unsigned)__builtin_clzll(x);   /* 2^k <= x < 2^(k+1) */
    unsigned step = (unsigned)(x >> (k - 2));          /* 4..7 */
    return XA_NSMALL + (k - 14) * 4 + (step - 4) + 1;
}

/* Region index of a byte offset inside a run of class c (exact for every
 * offset inside a slab; for large runs only offset 0 maps back to 0). */
XA_INLINE unsigned xa_region_index(unsigned c, size_t offset) {
    return (unsigned)(((unsigned __int128)offset * xa_class_magic[c]) >> 64);
}

/* Whether offset is a multiple of class c's size, with offset / size in
 * *index. Exact below 2^32; larger offsets (a pointer before the run
 * wraps to one) give an index of at least 2^32 / size, past every run's
 * region count, which the caller compares. */
XA_INLINE bool xa_region_exact(unsigned c, size_t offset, uint64_t *index) {
    uint64_t magic = xa_class_magic[c];
    unsigned __int128 q = (unsigned __int128)offset * magic;
    *index = (uint64_t)(q >> 64);
    return (uint64_t)q < magic;
}

#endif
