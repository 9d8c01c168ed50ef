/* relay.c: `jukilog relay`, the notice of every accepted change to the national server
 * (DOMAIN.md, duty 1-③): one national.notified event per change the projector applied, in the
 * order it applied them, on the tenant's national topic.
 *
 * Exactly once, in the projector's manner: a batch of notices is spooled durably, then the
 * relay's position is committed, then the spool is sent. A crash before the commit forwards the
 * batch again; each notice's id is derived from its change's id, so the copies are duplicates
 * that the national side drops. A crash after the commit leaves the notices in the spool, and the
 * next start sends them first. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jukilog/cli.h"
#include "jukilog/envelope.h"
#include "jukilog/pg.h"
#include "jukilog/producer.h"

extern const char jk_sql_relay[];

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static const char *const columns[] = {"my_number", "name",    "name_kana",         "birth_date",
                                      "sex",       "address", "municipality_code", "status"};

/* Forwards up to `limit` changes after the stored position. Returns the number forwarded, or -1. */
static long forward_batch(PGconn *db, const char *schema, jk_producer_t *p, const char *topic,
                          int limit, jk_err_t *err)
{
    char sql[1024];
    snprintf(
        sql, sizeof sql,
        "SELECT e.n, e.event_id, e.source, e.reason, to_char(e.broker_time AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), h.version_code, h.version, h.effective_date, "
        "h.my_number, h.name, h.name_kana, h.birth_date, h.sex, h.address, h.municipality_code, "
        "h.status, e.resident_code "
        "FROM %1$s.events e JOIN %1$s.history h ON h.event_id = e.event_id "
        "WHERE e.outcome = 'applied' "
        "AND e.n > coalesce((SELECT last_n FROM %1$s.relay_position), 0) "
        "ORDER BY e.n LIMIT %2$d",
        schema, limit);
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        jk_err_set(err, "reading accepted changes: %s", PQresultErrorMessage(r));
        err->msg[strcspn(err->msg, "\n")] = '\0';
        PQclear(r);
        return -1;
    }
    int n = PQntuples(r);
    long long last = 0;
    for (int i = 0; i < n; i++) {
        const char *change = PQgetvalue(r, i, 1), *code = PQgetvalue(r, i, 5);
        char seed[80], h[65], id[33];
        snprintf(seed, sizeof seed, "national:%s", change);
        jk_sha256_hex(seed, strlen(seed), h);
        memcpy(id, h, 32);
        id[32] = '\0';
        json_t *record = json_object();
        json_object_set_new(record, "resident_code", json_string(code));
        for (size_t k = 0; k < sizeof columns / sizeof columns[0]; k++)
            if (!PQgetisnull(r, i, 8 + (int)k))
                json_object_set_new(record, columns[k], json_string(PQgetvalue(r, i, 8 + (int)k)));
        json_t *data =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:o}", "change_id", change, "source",
                      PQgetvalue(r, i, 2), "reason", PQgetvalue(r, i, 3), "effective_date",
                      PQgetvalue(r, i, 7), "broker_time", PQgetvalue(r, i, 4), "version",
                      (json_int_t)atoll(PQgetvalue(r, i, 6)), "record", record);
        /* A resident_code_change's record carries the new code; the national side also needs
         * the old one, to retire the record filed under it. */
        const char *old = PQgetvalue(r, i, 16);
        if (data && strcmp(PQgetvalue(r, i, 3), "resident_code_change") == 0 && old[0] &&
            strcmp(old, code) != 0)
            json_object_set_new(data, "previous_resident_code", json_string(old));
        if (!data ||
            jk_producer_append_id(p, id, topic, code, "national.notified", code, data, err)) {
            PQclear(r);
            return data ? -1 : jk_err_set(err, "out of memory");
        }
        last = atoll(PQgetvalue(r, i, 0));
    }
    PQclear(r);
    if (n == 0) return 0;
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.relay_position (last_n) VALUES (%lld) "
             "ON CONFLICT (one) DO UPDATE SET last_n = EXCLUDED.last_n",
             schema, last);
    /* Spool durable, then the position, then the wire. */
    if (jk_producer_sync(p, err) || jk_pg_exec(db, sql, err) || jk_producer_flush(p, err))
        return -1;
    return n;
}

static const char cmd_relay_help[] =
    "usage: jukilog relay [--until-caught-up] [-X key=value]...\n"
    "\n"
    "Forwards every change the projector accepted to the national server, as one\n"
    "national.notified event each (the change's id, source, reason, effective date,\n"
    "the record after it, and for resident_code_change the previous_resident_code) on\n"
    "the tenant's national topic, in the order the projector applied them, exactly\n"
    "once. With --until-caught-up it stops when every accepted change so far is\n"
    "forwarded; otherwise it keeps following. Prints a summary line (JSON) at the end.\n";

int cmd_relay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"until-caught-up", no_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "relay";
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    int until = 0, c, rc = JK_EXIT_ERROR;
    PGconn *db = NULL;
    EVP_PKEY *key = NULL;
    jk_producer_t *p = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:uh", opts, NULL)) != -1) {
        if (c == 'u')
            until = 1;
        else if ((rc = jk_cli_option(c, argv, cmd, &cfg, cmd_relay_help)) != JK_CLI_NEXT) {
            goto out;
        }
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    char schema[64], topic[128], source[64];
    jk_config_schema(&cfg, schema, sizeof schema);
    jk_config_topic(&cfg, "national", topic, sizeof topic);
    snprintf(source, sizeof source, "relay:%s", cfg.prefecture);
    db = jk_pg_connect(&cfg, &err);
    if (!db || jk_pg_script(db, jk_sql_relay, schema, &err)) goto fail;
    key = jk_cli_source_key(&cfg, source, &err);
    p = key ? jk_producer_open(&cfg, source, key, &err) : NULL;
    /* Notices a crash left in the spool go out first. */
    if (!p || jk_producer_flush(p, &err)) goto fail;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    long long total = 0;
    int64_t started = jk_now_ms();
    while (!stop_requested) {
        long n = forward_batch(db, schema, p, topic, 5000, &err);
        if (n < 0) goto fail;
        total += n;
        if (n == 0) {
            if (until) break;
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    double secs = (double)(jk_now_ms() - started) / 1000.0;
    printf("{\"forwarded\":%lld,\"seconds\":%.3f}\n", total, secs);
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    jk_producer_close(p);
    EVP_PKEY_free(key);
    if (db) PQfinish(db);
    jk_config_free(&cfg);
    return rc;
}
