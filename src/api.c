/* The exported entry points: argument checks, errno, then one call into
 * the core. Every function exists as xalloc_<name>; built with
 * XALLOC_INTERPOSE the standard names (and the glibc-internal ones some
 * code calls directly) are aliases of the same code. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include "xalloc.h"
#include "alloc.h"
#include "arena.h"
#include "purge.h"
#include "stats.h"
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
    size_t released = xa_purge_all();
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

XA_EXPORT void xalloc_stats_print(void (*write_cb)(void *, const char *), void *opaque,
                                  const char *opts) {
    xa_stats_print(write_cb, opaque, opts);
}

/* ---- glibc's introspection, filled from xalloc's own statistics -------- */

XA_EXPORT struct mallinfo2 xalloc_mallinfo2(void) {
    xa_stats s;
    xa_stats_collect(&s, NULL);
    struct mallinfo2 mi = {0};
    size_t arena_mapped = s.mapped - s.huge_allocated;
    size_t arena_used = s.allocated - s.huge_allocated;
    mi.arena = arena_mapped;              /* non-mmapped space: our chunks */
    mi.ordblks = 1;
    mi.hblks = s.huge_nblocks;            /* mmapped blocks: huge ones */
    mi.hblkhd = s.huge_allocated;
    mi.uordblks = arena_used;             /* in use in chunks */
    mi.fordblks = arena_mapped - arena_used;
    mi.keepcost = s.dirty;                /* what malloc_trim would release */
    return mi;
}

static int clamp_int(size_t v) {
    return v > INT32_MAX ? INT32_MAX : (int)v;
}

XA_EXPORT struct mallinfo xalloc_mallinfo(void) {
    struct mallinfo2 m = xalloc_mallinfo2();
    struct mallinfo mi = {
        .arena = clamp_int(m.arena), .ordblks = clamp_int(m.ordblks),
        .hblks = clamp_int(m.hblks), .hblkhd = clamp_int(m.hblkhd),
        .uordblks = clamp_int(m.uordblks), .fordblks = clamp_int(m.fordblks),
        .keepcost = clamp_int(m.keepcost),
    };
    return mi;
}

/* glibc's layout, so scripts that parse malloc_stats output keep working. */
XA_EXPORT void xalloc_malloc_stats(void) {
    xa_stats s;
    xa_arena_stats *per = NULL;
    xa_stats_collect(&s, per);
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "Arena 0:\nsystem bytes     = %10zu\nin use bytes     = %10zu\n"
                     "Total (incl. mmap):\nsystem bytes     = %10zu\nin use bytes     = %10zu\n"
                     "max mmap regions = %10zu\nmax mmap bytes   = %10zu\n",
                     s.mapped - s.huge_allocated, s.allocated - s.huge_allocated, s.mapped,
                     s.allocated, s.huge_nblocks, s.huge_allocated);
    if (n > 0)
        fwrite(buf, 1, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, stderr);
}

XA_EXPORT int xalloc_malloc_info(int options, FILE *fp) {
    if (options != 0 || fp == NULL) {
        errno = EINVAL;
        return -1;
    }
    xa_stats s;
    xa_stats_collect(&s, NULL);
    fprintf(fp, "<malloc version=\"xalloc-%s\">\n", XALLOC_VERSION);
    fprintf(fp, "<total type=\"allocated\" size=\"%zu\"/>\n", s.allocated);
    fprintf(fp, "<total type=\"active\" size=\"%zu\"/>\n", s.active);
    fprintf(fp, "<total type=\"resident\" size=\"%zu\"/>\n", s.resident);
    fprintf(fp, "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n", s.huge_nblocks, s.huge_allocated);
    fprintf(fp, "<system type=\"current\" size=\"%zu\"/>\n", s.mapped);
    fprintf(fp, "<system type=\"max\" size=\"%zu\"/>\n", s.mapped);
    fprintf(fp, "<aspace type=\"total\" size=\"%zu\"/>\n", s.mapped);
    fprintf(fp, "<aspace type=\"mprotect\" size=\"%zu\"/>\n", s.mapped);
    fprintf(fp, "</malloc>\n");
    return 0;
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
struct mallinfo2 mallinfo2(void) XA_ALIAS(xalloc_mallinfo2);
struct mallinfo mallinfo(void) XA_ALIAS(xalloc_mallinfo);
void malloc_stats(void) XA_ALIAS(xalloc_malloc_stats);
int malloc_info(int, FILE *) XA_ALIAS(xalloc_malloc_info);

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
