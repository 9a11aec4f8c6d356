# A large C translation unit for the gcc LD_PRELOAD test:
#   awk -v funcs=N -f gen_c.awk > big.c
# Many functions with loops, switches, inlinable helpers, string formatting
# and static tables, so cc1 builds large trees and many passes run at -O2.
# The program prints checksums that depend only on the generated code.
BEGIN {
    print "#include <stdio.h>"
    print "#include <stdlib.h>"
    print "#include <string.h>"
    print "#include <stdint.h>"
    print "struct rec { uint32_t a, b; double d; char tag[24]; };"
    print "static inline uint32_t mix(uint32_t x, uint32_t y) { x ^= y + 0x9e3779b9u + (x << 6) + (x >> 2); return x * 2654435761u; }"
    for (f = 0; f < funcs; f++) {
        printf "static const uint16_t tab%d[%d] = {", f, 16 + f % 17
        for (i = 0; i < 16 + f % 17; i++) printf "%s%d", (i ? "," : ""), (f * 131 + i * 71) % 65521
        print "};"
        printf "static uint32_t fn%d(uint32_t seed, struct rec *r) {\n", f
        print "    uint32_t acc = seed;"
        printf "    for (unsigned i = 0; i < %d; i++) {\n", 20 + f % 23
        printf "        acc = mix(acc, tab%d[i %% (sizeof tab%d / sizeof tab%d[0])]);\n", f, f, f
        printf "        switch ((acc >> %d) & 15) {\n", f % 13
        for (c = 0; c < 16; c += 1 + (f + c) % 3)
            printf "        case %d: acc += %du * i + (acc >> %d); break;\n", c, (f * 7 + c * 13) % 1000 + 1, 1 + (c + f) % 29
        print "        default: acc ^= i * 40503u; break;"
        print "        }"
        printf "        if ((acc & %d) == %d) r->d += (double)(acc %% %d) / %d.0;\n", 31, f % 32, 1000 + f, 7 + f % 11
        print "    }"
        printf "    r->a += acc; r->b ^= acc >> 3;\n"
        printf "    snprintf(r->tag, sizeof r->tag, \"f%d-%%08x\", (unsigned)acc);\n", f
        printf "    return acc + (uint32_t)strlen(r->tag) * %du;\n", f + 1
        print "}"
    }
    print "typedef uint32_t (*fnp)(uint32_t, struct rec *);"
    printf "static const fnp fns[%d] = {", funcs
    for (f = 0; f < funcs; f++) printf "%sfn%d", (f ? "," : ""), f
    print "};"
    print "int main(void) {"
    print "    struct rec *recs = calloc(64, sizeof *recs);"
    print "    uint32_t total = 1;"
    printf "    for (int f = 0; f < %d; f++) {\n", funcs
    print "        struct rec *r = &recs[f % 64];"
    print "        total = mix(total, fns[f](total, r));"
    print "        if (f % 100 == 99) printf(\"after %d: %08x %s %.6f\\n\", f + 1, (unsigned)total, r->tag, r->d);"
    print "    }"
    print "    printf(\"total %08x\\n\", (unsigned)total);"
    print "    free(recs);"
    print "    return 0;"
    print "}"
}
