/* glibc's introspection functions, as xalloc provides them (reached through
 * their xalloc_ names; tests/introspect/ checks the interposed names):
 * mallinfo2, mallinfo, malloc_stats, malloc_info, malloc_trim, mallopt.
 * Default options assumed (XALLOC_CONF unset). This program's own malloc
 * is glibc's, so only the tests' xalloc_ calls move the numbers. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "xalloc.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* The core declares these in api.c; the public header leaves them out
 * because their types come from <malloc.h>. */
struct mallinfo2 xalloc_mallinfo2(void);
struct mallinfo xalloc_mallinfo(void);
int xalloc_malloc_info(int options, FILE *fp);

/* Internal consistency of one mallinfo2 snapshot. */
static void check_mi2(const struct mallinfo2 *m) {
    if (m->arena < m->uordblks || m->fordblks != m->arena - m->uordblks)
        fail_msg("mallinfo2: arena %zu uordblks %zu fordblks %zu", m->arena, m->uordblks, m->fordblks);
    if (m->hblks > 0 && m->hblkhd < m->hblks * 2 * MiB)
        fail_msg("mallinfo2: %zu mmapped blocks but hblkhd %zu", m->hblks, m->hblkhd);
    if (m->hblks == 0 && m->hblkhd != 0)
        fail_msg("mallinfo2: no mmapped blocks but hblkhd %zu", m->hblkhd);
}

/* ---- mallinfo2 ------------------------------------------------------------ */

static void test_mallinfo2_moves(void **state) {
    enum { N = 10 };
    settle();
    struct mallinfo2 m0 = xalloc_mallinfo2();
    check_mi2(&m0);
    void *l[N], *h[N];
    for (int i = 0; i < N; i++) {
        l[i] = xalloc_malloc(MiB);            /* large: inside the arenas */
        assert_non_null(l[i]);
    }
    struct mallinfo2 m1 = xalloc_mallinfo2();
    check_mi2(&m1);
    ASSERT_EQ_SZ(m1.uordblks, m0.uordblks + N * MiB);
    ASSERT_EQ_SZ(m1.hblkhd, m0.hblkhd);
    for (int i = 0; i < N; i++) {
        h[i] = xalloc_malloc(3 * MiB);        /* huge: own mappings */
        assert_non_null(h[i]);
    }
    struct mallinfo2 m2 = xalloc_mallinfo2();
    check_mi2(&m2);
    ASSERT_EQ_SZ(m2.hblkhd, m1.hblkhd + N * 3 * MiB);
    ASSERT_EQ_SZ(m2.hblks, m1.hblks + N);
    ASSERT_EQ_SZ(m2.uordblks, m1.uordblks);
    ASSERT_EQ_SZ(m2.uordblks + m2.hblkhd, m0.uordblks + m0.hblkhd + N * 4 * MiB);
    /* agrees with xallctl */
    epoch();
    ASSERT_EQ_SZ(m2.uordblks + m2.hblkhd, stat_get("stats.allocated"));
    for (int i = 0; i < N; i++) {
        xalloc_free(l[i]);
        xalloc_free(h[i]);
    }
    struct mallinfo2 m3 = xalloc_mallinfo2();
    check_mi2(&m3);
    ASSERT_EQ_SZ(m3.uordblks, m0.uordblks);
    ASSERT_EQ_SZ(m3.hblkhd, m0.hblkhd);
    ASSERT_EQ_SZ(m3.hblks, m0.hblks);
    /* keepcost: what malloc_trim would give back, i.e. the dirty pages */
    epoch();
    ASSERT_EQ_SZ(m3.keepcost, stat_get("stats.dirty"));
    assert_int_equal(xalloc_malloc_trim(0), 1);
    struct mallinfo2 m4 = xalloc_mallinfo2();
    ASSERT_EQ_SZ(m4.keepcost, 0);
}

/* ---- mallinfo: int fields clamp instead of wrapping ----------------------- */

