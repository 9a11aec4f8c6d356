/* A program that knows nothing of xalloc: it allocates with plain malloc
 * and then asks the dynamic linker whether an xalloc_owns symbol exists and
 * claims the block. Prints "preloaded: yes" when xalloc was preloaded into
 * it (xalloc-run's job), "preloaded: no" otherwise; exits normally without
 * closing stderr, so stats_print output can appear. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    char *p = malloc(64);
    if (p == NULL)
        return 1;
    strcpy(p, argc > 1 ? argv[1] : "probe");
    int (*owns)(const void *) = (int (*)(const void *))dlsym(RTLD_DEFAULT, "xalloc_owns");
    int yes = owns != NULL && owns(p);
    printf("preloaded: %s (%s)\n", yes ? "yes" : "no", p);
    free(p);
    return 0;
}
