/* fork() from a busy multithreaded program. Linked against libxalloc.so, so
 * plain malloc & co. are xalloc's (every result is checked with
 * xalloc_owns()).
 *
 * Eight threads allocate and free all the time (small, large and huge
 * sizes, blocks handed between threads through shared slots) while the main
 * thread forks 200 times, a dozen children in flight at once. Every child
 * checks and frees blocks inherited from the parent (the main thread's and
 * the workers' published ones), reallocs some, allocates fresh blocks of
 * every kind (some children from new threads too) and _exit(0)s. Then 50
 * fork+exec(/bin/true) from the same threaded parent. A child that
 * deadlocks is caught by its own alarm (the parent's alarm backs it up);
 * every child must exit 0.
 *
 * With the argument "introspection", the storm runs with one more thread
 * printing statistics, reading xallctl and calling malloc_trim, and every
 * child does the same after the fork. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "xalloc.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

#define NWORKERS 8
#define NSLOTS 32
#define NFORKS 200
#define NEXECS 50
#define NINHERITED 256
#define CHILD_TIMEOUT_S 8
#define STORM_TIMEOUT_S 100

/* ---- patterned blocks ---------------------------------------------------- */

typedef struct hdr {
    size_t size;
    uint64_t tag;
} hdr;

static inline uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static inline unsigned char pat(uint64_t tag, size_t i) {
    return (unsigned char)((tag >> 3) ^ (i * 29) ^ (i >> 11));
}

/* Small blocks are patterned whole, bigger ones sparsely and at the end
 * (few page faults: every page a worker touches is copied on write while a
 * child lives). */
static inline size_t step_of(size_t n) {
    return n <= 4 * KiB ? 1 : 64 * KiB - 1;
}

static void fill(void *p, size_t n, uint64_t tag) {
    unsigned char *b = p;
    hdr *h = p;
    h->size = n;
    h->tag = tag;
    for (size_t i = sizeof(hdr); i < n; i += step_of(n)) b[i] = pat(tag, i);
    b[n - 1] = pat(tag, n - 1);
}

/* 0 when p holds the pattern fill() wrote. */
static int check(const void *p) {
    const unsigned char *b = p;
    const hdr *h = p;
    size_t n = h->size;
    if (n < sizeof(hdr) || n > 64 * MiB) return 1;
    for (size_t i = sizeof(hdr); i < n; i += step_of(n))
        if (b[i] != pat(h->tag, i)) return 2;
    return b[n - 1] != pat(h->tag, n - 1) ? 3 : 0;
}

static size_t random_size(uint64_t *r) {
    unsigned k = (unsigned)(rng_next(r) % 1000);
    if (k < 880) return sizeof(hdr) + rng_next(r) % 2048;            /* small */
    if (k < 995) return 16 * KiB + rng_next(r) % (512 * KiB);        /* large */
    return 2 * MiB + 4096 + rng_next(r) % (4 * MiB);                  /* huge */
}

/* ---- the busy workers ---------------------------------------------------- */

/* Published blocks: a worker writes the pattern before storing the pointer
 * (release) and takes a block out with an exchange before freeing it, so a
 * child forked at any moment sees each slot empty or holding a whole block. */
static void *slots[NWORKERS][NSLOTS];
static volatile int stop_workers;
static int worker_errors;
static uint64_t worker_ops;

static void *worker(void *arg) {
    long id = (long)arg;
    uint64_t r = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
    uint64_t ops = 0;
    while (!__atomic_load_n(&stop_workers, __ATOMIC_ACQUIRE)) {
        /* Mostly its own slots, sometimes another worker's: cross-thread frees. */
        unsigned w = rng_next(&r) % 8 == 0 ? (unsigned)(rng_next(&r) % NWORKERS) : (unsigned)id;
        void **slot = &slots[w][rng_next(&r) % NSLOTS];
        void *p = __atomic_exchange_n(slot, NULL, __ATOMIC_ACQ_REL);
        if (p) {
            if (check(p) != 0 || !xalloc_owns(p)) __atomic_add_fetch(&worker_errors, 1, __ATOMIC_RELAXED);
            free(p);
        } else {
            size_t n = random_size(&r);
            p = malloc(n);
            if (p == NULL || !xalloc_owns(p)) {
                __atomic_add_fetch(&worker_errors, 1, __ATOMIC_RELAXED);
                continue;
            }
            fill(p, n, rng_next(&r));
            void *old = __atomic_exchange_n(slot, p, __ATOMIC_ACQ_REL);
            if (old) free(old);   /* another worker filled it meanwhile */
        }
        /* Busy, but leave the forking thread some CPU on small machines. */
        if (++ops % 16 == 0) {
            struct timespec ts = { 0, 20000 };
            nanosleep(&ts, NULL);
        }
    }
    __atomic_add_fetch(&worker_ops, ops, __ATOMIC_RELAXED);
    return NULL;
}

