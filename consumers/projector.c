/* projector.c: `jukilog projector`, the prefecture's first duty (DOMAIN.md "What the prefecture
 * server does", 1): municipal changes in, the identity file out.
 *
 * It reads the identity topic in the consumer's one order, and per batch:
 *   1. parses each change and runs the CS-side checks again (a CS may be faulty or hostile);
 *   2. drops events it processed before (by id: a producer may resend after a crash);
 *   3. loads the states of the batch's resident codes in one query;
 *   4. applies every change with the pure state machine of projections/identity.c;
 *   5. spools the notices for the CSs (rejections, superseded move_outs) durably;
 *   6. writes events, history and the batch's final state per person (COPY into a temporary
 *      table, one merge) together with the partitions' next offsets, in one transaction;
 *   7. sends the notices.
 * A crash anywhere leaves either the old or the new transaction; on restart the consumer seeks
 * to the stored offsets, and notices sent twice carry the same id (derived from the change's).
 *
 * With --group the projector is one member of a group sharing the topic's partitions: it reads
 * every partition in the same order, applies only its share, and sends no notices itself
 * (projector_group.c). */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "jukilog/change.h"
#include "jukilog/cli.h"
#include "jukilog/consumer.h"
#include "jukilog/identity.h"
#include "jukilog/identity_event.h"
#include "jukilog/pg.h"
#include "jukilog/position.h"
#include "jukilog/producer.h"
#include "jukilog/strmap.h"
#include "projector_group.h"

extern const char jk_sql_identity[];
extern const char jk_sql_identity_drop[];
extern const char jk_sql_projector_group[];
extern const char jk_sql_identity_defer[];

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* A person's state while a batch is applied. */
struct slot {
    jk_person_t p;
    int loaded;  /* the identity table had a row for this code when the batch began */
    int known;   /* the person exists (loaded or created in this batch) */
    int dirty;   /* changed in this batch: to be written */
    int deleted; /* renamed away in this batch */
};

/* A resident_code_change applied in the batch, for the aliases table. */
struct rename {
    char code[2][12]; /* old, new */
    char event_id[33];
    int64_t log_ms;
};

/* An accepted version, written to history at the end of the batch. */
struct version {
    jk_person_t p;
    char source[72];
    size_t renames_before; /* renames of the batch that came before this version */
};

struct projector {
    jk_config_t cfg;
    char schema[64];
    char topic[128];
    PGconn *db;
    jk_consumer_t *cons;
    jk_producer_t *notices; /* NULL in a rebuild: the notices went out the first time */
    EVP_PKEY *key;
    char outcomes_topic[128];

    jk_strmap_t *slots; /* resident code -> struct slot*, for the batch */
    struct version *versions;
    size_t nversions, cap_versions;
    jk_copy_t events, history, identity, fresh;
    /* resident_code_change in this batch: old -> new, in order */
    struct rename *renames;
    size_t nrenames, cap_renames;

    int deferred; /* a rebuild whose secondary indexes are built once it has caught up */

    /* The batch being written while the next one is read (write_async). */
    pthread_t writer;
    int writing;       /* the writer thread runs: db and the batch's buffers are its own */
    int write_rc;      /* its result, and write_err its error */
    int index_after;   /* the batch is the one that catches a rebuild up */
    jk_position_t pos; /* the consumer's position after the batch */
    jk_err_t write_err;

    long long processed, applied, superseded, rejected, duplicates;
    long long next_n; /* the events table's next processing number */
    pgroup_t *group;  /* --group: this member's share, NULL for a single projector */
};

static void free_slot(void *ctx, const char *key, void *value)
{
    (void)ctx;
    (void)key;
    struct slot *s = value;
    jk_person_free(&s->p);
    free(s);
}

static void reset_batch(struct projector *pj)
{
    jk_strmap_foreach(pj->slots, free_slot, NULL);
    jk_strmap_clear(pj->slots);
    for (size_t i = 0; i < pj->nversions; i++)
        jk_person_free(&pj->versions[i].p);
    pj->nversions = 0;
    pj->nrenames = 0;
    /* Empty after a batch that was written; after one that was not (a group member refused at
     * the fence, which starts over and goes on), its rows must not go out with the next. */
    jk_copy_clear(&pj->events);
    jk_copy_clear(&pj->history);
    jk_copy_clear(&pj->identity);
    jk_copy_clear(&pj->fresh);
}

