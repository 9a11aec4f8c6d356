/* Constants and small macros shared by every part of xalloc. */
#ifndef XA_COMMON_H
#define XA_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define XA_INLINE   static inline __attribute__((always_inline))
#define XA_NOINLINE __attribute__((noinline))
#define XA_COLD     __attribute__((noinline, cold))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define XA_CACHELINE 64
/* On declarations of data the fast paths read: -fvisibility=hidden covers
 * definitions only, and a declaration the compiler may think preemptible
 * is reached through the GOT (a lea, then the load) instead of directly. */
#define XA_INTERNAL __attribute__((visibility("hidden")))

/* Pages and chunks: chunks are 4 MiB, 4 MiB-aligned; the first
 * XA_HEADER_PAGES pages of a chunk hold its header and page map. */
#define XA_PAGE_SHIFT   12
#define XA_PAGE         ((size_t)1 << XA_PAGE_SHIFT)
#define XA_PAGE_MASK    (XA_PAGE - 1)
#define XA_CHUNK_SHIFT  22
#define XA_CHUNK        ((size_t)1 << XA_CHUNK_SHIFT)
#define XA_CHUNK_MASK   (XA_CHUNK - 1)
#define XA_CHUNK_PAGES  (XA_CHUNK >> XA_PAGE_SHIFT)
#define XA_HEADER_PAGES 2
#define XA_USABLE_PAGES (XA_CHUNK_PAGES - XA_HEADER_PAGES)

/* Results of size >= 16 are 16-byte aligned (max_align_t). */
#define XA_MIN_ALIGN 16

#define XA_ALIGN_UP(x, a)   (((x) + ((a) - 1)) & ~((uintptr_t)(a) - 1))
#define XA_ALIGN_DOWN(x, a) ((x) & ~((uintptr_t)(a) - 1))

#endif
