/* Run-time options, set from XALLOC_CONF (and the weak xalloc_conf symbol)
 * once at bootstrap; read-only afterwards. */
#ifndef XA_CONF_H
#define XA_CONF_H

#include "xa_common.h"

typedef struct xa_options {
    unsigned narenas;          /* 0: one per CPU */
    unsigned shared_arenas;    /* 0: the default (init.c); at most narenas */
    bool tcache;
    size_t tcache_max;         /* largest size the thread caches keep */
    bool tcache_reclaim;       /* idle threads' large blocks taken back (reclaim.c) */
    long dirty_decay_ms;       /* 0: purge at once; -1: never */
    bool background_thread;
    int thp;                   /* enum xa_thp_mode */
    bool abort_on_error;
    bool junk;                 /* 0xa5 on allocation, 0x5a on free */
    bool stats_print;
} xa_options;

extern xa_options xa_opt;

/* Parse "key:value,key:value"; unknown keys and bad values are reported on
 * stderr naming the key, and the default stays. */
void xa_conf_parse(const char *s);

#endif
