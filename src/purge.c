#define _GNU_SOURCE
#include <pthread.h>
#include <time.h>
#include "purge.h"
#include "arena.h"
#include "conf.h"
#include "huge.h"
#include "hugecache.h"
#include "init.h"
#include "reclaim.h"

static bool running;
static bool starting;

size_t xa_purge_all(void) {
    size_t released = 0;
    xa_reclaim_idle(xa_now_ms(), 0);  /* other threads' cached large blocks first */
    for (unsigned i = 0; i < XA_MAX_ARENAS; i++) {
        xa_arena *a = __atomic_load_n(&xa_arenas[i], __ATOMIC_ACQUIRE);
        if (a == NULL)
            continue;
        xa_arena_release_empty_slabs(a);
        xa_mutex_lock(&a->lock);
        released += xa_arena_purge(a, true);
        xa_mutex_unlock(&a->lock);
    }
    return released + xa_hugecache_purge(true);
}

/* Wakes a tenth of the decay time apart (10 ms .. 1 s) and lets each arena
 * apply its decay, so pages freed just before a program goes idle are not
 * held until its next allocation. */
static void *background_main(void *arg) {
    (void)arg;
    long decay = xa_opt.dirty_decay_ms;
    long interval = decay / 10;
    if (interval < 10)
        interval = 10;
    if (interval > 1000)
        interval = 1000;
    struct timespec ts = { interval / 1000, (interval % 1000) * 1000000L };
    for (;;) {
        nanosleep(&ts, NULL);
        for (unsigned i = 0; i < XA_MAX_ARENAS; i++) {
            xa_arena *a = __atomic_load_n(&xa_arenas[i], __ATOMIC_ACQUIRE);
            if (a == NULL)
                continue;
            xa_arena_drain_remote(a);
            if (a->dirty_oldest != NULL)   /* racy peek: a hint only */
                xa_arena_decay(a);
        }
        xa_hugecache_purge(false);
        xa_reclaim_maybe(xa_now_ms());   /* threads that went idle keep no large blocks */
    }
    return NULL;
}

void xa_background_maybe_start(void) {
    if (!xa_opt.background_thread || xa_opt.dirty_decay_ms < 0 ||
        __atomic_load_n(&running, __ATOMIC_ACQUIRE))
        return;
    if (__atomic_exchange_n(&starting, true, __ATOMIC_ACQ_REL))
        return;                       /* another thread is starting it */
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 << 10);
    if (pthread_create(&th, &attr, background_main, NULL) == 0) {
        pthread_setname_np(th, "xalloc-purge");
        __atomic_store_n(&running, true, __ATOMIC_RELEASE);
    }
    pthread_attr_destroy(&attr);
    __atomic_store_n(&starting, false, __ATOMIC_RELEASE);
}

void xa_background_postfork_child(void) {
    running = false;                  /* threads do not survive fork */
    starting = false;
}

/* Programs that only configure background_thread and then go idle get the
 * thread at load time, after libc is fully up. */
__attribute__((constructor)) static void background_at_load(void) {
    if (xa_ensure_init())
        xa_background_maybe_start();
}
