#include "hugecache.h"
#include "arena.h"
#include "conf.h"
#include "lock.h"
#include "pages.h"

#define SLOTS 32
#define MIN_BOUND ((size_t)16 << 20)  /* cached even when no block was live */
#define MAX_MOVES 8                   /* ranges moved into one request */

typedef struct cached {
    char *addr;
    size_t size;
    uint64_t freed_ms;
} cached;

static struct {
    xa_mutex lock;
    cached slot[SLOTS];
    unsigned n;
    size_t bytes;                 /* written under lock, read without */
    size_t live;                  /* atomic: bytes of live huge blocks */
    size_t peak, prev_peak;       /* peak of live: this window, the last */
    uint64_t window_ms;           /* start of this window */
} hc = { .lock = XA_MUTEX_INITIALIZER };

void xa_hugecache_live_add(size_t bytes) {
    size_t now = __atomic_add_fetch(&hc.live, bytes, __ATOMIC_RELAXED);
    size_t p = __atomic_load_n(&hc.peak, __ATOMIC_RELAXED);
    while (now > p && !__atomic_compare_exchange_n(&hc.peak, &p, now, true,
                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

void xa_hugecache_live_sub(size_t bytes) {
    __atomic_sub_fetch(&hc.live, bytes, __ATOMIC_RELAXED);
}

/* How many bytes may be cached now; hc.lock held. The peak is kept over
 * two windows of dirty_decay_ms, so it forgets a burst within two periods. */
static size_t bound(void) {
    long decay = xa_opt.dirty_decay_ms;
    uint64_t window = decay > 0 ? (uint64_t)decay : 1000, now = xa_now_ms();
    size_t live = __atomic_load_n(&hc.live, __ATOMIC_RELAXED);
    if (now - hc.window_ms >= window) {
        hc.prev_peak = __atomic_exchange_n(&hc.peak, live, __ATOMIC_RELAXED);
        hc.window_ms = now;
    }
    size_t peak = __atomic_load_n(&hc.peak, __ATOMIC_RELAXED);
    if (peak < hc.prev_peak)
        peak = hc.prev_peak;
    if (peak < MIN_BOUND)
        peak = MIN_BOUND;
    return peak > live ? peak - live : 0;
}

static void set_bytes(size_t b) {
    __atomic_store_n(&hc.bytes, b, __ATOMIC_RELAXED);
}

static cached drop(unsigned i) {
    cached c = hc.slot[i];
    set_bytes(hc.bytes - c.size);
    hc.slot[i] = hc.slot[--hc.n];
    return c;
}

/* hc.lock held, a slot free. */
static void insert(char *addr, size_t size, uint64_t freed_ms) {
    hc.slot[hc.n++] = (cached){ addr, size, freed_ms };
    set_bytes(hc.bytes + size);
}

/* Take the first `size` bytes (at most) of slot i; the rest stays cached.
 * hc.lock held. Returns the bytes taken, at c.addr. */
static cached take_front(unsigned i, size_t size) {
    cached c = drop(i);
    if (c.size > size) {
        insert(c.addr + size, c.size - size, c.freed_ms);
        c.size = size;
    }
    return c;
}

/* Whether cached ranges may be joined and moved as one: only when the
 * kernel moves a range made of several mappings (Linux 6.17 and later). */
static bool can_join(void) {
    return xa_pages_move_spans_mappings();
}

bool xa_hugecache_put(char *addr, size_t size) {
    if (xa_opt.dirty_decay_ms == 0)
        return false;
    bool join = can_join();
    uint64_t freed_ms = xa_now_ms();
    cached evicted[SLOTS];
    unsigned ne = 0;
    xa_mutex_lock(&hc.lock);
    size_t limit = bound();
    if (size > limit) {
        xa_mutex_unlock(&hc.lock);
        return false;
    }
    /* Join with cached neighbours so that memory freed in pieces can serve
     * a bigger block in place. */
    for (unsigned i = 0; join && i < hc.n;) {
        cached *c = &hc.slot[i];
        if (c->addr + c->size == addr || addr + size == c->addr) {
            cached nb = drop(i);
            if (nb.addr < addr)
                addr = nb.addr;
            size += nb.size;
            if (nb.freed_ms < freed_ms)
                freed_ms = nb.freed_ms;
            i = 0;
        } else {
            i++;
        }
    }
    while (hc.n > 0 && (hc.n == SLOTS || hc.bytes + size > limit)) {
        unsigned oldest = 0;
        for (unsigned i = 1; i < hc.n; i++)
            if (hc.slot[i].freed_ms < hc.slot[oldest].freed_ms)
                oldest = i;
        evicted[ne++] = drop(oldest);
    }
    bool kept = size <= limit;
    if (kept)
        insert(addr, size, freed_ms);
    xa_mutex_unlock(&hc.lock);
    for (unsigned i = 0; i < ne; i++)
        xa_pages_unmap(evicted[i].addr, evicted[i].size);
    if (!kept)
        xa_pages_unmap(addr, size);   /* joined beyond the bound: ours to unmap */
    return true;
}

/* Moves the pages of src onto dst (len bytes each, dst mapped); src is no
 * longer cached memory afterwards, moved or unmapped. */
static void move_or_drop(char *src, char *dst, size_t len) {
    if (xa_pages_move(src, len, dst, len))
        return;
    /* Out of kernel memory or mapping count: the pages of dst fault fresh.
     * A kernel before 6.17 may have unmapped dst before failing. */
    xa_pages_ensure_mapped(dst, len);
    xa_pages_unmap(src, len);
}

size_t xa_hugecache_fill(char *dst, size_t size) {
    size_t off = 0;
    for (unsigned moves = 0; off < size && moves < MAX_MOVES; moves++) {
        size_t need = size - off;
        xa_mutex_lock(&hc.lock);
        /* Best fit among the ranges that cover the rest, else the biggest. */
        unsigned fit = SLOTS, big = SLOTS;
        for (unsigned i = 0; i < hc.n; i++) {
            size_t s = hc.slot[i].size;
            if (s >= need && (fit == SLOTS || s < hc.slot[fit].size))
                fit = i;
            if (big == SLOTS || s > hc.slot[big].size)
                big = i;
        }
        if (big == SLOTS) {
            xa_mutex_unlock(&hc.lock);
            break;
        }
        cached c = take_front(fit != SLOTS ? fit : big, need);
        xa_mutex_unlock(&hc.lock);
        move_or_drop(c.addr, dst + off, c.size);
        off += c.size;
    }
    return off;
}

void *xa_hugecache_take(size_t size, size_t alignment, size_t *reused_bytes) {
    *reused_bytes = 0;
    bool movable = can_join();
    xa_mutex_lock(&hc.lock);
    /* In place: the smallest aligned range that holds the block. */
    unsigned fit = SLOTS;
    for (unsigned i = 0; i < hc.n; i++) {
        cached *c = &hc.slot[i];
        if (((uintptr_t)c->addr & (alignment - 1)) == 0 && c->size >= size &&
            (fit == SLOTS || c->size < hc.slot[fit].size))
            fit = i;
    }
    if (fit != SLOTS) {
        cached c = take_front(fit, size);
        xa_mutex_unlock(&hc.lock);
        *reused_bytes = size;
        return c.addr;
    }
    bool any = hc.n > 0;
    xa_mutex_unlock(&hc.lock);
    if (!any || !movable)
        return NULL;
    /* Otherwise move cached pages onto a fresh aligned range. */
    char *dst = xa_pages_map(size, alignment);
    if (dst != NULL)
        *reused_bytes = xa_hugecache_fill(dst, size);
    return dst;
}

bool xa_hugecache_take_at(char *addr, size_t size) {
    bool found = false;
    xa_mutex_lock(&hc.lock);
    for (unsigned i = 0; i < hc.n && !found; i++) {
        cached *c = &hc.slot[i];
        if (c->addr == addr && c->size >= size) {
            take_front(i, size);
            found = true;
        }
    }
    xa_mutex_unlock(&hc.lock);
    return found;
}

size_t xa_hugecache_purge(bool all) {
    long decay = xa_opt.dirty_decay_ms;
    uint64_t now = xa_now_ms();
    cached gone[SLOTS];
    unsigned ng = 0;
    size_t bytes = 0;
    xa_mutex_lock(&hc.lock);
    for (unsigned i = 0; i < hc.n;) {
        if (all || (decay >= 0 && now - hc.slot[i].freed_ms >= (uint64_t)decay)) {
            gone[ng] = drop(i);
            bytes += gone[ng++].size;
        } else {
            i++;
        }
    }
    xa_mutex_unlock(&hc.lock);
    for (unsigned i = 0; i < ng; i++)
        xa_pages_unmap(gone[i].addr, gone[i].size);
    return bytes >> XA_PAGE_SHIFT;
}

size_t xa_hugecache_bytes(void) {
    return __atomic_load_n(&hc.bytes, __ATOMIC_RELAXED);
}

bool xa_hugecache_contains(const void *p) {
    bool found = false;
    xa_mutex_lock(&hc.lock);
    for (unsigned i = 0; i < hc.n && !found; i++)
        found = (const char *)p >= hc.slot[i].addr &&
                (const char *)p < hc.slot[i].addr + hc.slot[i].size;
    xa_mutex_unlock(&hc.lock);
    return found;
}

void xa_hugecache_prefork(void) {
    xa_mutex_lock(&hc.lock);
}

void xa_hugecache_postfork_parent(void) {
    xa_mutex_unlock(&hc.lock);
}

void xa_hugecache_postfork_child(void) {
    xa_mutex_postfork_child(&hc.lock);
}