/* One more thread keeps the introspection paths busy: statistics printing
 * (which holds its own lock while it walks every arena), xallctl snapshots
 * and malloc_trim. A child forked while it holds one of those locks must
 * still be able to use them. */
static uint64_t stats_calls;
static int introspect;   /* this storm runs the stats thread too */

static void discard(void *opaque, const char *text) {
    (void)opaque;
    (void)text;
}

static void *stats_worker(void *arg) {
    uint64_t n = 0;
    while (!__atomic_load_n(&stop_workers, __ATOMIC_ACQUIRE)) {
        xalloc_stats_print(discard, NULL, NULL);
        uint64_t e = 1;
        xallctl("epoch", NULL, NULL, &e, sizeof e);
        size_t allocated, len = sizeof allocated;
        xallctl("stats.allocated", &allocated, &len, NULL, 0);
        if (++n % 16 == 0) malloc_trim(0);
    }
    __atomic_add_fetch(&stats_calls, n, __ATOMIC_RELAXED);
    return NULL;
}

/* ---- the children ---------------------------------------------------------- */

static void *inherited[NINHERITED];

static void reset_signals(void) {
    static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT, SIGALRM };
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
    struct rlimit core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &core);
}

static int fresh_blocks(uint64_t seed) {
    enum { N = 200 };
    void *p[N];
    uint64_t r = seed | 1;
    for (int i = 0; i < N; i++) {
        size_t n = i == 0 ? 3 * MiB : i == 1 ? 9 * MiB : random_size(&r);
        p[i] = malloc(n);
        if (p[i] == NULL || !xalloc_owns(p[i])) return 20;
        fill(p[i], n, rng_next(&r));
    }
    void *c = calloc(1000, 8);
    if (c == NULL || !xalloc_owns(c)) return 21;
    for (int i = 0; i < 8000; i++)
        if (((unsigned char *)c)[i]) return 22;
    free(c);
    void *a = NULL;
    if (posix_memalign(&a, 4096, 10000) != 0 || ((uintptr_t)a & 4095) || !xalloc_owns(a)) return 23;
    free(a);
    for (int i = 0; i < N; i++)
        if (check(p[i]) != 0) return 24;
    for (int i = 0; i < N; i++) free(p[i]);
    return 0;
}

static void *child_thread(void *arg) {
    return (void *)(intptr_t)fresh_blocks((uint64_t)(uintptr_t)arg);
}

