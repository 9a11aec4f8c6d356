/* mmap, munmap, madvise and mremap, behind one boundary. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <errno.h>
#include <stdlib.h>
#include "pages.h"
#include "report.h"

/* hint: where the mapping should go if that range is free, or NULL. */
static void *map_raw(void *hint, size_t size) {
    void *p = mmap(hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *xa_pages_reserve_zeros(size_t size) {
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

bool xa_pages_make_writable(void *addr, size_t size) {
    return mprotect(addr, size, PROT_READ | PROT_WRITE) == 0;
}

/* Just below the last aligned mapping (atomic; 0 before the first). The
 * kernel hands out mappings top down, so the next one, asked for at the
 * aligned address under it, usually lands there: one mmap instead of a
 * misaligned try, its munmap, an over-sized map and two trims
 * (bench_large: 255 -> 103 mmap and munmap calls a run). It is only a
 * hint: the kernel places the mapping elsewhere when that range is taken,
 * and the checks below hold wherever it lands. Mappings smaller than their
 * alignment (aligned_alloc's page-sized fallback) take no hint: they would
 * sit in the aligned slot the next chunk is meant for. */
static uintptr_t aligned_floor;

void *xa_pages_map(size_t size, size_t alignment) {
    if (alignment <= XA_PAGE)
        return map_raw(NULL, size);
    uintptr_t floor = __atomic_load_n(&aligned_floor, __ATOMIC_RELAXED);
    void *hint = NULL;
    if (size >= alignment && floor > size)
        hint = (void *)((floor - size) & ~(uintptr_t)(alignment - 1));
    void *p = map_raw(hint, size);
    if (p == NULL)
        return NULL;
    if (((uintptr_t)p & (alignment - 1)) != 0) {
        /* Over-map, then trim the misaligned head and the tail. */
        munmap(p, size);
        size_t total = size + alignment - XA_PAGE;
        if (total < size)
            return NULL;
        char *raw = map_raw(NULL, total);
        if (raw == NULL)
            return NULL;
        p = (char *)XA_ALIGN_UP((uintptr_t)raw, alignment);
        size_t head = (size_t)((char *)p - raw);
        size_t tail = total - head - size;
        if (head)
            munmap(raw, head);
        if (tail)
            munmap((char *)p + size, tail);
    }
    if (size >= alignment)
        __atomic_store_n(&aligned_floor, (uintptr_t)p, __ATOMIC_RELAXED);
    return p;
}

void xa_pages_unmap(void *addr, size_t size) {
    munmap(addr, size);
}

void xa_pages_purge(void *addr, size_t size) {
    /* MADV_DONTNEED rather than MADV_FREE: resident size falls at once, as
     * users watching RSS expect, and the pages are known zero afterwards,
     * which lets calloc skip its memset on purged runs. */
    int saved = errno;
    madvise(addr, size, MADV_DONTNEED);
    errno = saved;
}

bool xa_pages_resize_in_place(void *addr, size_t old_size, size_t new_size) {
    int saved = errno;
    void *p = mremap(addr, old_size, new_size, 0);
    errno = saved;
    return p != MAP_FAILED;
}

bool xa_pages_move(void *old_addr, size_t old_size, void *new_addr, size_t new_size) {
    int saved = errno;
    void *p = mremap(old_addr, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, new_addr);
    errno = saved;
    return p != MAP_FAILED;
}

void xa_pages_ensure_mapped(void *addr, size_t size) {
    int saved = errno;
    void *p = mmap(addr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    bool ok = p == addr || (p == MAP_FAILED && errno == EEXIST);
    if (p != MAP_FAILED && p != addr)
        munmap(p, size);         /* a kernel without MAP_FIXED_NOREPLACE */
    errno = saved;
    if (!ok) {
        /* Another thread mapped the hole the failed move left: the block
         * has lost part of its range and nothing can give it back. */
        xa_report_message("a failed mremap lost part of a huge block", NULL);
        abort();
    }
}

/* Linux 6.17 lets mremap move a range made of several mappings (VMAs);
 * earlier kernels fail with EFAULT. Tried once on two scratch mappings. */
static bool probe_move_spans_mappings(void) {
    size_t n = 2 * XA_PAGE;
    char *a = map_raw(NULL, n), *b = map_raw(NULL, XA_PAGE), *c = map_raw(NULL, n);
    bool ok = false, c_unsure = false;
    if (a && b && c) {
        a[0] = 1;               /* own page tables and anon_vma: no VMA merge */
        b[0] = 2;
        if (xa_pages_move(b, XA_PAGE, a + XA_PAGE, XA_PAGE)) {
            b = NULL;
            ok = xa_pages_move(a, n, c, n) && c[0] == 1 && c[XA_PAGE] == 2;
            if (ok)
                a = NULL;
            /* A failed move may have unmapped c, and another thread may
             * have mapped there since: leak c rather than unmap theirs. */
            c_unsure = !ok;
        }
    }
    if (a)
        munmap(a, n);
    if (b)
        munmap(b, XA_PAGE);
    if (c && !c_unsure)
        munmap(c, n);
    return ok;
}

int xa_pages_move_spans_known;  /* 0: not tried, 1: yes, -1: no (tests set it) */

bool xa_pages_move_spans_mappings(void) {
    int k = __atomic_load_n(&xa_pages_move_spans_known, __ATOMIC_RELAXED);
    if (k == 0) {
        int saved = errno;
        k = probe_move_spans_mappings() ? 1 : -1;
        errno = saved;
        __atomic_store_n(&xa_pages_move_spans_known, k, __ATOMIC_RELAXED);
    }
    return k > 0;
}

void xa_pages_set_thp(void *addr, size_t size, int mode) {
    int saved = errno;
    if (mode == XA_THP_ALWAYS)
        madvise(addr, size, MADV_HUGEPAGE);
    else if (mode == XA_THP_NEVER)
        madvise(addr, size, MADV_NOHUGEPAGE);
    errno = saved;
}
