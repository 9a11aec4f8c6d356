/* glibc's introspection names in a program linked with xalloc (shared
 * library or static archive): they must be xalloc's, not glibc's.
 *   - malloc_info writes <malloc version="xalloc-...">;
 *   - mallinfo2 counts a 3 MiB block as exactly 3 MiB of mmapped memory
 *     (glibc's own would add its chunk header page);
 *   - malloc_stats prints glibc's layout; mallopt accepts M_ARENA_MAX;
 *   - malloc_trim(0) returns 1 after a big free, then 0. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "xalloc.h"

#define CHECK(cond, ...)                                             \
    do {                                                             \
        if (!(cond)) {                                               \
            fprintf(stderr, "FAIL line %d: %s: ", __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                            \
            fputc('\n', stderr);                                     \
            return 1;                                                \
        }                                                            \
    } while (0)

int main(void) {
    void *small = malloc(100);
    CHECK(small && xalloc_owns(small), "malloc is not xalloc's");

    struct mallinfo2 m0 = mallinfo2();
    void *volatile big = malloc(3 << 20);
    CHECK(big != NULL, "malloc");
    struct mallinfo2 m1 = mallinfo2();
    CHECK(m1.hblkhd == m0.hblkhd + (3 << 20) && m1.hblks == m0.hblks + 1,
          "mallinfo2 hblkhd %zu -> %zu, hblks %zu -> %zu", m0.hblkhd, m1.hblkhd, m0.hblks, m1.hblks);
    struct mallinfo m = mallinfo();
    CHECK((size_t)m.hblkhd == m1.hblkhd, "mallinfo hblkhd %d", m.hblkhd);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL, "open_memstream");
    CHECK(malloc_info(0, f) == 0, "malloc_info");
    fclose(f);
    static const char head[] = "<malloc version=\"xalloc-" XALLOC_VERSION "\">\n";
    CHECK(strncmp(buf, head, sizeof head - 1) == 0,
          "malloc_info wrote:\n%s", buf);
    CHECK(strstr(buf, "</malloc>\n") != NULL, "malloc_info not closed:\n%s", buf);
    free(buf);
    CHECK(malloc_info(1, stdout) == -1, "malloc_info(1, ...)");

    CHECK(mallopt(M_ARENA_MAX, 2) == 1, "mallopt(M_ARENA_MAX)");
    CHECK(mallopt(12345, 1) == 0, "mallopt(unknown)");

    /* malloc_stats to a file: glibc's layout, xalloc's numbers */
    char path[] = "/tmp/xalloc-glibc-names-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    malloc_stats();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char out[2048] = "";
    ssize_t r = pread(fd, out, sizeof out - 1, 0);
    close(fd);
    CHECK(r > 0, "malloc_stats wrote nothing");
    out[r] = '\0';
    CHECK(strncmp(out, "Arena 0:\n", 9) == 0 && strstr(out, "Total (incl. mmap):\n") &&
          strstr(out, "max mmap bytes   ="), "malloc_stats wrote:\n%s", out);

    free(big);
    void *blocks[64];
    for (int i = 0; i < 64; i++) {
        blocks[i] = malloc(1 << 20);
        memset(blocks[i], 1, 1 << 20);
    }
    for (int i = 0; i < 64; i++)
        free(blocks[i]);
    void *h = malloc(16 << 20);
    memset(h, 1, 16 << 20);
    free(h);
    CHECK(malloc_trim(0) == 1, "malloc_trim after freeing 80 MiB");
    CHECK(malloc_trim(0) == 0, "second malloc_trim");
    free(small);
    return 0;
}
