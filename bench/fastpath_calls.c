/* malloc/free pairs of one size, for bench/fastpath_instructions.sh.
 *
 *   fastpath_calls SIZE PAIRS
 *
 * Warms the allocator up (pairs of SIZE, and a batch of live blocks of SIZE
 * freed again, so that the thread cache holds blocks of that class), then
 * does PAIRS malloc(SIZE)/free pairs, each block freed right after it is
 * allocated. Every call goes through a wrapper that is never inlined
 * (call_malloc, call_free), so that under callgrind the inclusive cost of a
 * wrapper minus its self cost is exactly what malloc or free cost, whatever
 * the allocator's symbols are called or whether it has any. Running it with
 * PAIRS and 2 * PAIRS and subtracting removes the start-up and warm-up.
 *
 * Prints on stderr the file that malloc and free resolved to (dladdr), so the
 * caller can check that LD_PRELOAD took effect.
 *
 * Build: cc -O2 -fno-plt -fno-optimize-sibling-calls -fno-builtin
 *        -o fastpath_calls bench/fastpath_calls.c (-ldl on glibc < 2.34) */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) void *call_malloc(size_t n)
{
    void *p = malloc(n);
    __asm__ volatile("" : : "r"(p) : "memory"); /* not a tail call */
    return p;
}

__attribute__((noinline)) void call_free(void *p)
{
    free(p);
    __asm__ volatile("" : : : "memory"); /* not a tail call */
}

static const char *where(void *fn)
{
    Dl_info info;
    if (dladdr(fn, &info) && info.dli_fname)
        return info.dli_fname;
    return "?";
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fastpath_calls SIZE PAIRS\n");
        return 2;
    }
    size_t size = strtoull(argv[1], NULL, 0);
    long pairs = strtol(argv[2], NULL, 0);
    if (size == 0 || pairs < 0) {
        fprintf(stderr, "fastpath_calls: bad arguments\n");
        return 2;
    }
    fprintf(stderr, "malloc: %s\nfree: %s\n", where((void *)malloc), where((void *)free));

    /* Warm-up: a batch of live blocks (fills the size class's cache on
     * free), then pairs. */
    enum { BATCH = 256, WARM = 20000 };
    void *blk[BATCH];
    for (int r = 0; r < 4; r++) {
        for (int i = 0; i < BATCH; i++) {
            blk[i] = call_malloc(size);
            if (!blk[i])
                return 1;
            memset(blk[i], i, size < 16 ? size : 16);
        }
        for (int i = BATCH - 1; i >= 0; i--)
            call_free(blk[i]);
    }
    for (int i = 0; i < WARM; i++)
        call_free(call_malloc(size));

    for (long i = 0; i < pairs; i++) {
        void *p = call_malloc(size);
        if (!p)
            return 1;
        call_free(p);
    }
    return 0;
}
