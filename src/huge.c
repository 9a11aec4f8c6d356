#include <string.h>
#include "huge.h"
#include "arena.h"
#include "base.h"
#include "conf.h"
#include "lock.h"
#include "pages.h"
#include "rbtree.h"

typedef struct huge_node {
    xa_rb_node node;
    char *addr;
    size_t size;             /* mapped and usable, page multiple */
    size_t alignment;        /* of the mapping, >= 4 MiB */
} huge_node;

typedef struct huge_shard {
    xa_mutex lock;
    xa_rb_tree tree;
    xa_base base;
    size_t allocated, nblocks;
    uint64_t nmalloc, nfree;
} __attribute__((aligned(XA_CACHELINE))) huge_shard;

static huge_shard shards[XA_HUGE_SHARDS];
static size_t live_bytes;     /* over all shards, for the cache limit */

static int node_cmp(const xa_rb_node *x, const xa_rb_node *y) {
    const huge_node *a = xa_rb_entry(x, huge_node, node), *b = xa_rb_entry(y, huge_node, node);
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

static huge_shard *shard_of(const void *p) {
    return &shards[((uintptr_t)p >> XA_CHUNK_SHIFT) % XA_HUGE_SHARDS];
}

void xa_huge_boot(void) {
    for (unsigned i = 0; i < XA_HUGE_SHARDS; i++) {
        xa_mutex_init(&shards[i].lock);
        xa_rb_init(&shards[i].tree, node_cmp);
    }
}

/* Find the record of p; the shard lock must be held. */
static huge_node *lookup(huge_shard *s, const void *p) {
    huge_node key = { .addr = (char *)p };
    xa_rb_node *n = xa_rb_find(&s->tree, &key.node);
    return n ? xa_rb_entry(n, huge_node, node) : NULL;
}

static bool record(void *p, size_t size, size_t alignment) {
    huge_shard *s = shard_of(p);
    xa_mutex_lock(&s->lock);
    huge_node *n = xa_base_alloc(&s->base, sizeof *n);
    if (n) {
        n->addr = p;
        n->size = size;
        n->alignment = alignment;
        xa_rb_insert(&s->tree, &n->node);
        s->allocated += size;
        __atomic_fetch_add(&live_bytes, size, __ATOMIC_RELAXED);
        s->nblocks++;
        s->nmalloc++;
    }
    xa_mutex_unlock(&s->lock);
    return n != NULL;
}

/* ---- the cache of freed mappings ----------------------------------------
 * A program that frees and allocates huge blocks in a loop would otherwise
 * pay a munmap, an mmap and a page fault per page every time. A few freed
 * mappings stay mapped and are reused best-fit: at most 16 blocks, and no
 * more bytes than the live huge blocks (at least 4, at most 64 MiB), so a
 * program that stops using huge blocks does not keep their memory. They
 * count as dirty and go back to the OS after dirty_decay_ms. */
#define CACHE_SLOTS 16
#define CACHE_MAX_BYTES ((size_t)64 << 20)
#define CACHE_MIN_BYTES ((size_t)16 << 20)

static size_t cache_limit(void) {
    size_t live = 4 * __atomic_load_n(&live_bytes, __ATOMIC_RELAXED);
    return live < CACHE_MIN_BYTES ? CACHE_MIN_BYTES : live > CACHE_MAX_BYTES ? CACHE_MAX_BYTES : live;
}

typedef struct cached_map {
    char *addr;
    size_t size;
    uint64_t freed_ms;
} cached_map;

static struct {
    xa_mutex lock;
    cached_map slot[CACHE_SLOTS];
    unsigned n;
    size_t bytes;
} cache = { .lock = XA_MUTEX_INITIALIZER };

static void cache_drop(unsigned i, cached_map *out) {
    *out = cache.slot[i];
    /* Written under cache.lock, read without it (xa_huge_cached_bytes). */
    __atomic_store_n(&cache.bytes, cache.bytes - out->size, __ATOMIC_RELAXED);
    cache.slot[i] = cache.slot[--cache.n];
}

/* Keep a freed mapping, evicting the oldest past the limits; returns false
 * when the caller must unmap it itself. */
static bool cache_put_at(char *addr, size_t size, uint64_t freed_ms) {
    long decay = xa_opt.dirty_decay_ms;
    size_t limit = cache_limit();
    if (decay == 0 || size > limit)
        return false;
    cached_map evicted[CACHE_SLOTS + 1];
    unsigned ne = 0;
    xa_mutex_lock(&cache.lock);
    /* Merge with cached neighbours in the address space, so memory freed
     * in small pieces can come back as one bigger block. */
    for (unsigned i = 0; i < cache.n;) {
        cached_map *c = &cache.slot[i];
        if (c->addr + c->size == addr || addr + size == c->addr) {
            cached_map nb;
            cache_drop(i, &nb);
            if (nb.addr < addr)
                addr = nb.addr;
            size += nb.size;
            i = 0;
        } else {
            i++;
        }
    }
    if (size > limit) {
        xa_mutex_unlock(&cache.lock);
        xa_pages_unmap(addr, size);
        return true;
    }
    while (cache.n == CACHE_SLOTS || cache.bytes + size > limit) {
        unsigned oldest = 0;
        for (unsigned i = 1; i < cache.n; i++)
            if (cache.slot[i].freed_ms < cache.slot[oldest].freed_ms)
                oldest = i;
        cache_drop(oldest, &evicted[ne++]);
    }
    cache.slot[cache.n++] = (cached_map){ addr, size, freed_ms };
    __atomic_store_n(&cache.bytes, cache.bytes + size, __ATOMIC_RELAXED);
    xa_mutex_unlock(&cache.lock);
    for (unsigned i = 0; i < ne; i++)
        xa_pages_unmap(evicted[i].addr, evicted[i].size);
    return true;
}

/* A cached mapping for a block of usize bytes aligned to alignment, or
 * NULL. Best fit among those big enough (trimmed to usize); otherwise the
 * biggest smaller one, grown in place or moved by mremap onto a fresh
 * aligned range: its pages keep their frames, only the growth faults. */
static void *cache_take(size_t usize, size_t alignment) {
    cached_map m = { NULL, 0, 0 };
    xa_mutex_lock(&cache.lock);
    unsigned fit = CACHE_SLOTS, grow = CACHE_SLOTS;
    for (unsigned i = 0; i < cache.n; i++) {
        cached_map *c = &cache.slot[i];
        if (((uintptr_t)c->addr & (alignment - 1)) != 0)
            continue;
        if (c->size >= usize) {
            if (fit == CACHE_SLOTS || c->size < cache.slot[fit].size)
                fit = i;
        } else if (grow == CACHE_SLOTS || c->size > cache.slot[grow].size) {
            grow = i;
        }
    }
    if (fit != CACHE_SLOTS || grow != CACHE_SLOTS)
        cache_drop(fit != CACHE_SLOTS ? fit : grow, &m);
    xa_mutex_unlock(&cache.lock);
    if (m.addr == NULL)
        return NULL;
    if (m.size > usize) {
        /* Keep the tail from the next chunk boundary on: its pages are
         * already faulted in, and it stays 4 MiB-aligned. */
        size_t split = XA_ALIGN_UP(usize, XA_CHUNK);
        if (split < m.size && !cache_put_at(m.addr + split, m.size - split, m.freed_ms))
            xa_pages_unmap(m.addr + split, m.size - split);
        if (split > usize)
            xa_pages_unmap(m.addr + usize, (split < m.size ? split : m.size) - usize);
    } else if (m.size < usize && !xa_pages_resize_in_place(m.addr, m.size, usize)) {
        char *dst = xa_pages_map(usize, alignment);
        if (dst == NULL || !xa_pages_move(m.addr, m.size, dst, usize)) {
            if (dst)
                xa_pages_unmap(dst, usize);
            xa_pages_unmap(m.addr, m.size);
            return NULL;
        }
        m.addr = dst;
    }
    return m.addr;
}

size_t xa_huge_cache_purge(bool all) {
    long decay = xa_opt.dirty_decay_ms;
    uint64_t now = xa_now_ms();
    cached_map gone[CACHE_SLOTS];
    unsigned ng = 0;
    size_t bytes = 0;
    xa_mutex_lock(&cache.lock);
    for (unsigned i = 0; i < cache.n;) {
        if (all || (decay >= 0 && now - cache.slot[i].freed_ms >= (uint64_t)decay)) {
            cache_drop(i, &gone[ng]);
            bytes += gone[ng++].size;
        } else {
            i++;
        }
    }
    xa_mutex_unlock(&cache.lock);
    for (unsigned i = 0; i < ng; i++)
        xa_pages_unmap(gone[i].addr, gone[i].size);
    return bytes >> XA_PAGE_SHIFT;
}

bool xa_huge_is_cached(const void *p) {
    bool found = false;
    xa_mutex_lock(&cache.lock);
    for (unsigned i = 0; i < cache.n && !found; i++)
        found = (const char *)p >= cache.slot[i].addr &&
                (const char *)p < cache.slot[i].addr + cache.slot[i].size;
    xa_mutex_unlock(&cache.lock);
    return found;
}

size_t xa_huge_cached_bytes(void) {
    return __atomic_load_n(&cache.bytes, __ATOMIC_RELAXED);
}

void *xa_huge_alloc(size_t size, size_t alignment, bool *zeroed) {
    size_t usize = XA_ALIGN_UP(size, XA_PAGE);
    if (usize < size)
        return NULL;
    if (alignment < XA_CHUNK)
        alignment = XA_CHUNK;
    xa_huge_cache_purge(false);
    void *p = cache_take(usize, alignment);
    *zeroed = p == NULL;
    if (p == NULL)
        p = xa_pages_map(usize, alignment);
    if (p == NULL)
        return NULL;
    if (!record(p, usize, alignment)) {
        xa_pages_unmap(p, usize);
        return NULL;
    }
    return p;
}

size_t xa_huge_usable(const void *p) {
    huge_shard *s = shard_of(p);
    xa_mutex_lock(&s->lock);
    huge_node *n = lookup(s, p);
    size_t size = n ? n->size : 0;
    xa_mutex_unlock(&s->lock);
    return size;
}

/* Remove p's record; returns its size, 0 when absent. */
static size_t forget(const void *p, size_t *alignment) {
    huge_shard *s = shard_of(p);
    xa_mutex_lock(&s->lock);
    huge_node *n = lookup(s, p);
    size_t size = 0;
    if (n) {
        size = n->size;
        if (alignment)
            *alignment = n->alignment;
        xa_rb_remove(&s->tree, &n->node);
        xa_base_free(&s->base, n, sizeof *n);
        s->allocated -= size;
        __atomic_fetch_sub(&live_bytes, size, __ATOMIC_RELAXED);
        s->nblocks--;
        s->nfree++;
    }
    xa_mutex_unlock(&s->lock);
    return size;
}

bool xa_huge_free(void *p) {
    size_t size = forget(p, NULL);
    if (size == 0)
        return false;
    if (!cache_put_at(p, size, xa_now_ms()))
        xa_pages_unmap(p, size);
    return true;
}

static void resize_record(const void *p, size_t newsize) {
    huge_shard *s = shard_of(p);
    xa_mutex_lock(&s->lock);
    huge_node *n = lookup(s, p);
    s->allocated += newsize - n->size;
    __atomic_fetch_add(&live_bytes, newsize - n->size, __ATOMIC_RELAXED);
    n->size = newsize;
    xa_mutex_unlock(&s->lock);
}

void *xa_huge_realloc(void *p, size_t newsize) {
    size_t usize = XA_ALIGN_UP(newsize, XA_PAGE);
    if (usize < newsize)
        return NULL;
    size_t old = xa_huge_usable(p);
    if (usize == old)
        return p;
    if (usize < old) {
        xa_pages_unmap((char *)p + usize, old - usize);
        resize_record(p, usize);
        return p;
    }
    if (xa_pages_resize_in_place(p, old, usize)) {
        resize_record(p, usize);
        return p;
    }
    /* Reserve an aligned destination, then move the pages onto it: the
     * kernel remaps them, nothing is copied. */
    size_t alignment = XA_CHUNK, old_alignment = 0;
    void *dst = xa_pages_map(usize, alignment);
    if (dst == NULL)
        return NULL;
    if (!record(dst, usize, alignment)) {
        xa_pages_unmap(dst, usize);
        return NULL;
    }
    /* Forget p while its range is still mapped: once the move unmaps it,
     * another thread's mmap may get the same address and record it. */
    forget(p, &old_alignment);
    if (!xa_pages_move(p, old, dst, usize)) {
        /* The kernel refuses to move a range made of two mappings (cached
         * neighbours merged): copy instead. */
        memcpy(dst, p, old);
        if (!cache_put_at(p, old, xa_now_ms()))
            xa_pages_unmap(p, old);
    }
    return dst;
}

void xa_huge_stats_get(xa_huge_stats *out) {
    *out = (xa_huge_stats){0};
    for (unsigned i = 0; i < XA_HUGE_SHARDS; i++) {
        huge_shard *s = &shards[i];
        xa_mutex_lock(&s->lock);
        out->allocated += s->allocated;
        out->nblocks += s->nblocks;
        out->nmalloc += s->nmalloc;
        out->nfree += s->nfree;
        out->meta += s->base.mapped;
        xa_mutex_unlock(&s->lock);
    }
    out->cached = xa_huge_cached_bytes();
}

void xa_huge_prefork(void) {
    xa_mutex_lock(&cache.lock);
    for (unsigned i = 0; i < XA_HUGE_SHARDS; i++)
        xa_mutex_lock(&shards[i].lock);
}

void xa_huge_postfork_parent(void) {
    for (unsigned i = 0; i < XA_HUGE_SHARDS; i++)
        xa_mutex_unlock(&shards[i].lock);
    xa_mutex_unlock(&cache.lock);
}

void xa_huge_postfork_child(void) {
    for (unsigned i = 0; i < XA_HUGE_SHARDS; i++)
        xa_mutex_postfork_child(&shards[i].lock);
    xa_mutex_postfork_child(&cache.lock);
}
