/* Idle threads' large-class caches go back to the arenas. A thread's
 * cache is its own (no lock on the fast paths), so a thread that stops
 * calling malloc keeps what it cached: for the large classes up to
 * XA_TCACHE_LARGE_BYTES each. Another thread's GC pass, the background
 * thread or malloc_trim takes the large bins of threads that have not
 * run their cache's GC for the decay time, using the hand-off of
 * xa_large_enter (tcache.h). Small bins are left alone: the fast paths
 * would need the hand-off too, and they hold a few hundred KiB at most. */
#ifndef XA_RECLAIM_H
#define XA_RECLAIM_H

#include "tcache.h"

/* Threads with a cache, for the reclaimer: at cache set-up and teardown. */
void xa_reclaim_register(xa_tsd *t);
void xa_reclaim_unregister(xa_tsd *t);

/* Give back the large bins of every other registered thread whose GC has
 * not run for idle_ms (0: every thread not using them right now). Returns
 * the bytes given back. Does nothing without membarrier(2) or with
 * tcache_reclaim:false. */
size_t xa_reclaim_idle(uint64_t now_ms, uint64_t idle_ms);

/* From a thread's GC pass: a reclaim of idle threads at most every
 * half decay time over the whole process; off with dirty_decay_ms -1. */
void xa_reclaim_maybe(uint64_t now_ms);

void xa_reclaim_prefork(void);
void xa_reclaim_postfork_parent(void);
void xa_reclaim_postfork_child(void);

#endif
