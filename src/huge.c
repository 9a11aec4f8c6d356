#include "huge.h"
#include "base.h"
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
    return n != NULL;
}

void *xa_huge_alloc(size_t size, size_t alignment) {
    size_t usize = XA_ALIGN_UP(size, XA_PAGE);
    if (usize < size)
        return NULL;
    if (alignment < XA_CHUNK)
        alignment = XA_CHUNK;
    void *p = xa_pages_map(usize, alignment);
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
    return size;
}

bool xa_huge_free(void *p) {
    size_t size = forget(p, NULL);
    if (size == 0)
        return false;
    xa_pages_unmap(p, size);
    return true;
}

static void resize_record(const void *p, size_t newsize) {
    huge_shard *s = shard_of(p);
    xa_mutex_lock(&s->lock);
    huge_node *n = lookup(s, p);
    s->allocated += newsize - n->size;
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
    size_t alignment = XA_CHUNK;
    void *dst = xa_pages_map(usize, alignment);
    if (dst == NULL)
        return NULL;
    if (!record(dst, usize, alignment)) {
        xa_pages_unmap(dst, usize);
        return NULL;
    }
    if (!xa_pages_move(p, old, dst, usize)) {
        forget(dst, NULL);
        xa_pages_unmap(dst, usize);
        return NULL;
    }
    forget(p, NULL);
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
}

void xa_huge_prefork(void) {
    for (unsigned i = 0; i < XA_HUGE_SHARDS; i++)
        xa_mutex_lock(&shards[i].lock);
}

void xa_huge_postfork_parent(void) {
    for (unsigned i = 0; i < XA_HUGE_SHARDS; i++)
        xa_mutex_unlock(&shards[i].lock);
}

void xa_huge_postfork_child(void) {
    for (unsigned i = 0; i < XA_HUGE_SHARDS; i++)
        xa_mutex_postfork_child(&shards[i].lock);
}
