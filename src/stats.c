#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "stats.h"
#include "arena.h"
#include "conf.h"
#include "huge.h"
#include "init.h"
#include "xalloc.h"

static void arena_collect(xa_arena *a, xa_arena_stats *s) {
    memset(s, 0, sizeof *s);
    s->index = a->index;
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        xa_bin *b = &a->bins[c];
        xa_class_stats *cs = &s->classes[c];
        xa_mutex_lock(&b->lock);
        cs->nrequests = b->nrequests;
        cs->nfills = b->nfills;
        cs->nflushes = b->nflushes;
        cs->nslabs_created = b->nslabs_created;
        size_t nremote = __atomic_load_n(&b->nremote, __ATOMIC_RELAXED);
        cs->curregs = b->curregs > nremote ? b->curregs - nremote : 0;   /* remote: freed */
        cs->nslabs = b->nslabs + (b->cur != NULL && b->nslabs == 0);
        xa_mutex_unlock(&b->lock);
        s->allocated_small += cs->curregs * xa_class_size[c];
    }
    xa_mutex_lock(&a->lock);
    s->allocated_large = a->large_allocated;
    s->active = a->nactive << XA_PAGE_SHIFT;
    s->dirty = a->ndirty << XA_PAGE_SHIFT;
    s->nchunks = a->nchunks;
    s->mapped = a->nchunks * XA_CHUNK;
    s->metadata = a->nchunks * XA_HEADER_PAGES * XA_PAGE + a->base.mapped;
    s->nlarge_malloc = a->nlarge_malloc;
    s->nlarge_free = a->nlarge_free;
    s->npurge_calls = a->npurge_calls;
    s->npurged_pages = a->npurged_pages;
    xa_mutex_unlock(&a->lock);
}

unsigned xa_stats_collect(xa_stats *out, xa_arena_stats *per_arena) {
    memset(out, 0, sizeof *out);
    if (!xa_ensure_init())
        return 0;
    unsigned n = 0;
    xa_arena_stats tmp;
    for (unsigned i = 0; i < XA_MAX_ARENAS; i++) {
        xa_arena *a = __atomic_load_n(&xa_arenas[i], __ATOMIC_ACQUIRE);
        if (a == NULL)
            continue;
        xa_arena_stats *s = per_arena ? &per_arena[n] : &tmp;
        arena_collect(a, s);
        n++;
        out->allocated += s->allocated_small + s->allocated_large;
        out->active += s->active;
        out->dirty += s->dirty;
        out->mapped += s->mapped;
        out->metadata += s->metadata;
        out->retained += s->mapped - s->active - s->dirty - s->nchunks * XA_HEADER_PAGES * XA_PAGE;
    }
    xa_huge_stats h;
    xa_huge_stats_get(&h);
    out->huge_allocated = h.allocated;
    out->huge_nblocks = h.nblocks;
    out->huge_nmalloc = h.nmalloc;
    out->huge_nfree = h.nfree;
    out->allocated += h.allocated;
    out->active += h.allocated;
    out->mapped += h.allocated + h.cached;
    out->dirty += h.cached;
    out->metadata += h.meta;
    out->resident = out->active + out->dirty + out->metadata;
    out->narenas_used = n;
    return n;
}

/* ---- printing ---------------------------------------------------------- */

typedef struct printer {
    xa_write_cb cb;
    void *opaque;
} printer;

