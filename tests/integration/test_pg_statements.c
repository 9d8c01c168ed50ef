/* test_pg_statements.c: jk_pg_run prepares a statement once per connection (pg.c), and a
 * pipeline may be sent in parts, against the real PostgreSQL of ops/stack, in a schema of its
 * own that it drops at the end. What is prepared is read from the session's own
 * pg_prepared_statements. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "jukilog/pg.h"

static jk_config_t cfg;
static char schema[32], insert_sql[256], upsert_sql[256];

/* Every connection a test opens, closed after it even when an assertion ends it early (an open
 * transaction would otherwise hold its locks against the next test). */
static PGconn *opened[4];

static PGconn *connect_db(void)
{
    jk_err_t err;
    PGconn *db = jk_pg_connect(&cfg, &err);
    if (db == NULL) fail_msg("%s", err.msg);
    for (size_t i = 0; i < sizeof opened / sizeof opened[0]; i++)
        if (opened[i] == NULL) {
            opened[i] = db;
            return db;
        }
    fail_msg("a test opened more than %zu connections", sizeof opened / sizeof opened[0]);
    return NULL;
}

static void disconnect(PGconn *db)
{
    for (size_t i = 0; i < sizeof opened / sizeof opened[0]; i++)
        if (opened[i] == db) opened[i] = NULL;
    PQfinish(db);
}

static int disconnect_all(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof opened / sizeof opened[0]; i++)
        if (opened[i]) disconnect(opened[i]);
    return 0;
}

