#ifndef HARDENING_EARLY_CTOR_LIB_H
#define HARDENING_EARLY_CTOR_LIB_H

struct ctor_report {
    int ran;                   /* constructors run */
    int errors;                /* bit set per failed check inside the constructor */
    void *small, *large, *huge, *zeroed, *grown, *aligned;
    char *dup;
};

extern struct ctor_report ctor_report;
extern void *ctor_handover;

#endif
