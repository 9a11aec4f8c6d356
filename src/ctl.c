/* xallctl: named values, read and written like jemalloc's mallctl.
 *   ENOENT  unknown name
 *   EINVAL  *oldlenp (or newlen) does not match the value's size, or a bad value
 *   EPERM   writing a read-only value
 * Statistics are a snapshot refreshed by writing (or reading) "epoch". */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include "xalloc.h"
#include "arena.h"
#include "init.h"
#include "purge.h"
#include "stats.h"
#include "tcache.h"

static xa_mutex snapshot_lock = XA_MUTEX_INITIALIZER;
static xa_stats snapshot;
static uint64_t epoch;

void xa_ctl_prefork(void) {
    xa_mutex_lock(&snapshot_lock);
}

void xa_ctl_postfork_parent(void) {
    xa_mutex_unlock(&snapshot_lock);
}

void xa_ctl_postfork_child(void) {
    xa_mutex_postfork_child(&snapshot_lock);
}

static int get(void *oldp, size_t *oldlenp, const void *value, size_t size) {
    if (oldp == NULL)
        return 0;
    if (oldlenp == NULL)
        return EINVAL;
    if (*oldlenp != size)
        return EINVAL;
    memcpy(oldp, value, size);
    return 0;
}

static uint64_t refresh(void) {
    xa_stats s;
    xa_stats_collect(&s, NULL);
    xa_mutex_lock(&snapshot_lock);
    snapshot = s;
    uint64_t e = ++epoch;
    xa_mutex_unlock(&snapshot_lock);
    return e;
}

static int stat_value(const char *name, size_t *v) {
    static const struct { const char *name; size_t offset; } names[] = {
        { "stats.allocated", offsetof(xa_stats, allocated) },
        { "stats.active", offsetof(xa_stats, active) },
        { "stats.resident", offsetof(xa_stats, resident) },
        { "stats.mapped", offsetof(xa_stats, mapped) },
        { "stats.retained", offsetof(xa_stats, retained) },
        { "stats.metadata", offsetof(xa_stats, metadata) },
        { "stats.dirty", offsetof(xa_stats, dirty) },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            xa_mutex_lock(&snapshot_lock);
            memcpy(v, (const char *)&snapshot + names[i].offset, sizeof *v);
            xa_mutex_unlock(&snapshot_lock);
            return 0;
        }
    return ENOENT;
}

__attribute__((visibility("default")))
int xallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
    if (name == NULL)
        return ENOENT;
    if (!xa_ensure_init())
        return EAGAIN;
    bool writing = newp != NULL || newlen != 0;

    if (strcmp(name, "version") == 0) {
        if (writing)
            return EPERM;
        const char *v = XALLOC_VERSION;
        return get(oldp, oldlenp, &v, sizeof v);
    }
    if (strcmp(name, "epoch") == 0) {
        if (writing && newlen != sizeof(uint64_t))
            return EINVAL;
        uint64_t e = refresh();
        return get(oldp, oldlenp, &e, sizeof e);
    }
    if (strncmp(name, "stats.", 6) == 0) {
        size_t v;
        int err = stat_value(name, &v);
        if (err)
            return err;
        if (writing)
            return EPERM;
        return get(oldp, oldlenp, &v, sizeof v);
    }
    if (strcmp(name, "arenas.narenas") == 0) {
        if (writing)
            return EPERM;
        unsigned n = xa_narenas;
        return get(oldp, oldlenp, &n, sizeof n);
    }
    if (strcmp(name, "thread.allocated") == 0 || strcmp(name, "thread.deallocated") == 0) {
        if (writing)
            return EPERM;
        uint64_t v = name[7] == 'a' ? xa_tsd_allocated(&xa_tls) : xa_tsd_deallocated(&xa_tls);
        return get(oldp, oldlenp, &v, sizeof v);
    }
    if (strcmp(name, "thread.tcache.flush") == 0) {
        if (oldp || writing)
            return EINVAL;
        if (xa_tls.state == XA_TSD_ACTIVE)
            xa_tcache_flush_all(&xa_tls);
        return 0;
    }
    if (strcmp(name, "arena.purge") == 0) {
        if (oldp || writing)
            return EINVAL;
        xa_purge_all();
        return 0;
    }
    return ENOENT;
}
