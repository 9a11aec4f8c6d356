/* Bad pointers: double frees (small, large, huge), frees of memory xalloc
 * never handed out (static, stack, wild), interior pointers, free_sized with
 * a wrong size and realloc of a freed block.
 *
 * Every case runs twice, each time in its own child process with stderr
 * captured through a pipe:
 *  - forked, default options: the child must die of SIGABRT after writing
 *    "xalloc: <what> of <pointer>" with the pointer as printf("%p") prints it;
 *  - re-executed (/proc/self/exe --badptr-case NAME) with
 *    XALLOC_CONF=abort_on_error:false in its environment from the start: the
 *    same message, then the process goes on, memory still works (blocks of
 *    every size allocated, filled, checked disjoint and freed) and it exits 0.
 *
 * The child announces the pointer on stdout ("PTR 0x...") before misusing
 * it, so the parent knows what the report must name. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "xalloc.h"
#include "alloc.h"   /* the slab geometry, for the tail case */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define CHILD_TIMEOUT_S 20
#define CASE_FLAG "--badptr-case"

#include "testutil.h"

/* ---- the cases (run in the child) ----------------------------------------- */

static void announce(const void *p) {
    dprintf(STDOUT_FILENO, "PTR %p\n", p);
}

/* After a misuse that must be reported at once: the report has to come
 * before this line on stderr (check_case), not from a later flush. */
#define MISUSE_DONE "MISUSE DONE\n"
static void misuse_done(void) {
    dprintf(STDERR_FILENO, MISUSE_DONE);
}

/* Keep the compiler from seeing through the misuse. */
static void *volatile sink;

static void *fresh(size_t size) {
    unsigned char *p = xalloc_malloc(size);
    if (p == NULL) {
        dprintf(STDERR_FILENO, "setup: malloc(%zu) failed\n", size);
        _exit(90);
    }
    memset(p, 0x5c, size);
    sink = p;
    return p;
}

/* Allocation traffic of one class after the misuse: 10,000 mallocs in rounds
 * of 500 that are then all freed. A round is bigger than a thread-cache bin,
 * so the cache fills and flushes many times over and a bad entry in it
 * reaches the arena. */
#define CHURN_ROUND 500
static void churn(size_t size) {
    static void *blocks[CHURN_ROUND];
    for (int round = 0; round < 10000 / CHURN_ROUND; round++) {
        for (int i = 0; i < CHURN_ROUND; i++) {
            blocks[i] = xalloc_malloc(size);
            if (blocks[i]) memset(blocks[i], round, size);
        }
        for (int i = 0; i < CHURN_ROUND; i++) xalloc_free(blocks[i]);
    }
}

static void case_double_free_small(void) {
    void *p = fresh(64);
    announce(p);
    xalloc_free(p);
    xalloc_free(p);
    misuse_done();
    churn(64);
}

/* The first copy is deep in the cache bin: the free mark finds it. */
static void case_double_free_small_interleaved(void) {
    void *p = fresh(64), *q = fresh(64), *r = fresh(64);
    announce(p);
    xalloc_free(p);
    xalloc_free(q);
    xalloc_free(r);
    xalloc_free(p);
    misuse_done();
    churn(64);
}

static void case_double_free_large_cached(void) {
    void *p = fresh(20 * KiB);   /* large, but small enough for the thread cache */
    announce(p);
    xalloc_free(p);
    xalloc_free(p);
}

static void case_double_free_large(void) {
    void *p = fresh(100 * KiB);
    announce(p);
    xalloc_free(p);
    xalloc_free(p);
}

static void case_double_free_huge(void) {
    void *p = fresh(8 * MiB);
    announce(p);
    xalloc_free(p);
    xalloc_free(p);
}

/* A region of a live slab that was never handed out (a fresh process:
 * the highest region of p's slab that is xalloc's but not a live block).
 * The free fast path does not read the slab bitmap: the slab's high-water
 * mark must reject it. */