/* One value of a query without parameters. */
static long long value(PGconn *db, const char *fmt, const char *arg)
{
    char sql[512];
    snprintf(sql, sizeof sql, fmt, arg);
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    long long v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* Under which name the session has sql prepared ("" when it has not). */
static void prepared_name(PGconn *db, const char *sql, char name[64])
{
    const char *params[1] = {sql};
    PGresult *r = PQexecParams(db, "SELECT name FROM pg_prepared_statements WHERE statement = $1",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("%s", PQresultErrorMessage(r));
    snprintf(name, 64, "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
}

static long long prepared_count(PGconn *db)
{
    return value(db, "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'jk_s%s'", "%");
}

static long long rows_in(PGconn *db, const char *table)
{
    char fmt[128];
    snprintf(fmt, sizeof fmt, "SELECT count(*) FROM %s.%%s", schema);
    return value(db, fmt, table);
}

/* Runs fmt, with %1$s the test's schema, on a connection of its own. */
static void on_schema(const char *fmt)
{
    char sql[512];
    snprintf(sql, sizeof sql, fmt, schema);
    PGconn *db = connect_db();
    jk_err_t err;
    if (jk_pg_exec(db, sql, &err)) fail_msg("%s", err.msg);
    disconnect(db);
}

static int setup(void **state)
{
    (void)state;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) fail_msg("%s", err.msg);
    snprintf(schema, sizeof schema, "tpg_%ld", (long)getpid());
    snprintf(insert_sql, sizeof insert_sql,
             "INSERT INTO %s.t (k, v) SELECT * FROM unnest($1::text[], $2::bigint[])", schema);
    snprintf(upsert_sql, sizeof upsert_sql,
             "INSERT INTO %s.u (k, v) VALUES ($1, $2::bigint) "
             "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
             schema);
    on_schema("DROP SCHEMA IF EXISTS %1$s CASCADE; CREATE SCHEMA %1$s; "
              "CREATE TABLE %1$s.t (k text, v bigint); "
              "CREATE TABLE %1$s.u (k text PRIMARY KEY, v bigint)");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    on_schema("DROP SCHEMA IF EXISTS %1$s CASCADE");
    jk_config_free(&cfg);
    return 0;
}

static int truncate_all(void **state)
{
    (void)state;
    on_schema("TRUNCATE %1$s.t, %1$s.u");
    return 0;
}

/* Outside a pipeline: prepared at the first run, run by name afterwards, one statement per text;
 * statements without parameters are not prepared. */
static void prepared_at_first_run(void **state)
{
    (void)state;
    PGconn *db = connect_db();
    jk_err_t err;
    const char *a[2] = {"{a,b}", "{1,2}"}, *b[2] = {"{c}", "{3}"};
    assert_int_equal(prepared_count(db), 0);
    assert_int_equal(jk_pg_run(db, "BEGIN", 0, NULL, &err), 0);
    assert_int_equal(jk_pg_run(db, insert_sql, 2, a, &err), 0);
    assert_int_equal(jk_pg_run(db, "COMMIT", 0, NULL, &err), 0);
    char name[64];
    prepared_name(db, insert_sql, name);
    assert_string_equal(name, "jk_s0");
    assert_int_equal(prepared_count(db), 1);
    assert_int_equal(jk_pg_run(db, insert_sql, 2, b, &err), 0);
    assert_int_equal(prepared_count(db), 1);
    assert_int_equal(rows_in(db, "t"), 3);
    assert_int_equal(value(db, "SELECT sum(v) FROM %s.t", schema), 6);
    /* A rolled-back transaction keeps the statement: it belongs to the session. */
    assert_int_equal(jk_pg_run(db, "BEGIN", 0, NULL, &err), 0);
    assert_int_equal(jk_pg_run(db, insert_sql, 2, b, &err), 0);
    assert_int_equal(jk_pg_run(db, "ROLLBACK", 0, NULL, &err), 0);
    assert_int_equal(jk_pg_run(db, insert_sql, 2, b, &err), 0);
    assert_int_equal(rows_in(db, "t"), 4);
    assert_int_equal(prepared_count(db), 1);
    /* Another connection starts with nothing prepared. */
    PGconn *other = connect_db();
    assert_int_equal(prepared_count(other), 0);
    disconnect(other);
    disconnect(db);
}

/* Inside a pipeline a new statement runs unnamed (the pipeline's results stay one per
 * statement) and is prepared when the next pipeline begins; then it runs by name. */
static void pipeline_prepares_afterwards(void **state)
{
    (void)state;
    PGconn *db = connect_db();
    jk_err_t err;
    const char *p1[2] = {"x", "1"}, *p2[2] = {"x", "2"}, *p3[2] = {"y", "5"};
    char name[64];
    for (int round = 0; round < 3; round++) {
        assert_int_equal(jk_pg_pipeline_begin(db, &err), 0);
        assert_int_equal(PQpipelineStatus(db), PQ_PIPELINE_ON);
        assert_int_equal(jk_pg_run(db, "BEGIN", 0, NULL, &err), 0);
        assert_int_equal(jk_pg_run(db, upsert_sql, 2, round == 0 ? p1 : p2, &err), 0);
        assert_int_equal(PQsendQueryParams(db, "SELECT 40 + $1::int", 1, NULL,
                                           (const char *[]){"2"}, NULL, NULL, 0),
                         1);
        assert_int_equal(jk_pg_run(db, upsert_sql, 2, p3, &err), 0);
        assert_int_equal(jk_pg_run(db, "COMMIT", 0, NULL, &err), 0);
        PGresult *keep[3];
        assert_int_equal(jk_pg_pipeline_end(db, 3, keep, &err), 0);
        /* The third statement's rows are in keep[2], whatever was prepared. */
        assert_null(keep[0]);
        assert_null(keep[1]);
        assert_non_null(keep[2]);
        assert_string_equal(PQgetvalue(keep[2], 0, 0), "42");
        PQclear(keep[2]);
        prepared_name(db, upsert_sql, name);
        /* Prepared only once a pipeline begins after the one that ran it first. */
        assert_string_equal(name, round == 0 ? "" : "jk_s0");
    }
    assert_int_equal(rows_in(db, "u"), 2);
    assert_int_equal(value(db, "SELECT v FROM %s.u WHERE k = 'x'", schema), 2);
    assert_int_equal(value(db, "SELECT v FROM %s.u WHERE k = 'y'", schema), 5);
    assert_int_equal(prepared_count(db), 1);
    disconnect(db);
}

/* A pipeline's statement left to prepare is not prepared inside an open transaction: a
 * pipeline that opens one still works, and the statement is prepared once the session is idle. */
static void not_prepared_inside_a_transaction(void **state)
{
    (void)state;
    PGconn *db = connect_db();
    jk_err_t err;
    const char *p[2] = {"z", "9"};
    char name[64];
    assert_int_equal(jk_pg_pipeline_begin(db, &err), 0);
    assert_int_equal(jk_pg_run(db, upsert_sql, 2, p, &err), 0);
    assert_int_equal(jk_pg_pipeline_end(db, 0, NULL, &err), 0);
    assert_int_equal(jk_pg_exec(db, "BEGIN", &err), 0);
    assert_int_equal(jk_pg_pipeline_begin(db, &err), 0);
    assert_int_equal(jk_pg_pipeline_end(db, 0, NULL, &err), 0);
    prepared_name(db, upsert_sql, name);
    assert_string_equal(name, "");
    assert_int_equal(jk_pg_exec(db, "COMMIT", &err), 0);
    assert_int_equal(jk_pg_pipeline_begin(db, &err), 0);
    assert_int_equal(jk_pg_pipeline_end(db, 0, NULL, &err), 0);
    prepared_name(db, upsert_sql, name);
    assert_string_equal(name, "jk_s0");
    disconnect(db);
}

/* A statement PostgreSQL refuses fails with its own error, is not kept, and leaves the
 * connection usable; a reset connection prepares again. */
static void errors_and_reset(void **state)
{
    (void)state;
    PGconn *db = connect_db();
    jk_err_t err;
    char bad[256];
    snprintf(bad, sizeof bad, "INSERT INTO %s.missing (k) VALUES ($1)", schema);
    const char *one[1] = {"a"};
    assert_int_equal(jk_pg_run(db, bad, 1, one, &err), -1);
    assert_non_null(strstr(err.msg, "missing\" does not exist"));
    assert_int_equal(prepared_count(db), 0);
    const char *a[2] = {"{a}", "{1}"};
    assert_int_equal(jk_pg_run(db, insert_sql, 2, a, &err), 0);
    char name[64];
    prepared_name(db, insert_sql, name);
    assert_string_equal(name, "jk_s0");
    /* A type error at run time (not at prepare time) is the run's error. */
    const char *nan[2] = {"{b}", "{x}"};
    assert_int_equal(jk_pg_run(db, insert_sql, 2, nan, &err), -1);
    assert_non_null(strstr(err.msg, "invalid input syntax for type bigint"));
    PQreset(db);
    assert_int_equal(PQstatus(db), CONNECTION_OK);
    assert_int_equal(prepared_count(db), 0);
    assert_int_equal(jk_pg_run(db, insert_sql, 2, a, &err), 0);
    prepared_name(db, insert_sql, name);
    assert_string_equal(name, "jk_s0");
    assert_int_equal(rows_in(db, "t"), 2);
    disconnect(db);
}

/* At most 128 statements are kept per connection; more still run, unnamed. */
static void bounded(void **state)
{
    (void)state;
    PGconn *db = connect_db();
    jk_err_t err;
    for (int i = 0; i < 130; i++) {
        char sql[256], v[16];
        snprintf(sql, sizeof sql, "INSERT INTO %s.t (k, v) VALUES ($1, %d)", schema, i);
        snprintf(v, sizeof v, "k%d", i);
        const char *p[1] = {v};
        assert_int_equal(jk_pg_run(db, sql, 1, p, &err), 0);
    }
    assert_int_equal(prepared_count(db), 128);
    assert_int_equal(rows_in(db, "t"), 130);
    assert_int_equal(value(db, "SELECT sum(v) FROM %s.t", schema), 129 * 130 / 2);
    disconnect(db);
}

/* A pipeline sent may take a second part before its answers are read: each part is answered up
 * to its own sync, in order; the second sees what the first committed, and a part that fails
 * does not stop the next. More may be queued only in pipeline mode with nothing waiting to be
 * prepared. */
static void pipeline_in_parts(void **state)
{
    (void)state;
    PGconn *db = connect_db();
    jk_err_t err;
    const char *a[2] = {"{a,b}", "{1,2}"}, *nan[2] = {"{c}", "{x}"};
    PGresult *keep[2];
    assert_int_equal(jk_pg_pipeline_more(db), 0);
    assert_int_equal(jk_pg_pipeline_begin(db, &err), 0);
    assert_int_equal(jk_pg_run(db, insert_sql, 2, a, &err), 0);
    assert_int_equal(jk_pg_pipeline_send(db, &err), 0);
    /* insert_sql ran unnamed: it waits to be prepared. */
    assert_int_equal(jk_pg_pipeline_more(db), 0);
    assert_int_equal(jk_pg_pipeline_read(db, 0, NULL, &err), 0);
    assert_int_equal(PQpipelineStatus(db), PQ_PIPELINE_OFF);

    assert_int_equal(jk_pg_pipeline_begin(db, &err), 0);
    assert_int_equal(jk_pg_run(db, "BEGIN", 0, NULL, &err), 0);
    assert_int_equal(jk_pg_run(db, insert_sql, 2, a, &err), 0);
    assert_int_equal(jk_pg_run(db, "COMMIT", 0, NULL, &err), 0);
    assert_int_equal(jk_pg_pipeline_send(db, &err), 0);
    assert_int_equal(jk_pg_pipeline_more(db), 1);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.t", schema);
    assert_int_equal(PQsendQueryParams(db, sql, 0, NULL, NULL, NULL, NULL, 0), 1);
    assert_int_equal(jk_pg_pipeline_send(db, &err), 0);
    assert_int_equal(jk_pg_pipeline_read_sync(db, 0, NULL, &err), 0);
    assert_int_equal(PQpipelineStatus(db), PQ_PIPELINE_ON);
    assert_int_equal(jk_pg_pipeline_read(db, 1, keep, &err), 0);
    assert_non_null(keep[0]);
    assert_string_equal(PQgetvalue(keep[0], 0, 0), "4");
    PQclear(keep[0]);
    assert_int_equal(PQpipelineStatus(db), PQ_PIPELINE_OFF);

    assert_int_equal(jk_pg_pipeline_begin(db, &err), 0);
    assert_int_equal(jk_pg_run(db, insert_sql, 2, nan, &err), 0);
    assert_int_equal(jk_pg_pipeline_send(db, &err), 0);
    assert_int_equal(PQsendQueryParams(db, sql, 0, NULL, NULL, NULL, NULL, 0), 1);
    assert_int_equal(jk_pg_pipeline_send(db, &err), 0);
    assert_int_equal(jk_pg_pipeline_read_sync(db, 0, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "invalid input syntax for type bigint"));
    assert_int_equal(jk_pg_pipeline_read(db, 1, keep, &err), 0);
    assert_string_equal(PQgetvalue(keep[0], 0, 0), "4");
    PQclear(keep[0]);
    assert_int_equal(PQpipelineStatus(db), PQ_PIPELINE_OFF);
    assert_int_equal(rows_in(db, "t"), 4);
    disconnect(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(prepared_at_first_run, truncate_all, disconnect_all),
        cmocka_unit_test_setup_teardown(pipeline_prepares_afterwards, truncate_all, disconnect_all),
        cmocka_unit_test_setup_teardown(not_prepared_inside_a_transaction, truncate_all,
                                        disconnect_all),
        cmocka_unit_test_setup_teardown(errors_and_reset, truncate_all, disconnect_all),
        cmocka_unit_test_setup_teardown(bounded, truncate_all, disconnect_all),
        cmocka_unit_test_setup_teardown(pipeline_in_parts, truncate_all, disconnect_all),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
