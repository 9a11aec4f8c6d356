/* Bootstrap and options. The first malloc may come from the dynamic
 * loader, dlsym, another library's constructor or pthread_create, so
 * nothing before "initialized" calls a function that allocates. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include "init.h"
#include "arena.h"
#include "chunk.h"
#include "conf.h"
#include "reclaim.h"
#include "huge.h"
#include "pages.h"
#include "purge.h"
#include "report.h"
#include "sizeclass.h"
#include "stats.h"
#include "tcache.h"

bool xa_initialized;
static xa_mutex init_lock = XA_MUTEX_INITIALIZER;
static bool atfork_registered;

xa_options xa_opt = {
    .narenas = 0,
    .tcache = true,
    .tcache_max = 512 * 1024,
    .tcache_reclaim = true,
    .dirty_decay_ms = 1000,
    .background_thread = false,
    .thp = XA_THP_DEFAULT,
    .abort_on_error = true,
    .junk = false,
    .stats_print = false,
};

/* Defaults compiled into a program: const char *xalloc_conf = "...";
 * XALLOC_CONF in the environment is applied after it and wins. */
extern const char *xalloc_conf __attribute__((weak, visibility("default")));

/* ---- XALLOC_CONF ------------------------------------------------------ */

/* "xalloc: XALLOC_CONF: <what> 'key'", one line, no allocation. */
static void conf_error(const char *what, const char *key, size_t klen) {
    char buf[160];
    size_t n = 0;
    for (const char *w = what; *w && n < 80; w++)
        buf[n++] = *w;
    buf[n++] = ' ';
    buf[n++] = '\'';
    for (size_t i = 0; i < klen && n < sizeof buf - 2; i++)
        buf[n++] = key[i];
    buf[n++] = '\'';
    buf[n] = '\0';
    xa_report_message("XALLOC_CONF: ", buf);
}

static bool parse_bool(const char *v, size_t n, bool *out) {
    if (n == 4 && memcmp(v, "true", 4) == 0) { *out = true; return true; }
    if (n == 5 && memcmp(v, "false", 5) == 0) { *out = false; return true; }
    if (n == 1 && (*v == '1' || *v == '0')) { *out = *v == '1'; return true; }
    return false;
}

/* Decimal, optional leading '-', optional k/K, m/M, g/G suffix. */
static bool parse_num(const char *v, size_t n, long long *out) {
    size_t i = 0;
    bool neg = false;
    if (i < n && v[i] == '-') {
        neg = true;
        i++;
    }
    if (i == n || v[i] < '0' || v[i] > '9')
        return false;                 /* at least one digit: "k" alone is no number */
    long long x = 0;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
        if (x > (1LL << 50))
            return false;
        x = x * 10 + (v[i] - '0');
    }
    if (i < n) {
        int shift = 0;
        switch (v[i]) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return false;
        }
        if (i + 1 != n || (x >> (62 - shift)) != 0)
            return false;
        x <<= shift;
    }
    *out = neg ? -x : x;
    return true;
}

static bool key_is(const char *k, size_t kl, const char *name) {
    return strlen(name) == kl && memcmp(k, name, kl) == 0;
}

static void conf_apply(const char *k, size_t kl, const char *v, size_t vl) {
    long long num;
    bool b;
#define BOOL_OPT(name, field) \
    if (key_is(k, kl, name)) { if (parse_bool(v, vl, &b)) xa_opt.field = b; else goto bad; return; }
    BOOL_OPT("tcache", tcache)
    BOOL_OPT("tcache_reclaim", tcache_reclaim)
    BOOL_OPT("background_thread", background_thread)
    BOOL_OPT("abort_on_error", abort_on_error)
    BOOL_OPT("junk", junk)
    BOOL_OPT("stats_print", stats_print)
#undef BOOL_OPT
    if (key_is(k, kl, "narenas")) {
        if (!parse_num(v, vl, &num) || num < 1 || num > XA_MAX_ARENAS)
            goto bad;
        xa_opt.narenas = (unsigned)num;
        return;
    }
    if (key_is(k, kl, "shared_arenas")) {
        if (!parse_num(v, vl, &num) || num < 1 || num > XA_MAX_ARENAS)
            goto bad;
        xa_opt.shared_arenas = (unsigned)num;
        return;
    }
    if (key_is(k, kl, "tcache_max")) {
        if (!parse_num(v, vl, &num) || num < 0 || (size_t)num > XA_LARGE_MAX)
            goto bad;
        xa_opt.tcache_max = (size_t)num;
        return;
    }
    if (key_is(k, kl, "dirty_decay_ms")) {
        if (!parse_num(v, vl, &num) || num < -1 || num > (1LL << 40))
            goto bad;
        xa_opt.dirty_decay_ms = (long)num;
        return;
    }
    if (key_is(k, kl, "thp")) {
        if (vl == 7 && memcmp(v, "default", 7) == 0) xa_opt.thp = XA_THP_DEFAULT;
        else if (vl == 6 && memcmp(v, "always", 6) == 0) xa_opt.thp = XA_THP_ALWAYS;
        else if (vl == 5 && memcmp(v, "never", 5) == 0) xa_opt.thp = XA_THP_NEVER;
        else goto bad;
        return;
    }
    conf_error("unknown key, ignored:", k, kl);
    return;
bad:
    conf_error("bad value, default kept for", k, kl);
}