static void case_free_unallocated_region(void) {
    char *p = fresh(3000);
    char *q = NULL;
    for (int k = 32; k > 0 && q == NULL; k--) {
        char *c = p + (size_t)k * xalloc_malloc_usable_size(p);
        if (xalloc_owns(c) && xalloc_malloc_usable_size(c) == 0)
            q = c;
    }
    if (q == NULL) {
        dprintf(STDERR_FILENO, "setup: no unallocated region after %p\n", (void *)p);
        _exit(92);
    }
    announce(q);
    xalloc_free(q);
    misuse_done();
    churn(3000);
}

static char static_buffer[256] __attribute__((aligned(64)));

static void case_free_static(void) {
    xalloc_free(fresh(32));      /* a program that has allocated before */
    announce(static_buffer);
    xalloc_free(static_buffer);
}

static void case_free_static_first_call(void) {
    /* The first call into xalloc from this program (the test runner never
     * calls it, the re-executed helper starts fresh): no arena exists yet. */
    announce(static_buffer + 16);
    xalloc_free(static_buffer + 16);
}

static __attribute__((noinline)) void free_local(void) {
    char local[128];
    memset(local, 1, sizeof local);
    sink = local;
    announce(local);
    xalloc_free(local);
}

static void case_free_stack(void) {
    xalloc_free(fresh(32));
    free_local();
}

static void case_free_wild(void) {
    xalloc_free(fresh(32));
    void *wild = (void *)(uintptr_t)0x10;
    announce(wild);
    xalloc_free(wild);
}

static void case_free_interior_small(void) {
    char *p = fresh(64);
    announce(p + 8);
    xalloc_free(p + 8);
}

static void case_free_interior_large(void) {
    char *p = fresh(100 * KiB);
    announce(p + 4096);
    xalloc_free(p + 4096);
}

/* A pointer on a region boundary in the unused tail of a slab, past its
 * last region: no block starts there (one would overlap the next run). */
static void case_free_slab_tail(void) {
    for (unsigned c = 0; c < XA_NSMALL; c++) {
        size_t size = xa_class_size[c];
        char *p = fresh(size);
        xa_run *r = xa_lookup_fast(p);
        char *tail = r->addr + (size_t)r->nregs * size;
        if (tail < r->addr + ((size_t)r->npages << XA_PAGE_SHIFT)) {
            announce(tail);
            xalloc_free(tail);
            return;
        }
    }
    dprintf(STDERR_FILENO, "setup: no slab with a tail\n");
    _exit(90);
}

static void case_free_sized_wrong(void) {
    void *p = fresh(4000);
    announce(p);
    xalloc_free_sized(p, 16);
}

static void case_realloc_freed_small(void) {
    void *p = fresh(64);
    announce(p);
    xalloc_free(p);
    sink = xalloc_realloc(p, 256);
}

static void case_realloc_freed_small_same_class(void) {
    void *p = fresh(64);
    announce(p);
    xalloc_free(p);
    sink = xalloc_realloc(p, 60);
}

static void case_realloc_freed_small_interleaved(void) {
    void *p = fresh(64), *q = fresh(64);
    announce(p);
    xalloc_free(p);
    xalloc_free(q);
    void *r = xalloc_realloc(p, 60);   /* p is deep in its cache bin: the free mark finds it */
    misuse_done();
    churn(64);
    xalloc_free(r);                    /* the program frees what realloc gave it */
    churn(64);
}

static void case_realloc_freed_large(void) {
    void *p = fresh(100 * KiB);
    announce(p);
    xalloc_free(p);
    sink = xalloc_realloc(p, 200 * KiB);
}

static void case_realloc_freed_huge(void) {
    void *p = fresh(8 * MiB);
    announce(p);
    xalloc_free(p);
    sink = xalloc_realloc(p, 16 * MiB);
}

typedef struct bcase {
    const char *name;
    void (*run)(void);
    const char *what[3];          /* the report's <what> must contain one of these */
} bcase;

