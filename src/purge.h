/* Giving memory back to the OS across arenas: on demand (malloc_trim,
 * arena.purge) and from an optional background thread that applies decay
 * while the program is idle. The per-arena mechanism (dirty list, decay,
 * dirty-page limit) is in arena.c. */
#ifndef XA_PURGE_H
#define XA_PURGE_H

#include "xa_common.h"

/* Purge every dirty page of every arena now; returns pages released. */
size_t xa_purge_all(void);

/* Start the background purger if the option asks for it and it is not
 * running (after fork it is not). Call with no allocator lock held. */
void xa_background_maybe_start(void);
void xa_background_postfork_child(void);

#endif
