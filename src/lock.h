/* The mutex used everywhere: try, spin briefly with a pause, then block in
 * the kernel. Never an unbounded spin, so oversubscribed threads sleep
 * instead of burning the CPU the lock holder needs. */
#ifndef XA_LOCK_H
#define XA_LOCK_H

#include <pthread.h>
#include "xa_common.h"

typedef struct xa_mutex {
    pthread_mutex_t m;
} xa_mutex;

#define XA_MUTEX_INITIALIZER { PTHREAD_MUTEX_INITIALIZER }
#define XA_SPIN_TRIES 64

XA_INLINE void xa_mutex_init(xa_mutex *l) {
    pthread_mutex_init(&l->m, NULL);   /* default attributes: never allocates */
}

XA_INLINE void xa_cpu_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

void xa_mutex_lock_slow(xa_mutex *l);

XA_INLINE void xa_mutex_lock(xa_mutex *l) {
    if (likely(pthread_mutex_trylock(&l->m) == 0))
        return;
    xa_mutex_lock_slow(l);
}

XA_INLINE void xa_mutex_unlock(xa_mutex *l) {
    pthread_mutex_unlock(&l->m);
}

/* After fork the child owns the locks the parent took in prefork; re-init
 * them rather than unlocking, which is what glibc's own malloc does. */
XA_INLINE void xa_mutex_postfork_child(xa_mutex *l) {
    xa_mutex_init(l);
}

#endif
