/* err.c: filling jk_err_t (see err.h). */
#include "jukilog/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int jk_err_set(jk_err_t *err, const char *fmt, ...)
{
    if (err == NULL) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int jk_err_wrap(jk_err_t *err, const char *fmt, ...)
{
    if (err == NULL) return -1;
    char cause[sizeof err->msg];
    memcpy(cause, err->msg, sizeof cause);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* Append ": cause", cut to fit. */
    size_t used = n < 0 ? 0 : (size_t)n;
    const char *parts[2] = {": ", cause};
    for (int k = 0; k < 2; k++)
        for (const char *p = parts[k]; *p && used + 1 < sizeof err->msg; p++)
            err->msg[used++] = *p;
    if (used < sizeof err->msg) err->msg[used] = '\0';
    return -1;
}
