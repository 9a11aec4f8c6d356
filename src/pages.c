/* mmap, munmap, madvise and mremap, behind one boundary. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <errno.h>
#include "pages.h"

static void *map_raw(size_t size, int extra_flags) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *xa_pages_map(size_t size, size_t alignment) {
    if (alignment <= XA_PAGE)
        return map_raw(size, 0);
    /* Over-map, then trim the misaligned head and the tail. A first plain
     * try often lands aligned already (the kernel hands out neighbouring
     * ranges), which saves the double mapping. */
    void *p = map_raw(size, 0);
    if (p == NULL)
        return NULL;
    if (((uintptr_t)p & (alignment - 1)) == 0)
        return p;
    munmap(p, size);
    size_t total = size + alignment - XA_PAGE;
    if (total < size)
        return NULL;
    char *raw = map_raw(total, 0);
    if (raw == NULL)
        return NULL;
    char *aligned = (char *)XA_ALIGN_UP((uintptr_t)raw, alignment);
    size_t head = (size_t)(aligned - raw);
    size_t tail = total - head - size;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap(aligned + size, tail);
    return aligned;
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

void xa_pages_set_thp(void *addr, size_t size, int mode) {
    int saved = errno;
    if (mode == XA_THP_ALWAYS)
        madvise(addr, size, MADV_HUGEPAGE);
    else if (mode == XA_THP_NEVER)
        madvise(addr, size, MADV_NOHUGEPAGE);
    errno = saved;
}
