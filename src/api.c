/* The exported entry points: argument checks, errno, then one call into
 * the core. Every function exists as xalloc_<name>; built with
 * XALLOC_INTERPOSE the standard names (and the glibc-internal ones some
 * code calls directly) are aliases of the same code. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include "xalloc.h"
#include "alloc.h"
#include "arena.h"
#include "tcache.h"

#define XA_EXPORT __attribute__((visibility("default")))

static bool is_pow2(size_t x) {
    return x && !(x & (x - 1));
}

XA_EXPORT void *xalloc_malloc(size_t size) {
    return xa_malloc(size);
}

XA_EXPORT void xalloc_free(void *ptr) {
    xa_free(ptr);
}

XA_EXPORT void *xalloc_calloc(size_t nmemb, size_t size) {
    return xa_calloc(nmemb, size);
}

XA_EXPORT void *xalloc_realloc(void *ptr, size_t size) {
    return xa_realloc(ptr, size);
}

XA_EXPORT void *xalloc_reallocarray(void *ptr, size_t nmemb, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return xa_realloc(ptr, total);
}

XA_EXPORT int xalloc_posix_memalign(void **memptr, size_t alignment, size_t size) {
    if (!is_pow2(alignment) || alignment % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    void *p = xa_aligned_alloc(alignment, size);
    errno = saved;
    if (p == NULL)
        return ENOMEM;
    *memptr = p;
    return 0;
}

XA_EXPORT void *xalloc_aligned_alloc(size_t alignment, size_t size) {
    if (!is_pow2(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    return xa_aligned_alloc(alignment, size);
}

XA_EXPORT void *xalloc_memalign(size_t alignment, size_t size) {
    return xalloc_aligned_alloc(alignment, size);
}

XA_EXPORT void *xalloc_valloc(size_t size) {
    return xa_aligned_alloc(XA_PAGE, size);
}

XA_EXPORT void *xalloc_pvalloc(size_t size) {
    size_t rounded = XA_ALIGN_UP(size ? size : 1, XA_PAGE);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return xa_aligned_alloc(XA_PAGE, rounded);
}

XA_EXPORT size_t xalloc_malloc_usable_size(void *ptr) {
    return xa_usable_size(ptr);
}

XA_EXPORT void xalloc_free_sized(void *ptr, size_t size) {
    xa_free_sized(ptr, size, true);
}

XA_EXPORT void xalloc_free_aligned_sized(void *ptr, size_t alignment, size_t size) {
    if (ptr && ((uintptr_t)ptr & (alignment - 1)) != 0 && is_pow2(alignment)) {
        xa_free_sized(ptr, SIZE_MAX, false);   /* reports the mismatch */
        return;
    }
    xa_free_sized(ptr, size, false);
}

XA_EXPORT int xalloc_malloc_trim(size_t pad) {
    (void)pad;
    if (!xa_ensure_init())
        return 0;
    if (xa_tls.state == XA_TSD_ACTIVE)
        xa_tcache_flush_all(&xa_tls);
    size_t released = 0;
    for (unsigned i = 0; i < XA_MAX_ARENAS; i++) {
        xa_arena *a = __atomic_load_n(&xa_arenas[i], __ATOMIC_ACQUIRE);
        if (a == NULL)
            continue;
        xa_mutex_lock(&a->lock);
        released += xa_arena_purge(a, true);
        xa_mutex_unlock(&a->lock);
    }
    return released != 0;
}

XA_EXPORT int xalloc_owns(const void *ptr) {
    return xa_owns(ptr);
}

XA_EXPORT int xalloc_mallopt(int param, int value) {
    (void)value;
    switch (param) {
    case M_ARENA_MAX:        /* glibc's own tests rely on these being accepted */
    case M_ARENA_TEST:
    case M_TRIM_THRESHOLD:   /* accepted; xalloc purges by decay instead */
    case M_TOP_PAD:
    case M_MMAP_THRESHOLD:
    case M_MMAP_MAX:
        return 1;
    default:
        return 0;
    }
}

#ifdef XALLOC_INTERPOSE
#define XA_ALIAS(target) XA_EXPORT __attribute__((alias(#target)))

void *malloc(size_t) XA_ALIAS(xalloc_malloc);
void free(void *) XA_ALIAS(xalloc_free);
void cfree(void *) XA_ALIAS(xalloc_free);
void *calloc(size_t, size_t) XA_ALIAS(xalloc_calloc);
void *realloc(void *, size_t) XA_ALIAS(xalloc_realloc);
void *reallocarray(void *, size_t, size_t) XA_ALIAS(xalloc_reallocarray);
int posix_memalign(void **, size_t, size_t) XA_ALIAS(xalloc_posix_memalign);
void *aligned_alloc(size_t, size_t) XA_ALIAS(xalloc_aligned_alloc);
void *memalign(size_t, size_t) XA_ALIAS(xalloc_memalign);
void *valloc(size_t) XA_ALIAS(xalloc_valloc);
void *pvalloc(size_t) XA_ALIAS(xalloc_pvalloc);
size_t malloc_usable_size(void *) XA_ALIAS(xalloc_malloc_usable_size);
void free_sized(void *, size_t) XA_ALIAS(xalloc_free_sized);
void free_aligned_sized(void *, size_t, size_t) XA_ALIAS(xalloc_free_aligned_sized);
int malloc_trim(size_t) XA_ALIAS(xalloc_malloc_trim);
int mallopt(int, int) XA_ALIAS(xalloc_mallopt);

/* glibc-internal names that some programs and libraries call directly. */
void *__libc_malloc(size_t) XA_ALIAS(xalloc_malloc);
void __libc_free(void *) XA_ALIAS(xalloc_free);
void *__libc_calloc(size_t, size_t) XA_ALIAS(xalloc_calloc);
void *__libc_realloc(void *, size_t) XA_ALIAS(xalloc_realloc);
void *__libc_memalign(size_t, size_t) XA_ALIAS(xalloc_memalign);
void *__libc_valloc(size_t) XA_ALIAS(xalloc_valloc);
void *__libc_pvalloc(size_t) XA_ALIAS(xalloc_pvalloc);
int __posix_memalign(void **, size_t, size_t) XA_ALIAS(xalloc_posix_memalign);
#endif
