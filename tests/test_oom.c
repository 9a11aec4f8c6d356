/* Out of memory: with RLIMIT_AS lowered to the current address-space size
 * plus 64 MiB, every entry point must fail cleanly (NULL and errno ENOMEM,
 * or ENOMEM returned by posix_memalign), leave existing blocks intact, never
 * crash or deadlock, and work again once memory is freed or the limit is
 * raised.
 *
 * Each scenario runs in a forked child (an alarm turns a deadlock into a
 * failure) so the limit never touches the test runner. The runner itself
 * never allocates through xalloc, so every child starts without arenas or a
 * thread cache (xalloc's bootstrap may have run at load time). The first
 * allocation with almost no address space left gets its own sweep.
 * Skipped under ASan and TSan, whose shadow memory cannot live under a
 * lowered RLIMIT_AS. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define HEADROOM (64 * MiB)
#define CHILD_TIMEOUT_S 30
#define XA_TEST_PAGE ((size_t)4096)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

#include "testutil.h"

/* ---- child-side helpers (no cmocka in the children) ---------------------- */

static volatile int child_failures;

/* Report a failure from a child: formatted on the stack, one write(2). */
static void child_fail(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    if (write(STDERR_FILENO, buf, (size_t)n) < 0) { /* nothing to do */ }
    __atomic_add_fetch(&child_failures, 1, __ATOMIC_RELAXED);
}

#define CHECK(cond, ...) do { if (!(cond)) child_fail(__VA_ARGS__); } while (0)

static size_t vm_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0;
    if (!f || fscanf(f, "%lu", &size) != 1) abort();
    fclose(f);
    return (size_t)size * (size_t)sysconf(_SC_PAGESIZE);
}

static struct rlimit saved_limit;

/* Lower the soft RLIMIT_AS to what is mapped now plus extra. */
static void lower_limit(size_t extra) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0) abort();
    saved_limit = rl;
    rlim_t want = (rlim_t)(vm_bytes() + extra);
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max) want = rl.rlim_max;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_AS, &rl) != 0) {
        child_fail("setrlimit(RLIMIT_AS) failed: %s", strerror(errno));
        _exit(2);
    }
}

static void restore_limit(void) {
    if (setrlimit(RLIMIT_AS, &saved_limit) != 0) {
        child_fail("restoring RLIMIT_AS failed: %s", strerror(errno));
        _exit(2);
    }
}

/* Blocks kept while memory runs out: an intrusive list; word 1 holds a tag
 * (blocks of 16 bytes and more) checked when the list is freed. */
typedef struct blist {
    void *head;
    size_t size, count;
} blist;

#define TAG(p) ((uintptr_t)(p) ^ (uintptr_t)0x5eed0f0dd15ea5edull)

static void blist_push(blist *l, void *p) {
    ((void **)p)[0] = l->head;
    if (l->size >= 16) ((uintptr_t *)p)[1] = TAG(p);
    l->head = p;
    l->count++;
}

/* Free every block (or every other one when alternate is set, keeping the
 * rest listed); checks each block's tag first. */
static void blist_free(blist *l, int alternate) {
    void **link = &l->head;
    size_t i = 0;
    while (*link) {
        void *p = *link;
        if (l->size >= 16 && ((uintptr_t *)p)[1] != TAG(p))
            child_fail("block %p of %zu bytes was overwritten while memory ran out", p, l->size);
        if (!alternate || (i++ & 1) == 0) {
            *link = ((void **)p)[0];
            xalloc_free(p);
            l->count--;
        } else {
            link = (void **)p;
        }
    }
}

/* malloc(size) until it fails; the failure must be ENOMEM. Returns the
 * number of successes. A limit that is not enforced ends in a failure, not
 * in an endless loop. */
static size_t exhaust(blist *l, size_t size) {
    size_t cap = (4 * HEADROOM) / size + 100000;
    l->size = size;
    for (size_t n = 0;; n++) {
        errno = 0;
        void *p = xalloc_malloc(size);
        if (p == NULL) {
            CHECK(errno == ENOMEM, "malloc(%zu) failed with errno %d, not ENOMEM", size, errno);
            return n;
        }
        if (n >= cap) {
            child_fail("malloc(%zu) still succeeds after %zu calls: RLIMIT_AS not enforced?", size, n);
            _exit(3);
        }
        blist_push(l, p);
    }
}

