/* Helpers shared by the cmocka suites (tests/test_*.c), so each piece of
 * test plumbing is written once. Header-only: everything is static inline,
 * so a suite pays nothing for the helpers it does not use and the compiler
 * does not warn about them. Include it after any _GNU_SOURCE and after a
 * suite's own UNDER_SANITIZER / KiB / MiB, if it has different ones. */
#ifndef XALLOC_TESTUTIL_H
#define XALLOC_TESTUTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "xalloc.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifndef KiB
#define KiB ((size_t)1 << 10)
#endif
#ifndef MiB
#define MiB ((size_t)1 << 20)
#endif
#ifndef GiB
#define GiB ((size_t)1 << 30)
#endif

/* The sanitizer runtimes keep memory of their own: RSS assertions are
 * skipped under them; stats assertions stay. */
#ifndef UNDER_SANITIZER
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#else
#define UNDER_SANITIZER 0
#endif
#endif

/* ---- process state ------------------------------------------------------- */

/* Resident set size in bytes (field 2 of /proc/self/statm, in pages); false
 * when it cannot be read. Callers pick how to fail: cmocka (rss_bytes), or
 * exit/abort where cmocka cannot report (children, worker threads). */
static inline bool read_rss(size_t *bytes) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f == NULL)
        return false;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    if (n != 2)
        return false;
    *bytes = (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
    return true;
}

static inline size_t rss_bytes(void) {
    size_t bytes = 0;
    if (!read_rss(&bytes))
        fail_msg("cannot read /proc/self/statm");
    return bytes;
}

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void sleep_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The RSS once it is under limit, read every poll_ms until now_s() reaches
 * deadline, else as it is then: memory goes back over time (decay), and a
 * purge by another thread changes the statistics before its madvise or
 * munmap returns. Under a sanitizer it is read once (its own memory hides
 * the allocator's). false when it cannot be read. */
static inline bool rss_wait_under(size_t limit, double deadline, long poll_ms, size_t *rss) {
    if (!read_rss(rss))
        return false;
    while (!UNDER_SANITIZER && *rss >= limit && now_s() < deadline) {
        sleep_ms(poll_ms);
        if (!read_rss(rss))
            return false;
    }
    return true;
}

/* The arena count xalloc picks by default: one per CPU, at most 256. */
static inline unsigned default_narenas(void) {
    cpu_set_t set;
    unsigned n = 1;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        n = (unsigned)CPU_COUNT(&set);
    return n > 256 ? 256 : n;
}

/* xalloc reads its options when the program is loaded: suites that assume
 * the defaults run themselves again without the caller's XALLOC_CONF.
 * Returns 0 when there was nothing to drop, 1 when execv failed. */
static inline int reexec_without_conf(char **argv) {
    if (getenv("XALLOC_CONF")) {
        unsetenv("XALLOC_CONF");
        execv("/proc/self/exe", argv);
        perror("execv(/proc/self/exe)");
        return 1;
    }
    return 0;
}

/* In a forked child that is meant to crash: default signal actions (cmocka's
 * handlers would otherwise resume the test runner inside the child), no
 * core files, and a timeout. */
static inline void child_setup(unsigned timeout_s) {
    static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT };
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
    struct rlimit core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &core);
    alarm(timeout_s);
}

/* ---- xallctl, checked with cmocka ---------------------------------------- */

/* Refreshes the statistics; returns the new epoch. */
static inline uint64_t epoch(void) {
    uint64_t e = 1;
    size_t len = sizeof e;
    assert_int_equal(xallctl("epoch", &e, &len, &e, sizeof e), 0);
    return e;
}

static inline size_t stat_get(const char *name) {
    size_t v = 0, len = sizeof v;
    int err = xallctl(name, &v, &len, NULL, 0);
    if (err)
        fail_msg("xallctl(\"%s\") = %d", name, err);
    assert_int_equal(len, sizeof v);
    return v;
}

static inline size_t allocated_now(void) {
    epoch();
    return stat_get("stats.allocated");
}

static inline void flush(void) {
    assert_int_equal(xallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0);
}

/* The thread's cache set up, then emptied: a steady starting point. */
static inline void settle(void) {
    void *p = xalloc_malloc(100);
    assert_non_null(p);
    xalloc_free(p);
    flush();
}

#define ASSERT_EQ_SZ(a, b)                                                              \
    do {                                                                                \
        size_t a_ = (a), b_ = (b);                                                      \
        if (a_ != b_)                                                                   \
            fail_msg("%s = %zu, expected %s = %zu (difference %lld)", #a, a_, #b, b_,   \
                     (long long)a_ - (long long)b_);                                    \
    } while (0)

/* ---- growing text buffer --------------------------------------------------
 * Backed by the program's own malloc (glibc's: the core does not interpose).
 * Aborts when out of memory, since it also serves children run outside
 * cmocka. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
    int calls;                /* sb_write_cb calls */
} strbuf;

