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
int   xalloc_mallopt(int param, int value);
void  xalloc_malloc_stats(void);

/* Nonzero when ptr lies in memory that xalloc manages (a small or large
 * block inside one of its chunks, or the start of a huge block). Never
 * touches memory xalloc does not own, so it is safe on any pointer. */
int xalloc_owns(const void *ptr);

/* Named values, jemalloc mallctl-style. Read with oldp/oldlenp (the length
 * must equal the value's size), write with newp/newlen. Returns 0, or
 * ENOENT (unknown name), EINVAL (wrong length or value), EPERM (read-only).
 *   "version"              const char *
 *   "epoch"                uint64_t; reading or writing refreshes stats.*
 *   "stats.allocated", "stats.active", "stats.resident", "stats.mapped",
 *   "stats.retained", "stats.metadata", "stats.dirty"        size_t, bytes
 *   "arenas.narenas"       unsigned
 *   "thread.allocated", "thread.deallocated"   uint64_t, this thread's bytes
 *   "thread.tcache.flush"  action: empty the calling thread's cache
 *   "arena.purge"          action: return every arena's dirty pages now */
int xallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

/* Human-readable statistics, or JSON when opts contains 'J'; 'a' omits the
 * per-arena sections, 'b' the per-class rows. write_cb NULL writes to stderr. */
void xalloc_stats_print(void (*write_cb)(void *opaque, const char *text), void *opaque,
                        const char *opts);

/* Defaults compiled into a program, in XALLOC_CONF syntax; define it as
 *   const char *xalloc_conf = "narenas:2,dirty_decay_ms:0";
 * The XALLOC_CONF environment variable is applied after it and wins. */
extern const char *xalloc_conf;

#ifdef __cplusplus
}
#endif

#endif /* XALLOC_H */
