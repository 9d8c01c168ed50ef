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

/* Makes the spooled events durable without sending anything (the chain state follows from
 * them: a producer opened after a crash takes it from the spool's last event). */
int jk_producer_sync(jk_producer_t *p, jk_err_t *err);

/* Makes the spool and chain state durable, sends every spooled event, and waits for every
 * delivery report. On success the spool is empty. On failure the events stay spooled and err
 * says how many and why. */
int jk_producer_flush(jk_producer_t *p, jk_err_t *err);

/* Makes the spool durable and hands the events appended since the last send to Kafka without
 * waiting for the broker: their delivery reports come in later calls (jk_producer_poll, or any
 * send, wait or flush). When an earlier event failed, or the spool holds events this producer
 * never handed over (after a crash), it does a whole jk_producer_flush instead. Every
 * JK_PRODUCER_SETTLE events it waits for the reports and empties the spool. */
#define JK_PRODUCER_SETTLE 1024
int jk_producer_send(jk_producer_t *p, jk_err_t *err);
/* Serves delivery reports for up to timeout_ms; once every event handed over is confirmed and
 * none was handed over for JK_PRODUCER_PAUSE_MS, saves the chain state and empties the spool.
 * Fails (the events stay spooled and go out again with the next send) when the broker refused
 * one. */
#define JK_PRODUCER_PAUSE_MS 100
int jk_producer_poll(jk_producer_t *p, int timeout_ms, jk_err_t *err);
/* Sends what was appended (as jk_producer_send) and waits for every report, without emptying
 * the spool: what an interactive program needs before it tells anyone an event is on the log.
 * The spool is emptied by a later poll or flush, or by jk_producer_close. */
int jk_producer_wait(jk_producer_t *p, jk_err_t *err);
/* Events in the spool (not yet confirmed by the broker). */
size_t jk_producer_spooled(const jk_producer_t *p);
/* The last seq given out. */
long long jk_producer_seq(const jk_producer_t *p);

/* Closes without sending: what is spooled and not confirmed stays spooled. */
void jk_producer_close(jk_producer_t *p);

#endif