/* Every size class (and huge sizes), largest first. */
#define LADDER_MAX 128
static size_t ladder[LADDER_MAX];
static unsigned ladder_n;

static void ladder_init(void) {
    ladder_n = 0;
    for (size_t b = 32 * MiB; b >= 128; b /= 2) {
        ladder[ladder_n++] = 2 * b;
        ladder[ladder_n++] = b * 7 / 4;
        ladder[ladder_n++] = b * 6 / 4;
        ladder[ladder_n++] = b * 5 / 4;
    }
    static const size_t tiny[] = { 128, 112, 96, 80, 64, 48, 32, 16, 8 };
    for (unsigned i = 0; i < sizeof tiny / sizeof tiny[0]; i++) ladder[ladder_n++] = tiny[i];
}

/* Exhaust every size, so that afterwards no request of any size can be met. */
static void exhaust_everything(blist lists[LADDER_MAX]) {
    for (unsigned i = 0; i < ladder_n; i++) exhaust(&lists[i], ladder[i]);
}

static void free_everything(blist lists[LADDER_MAX]) {
    for (unsigned i = 0; i < ladder_n; i++) blist_free(&lists[i], 0);
}

#define EXPECT_ENOMEM(call, what, size)                                                      \
    do {                                                                                     \
        errno = 0;                                                                           \
        void *r_ = (call);                                                                   \
        if (r_ != NULL) {                                                                    \
            child_fail("%s(%zu) succeeded (%p) with memory exhausted", what, (size_t)(size), r_); \
            xalloc_free(r_);                                                                 \
        } else if (errno != ENOMEM) {                                                        \
            child_fail("%s(%zu) returned NULL with errno %d, not ENOMEM", what, (size_t)(size), errno); \
        }                                                                                    \
    } while (0)

/* Entry points whose request maps to the same size class as malloc(size):
 * they must fail as soon as malloc(size) has. */
static void expect_same_class_fail(size_t size) {
    EXPECT_ENOMEM(xalloc_malloc(size), "malloc", size);
    EXPECT_ENOMEM(xalloc_calloc(size / 16, 16), "calloc", size);
    EXPECT_ENOMEM(xalloc_realloc(NULL, size), "realloc(NULL)", size);
    EXPECT_ENOMEM(xalloc_reallocarray(NULL, size / 16, 16), "reallocarray(NULL)", size);
    EXPECT_ENOMEM(xalloc_aligned_alloc(64, size), "aligned_alloc(64)", size);
    EXPECT_ENOMEM(xalloc_memalign(64, size), "memalign(64)", size);
    void *q = (void *)0x1234;
    int rc = xalloc_posix_memalign(&q, 64, size);
    CHECK(rc == ENOMEM, "posix_memalign(64, %zu) returned %d, not ENOMEM", size, rc);
    CHECK(q == (void *)0x1234, "failed posix_memalign(64, %zu) changed *memptr", size);
}

typedef struct victims {
    unsigned char *small, *large, *huge;
} victims;

#define VSMALL 24
#define VLARGE (40 * KiB)
#define VHUGE (3 * MiB)

static void victims_make(victims *v) {
    v->small = xalloc_malloc(VSMALL);
    v->large = xalloc_malloc(VLARGE);
    v->huge = xalloc_malloc(VHUGE);
    if (!v->small || !v->large || !v->huge) {
        child_fail("setup allocation failed before the limit was lowered");
        _exit(2);
    }
    memset(v->small, 0x11, VSMALL);
    memset(v->large, 0x22, VLARGE);
    memset(v->huge, 0x33, VHUGE);
}

static int all_bytes(const unsigned char *p, size_t n, unsigned char c) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != c) return 0;
    return 1;
}

static void victims_check_free(victims *v) {
    CHECK(all_bytes(v->small, VSMALL, 0x11), "small block changed by a failed call");
    CHECK(all_bytes(v->large, VLARGE, 0x22), "large block changed by a failed call");
    CHECK(all_bytes(v->huge, VHUGE, 0x33), "huge block changed by a failed call");
    xalloc_free(v->small);
    xalloc_free(v->large);
    xalloc_free(v->huge);
}

