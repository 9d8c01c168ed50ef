/* producer.h: appending signed events for one source.
 *
 * The producer owns the source's chain: it numbers, chains and signs each event, writes it to
 * the spool, and hands the spool to Kafka (enable.idempotence=true, acks=all) on flush. The
 * chain state is fsynced before any event is handed to Kafka. If the broker cannot be reached
 * the events stay in the spool, and the next producer for that source sends them first, with
 * the same ids. Only one producer per source runs at a time (a lock on the state file). */
#ifndef JUKILOG_PRODUCER_H
#define JUKILOG_PRODUCER_H

#include <jansson.h>
#include <openssl/evp.h>

#include "jukilog/config.h"
#include "jukilog/err.h"

#define JK_PRODUCER_BATCH 10000 /* events a caller should spool between flushes */

typedef struct jk_producer jk_producer_t;

/* Opens the producer for source, signing with key (not owned). State and spool live under
 * $JUKILOG_HOME/state and $JUKILOG_HOME/spool. */
jk_producer_t *jk_producer_open(const jk_config_t *cfg, const char *source, EVP_PKEY *key,
                                jk_err_t *err);

/* Builds, chains, signs and spools one event for topic (full name) with the given key (may be
 * NULL: no key). Takes data. Writes the event id into id_out when it is not NULL. Nothing is
 * sent before jk_producer_flush; callers flush every JK_PRODUCER_BATCH events or so. */
int jk_producer_append(jk_producer_t *p, const char *topic, const char *key, const char *type,
                       const char *subject, json_t *data, char id_out[33], jk_err_t *err);

/* The same with a given event id (32 hex) instead of a random one: for events derived from
 * another event, whose id is derived from that one's, so that producing them again after a
 * crash gives duplicates that consumers recognise and drop. */
int jk_producer_append_id(jk_producer_t *p, const char *id, const char *topic, const char *key,
                          const char *type, const char *subject, json_t *data, jk_err_t *err);

/* Makes the spool and chain state durable without sending anything. */
int jk_producer_sync(jk_producer_t *p, jk_err_t *err);

/* Makes the spool and chain state durable, sends every spooled event, and waits for every
 * delivery report. On success the spool is empty. On failure the events stay spooled and err
 * says how many and why. */
int jk_producer_flush(jk_producer_t *p, jk_err_t *err);

/* Events in the spool (not yet confirmed by the broker). */
size_t jk_producer_spooled(const jk_producer_t *p);
/* The last seq given out. */
long long jk_producer_seq(const jk_producer_t *p);

/* Closes without flushing: what is spooled stays spooled. */
void jk_producer_close(jk_producer_t *p);

#endif
