#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include "report.h"
#include "conf.h"

static void put(char *buf, size_t *len, size_t cap, const char *s) {
    while (*s && *len < cap)
        buf[(*len)++] = *s++;
}

static void emit(const char *buf, size_t len) {
    int saved = errno;
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, buf, len);
        if (w <= 0)
            break;
        buf += w;
        len -= (size_t)w;
    }
    errno = saved;
}

void xa_report_pointer(const char *what, const void *p) {
    char buf[160], hex[2 + 16 + 1];
    uintptr_t v = (uintptr_t)p;
    int n = 0;
    char digits[16];
    do {
        digits[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    hex[0] = '0';
    hex[1] = 'x';
    for (int i = 0; i < n; i++)
        hex[2 + i] = digits[n - 1 - i];
    hex[2 + n] = '\0';
    size_t len = 0;
    put(buf, &len, sizeof buf, "xalloc: ");
    put(buf, &len, sizeof buf, what);
    put(buf, &len, sizeof buf, " of ");
    put(buf, &len, sizeof buf, hex);
    put(buf, &len, sizeof buf, xa_opt.abort_on_error ? " (aborting)\n" : " (ignored)\n");
    emit(buf, len);
    if (xa_opt.abort_on_error)
        abort();
}

void xa_report_message(const char *msg, const char *detail) {
    char buf[256];
    size_t len = 0;
    put(buf, &len, sizeof buf - 1, "xalloc: ");
    put(buf, &len, sizeof buf - 1, msg);
    if (detail) {
        put(buf, &len, sizeof buf - 1, detail);
    }
    buf[len++] = '\n';
    emit(buf, len);
}