static const bcase cases[] = {
    { "double_free_small", case_double_free_small, { "double free" } },
    { "double_free_small_interleaved", case_double_free_small_interleaved, { "double free" } },
    { "double_free_large_cached", case_double_free_large_cached, { "double free" } },
    { "double_free_large", case_double_free_large, { "double free" } },
    { "double_free_huge", case_double_free_huge, { "double free", "invalid free" } },
    { "free_static", case_free_static, { "invalid free" } },
    { "free_static_first_call", case_free_static_first_call, { "invalid free" } },
    { "free_stack", case_free_stack, { "invalid free" } },
    { "free_wild", case_free_wild, { "invalid free" } },
    { "free_interior_small", case_free_interior_small, { "interior", "invalid free" } },
    { "free_interior_large", case_free_interior_large, { "interior", "invalid free" } },
    { "free_slab_tail", case_free_slab_tail, { "interior", "invalid free" } },
    { "free_unallocated_region", case_free_unallocated_region, { "not allocated)" } },
    { "free_sized_wrong", case_free_sized_wrong, { "wrong size" } },
    { "realloc_freed_small", case_realloc_freed_small, { "realloc", "double free" } },
    { "realloc_freed_small_same_class", case_realloc_freed_small_same_class, { "realloc", "double free" } },
    { "realloc_freed_small_interleaved", case_realloc_freed_small_interleaved, { "realloc" } },
    { "realloc_freed_large", case_realloc_freed_large, { "realloc", "double free" } },
    { "realloc_freed_huge", case_realloc_freed_huge, { "realloc", "double free" } },
};
#define NCASES (sizeof cases / sizeof cases[0])

static const bcase *find_case(const char *name) {
    for (size_t i = 0; i < NCASES; i++)
        if (strcmp(cases[i].name, name) == 0) return &cases[i];
    return NULL;
}

/* ---- after an ignored error, memory must still work ------------------------ */

static inline uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static unsigned char pat(size_t idx, size_t i) {
    return (unsigned char)(idx * 131 + i * 7 + (i >> 9) + 1);
}

#define NCHECK 2400

/* Every byte of small blocks; bigger ones sparsely (fewer page faults). */
static size_t stride(size_t n) {
    return n <= 4096 ? 1 : n <= 64 * KiB ? 61 : 4093;
}

/* Returns 0 when every block came back distinct and intact. */
static int memory_still_works(void) {
    static unsigned char *p[NCHECK];
    static size_t n[NCHECK];
    uint64_t r = 0x1234567;
    int bad = 0;
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < NCHECK; i++) {
            size_t k = i % 400;
            n[i] = k == 399 ? 3 * MiB + rng_next(&r) % (6 * MiB)
                 : k % 20 == 19 ? 16 * KiB + rng_next(&r) % (600 * KiB) : 1 + rng_next(&r) % 2048;
            if (i % 300 == 7) n[i] = 64;        /* the class most cases misused */
            p[i] = xalloc_malloc(n[i]);
            if (p[i] == NULL || !xalloc_owns(p[i])) {
                dprintf(STDERR_FILENO, "check: malloc(%zu) = %p\n", n[i], (void *)p[i]);
                return 1;
            }
            for (size_t j = 0; j < n[i]; j += stride(n[i])) p[i][j] = pat(i, j);
            p[i][n[i] - 1] = pat(i, n[i] - 1);
        }
        for (size_t i = 0; i < NCHECK; i++) {
            for (size_t j = 0; j < n[i]; j += stride(n[i]))
                if (p[i][j] != pat(i, j)) {
                    if (bad++ < 3)
                        dprintf(STDERR_FILENO, "check: block %zu (%p, %zu bytes) overwritten at %zu: "
                                "a block handed out twice\n", i, (void *)p[i], n[i], j);
                    break;
                }
            if (p[i][n[i] - 1] != pat(i, n[i] - 1) && bad++ < 3)
                dprintf(STDERR_FILENO, "check: block %zu tail overwritten\n", i);
        }
        for (size_t i = 0; i < NCHECK; i += 2) xalloc_free(p[i]);
        for (size_t i = 1; i < NCHECK; i += 2) {
            unsigned char *q = xalloc_realloc(p[i], n[i] + 100);
            if (q == NULL || q[0] != pat(i, 0)) {
                dprintf(STDERR_FILENO, "check: realloc lost block %zu\n", i);
                return 1;
            }
            xalloc_free(q);
        }
    }
    return bad != 0;
}

