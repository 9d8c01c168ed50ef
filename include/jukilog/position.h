/* position.h: where an exactly-once consumer stands, kept in PostgreSQL with its rows
 * (journal.sql's consumer_offsets and chain_heads, DESIGN.md "Exactly-once into PostgreSQL").
 *
 * A consumer writes its partitions' next offsets and its sources' chain heads in the same
 * transaction as the rows the batch produced, and on start seeks to the offsets and restores the
 * chains, so that a restart neither loses nor doubles an event and still recognises a
 * producer's resent events. Each consumer keeps its own rows, under its name. */
#ifndef JUKILOG_POSITION_H
#define JUKILOG_POSITION_H

#include <stdint.h>
#include <libpq-fe.h>

#include "jukilog/consumer.h"
#include "jukilog/err.h"

/* The stored next offsets of topic's n partitions (JK_OFFSET_BEGINNING where none is stored). */
int jk_position_load(PGconn *db, const char *schema, const char *consumer, const char *topic,
                     int64_t *offsets, int n, jk_err_t *err);

/* Writes every assigned partition's next offset and every source's chain head (inside the
 * caller's transaction). */
int jk_position_store(PGconn *db, const char *schema, const char *consumer, jk_consumer_t *cons,
                      jk_err_t *err);

/* Restores the stored chain heads into the consumer's chain tracker. */
int jk_position_restore_chains(PGconn *db, const char *schema, const char *consumer,
                               jk_consumer_t *cons, jk_err_t *err);

#endif