void xa_conf_parse(const char *s) {
    while (s && *s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *colon = memchr(s, ':', len);
        if (len == 0) {
            /* empty item: tolerate stray commas */
        } else if (colon == NULL) {
            conf_error("expected key:value, got", s, len);
        } else {
            conf_apply(s, (size_t)(colon - s), colon + 1, len - (size_t)(colon - s) - 1);
        }
        s = end ? end + 1 : NULL;
    }
}

/* ---- fork -------------------------------------------------------------- */

static void prefork(void) {
    if (!xa_initialized)
        return;
    xa_stats_prefork();
    xa_ctl_prefork();
    xa_reclaim_prefork();             /* before the arenas: a reclaim takes arena locks */
    xa_arena_prefork();
    xa_huge_prefork();
}

static void postfork_parent(void) {
    if (!xa_initialized)
        return;
    xa_huge_postfork_parent();
    xa_arena_postfork_parent();
    xa_reclaim_postfork_parent();
    xa_ctl_postfork_parent();
    xa_stats_postfork_parent();
}

static void postfork_child(void) {
    if (!xa_initialized)
        return;
    xa_huge_postfork_child();
    xa_arena_postfork_child();
    xa_reclaim_postfork_child();
    xa_ctl_postfork_child();
    xa_stats_postfork_child();
    xa_background_postfork_child();
}

static void print_stats_at_exit(void) {
    xa_stats_print(NULL, NULL, NULL);
}

/* ---- bootstrap --------------------------------------------------------- */

static unsigned cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return (unsigned)n;
    }
    return 1;
}

XA_NOINLINE bool xa_init_slow(void) {
    xa_mutex_lock(&init_lock);
    if (!xa_initialized) {
        xa_sizeclass_init();
        if (&xalloc_conf != NULL && xalloc_conf != NULL)
            xa_conf_parse(xalloc_conf);
        xa_conf_parse(getenv("XALLOC_CONF"));
        /* One arena per CPU: with thread caches in front, arena locks are
         * not the bottleneck, while every extra arena strands freed pages
         * that others cannot reuse (bench_oversub, 32 threads on 2 CPUs:
         * 8 arenas 1.3 Mops/s and 107k page faults, 2 arenas 3.6 and 44k). */
        unsigned n = xa_opt.narenas ? xa_opt.narenas : cpu_count();
        xa_narenas = n > XA_MAX_ARENAS ? XA_MAX_ARENAS : n;
        /* Half of them shared by default for the classes of a cache line
         * and up: two threads per arena when a program runs one per CPU.
         * On 2 CPUs one shared arena: bench_server +26 %, bench_oversub
         * -6 % / -17 % CPU per operation at 2 / 32 threads, peak RSS -15 %
         * in both, bench_scaling within noise (with the 64 KiB bins of
         * tcache.c; with 32 KiB two threads lost 12-18 % to the bin
         * locks). Not measured on many cores: shared_arenas:<narenas>
         * turns sharing off. */
        unsigned shared = xa_opt.shared_arenas ? xa_opt.shared_arenas : (xa_narenas + 1) / 2;
        xa_nshared = shared < xa_narenas ? shared : xa_narenas;
        xa_huge_boot();
        if (!xa_tsd_boot()) {
            xa_mutex_unlock(&init_lock);
            return false;
        }
        __atomic_store_n(&xa_initialized, true, __ATOMIC_RELEASE);
    }
    bool register_atfork = !atfork_registered;
    atfork_registered = true;
    xa_mutex_unlock(&init_lock);
    /* After initialized: pthread_atfork and atexit may themselves allocate. */
    if (register_atfork) {
        pthread_atfork(prefork, postfork_parent, postfork_child);
        if (xa_opt.stats_print) {
            int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
            if (fd >= 0)
                xa_stats_fd = fd;
            atexit(print_stats_at_exit);
        }
    }
    return true;
}