/* Loads the states of codes from the identity table into the batch's slots. */
static int load_states(struct projector *pj, const char *const *codes, size_t n, jk_err_t *err)
{
    if (n == 0) return 0;
    char *arr = jk_pg_array(codes, n);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT resident_code, my_number, name, name_kana, birth_date, sex, address, "
             "municipality_code, status, reason, effective_date, previous_municipality, version, "
             "event_id, (extract(epoch from broker_time) * 1000)::bigint "
             "FROM %s.identity WHERE resident_code = ANY($1::text[])",
             pj->schema);
    const char *params[1] = {arr};
    PGresult *r = PQexecParams(pj->db, sql, 1, NULL, params, NULL, NULL, 0);
    free(arr);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        jk_err_set(err, "loading states: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        struct slot *s = calloc(1, sizeof *s);
        if (!s) {
            PQclear(r);
            return jk_err_set(err, "out of memory");
        }
        jk_person_t *p = &s->p;
        snprintf(p->resident_code, sizeof p->resident_code, "%s", PQgetvalue(r, i, 0));
        snprintf(p->my_number, sizeof p->my_number, "%s", PQgetvalue(r, i, 1));
        p->name = strdup(PQgetvalue(r, i, 2));
        p->name_kana = PQgetisnull(r, i, 3) ? NULL : strdup(PQgetvalue(r, i, 3));
        snprintf(p->birth_date, sizeof p->birth_date, "%s", PQgetvalue(r, i, 4));
        snprintf(p->sex, sizeof p->sex, "%s", PQgetvalue(r, i, 5));
        p->address = strdup(PQgetvalue(r, i, 6));
        snprintf(p->municipality_code, sizeof p->municipality_code, "%s", PQgetvalue(r, i, 7));
        p->status = strcmp(PQgetvalue(r, i, 8), "resident") == 0 ? JK_RESIDENT : JK_REMOVED;
        snprintf(p->reason, sizeof p->reason, "%s", PQgetvalue(r, i, 9));
        snprintf(p->effective_date, sizeof p->effective_date, "%s", PQgetvalue(r, i, 10));
        snprintf(p->previous_municipality, sizeof p->previous_municipality, "%s",
                 PQgetvalue(r, i, 11));
        p->version = atoll(PQgetvalue(r, i, 12));
        snprintf(p->event_id, sizeof p->event_id, "%s", PQgetvalue(r, i, 13));
        p->broker_ms = atoll(PQgetvalue(r, i, 14));
        s->known = 1;
        s->loaded = 1;
        jk_strmap_put(pj->slots, p->resident_code, s);
    }
    PQclear(r);
    return 0;
}

static struct slot *slot_for(struct projector *pj, const char *code)
{
    struct slot *s = jk_strmap_get(pj->slots, code);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || jk_strmap_put(pj->slots, code, s)) {
            free(s);
            return NULL;
        }
        snprintf(s->p.resident_code, sizeof s->p.resident_code, "%s", code);
    }
    return s;
}

static void event_row(struct projector *pj, const jk_record_t *r, const char *event_id,
                      const char *code, const char *reason, const char *outcome,
                      const char *rejection, const char *detail)
{
    jk_copy_t *cp = &pj->events;
    jk_copy_text(cp, event_id);
    jk_copy_int(cp, pj->next_n++);
    jk_copy_text(cp, r->ev ? r->ev->source : "");
    jk_copy_int(cp, r->ev ? r->ev->seq : 0);
    jk_copy_text(cp, code);
    jk_copy_text(cp, reason);
    jk_copy_text(cp, outcome);
    jk_copy_text(cp, rejection);
    jk_copy_text(cp, detail);
    jk_copy_time(cp, r->broker_ms);
    jk_copy_time(cp, r->log_ms);
    jk_copy_int(cp, r->partition);
    jk_copy_int(cp, r->offset);
    jk_copy_end_row(cp);
}

/* Spools a notice for the sending CS: the notice's id is derived from the change's, so that a
 * notice produced again after a crash is a duplicate its readers drop. */
int jk_projector_notice(jk_producer_t *p, const char *outcomes_topic, const char *type,
                        const char *event_id, const char *source, long long seq, const char *code,
                        const char *resident_code, const char *reason, const char *detail,
                        int64_t broker_ms, jk_err_t *err)
{
    char seed[80], h[65], id[33], t[JK_TIME_LEN];
    snprintf(seed, sizeof seed, "outcome:%s", event_id);
    jk_sha256_hex(seed, strlen(seed), h);
    memcpy(id, h, 32);
    id[32] = '\0';
    jk_time_format(broker_ms, t);
    const char *municipality = strncmp(source, "cs:", 3) == 0 ? source + 3 : "";
    json_t *data =
        json_pack("{s:s, s:s, s:I, s:s?, s:s?, s:s?, s:s, s:s}", "event_id", event_id, "source",
                  source, "seq", (json_int_t)seq, "resident_code", resident_code, "reason", reason,
                  "code", code, "detail", detail, "broker_time", t);
    if (!data) return jk_err_set(err, "out of memory");
    return jk_producer_append_id(p, id, outcomes_topic, municipality, type, resident_code, data,
                                 err);
}

