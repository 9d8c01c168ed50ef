/* seqstate.h: a producer's position in its own chain, kept in a small state file.
 *
 * The file holds the source, the last seq given out and that event's hash. It is replaced
 * atomically (temporary file, fsync, rename, fsync of the directory), so after a crash it holds
 * either the old or the new state, never a torn one. */
#ifndef JUKILOG_SEQSTATE_H
#define JUKILOG_SEQSTATE_H

#include <stdint.h>

#include "jukilog/err.h"

typedef struct jk_seqstate {
    int64_t seq;   /* last seq given out; 0 before the first event */
    char prev[65]; /* hash of that event; 64 zeros before the first */
} jk_seqstate_t;

/* Loads the state of source from path. A missing file gives seq 0 and prev zeros. A file that
 * names another source, or cannot be parsed, is an error naming the path. */
int jk_seqstate_load(const char *path, const char *source, jk_seqstate_t *st, jk_err_t *err);
/* Replaces the state file durably. */
int jk_seqstate_save(const char *path, const char *source, const jk_seqstate_t *st, jk_err_t *err);

#endif
