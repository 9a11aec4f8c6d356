/* Shared helpers for xalloc's bundled benchmarks.
 *
 * Every benchmark is a plain C program that only calls the standard
 * allocation functions (malloc, free, realloc, calloc), so the allocator
 * under test is chosen with LD_PRELOAD. This header is header-only: timing,
 * resident-size probes, a small RNG, size distributions, block validation,
 * command-line parsing and the machine-readable output format.
 *
 * Output lines (stdout), parsed by bench/run.sh:
 *   RESULT bench=NAME metric=NAME value=NUM unit=UNIT better=lower|higher
 *   SAMPLE bench=NAME phase=NAME t_ms=NUM rss_kb=NUM
 *   INFO   bench=NAME key=value ...
 * Anything else is free text. A failed validation prints FAIL on stderr and
 * exits with status 1.
 *
 * Include this header before any system header (it defines _GNU_SOURCE). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Modes and options                                                   */

enum bench_mode { BENCH_FULL = 0, BENCH_QUICK = 1, BENCH_SMOKE = 2 };

#define BENCH_MAX_THREADS_LIST 16

struct bench_opts {
    const char *name;     /* benchmark name, used in every output line */
    int mode;             /* BENCH_FULL, BENCH_QUICK or BENCH_SMOKE */
    double scale;         /* multiplies the amount of work (default 1) */
    uint64_t seed;        /* RNG seed (default 42) */
    int nthreads;         /* entries in threads[]; 0 = benchmark default */
    int threads[BENCH_MAX_THREADS_LIST];
    int verbose;
};

static const char *bench_name_ = "bench";

static __attribute__((unused)) void bench_fail(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));
static __attribute__((unused)) void bench_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "FAIL bench=%s: ", bench_name_);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stdout);
    exit(1);
}

static __attribute__((unused)) void bench_usage(const struct bench_opts *o, const char *what,
                        const char *threads_help)
{
    printf("usage: bench_%s [--smoke|--quick] [--scale F] [--seed N]%s\n",
           o->name, threads_help ? " [--threads LIST]" : "");
    printf("  %s\n", what);
    printf("  --smoke       tiny sizes, a few milliseconds (ctest)\n");
    printf("  --quick       short run (~0.2 s)\n");
    printf("  (default)     full run (~1-3 s on 2 cores)\n");
    printf("  --scale F     multiply the amount of work by F\n");
    printf("  --seed N      random seed (default 42)\n");
    if (threads_help)
        printf("  --threads L   %s\n", threads_help);
    printf("Output: RESULT/SAMPLE/INFO lines, see bench/bench_common.h\n");
}

/* When BENCH_REQUIRE_LIB is set (run.sh and ctest set it to the preloaded
 * library's file name), fails unless a mapping of the process names it: a
 * mistyped LD_PRELOAD only prints a warning and would silently measure the
 * C library's malloc instead. Reads /proc/self/maps without allocating. */
static __attribute__((unused)) void bench_require_lib(void)
{
    const char *want = getenv("BENCH_REQUIRE_LIB");
    if (!want || !*want)
        return;
    static char buf[1 << 18];
    size_t len = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        bench_fail("cannot open /proc/self/maps: %s", strerror(errno));
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof buf - 1)
            break;
    }
    close(fd);
    buf[len] = 0;
    if (!strstr(buf, want))
        bench_fail("BENCH_REQUIRE_LIB=%s is not loaded (check LD_PRELOAD)", want);
}

/* Parses the common command line. `threads_help` is NULL when the benchmark
 * takes no --threads. Unknown arguments are an error (exit 2). */