static int notice(struct projector *pj, const jk_record_t *r, const char *type, const char *code,
                  const char *resident_code, const char *reason, const char *detail, jk_err_t *err)
{
    if (!pj->notices || !r->ev) return 0;
    return jk_projector_notice(pj->notices, pj->outcomes_topic, type, r->ev->id, r->ev->source,
                               r->ev->seq, code, resident_code, reason, detail, r->broker_ms, err);
}

/* The record's fields, as the identity and history tables both hold them. */
static void person_fields(jk_copy_t *cp, const jk_person_t *p)
{
    jk_copy_text(cp, p->my_number);
    jk_copy_text(cp, p->name);
    jk_copy_text(cp, p->name_kana);
    jk_copy_text(cp, p->birth_date);
    jk_copy_text(cp, p->sex);
    jk_copy_text(cp, p->address);
    jk_copy_text(cp, p->municipality_code);
    jk_copy_text(cp, p->status == JK_RESIDENT ? "resident" : "removed");
    jk_copy_text(cp, p->reason);
    jk_copy_text(cp, p->effective_date);
}

static void history_row(struct projector *pj, const struct version *v, const char *code)
{
    const jk_person_t *p = &v->p;
    jk_copy_t *cp = &pj->history;
    jk_copy_text(cp, code);
    jk_copy_int(cp, p->version);
    jk_copy_text(cp, p->resident_code);
    person_fields(cp, p);
    jk_copy_text(cp, p->event_id);
    jk_copy_text(cp, v->source);
    jk_copy_time(cp, p->broker_ms);
    jk_copy_end_row(cp);
}

/* A person's row: into the merge when the table had one for the code, straight into the table
 * otherwise (the batch looked up every code it touches, and the projector is the only writer). */
static void identity_row(void *ctx, const char *key, void *value)
{
    (void)key;
    struct projector *pj = ctx;
    struct slot *s = value;
    if (!s->dirty || s->deleted || !s->known) return;
    const jk_person_t *p = &s->p;
    jk_copy_t *cp = s->loaded ? &pj->identity : &pj->fresh;
    jk_copy_text(cp, p->resident_code);
    person_fields(cp, p);
    jk_copy_text(cp, p->previous_municipality);
    jk_copy_int(cp, p->version);
    jk_copy_text(cp, p->event_id);
    jk_copy_time(cp, p->broker_ms);
    jk_copy_end_row(cp);
}

/* The code a version ends up under after the batch's renames that come after it. */
static const char *final_code(const struct projector *pj, const char *code, size_t from)
{
    for (size_t i = from; i < pj->nrenames; i++)
        if (strcmp(pj->renames[i].code[0], code) == 0) code = pj->renames[i].code[1];
    return code;
}