static void test_mallinfo_clamps(void **state) {
    settle();
    struct mallinfo2 a = xalloc_mallinfo2();
    struct mallinfo b = xalloc_mallinfo();
    /* small values: the same numbers */
    assert_int_equal((size_t)b.uordblks, a.uordblks);
    assert_int_equal((size_t)b.hblks, a.hblks);
    assert_int_equal((size_t)b.hblkhd, a.hblkhd);
    assert_int_equal((size_t)b.arena, a.arena);

    /* 3 GiB huge block, never touched: hblkhd does not fit an int */
    void *big = xalloc_malloc(3 * GiB);
    if (big == NULL) {
        skip();
        return;
    }
    struct mallinfo2 a2 = xalloc_mallinfo2();
    struct mallinfo b2 = xalloc_mallinfo();
    assert_true(a2.hblkhd >= 3 * GiB);
    assert_int_equal(b2.hblkhd, INT_MAX);
    assert_true(b2.hblks >= 1);
    assert_true(b2.uordblks >= 0 && b2.arena >= 0 && b2.fordblks >= 0 && b2.keepcost >= 0);
    assert_int_equal((size_t)b2.uordblks, a2.uordblks);
    xalloc_free(big);
    struct mallinfo b3 = xalloc_mallinfo();
    assert_int_equal((size_t)b3.hblkhd, xalloc_mallinfo2().hblkhd);
}

/* ---- malloc_stats --------------------------------------------------------- */

/* Run fn with stderr redirected; returns what it wrote (malloc'd). */
static char *capture_stderr(void (*fn)(void)) {
    char path[] = "/tmp/xalloc-test-introspect-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)size, 0), size);
    close(fd);
    return buf;
}

/* The value of line "label = N" after position from. */
static size_t field(const char *text, const char *label, const char **after) {
    const char *p = strstr(text, label);
    if (p == NULL)
        fail_msg("no \"%s\" in malloc_stats output:\n%s", label, text);
    p += strlen(label);
    while (*p == ' ')
        p++;
    if (*p != '=')
        fail_msg("\"%s\" not followed by '=':\n%s", label, text);
    p++;
    char *end;
    size_t v = (size_t)strtoull(p, &end, 10);
    if (end == p || *end != '\n')
        fail_msg("bad number after \"%s\":\n%s", label, text);
    if (after)
        *after = end;
    return v;
}

static void test_malloc_stats(void **state) {
    settle();
    void *l = xalloc_malloc(MiB), *h = xalloc_malloc(3 * MiB);
    assert_non_null(l);
    assert_non_null(h);
    char *out = capture_stderr(xalloc_malloc_stats);
    /* glibc's layout */
    const char *a0 = strstr(out, "Arena 0:\n");
    const char *tot = strstr(out, "Total (incl. mmap):\n");
    if (out != a0 || tot == NULL)
        fail_msg("not glibc's malloc_stats layout:\n%s", out);
    const char *p;
    size_t sys0 = field(a0, "system bytes", &p);
    size_t use0 = field(p, "in use bytes", &p);
    assert_true(p < tot);
    size_t sys = field(tot, "system bytes", &p);
    size_t use = field(p, "in use bytes", &p);
    size_t regions = field(p, "max mmap regions", &p);
    size_t mbytes = field(p, "max mmap bytes", &p);
    assert_string_equal(p, "\n");
    assert_true(sys0 >= use0);
    assert_true(sys >= use);
    assert_true(sys >= sys0);
    assert_true(regions >= 1);
    assert_true(mbytes >= 3 * MiB);
    struct mallinfo2 m = xalloc_mallinfo2();
    ASSERT_EQ_SZ(use, m.uordblks + m.hblkhd);
    ASSERT_EQ_SZ(use0, m.uordblks);
    /* glibc's "max" lines are peaks: at least what is mapped now */
    assert_true(mbytes >= m.hblkhd);
    assert_true(regions >= m.hblks);
    free(out);
    xalloc_free(l);
    xalloc_free(h);
}

/* ---- malloc_info ----------------------------------------------------------- */

/* A minimal XML check: balanced elements, quoted attributes, one root. The
 * root's name and the value of <total type="allocated" size="..."/> are
 * returned. */
typedef struct xml_info {
    char root[32];
    char version[64];
    long long allocated;
    int elements;
} xml_info;

