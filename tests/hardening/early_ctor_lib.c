/* A shared library whose constructors allocate before main: malloc, calloc,
 * realloc, posix_memalign, strdup and free, including the first call into
 * the preloaded xalloc when it runs before xalloc's own constructor. Blocks
 * it keeps are checked and freed by the program; a destructor frees a block
 * the program hands over, after main has returned. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "early_ctor_lib.h"

struct ctor_report ctor_report;
void *ctor_handover;   /* set by the program, freed by the destructor */

__attribute__((constructor(101))) static void early_ctor(void) {
    struct ctor_report *r = &ctor_report;
    r->ran++;
    /* First thing: memory of every kind, some freed right away. */
    void *tmp = malloc(10);
    free(tmp);
    r->small = malloc(100);
    r->large = malloc(200 * 1024);
    r->huge = malloc(6u << 20);
    r->zeroed = calloc(512, 8);
    if (!r->small || !r->large || !r->huge || !r->zeroed) {
        r->errors |= 1;
        return;
    }
    memset(r->small, 0xa1, 100);
    memset(r->large, 0xa2, 200 * 1024);
    memset(r->huge, 0xa3, 6u << 20);
    for (int i = 0; i < 4096; i++)
        if (((unsigned char *)r->zeroed)[i]) r->errors |= 2;
    r->grown = malloc(16);
    if (r->grown) {
        memcpy(r->grown, "constructor!", 13);
        r->grown = realloc(r->grown, 50000);
        if (r->grown == NULL || memcmp(r->grown, "constructor!", 13) != 0) r->errors |= 4;
    }
    if (posix_memalign(&r->aligned, 8192, 3000) != 0 || ((uintptr_t)r->aligned & 8191)) r->errors |= 8;
    r->dup = strdup("made before main");
    if (r->dup == NULL) r->errors |= 16;
    /* Churn: lots of small blocks allocated and freed before main. */
    void *v[300];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 300; i++) v[i] = malloc((size_t)(i % 97) * 8 + 1);
        for (int i = 0; i < 300; i++) free(v[i]);
    }
}

/* A second, default-priority constructor: runs after the first. */
__attribute__((constructor)) static void late_ctor(void) {
    ctor_report.ran++;
    void *p = malloc(33);
    if (p == NULL) ctor_report.errors |= 32;
    free(p);
}

__attribute__((destructor)) static void lib_dtor(void) {
    /* After main returned: the program's block is freed here. */
    if (ctor_handover) {
        if (((unsigned char *)ctor_handover)[0] != 0x77) _exit(41);
        free(ctor_handover);
        ctor_handover = NULL;
    }
    void *p = malloc(64);   /* and allocation still works during exit */
    if (p == NULL) _exit(42);
    free(p);
}