/* Everything a child does; returns its exit status. */
static int child_main(int k) {
    reset_signals();
    alarm(CHILD_TIMEOUT_S);
    /* Blocks the main thread allocated before forking: check, free half,
     * grow and shrink the others. */
    for (int i = 0; i < NINHERITED; i++) {
        if (!xalloc_owns(inherited[i])) return 10;
        if (check(inherited[i]) != 0) return 11;
    }
    for (int i = 0; i < NINHERITED; i += 2) free(inherited[i]);
    for (int i = 1; i < NINHERITED; i += 2) {
        hdr h = *(hdr *)inherited[i];
        size_t n = h.size * 2 + 100;
        unsigned char *q = realloc(inherited[i], n);
        if (q == NULL || !xalloc_owns(q)) return 12;
        if (memcmp(q, &h, sizeof h) != 0 || q[h.size - 1] != pat(h.tag, h.size - 1)) return 13;
        free(q);
    }
    /* The workers' published blocks, frozen at the fork: every one intact
     * and freeable here, whichever thread and arena it came from. */
    for (int w = 0; w < NWORKERS; w++)
        for (int s = 0; s < NSLOTS; s++) {
            void *p = slots[w][s];
            if (p == NULL) continue;
            if (!xalloc_owns(p)) return 14;
            if (check(p) != 0) return 15;
            free(p);
        }
    int rc = fresh_blocks((uint64_t)k * 7919);
    if (rc) return rc;
    if (k % 8 == 0) {
        /* Threads in the child: new thread caches after the fork. */
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            if (pthread_create(&t[i], NULL, child_thread, (void *)(uintptr_t)(k * 2 + i + 1)) != 0) return 30;
        for (int i = 0; i < 2; i++) {
            void *res;
            pthread_join(t[i], &res);
            if (res) return 31;
        }
    }
    if (introspect) {
        /* Introspection after the fork (the stats thread may have been inside). */
        xalloc_stats_print(discard, NULL, NULL);
        uint64_t e = 1;
        size_t allocated = 0, len = sizeof allocated;
        if (xallctl("epoch", NULL, NULL, &e, sizeof e) != 0) return 40;
        if (xallctl("stats.allocated", &allocated, &len, NULL, 0) != 0 || allocated == 0) return 41;
        malloc_trim(0);
    }
    return 0;
}

/* ---- the parent ------------------------------------------------------------ */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Children in flight: a few at once, so that on a loaded machine they are
 * not starved by the workers while the parent waits for each in turn. */
#define INFLIGHT 12
static volatile pid_t inflight[INFLIGHT];

static void on_timeout(int sig) {
    static const char msg[] = "fork_storm: timed out waiting for a child (deadlock after fork?)\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) { /* nothing */ }
    for (int i = 0; i < INFLIGHT; i++)
        if (inflight[i] > 0) kill(inflight[i], SIGKILL);
    _exit(3);
}

static int inflight_no[INFLIGHT];   /* fork number of each */

static void track(pid_t pid, int no) {
    for (int i = 0; i < INFLIGHT; i++)
        if (inflight[i] == 0) {
            inflight[i] = pid;
            inflight_no[i] = no;
            return;
        }
    abort();
}

static int ninflight(void) {
    int n = 0;
    for (int i = 0; i < INFLIGHT; i++) n += inflight[i] != 0;
    return n;
}

/* Wait for any child; returns its status, *no its fork number. */
static int reap_one(int *no) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, 0)) < 0) assert_int_equal(errno, EINTR);
    for (int i = 0; i < INFLIGHT; i++)
        if (inflight[i] == pid) {
            inflight[i] = 0;
            *no = inflight_no[i];
            return status;
        }
    fail_msg("waitpid returned an unknown child %d", (int)pid);
    return 0;
}

static void describe_status(const char *what, int i, int status) {
    if (WIFSIGNALED(status))
        fprintf(stderr, "%s %d: killed by signal %d (%s)%s\n", what, i, WTERMSIG(status),
                strsignal(WTERMSIG(status)), WTERMSIG(status) == SIGALRM ? ": deadlocked" : "");
    else
        fprintf(stderr, "%s %d: exit status %d\n", what, i, WEXITSTATUS(status));
}

static pthread_t tids[NWORKERS], stats_tid;

static void start_workers(void) {
    stop_workers = 0;
    for (long i = 0; i < NWORKERS; i++) assert_int_equal(pthread_create(&tids[i], NULL, worker, (void *)i), 0);
    if (introspect) assert_int_equal(pthread_create(&stats_tid, NULL, stats_worker, NULL), 0);
    usleep(20000);   /* let them get going */
}

static void stop_and_check_workers(void) {
    __atomic_store_n(&stop_workers, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < NWORKERS; i++) pthread_join(tids[i], NULL);
    if (introspect) pthread_join(stats_tid, NULL);
    for (int w = 0; w < NWORKERS; w++)
        for (int s = 0; s < NSLOTS; s++)
            if (slots[w][s]) {
                if (check(slots[w][s]) != 0) worker_errors++;
                free(slots[w][s]);
                slots[w][s] = NULL;
            }
    if (worker_errors) fail_msg("%d corrupted, foreign or failed blocks in the parent's threads", worker_errors);
}