/* Child side of one case: misuse, then (when it survives) the check. */
static void run_case_in_child(const bcase *c) {
    c->run();
    int rc = memory_still_works();
    dprintf(STDOUT_FILENO, rc == 0 ? "SURVIVED\n" : "SURVIVED BROKEN\n");
    _exit(rc == 0 ? 0 : 1);
}

/* ---- the parent --------------------------------------------------------- */

typedef struct outcome {
    int status;
    char out[4096];
    char err[16384];
} outcome;

/* Read both pipes to EOF (poll, so neither can fill up and block the child). */
static void drain(int ofd, int efd, outcome *o) {
    size_t olen = 0, elen = 0;
    struct pollfd fds[2] = { { ofd, POLLIN, 0 }, { efd, POLLIN, 0 } };
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int k = 0; k < 2; k++) {
            if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char *buf = k == 0 ? o->out : o->err;
            size_t *len = k == 0 ? &olen : &elen;
            size_t cap = (k == 0 ? sizeof o->out : sizeof o->err) - 1;
            char tmp[4096];
            ssize_t got = read(fds[k].fd, tmp, sizeof tmp);
            if (got <= 0) {
                close(fds[k].fd);
                fds[k].fd = -1;
                open_fds--;
                continue;
            }
            size_t take = (size_t)got < cap - *len ? (size_t)got : cap - *len;
            memcpy(buf + *len, tmp, take);
            *len += take;
        }
    }
    o->out[olen] = '\0';
    o->err[elen] = '\0';
}

/* Run case c in a child: forked with default options, or re-executed with
 * abort_on_error:false. */
static void run_child(const bcase *c, int reexec, outcome *o) {
    int op[2], ep[2];
    memset(o, 0, sizeof *o);
    assert_int_equal(pipe(op), 0);
    assert_int_equal(pipe(ep), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        child_setup(CHILD_TIMEOUT_S);
        dup2(op[1], STDOUT_FILENO);
        dup2(ep[1], STDERR_FILENO);
        close(op[0]), close(op[1]), close(ep[0]), close(ep[1]);
        if (reexec) {
            setenv("XALLOC_CONF", "abort_on_error:false", 1);
            char *argv[] = { "test_badptr", CASE_FLAG, (char *)c->name, NULL };
            execv("/proc/self/exe", argv);
            dprintf(STDERR_FILENO, "execv(/proc/self/exe): %s\n", strerror(errno));
            _exit(91);
        }
        run_case_in_child(c);
    }
    close(op[1]);
    close(ep[1]);
    drain(op[0], ep[0], o);
    while (waitpid(pid, &o->status, 0) < 0)
        assert_int_equal(errno, EINTR);
}

/* Whether the report naming ptr came before the MISUSE_DONE line, when
 * the case printed one (with default options the report aborts first). */
static int reported_at_once(const char *err, const char *ptr) {
    const char *done = strstr(err, MISUSE_DONE), *report = strstr(err, ptr);
    return done == NULL || (report != NULL && report < done);
}

/* The <what> of the first "xalloc: <what> of <ptr>" line naming ptr exactly. */
static int find_report(const char *err, const char *ptr, char *what, size_t cap) {
    size_t plen = strlen(ptr);
    for (const char *line = err; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len < 8 || strncmp(line, "xalloc: ", 8) != 0) continue;
        for (const char *of = line; (of = strstr(of, " of ")) != NULL && of < line + len; of++) {
            const char *v = of + 4;
            if (v + plen > line + len || strncmp(v, ptr, plen) != 0) continue;
            char after = v[plen];   /* within the line or its '\n' / '\0' */
            if (after == ' ' || after == '\n' || after == '\0') {
                size_t wl = (size_t)(of - (line + 8));
                if (wl >= cap) wl = cap - 1;
                memcpy(what, line + 8, wl);
                what[wl] = '\0';
                return 1;
            }
        }
    }
    return 0;
}