/* With everything exhausted: every entry point, at this size, fails. */
static void expect_all_fail(size_t size, victims *v) {
    expect_same_class_fail(size);
    EXPECT_ENOMEM(xalloc_valloc(size), "valloc", size);
    EXPECT_ENOMEM(xalloc_aligned_alloc(16 * KiB, size), "aligned_alloc(16 KiB)", size);
    EXPECT_ENOMEM(xalloc_memalign(XA_TEST_PAGE, size), "memalign(page)", size);
    void *q = (void *)0x1234;
    int rc = xalloc_posix_memalign(&q, 8 * KiB, size);
    CHECK(rc == ENOMEM, "posix_memalign(8 KiB, %zu) returned %d, not ENOMEM", size, rc);
    CHECK(q == (void *)0x1234, "failed posix_memalign changed *memptr");
    /* Growing existing blocks: NULL, and the block stays as it was. */
    size_t grow = size;
    if (grow <= VSMALL) grow = 2 * VSMALL + 16;
    EXPECT_ENOMEM(xalloc_realloc(v->small, grow), "realloc(small block)", grow);
    EXPECT_ENOMEM(xalloc_reallocarray(v->small, grow / 16 + 1, 16), "reallocarray(small block)", grow);
    size_t lgrow = size > 2 * VLARGE ? size : 2 * VLARGE;
    EXPECT_ENOMEM(xalloc_realloc(v->large, lgrow), "realloc(large block)", lgrow);
    size_t hgrow = HEADROOM + 8 * MiB;   /* more than the limit allows */
    EXPECT_ENOMEM(xalloc_realloc(v->huge, hgrow), "realloc(huge block)", hgrow);
    CHECK(all_bytes(v->small, VSMALL, 0x11), "failed realloc changed the small block");
    CHECK(all_bytes(v->large, VLARGE, 0x22), "failed realloc changed the large block");
    CHECK(all_bytes(v->huge, VHUGE, 0x33), "failed realloc changed the huge block");
}

/* Allocate and touch total bytes in a mix of sizes, check, free. */
static void allocate_and_touch(size_t total, uint64_t seed) {
    size_t hugesz = total * 4 / 10, largesz = 100 * KiB, smallsz = 1 * KiB;
    size_t nlarge = (total * 3 / 10) / largesz, nsmall = (total * 3 / 10) / smallsz;
    unsigned char *h = xalloc_malloc(hugesz);
    CHECK(h != NULL, "malloc(%zu) failed after memory came back (errno %d)", hugesz, errno);
    if (h) memset(h, (int)(seed & 0xff), hugesz);
    blist large = { .size = largesz }, small = { .size = smallsz };
    for (size_t i = 0; i < nlarge; i++) {
        unsigned char *p = xalloc_malloc(largesz);
        if (!p) { child_fail("malloc(%zu) #%zu failed after memory came back", largesz, i); break; }
        memset(p, 0xab, largesz);
        blist_push(&large, p);
    }
    for (size_t i = 0; i < nsmall; i++) {
        unsigned char *p = xalloc_malloc(smallsz);
        if (!p) { child_fail("malloc(%zu) #%zu failed after memory came back", smallsz, i); break; }
        memset(p, 0xcd, smallsz);
        blist_push(&small, p);
    }
    if (h) {
        CHECK(h[0] == (unsigned char)seed && h[hugesz - 1] == (unsigned char)seed &&
              h[hugesz / 2] == (unsigned char)seed, "huge block lost its contents");
        xalloc_free(h);
    }
    blist_free(&large, 0);
    blist_free(&small, 0);
}