static const char *xml_attrs(const char *p, const char *elem, xml_info *info, char *type) {
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == '\t')
            p++;
        if (*p == '/' || *p == '>' || *p == '\0')
            return p;
        const char *name = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == '-')
            p++;
        size_t nlen = (size_t)(p - name);
        if (nlen == 0 || *p != '=' || p[1] != '"')
            return NULL;
        p += 2;
        const char *val = p;
        while (*p && *p != '"' && *p != '<' && *p != '>')
            p++;
        if (*p != '"')
            return NULL;
        size_t vlen = (size_t)(p - val);
        p++;
        if (strcmp(elem, "malloc") == 0 && nlen == 7 && strncmp(name, "version", 7) == 0)
            snprintf(info->version, sizeof info->version, "%.*s", (int)vlen, val);
        if (nlen == 4 && strncmp(name, "type", 4) == 0)
            snprintf(type, 32, "%.*s", (int)vlen, val);
        if (strcmp(elem, "total") == 0 && strcmp(type, "allocated") == 0 && nlen == 4 &&
            strncmp(name, "size", 4) == 0)
            info->allocated = strtoll(val, NULL, 10);
    }
}

static bool xml_check(const char *s, xml_info *info) {
    char stack[16][32];
    int depth = 0;
    bool root_done = false;
    memset(info, 0, sizeof *info);
    info->allocated = -1;
    const char *p = s;
    while (*p) {
        if (*p == ' ' || *p == '\n' || *p == '\t') {
            p++;
            continue;
        }
        if (*p != '<' || root_done)
            return false;                      /* no text content expected */
        p++;
        bool closing = *p == '/';
        if (closing)
            p++;
        const char *name = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_')
            p++;
        size_t nlen = (size_t)(p - name);
        if (nlen == 0 || nlen >= 32)
            return false;
        char elem[32];
        snprintf(elem, sizeof elem, "%.*s", (int)nlen, name);
        if (closing) {
            if (*p != '>' || depth == 0 || strcmp(stack[depth - 1], elem) != 0)
                return false;
            p++;
            if (--depth == 0)
                root_done = true;
            continue;
        }
        if (depth == 0) {
            if (info->root[0])
                return false;
            snprintf(info->root, sizeof info->root, "%s", elem);
        }
        char type[32] = "";
        p = xml_attrs(p, elem, info, type);
        if (p == NULL)
            return false;
        info->elements++;
        if (p[0] == '/' && p[1] == '>') {
            p += 2;
            if (depth == 0)
                root_done = true;
        } else if (p[0] == '>') {
            if (depth == 16)
                return false;
            snprintf(stack[depth++], 32, "%s", elem);
            p++;
        } else {
            return false;
        }
    }
    return root_done && depth == 0;
}

