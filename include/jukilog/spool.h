/* spool.h: a producer's write-ahead file of events not yet confirmed by the broker.
 *
 * Every event is appended here before it is handed to Kafka, and the spool is cleared only
 * when every delivery report in it came back successful. One line per event:
 * topic TAB key TAB event-json NEWLINE. A line cut short by a crash (no newline) is dropped when
 * the spool is opened: that event was never reported as appended to anyone. */
#ifndef JUKILOG_SPOOL_H
#define JUKILOG_SPOOL_H

#include <stddef.h>

#include "jukilog/err.h"

typedef struct jk_spool jk_spool_t;

/* Opens (creating if missing, with parent directories) the spool at path, truncates a torn last
 * line, and counts the entries. */
jk_spool_t *jk_spool_open(const char *path, jk_err_t *err);
void jk_spool_close(jk_spool_t *sp);

size_t jk_spool_count(const jk_spool_t *sp);

/* Appends one entry (buffered; jk_spool_sync makes it durable). Topic and key may not contain
 * TAB or NEWLINE; the key may be empty; event must be one line. */
int jk_spool_append(jk_spool_t *sp, const char *topic, const char *key, const char *event,
                    jk_err_t *err);
/* Flushes and fsyncs everything appended so far. */
int jk_spool_sync(jk_spool_t *sp, jk_err_t *err);

/* Calls fn for each entry in order, streaming from the file (memory does not grow with the
 * spool). fn returns 0 to go on, non-zero to stop (that value is returned). */
typedef int (*jk_spool_fn)(void *ctx, const char *topic, const char *key, const char *event);
int jk_spool_foreach(jk_spool_t *sp, jk_spool_fn fn, void *ctx, jk_err_t *err);

/* Empties the spool durably. */
int jk_spool_clear(jk_spool_t *sp, jk_err_t *err);

#endif