/* Run fn in a forked child; returns its wait status. */
static int run_in_child(void (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        child_setup(CHILD_TIMEOUT_S);
        fn();
        _exit(child_failures ? 1 : 0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) fail_msg("waitpid: %s", strerror(errno));
    return status;
}

static void expect_clean_exit(int status, const char *what) {
    if (WIFSIGNALED(status))
        fail_msg("%s: child killed by signal %d (%s)%s", what, WTERMSIG(status), strsignal(WTERMSIG(status)),
                 WTERMSIG(status) == SIGALRM ? ": deadlock or livelock" : "");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s: child exited with status %d (see the messages above)", what, WEXITSTATUS(status));
}

/* ---- one thread, per size category --------------------------------------- */

static size_t category_size;

static void single_thread_scenario(void) {
    const size_t size = category_size;
    ladder_init();
    /* Initialise xalloc and the blocks that failed calls must not touch. */
    victims v;
    victims_make(&v);
    static blist lists[LADDER_MAX];
    blist mine = { 0 };

    lower_limit(HEADROOM);
    size_t n = exhaust(&mine, size);
    CHECK(n > 0, "not one malloc(%zu) succeeded with %zu MiB of headroom", size, HEADROOM / MiB);
    if (getenv("XALLOC_TEST_VERBOSE")) fprintf(stderr, "malloc(%zu): %zu blocks before ENOMEM\n", size, n);
    expect_same_class_fail(size);
    exhaust_everything(lists);
    expect_all_fail(size, &v);

    /* Freeing under the limit makes room again. */
    blist_free(&mine, 1);
    void *again = xalloc_malloc(size);
    CHECK(again != NULL, "malloc(%zu) still fails after freeing half of %zu blocks (errno %d)",
          size, n, errno);
    if (again) blist_push(&mine, again);

    /* Raising the limit with everything still allocated: works again. */
    restore_limit();
    allocate_and_touch(100 * MiB, 0x42);
    free_everything(lists);
    blist_free(&mine, 0);
    victims_check_free(&v);
    allocate_and_touch(16 * MiB, 0x17);
}

static void run_category(size_t size, const char *what) {
    if (UNDER_SANITIZER) skip();
    category_size = size;
    expect_clean_exit(run_in_child(single_thread_scenario), what);
}

static void test_oom_small(void **state) { run_category(64, "small (64 bytes)"); }
static void test_oom_small_odd(void **state) { run_category(3000, "small (3000 bytes)"); }
static void test_oom_large(void **state) { run_category(100 * KiB, "large (100 KiB)"); }
static void test_oom_large_max(void **state) { run_category(2 * MiB, "large (2 MiB)"); }
static void test_oom_huge(void **state) { run_category(8 * MiB, "huge (8 MiB)"); }

/* ---- four threads reaching the limit together ---------------------------- */

#define NTHREADS 4

static pthread_barrier_t ready, go, full, checked, raised;

typedef struct {
    int index;
    size_t size;
    victims v;
} worker_t;

static void *oom_worker(void *arg) {
    worker_t *w = arg;
    static blist lists[NTHREADS][LADDER_MAX];
    blist mine = { 0 };
    /* Half the threads set up their cache and arena before the limit, half
     * meet it with their very first allocation. */
    if (w->index % 2 == 0) victims_make(&w->v);
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&go);
    if (w->index % 2 == 1) {
        w->v.small = w->v.large = w->v.huge = NULL;
        /* first allocation under the limit: may succeed or fail */
        void *p = xalloc_malloc(16);
        CHECK(p != NULL || errno == ENOMEM, "thread %d: first malloc failed with errno %d", w->index, errno);
        xalloc_free(p);
    }
    size_t n = exhaust(&mine, w->size);
    (void)n;
    exhaust_everything(lists[w->index]);
    pthread_barrier_wait(&full);
    /* Everyone is out of memory now, and nobody frees until the next
     * barrier: every call must fail. */
    if (w->v.small)
        expect_all_fail(w->size, &w->v);
    else
        expect_same_class_fail(w->size);
    pthread_barrier_wait(&checked);
    pthread_barrier_wait(&raised);
    free_everything(lists[w->index]);
    blist_free(&mine, 0);
    if (w->v.small) victims_check_free(&w->v);
    allocate_and_touch(25 * MiB, (uint64_t)w->index);
    return NULL;
}

