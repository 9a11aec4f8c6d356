/* Arenas: small-class bins over slabs, and the page-run allocator. */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>
#include "arena.h"
#include "conf.h"
#include "huge.h"
#include "hugecache.h"
#include "pages.h"
#include "report.h"
#include "slab.h"

xa_arena *xa_arenas[XA_MAX_ARENAS];
unsigned xa_narenas, xa_nshared;

static xa_mutex arenas_lock = XA_MUTEX_INITIALIZER;
static xa_base arenas_meta;          /* arena structs; under arenas_lock */
static unsigned arenas_limit;        /* atomic: one past the highest index created */

/* A fully free chunk is kept for reuse (its pages purged by decay) rather
 * than unmapped at once, so a program hovering at a chunk boundary does
 * not map and unmap on every call. */
#define RETAINED_EMPTY_CHUNKS 1
/* Dirty pages allowed beyond decay: as many as the active pages, at least
 * 8 MiB over all arenas. Memory freed in bulk past that goes back at once
 * instead of waiting for decay; a program churning through its working
 * set reuses dirty pages instead of paying a madvise and a page fault per
 * page (bench_oversub: 3x the throughput of a 1/8 cap at 1.8x the peak
 * RSS; a cap of all the active pages rather than half: CPU per operation
 * -8 % at 2 threads and -7 % at 32 for +6-9 % peak RSS, as its 32-512 KiB
 * blocks leave dirty holes the next block does not fit, which the half
 * cap purged and the next blocks faulted in again). The floor: bench_large
 * ran at 36 kops/s with a 4 MiB floor, 58 with 8 MiB, 70 with 16 MiB,
 * while the free-order benchmark kept 8.8, 12.7 and 21.3 MB after its
 * bulk free. Each arena gets the floor in proportion to its share of
 * the active pages: an arena whose threads went quiet must not keep the
 * dirty pages that a busy one would otherwise reuse (bench_xthread, whose
 * two arenas fill and drain out of phase, peaked at 24 MB with one global
 * cap, of which 4-6 MB dirty in the drained arena). An arena that grows
 * onto clean pages makes the others give back what they hold beyond half
 * their active pages (settle_growth). */
#define DIRTY_MIN_PAGES ((size_t)(8 << 20) >> XA_PAGE_SHIFT)
#define BULK_KEEP_PAGES ((size_t)(2 << 20) >> XA_PAGE_SHIFT)

static size_t total_active;   /* pages, all arenas; atomic, moved under arena locks */

static void count_pages(size_t *total, size_t *mine, ptrdiff_t delta) {
    *mine += (size_t)delta;
    __atomic_fetch_add(total, (size_t)delta, __ATOMIC_RELAXED);
}

/* a->lock held. keep: fewer dirty pages the caller wants kept than the
 * limit allows (SIZE_MAX: the limit alone). */
static bool over_dirty_limit(const xa_arena *a, size_t keep) {
    if (a->ndirty > keep)
        return true;
    size_t total = __atomic_load_n(&total_active, __ATOMIC_RELAXED);
    size_t floor = total > a->nactive ? DIRTY_MIN_PAGES * a->nactive / total : DIRTY_MIN_PAGES;
    size_t limit = a->nactive;
    return a->ndirty > (limit > floor ? limit : floor);
}

uint64_t xa_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- descriptors and trees ------------------------------------------ */