static void test_malloc_info(void **state) {
    settle();
    void *l = xalloc_malloc(MiB), *h = xalloc_malloc(3 * MiB);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(xalloc_malloc_info(0, f), 0);
    fclose(f);
    assert_non_null(buf);
    if (strncmp(buf, "<malloc version=", 16) != 0)
        fail_msg("malloc_info does not start with <malloc version=:\n%s", buf);
    xml_info info;
    if (!xml_check(buf, &info))
        fail_msg("malloc_info wrote malformed XML:\n%s", buf);
    assert_string_equal(info.root, "malloc");
    assert_true(info.elements >= 2);
    assert_string_equal(info.version, "xalloc-" XALLOC_VERSION);
    epoch();
    if (info.allocated < 0)
        fail_msg("no <total type=\"allocated\" size=...> in:\n%s", buf);
    ASSERT_EQ_SZ((size_t)info.allocated, stat_get("stats.allocated"));
    free(buf);
    xalloc_free(l);
    xalloc_free(h);

    /* options must be 0; fp must be a stream */
    f = open_memstream(&buf, &len);
    errno = 0;
    assert_int_equal(xalloc_malloc_info(1, f), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(xalloc_malloc_info(-1, f), -1);
    assert_int_equal(errno, EINVAL);
    fclose(f);
    assert_int_equal(len, 0);                   /* nothing written on error */
    free(buf);
    errno = 0;
    assert_int_equal(xalloc_malloc_info(0, NULL), -1);
    assert_int_equal(errno, EINVAL);
}

/* The checker itself rejects what it should. */
static void test_xml_checker(void **state) {
    xml_info info;
    assert_true(xml_check("<a x=\"1\"><b y=\"2\"/></a>\n", &info));
    assert_false(xml_check("<a><b></a>", &info));
    assert_false(xml_check("<a x=1/>", &info));
    assert_false(xml_check("<a/><b/>", &info));
    assert_false(xml_check("<a>text</a>", &info));
    assert_false(xml_check("<a>", &info));
}

/* ---- malloc_trim ------------------------------------------------------------ */

static void test_malloc_trim(void **state) {
    settle();
    assert_true(xalloc_malloc_trim(0) >= 0);
    /* a lot of memory, touched, then freed */
    enum { NL = 3, NS = 20000 };
    void *anchor = xalloc_malloc(64 * KiB);
    void *l[NL];
    for (int i = 0; i < NL; i++) {
        l[i] = xalloc_malloc(MiB);              /* under the dirty floor: stays dirty */
        memset(l[i], 1, MiB);
    }
    void *h = xalloc_malloc(12 * MiB);           /* kept mapped for reuse once freed (under the 16 MiB cache floor) */
    memset(h, 1, 12 * MiB);
    static void *s[NS];
    for (int i = 0; i < NS; i++) {
        s[i] = xalloc_malloc(200);
        memset(s[i], 1, 200);
    }
    for (int i = 0; i < NS; i++)
        xalloc_free(s[i]);
    for (int i = 0; i < NL; i++)
        xalloc_free(l[i]);
    xalloc_free(h);
    size_t rss0 = rss_bytes();
    epoch();
    size_t a0 = stat_get("stats.allocated");
    assert_true(stat_get("stats.dirty") >= 12 * MiB);
    assert_int_equal(xalloc_malloc_trim(0), 1);
    size_t rss1 = rss_bytes();
    if (!UNDER_SANITIZER && rss1 + 12 * MiB > rss0)
        fail_msg("RSS %zu KiB -> %zu KiB after malloc_trim", rss0 >> 10, rss1 >> 10);
    epoch();
    ASSERT_EQ_SZ(stat_get("stats.dirty"), 0);
    /* the calling thread's cache was emptied too */
    assert_true(stat_get("stats.allocated") < a0);
    /* nothing left to give back: 0, like glibc */
    assert_int_equal(xalloc_malloc_trim(0), 0);
    assert_int_equal(xalloc_malloc_trim(1 << 20), 0);
    /* live blocks survive */
    memset(anchor, 2, 64 * KiB);
    xalloc_free(anchor);
}

/* ---- mallopt ------------------------------------------------------------------ */

static void test_mallopt(void **state) {
    assert_int_equal(xalloc_mallopt(M_ARENA_MAX, 2), 1);
    assert_int_equal(xalloc_mallopt(M_ARENA_TEST, 8), 1);
    assert_int_equal(xalloc_mallopt(M_TRIM_THRESHOLD, 128 * 1024), 1);
    assert_int_equal(xalloc_mallopt(M_TOP_PAD, 0), 1);
    assert_int_equal(xalloc_mallopt(M_MMAP_THRESHOLD, 1 << 20), 1);
    assert_int_equal(xalloc_mallopt(M_MMAP_MAX, 0), 1);
    assert_int_equal(xalloc_mallopt(12345, 1), 0);
    assert_int_equal(xalloc_mallopt(-12345, 1), 0);
    assert_int_equal(xalloc_mallopt(0, 0), 0);
    /* accepted, but allocation goes on as before */
    void *p = xalloc_malloc(3 * MiB);
    assert_non_null(p);
    xalloc_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mallinfo2_moves),
        cmocka_unit_test(test_mallinfo_clamps),
        cmocka_unit_test(test_malloc_stats),
        cmocka_unit_test(test_xml_checker),
        cmocka_unit_test(test_malloc_info),
        cmocka_unit_test(test_malloc_trim),
        cmocka_unit_test(test_mallopt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
