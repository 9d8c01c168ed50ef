/* file.h: whole files in and out, for the commands that take a file from a person and hand one
 * back (bulk conditions and results, reviewers lists, encrypted files). */
#ifndef JUKILOG_FILE_H
#define JUKILOG_FILE_H

#include <stddef.h>

#include "jukilog/err.h"

/* The whole of path (pipes too: no size is known beforehand), malloc'd with a NUL after its n
 * bytes. Errors name the path. */
int jk_file_read(const char *path, unsigned char **out, size_t *n, jk_err_t *err);

/* Writes n bytes to a new file at path, mode 0600 whatever the umask, fsynced; refuses an
 * existing file and removes its own on failure. */
int jk_file_write_new(const char *path, const void *p, size_t n, jk_err_t *err);

#endif