static __attribute__((unused)) void bench_parse(struct bench_opts *o, int argc, char **argv,
                        const char *name, const char *what,
                        const char *threads_help)
{
    memset(o, 0, sizeof *o);
    o->name = name;
    o->scale = 1.0;
    o->seed = 42;
    bench_name_ = name;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (!strcmp(a, "--smoke")) {
            o->mode = BENCH_SMOKE;
        } else if (!strcmp(a, "--quick")) {
            o->mode = BENCH_QUICK;
        } else if (!strcmp(a, "--full")) {
            o->mode = BENCH_FULL;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o->verbose = 1;
        } else if (!strcmp(a, "--scale") && v) {
            o->scale = strtod(v, NULL);
            if (!(o->scale > 0)) {
                fprintf(stderr, "bad --scale %s\n", v);
                exit(2);
            }
            i++;
        } else if (!strcmp(a, "--seed") && v) {
            o->seed = strtoull(v, NULL, 0);
            i++;
        } else if (!strcmp(a, "--threads") && v && threads_help) {
            const char *s = v;
            o->nthreads = 0;
            while (*s && o->nthreads < BENCH_MAX_THREADS_LIST) {
                char *end;
                long t = strtol(s, &end, 10);
                if (end == s || t < 1 || t > 4096) {
                    fprintf(stderr, "bad --threads %s\n", v);
                    exit(2);
                }
                o->threads[o->nthreads++] = (int)t;
                s = (*end == ',') ? end + 1 : end;
                if (*end && *end != ',') {
                    fprintf(stderr, "bad --threads %s\n", v);
                    exit(2);
                }
            }
            i++;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bench_usage(o, what, threads_help);
            exit(0);
        } else {
            fprintf(stderr, "bench_%s: unknown argument '%s' (try --help)\n",
                    name, a);
            exit(2);
        }
    }
    if (o->seed == 0)
        o->seed = 42;
    bench_require_lib();
}

/* Picks a work amount by mode, multiplied by --scale (at least 1). */
static __attribute__((unused)) uint64_t bench_pick(const struct bench_opts *o, uint64_t full,
                           uint64_t quick, uint64_t smoke)
{
    uint64_t base = o->mode == BENCH_SMOKE ? smoke
                  : o->mode == BENCH_QUICK ? quick : full;
    double v = (double)base * o->scale;
    return v < 1.0 ? 1 : (uint64_t)v;
}

/* CPUs this process may run on: under taskset or a container's cpuset
 * that is fewer than the machine has online. */
static __attribute__((unused)) int bench_ncpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

/* ------------------------------------------------------------------ */
/* Time and resource usage                                             */

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline double bench_now_s(void) { return (double)bench_now_ns() * 1e-9; }

/* User + system CPU seconds of the whole process (all threads). */
static __attribute__((unused)) double bench_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

/* Peak resident set size of the process so far, KiB (ru_maxrss). */
static __attribute__((unused)) long bench_peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Current resident set size, KiB, from /proc/self/statm. Uses read(2) on a
 * stack buffer so that measuring never calls the allocator. */
static __attribute__((unused)) long bench_rss_kb(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    unsigned long size = 0, resident = 0;
    if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
        return -1;
    return (long)(resident * (unsigned long)sysconf(_SC_PAGESIZE) / 1024);
}

static __attribute__((unused)) void bench_sleep_ms(double ms)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000.0);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000.0) * 1e6);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

static __attribute__((unused)) void bench_result(const char *metric, double value, const char *unit,
                         const char *better)
{
    printf("RESULT bench=%s metric=%s value=%.6g unit=%s better=%s\n",
           bench_name_, metric, value, unit, better);
    fflush(stdout);
}

/* Of the resident size a phase added (rss_added_kb over rss_start_kb), the
 * share still resident at rss_end_kb, in percent (0 when nothing was added). */
static __attribute__((unused)) double bench_retained_pct(long rss_start_kb, long rss_added_kb,
                                                         long rss_end_kb)
{
    double added = (double)(rss_added_kb - rss_start_kb);
    double kept = added > 0 ? 100.0 * (double)(rss_end_kb - rss_start_kb) / added : 0;
    return kept < 0 ? 0 : kept;
}

static __attribute__((unused)) void bench_sample(const char *phase, double t_ms, long rss_kb)
{
    printf("SAMPLE bench=%s phase=%s t_ms=%.1f rss_kb=%ld\n", bench_name_,
           phase, t_ms, rss_kb);
}

