#include "chunk.h"
#include "pages.h"

uint64_t xa_registry_limit;
const uint8_t *xa_registry;
static uint8_t *registry;             /* the same bytes, for the writers */
static uint64_t registry_writable[XA_REGISTRY_BYTES / XA_PAGE / 64];   /* per page */

/* Reserve the registry once. Every caller, winner or not, publishes the
 * limit before it registers anything, so a reader that can see a chunk's
 * block (it got it after the registration) sees the limit too. */
static bool registry_reserve(void) {
    if (__atomic_load_n(&xa_registry_limit, __ATOMIC_ACQUIRE))
        return true;                  /* no store to the line every free reads */
    if (__atomic_load_n(&registry, __ATOMIC_ACQUIRE) == NULL) {
        uint8_t *m = xa_pages_reserve_zeros(XA_REGISTRY_BYTES), *none = NULL;
        if (m == NULL)
            return false;
        if (!__atomic_compare_exchange_n(&registry, &none, m, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            xa_pages_unmap(m, XA_REGISTRY_BYTES);   /* another thread's won */
    }
    __atomic_store_n(&xa_registry, __atomic_load_n(&registry, __ATOMIC_ACQUIRE), __ATOMIC_RELAXED);
    __atomic_store_n(&xa_registry_limit, XA_REGISTRY_BYTES, __ATOMIC_RELEASE);
    return true;
}

/* false when the OS refuses to make the byte's page writable. The
 * pointer is read atomically: a thread that lost the race to reserve may
 * still be running its compare-and-swap on it. */
static bool registry_set(const void *chunk, bool on) {
    uint8_t *reg = __atomic_load_n(&registry, __ATOMIC_ACQUIRE);
    uint64_t i = (uintptr_t)chunk >> XA_CHUNK_SHIFT;
    uint64_t page = i >> XA_PAGE_SHIFT, bit = (uint64_t)1 << (page % 64);
    uint64_t *w = &registry_writable[page / 64];
    if (!(__atomic_load_n(w, __ATOMIC_ACQUIRE) & bit)) {
        /* Marked only once writable; two threads may both make it so. */
        if (!xa_pages_make_writable(reg + (page << XA_PAGE_SHIFT), XA_PAGE))
            return false;
        __atomic_fetch_or(w, bit, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&reg[i], (uint8_t)on, __ATOMIC_RELEASE);
    return true;
}

xa_chunk *xa_chunk_new(struct xa_arena *arena, int thp) {
    xa_chunk *ch = xa_pages_map(XA_CHUNK, XA_CHUNK);
    if (ch == NULL)
        return NULL;
    if ((uintptr_t)ch >> XA_CHUNK_SHIFT >= XA_REGISTRY_BYTES || !registry_reserve()) {
        /* Beyond 47 bits (5-level paging): the registry cannot vouch for it. */
        xa_pages_unmap(ch, XA_CHUNK);
        return NULL;
    }
    /* Before the header is written: its first touch decides the page size. */
    if (thp != XA_THP_DEFAULT)
        xa_pages_set_thp(ch, XA_CHUNK, thp);
    ch->arena_entry = xa_arena_entry(arena);   /* the page map stays untouched */
    ch->none_entry = xa_arena_entry(NULL);      /* until runs use it */
    if (!registry_set(ch, true)) {
        xa_pages_unmap(ch, XA_CHUNK);
        return NULL;
    }
    return ch;
}

void xa_chunk_delete(xa_chunk *ch) {
    registry_set(ch, false);
    xa_pages_unmap(ch, XA_CHUNK);
}
