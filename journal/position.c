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
    snprintf(sql, sizeof sql, "SELECT source, linked, head FROM %s.chain_heads WHERE consumer = $1",
             schema);
    const char *params[1] = {consumer};
    PGresult *r = PQexecParams(db, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        jk_err_set(err, "loading chain heads: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++)
        if (jk_chain_restore(jk_consumer_chain(c), PQgetvalue(r, i, 0), atoll(PQgetvalue(r, i, 1)),
                             PQgetvalue(r, i, 2)))
            rc = jk_err_set(err, "chain head of %s cannot be restored", PQgetvalue(r, i, 0));
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
    jk_copy_t cp;
    const char *consumer;
};

static void chain_row(void *ctx, const jk_chain_summary_t *cs)
{
    struct rows *rw = ctx;
    jk_copy_text(&rw->cp, rw->consumer);
    jk_copy_text(&rw->cp, cs->source);
    jk_copy_int(&rw->cp, cs->linked);
    jk_copy_text(&rw->cp, cs->head);
    jk_copy_end_row(&rw->cp);
}

/* COPYs the rows into a temporary table shaped like schema.table, then upserts them: one round
 * trip each, whatever the number of partitions and sources. */
static int upsert(PGconn *db, const char *schema, const char *table, const char *key,
                  const char *set, jk_copy_t *cp, jk_err_t *err)
{
    char sql[768];
    snprintf(sql, sizeof sql,
             "CREATE TEMP TABLE IF NOT EXISTS %s_batch (LIKE %s.%s) ON COMMIT DELETE ROWS", table,
             schema, table);
    int rc = jk_pg_exec(db, sql, err);
    snprintf(sql, sizeof sql, "COPY %s_batch FROM STDIN", table);
    if (rc == 0) rc = jk_pg_copy(db, sql, cp, err);
    jk_copy_free(cp);
    if (rc) return -1;
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.%s SELECT * FROM %s_batch ON CONFLICT (%s) DO UPDATE SET %s", schema,
             table, table, key, set);
    return jk_pg_exec(db, sql, err);
}

void jk_position_take(jk_position_t *pos, const char *consumer, jk_consumer_t *c)
{
    jk_position_free(pos);
    struct rows rw = {.consumer = consumer};
    for (size_t i = 0; i < jk_consumer_nparts(c); i++) {
        const char *topic;
        int32_t part;
        int64_t next;
        jk_consumer_part(c, i, &topic, &part, &next);
        jk_copy_text(&rw.cp, consumer);
        jk_copy_text(&rw.cp, topic);
        jk_copy_int(&rw.cp, part);
        jk_copy_int(&rw.cp, next);
        jk_copy_end_row(&rw.cp);
    }
    pos->offsets = rw.cp;
    memset(&rw.cp, 0, sizeof rw.cp);
    jk_chain_foreach(jk_consumer_chain(c), chain_row, &rw);
    pos->heads = rw.cp;
}

int jk_position_write(PGconn *db, const char *schema, jk_position_t *pos, jk_err_t *err)
{
    int rc = upsert(db, schema, "consumer_offsets", "consumer, topic, partition",
                    "next_offset = EXCLUDED.next_offset", &pos->offsets, err);
    if (rc == 0)
        rc = upsert(db, schema, "chain_heads", "consumer, source",
                    "linked = EXCLUDED.linked, head = EXCLUDED.head", &pos->heads, err);
    jk_position_free(pos);
    return rc;
}

void jk_position_free(jk_position_t *pos)
{
    jk_copy_free(&pos->offsets);
    jk_copy_free(&pos->heads);
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
