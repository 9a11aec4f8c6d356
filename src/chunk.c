#include "chunk.h"
#include "pages.h"

uint64_t xa_registry[XA_REGISTRY_BITS / 64];

static void registry_set(const void *chunk, bool on) {
    uint64_t i = (uintptr_t)chunk >> XA_CHUNK_SHIFT;
    uint64_t bit = (uint64_t)1 << (i % 64);
    if (on)
        __atomic_fetch_or(&xa_registry[i / 64], bit, __ATOMIC_RELEASE);
    else
        __atomic_fetch_and(&xa_registry[i / 64], ~bit, __ATOMIC_RELEASE);
}

xa_chunk *xa_chunk_new(struct xa_arena *arena, int thp) {
    xa_chunk *ch = xa_pages_map(XA_CHUNK, XA_CHUNK);
    if (ch == NULL)
        return NULL;
    if ((uintptr_t)ch >> XA_CHUNK_SHIFT >= XA_REGISTRY_BITS) {
        /* Beyond 47 bits (5-level paging): the registry cannot vouch for it. */
        xa_pages_unmap(ch, XA_CHUNK);
        return NULL;
    }
    /* Before the header is written: its first touch decides the page size. */
    if (thp != XA_THP_DEFAULT)
        xa_pages_set_thp(ch, XA_CHUNK, thp);
    ch->arena_entry = xa_arena_entry(arena);   /* the page map stays untouched */
    ch->none_entry = xa_arena_entry(NULL);      /* until runs use it */
    registry_set(ch, true);
    return ch;
}

void xa_chunk_delete(xa_chunk *ch) {
    registry_set(ch, false);
    xa_pages_unmap(ch, XA_CHUNK);
}
