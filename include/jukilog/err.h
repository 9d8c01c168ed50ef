/* err.h: the one error type of jukilog.
 *
 * Library functions never print: they fill a jk_err_t with one line that names what failed
 * and why, and return -1 (or NULL). The program at the top prints it once. */
#ifndef JUKILOG_ERR_H
#define JUKILOG_ERR_H

#include <stddef.h>

typedef struct jk_err {
    char msg[512];
} jk_err_t;

/* Formats the message into err (if err is not NULL) and returns -1, so that callers can write
 * `return jk_err_set(err, "...")`. */
int jk_err_set(jk_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the message already in err with "what: ", keeping the cause. Returns -1. */
int jk_err_wrap(jk_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