static void arm_timeout(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_timeout;
    sigaction(SIGALRM, &sa, NULL);
    alarm(STORM_TIMEOUT_S);
}

/* Fork nforks children from the busy parent, a few in flight at a time;
 * stops early once several children failed (each deadlock costs an alarm). */
static void storm(int nforks) {
    uint64_t r = 42;
    for (int i = 0; i < NINHERITED; i++) {
        size_t n = i % 64 == 5 ? 4 * MiB + 100 : random_size(&r);
        inherited[i] = malloc(n);
        assert_non_null(inherited[i]);
        assert_true(xalloc_owns(inherited[i]));
        fill(inherited[i], n, rng_next(&r));
    }
    worker_errors = 0;
    worker_ops = stats_calls = 0;
    start_workers();
    arm_timeout();
    int bad = 0, forked = 0;
    double t_fork = 0, t0 = now_s();
    while ((forked < nforks && bad < 6) || ninflight() > 0) {
        if (forked < nforks && bad < 6 && ninflight() < INFLIGHT) {
            double f0 = now_s();
            pid_t pid = fork();
            if (pid == 0) _exit(child_main(forked));
            assert_true(pid > 0);
            t_fork += now_s() - f0;
            track(pid, forked++);
            continue;
        }
        int n, status = reap_one(&n);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            if (bad++ < 10) describe_status("child", n, status);
        }
    }
    double t_all = now_s() - t0;
    alarm(0);
    /* The parent's own blocks are untouched by what the children did. */
    for (int i = 0; i < NINHERITED; i++) {
        assert_int_equal(check(inherited[i]), 0);
        free(inherited[i]);
    }
    stop_and_check_workers();
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    printf("fork_storm: %d forks in %.2f s (%.2f s in fork; children so far used %.2f s user, "
           "%.2f s system) while the workers did %llu operations and %llu statistics rounds\n", forked, t_all,
           t_fork, (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6,
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6, (unsigned long long)worker_ops,
           (unsigned long long)stats_calls);
    if (bad) fail_msg("%d of %d children failed%s", bad, forked, bad >= 6 ? " (stopped early)" : "");
}

static void test_fork_storm(void **state) {
    introspect = 0;
    storm(NFORKS);
}

/* The same with the statistics thread running and the children printing
 * statistics, reading xallctl and trimming. */
static void test_fork_storm_introspection(void **state) {
    introspect = 1;
    storm(NFORKS / 2);
    introspect = 0;
}

static void test_fork_exec(void **state) {
    const char *prog = access("/bin/true", X_OK) == 0 ? "/bin/true" : "/usr/bin/true";
    if (access(prog, X_OK) != 0) skip();
    worker_errors = 0;
    start_workers();
    arm_timeout();
    int bad = 0;
    for (int i = 0; i < NEXECS; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            reset_signals();
            execl(prog, "true", (char *)NULL);
            _exit(127);
        }
        assert_true(pid > 0);
        track(pid, i);
        int n, status = reap_one(&n);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            if (bad++ < 10) describe_status("exec child", i, status);
        }
        /* and the parent keeps allocating between forks */
        void *p = malloc(100 + (size_t)i);
        assert_true(p && xalloc_owns(p));
        free(p);
    }
    alarm(0);
    stop_and_check_workers();
    if (bad) fail_msg("%d of %d fork+exec children failed", bad, NEXECS);
}

/* No argument: the allocation storm and fork+exec. "introspection": the
 * storm with the statistics thread (a separate ctest entry). */
int main(int argc, char **argv) {
    char *probe = malloc(24);
    if (probe) probe[0] = 1;
    if (!xalloc_owns(probe)) {
        fprintf(stderr, "malloc is not xalloc's: link against libxalloc.so\n");
        return 1;
    }
    free(probe);
    if (argc > 1 && strcmp(argv[1], "introspection") == 0) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_fork_storm_introspection),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_storm),
        cmocka_unit_test(test_fork_exec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
