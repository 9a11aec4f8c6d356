/* Linked with xalloc::xalloc (or xalloc::xalloc_static), plain malloc and
 * free are xalloc's: xalloc_owns() says so for every block they return,
 * and says no for memory that is not the heap's. */
#include <stdio.h>
#include <stdlib.h>

#include <xalloc.h>

int main(void) {
    static char not_heap[64];
    int failures = 0;
    for (size_t size = 1; size <= ((size_t)16 << 20); size *= 4) {
        void *p = malloc(size);
        if (p == NULL || !xalloc_owns(p)) {
            fprintf(stderr, "malloc(%zu) = %p is not an xalloc block\n", size, p);
            failures++;
        }
        free(p);
    }
    if (xalloc_owns(not_heap)) {
        fprintf(stderr, "xalloc_owns() claims a static array\n");
        failures++;
    }
    /* realloc(p, 0) frees p and returns NULL, as glibc's does. */
    void *p = malloc(10);
    if (realloc(p, 0) != NULL) {
        fprintf(stderr, "realloc(p, 0) did not return NULL\n");
        failures++;
    }
    printf("xalloc %s: %s\n", XALLOC_VERSION,
           failures ? "FAILED" : "malloc and free are xalloc's");
    return failures != 0;
}
