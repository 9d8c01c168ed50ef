/* projector_group.h: the projector as one member of a group sharing the identity topic's
 * partitions (`jukilog projector --group`; projector_group.c explains the design). Private to
 * consumers/: projector.c drives it.
 *
 * A member's loop: pgroup_sync (membership, and a consumer opened again at the group's common
 * position whenever the member's share changed); jk_consumer_poll; the batch applied with only
 * the records pgroup_applies says are this member's (every other record still takes its number
 * in the one order), and stored with pgroup_store inside the batch's transaction;
 * pgroup_idle (the next segment of the order, or a short wait); pgroup_notify. */
#ifndef JUKILOG_PROJECTOR_GROUP_H
#define JUKILOG_PROJECTOR_GROUP_H

#include <libpq-fe.h>

#include "jukilog/config.h"
#include "jukilog/consumer.h"
#include "jukilog/err.h"
#include "jukilog/producer.h"

typedef struct pgroup pgroup_t;

/* Joins the group of the tenant's projectors ("<ns>.<pref>.projector") for topic (the identity
 * topic, full name). db is the projector's connection, on which projector_group.sql has run. */
pgroup_t *pgroup_open(const jk_config_t *cfg, PGconn *db, const char *schema, const char *topic,
                      jk_err_t *err);
/* Leaves the group. */
void pgroup_close(pgroup_t *g);

/* Serves the group protocol for at most wait_ms. When this member's share has changed since the
 * last call (or a commit found a partition taken over), closes *cons and opens a consumer at the
 * earliest stored position of the group, with *next_n its processing number; *cons is NULL
 * while the member's share is empty. Returns 0, or -1. */
int pgroup_sync(pgroup_t *g, jk_consumer_t **cons, long long *next_n, int wait_ms, jk_err_t *err);

/* The schema scripts run under an exclusive advisory lock (on: 1 takes it, 0 gives it back),
 * and every batch of a member takes it shared first thing in its transaction (pgroup_begin): a
 * member starting while others write would otherwise deadlock with them (CREATE INDEX IF NOT
 * EXISTS locks its table even when the index is there). */
int pgroup_schema_lock(PGconn *db, const char *schema, int on, jk_err_t *err);

/* First thing in a batch's transaction: the schema lock (shared), then the fence: this member's
 * offsets are locked and must still hold what it stored last (otherwise a partition was taken
 * over: err says so, pgroup_fenced turns true, and the next pgroup_sync starts over), and are
 * moved to cons's positions. */
int pgroup_begin(pgroup_t *g, jk_consumer_t *cons, jk_err_t *err);

/* True when this member applies r: r is on one of its partitions, at or after the offset stored
 * for it when the member took it over. */
int pgroup_applies(const pgroup_t *g, const jk_record_t *r);

/* Last in the batch's transaction: the position reached (cons after the batch, next_n) as the
 * cut of each of this member's partitions. */
int pgroup_store(pgroup_t *g, jk_consumer_t *cons, long long next_n, jk_err_t *err);
int pgroup_fenced(const pgroup_t *g);

/* After each poll: when a record was held for another member, reads the stored offsets again and
 * sleeps a little if they have not moved; when cons has read its segment of the order, moves to
 * the next (agreed with the other members), or waits a little when the log has nothing new. */
int pgroup_idle(pgroup_t *g, jk_consumer_t *cons, jk_err_t *err);

/* Sends the notices to the CSs (rejections, superseded move_outs) that the group has committed,
 * when this member is the group's one sender (an advisory lock), at most every 200 ms. */
int pgroup_notify(pgroup_t *g, jk_err_t *err);

/* For --until-caught-up: 1 when every partition's stored position has reached where the topic
 * ended when this member joined (and, for the sender, every notice up to there is sent), 0 when
 * not yet, -1 on error. Asks the database at most every 200 ms. */
int pgroup_done(pgroup_t *g, jk_err_t *err);

/* Records held back for another member so far. */
long long pgroup_holds(const pgroup_t *g);

/* Sends one notice to the CS that sent event_id (projector.c: shared with the single
 * projector, so that both send the same notice, with the same id, for the same event). */
int jk_projector_notice(jk_producer_t *p, const char *outcomes_topic, const char *type,
                        const char *event_id, const char *source, long long seq, const char *code,
                        const char *resident_code, const char *reason, const char *detail,
                        int64_t broker_ms, jk_err_t *err);

#endif
