/* The exact words of the reports for bad pointers the other suites do not
 * name: a pointer into a chunk header, one into free pages of a chunk, and
 * a double free of another arena's block.
 * Runs with abort_on_error off (set through the parser, as XALLOC_CONF
 * would) and stderr captured through a pipe. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <pthread.h>
#include "xalloc.h"
#include "chunk.h"
#include "conf.h"
#include "init.h"

/* Run free(p) with stderr going to a pipe; return what was written. */
static void free_capturing(void *p, char *out, size_t cap) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    xalloc_free(p);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    ssize_t n = read(fds[0], out, cap - 1);
    close(fds[0]);
    out[n > 0 ? n : 0] = '\0';
}

static void expect_report(void *p, const char *what) {
    char msg[256], ptr[32];
    free_capturing(p, msg, sizeof msg);
    snprintf(ptr, sizeof ptr, "%p", p);
    if (strstr(msg, "xalloc: ") == NULL || strstr(msg, what) == NULL || strstr(msg, ptr) == NULL)
        fail_msg("free(%s): expected \"xalloc: %s of %s\", got \"%s\"", ptr, what, ptr, msg);
}

static int setup(void **state) {
    xa_conf_parse("narenas:4");       /* before bootstrap: a second thread gets its own arena */
    assert_true(xa_init_slow());
    xa_conf_parse("abort_on_error:false");
    return 0;
}

static void test_header_pointer(void **state) {
    char *p = xalloc_malloc(64);
    assert_non_null(p);
    char *chunk = (char *)xa_chunk_of(p);
    expect_report(chunk + 100, "inside a chunk header");
    expect_report(chunk + XA_PAGE + 8, "inside a chunk header");
    memset(p, 1, 64);                 /* the heap is untouched: p still works */
    xalloc_free(p);
}

static void test_free_pages(void **state) {
    /* 640 KiB is above tcache_max: its free makes the run free pages at once. */
    char *big = xalloc_malloc(640 << 10);
    char *guard = xalloc_malloc(640 << 10);       /* keeps the run from merging away */
    assert_non_null(big);
    assert_non_null(guard);
    xalloc_free(big);
    expect_report(big + 2 * XA_PAGE + 16, "invalid free (not allocated)");
    expect_report(big, "double free");
    char *again = xalloc_malloc(640 << 10);       /* and the arena still serves it */
    assert_non_null(again);
    memset(again, 2, 640 << 10);
    xalloc_free(again);
    xalloc_free(guard);
}

/* A thread freeing blocks of another arena queues them to go home; the
 * same block queued twice must be reported, not sent home twice (its owner
 * would hand it out twice). */
static void *free_foreign_twice(void *arg) {
    void **blocks = arg;
    char msg[256];
    xalloc_free(xalloc_malloc(32));   /* this thread's arena is bound now */
    xalloc_free(blocks[0]);
    xalloc_free(blocks[1]);
    /* Not the queue's last entry: the fast path queues it, and the flush
     * that sends the queue home finds the duplicate. */
    int fds[2];
    if (pipe(fds) != 0)
        return (void *)1;
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    xalloc_free(blocks[0]);
    int err = xallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    ssize_t n = read(fds[0], msg, sizeof msg - 1);
    close(fds[0]);
    msg[n > 0 ? n : 0] = '\0';
    return err == 0 && strstr(msg, "double free") ? NULL : (void *)1;
}

static void test_foreign_double_free(void **state) {
    void *blocks[2] = { xalloc_malloc(48), xalloc_malloc(48) };
    pthread_t th;
    void *bad;
    assert_int_equal(pthread_create(&th, NULL, free_foreign_twice, blocks), 0);
    assert_int_equal(pthread_join(th, &bad), 0);
    assert_null(bad);
    /* Sent home once: two fresh allocations never return the same block. */
    void *a = xalloc_malloc(48), *b = xalloc_malloc(48);
    assert_ptr_not_equal(a, b);
    xalloc_free(a);
    xalloc_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_pointer),
        cmocka_unit_test(test_free_pages),
        cmocka_unit_test(test_foreign_double_free),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
