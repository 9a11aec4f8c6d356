/* libxalloc.so dlopen()ed late, by a program that did not preload or link
 * it: the documented behaviour is "fails cleanly or works, never corrupts".
 * With glibc's default static TLS surplus the initial-exec TLS does not fit
 * and dlopen returns NULL with a message; if it loads (a larger surplus,
 * glibc.rtld.optional_static_tls), malloc stays glibc's (already bound) and
 * only the xalloc_ names reach xalloc, which must then work. Either way the
 * program's own heap keeps working. argv[1]: the library's path. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    char *before = malloc(1000);                 /* glibc's heap, before */
    memset(before, 7, 1000);
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *err = dlerror();
        printf("dlopen failed cleanly: %s\n", err ? err : "(no message)");
        if (err == NULL)
            return 1;
    } else {
        void *(*xmalloc)(size_t) = (void *(*)(size_t))dlsym(h, "xalloc_malloc");
        void (*xfree)(void *) = (void (*)(void *))dlsym(h, "xalloc_free");
        int (*owns)(const void *) = (int (*)(const void *))dlsym(h, "xalloc_owns");
        if (!xmalloc || !xfree || !owns)
            return 1;
        for (int i = 0; i < 1000; i++) {
            char *p = xmalloc((size_t)(i * 37 % 5000) + 1);
            if (p == NULL || !owns(p))
                return 1;
            memset(p, i & 0xff, (size_t)(i * 37 % 5000) + 1);
            xfree(p);
        }
        if (owns(before))                        /* glibc's block is not xalloc's */
            return 1;
        printf("dlopen worked: xalloc_ names served, malloc stayed glibc's\n");
    }
    for (int i = 0; i < 1000; i++)
        if (before[i] != 7)
            return 1;
    char *after = malloc(5000);                  /* the process heap still works */
    if (after == NULL)
        return 1;
    memset(after, 1, 5000);
    free(after);
    free(before);
    return 0;
}
