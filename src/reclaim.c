/* Giving back idle threads' large-class caches (reclaim.h).
 *
 * The hand-off: the owner marks its uses of its large bins with in_large
 * (xa_large_enter: a store, a compiler barrier, a load of reclaiming); the
 * reclaimer sets reclaiming, runs membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)
 * and then reads in_large. The membarrier puts a full memory barrier into
 * every running thread of the process, so either the owner's store of
 * in_large is visible to the reclaimer's read, or the owner's read of
 * reclaiming comes after the barrier and sees it set (and waits for the
 * reclaimer to finish). A sleeping owner passed a context switch, a full
 * barrier too. So the owner pays no fence and no locked instruction on its
 * large paths, and the reclaimer one system call per scan. Without
 * membarrier (kernels before 4.14, seccomp filters) nothing is reclaimed. */
#define _GNU_SOURCE
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "reclaim.h"
#include "arena.h"
#include "conf.h"
#include "lock.h"

#if defined(__linux__) && defined(__NR_membarrier)
#include <linux/membarrier.h>
#define HAVE_MEMBARRIER 1
#endif

/* A thread whose GC has not run for this long, or the decay time if that
 * is longer, counts as idle: twice the GC interval (tcache.c), so a thread
 * that is only between two passes never does. */
#define RECLAIM_IDLE_MIN_MS 200

static xa_mutex list_lock = XA_MUTEX_INITIALIZER;
static xa_tsd *threads;               /* under list_lock */
static int membarrier_state;          /* under list_lock: 0 unknown, 1 usable, -1 not */
static uint64_t next_scan_ms;         /* atomic */

void xa_reclaim_register(xa_tsd *t) {
    xa_mutex_lock(&list_lock);
    t->list_prev = NULL;
    t->list_next = threads;
    if (threads)
        threads->list_prev = t;
    threads = t;
    xa_mutex_unlock(&list_lock);
}

/* Waits for a reclaim in progress: it holds the lock throughout. */
void xa_reclaim_unregister(xa_tsd *t) {
    xa_mutex_lock(&list_lock);
    if (t->list_prev)
        t->list_prev->list_next = t->list_next;
    else if (threads == t)
        threads = t->list_next;
    if (t->list_next)
        t->list_next->list_prev = t->list_prev;
    t->list_prev = t->list_next = NULL;
    xa_mutex_unlock(&list_lock);
}

/* The owner saw a reclaim of itself under way (reclaiming odd) right after
 * setting in_large. The mark stays: that reclaim, which may have
 * read in_large clear before the mark was visible, finishes (a few arena
 * frees, microseconds) and moves reclaiming on, after which the owner sees
 * its effects; a later reclaim sees the mark and leaves the thread alone.
 * So the owner waits for one reclaim at most, however often they come. */
void xa_large_enter_wait(xa_tsd *t, uint32_t seen) {
    while (__atomic_load_n(&t->reclaiming, __ATOMIC_ACQUIRE) == seen)
        sched_yield();
}

/* list_lock held. */
static bool membarrier_usable(void) {
#ifdef HAVE_MEMBARRIER
    if (membarrier_state == 0)
        membarrier_state =
            syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 ? 1 : -1;
    return membarrier_state > 0;
#else
    return false;
#endif
}

static bool membarrier_all(void) {
#ifdef HAVE_MEMBARRIER
    return syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
    return false;
#endif
}

size_t xa_reclaim_idle(uint64_t now_ms, uint64_t idle_ms) {
    xa_tsd *self = &xa_tls;
    size_t bytes = 0;
    if (!xa_opt.tcache_reclaim || pthread_mutex_trylock(&list_lock.m) != 0)
        return 0;                     /* another reclaim is under way */
    if (membarrier_state < 0) {       /* refused once: for good */
        xa_mutex_unlock(&list_lock);
        return 0;
    }
    unsigned candidates = 0;
    for (xa_tsd *t = threads; t; t = t->list_next) {
        uint64_t last = __atomic_load_n(&t->last_gc_ms, __ATOMIC_RELAXED);
        if (t != self && last + idle_ms <= now_ms &&
            __atomic_load_n(&t->large_cached, __ATOMIC_RELAXED) != 0) {
            /* Odd: a reclaim of t is under way. */
            __atomic_store_n(&t->reclaiming, t->reclaiming + 1, __ATOMIC_RELAXED);
            candidates++;
        }
    }
    /* The first system call only when there is something to take: a
     * program that never has an idle thread with cached large blocks
     * never calls membarrier. */
    bool ok = candidates && membarrier_usable() && membarrier_all();
    for (xa_tsd *t = threads; t && candidates; t = t->list_next) {
        if (!(t->reclaiming & 1))
            continue;
        if (ok && __atomic_load_n(&t->in_large, __ATOMIC_ACQUIRE) == 0)
            bytes += xa_tcache_flush_large(t);
        __atomic_store_n(&t->reclaiming, t->reclaiming + 1, __ATOMIC_RELEASE);
        candidates--;
    }
    xa_mutex_unlock(&list_lock);
    /* The blocks went back as expired dirty pages: purged now, outside
     * the list lock (thread start and exit wait for it) and, as every
     * purge does, outside the arena locks during the system calls. Left
     * to the decay, they stayed resident another decay period: in
     * bench_idle, with one shared arena under its dirty cap, 6.5 MB at
     * the 2 s mark. */
    for (unsigned i = 0; bytes && i < XA_MAX_ARENAS; i++) {
        xa_arena *a = __atomic_load_n(&xa_arenas[i], __ATOMIC_ACQUIRE);
        if (a)
            xa_arena_decay(a);
    }
    return bytes;
}

void xa_reclaim_maybe(uint64_t now_ms) {
    long decay = xa_opt.dirty_decay_ms;
    if (decay < 0 || !xa_opt.tcache_reclaim)
        return;
    uint64_t idle = (uint64_t)decay > RECLAIM_IDLE_MIN_MS ? (uint64_t)decay : RECLAIM_IDLE_MIN_MS;
    uint64_t next = __atomic_load_n(&next_scan_ms, __ATOMIC_RELAXED);
    if (now_ms < next || !__atomic_compare_exchange_n(&next_scan_ms, &next, now_ms + idle / 2,
                                                      false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return;
    xa_reclaim_idle(now_ms, idle);
}

void xa_reclaim_prefork(void) {
    xa_mutex_lock(&list_lock);
}

void xa_reclaim_postfork_parent(void) {
    xa_mutex_unlock(&list_lock);
}

/* Only the forking thread lives on in the child. */
void xa_reclaim_postfork_child(void) {
    xa_mutex_postfork_child(&list_lock);
    xa_tsd *self = &xa_tls;
    bool listed = false;
    for (xa_tsd *t = threads; t && !listed; t = t->list_next)
        listed = t == self;
    threads = listed ? self : NULL;
    if (listed)
        self->list_prev = self->list_next = NULL;
    membarrier_state = 0;             /* registered per process: again in the child */
}