static int avail_cmp(const xa_rb_node *x, const xa_rb_node *y) {
    const xa_run *a = xa_rb_entry(x, xa_run, node), *b = xa_rb_entry(y, xa_run, node);
    if (a->npages != b->npages)
        return a->npages < b->npages ? -1 : 1;
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

static int addr_cmp(const xa_rb_node *x, const xa_rb_node *y) {
    const xa_run *a = xa_rb_entry(x, xa_run, node), *b = xa_rb_entry(y, xa_run, node);
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

static xa_run *desc_alloc(xa_arena *a, size_t size) {
    xa_run *r = xa_base_alloc(&a->base, size);
    if (r) {
        r->desc_size = (uint16_t)size;
        r->arena = (uint16_t)a->index;
    }
    return r;
}

/* Stale page-map entries may still point here: mark the descriptor dead
 * so the free path's class test rejects it (the base allocator keeps its
 * link at the record's end, leaving these fields intact). */
static void desc_free(xa_arena *a, xa_run *r) {
    r->kind = 0;
    r->sizeclass = XA_CLASS_NONE;
    xa_base_free(&a->base, r, r->desc_size);
}

/* Onto the young end of the dirty list, or the old end for pages that
 * count as expired already (since 0: an idle thread's cached blocks,
 * xa_arena_large_free_idle): purges take runs from the old end. */
static void dirty_link(xa_arena *a, xa_run *r, uint64_t since) {
    xa_run *oldest = a->dirty_oldest;
    r->dirty = 1;
    r->dirty_since_ms = since;
    if (oldest && since == 0) {
        r->dirty_prev = NULL;
        r->dirty_next = oldest;
        oldest->dirty_prev = r;
        a->dirty_oldest = r;
    } else {
        r->dirty_next = NULL;
        r->dirty_prev = a->dirty_newest;
        if (a->dirty_newest)
            a->dirty_newest->dirty_next = r;
        else
            a->dirty_oldest = r;
        a->dirty_newest = r;
    }
    a->ndirty += r->npages;
}

static void dirty_unlink(xa_arena *a, xa_run *r) {
    if (r->dirty_prev)
        r->dirty_prev->dirty_next = r->dirty_next;
    else
        a->dirty_oldest = r->dirty_next;
    if (r->dirty_next)
        r->dirty_next->dirty_prev = r->dirty_prev;
    else
        a->dirty_newest = r->dirty_prev;
    a->ndirty -= r->npages;
}

/* Slabs map every page (a region may start on any); large runs only
 * their first page (free's lookup) and last (the right neighbour's merge
 * test): setting 512 entries per 2 MiB block showed in profiles. */
static void map_range(xa_run *r, bool every_page) {
    xa_chunk *ch = xa_chunk_of(r->addr);
    if (every_page) {
        for (unsigned i = 0; i < r->npages; i++)
            xa_chunk_map_set(ch, r->page + i, r);
    } else {
        xa_chunk_map_set(ch, r->page, r);
        xa_chunk_map_set(ch, r->page + r->npages - 1, r);
    }
}

/* Free runs guarantee their first and last map entries only. */
static void free_run_insert(xa_arena *a, xa_run *r, bool dirty, uint64_t since) {
    xa_chunk *ch = xa_chunk_of(r->addr);
    r->kind = XA_RUN_FREE;
    r->sizeclass = XA_CLASS_NONE;
    xa_chunk_map_set(ch, r->page, r);
    xa_chunk_map_set(ch, r->page + r->npages - 1, r);
    r->dirty = 0;
    if (dirty)
        dirty_link(a, r, since);
    xa_rb_insert(dirty ? &a->avail_dirty : &a->avail_clean, &r->node);
    if (r->npages == XA_USABLE_PAGES)
        a->nempty_chunks++;
}

static void free_run_remove(xa_arena *a, xa_run *r) {
    xa_rb_remove(r->dirty ? &a->avail_dirty : &a->avail_clean, &r->node);
    if (r->dirty)
        dirty_unlink(a, r);
    if (r->npages == XA_USABLE_PAGES)
        a->nempty_chunks--;
}

/* Best fit for need pages: dirty runs first, then clean ones. */
static xa_run *best_fit(xa_arena *a, size_t need) {
    xa_run key = { .npages = (uint16_t)need, .addr = NULL };
    xa_rb_node *n = xa_rb_lower_bound(&a->avail_dirty, &key.node);
    if (n == NULL)
        n = xa_rb_lower_bound(&a->avail_clean, &key.node);
    return n ? xa_rb_entry(n, xa_run, node) : NULL;
}

static bool chunk_grow(xa_arena *a) {
    xa_run *r = desc_alloc(a, XA_RUN_DESC_SIZE);
    if (r == NULL)
        return false;
    xa_chunk *ch = xa_chunk_new(a, xa_opt.thp);
    if (ch == NULL) {
        desc_free(a, r);
        return false;
    }
    r->page = XA_HEADER_PAGES;
    r->npages = XA_USABLE_PAGES;
    r->addr = (char *)ch + XA_HEADER_PAGES * XA_PAGE;
    free_run_insert(a, r, false, 0);
    a->nchunks++;
    return true;
}

/* ---- page runs -------------------------------------------------------- */

/* Carve npages, starting at a multiple of align_pages, out of the best
 * fitting free run for class c; the result has its class and map entries
 * set but no kind yet. A dirty tail shorter than any run is not split
 * off: the run takes it (r->npages may exceed the class's pages). Split
 * off, such slivers piled up as dirty pages no allocation could use: in
 * bench_xthread 90 % of the runs cut from clean pages were cut while the
 * arena held enough dirty pages, all in slivers; with them kept, none
 * (bench_oversub: -5 % CPU per operation at 2 threads; frag's final
 * resident over live 1.803 -> 1.814). A slab puts the kept pages to use:
 * its descriptor is sized for the regions of all its pages. */
static xa_run *run_alloc(xa_arena *a, size_t npages, size_t align_pages, unsigned c, bool slab) {
    size_t need = npages + align_pages - 1;
    if (need > XA_USABLE_PAGES)
        return NULL;
    xa_run *fr = best_fit(a, need);
    if (fr == NULL) {
        if (!chunk_grow(a))
            return NULL;
        fr = best_fit(a, need);
    }
    bool dirty = fr->dirty;
    uint64_t since = fr->dirty_since_ms;
    size_t start = fr->page;
    if (align_pages > 1) {
        uintptr_t addr = XA_ALIGN_UP((uintptr_t)fr->addr, align_pages * XA_PAGE);
        start += (addr - (uintptr_t)fr->addr) >> XA_PAGE_SHIFT;
    }
    size_t head = start - fr->page;
    size_t tail = fr->npages - head - npages;
    if (dirty && tail < XA_RUN_MIN_PAGES) {
        npages += tail;               /* a sliver no run fits: the run keeps it */
        tail = 0;
    }
    /* Both descriptors first, so failure leaves the free run untouched. */
    size_t desc_size = slab ? xa_slab_desc_size(xa_slab_regs(c, npages)) : XA_RUN_DESC_SIZE;
    xa_run *r = desc_alloc(a, desc_size);
    xa_run *rest = r ? desc_alloc(a, XA_RUN_DESC_SIZE) : NULL;
    if (rest == NULL) {
        if (r)
            desc_free(a, r);
        return NULL;
    }
    free_run_remove(a, fr);
    if (!dirty)
        __atomic_fetch_add(&a->grew_clean, npages, __ATOMIC_RELAXED);
    xa_chunk *ch = xa_chunk_of(fr->addr);

    r->page = (uint16_t)start;
    r->npages = (uint16_t)npages;
    r->addr = (char *)ch + start * XA_PAGE;
    r->zeroed = !dirty;
    r->nfree = r->nregs = 0;
    __atomic_store_n(&r->hwm, 0, __ATOMIC_RELAXED);   /* before the map entries name it */
    r->sizeclass = (uint8_t)c;
    map_range(r, slab);
    count_pages(&total_active, &a->nactive, (ptrdiff_t)npages);

    if (head) {                       /* fr keeps the head */
        fr->npages = (uint16_t)head;
        free_run_insert(a, fr, dirty, since);
    }
    if (tail) {
        xa_run *t = head ? rest : fr;
        if (t == rest)
            rest = NULL;
        t->page = (uint16_t)(start + npages);
        t->npages = (uint16_t)tail;
        t->addr = (char *)ch + t->page * XA_PAGE;
        free_run_insert(a, t, dirty, since);
    } else if (!head) {
        desc_free(a, fr);
    }
    if (rest)
        desc_free(a, rest);
    return r;
}

/* Pages [page, page + npages) of ch become free, described by fr, merged
 * with free neighbours; dirty ones count as dirty since since (ms). The
 * empty chunks past the retained few go back. */
static void free_pages(xa_arena *a, xa_chunk *ch, xa_run *fr, size_t page, size_t npages,
                       bool dirty, uint64_t since) {
    /* Only runs in the same state merge: dirty pages stay countable and
     * purgeable on their own; purging a run merges it with clean ones. A
     * merged dirty run keeps its oldest age. */
    if (page > XA_HEADER_PAGES) {
        xa_run *l = xa_chunk_map_get(ch, (unsigned)page - 1);
        if (l->kind == XA_RUN_FREE && l->dirty == dirty) {
            if (dirty && l->dirty_since_ms < since)
                since = l->dirty_since_ms;
            free_run_remove(a, l);
            page = l->page;
            npages += l->npages;
            desc_free(a, l);
        }
    }
    if (page + npages < XA_CHUNK_PAGES) {
        xa_run *r = xa_chunk_map_get(ch, (unsigned)(page + npages));
        if (r->kind == XA_RUN_FREE && r->dirty == dirty) {
            if (dirty && r->dirty_since_ms < since)
                since = r->dirty_since_ms;
            free_run_remove(a, r);
            npages += r->npages;
            desc_free(a, r);
        }
    }
    fr->page = (uint16_t)page;
    fr->npages = (uint16_t)npages;
    fr->addr = (char *)ch + page * XA_PAGE;
    if (npages == XA_USABLE_PAGES && a->nempty_chunks >= RETAINED_EMPTY_CHUNKS) {
        a->nchunks--;
        desc_free(a, fr);
        xa_chunk_delete(ch);
        return;
    }
    free_run_insert(a, fr, dirty, since);
}

static void run_dalloc(xa_arena *a, xa_run *r, uint64_t since) {
    count_pages(&total_active, &a->nactive, -(ptrdiff_t)r->npages);
    free_pages(a, xa_chunk_of(r->addr), r, r->page, r->npages, true, since);
}

/* ---- purging ---------------------------------------------------------- */

/* Purge with the arena lock held on entry and exit but not around the
 * madvise calls: runs are detached (kind PURGING) in batches, advised
 * unlocked, then put back clean, merged with clean neighbours. Threads
 * needing the arena meanwhile do not queue behind a system call. */
#define PURGE_BATCH 32

static size_t purge(xa_arena *a, bool all, size_t keep) {
    uint64_t now = xa_now_ms();
    long decay = xa_opt.dirty_decay_ms;
    size_t purged = 0;
    for (;;) {
        xa_run *batch[PURGE_BATCH], *r;
        unsigned n = 0;
        while (n < PURGE_BATCH && (r = a->dirty_oldest) != NULL) {
            bool expired = decay >= 0 && now - r->dirty_since_ms >= (uint64_t)decay;
            if (!all && !expired && (decay < 0 || !over_dirty_limit(a, keep)))
                break;
            free_run_remove(a, r);
            r->kind = XA_RUN_PURGING;
            batch[n++] = r;
        }
        if (n == 0)
            break;
        xa_mutex_unlock(&a->lock);
        for (unsigned i = 0; i < n; i++)
            xa_pages_purge(batch[i]->addr, (size_t)batch[i]->npages << XA_PAGE_SHIFT);
        xa_mutex_lock(&a->lock);
        for (unsigned i = 0; i < n; i++) {
            r = batch[i];
            purged += r->npages;
            free_pages(a, xa_chunk_of(r->addr), r, r->page, r->npages, false, 0);
        }
        if (n < PURGE_BATCH)
            break;
    }
    a->last_purge_ms = now;
    if (purged) {
        a->npurge_calls++;
        a->npurged_pages += purged;
    }
    return purged;
}

size_t xa_arena_purge(xa_arena *a, bool all) {
    return purge(a, all, SIZE_MAX);
}

void xa_arena_purge_bulk(xa_arena *a) {
    if (xa_opt.dirty_decay_ms < 0)
        return;
    xa_mutex_lock(&a->lock);
    if (a->ndirty > BULK_KEEP_PAGES)
        purge(a, false, BULK_KEEP_PAGES);
    xa_mutex_unlock(&a->lock);
}

void xa_arena_decay(xa_arena *a) {
    xa_mutex_lock(&a->lock);
    xa_arena_purge(a, false);
    xa_mutex_unlock(&a->lock);
}

/* Called after run operations, under the arena lock (which it may drop
 * for system calls): cheap unless the dirty pages are over their limit or
 * a tenth of the decay time passed. */
static void maybe_purge(xa_arena *a) {
    long decay = xa_opt.dirty_decay_ms;
    if (decay < 0 || (a->dirty_oldest == NULL && xa_hugecache_bytes() == 0))
        return;
    if (decay == 0 || over_dirty_limit(a, SIZE_MAX))
        xa_arena_purge(a, decay == 0);
    else if ((++a->purge_ticks & 7) == 0 && xa_now_ms() - a->last_purge_ms >= (uint64_t)decay / 10) {
        xa_arena_purge(a, false);
        xa_mutex_unlock(&a->lock);
        xa_hugecache_purge(false);   /* freed huge mappings age with the rest */
        xa_mutex_lock(&a->lock);
    }
}

/* Arena a took clean pages: resident size grows. Other arenas holding
 * more dirty pages than half their active ones (kept under the dirty
 * floor, for their own reuse) give back as many as a took, oldest runs
 * first. In a program whose arenas fill and drain out of phase (a
 * pipeline's producers) the floor of the drained arena otherwise adds to
 * the peak of the busy one (bench_xthread peak RSS over live 1.57 ->
 * 1.34). Up to half their active pages stay: churning arenas keep their
 * reuse (giving back every dirty page instead cost bench_oversub 70 % of
 * its throughput). Called with no lock held; busy arenas are skipped, not
 * waited for. */
static void settle_growth(xa_arena *a) {
    if (__atomic_load_n(&a->grew_clean, __ATOMIC_RELAXED) == 0)
        return;
    size_t n = __atomic_exchange_n(&a->grew_clean, 0, __ATOMIC_RELAXED);
    if (xa_opt.dirty_decay_ms < 0)
        return;
    unsigned limit = __atomic_load_n(&arenas_limit, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < limit && n; i++) {
        xa_arena *b = __atomic_load_n(&xa_arenas[i], __ATOMIC_ACQUIRE);
        if (b == NULL || b == a || pthread_mutex_trylock(&b->lock.m) != 0)
            continue;
        size_t spare = b->ndirty > b->nactive / 2 ? b->ndirty - b->nactive / 2 : 0;
        size_t take = spare < n ? spare : n;
        if (take) {
            n -= take;
            purge(b, false, b->ndirty - take);
        }
        xa_mutex_unlock(&b->lock);
    }
}

/* ---- large runs -------------------------------------------------------- */

void *xa_arena_large_alloc(xa_arena *a, unsigned c, size_t alignment, bool *zeroed) {
    size_t size = xa_class_size[c];
    xa_mutex_lock(&a->lock);
    xa_run *r = run_alloc(a, size >> XA_PAGE_SHIFT, alignment >> XA_PAGE_SHIFT,
                          c, false);
    if (r) {
        r->kind = XA_RUN_LARGE;       /* run_alloc set the class */
        r->nregs = 1;                 /* the free path's region test: one region */
        __atomic_store_n(&r->hwm, 1, __ATOMIC_RELAXED);
        xa_bitmap_word_set(&r->bitmap, 0, 0);   /* the lookup's bitmap test reads "taken" */
        a->large_allocated += size;
        a->nlarge_malloc++;
        *zeroed = r->zeroed;
        maybe_purge(a);
    }
    xa_mutex_unlock(&a->lock);
    settle_growth(a);
    return r ? r->addr : NULL;
}

void xa_arena_large_free(xa_arena *a, xa_run *r) {
    xa_mutex_lock(&a->lock);
    a->large_allocated -= xa_class_size[r->sizeclass];
    a->nlarge_free++;
    run_dalloc(a, r, xa_now_ms());
    maybe_purge(a);
    xa_mutex_unlock(&a->lock);
}

void xa_arena_large_free_idle(xa_arena *a, xa_run *r) {
    xa_mutex_lock(&a->lock);
    a->large_allocated -= xa_class_size[r->sizeclass];
    a->nlarge_free++;
    run_dalloc(a, r, 0);              /* dirty "since ever": expired */
    xa_mutex_unlock(&a->lock);
}

bool xa_arena_large_resize(xa_arena *a, xa_run *r, unsigned newc) {
    size_t old = r->npages, new = xa_class_size[newc] >> XA_PAGE_SHIFT;
    xa_chunk *ch = xa_chunk_of(r->addr);
    bool ok = false;
    xa_mutex_lock(&a->lock);
    if (new == old) {
        ok = true;                    /* the run kept a sliver that fits it */
    } else if (new < old) {
        xa_run *fr = desc_alloc(a, XA_RUN_DESC_SIZE);
        if (fr) {
            r->npages = (uint16_t)new;
            xa_chunk_map_set(ch, r->page + new - 1, r);   /* its new last page */
            count_pages(&total_active, &a->nactive, -(ptrdiff_t)(old - new));
            free_pages(a, ch, fr, r->page + new, old - new, true, xa_now_ms());
            ok = true;
        }
    } else if (r->page + new <= XA_CHUNK_PAGES) {
        size_t next = r->page + old;
        xa_run *nb = next < XA_CHUNK_PAGES ? xa_chunk_map_get(ch, (unsigned)next) : NULL;
        if (nb && nb->kind == XA_RUN_FREE && nb->npages >= new - old) {
            bool dirty = nb->dirty;
            uint64_t since = nb->dirty_since_ms;
            free_run_remove(a, nb);
            size_t left = nb->npages - (new - old);
            r->npages = (uint16_t)new;
            map_range(r, false);
            count_pages(&total_active, &a->nactive, (ptrdiff_t)(new - old));
            if (left) {
                nb->page = (uint16_t)(r->page + new);
                nb->npages = (uint16_t)left;
                nb->addr = (char *)ch + nb->page * XA_PAGE;
                free_run_insert(a, nb, dirty, since);
            } else {
                desc_free(a, nb);
            }
            ok = true;
        }
    }
    if (ok) {
        a->large_allocated += (size_t)xa_class_size[newc] - xa_class_size[r->sizeclass];
        r->sizeclass = (uint8_t)newc;
        map_range(r, false);          /* the entries' copy of the class */
        maybe_purge(a);
    }
    xa_mutex_unlock(&a->lock);
    return ok;
}

/* ---- small classes ----------------------------------------------------- */

static xa_run *slab_new(xa_arena *a, unsigned c) {
    const xa_slab_geom *g = &xa_slab_geom_of[c];
    xa_mutex_lock(&a->lock);
    xa_run *r = run_alloc(a, g->pages, 1, c, true);
    if (r)
        xa_slab_init(r, c);
    xa_mutex_unlock(&a->lock);        /* no purging here: the bin lock is held */
    return r;
}

/* Push the chain first .. last (linked through the blocks' first words)
 * onto the remote list with one CAS; the caller keeps nremote right. */
static void remote_link(xa_bin *bin, void *first, void *last) {
    void *head = __atomic_load_n(&bin->remote, __ATOMIC_RELAXED);
    do {
        *(void **)last = head;
    } while (!__atomic_compare_exchange_n(&bin->remote, &head, first, true,
                                          __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

/* Put back the rest of a list taken whole. Into an empty list it goes as
 * it is; only when blocks were pushed meanwhile is its tail looked for, a
 * walk that touches every block (a cache miss each: the lists of a busy
 * arena hold thousands; bench_oversub spent 16 % of its L1 misses
 * there). */
static void remote_put_rest(xa_bin *bin, void *first) {
    void *empty = NULL;
    if (__atomic_compare_exchange_n(&bin->remote, &empty, first, false, __ATOMIC_RELEASE,
                                    __ATOMIC_RELAXED))
        return;
    void *last = first;
    while (*(void **)last)
        last = *(void **)last;
    remote_link(bin, first, last);
}

/* Take the whole remote list (bin lock held). The caller walks it anyway
 * and uncounts the blocks it took (remote_uncount) as it goes: a separate
 * counting walk touched every block twice. */
static void *remote_take(xa_bin *bin) {
    if (__atomic_load_n(&bin->remote, __ATOMIC_RELAXED) == NULL)
        return NULL;
    return __atomic_exchange_n(&bin->remote, NULL, __ATOMIC_ACQUIRE);
}

/* n blocks left bin's remote list: statistics no longer count them free.
 * Under the bin lock (which statistics take), or for blocks taken by an
 * exchange; pushers count theirs before publishing, so the count never
 * drops below the list's length. */
static void remote_uncount(xa_bin *bin, size_t n) {
    if (n)
        __atomic_fetch_sub(&bin->nremote, n, __ATOMIC_RELAXED);
}

/* Put one region back into its slab (bin lock held); a slab that becomes
 * empty is pushed onto *empty, linked by node.left, for the caller to
 * release under the arena lock. */
static void region_put(xa_bin *bin, void *p, xa_run **empty) {
    xa_run *r = xa_chunk_map_get(xa_chunk_of(p), xa_page_of(p));
    int idx = xa_slab_region_of(r, p);
    if (unlikely(idx < 0 || !xa_slab_put(r, (unsigned)idx))) {
        xa_report_pointer("double free", p);
        return;
    }
    if (likely(!xa_opt.junk))         /* junk turns the caches off: no mark needed */
        xa_block_mark(p);             /* free in its slab: freemark.h */
    bin->curregs--;
    if (r == bin->cur)
        return;
    if (r->nfree == r->nregs) {
        if (r->nregs > 1)
            xa_rb_remove(&bin->nonfull, &r->node);
        r->node.left = (xa_rb_node *)*empty;
        *empty = r;
        bin->nslabs--;
    } else if (r->nfree == 1) {
        xa_rb_insert(&bin->nonfull, &r->node);
    }
}

/* Every block on the remote list back into its slab (bin lock held). */
static void remote_put_back(xa_bin *bin, xa_run **empty) {
    size_t n = 0;
    for (void *p = remote_take(bin), *next; p; p = next, n++) {
        next = *(void **)p;
        region_put(bin, p, empty);
    }
    remote_uncount(bin, n);
}

static void release_empty(xa_arena *a, xa_run *empty) {
    if (empty == NULL)
        return;
    uint64_t now = xa_now_ms();
    xa_mutex_lock(&a->lock);
    while (empty) {
        xa_run *next = (xa_run *)empty->node.left;
        run_dalloc(a, empty, now);
        empty = next;
    }
    maybe_purge(a);
    xa_mutex_unlock(&a->lock);
}

/* Free blocks of class c in other arenas, for a thread of arena a that
 * would otherwise cut a new slab: first the blocks waiting on their bins'
 * remote-free lists (one atomic exchange each, no lock; what is not
 * needed goes back), then free regions of their non-full slabs (not their
 * current ones, where their own threads allocate; trylock only). In a pipeline whose producers run
 * out of phase, one arena's freed memory would otherwise sit unused while
 * another grows (bench_xthread). The blocks stay their arenas' and go home
 * when freed. Classes under a cache line are left alone: their neighbours
 * on the same line may be in use by a thread of the other arena (passive
 * false sharing, which the foreign queues exist to avoid). */

static unsigned take_from_other_arenas(xa_arena *a, unsigned c, void **out, unsigned want) {
    unsigned got = 0;
    if (c < XA_SUBLINE_CLASSES)
        return 0;
    unsigned limit = __atomic_load_n(&arenas_limit, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < limit && got < want; i++) {
        xa_arena *b = __atomic_load_n(&xa_arenas[i], __ATOMIC_ACQUIRE);
        if (b == NULL || b == a || __atomic_load_n(&b->bins[c].remote, __ATOMIC_RELAXED) == NULL)
            continue;
        void *p = __atomic_exchange_n(&b->bins[c].remote, NULL, __ATOMIC_ACQUIRE);
        unsigned took = 0;
        while (p && got < want) {
            out[got++] = p;
            p = *(void **)p;
            took++;
        }
        remote_uncount(&b->bins[c], took);
        if (p)                        /* the rest goes back, still counted */
            remote_put_rest(&b->bins[c], p);
    }
    for (unsigned i = 0; i < limit && got < want; i++) {
        xa_arena *b = __atomic_load_n(&xa_arenas[i], __ATOMIC_ACQUIRE);
        if (b == NULL || b == a || pthread_mutex_trylock(&b->bins[c].lock.m) != 0)
            continue;                 /* trylock: we hold our own bin's lock */
        xa_bin *other = &b->bins[c];
        xa_rb_node *n;
        unsigned took = 0;
        while (got + took < want && (n = xa_rb_first(&other->nonfull)) != NULL) {
            xa_run *r = xa_rb_entry(n, xa_run, node);
            took += xa_slab_take(r, out + got + took, want - got - took);
            if (r->nfree == 0)
                xa_rb_remove(&other->nonfull, n);
        }
        other->curregs += took;
        xa_mutex_unlock(&other->lock);
        got += took;
    }
    return got;
}

unsigned xa_arena_fill(xa_arena *a, unsigned c, void **out, unsigned want, uint64_t requests) {
    xa_bin *bin = &a->bins[c];
    unsigned got = 0;
    xa_run *empty = NULL;
    xa_mutex_lock(&bin->lock);
    /* Remote-freed blocks first: still taken in the bitmaps, they go
     * straight to the caller; what is left over returns to the slabs. */
    size_t taken_remote = 0;
    for (void *p = remote_take(bin), *next; p; p = next, taken_remote++) {
        next = *(void **)p;
        if (got < want)
            out[got++] = p;
        else
            region_put(bin, p, &empty);
    }
    remote_uncount(bin, taken_remote);
    unsigned reused = got;
    while (got < want) {
        xa_run *r = bin->cur;
        if (r == NULL || r->nfree == 0) {
            xa_rb_node *n = xa_rb_first(&bin->nonfull);
            if (n) {
                r = xa_rb_entry(n, xa_run, node);
                xa_rb_remove(&bin->nonfull, n);
            } else {
                unsigned taken = take_from_other_arenas(a, c, out + got, want - got);
                if (taken) {
                    got += taken;
                    reused += taken;
                    continue;
                }
                r = slab_new(a, c);
                if (r == NULL)
                    break;
                bin->nslabs++;
                bin->nslabs_created++;
            }
            bin->cur = r;
        }
        got += xa_slab_take(r, out + got, want - got);
    }
    bin->curregs += got - reused;
    bin->nfills++;
    bin->nrequests += requests;
    xa_mutex_unlock(&bin->lock);
    release_empty(a, empty);
    settle_growth(a);
    for (unsigned i = 0, j = got; i + 1 < j; i++, j--) {   /* lowest address last */
        void *t = out[i];
        out[i] = out[j - 1];
        out[j - 1] = t;
    }
    return got;
}

/* Chain the batch through the blocks and push it with one CAS. */
static void remote_push(xa_bin *bin, void **ptrs, unsigned n) {
    for (unsigned i = 0; i + 1 < n; i++)
        *(void **)ptrs[i] = ptrs[i + 1];
    /* Counted before it is visible: a taker never subtracts blocks not
     * yet counted, so the count never drops below the list's length. */
    __atomic_fetch_add(&bin->nremote, n, __ATOMIC_RELAXED);
    remote_link(bin, ptrs[0], ptrs[n - 1]);
}

void xa_arena_small_free_remote(xa_arena *a, unsigned c, void **ptrs, unsigned n) {
    if (n)
        remote_push(&a->bins[c], ptrs, n);
}

void xa_arena_small_free(xa_arena *a, unsigned c, void **ptrs, unsigned n) {
    xa_bin *bin = &a->bins[c];
    if (n == 0)
        return;
    if (pthread_mutex_trylock(&bin->lock.m) != 0) {
        remote_push(bin, ptrs, n);    /* busy (often its owner filling): no queueing */
        return;
    }
    xa_run *empty = NULL;
    remote_put_back(bin, &empty);
    for (unsigned i = 0; i < n; i++)
        region_put(bin, ptrs[i], &empty);
    bin->nflushes++;
    xa_mutex_unlock(&bin->lock);
    release_empty(a, empty);
}

void xa_arena_release_empty_slabs(xa_arena *a) {
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        xa_bin *bin = &a->bins[c];
        xa_run *empty = NULL;
        xa_mutex_lock(&bin->lock);
        remote_put_back(bin, &empty);
        xa_run *r = bin->cur;
        if (r && r->nfree == r->nregs) {
            bin->cur = NULL;
            bin->nslabs--;
            r->node.left = (xa_rb_node *)empty;
            empty = r;
        }
        xa_mutex_unlock(&bin->lock);
        release_empty(a, empty);
    }
}

void xa_arena_drain_remote(xa_arena *a) {
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        xa_bin *bin = &a->bins[c];
        if (__atomic_load_n(&bin->remote, __ATOMIC_RELAXED) == NULL ||
            pthread_mutex_trylock(&bin->lock.m) != 0)
            continue;
        xa_run *empty = NULL;
        remote_put_back(bin, &empty);
        xa_mutex_unlock(&bin->lock);
        release_empty(a, empty);
    }
}

/* ---- arenas ------------------------------------------------------------ */

static void arena_init(xa_arena *a, unsigned index) {
    memset(a, 0, sizeof *a);
    a->index = index;
    xa_mutex_init(&a->lock);
    xa_rb_init(&a->avail_dirty, avail_cmp);
    xa_rb_init(&a->avail_clean, avail_cmp);
    a->last_purge_ms = xa_now_ms();
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        xa_mutex_init(&a->bins[c].lock);
        xa_rb_init(&a->bins[c].nonfull, addr_cmp);
    }
}

xa_arena *xa_arena_get(unsigned index) {
    xa_arena *a = __atomic_load_n(&xa_arenas[index], __ATOMIC_ACQUIRE);
    if (likely(a != NULL))
        return a;
    xa_mutex_lock(&arenas_lock);
    a = xa_arenas[index];
    if (a == NULL) {
        a = xa_base_alloc(&arenas_meta, sizeof *a + XA_CACHELINE);
        if (a) {
            a = (xa_arena *)XA_ALIGN_UP((uintptr_t)a, XA_CACHELINE);
            arena_init(a, index);
            __atomic_store_n(&xa_arenas[index], a, __ATOMIC_RELEASE);
            if (index >= arenas_limit)
                __atomic_store_n(&arenas_limit, index + 1, __ATOMIC_RELEASE);
        }
    }
    xa_mutex_unlock(&arenas_lock);
    return a;
}

void xa_arena_prefork(void) {
    xa_mutex_lock(&arenas_lock);
    for (unsigned i = 0; i < XA_MAX_ARENAS; i++) {
        xa_arena *a = xa_arenas[i];
        if (a == NULL)
            continue;
        for (unsigned c = 0; c < XA_NSMALL; c++)
            xa_mutex_lock(&a->bins[c].lock);
        xa_mutex_lock(&a->lock);
    }
}

void xa_arena_postfork_parent(void) {
    for (unsigned i = 0; i < XA_MAX_ARENAS; i++) {
        xa_arena *a = xa_arenas[i];
        if (a == NULL)
            continue;
        xa_mutex_unlock(&a->lock);
        for (unsigned c = 0; c < XA_NSMALL; c++)
            xa_mutex_unlock(&a->bins[c].lock);
    }
    xa_mutex_unlock(&arenas_lock);
}

void xa_arena_postfork_child(void) {
    for (unsigned i = 0; i < XA_MAX_ARENAS; i++) {
        xa_arena *a = xa_arenas[i];
        if (a == NULL)
            continue;
        xa_mutex_postfork_child(&a->lock);
        for (unsigned c = 0; c < XA_NSMALL; c++)
            xa_mutex_postfork_child(&a->bins[c].lock);
    }
    xa_mutex_postfork_child(&arenas_lock);
}
