/* Loaded with dlopen() by dlopen_main. Allocates blocks the program frees,
 * frees blocks the program allocated, holds a block from its constructor to
 * its destructor (dlclose), and has a dynamic TLS variable, whose per-thread
 * storage glibc allocates with malloc on first use and frees at thread exit
 * or dlclose. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *held;            /* constructor to destructor */
static __thread char tls_buffer[8192];
static __thread int tls_counter;

void *lib_malloc(size_t n) {
    unsigned char *p = malloc(n);
    if (p) memset(p, 0x6c, n);
    return p;
}

void lib_free(void *p) {
    free(p);
}

void *lib_realloc(void *p, size_t n) {
    return realloc(p, n);
}

char *lib_strdup(const char *s) {
    return strdup(s);
}

void *lib_held(void) {
    return held;
}

/* Touches this thread's dynamic TLS block; returns how often it was called
 * in this thread, or -1 when the storage was not zero at first use. */
int lib_tls_touch(void) {
    if (tls_counter == 0)
        for (size_t i = 0; i < sizeof tls_buffer; i++)
            if (tls_buffer[i]) return -1;
    tls_buffer[tls_counter % sizeof tls_buffer] = 1;
    return ++tls_counter;
}

__attribute__((constructor)) static void lib_init(void) {
    held = malloc(3000);
    if (held) memset(held, 0x48, 3000);
}

__attribute__((destructor)) static void lib_fini(void) {
    if (held) {
        for (int i = 0; i < 3000; i++)
            if (((unsigned char *)held)[i] != 0x48) _exit(43);
        free(held);
    }
    held = NULL;
}