static void threaded_scenario(void) {
    static const size_t sizes[NTHREADS] = { 64, 100 * KiB, 8 * MiB, 1000 };
    static worker_t w[NTHREADS];
    pthread_t tid[NTHREADS];
    ladder_init();
    pthread_barrier_init(&ready, NULL, NTHREADS + 1);
    pthread_barrier_init(&go, NULL, NTHREADS + 1);
    pthread_barrier_init(&full, NULL, NTHREADS + 1);
    pthread_barrier_init(&checked, NULL, NTHREADS + 1);
    pthread_barrier_init(&raised, NULL, NTHREADS + 1);
    void *mine = xalloc_malloc(32);   /* the main thread takes arena 0 */
    for (int i = 0; i < NTHREADS; i++) {
        w[i].index = i;
        w[i].size = sizes[i];
        if (pthread_create(&tid[i], NULL, oom_worker, &w[i]) != 0) {
            child_fail("pthread_create failed");
            _exit(2);
        }
    }
    /* Thread stacks and the early threads' blocks are mapped now. */
    pthread_barrier_wait(&ready);
    lower_limit(HEADROOM);
    pthread_barrier_wait(&go);
    pthread_barrier_wait(&full);
    pthread_barrier_wait(&checked);
    restore_limit();
    pthread_barrier_wait(&raised);
    for (int i = 0; i < NTHREADS; i++) pthread_join(tid[i], NULL);
    xalloc_free(mine);
}

static void test_oom_threads(void **state) {
    if (UNDER_SANITIZER) skip();
    expect_clean_exit(run_in_child(threaded_scenario), "4 threads");
}

/* ---- the very first allocation meets the limit --------------------------- */

/* A fresh process whose first call into xalloc happens with little address
 * space left: bootstrap itself, the first arena or the first chunk may not
 * fit. Each call must succeed or fail with ENOMEM, never crash. The limit
 * sweeps from "nothing left" to "room for bootstrap and a few chunks". */
static int first_call;

static void first_allocation_child(size_t extra) {
    struct rlimit rl;
    getrlimit(RLIMIT_AS, &rl);
    rl.rlim_cur = (rlim_t)(vm_bytes() + extra);
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(2);
    errno = 0;
    void *p = NULL;
    int rc = 0;
    switch (first_call) {
    case 0: p = xalloc_malloc(64); break;
    case 1: p = xalloc_calloc(1, 100 * KiB); break;
    case 2: p = xalloc_aligned_alloc(8 * KiB, 20 * KiB); break;
    case 3: rc = xalloc_posix_memalign(&p, 64, 200); break;
    case 4: p = xalloc_realloc(NULL, 5000); break;
    }
    if (p == NULL && (first_call == 3 ? rc != ENOMEM : errno != ENOMEM)) _exit(4);
    if (p) memset(p, 1, 200);
    /* A second round, after whatever the first one managed to set up. */
    errno = 0;
    void *q = xalloc_malloc(40);
    if (q == NULL && errno != ENOMEM) _exit(5);
    xalloc_free(q);
    xalloc_free(p);
    _exit(0);
}

static void test_oom_first_allocation(void **state) {
    if (UNDER_SANITIZER) skip();
    static const char *names[] = { "malloc(64)", "calloc(1, 100 KiB)", "aligned_alloc(8 KiB, 20 KiB)",
                                   "posix_memalign(64, 200)", "realloc(NULL, 5000)" };
    int bad = 0;
    for (first_call = 0; first_call < 5; first_call++) {
        for (size_t extra = 0; extra <= 10 * MiB; extra += 16 * KiB) {
            fflush(NULL);
            pid_t pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                child_setup(CHILD_TIMEOUT_S);
                first_allocation_child(extra);
            }
            int status;
            assert_int_equal(waitpid(pid, &status, 0), pid);
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
            if (bad++ < 8)
                fprintf(stderr, "first call %s with %zu KiB of address space left: %s %d\n", names[first_call],
                        extra / KiB, WIFSIGNALED(status) ? "killed by signal" : "exit status",
                        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        }
    }
    if (bad) fail_msg("%d limits made the first allocation crash or fail without ENOMEM", bad);
}

int main(int argc, char **argv) {
    (void)argc;
    /* Defaults apply: run again without the caller's XALLOC_CONF. */
    if (reexec_without_conf(argv))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_small),
        cmocka_unit_test(test_oom_small_odd),
        cmocka_unit_test(test_oom_large),
        cmocka_unit_test(test_oom_large_max),
        cmocka_unit_test(test_oom_huge),
        cmocka_unit_test(test_oom_threads),
        cmocka_unit_test(test_oom_first_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
