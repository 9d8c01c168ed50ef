/* position.h: where an exactly-once consumer stands (DESIGN.md "Consumers and their guarantees").
 *
 * A consumer keeps, in the tenant's schema (journal.sql), the next offset of every partition it
 * reads and each source's chain head, written in the same transaction as the rows those events
 * produced; on start it seeks there. Each consumer is named ("projector", "provider", ...), so
 * several share the tables. */
#ifndef JUKILOG_POSITION_H
#define JUKILOG_POSITION_H

#include <libpq-fe.h>

#include "jukilog/consumer.h"
#include "jukilog/err.h"
#include "jukilog/pg.h"

/* Restores the chain heads stored for consumer into c, and assigns every partition of topic
 * (full name) at its stored next offset (from the beginning where none is stored). Call it once
 * per topic; chain heads are restored on the first call. */
int jk_position_restore(PGconn *db, const char *schema, const char *consumer, jk_consumer_t *c,
                        const char *topic, jk_err_t *err);

/* Stores the next offsets of every partition c is assigned and every source's chain head, in
 * two statements. Runs inside the caller's transaction; in pipeline mode (pg.h) the statements
 * are only queued: two results for jk_pg_pipeline_end. */
int jk_position_store(PGconn *db, const char *schema, const char *consumer, jk_consumer_t *c,
                      jk_err_t *err);

/* The same in two steps, for a consumer that reads on while its last batch is written: the
 * position as it stands now (the rows to store), and storing it later inside the transaction
 * of the batch it belongs to. jk_position_write frees what it stored; jk_position_free frees a
 * position not written. A zeroed jk_position_t is empty. */
typedef struct jk_position {
    jk_rows_t offsets, heads;
} jk_position_t;
void jk_position_take(jk_position_t *pos, const char *consumer, jk_consumer_t *c);
int jk_position_write(PGconn *db, const char *schema, jk_position_t *pos, jk_err_t *err);
void jk_position_free(jk_position_t *pos);

/* Forgets everything stored for consumer (for a rebuild from offset 0). */
int jk_position_forget(PGconn *db, const char *schema, const char *consumer, jk_err_t *err);

#endif
