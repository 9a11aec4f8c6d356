/* The slow paths: first use, cache misses and overflows, large and huge
 * blocks, alignment, realloc, and the diagnosis of bad pointers. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include "alloc.h"
#include "conf.h"
#include "huge.h"
#include "hugecache.h"
#include "report.h"
#include "slab.h"

static xa_arena *arena_for_thread(void) {
    xa_tsd *t = xa_tsd_get();
    return t ? t->arena : xa_arena_get(0);
}

/* A block of class c straight from the arena, bypassing the cache; NULL
 * when no arena could be created (out of memory at the first call). */
static void *arena_alloc(xa_arena *a, unsigned c, bool *zeroed) {
    if (unlikely(a == NULL))
        return NULL;
    if (c < XA_NSMALL) {
        void *p;
        *zeroed = false;
        if (!xa_arena_fill(a, c, &p, 1, 1))
            return NULL;
        xa_block_unmark(p);           /* it may have been cached before */
        return p;
    }
    return xa_arena_large_alloc(a, c, XA_PAGE, zeroed);
}

static void arena_free(xa_run *r, void *p) {
    xa_arena *a = xa_chunk_arena(xa_chunk_of(p));
    if (r->sizeclass < XA_NSMALL)
        xa_arena_small_free(a, r->sizeclass, &p, 1);
    else
        xa_arena_large_free(a, r);
}

static void *oom(void) {
    errno = ENOMEM;
    return NULL;
}

/* junk:true fills fresh blocks with 0xa5 and freed ones with 0x5a, so
 * reads of uninitialised or freed memory show. It turns the thread caches
 * off (tcache.c), so every block passes through these slow paths. */
static void *junk_fresh(void *p, size_t usable) {
    if (unlikely(xa_opt.junk) && p)
        memset(p, 0xa5, usable);
    return p;
}

static void count_direct_alloc(size_t bytes) {
    xa_tls.direct_allocated += bytes;
}

/* An in-place resize counts as freeing the old block and allocating the
 * new one, as jemalloc's thread.allocated does. */
static void count_resize(size_t old, size_t new) {
    xa_tls.direct_deallocated += old;
    xa_tls.direct_allocated += new;
}

/* malloc past the inline path and the large-class cache. */
static XA_NOINLINE void *malloc_uncached(size_t size) {
    if (unlikely(!xa_ensure_init()))
        return oom();
    if (size > XA_LARGE_MAX) {
        if (size > PTRDIFF_MAX)
            return oom();
        bool zeroed;
        void *p = xa_huge_alloc(size, XA_CHUNK, &zeroed);
        if (p == NULL)
            return oom();
        count_direct_alloc(XA_ALIGN_UP(size, XA_PAGE));
        return junk_fresh(p, XA_ALIGN_UP(size, XA_PAGE));
    }
    unsigned c = xa_size_class(size);
    xa_tsd *t = xa_tsd_get();
    void *p;
    if (t && t->room[c].cap) {
        t->flush_streak = 0;          /* still allocating: not a teardown */
        p = xa_tcache_alloc_slow(t, c);   /* the bin is empty: no top above */
    } else {
        bool zeroed;
        p = arena_alloc(t ? xa_tsd_arena_for(t, c) : xa_arena_get(0), c, &zeroed);
        if (p)
            count_direct_alloc(xa_class_size[c]);
    }
    if (p == NULL)
        return oom();
    return junk_fresh(p, xa_class_size[c]);
}

/* A cached large block first, as malloc's inline path does for small ones
 * (uncached classes and a thread without a cache hold none). This part
 * saves no registers and the rest is a tail call: most large mallocs end
 * here (bench_oversub: 96 % of them). */
XA_NOINLINE void *xa_malloc_slow(size_t size) {
    if (size <= XA_SMALL_MAX) {
        /* The fast path met the low-water mark: a new low, or empty. */
        xa_tbin *b = &xa_tls.bins[xa_small_class(size)];
        if (b->top != NULL) {
            b->low = b->sp - 1;
            return xa_tbin_pop(b, b->sp);
        }
    } else if (size <= XA_LARGE_MAX) {
        unsigned c = xa_size_class(size);
        xa_tsd *t = &xa_tls;
        if (xa_large_try_enter(t)) {
            if (xa_large_bin(t, c)->n != 0) {
                t->flush_streak = 0;
                void *p = xa_lbin_pop(t, c);
                xa_large_leave(t);
                return p;
            }
            xa_large_leave(t);
        }
    }
    return malloc_uncached(size);
}