static inline void sb_add(strbuf *b, const char *text, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->s = realloc(b->s, cap);
        if (b->s == NULL)
            abort();
        b->cap = cap;
    }
    memcpy(b->s + b->len, text, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* A write callback for xalloc_stats_print and friends. */
static inline void sb_write_cb(void *opaque, const char *text) {
    strbuf *b = opaque;
    b->calls++;
    sb_add(b, text, strlen(text));
}

/* ---- a small JSON parser: validates, finds one value by path ---------------
 * Paths: object keys joined by '.', array elements as [i]:
 * "xalloc.stats.allocated", "xalloc.arenas[0].index". */
typedef struct json {
    const char *s;
    size_t i;
    int depth;
    bool err;
    const char *want;
    const char *found;        /* start of the value at want */
    long count;               /* members / elements when that value is a container */
    char path[512];
} json;

static inline void j_ws(json *j) {
    while (j->s[j->i] == ' ' || j->s[j->i] == '\n' || j->s[j->i] == '\t' || j->s[j->i] == '\r')
        j->i++;
}

static inline void j_string(json *j, char *out, size_t cap) {
    size_t n = 0;
    if (j->s[j->i] != '"') {
        j->err = true;
        return;
    }
    j->i++;
    while (j->s[j->i] && j->s[j->i] != '"') {
        char c = j->s[j->i];
        if ((unsigned char)c < 0x20) {
            j->err = true;
            return;
        }
        if (c == '\\') {
            j->i++;
            c = j->s[j->i];
            if (c == 'u') {
                for (int k = 1; k <= 4; k++)
                    if (!strchr("0123456789abcdefABCDEF", j->s[j->i + k]) || !j->s[j->i + k]) {
                        j->err = true;
                        return;
                    }
                j->i += 4;
                c = '?';
            } else if (!c || !strchr("\"\\/bfnrt", c)) {
                j->err = true;
                return;
            }
        }
        if (out && n + 1 < cap)
            out[n++] = c;
        j->i++;
    }
    if (j->s[j->i] != '"') {
        j->err = true;
        return;
    }
    j->i++;
    if (out)
        out[n] = '\0';
}

static inline void j_digits(json *j) {
    if (j->s[j->i] < '0' || j->s[j->i] > '9') {
        j->err = true;
        return;
    }
    while (j->s[j->i] >= '0' && j->s[j->i] <= '9')
        j->i++;
}

static inline void j_number(json *j) {
    if (j->s[j->i] == '-')
        j->i++;
    if (j->s[j->i] == '0')
        j->i++;
    else
        j_digits(j);
    if (j->s[j->i] == '.') {
        j->i++;
        j_digits(j);
    }
    if (j->s[j->i] == 'e' || j->s[j->i] == 'E') {
        j->i++;
        if (j->s[j->i] == '+' || j->s[j->i] == '-')
            j->i++;
        j_digits(j);
    }
}

static inline void j_value(json *j) {
    j_ws(j);
    if (j->err || ++j->depth > 64) {
        j->err = true;
        return;
    }
    size_t plen = strlen(j->path);
    bool hit = j->want && strcmp(j->path, j->want) == 0;
    if (hit)
        j->found = j->s + j->i;
    long n = 0;
    char c = j->s[j->i];
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->i++;
        j_ws(j);
        if (j->s[j->i] == close) {
            j->i++;
        } else {
            for (;;) {
                char key[128];
                if (c == '{') {
                    j_ws(j);
                    j_string(j, key, sizeof key);
                    j_ws(j);
                    if (j->err || j->s[j->i] != ':') {
                        j->err = true;
                        return;
                    }
                    j->i++;
                    snprintf(j->path + plen, sizeof j->path - plen, "%s%s", plen ? "." : "", key);
                } else {
                    snprintf(j->path + plen, sizeof j->path - plen, "[%ld]", n);
                }
                j_value(j);
                j->path[plen] = '\0';
                if (j->err)
                    return;
                n++;
                j_ws(j);
                if (j->s[j->i] == ',') {
                    j->i++;
                    continue;
                }
                if (j->s[j->i] == close) {
                    j->i++;
                    break;
                }
                j->err = true;
                return;
            }
        }
    } else if (c == '"') {
        j_string(j, NULL, 0);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        j_number(j);
    } else if (strncmp(j->s + j->i, "true", 4) == 0) {
        j->i += 4;
    } else if (strncmp(j->s + j->i, "false", 5) == 0) {
        j->i += 5;
    } else if (strncmp(j->s + j->i, "null", 4) == 0) {
        j->i += 4;
    } else {
        j->err = true;
    }
    if (hit)
        j->count = n;
    j->depth--;
}

/* True when text is one well-formed JSON value; *found / *count describe
 * the value at path want (found NULL when absent). */
static inline bool json_find(const char *text, const char *want, const char **found, long *count) {
    json j = { .s = text, .want = want };
    j_value(&j);
    j_ws(&j);
    if (j.err || j.s[j.i] != '\0')
        return false;
    if (found)
        *found = j.found;
    if (count)
        *count = j.count;
    return true;
}

/* ---- suites of the core's internals ---------------------------------------
 * Only where the suite included the core's conf.h and init.h first: the
 * public-API suites do not see xa_opt. */
#if defined(XA_CONF_H) && defined(XA_INIT_H)

static long saved_decay;

/* Group setup: boot the core and stop time-based purging, so dirty page
 * counts and cached mappings do not depend on how fast a test runs
 * (sanitizers); only explicit and over-limit purges happen. */
static inline int setup_no_decay(void **state) {
    (void)state;
    if (!xa_init_slow())
        return -1;
    saved_decay = xa_opt.dirty_decay_ms;
    xa_opt.dirty_decay_ms = 1L << 40;
    return 0;
}

static inline int teardown_no_decay(void **state) {
    (void)state;
    xa_opt.dirty_decay_ms = saved_decay;
    return 0;
}

#endif

/* xorshift64: the suites' random choices, the same sequence on every run. */
static inline uint64_t test_xorshift(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

#endif /* XALLOC_TESTUTIL_H */
