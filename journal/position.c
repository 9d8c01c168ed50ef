/* position.c: an exactly-once consumer's offsets and chain heads in PostgreSQL (position.h). */
#include "jukilog/position.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/chain.h"
#include "jukilog/pg.h"

static int restore_chains(PGconn *db, const char *schema, const char *consumer, jk_consumer_t *c,
                          jk_err_t *err)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT source, linked, head, waiting FROM %s.chain_heads WHERE consumer = $1",
             schema);
    const char *params[1] = {consumer};
    PGresult *r = PQexecParams(db, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        jk_err_set(err, "loading chain heads: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int rc = 0;
    jk_chain_t *ch = jk_consumer_chain(c);
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        const char *source = PQgetvalue(r, i, 0);
        if (jk_chain_restore(ch, source, atoll(PQgetvalue(r, i, 1)), PQgetvalue(r, i, 2)))
            rc = jk_err_set(err, "chain head of %s cannot be restored", source);
        else if (jk_chain_restore_waiting(ch, source, PQgetvalue(r, i, 3)))
            rc = jk_err_set(err,
                            "the events waiting in the chain of %s cannot be restored: "
                            "\"%.60s\" is not seq:prev:hash",
                            source, PQgetvalue(r, i, 3));
    }
    PQclear(r);
    return rc;
}

int jk_position_restore(PGconn *db, const char *schema, const char *consumer, jk_consumer_t *c,
                        const char *topic, jk_err_t *err)
{
    if (jk_consumer_nparts(c) == 0 && restore_chains(db, schema, consumer, c, err)) return -1;
    int n = jk_consumer_partitions(c, topic, err);
    if (n < 0) return -1;
    int64_t *offsets = malloc((size_t)n * sizeof *offsets);
    if (offsets == NULL) return jk_err_set(err, "out of memory");
    for (int i = 0; i < n; i++)
        offsets[i] = JK_OFFSET_BEGINNING;
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT partition, next_offset FROM %s.consumer_offsets "
             "WHERE consumer = $1 AND topic = $2",
             schema);
    const char *params[2] = {consumer, topic};
    PGresult *r = PQexecParams(db, sql, 2, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = jk_err_set(err, "loading offsets: %s", PQresultErrorMessage(r));
    } else {
        for (int i = 0; i < PQntuples(r); i++) {
            int part = atoi(PQgetvalue(r, i, 0));
            if (part >= 0 && part < n) offsets[part] = atoll(PQgetvalue(r, i, 1));
        }
    }
    PQclear(r);
    if (rc == 0) rc = jk_consumer_assign(c, topic, offsets, n, err);
    free(offsets);
    return rc;
}

struct rows {
    jk_rows_t rw;
    const char *consumer;
    const jk_chain_t *chain;
};

static void chain_row(void *ctx, const jk_chain_summary_t *cs)
{
    struct rows *r = ctx;
    jk_rows_text(&r->rw, r->consumer);
    jk_rows_text(&r->rw, cs->source);
    jk_rows_int(&r->rw, cs->linked);
    jk_rows_text(&r->rw, cs->head);
    char *waiting = cs->waiting > 0 ? jk_chain_waiting_text(r->chain, cs->source) : NULL;
    if (cs->waiting > 0 && waiting == NULL) r->rw.bad = 1; /* out of memory: the write fails */
    jk_rows_text(&r->rw, waiting ? waiting : "");
    free(waiting);
    jk_rows_end_row(&r->rw);
}

/* One statement per table, whatever the number of partitions and sources: the rows travel as
 * one array per column. Works in pipeline mode too (no COPY, no temporary table). */
static int upsert(PGconn *db, const char *schema, const char *table, const char *types,
                  const char *key, const char *set, jk_rows_t *rw, jk_err_t *err)
{
    char sql[768];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.%s SELECT * FROM unnest(%s) ON CONFLICT (%s) DO UPDATE SET %s", schema,
             table, types, key, set);
    return jk_rows_run(db, sql, rw, err);
}

void jk_position_take(jk_position_t *pos, const char *consumer, jk_consumer_t *c)
{
    jk_position_free(pos);
    struct rows r = {.consumer = consumer};
    for (size_t i = 0; i < jk_consumer_nparts(c); i++) {
        const char *topic;
        int32_t part;
        int64_t next;
        jk_consumer_part(c, i, &topic, &part, &next);
        jk_rows_text(&r.rw, consumer);
        jk_rows_text(&r.rw, topic);
        jk_rows_int(&r.rw, part);
        jk_rows_int(&r.rw, next);
        jk_rows_end_row(&r.rw);
    }
    pos->offsets = r.rw;
    memset(&r.rw, 0, sizeof r.rw);
    r.chain = jk_consumer_chain(c);
    jk_chain_foreach(r.chain, chain_row, &r);
    pos->heads = r.rw;
}

int jk_position_write(PGconn *db, const char *schema, jk_position_t *pos, jk_err_t *err)
{
    int rc = upsert(db, schema, "consumer_offsets",
                    "$1::text[], $2::text[], $3::int[], $4::bigint[]", "consumer, topic, partition",
                    "next_offset = EXCLUDED.next_offset", &pos->offsets, err);
    if (rc == 0)
        rc = upsert(db, schema, "chain_heads",
                    "$1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[]",
                    "consumer, source",
                    "linked = EXCLUDED.linked, head = EXCLUDED.head, waiting = EXCLUDED.waiting",
                    &pos->heads, err);
    jk_position_free(pos);
    return rc;
}

void jk_position_free(jk_position_t *pos)
{
    jk_rows_free(&pos->offsets);
    jk_rows_free(&pos->heads);
}

int jk_position_store(PGconn *db, const char *schema, const char *consumer, jk_consumer_t *c,
                      jk_err_t *err)
{
    jk_position_t pos = {0};
    jk_position_take(&pos, consumer, c);
    return jk_position_write(db, schema, &pos, err);
}

int jk_position_forget(PGconn *db, const char *schema, const char *consumer, jk_err_t *err)
{
    const char *params[1] = {consumer};
    const char *tables[2] = {"consumer_offsets", "chain_heads"};
    for (int i = 0; i < 2; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "DELETE FROM %s.%s WHERE consumer = $1", schema, tables[i]);
        PGresult *r = PQexecParams(db, sql, 1, NULL, params, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) jk_err_set(err, "forgetting %s's position: %s", consumer, PQresultErrorMessage(r));
        PQclear(r);
        if (!ok) return -1;
    }
    return 0;
}
