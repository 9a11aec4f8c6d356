/* xalloc: a jemalloc-style general-purpose memory allocator.
 *
 * Linking with -lxalloc or preloading libxalloc.so replaces malloc, free and
 * the rest of the standard family. Every entry point also exists under an
 * xalloc_ name, so a program (or a test) can reach the allocator directly
 * without interposing the C library's symbols. */
#ifndef XALLOC_H
#define XALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XALLOC_VERSION_MAJOR 0
#define XALLOC_VERSION_MINOR 1
#define XALLOC_VERSION_PATCH 0
#define XALLOC_VERSION "0.1.0"

void *xalloc_malloc(size_t size);
void  xalloc_free(void *ptr);
void *xalloc_calloc(size_t nmemb, size_t size);
void *xalloc_realloc(void *ptr, size_t size);
void *xalloc_reallocarray(void *ptr, size_t nmemb, size_t size);
int   xalloc_posix_memalign(void **memptr, size_t alignment, size_t size);
void *xalloc_aligned_alloc(size_t alignment, size_t size);
void *xalloc_memalign(size_t alignment, size_t size);
void *xalloc_valloc(size_t size);
void *xalloc_pvalloc(size_t size);
size_t xalloc_malloc_usable_size(void *ptr);
void  xalloc_free_sized(void *ptr, size_t size);
void  xalloc_free_aligned_sized(void *ptr, size_t alignment, size_t size);
int   xalloc_malloc_trim(size_t pad);

/* Nonzero when ptr lies in memory that xalloc manages (a small or large
 * block inside one of its chunks, or the start of a huge block). Never
 * touches memory xalloc does not own, so it is safe on any pointer. */
int xalloc_owns(const void *ptr);

#ifdef __cplusplus
}
#endif

#endif /* XALLOC_H */
