/* Size-class tables, computed once at bootstrap (pure arithmetic, no
 * allocation, so it is safe before anything else exists). */
#include "sizeclass.h"

uint32_t xa_class_size[XA_NCLASSES];
uint64_t xa_class_magic[XA_CLASS_BYTE_VALUES];
xa_slab_geom xa_slab_geom_of[XA_NSMALL];
uint8_t xa_class_lookup[XA_LOOKUP_SIZE];
_Static_assert(XA_SMALL_MAX / 8 < XA_LOOKUP_SIZE, "lookup table covers the small sizes");

static void choose_geometry(unsigned c) {
    uint32_t size = xa_class_size[c];
    /* Prefer slabs of at least 4 pages (so the descriptor and bitmap stay
     * under 2 % of the slab) holding at least 8 regions (so one fill or
     * flush amortises the bin lock), with at most 1/64 of tail waste. */
    unsigned minp = (unsigned)((8 * (size_t)size + XA_PAGE - 1) / XA_PAGE);
    if (minp < 4)
        minp = 4;
    unsigned best = 0;
    for (unsigned p = minp; p <= XA_SLAB_MAX_PAGES && !best; p++) {
        size_t bytes = p * XA_PAGE;
        if (bytes / size <= 4096 && (bytes % size) * 64 <= bytes)
            best = p;
    }
    /* Otherwise the slab size with the least waste ratio. */
    if (!best) {
        best = 1;
        for (unsigned p = 2; p <= XA_SLAB_MAX_PAGES; p++)
            if ((p * XA_PAGE % size) * (best * XA_PAGE) < (best * XA_PAGE % size) * (p * XA_PAGE))
                best = p;
    }
    xa_slab_geom_of[c].pages = (uint16_t)best;
    xa_slab_geom_of[c].nregs = (uint16_t)(best * XA_PAGE / size);
}

void xa_sizeclass_init(void) {
    static const uint32_t first[] = { 8, 16, 32, 48, 64, 80, 96, 112, 128 };
    unsigned c = 0;
    for (; c < sizeof first / sizeof first[0]; c++)
        xa_class_size[c] = first[c];
    for (uint32_t base = 128; c < XA_NCLASSES; base *= 2)
        for (unsigned i = 1; i <= 4 && c < XA_NCLASSES; i++) {
            uint32_t s = base + i * (base / 4);
            if (s > XA_SMALL_MAX && s < XA_LARGE_MIN)
                continue;            /* 16 KiB is the first large class */
            xa_class_size[c++] = s;
        }
    for (c = 0; c < XA_NCLASSES; c++)
        xa_class_magic[c] = UINT64_MAX / xa_class_size[c] + 1;
    for (c = 0; c < XA_NSMALL; c++)
        choose_geometry(c);
    unsigned cls = 0;
    for (size_t i = 0; i <= XA_SMALL_MAX / 8; i++) {
        while (xa_class_size[cls] < i * 8)
            cls++;
        __atomic_store_n(&xa_class_lookup[i], (uint8_t)cls, __ATOMIC_RELAXED);
    }
}