static const char *announced(const outcome *o, char *buf, size_t cap) {
    const char *s = strstr(o->out, "PTR ");
    if (!s) return NULL;
    s += 4;
    size_t n = strcspn(s, "\n");
    if (n == 0 || n >= cap) return NULL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

static void describe(const char *mode, const bcase *c, const outcome *o) {
    fprintf(stderr, "---- %s, %s: child stdout ----\n%s---- child stderr ----\n%s----\n", c->name, mode, o->out, o->err);
}

static void status_text(int status, char *buf, size_t cap) {
    if (WIFSIGNALED(status))
        snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
}

static void check_case(const char *name) {
    const bcase *c = find_case(name);
    assert_non_null(c);
    outcome *o = malloc(sizeof *o);
    assert_non_null(o);
    char ptr[64], what_abort[200], what_ignore[200], st[96];
    int failed = 0;

    /* 1. Default options: report, then SIGABRT. */
    run_child(c, 0, o);
    status_text(o->status, st, sizeof st);
    if (!announced(o, ptr, sizeof ptr)) {
        describe("default options", c, o);
        fail_msg("%s: the child never got to the misuse (%s)", name, st);
    }
    if (!find_report(o->err, ptr, what_abort, sizeof what_abort)) {
        describe("default options", c, o);
        fprintf(stderr, "%s: no \"xalloc: ... of %s\" report on stderr (%s)\n", name, ptr, st);
        failed = 1;
        what_abort[0] = '\0';
    } else {
        int known = 0;
        for (int i = 0; i < 3 && c->what[i]; i++) known |= strstr(what_abort, c->what[i]) != NULL;
        if (!known) {
            fprintf(stderr, "%s: report \"%s\" does not say %s%s%s\n", name, what_abort, c->what[0],
                    c->what[1] ? " or " : "", c->what[1] ? c->what[1] : "");
            failed = 1;
        }
    }
    if (!reported_at_once(o->err, ptr)) {
        fprintf(stderr, "%s: reported late, not at the misuse\n", name);
        failed = 1;
    }
    if (!WIFSIGNALED(o->status) || WTERMSIG(o->status) != SIGABRT) {
        if (!failed) describe("default options", c, o);
        fprintf(stderr, "%s: expected SIGABRT with default options, got %s\n", name, st);
        failed = 1;
    }

    /* 2. abort_on_error:false from the start: same report, the process goes
     *    on and its memory still works. */
    run_child(c, 1, o);
    status_text(o->status, st, sizeof st);
    int shown = 0;
    if (!announced(o, ptr, sizeof ptr)) {
        describe("abort_on_error:false", c, o);
        free(o);
        fail_msg("%s (abort_on_error:false): the helper never got to the misuse (%s)", name, st);
    }
    if (!find_report(o->err, ptr, what_ignore, sizeof what_ignore)) {
        describe("abort_on_error:false", c, o), shown = 1;
        fprintf(stderr, "%s (abort_on_error:false): no \"xalloc: ... of %s\" report (%s)\n", name, ptr, st);
        failed = 1;
    } else if (what_abort[0] && strcmp(what_abort, what_ignore) != 0) {
        fprintf(stderr, "%s: the report differs with abort_on_error:false: \"%s\" vs \"%s\"\n", name,
                what_ignore, what_abort);
        failed = 1;
    }
    if (!reported_at_once(o->err, ptr)) {
        if (!shown) describe("abort_on_error:false", c, o), shown = 1;
        fprintf(stderr, "%s (abort_on_error:false): reported late, not at the misuse\n", name);
        failed = 1;
    }
    if (strstr(o->err, "(aborting)")) {
        fprintf(stderr, "%s (abort_on_error:false): the report still says (aborting)\n", name);
        failed = 1;
    }
    if (!WIFEXITED(o->status) || WEXITSTATUS(o->status) != 0 || !strstr(o->out, "SURVIVED\n")) {
        if (!shown) describe("abort_on_error:false", c, o);
        fprintf(stderr, "%s (abort_on_error:false): expected a normal exit 0 with working memory, got %s%s\n",
                name, st, strstr(o->out, "SURVIVED BROKEN") ? " (memory broken after the error)" : "");
        failed = 1;
    }
    free(o);
    if (failed) fail_msg("%s: see above", name);
}

#define CASE_TEST(n) static void test_##n(void **state) { check_case(#n); }
CASE_TEST(double_free_small)
CASE_TEST(double_free_small_interleaved)
CASE_TEST(free_unallocated_region)
CASE_TEST(double_free_large_cached)
CASE_TEST(double_free_large)
CASE_TEST(double_free_huge)
CASE_TEST(free_static)
CASE_TEST(free_static_first_call)
CASE_TEST(free_stack)
CASE_TEST(free_wild)
CASE_TEST(free_interior_small)
CASE_TEST(free_interior_large)
CASE_TEST(free_slab_tail)
CASE_TEST(free_sized_wrong)
CASE_TEST(realloc_freed_small)
CASE_TEST(realloc_freed_small_same_class)
CASE_TEST(realloc_freed_small_interleaved)
CASE_TEST(realloc_freed_large)
CASE_TEST(realloc_freed_huge)

/* xalloc_owns() is documented safe on any pointer: never a report, never a
 * crash, whatever it is given, before or after the first allocation. */
static void test_owns_any_pointer(void **state) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        child_setup(CHILD_TIMEOUT_S);
        char local[16];
        int bad = 0;
        bad |= xalloc_owns(static_buffer) != 0;     /* first call in this process */
        bad |= xalloc_owns(local) != 0;
        bad |= xalloc_owns((void *)(uintptr_t)0x10) != 0;
        bad |= xalloc_owns((void *)(uintptr_t)0x400000) != 0;
        bad |= xalloc_owns((void *)~(uintptr_t)0xfff) != 0;
        bad |= xalloc_malloc_usable_size(static_buffer) != 0;
        char *p = xalloc_malloc(64), *l = xalloc_malloc(100 * KiB), *h = xalloc_malloc(8 * MiB);
        bad |= !xalloc_owns(p) || !xalloc_owns(l) || !xalloc_owns(h);
        bad |= !xalloc_owns(p + 8) || !xalloc_owns(l + 4096);     /* interior of a live block */
        bad |= xalloc_owns(static_buffer) != 0 || xalloc_owns(local) != 0;
        xalloc_free(p), xalloc_free(l), xalloc_free(h);
        bad |= xalloc_owns(h) != 0;
        _exit(bad);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) fail_msg("xalloc_owns crashed: signal %d", WTERMSIG(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], CASE_FLAG) == 0) {
        const bcase *c = find_case(argv[2]);
        if (c == NULL) return 92;
        run_case_in_child(c);
    }
    /* Defaults apply: run again without the caller's XALLOC_CONF. */
    if (reexec_without_conf(argv))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_double_free_small),
        cmocka_unit_test(test_double_free_small_interleaved),
        cmocka_unit_test(test_double_free_large_cached),
        cmocka_unit_test(test_double_free_large),
        cmocka_unit_test(test_double_free_huge),
        cmocka_unit_test(test_free_static),
        cmocka_unit_test(test_free_static_first_call),
        cmocka_unit_test(test_free_stack),
        cmocka_unit_test(test_free_wild),
        cmocka_unit_test(test_free_interior_small),
        cmocka_unit_test(test_free_interior_large),
        cmocka_unit_test(test_free_slab_tail),
        cmocka_unit_test(test_free_unallocated_region),
        cmocka_unit_test(test_free_sized_wrong),
        cmocka_unit_test(test_realloc_freed_small),
        cmocka_unit_test(test_realloc_freed_small_same_class),
        cmocka_unit_test(test_realloc_freed_small_interleaved),
        cmocka_unit_test(test_realloc_freed_large),
        cmocka_unit_test(test_realloc_freed_huge),
        cmocka_unit_test(test_owns_any_pointer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