/* One record of the batch: its outcome into the batch's buffers. */
static int apply_one(struct projector *pj, const jk_record_t *r, jk_err_t *err)
{
    char where[48];
    snprintf(where, sizeof where, "p%do%lld", r->partition, (long long)r->offset);
    const char *id = r->ev ? r->ev->id : where;
    pj->processed++;
    if (r->status == JK_REC_INVALID || r->status == JK_REC_BAD_SIGNATURE) {
        const char *code = r->status == JK_REC_INVALID ? "invalid_format" : "bad_signature";
        pj->rejected++;
        event_row(pj, r, id, r->ev ? r->ev->subject : NULL, NULL, "rejected", code, r->error);
        return notice(pj, r, "identity.rejected", code, r->ev ? r->ev->subject : NULL, NULL,
                      r->error, err);
    }
    /* A fork is the source's fault, not this event's: it is signed, so it is applied, and
     * `jukilog verify` reports the fork. */
    const jk_envelope_t *ev = r->ev;
    jk_problem_t pb;
    jk_change_t ch;
    int parsed = jk_identity_check_event(ev, pj->cfg.prefecture, &ch, &pb) == 0;
    if (!parsed) {
        pj->rejected++;
        event_row(pj, r, id, ev->subject, NULL, "rejected", pb.code, pb.detail);
        return notice(pj, r, "identity.rejected", pb.code, ev->subject, NULL, pb.detail, err);
    }

    struct slot *cur = slot_for(pj, ch.resident_code);
    struct slot *target = ch.new_resident_code[0] ? slot_for(pj, ch.new_resident_code) : NULL;
    if (!cur || (ch.new_resident_code[0] && !target)) {
        jk_change_free(&ch);
        return jk_err_set(err, "out of memory");
    }
    jk_apply_in_t in = {
        .change = &ch,
        .sender = ev->source + 3,
        .cur = cur->known && !cur->deleted ? &cur->p : NULL,
        .target = target && target->known && !target->deleted ? &target->p : NULL,
        .event_id = ev->id,
        .broker_ms = r->log_ms,
    };
    jk_apply_out_t out;
    memset(&out, 0, sizeof out);
    if (jk_identity_apply(&in, &out)) {
        jk_change_free(&ch);
        return jk_err_set(err, "out of memory");
    }
    int rc = 0;
    const char *reason = ch.reason->code;
    if (out.outcome == JK_REJECTED) {
        pj->rejected++;
        event_row(pj, r, id, ch.resident_code, reason, "rejected", out.code, out.detail);
        rc =
            notice(pj, r, "identity.rejected", out.code, ch.resident_code, reason, out.detail, err);
    } else if (out.outcome == JK_SUPERSEDED) {
        pj->superseded++;
        event_row(pj, r, id, ch.resident_code, reason, "superseded", NULL, out.detail);
        rc = notice(pj, r, "identity.superseded", NULL, ch.resident_code, reason, out.detail, err);
    } else {
        pj->applied++;
        event_row(pj, r, id, ch.resident_code, reason, "applied", NULL, NULL);
        struct slot *dst = out.renamed ? target : cur;
        if (out.renamed) {
            cur->deleted = 1;
            cur->dirty = 1;
            if (pj->nrenames == pj->cap_renames) {
                size_t cap = pj->cap_renames ? pj->cap_renames * 2 : 16;
                void *nr = realloc(pj->renames, cap * sizeof *pj->renames);
                if (!nr)
                    rc = jk_err_set(err, "out of memory");
                else
                    pj->renames = nr, pj->cap_renames = cap;
            }
            if (rc == 0) {
                struct rename *rn = &pj->renames[pj->nrenames++];
                memcpy(rn->code[0], ch.resident_code, 12);
                memcpy(rn->code[1], ch.new_resident_code, 12);
                snprintf(rn->event_id, sizeof rn->event_id, "%s", ev->id);
                rn->log_ms = r->log_ms;
            }
        }
        jk_person_free(&dst->p);
        dst->p = out.next; /* taken over */
        memset(&out.next, 0, sizeof out.next);
        dst->known = 1;
        dst->dirty = 1;
        dst->deleted = 0;
        if (pj->nversions == pj->cap_versions) {
            size_t cap = pj->cap_versions ? pj->cap_versions * 2 : 1024;
            void *nv = realloc(pj->versions, cap * sizeof *pj->versions);
            if (!nv)
                rc = jk_err_set(err, "out of memory");
            else
                pj->versions = nv, pj->cap_versions = cap;
        }
        if (rc == 0) {
            struct version *v = &pj->versions[pj->nversions];
            if (jk_person_copy(&v->p, &dst->p)) {
                rc = jk_err_set(err, "out of memory");
            } else {
                snprintf(v->source, sizeof v->source, "%s", ev->source);
                v->renames_before = pj->nrenames;
                pj->nversions++;
            }
        }
    }
    jk_person_free(&out.next);
    jk_change_free(&ch);
    return rc;
}

/* Writes the batch's persons that the table had rows for: COPY into a temporary table, one
 * merge. */
static int merge_identity(struct projector *pj, jk_err_t *err)
{
    char sql[1024];
    snprintf(
        sql, sizeof sql,
        "CREATE TEMP TABLE IF NOT EXISTS identity_batch (LIKE %s.identity) ON COMMIT DELETE ROWS",
        pj->schema);
    if (jk_pg_exec(pj->db, sql, err) ||
        jk_pg_copy(pj->db, "COPY identity_batch FROM STDIN", &pj->identity, err))
        return -1;
    snprintf(
        sql, sizeof sql,
        "INSERT INTO %s.identity SELECT * FROM identity_batch ON CONFLICT (resident_code) DO "
        "UPDATE SET "
        "my_number = EXCLUDED.my_number, name = EXCLUDED.name, name_kana = EXCLUDED.name_kana, "
        "birth_date = EXCLUDED.birth_date, sex = EXCLUDED.sex, address = EXCLUDED.address, "
        "municipality_code = EXCLUDED.municipality_code, status = EXCLUDED.status, "
        "reason = EXCLUDED.reason, effective_date = EXCLUDED.effective_date, "
        "previous_municipality = EXCLUDED.previous_municipality, version = EXCLUDED.version, "
        "event_id = EXCLUDED.event_id, broker_time = EXCLUDED.broker_time",
        pj->schema);
    return jk_pg_exec(pj->db, sql, err);
}