/* Keeps the compiler from optimising a malloc/free pair away. */
static inline void bench_escape(void *p) { __asm__ volatile("" : : "g"(p) : "memory"); }

/* ------------------------------------------------------------------ */
/* Random numbers and size distributions                               */

struct bench_rng { uint64_t s; };

static inline void bench_rng_init(struct bench_rng *r, uint64_t seed)
{
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    if (!r->s)
        r->s = 1;
}

/* xorshift64* */
static inline uint64_t bench_rand(struct bench_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, n). */
static inline uint64_t bench_below(struct bench_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)bench_rand(r) * n) >> 64);
}

static inline int bench_log2_floor(uint64_t v) { return 63 - __builtin_clzll(v); }

/* Log-uniform-ish size in [lo, hi]: every power-of-two octave is equally
 * likely, sizes are uniform within an octave. Integer only. */
static inline size_t bench_logsize(struct bench_rng *r, size_t lo, size_t hi)
{
    int elo = bench_log2_floor(lo), ehi = bench_log2_floor(hi);
    for (;;) {
        uint64_t x = bench_rand(r);
        int e = elo + (int)((x & 0xffffffffu) % (uint64_t)(ehi - elo + 1));
        size_t base = (size_t)1 << e;
        size_t s = base + (size_t)((x >> 32) % base);
        if (s >= lo && s <= hi)
            return s;
    }
}

/* ------------------------------------------------------------------ */
/* Validation: a tag at both ends of every block                       */

static inline uint64_t bench_tag(const void *p, size_t size)
{
    return ((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull) ^ (uint64_t)size;
}

static inline void bench_fill(void *p, size_t size)
{
    uint64_t t = bench_tag(p, size);
    unsigned char *c = (unsigned char *)p;
    if (size >= 16) {
        memcpy(c, &t, 8);
        memcpy(c + size - 8, &t, 8);
    } else if (size >= 8) {
        memcpy(c, &t, 8);
    } else {
        for (size_t i = 0; i < size; i++)
            c[i] = (unsigned char)(t >> (8 * (i & 7)));
    }
}

static inline void bench_check(const void *p, size_t size)
{
    uint64_t t = bench_tag(p, size);
    const unsigned char *c = (const unsigned char *)p;
    int ok = 1;
    if (size >= 16) {
        uint64_t a, b;
        memcpy(&a, c, 8);
        memcpy(&b, c + size - 8, 8);
        ok = (a == t && b == t);
    } else if (size >= 8) {
        uint64_t a;
        memcpy(&a, c, 8);
        ok = (a == t);
    } else {
        for (size_t i = 0; i < size; i++)
            if (c[i] != (unsigned char)(t >> (8 * (i & 7))))
                ok = 0;
    }
    if (!ok)
        bench_fail("block %p of %zu bytes was corrupted", p, size);
}

static inline void *bench_xmalloc(size_t size)
{
    void *p = malloc(size);
    if (!p)
        bench_fail("malloc(%zu) returned NULL", size);
    if (((uintptr_t)p & (size >= 16 ? 15u : 7u)) != 0 && size >= 8)
        bench_fail("malloc(%zu) returned misaligned %p", size, p);
    return p;
}

/* Writes one byte into every page of the block between the two tags of
 * bench_fill (first touch faults the page in, as a real program using the
 * block would). Call before or after bench_fill: it leaves the tags alone. */
static inline void bench_touch_pages(void *p, size_t size)
{
    volatile unsigned char *c = (volatile unsigned char *)p;
    for (size_t off = 4096; off + 16 <= size; off += 4096)
        c[off] = (unsigned char)(off >> 12);
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */

static __attribute__((unused)) void bench_spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int e = pthread_create(t, NULL, fn, arg);
    if (e)
        bench_fail("pthread_create: %s", strerror(e));
}

static __attribute__((unused)) void bench_join(pthread_t t)
{
    void *ret = NULL;
    int e = pthread_join(t, &ret);
    if (e)
        bench_fail("pthread_join: %s", strerror(e));
}

#endif /* BENCH_COMMON_H */