static void out(printer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(printer *p, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    p->cb(p->opaque, buf);
}

int xa_stats_fd = STDERR_FILENO;

static void write_stderr(void *opaque, const char *text) {
    (void)opaque;
    size_t len = strlen(text);
    while (len) {
        ssize_t w = write(xa_stats_fd, text, len);
        if (w <= 0)
            return;
        text += w;
        len -= (size_t)w;
    }
}

static void print_json(printer *p, const xa_stats *s, const xa_arena_stats *as, unsigned n,
                       bool arenas, bool classes) {
    out(p, "{\"xalloc\":{\"version\":\"%s\",", XALLOC_VERSION);
    out(p, "\"opt\":{\"narenas\":%u,\"shared_arenas\":%u,\"tcache\":%s,\"tcache_max\":%zu,"
           "\"tcache_reclaim\":%s,\"dirty_decay_ms\":%ld,"
           "\"background_thread\":%s,\"thp\":\"%s\",\"abort_on_error\":%s,\"junk\":%s},",
        xa_narenas, xa_nshared, xa_opt.tcache ? "true" : "false", xa_opt.tcache_max,
        xa_opt.tcache_reclaim ? "true" : "false", xa_opt.dirty_decay_ms,
        xa_opt.background_thread ? "true" : "false",
        xa_opt.thp == 1 ? "always" : xa_opt.thp == 2 ? "never" : "default",
        xa_opt.abort_on_error ? "true" : "false", xa_opt.junk ? "true" : "false");
    out(p, "\"stats\":{\"allocated\":%zu,\"active\":%zu,\"resident\":%zu,\"mapped\":%zu,"
           "\"retained\":%zu,\"metadata\":%zu,\"dirty\":%zu,",
        s->allocated, s->active, s->resident, s->mapped, s->retained, s->metadata, s->dirty);
    out(p, "\"huge\":{\"allocated\":%zu,\"nblocks\":%zu,\"nmalloc\":%llu,\"nfree\":%llu}},",
        s->huge_allocated, s->huge_nblocks, (unsigned long long)s->huge_nmalloc,
        (unsigned long long)s->huge_nfree);
    out(p, "\"arenas\":[");
    for (unsigned i = 0; arenas && i < n; i++) {
        const xa_arena_stats *a = &as[i];
        out(p, "%s{\"index\":%u,\"allocated_small\":%zu,\"allocated_large\":%zu,\"active\":%zu,"
               "\"dirty\":%zu,\"mapped\":%zu,\"metadata\":%zu,\"nchunks\":%zu,"
               "\"nlarge_malloc\":%llu,\"nlarge_free\":%llu,\"npurge_calls\":%llu,\"npurged_pages\":%llu,"
               "\"classes\":[",
            i ? "," : "", a->index, a->allocated_small, a->allocated_large, a->active, a->dirty,
            a->mapped, a->metadata, a->nchunks, (unsigned long long)a->nlarge_malloc,
            (unsigned long long)a->nlarge_free, (unsigned long long)a->npurge_calls,
            (unsigned long long)a->npurged_pages);
        bool first = true;
        for (unsigned c = 0; classes && c < XA_NSMALL; c++) {
            const xa_class_stats *cs = &a->classes[c];
            if (cs->nfills == 0 && cs->curregs == 0)
                continue;
            out(p, "%s{\"size\":%u,\"nrequests\":%llu,\"curregs\":%zu,\"nslabs\":%zu,"
                   "\"nfills\":%llu,\"nflushes\":%llu}",
                first ? "" : ",", xa_class_size[c], (unsigned long long)cs->nrequests, cs->curregs,
                cs->nslabs, (unsigned long long)cs->nfills, (unsigned long long)cs->nflushes);
            first = false;
        }
        out(p, "]}");
    }
    out(p, "]}}\n");
}

static void print_text(printer *p, const xa_stats *s, const xa_arena_stats *as, unsigned n,
                       bool arenas, bool classes) {
    out(p, "___ xalloc %s statistics ___\n", XALLOC_VERSION);
    out(p, "options: narenas:%u shared_arenas:%u tcache:%s tcache_max:%zu tcache_reclaim:%s "
           "dirty_decay_ms:%ld background_thread:%s thp:%s abort_on_error:%s junk:%s\n",
        xa_narenas, xa_nshared, xa_opt.tcache ? "true" : "false", xa_opt.tcache_max,
        xa_opt.tcache_reclaim ? "true" : "false", xa_opt.dirty_decay_ms,
        xa_opt.background_thread ? "true" : "false",
        xa_opt.thp == 1 ? "always" : xa_opt.thp == 2 ? "never" : "default",
        xa_opt.abort_on_error ? "true" : "false", xa_opt.junk ? "true" : "false");
    out(p, "allocated: %zu, active: %zu, resident: %zu, mapped: %zu, retained: %zu, metadata: %zu, dirty: %zu\n",
        s->allocated, s->active, s->resident, s->mapped, s->retained, s->metadata, s->dirty);
    out(p, "huge: allocated %zu in %zu blocks, %llu mallocs, %llu frees\n", s->huge_allocated,
        s->huge_nblocks, (unsigned long long)s->huge_nmalloc, (unsigned long long)s->huge_nfree);
    for (unsigned i = 0; arenas && i < n; i++) {
        const xa_arena_stats *a = &as[i];
        out(p, "arena %u: small %zu, large %zu, active %zu, dirty %zu, mapped %zu (%zu chunks), "
               "metadata %zu, large mallocs %llu frees %llu, purges %llu (%llu pages)\n",
            a->index, a->allocated_small, a->allocated_large, a->active, a->dirty, a->mapped,
            a->nchunks, a->metadata, (unsigned long long)a->nlarge_malloc,
            (unsigned long long)a->nlarge_free, (unsigned long long)a->npurge_calls,
            (unsigned long long)a->npurged_pages);
        if (!classes)
            continue;
        out(p, "  %8s %12s %10s %8s %10s %10s\n", "size", "requests", "curregs", "slabs", "fills", "flushes");
        for (unsigned c = 0; c < XA_NSMALL; c++) {
            const xa_class_stats *cs = &a->classes[c];
            if (cs->nfills == 0 && cs->curregs == 0)
                continue;
            out(p, "  %8u %12llu %10zu %8zu %10llu %10llu\n", xa_class_size[c],
                (unsigned long long)cs->nrequests, cs->curregs, cs->nslabs,
                (unsigned long long)cs->nfills, (unsigned long long)cs->nflushes);
        }
    }
    out(p, "___ end of xalloc statistics ___\n");
}

static xa_mutex print_lock = XA_MUTEX_INITIALIZER;

/* fork: printing holds print_lock while it takes arena locks, so it comes
 * first; a child forked mid-print gets it back unlocked. */
void xa_stats_prefork(void) {
    xa_mutex_lock(&print_lock);
}

void xa_stats_postfork_parent(void) {
    xa_mutex_unlock(&print_lock);
}

void xa_stats_postfork_child(void) {
    xa_mutex_postfork_child(&print_lock);
}

void xa_stats_print(xa_write_cb cb, void *opaque, const char *opts) {
    static xa_arena_stats per_arena[XA_MAX_ARENAS];   /* too big for a stack */
    printer p = { cb ? cb : write_stderr, opaque };
    bool json = opts && strchr(opts, 'J');
    bool arenas = !(opts && strchr(opts, 'a'));
    bool classes = !(opts && strchr(opts, 'b'));
    xa_mutex_lock(&print_lock);
    xa_stats s;
    unsigned n = xa_stats_collect(&s, per_arena);
    if (json)
        print_json(&p, &s, per_arena, n, arenas, classes);
    else
        print_text(&p, &s, per_arena, n, arenas, classes);
    xa_mutex_unlock(&print_lock);
}