/* The run that contains p, found without trusting interior page-map
 * entries: walk back to the page whose entry is a live descriptor starting
 * there (large and free runs map only their ends). NULL outside chunks and
 * in header pages. For the slow paths: up to one step per page. */
static xa_run *run_containing(const void *p) {
    const xa_chunk *ch = xa_chunk_of(p);
    unsigned page = xa_page_of(p);
    if (!xa_registry_has(ch) || page < XA_HEADER_PAGES)
        return NULL;
    for (unsigned q = page + 1; q-- > XA_HEADER_PAGES;) {
        xa_run *r = xa_chunk_map_get(ch, q);
        if (r && r->kind >= XA_RUN_FREE && r->kind <= XA_RUN_PURGING && r->page == q &&
            r->addr == (const char *)ch + ((size_t)q << XA_PAGE_SHIFT))
            return page < (unsigned)q + r->npages ? r : NULL;
    }
    return NULL;
}

static bool run_is_live(const xa_run *r) {
    return r && (r->kind == XA_RUN_SLAB || r->kind == XA_RUN_LARGE);
}

/* Why p is not a block xalloc can free, in the words of the report. */
static const char *diagnose(const void *p) {
    uintptr_t off = (uintptr_t)p & XA_CHUNK_MASK;
    const xa_chunk *ch = xa_chunk_of(p);
    if (off == 0 || !xa_registry_has(ch))
        return "invalid free (not allocated by xalloc)";
    if (xa_page_of(p) < XA_HEADER_PAGES)
        return "invalid free (inside a chunk header)";
    xa_run *r = run_containing(p);
    if (!run_is_live(r))
        return r && (const char *)p == r->addr ? "double free" : "invalid free (not allocated)";
    if (r->kind == XA_RUN_SLAB) {
        int idx = xa_slab_region_of(r, p);
        if (idx < 0)
            return "invalid free (interior pointer)";
        return (unsigned)idx < __atomic_load_n(&r->hwm, __ATOMIC_RELAXED)
                   ? "double free" : "invalid free (not allocated)";
    }
    return p == r->addr ? "double free" : "invalid free (interior pointer)";
}

XA_NOINLINE void xa_free_slow(void *p) {
    if (p == NULL)
        return;
    if (((uintptr_t)p & XA_CHUNK_MASK) == 0) {
        int saved = errno;
        size_t usable = xa_huge_usable(p);
        if (usable && unlikely(xa_opt.junk))
            memset(p, 0x5a, usable);
        if (usable && xa_huge_free(p))
            xa_tls.direct_deallocated += usable;
        else
            xa_report_pointer(xa_hugecache_contains(p) ? "double free"
                                                   : "invalid free (not allocated by xalloc)", p);
        errno = saved;
        return;
    }
    xa_run *r = xa_lookup_fast(p);
    if (r == NULL) {
        int saved = errno;
        xa_report_pointer(diagnose(p), p);
        errno = saved;
        return;
    }
    xa_free_live(p, r);
}

/* xa_free_live of a large block of class c that did not go straight into
 * the cache, inside the large-bin hand-off. */
static void free_large_cached(xa_tsd *t, unsigned c, xa_run *r, void *p) {
    int saved = errno;
    if (xa_lbin_holds(xa_large_bin(t, c), p)) {
        xa_report_pointer("double free", p);
    } else if (!xa_tcache_free_slow(t, c, p)) {
        t->direct_deallocated += xa_class_size[c];
        arena_free(r, p);
    }
    errno = saved;
}

/* Whether p, a region of slab r below its high-water mark, is taken in
 * the slab's bitmap (allocated, cached or on a remote list). */
static bool slab_region_taken(xa_run *r, const void *p) {
    int idx = xa_slab_region_of(r, p);
    return idx >= 0 && !xa_bitmap_is_free(&r->bitmap, (unsigned)idx);
}

