#include <string.h>
#include "huge.h"
#include "arena.h"
#include "base.h"
#include "conf.h"
#include "lock.h"
#include "hugecache.h"
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
        s->nblocks++;
        s->nmalloc++;
    }
    xa_mutex_unlock(&s->lock);
    if (n)
        xa_hugecache_live_add(size);
    return n != NULL;
}

void *xa_huge_alloc(size_t size, size_t alignment, bool *zeroed) {
    size_t usize = XA_ALIGN_UP(size, XA_PAGE);
    if (usize < size)
        return NULL;
    if (alignment < XA_CHUNK)
        alignment = XA_CHUNK;
    xa_hugecache_purge(false);
    size_t reused;
    void *p = xa_hugecache_take(usize, alignment, &reused);
    *zeroed = reused == 0;
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
        s->nblocks--;
        s->nfree++;
    }
    xa_mutex_unlock(&s->lock);
    if (size)
        xa_hugecache_live_sub(size);
    return size;
}

bool xa_huge_free(void *p) {
    size_t size = forget(p, NULL);
    if (size == 0)
        return false;
    if (!xa_hugecache_put(p, size))
        xa_pages_unmap(p, size);
    return true;
}

static void resize_record(const void *p, size_t newsize) {
    huge_shard *s = shard_of(p);
    xa_mutex_lock(&s->lock);
    huge_node *n = lookup(s, p);
    size_t old = n->size;
    s->allocated += newsize - old;
    n->size = newsize;
    xa_mutex_unlock(&s->lock);
    if (newsize > old)
        xa_hugecache_live_add(newsize - old);
    else
        xa_hugecache_live_sub(old - newsize);
}

void *xa_huge_realloc(void *p, size_t newsize) {
    size_t usize = XA_ALIGN_UP(newsize, XA_PAGE);
    if (usize < newsize)
        return NULL;
    size_t old = xa_huge_usable(p);
    if (usize == old)
        return p;
    char *end = (char *)p + old;
    if (usize < old) {
        resize_record(p, usize);
        if (!xa_hugecache_put(end - (old - usize), old - usize))
            xa_pages_unmap(end - (old - usize), old - usize);
        return p;
    }
    /* Grow in place: over cached pages right behind the block, or into
     * unmapped address space. */
    if (xa_hugecache_take_at(end, usize - old) || xa_pages_resize_in_place(p, old, usize)) {
        resize_record(p, usize);
        return p;
    }
    /* Reserve an aligned destination, move the pages onto it (the kernel
     * remaps them, nothing is copied), then fill the growth with cached
     * pages where there are some. */
    size_t alignment = XA_CHUNK, old_alignment = 0;
    char *dst = xa_pages_map(usize, alignment);
    if (dst == NULL)
        return NULL;
    if (!record(dst, usize, alignment)) {
        xa_pages_unmap(dst, usize);
        return NULL;
    }
    /* Forget p while its range is still mapped: once the move unmaps it,
     * another thread's mmap may get the same address and record it. */
    forget(p, &old_alignment);
    if (!xa_pages_move(p, old, dst, old)) {
        /* A kernel before 6.17 refuses to move a range made of two
         * mappings (cached neighbours joined), and may have unmapped the
         * destination first: map it again and copy. */
        xa_pages_ensure_mapped(dst, old);
        memcpy(dst, p, old);
        if (!xa_hugecache_put(p, old))
            xa_pages_unmap(p, old);
    }
    xa_hugecache_fill(dst + old, usize - old);
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
    out->cached = xa_hugecache_bytes();
}

void xa_huge_prefork(void) {
    xa_hugecache_prefork();
    for (unsigned i = 0; i < XA_HUGE_SHARDS; i++)
        xa_mutex_lock(&shards[i].lock);
}

void xa_huge_postfork_parent(void) {
    for (unsigned i = 0; i < XA_HUGE_SHARDS; i++)
        xa_mutex_unlock(&shards[i].lock);
    xa_hugecache_postfork_parent();
}

void xa_huge_postfork_child(void) {
    for (unsigned i = 0; i < XA_HUGE_SHARDS; i++)
        xa_mutex_postfork_child(&shards[i].lock);
    xa_hugecache_postfork_child();
}
