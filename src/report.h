/* Reporting misuse: "xalloc: <what> of <pointer>" on stderr, then abort
 * unless abort_on_error is off. Uses write(2) only: no allocation, safe
 * under any lock the caller holds. */
#ifndef XA_REPORT_H
#define XA_REPORT_H

#include "xa_common.h"

XA_COLD void xa_report_pointer(const char *what, const void *p);
/* A plain message line, "xalloc: <msg>", never aborts. */
XA_COLD void xa_report_message(const char *msg, const char *detail);

#endif
