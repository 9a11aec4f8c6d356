/* Run under LD_PRELOAD=libxalloc.so. The first thing main does is start
 * threads; main itself calls no allocation function before they run. They
 * wait for one another, then all allocate at once (thread caches and arenas
 * created concurrently, possibly xalloc's first use in the process), pass
 * blocks to one another and to main, and exit. Every block must be xalloc's
 * and intact. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "preload_check.h"

#define NT 8
#define PER 2000
#define KEEP 64

static pthread_t tids[NT];
static int created[NT];
static volatile int ready, go;
static unsigned char *kept[NT][KEEP];
static size_t kept_size[NT][KEEP];
static int errors[NT];
/* Thread i frees what thread (i + 1) % NT leaves here, after a barrier. */
static unsigned char *passed[NT][KEEP];
static pthread_barrier_t passed_ready;

static size_t size_of(int t, int i) {
    unsigned k = (unsigned)(t * 7919 + i * 104729) % 1000;
    if (k < 900) return 2 + k * 3;                  /* small */
    if (k < 995) return 16384 + (size_t)k * 700;    /* large */
    return (3u << 20) + (size_t)k;                  /* huge */
}

static void *early(void *arg) {
    int t = (int)(intptr_t)arg;
    __atomic_add_fetch(&ready, 1, __ATOMIC_ACQ_REL);
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE)) { /* spin: all start together */ }
    for (int i = 0; i < PER; i++) {
        size_t n = size_of(t, i);
        unsigned char *p = i % 3 == 0 ? calloc(1, n) : malloc(n);
        if (!owned(p)) {
            errors[t]++;
            continue;
        }
        if (i % 3 == 0 && (p[0] != 0 || p[n - 1] != 0)) errors[t]++;
        p[0] = (unsigned char)t;
        p[n - 1] = (unsigned char)i;
        if (i % (PER / KEEP) == 0 && i / (PER / KEEP) < KEEP) {
            kept[t][i / (PER / KEEP)] = p;
            kept_size[t][i / (PER / KEEP)] = n;
        } else if (i % 5 == 0 && i / 5 < KEEP && passed[t][i / 5] == NULL) {
            passed[t][i / 5] = p;
        } else {
            if (p[0] != (unsigned char)t || p[n - 1] != (unsigned char)i) errors[t]++;
            free(p);
        }
    }
    pthread_barrier_wait(&passed_ready);
    int from = (t + 1) % NT;
    for (int k = 0; k < KEEP; k++)
        if (passed[from][k]) {
            if (passed[from][k][0] != (unsigned char)from) errors[t]++;
            free(passed[from][k]);
        }
    return NULL;
}

static void test_early_threads(void **state) {
    for (int t = 0; t < NT; t++) {
        if (!created[t]) fail_msg("pthread_create %d failed", t);
    }
    for (int t = 0; t < NT; t++) pthread_join(tids[t], NULL);
    for (int t = 0; t < NT; t++) {
        if (errors[t]) fail_msg("thread %d: %d blocks not xalloc's, not zeroed or corrupted", t, errors[t]);
        for (int k = 0; k < KEEP; k++) {
            unsigned char *p = kept[t][k];
            if (!p) continue;
            if (!owned(p)) fail_msg("block %d of thread %d is not xalloc's after the thread exited", k, t);
            assert_int_equal(p[0], (unsigned char)t);
            free(p);
        }
    }
}

int main(void) {
    /* Before anything else, in particular before any malloc here. */
    pthread_barrier_init(&passed_ready, NULL, NT);   /* no allocation */
    for (int t = 0; t < NT; t++) created[t] = pthread_create(&tids[t], NULL, early, (void *)(intptr_t)t) == 0;
    while (__atomic_load_n(&ready, __ATOMIC_ACQUIRE) < NT) {
        int n = 0;
        for (int t = 0; t < NT; t++) n += created[t];
        if (n < NT) break;
    }
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    require_preloaded("early_thread");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_early_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