/* Writes the batch in one transaction: events, renames, history, identity, offsets. */
static int write_batch(struct projector *pj, jk_err_t *err)
{
    char sql[1024];
    if (jk_pg_exec(pj->db, "BEGIN", err)) return -1;
    if (pj->group && pgroup_begin(pj->group, pj->cons, err)) goto fail;
    snprintf(sql, sizeof sql, "COPY %s.events FROM STDIN", pj->schema);
    if (jk_pg_copy(pj->db, sql, &pj->events, err)) goto fail;
    for (size_t i = 0; i < pj->nrenames; i++) {
        /* The person's earlier versions follow them to the new code; the old one is an alias. */
        const char *params[2] = {pj->renames[i].code[0], pj->renames[i].code[1]};
        snprintf(sql, sizeof sql,
                 "WITH h AS (UPDATE %1$s.history SET resident_code = $2 WHERE resident_code = $1) "
                 "DELETE FROM %1$s.identity WHERE resident_code = $1",
                 pj->schema);
        PGresult *r = PQexecParams(pj->db, sql, 2, NULL, params, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) jk_err_set(err, "renaming %s: %s", params[0], PQresultErrorMessage(r));
        PQclear(r);
        if (!ok) goto fail;
    }
    for (size_t i = 0; i < pj->nversions; i++) {
        const struct version *v = &pj->versions[i];
        history_row(pj, v, final_code(pj, v->p.resident_code, v->renames_before));
    }
    snprintf(sql, sizeof sql, "COPY %s.history FROM STDIN", pj->schema);
    if (jk_pg_copy(pj->db, sql, &pj->history, err)) goto fail;
    if (pj->nrenames) {
        jk_copy_t al = {0};
        for (size_t i = 0; i < pj->nrenames; i++) {
            /* The change that renamed, not the person's last change in the batch: the row must
             * not depend on where batches end. */
            jk_copy_text(&al, pj->renames[i].code[0]);
            jk_copy_text(&al, pj->renames[i].code[1]);
            jk_copy_text(&al, pj->renames[i].event_id);
            jk_copy_time(&al, pj->renames[i].log_ms);
            jk_copy_end_row(&al);
        }
        snprintf(sql, sizeof sql, "COPY %s.aliases FROM STDIN", pj->schema);
        int bad = jk_pg_copy(pj->db, sql, &al, err);
        jk_copy_free(&al);
        if (bad) goto fail;
    }
    jk_strmap_foreach(pj->slots, identity_row, pj);
    /* Persons new to the table need no merge: a COPY is several times faster than INSERT ... ON
     * CONFLICT, and in a rebuild or an initial load nearly every person is new. Should the table
     * have a row for one after all, the COPY fails on the primary key and the batch is not
     * committed. */
    size_t merging = pj->identity.rows;
    snprintf(sql, sizeof sql, "COPY %s.identity FROM STDIN", pj->schema);
    if (jk_pg_copy(pj->db, sql, &pj->fresh, err)) goto fail;
    if (merging && merge_identity(pj, err)) goto fail;
    if (pj->group ? pgroup_store(pj->group, pj->cons, pj->next_n, err)
                  : jk_position_write(pj->db, pj->schema, &pj->pos, err))
        goto fail;
    /* The notices are durable in the spool before the batch commits: a crash after the commit
     * sends them on restart, a crash before it redoes the batch and respools them (same ids). */
    if (pj->notices && jk_producer_sync(pj->notices, err)) goto fail;
    if (jk_pg_exec(pj->db, "COMMIT", err)) return -1;
    return 0;
fail:
    jk_pg_exec(pj->db, "ROLLBACK", NULL);
    return -1;
}

/* Whether this projector applies the record: a group member only its share. */
static int applies(const struct projector *pj, const jk_record_t *r)
{
    return !pj->group || pgroup_applies(pj->group, r);
}

/* A rebuild's secondary indexes (identity_defer.sql), built in one pass over the loaded tables:
 * identity.sql creates whichever is missing. */
static int build_indexes(struct projector *pj, jk_err_t *err)
{
    if (!pj->deferred) return 0;
    pj->deferred = 0;
    return pgroup_schema_lock(pj->db, pj->schema, 1, err) ||
                   jk_pg_script(pj->db, jk_sql_identity, pj->schema, err) ||
                   pgroup_schema_lock(pj->db, pj->schema, 0, err)
               ? -1
               : 0;
}