/* xa_free_live past the large-class cache. */
static XA_NOINLINE void free_live_uncached(void *p, xa_run *r) {
    unsigned c = r->sizeclass;
    xa_tsd *t = xa_tsd_get();
    xa_tbin *b = t && t->room[c].cap ? &t->bins[c] : NULL;
    if (b && c >= XA_NSMALL) {
        xa_large_enter(t);
        free_large_cached(t, c, r, p);
        xa_large_leave(t);
        return;
    }
    /* Small classes: a block with the free mark may be in this thread's
     * cache or free in its slab, which the fast path did not read. */
    bool twice = c < XA_NSMALL && xa_block_marked(p) &&
                 ((b && xa_tcache_holds(t, c, p)) || !slab_region_taken(r, p));
    int saved = errno;
    if (twice) {
        xa_report_pointer("double free", p);
    } else if (b && r->arena != xa_tbin_home(b) && !xa_tcache_keeps_foreign(b, c)) {
        xa_tcache_free_foreign(t, p);
    } else if (b) {
        if (!xa_tcache_free_slow(t, c, p)) {
            xa_tls.direct_deallocated += xa_class_size[c];
            arena_free(r, p);
        }
    } else {
        if (unlikely(xa_opt.junk))
            memset(p, 0x5a, xa_class_size[c]);
        xa_tls.direct_deallocated += xa_class_size[c];
        arena_free(r, p);
    }
    errno = saved;
}

/* A large block straight into this thread's cache when its bin has room
 * and the budget allows: no system call, so errno needs no saving, and
 * no saved registers; the rest is a tail call (bench_oversub: the 44 % of
 * its frees that are large). A bin holds a handful: all compared, so a
 * block is never cached twice. A cap (set only while the thread's cache
 * is live) stands for xa_tsd_get's test. */
XA_NOINLINE void xa_free_live(void *p, xa_run *r) {
    unsigned c = r->sizeclass;
    xa_tsd *t = &xa_tls;
    if (c >= XA_NSMALL && t->room[c].cap && xa_large_try_enter(t)) {
        bool cached = !xa_lbin_holds(xa_large_bin(t, c), p) && xa_tcache_put_large(t, c, p);
        xa_large_leave(t);
        if (cached)
            return;
    }
    free_live_uncached(p, r);
}

void xa_free_sized(void *p, size_t size, bool exact_class) {
    if (p == NULL)
        return;
    /* The promised size must fit the block, and for plain malloc results
     * map to its class: anything else means the caller's idea of the block
     * is wrong, and freeing it anyway could hide a worse bug. */
    size_t usable = xa_usable_size(p);
    bool wrong = usable && (size > usable ||
                            (exact_class && size <= XA_LARGE_MAX && usable <= XA_LARGE_MAX &&
                             xa_class_size[xa_size_class(size)] != usable));
    if (unlikely(wrong)) {
        xa_report_pointer("free_sized with wrong size", p);
        return;
    }
    xa_free(p);
}

size_t xa_usable_size(const void *p) {
    if (p == NULL)
        return 0;
    xa_run *r = xa_lookup_fast(p);
    if (r)
        return xa_class_size[r->sizeclass];
    if (((uintptr_t)p & XA_CHUNK_MASK) == 0)
        return xa_huge_usable(p);
    return 0;
}

bool xa_owns(const void *p) {
    if (p == NULL)
        return false;
    if (((uintptr_t)p & XA_CHUNK_MASK) == 0)
        return xa_huge_usable(p) != 0;
    return run_is_live(run_containing(p));
}

void *xa_calloc(size_t nmemb, size_t size) {
    size_t total;
    if (unlikely(__builtin_mul_overflow(nmemb, size, &total)))
        return oom();
    if (total <= XA_SMALL_MAX) {
        void *p = xa_malloc(total);
        if (p)
            memset(p, 0, total);
        return p;
    }
    if (unlikely(!xa_ensure_init()))
        return oom();
    if (total > XA_LARGE_MAX) {
        if (total > PTRDIFF_MAX)
            return oom();
        bool zeroed;
        void *p = xa_huge_alloc(total, XA_CHUNK, &zeroed);
        if (p == NULL)
            return oom();
        if (!zeroed)
            memset(p, 0, total);
        count_direct_alloc(XA_ALIGN_UP(total, XA_PAGE));
        return p;
    }
    /* Large: straight from the arena, which knows whether the pages are
     * fresh (zero) or were used before. */
    bool zeroed;
    unsigned c = xa_size_class(total);
    void *p = arena_alloc(arena_for_thread(), c, &zeroed);
    if (p == NULL)
        return oom();
    count_direct_alloc(xa_class_size[c]);
    if (!zeroed)
        memset(p, 0, total);
    return p;
}

