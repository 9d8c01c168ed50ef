/* position.c: a consumer's offsets and chain heads in PostgreSQL (see position.h). Written by
 * COPY into a temporary table and one merge, like the rows they go with. */
#include "jukilog/position.h"

#include <stdio.h>
#include <stdlib.h>

#include "jukilog/pg.h"

int jk_position_load(PGconn *db, const char *schema, const char *consumer, const char *topic,
                     int64_t *offsets, int n, jk_err_t *err)
{
    for (int i = 0; i < n; i++)
        offsets[i] = JK_OFFSET_BEGINNING;
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT partition, next_offset FROM %s.consumer_offsets "
             "WHERE consumer = $1 AND topic = $2",
             schema);
    const char *params[2] = {consumer, topic};
    PGresult *r = PQexecParams(db, sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        jk_err_set(err, "loading the offsets of %s: %s", consumer, PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        int part = atoi(PQgetvalue(r, i, 0));
        if (part >= 0 && part < n) offsets[part] = atoll(PQgetvalue(r, i, 1));
    }
    PQclear(r);
    return 0;
}

struct chain_rows {
    jk_copy_t *cp;
    const char *consumer;
};

static void chain_row(void *ctx, const jk_chain_summary_t *cs)
{
    struct chain_rows *c = ctx;
    jk_copy_text(c->cp, c->consumer);
    jk_copy_text(c->cp, cs->source);
    jk_copy_int(c->cp, cs->linked);
    jk_copy_text(c->cp, cs->head);
    jk_copy_end_row(c->cp);
}

/* COPY cp into a temporary table like schema.table, then one merge statement (merge_sql). */
static int merge(PGconn *db, const char *schema, const char *table, jk_copy_t *cp,
                 const char *merge_sql, jk_err_t *err)
{
    char sql[512], copy[128];
    snprintf(sql, sizeof sql,
             "CREATE TEMP TABLE IF NOT EXISTS %s_batch (LIKE %s.%s) ON COMMIT DELETE ROWS", table,
             schema, table);
    snprintf(copy, sizeof copy, "COPY %s_batch FROM STDIN", table);
    if (jk_pg_exec(db, sql, err) || jk_pg_copy(db, copy, cp, err)) return -1;
    snprintf(sql, sizeof sql, merge_sql, schema);
    return jk_pg_exec(db, sql, err);
}

int jk_position_store(PGconn *db, const char *schema, const char *consumer, jk_consumer_t *cons,
                      jk_err_t *err)
{
    jk_copy_t cp = {0};
    for (size_t i = 0; i < jk_consumer_nparts(cons); i++) {
        const char *topic;
        int32_t part;
        int64_t next;
        jk_consumer_part(cons, i, &topic, &part, &next);
        jk_copy_text(&cp, consumer);
        jk_copy_text(&cp, topic);
        jk_copy_int(&cp, part);
        jk_copy_int(&cp, next);
        jk_copy_end_row(&cp);
    }
    int rc = merge(db, schema, "consumer_offsets", &cp,
                   "INSERT INTO %s.consumer_offsets SELECT * FROM consumer_offsets_batch "
                   "ON CONFLICT (consumer, topic, partition) "
                   "DO UPDATE SET next_offset = EXCLUDED.next_offset",
                   err);
    if (rc == 0) {
        struct chain_rows c = {&cp, consumer};
        jk_chain_foreach(jk_consumer_chain(cons), chain_row, &c);
        rc = merge(db, schema, "chain_heads", &cp,
                   "INSERT INTO %s.chain_heads SELECT * FROM chain_heads_batch "
                   "ON CONFLICT (consumer, source) "
                   "DO UPDATE SET linked = EXCLUDED.linked, head = EXCLUDED.head",
                   err);
    }
    jk_copy_free(&cp);
    return rc;
}

int jk_position_restore_chains(PGconn *db, const char *schema, const char *consumer,
                               jk_consumer_t *cons, jk_err_t *err)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT source, linked, head FROM %s.chain_heads WHERE consumer = $1",
             schema);
    const char *params[1] = {consumer};
    PGresult *r = PQexecParams(db, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        jk_err_set(err, "loading the chain heads of %s: %s", consumer, PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++)
        if (jk_chain_restore(jk_consumer_chain(cons), PQgetvalue(r, i, 0),
                             atoll(PQgetvalue(r, i, 1)), PQgetvalue(r, i, 2)))
            rc = jk_err_set(err, "chain head of %s cannot be restored", PQgetvalue(r, i, 0));
    PQclear(r);
    return rc;
}