/* The writer thread: the batch's transaction, its notices, and (when the batch catches a rebuild
 * up) the deferred indexes. */
static void *write_async(void *arg)
{
    struct projector *pj = arg;
    int rc = write_batch(pj, &pj->write_err);
    if (rc == 0 && pj->notices) rc = jk_producer_flush(pj->notices, &pj->write_err);
    if (rc == 0 && pj->index_after) rc = build_indexes(pj, &pj->write_err);
    reset_batch(pj);
    pj->write_rc = rc;
    return NULL;
}

/* Waits for the batch being written, if any; its error, if it failed, into err. */
static int wait_written(struct projector *pj, jk_err_t *err)
{
    if (!pj->writing) return 0;
    pthread_join(pj->writer, NULL);
    pj->writing = 0;
    if (pj->write_rc && err) *err = pj->write_err;
    return pj->write_rc;
}

/* Reads, applies and writes one batch. The write runs in a thread of its own while the caller
 * reads the next batch (half of a rebuild's time is PostgreSQL's, a third the reading of the
 * log); everything the write needs was built here, the consumer's position included, so the
 * reader does not touch it. The next call, or wait_written, waits for it: the batch's
 * transaction, with the position, is still one, committed before the next batch is applied. */
static int run_batch(struct projector *pj, jk_batch_t *b, jk_err_t *err)
{
    if (wait_written(pj, err)) return -1;
    pj->duplicates += (long long)b->duplicates;
    /* Ids processed before: a producer's resend that arrived after a restart. */
    const char **ids = malloc((b->n + 1) * sizeof *ids);
    const char **codes = malloc((2 * b->n + 1) * sizeof *codes);
    if (!ids || !codes) {
        free(ids);
        free(codes);
        return jk_err_set(err, "out of memory");
    }
    size_t nids = 0, ncodes = 0;
    for (size_t i = 0; i < b->n; i++) {
        const jk_envelope_t *ev = b->recs[i].ev;
        if (!ev || !applies(pj, &b->recs[i])) continue;
        ids[nids++] = ev->id;
        json_t *rc = json_object_get(ev->data, "resident_code");
        json_t *nc = json_object_get(ev->data, "new_resident_code");
        if (json_is_string(rc) && json_string_length(rc) == 11)
            codes[ncodes++] = json_string_value(rc);
        if (json_is_string(nc) && json_string_length(nc) == 11)
            codes[ncodes++] = json_string_value(nc);
    }
    jk_strmap_t *seen = jk_pg_ids_seen(pj->db, pj->schema, "events", ids, nids, err);
    int rc = seen ? load_states(pj, codes, ncodes, err) : -1;
    free(ids);
    free(codes);
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        const jk_record_t *r = &b->recs[i];
        if (!applies(pj, r)) { /* another member's (or applied before): its number all the same */
            pj->next_n++;
            continue;
        }
        if (r->ev && jk_strmap_get(seen, r->ev->id)) {
            pj->duplicates++;
            /* The other members cannot know: in a group it keeps its number. */
            if (pj->group) pj->next_n++;
            continue;
        }
        rc = apply_one(pj, r, err);
    }
    jk_strmap_free(seen);
    if (rc != 0) {
        reset_batch(pj);
        return rc;
    }
    if (pj->group) {
        /* A member's fence and position come from its consumer and its group, which the next
         * poll changes: its batch is written here, before the next is read. */
        rc = write_batch(pj, err);
        reset_batch(pj);
        return rc;
    }
    jk_position_take(&pj->pos, "projector", pj->cons);
    pj->index_after = pj->deferred && jk_consumer_caught_up(pj->cons);
    if (pthread_create(&pj->writer, NULL, write_async, pj) != 0) {
        write_async(pj);
        if (pj->write_rc) *err = pj->write_err;
        return pj->write_rc;
    }
    pj->writing = 1;
    return 0;
}

