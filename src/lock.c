#include "lock.h"

void xa_mutex_lock_slow(xa_mutex *l) {
    /* A short, bounded spin catches locks held for a few instructions;
     * past it the thread sleeps in the kernel (futex) until woken. */
    for (int i = 0; i < XA_SPIN_TRIES; i++) {
        xa_cpu_pause();
        if (pthread_mutex_trylock(&l->m) == 0)
            return;
    }
    pthread_mutex_lock(&l->m);
}
