/* Bootstrap: the first call into xalloc sets up size classes, options, the
 * chunk registry, the thread-exit key and the fork handlers. Nothing here
 * calls a function that allocates before xalloc can serve it. */
#ifndef XA_INIT_H
#define XA_INIT_H

#include "xa_common.h"

extern bool xa_initialized;
bool xa_init_slow(void);

XA_INLINE bool xa_ensure_init(void) {
    return likely(__atomic_load_n(&xa_initialized, __ATOMIC_ACQUIRE)) || xa_init_slow();
}

#endif