/* The next processing number and the log clock where the stored position left off. */
static int load_next_n(struct projector *pj, jk_err_t *err)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(max(n), 0) + 1, coalesce((extract(epoch FROM max(log_time)) * "
             "1000)::bigint, 0) "
             "FROM %s.events",
             pj->schema);
    PGresult *r = PQexec(pj->db, sql);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (ok) {
        pj->next_n = atoll(PQgetvalue(r, 0, 0));
        jk_consumer_set_clock(pj->cons, atoll(PQgetvalue(r, 0, 1)));
    } else
        jk_err_set(err, "reading the events table: %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

/* A single projector cannot go on from where a group left off (its stored offsets are no
 * position in the order): it refuses, with what to do instead. */
static int group_ran(struct projector *pj, jk_err_t *err)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT EXISTS (SELECT 1 FROM %s.projector_cuts)", pj->schema);
    PGresult *r = PQexec(pj->db, sql);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    int ran = ok && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    if (!ok) jk_err_set(err, "reading the group's positions: %s", PQresultErrorMessage(r));
    PQclear(r);
    if (ran)
        jk_err_set(err, "the identity file was last written by a group of projectors; run "
                        "`jukilog projector --group` (a group of one will do) or --rebuild");
    return ok && !ran ? 0 : -1;
}

/* --group: one member's loop (projector_group.h). */
static int run_group(struct projector *pj, int until, size_t batch, jk_batch_t *b, jk_err_t *err)
{
    int64_t started = jk_now_ms(), last_report = started;
    while (!stop_requested) {
        /* Without partitions the member only waits for some (and for the others to finish). */
        if (pgroup_sync(pj->group, &pj->cons, &pj->next_n, pj->cons ? 0 : 200, err)) return -1;
        if (pj->cons) {
            if (jk_consumer_poll(pj->cons, b, batch, 200, err)) return -1;
            if ((b->n > 0 || b->duplicates > 0) && run_batch(pj, b, err)) {
                if (!pgroup_fenced(pj->group)) return -1;
                fprintf(stderr, "projector: %s\n", err->msg);
                continue;
            }
            if (pgroup_idle(pj->group, pj->cons, err)) return -1;
        }
        int done = pgroup_notify(pj->group, err) ? -1 : until ? pgroup_done(pj->group, err) : 0;
        if (done) return done < 0 ? -1 : 0;
        int64_t now = jk_now_ms();
        if (now - last_report >= 5000) {
            fprintf(stderr, "projector: %lld events, %.0f/s, %lld held for other members\n",
                    pj->processed, pj->processed * 1000.0 / (double)(now - started),
                    pgroup_holds(pj->group));
            last_report = now;
        }
    }
    return 0;
}

static const char usage_text[] =
    "usage: jukilog projector [--until-caught-up] [--rebuild | --group] [--batch N]\n"
    "                         [-X key=value]...\n"
    "\n"
    "Builds the prefecture's identity file in PostgreSQL (schema <ns>_<pref>: identity,\n"
    "history, events, aliases, and the views history_v and rejections) from the identity\n"
    "topic, exactly once: each batch's rows and the partitions' next offsets are written in\n"
    "one transaction. Every rejection and superseded move_out is sent back to its CS on the\n"
    "outcomes topic.\n"
    "  --until-caught-up  stop once the topic is read up to where it ended at the start\n"
    "  --rebuild          drop the identity tables and rebuild them from offset 0 (no\n"
    "                     notices are sent again)\n"
    "  --group            one member of a group of projectors of the tenant, which share the\n"
    "                     topic's partitions through Kafka's consumer-group protocol (group\n"
    "                     <ns>.<pref>.projector): each member reads every partition in the\n"
    "                     same order and applies its share; together they write the tables\n"
    "                     a single projector writes. One member at a time sends the notices.\n"
    "                     Once a group has run, run the projector with --group (a group of\n"
    "                     one will do) or --rebuild. With --until-caught-up a member stops\n"
    "                     once the group has applied the topic up to where it ended when the\n"
    "                     member joined.\n"
    "  --batch N          events per batch (default 5000)\n"
    "Prints a summary line (JSON) at the end, and progress on stderr every 5 seconds.\n";

int cmd_projector(int argc, char **argv)
{
    static const struct option opts[] = {
        {"until-caught-up", no_argument, NULL, 'u'},
        {"rebuild", no_argument, NULL, 'r'},
        {"group", no_argument, NULL, 'g'},
        {"batch", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "projector";
    struct projector pj;
    memset(&pj, 0, sizeof pj);
    jk_err_t err;
    if (jk_config_load(&pj.cfg, &err)) return jk_cli_fail(cmd, &err);
    int until = 0, rebuild = 0, group = 0, c, rc = JK_EXIT_ERROR;
    long batch = 5000;
    jk_batch_t b = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:urgb:h", opts, NULL)) != -1) {
        if (c == 'u')
            until = 1;
        else if (c == 'r')
            rebuild = 1;
        else if (c == 'g')
            group = 1;
        else if ((rc = c == 'b' ? jk_cli_batch(cmd, optarg, &batch)
                                : jk_cli_option(c, argv, cmd, &pj.cfg, usage_text)) != JK_CLI_NEXT)
            goto out;
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    if (group && rebuild) {
        rc = jk_cli_usage(cmd, "--group and --rebuild exclude each other (a rebuild is one "
                               "projector's)");
        goto out;
    }
    jk_config_schema(&pj.cfg, pj.schema, sizeof pj.schema);
    jk_config_topic(&pj.cfg, "identity", pj.topic, sizeof pj.topic);
    jk_config_topic(&pj.cfg, "outcomes", pj.outcomes_topic, sizeof pj.outcomes_topic);
    pj.slots = jk_strmap_new();
    pj.db = jk_pg_connect(&pj.cfg, &err);
    if (!pj.slots || !pj.db) goto fail;
    if (pgroup_schema_lock(pj.db, pj.schema, 1, &err) ||
        (rebuild && jk_pg_script(pj.db, jk_sql_identity_drop, pj.schema, &err)) ||
        jk_pg_script(pj.db, jk_sql_identity, pj.schema, &err) ||
        (rebuild && jk_pg_script(pj.db, jk_sql_identity_defer, pj.schema, &err)) ||
        jk_pg_script(pj.db, jk_sql_projector_group, pj.schema, &err) ||
        pgroup_schema_lock(pj.db, pj.schema, 0, &err))
        goto fail;
    /* Indexes that no read of the projector uses are built once after a rebuild's load, not
     * row by row during it. */
    pj.deferred = rebuild;
    if (!rebuild && !group && group_ran(&pj, &err)) goto fail;
    if (!rebuild && !group) {
        char source[64];
        snprintf(source, sizeof source, "projector:%s", pj.cfg.prefecture);
        pj.key = jk_cli_source_key(&pj.cfg, source, &err);
        pj.notices = pj.key ? jk_producer_open(&pj.cfg, source, pj.key, &err) : NULL;
        if (!pj.notices) goto fail;
        /* Notices a crash left in the spool go out first. */
        if (jk_producer_flush(pj.notices, &err)) goto fail;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int64_t started = jk_now_ms(), last_report = started;
    if (group) {
        if (!(pj.group = pgroup_open(&pj.cfg, pj.db, pj.schema, pj.topic, &err)) ||
            run_group(&pj, until, (size_t)batch, &b, &err))
            goto fail;
        goto summary;
    }
    pj.cons = jk_consumer_open(&pj.cfg, &err);
    if (!pj.cons) goto fail;
    /* Live, every event is verified once, when it first arrives; a rebuild reads what was
     * verified then, and checks each source's chain and its heads. */
    jk_consumer_verify_heads(pj.cons, rebuild);
    if (load_next_n(&pj, &err) ||
        jk_position_restore(pj.db, pj.schema, "projector", pj.cons, pj.topic, &err))
        goto fail;
    while (!stop_requested && !(until && jk_consumer_caught_up(pj.cons))) {
        if (jk_consumer_poll(pj.cons, &b, (size_t)batch, 500, &err)) goto fail;
        if (b.n == 0 && b.duplicates == 0) continue;
        if (run_batch(&pj, &b, &err)) goto fail;
        int64_t now = jk_now_ms();
        if (now - last_report >= 5000) {
            fprintf(stderr, "projector: %lld events, %.0f/s\n", pj.processed,
                    pj.processed * 1000.0 / (double)(now - started));
            last_report = now;
        }
    }
    if (wait_written(&pj, &err) || build_indexes(&pj, &err)) goto fail;
summary:;
    double secs = (double)(jk_now_ms() - started) / 1000.0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"events\":%lld,\"applied\":%lld,\"superseded\":%lld,\"rejected\":%lld,"
           "\"duplicates\":%lld,\"seconds\":%.3f,\"per_s\":%.0f,\"max_rss_kb\":%ld",
           pj.processed, pj.applied, pj.superseded, pj.rejected, pj.duplicates, secs,
           secs > 0 ? pj.processed / secs : 0.0, ru.ru_maxrss);
    if (pj.group) printf(",\"holds\":%lld", pgroup_holds(pj.group));
    printf("}\n");
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    wait_written(&pj, NULL);
    jk_position_free(&pj.pos);
    jk_batch_free(&b);
    jk_consumer_close(pj.cons);
    pgroup_close(pj.group);
    jk_producer_close(pj.notices);
    EVP_PKEY_free(pj.key);
    if (pj.slots) {
        reset_batch(&pj);
        jk_strmap_free(pj.slots);
    }
    free(pj.versions);
    free(pj.renames);
    jk_copy_free(&pj.events);
    jk_copy_free(&pj.history);
    jk_copy_free(&pj.identity);
    jk_copy_free(&pj.fresh);
    if (pj.db) PQfinish(pj.db);
    jk_config_free(&pj.cfg);
    return rc;
}
