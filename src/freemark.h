/* The free mark: every freed small block, in a thread cache or back in
 * its slab, holds XA_FREE_MARK in its first word. The paths that cache a
 * freed block or put one back into its slab write it; every path that
 * hands a small block to the program clears it. So the free fast path
 * needs no slab bitmap: a block that does not read as marked is taken as
 * live (its region is below the slab's high-water mark, so it left the
 * slab at least once, and nothing freed it since), and a marked one goes
 * to the slow path, which looks for it in the thread's cache and in its
 * slab's bitmap and reports a double free at once, however deep in the
 * cache the first copy sits (glibc's tcache does the same with its key).
 * A live block whose data happens to hold the mark costs that search and
 * nothing else. Not marked, as before this mark: blocks a fill moved
 * from never-used regions into a cache (a bogus free of one is not
 * caught) and blocks on remote-free lists (their first word is the
 * list's link). The value fits a sign-extended 32-bit immediate: one
 * compare and one store on the fast path, no key to load. */
#ifndef XA_FREEMARK_H
#define XA_FREEMARK_H

#include "xa_common.h"

#define XA_FREE_MARK ((uint64_t)0xfffffffff4eeb10cull)

typedef uint64_t xa_block_word __attribute__((may_alias));

XA_INLINE bool xa_block_marked(const void *p) {
    return *(const xa_block_word *)p == XA_FREE_MARK;
}

XA_INLINE void xa_block_mark(void *p) {
    *(xa_block_word *)p = XA_FREE_MARK;
}

XA_INLINE void xa_block_unmark(void *p) {
    *(xa_block_word *)p = 0;
}

#endif
