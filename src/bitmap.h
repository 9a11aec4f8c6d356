/* Slab occupancy bitmaps, two levels: a set bit in words[] marks a free
 * region, a set bit in the summary marks a word with at least one free
 * region. Find-first-free is two ctz instructions for up to 4096 regions.
 *
 * Writers hold the bin lock. The free fast path reads one bit without it
 * (is my block still taken?), so words are read and written with relaxed
 * atomics: plain moves on x86, but no torn or invented values. */
#ifndef XA_BITMAP_H
#define XA_BITMAP_H

#include "xa_common.h"

#define XA_BITMAP_MAX_BITS 4096
#define XA_BITMAP_WORDS(nbits) (((nbits) + 63) / 64)

typedef struct xa_bitmap {
    uint64_t summary;
    uint64_t words[];
} xa_bitmap;

XA_INLINE size_t xa_bitmap_size(unsigned nbits) {
    return sizeof(xa_bitmap) + XA_BITMAP_WORDS(nbits) * sizeof(uint64_t);
}

XA_INLINE uint64_t xa_bitmap_word_get(const xa_bitmap *b, unsigned w) {
    return __atomic_load_n(&b->words[w], __ATOMIC_RELAXED);
}

XA_INLINE void xa_bitmap_word_set(xa_bitmap *b, unsigned w, uint64_t v) {
    __atomic_store_n(&b->words[w], v, __ATOMIC_RELAXED);
}

/* All nbits free. */
static inline void xa_bitmap_init_full(xa_bitmap *b, unsigned nbits) {
    unsigned nw = XA_BITMAP_WORDS(nbits);
    for (unsigned i = 0; i < nw; i++)
        xa_bitmap_word_set(b, i, ~(uint64_t)0);
    if (nbits % 64)
        xa_bitmap_word_set(b, nw - 1, ((uint64_t)1 << (nbits % 64)) - 1);
    b->summary = nw == 64 ? ~(uint64_t)0 : (((uint64_t)1 << nw) - 1);
}

XA_INLINE bool xa_bitmap_is_free(const xa_bitmap *b, unsigned bit) {
    return (xa_bitmap_word_get(b, bit / 64) >> (bit % 64)) & 1;
}

XA_INLINE bool xa_bitmap_any(const xa_bitmap *b) {
    return b->summary != 0;
}

/* Index of the lowest free bit, marked used; the bitmap must not be full. */
XA_INLINE unsigned xa_bitmap_take_first(xa_bitmap *b) {
    unsigned w = (unsigned)__builtin_ctzll(b->summary);
    uint64_t word = xa_bitmap_word_get(b, w);
    unsigned bit = (unsigned)__builtin_ctzll(word);
    word &= word - 1;
    xa_bitmap_word_set(b, w, word);
    if (word == 0)
        b->summary &= ~((uint64_t)1 << w);
    return w * 64 + bit;
}

XA_INLINE void xa_bitmap_set_free(xa_bitmap *b, unsigned bit) {
    unsigned w = bit / 64;
    xa_bitmap_word_set(b, w, xa_bitmap_word_get(b, w) | (uint64_t)1 << (bit % 64));
    b->summary |= (uint64_t)1 << w;
}

#endif