void *xa_aligned_alloc(size_t alignment, size_t size) {
    if (alignment <= XA_MIN_ALIGN && (size >= XA_MIN_ALIGN || alignment <= 8))
        return xa_malloc(size);
    if (unlikely(size > PTRDIFF_MAX || alignment > PTRDIFF_MAX / 2))
        return oom();
    if (size == 0)
        size = 1;
    if (unlikely(!xa_ensure_init()))
        return oom();
    if (alignment <= XA_PAGE) {
        size_t asize = XA_ALIGN_UP(size, alignment);
        if (asize <= XA_SMALL_MAX) {
            unsigned c = xa_small_class(asize);
            while (xa_class_size[c] % alignment)
                c++;                     /* a multiple of the alignment: every region is aligned */
            return xa_malloc(xa_class_size[c]);
        }
        return xa_malloc(asize);         /* large runs are page aligned, huge chunk aligned */
    }
    size_t usize = size < XA_LARGE_MIN ? XA_LARGE_MIN : size;
    if (usize <= XA_LARGE_MAX &&
        (usize >> XA_PAGE_SHIFT) + (alignment >> XA_PAGE_SHIFT) - 1 <= XA_USABLE_PAGES) {
        bool zeroed;
        unsigned c = xa_size_class(usize);
        xa_arena *a = arena_for_thread();
        void *p = a ? xa_arena_large_alloc(a, c, alignment, &zeroed) : NULL;
        if (p) {
            count_direct_alloc(xa_class_size[c]);
            return junk_fresh(p, xa_class_size[c]);
        }
    }
    bool zeroed;
    void *p = xa_huge_alloc(size, alignment, &zeroed);
    if (p == NULL)
        return oom();
    count_direct_alloc(XA_ALIGN_UP(size, XA_PAGE));
    return junk_fresh(p, XA_ALIGN_UP(size, XA_PAGE));
}

void *xa_realloc(void *p, size_t size) {
    if (p == NULL)
        return xa_malloc(size);
    if (size == 0) {                     /* glibc: frees and returns NULL */
        xa_free(p);
        return NULL;
    }
    size_t old;
    xa_run *r = xa_lookup_fast(p);
    if (r) {
        old = xa_class_size[r->sizeclass];
        xa_tsd *t = &xa_tls;
        xa_tbin *b = &t->bins[r->sizeclass];
        bool cached;                     /* freed already: in this thread's cache */
        if (r->sizeclass < XA_NSMALL) {
            cached = b->sp && xa_block_marked(p) && xa_tcache_holds(t, r->sizeclass, p);
        } else {
            xa_large_enter(t);
            cached = xa_lbin_holds(xa_large_bin(t, r->sizeclass), p);   /* none if uncached */
            xa_large_leave(t);
        }
        if (unlikely(cached)) {
            xa_report_pointer("realloc of freed pointer", p);
            errno = EINVAL;
            return NULL;
        }
        if (size <= XA_LARGE_MAX) {
            unsigned c = xa_size_class(size);
            if (c == r->sizeclass)
                return p;
            if (c >= XA_NSMALL && r->sizeclass >= XA_NSMALL &&
                xa_arena_large_resize(xa_chunk_arena(xa_chunk_of(p)), r, c)) {
                count_resize(old, xa_class_size[c]);
                return p;
            }
        }
    } else if (((uintptr_t)p & XA_CHUNK_MASK) == 0 && (old = xa_huge_usable(p)) != 0) {
        if (size > XA_LARGE_MAX) {
            if (size > PTRDIFF_MAX)
                return oom();
            void *q = xa_huge_realloc(p, size);
            if (q == NULL)
                return oom();
            count_resize(old, XA_ALIGN_UP(size, XA_PAGE));
            return q;
        }
    } else {
        xa_report_pointer(p && xa_owns(p) ? "realloc of freed or interior pointer"
                                          : "realloc of invalid pointer", p);
        errno = EINVAL;
        return NULL;
    }
    if (size > PTRDIFF_MAX)
        return oom();
    void *q = xa_malloc(size);
    if (q == NULL)
        return NULL;
    memcpy(q, p, old < size ? old : size);
    xa_free(p);
    return q;
}
