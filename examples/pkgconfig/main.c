/* Linked with the flags pkg-config gives for xalloc, plain malloc, calloc,
 * realloc and free go to xalloc; xalloc_owns() confirms it, and xallctl()
 * reads the library's version and statistics.
 *
 *   ./build.sh && LD_LIBRARY_PATH=$(pkg-config --variable=libdir xalloc) ./example-pkgconfig */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xalloc.h>

int main(void) {
    char *small = malloc(100);
    int *zeroed = calloc(1000, sizeof *zeroed);
    char *big = malloc(8 << 20);          /* a huge block: its own mapping */
    if (!small || !zeroed || !big) {
        fprintf(stderr, "allocation failed\n");
        return 1;
    }
    strcpy(small, "hello from xalloc");
    small = realloc(small, 20000);        /* small -> large: moves, keeps the text */
    memset(big, 1, 8 << 20);

    int ok = small && strcmp(small, "hello from xalloc") == 0 && zeroed[999] == 0 &&
             xalloc_owns(small) && xalloc_owns(zeroed) && xalloc_owns(big);

    const char *version;
    size_t len = sizeof version;
    uint64_t epoch = 1;
    size_t allocated = 0, alen = sizeof allocated;
    if (xallctl("version", &version, &len, NULL, 0) != 0 ||
        xallctl("epoch", NULL, NULL, &epoch, sizeof epoch) != 0 ||
        xallctl("stats.allocated", &allocated, &alen, NULL, 0) != 0)
        ok = 0;
    printf("xalloc %s: %zu bytes allocated, blocks owned by xalloc: %s\n",
           ok ? version : "?", allocated, ok ? "yes" : "NO");

    free(small);
    free(zeroed);
    free(big);
    return ok ? 0 : 1;
}
