/* national.c: `jukilog national`, the national server's projection (DOMAIN.md duty 4, 機構への
 * 照会; DESIGN.md "Tenancy": the national server is one more tenant, reading every prefecture's
 * national topic). It builds schema <ns>_national (national.sql): one row per resident code and
 * prefecture, indexed for lookups by my_number and by the normalised 4 information.
 *
 * Each prefecture's topic <ns>.<PP>.national is read by a consumer of its own, whose key registry
 * comes from that prefecture's admin topic (jk_consumer_open_prefecture): a notice counts only
 * when relay:<PP>, registered by <PP>'s admin, signed it. Per batch of one prefecture:
 *   1. each notice is checked (signature, source, form); the refused go to the rejections;
 *   2. the notices go by one COPY into a temporary table, and one merge statement moves each row
 *      forward to the batch's newest version, counting the notices that were not newer than what
 *      was there (re-forwarded copies after a relay crash, which carry the same change_id);
 *   3. the rows, the rejections and the partitions' next offsets commit in one transaction.
 * Rows only move forward, so the order between prefectures does not matter, and reading a
 * notice twice changes nothing. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jukilog/change.h"
#include "jukilog/cli.h"
#include "jukilog/codes.h"
#include "jukilog/consumer.h"
#include "jukilog/kafka.h"
#include "jukilog/pg.h"
#include "jukilog/position.h"

extern const char jk_sql_national[];

#define BATCH 5000
#define REDISCOVER_MS 5000

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* One prefecture's national topic and its verified consumer. */
struct pref {
    char code[3];
    char topic[128];
    char relay[16];    /* the only source of its notices: relay:<PP> */
    char consumer[24]; /* the name of its positions: national:<PP> */
    jk_consumer_t *cons;
};

struct national {
    jk_config_t cfg; /* the consumers point into it */
    char schema[64];
    PGconn *db;
    rd_kafka_t *meta; /* asks the broker for the topic list */
    struct pref *prefs;
    size_t nprefs, cap;
    jk_copy_t notices, rejects;
    long long n; /* notices queued in this batch */
    long long applied, stale, rejected;
};

static int pg_fail(jk_err_t *err, const char *what, PGresult *r)
{
    jk_err_set(err, "%s: %s", what, PQresultErrorMessage(r));
    err->msg[strcspn(err->msg, "\n")] = '\0';
    PQclear(r);
    return -1;
}

static int has_pref(const struct national *nt, const char *code)
{
    for (size_t i = 0; i < nt->nprefs; i++)
        if (strcmp(nt->prefs[i].code, code) == 0) return 1;
    return 0;
}

/* Opens the consumer of prefecture code's national topic at the stored position. */
static int open_pref(struct national *nt, const char *code, jk_err_t *err)
{
    if (nt->nprefs == nt->cap) {
        size_t cap = nt->cap ? nt->cap * 2 : 8;
        struct pref *np = realloc(nt->prefs, cap * sizeof *np);
        if (!np) return jk_err_set(err, "out of memory");
        nt->prefs = np;
        nt->cap = cap;
    }
    struct pref *pf = &nt->prefs[nt->nprefs];
    memset(pf, 0, sizeof *pf);
    snprintf(pf->code, sizeof pf->code, "%s", code);
    snprintf(pf->topic, sizeof pf->topic, "%s.%s.national", nt->cfg.ns, code);
    snprintf(pf->relay, sizeof pf->relay, "relay:%s", code);
    snprintf(pf->consumer, sizeof pf->consumer, "national:%s", code);
    pf->cons = jk_consumer_open_prefecture(&nt->cfg, code, err);
    if (!pf->cons) return jk_err_wrap(err, "prefecture %s", code);
    int rc = jk_position_restore(nt->db, nt->schema, pf->consumer, pf->cons, pf->topic, err);
    if (rc) {
        jk_consumer_close(pf->cons);
        return -1;
    }
    nt->nprefs++;
    return 0;
}

static int cmp_code(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Opens every national topic of the namespace not open yet: <ns>.<PP>.national in the broker's
 * metadata, PP a prefecture code. With `tolerant`, a prefecture that cannot be opened (its
 * admin topic not there yet) is reported on stderr and tried again next time. */
static int discover(struct national *nt, int tolerant, jk_err_t *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(nt->meta, 1, NULL, &md, 10000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return jk_err_set(err, "cannot list the broker's topics: %s", rd_kafka_err2str(e));
    char found[47][3];
    size_t nfound = 0, nslen = strlen(nt->cfg.ns);
    for (int i = 0; i < md->topic_cnt && nfound < 47; i++) {
        const char *t = md->topics[i].topic;
        if (strncmp(t, nt->cfg.ns, nslen) != 0 || t[nslen] != '.' ||
            strspn(t + nslen + 1, "0123456789") != 2 || strcmp(t + nslen + 3, ".national") != 0)
            continue;
        char code[3] = {t[nslen + 1], t[nslen + 2], '\0'};
        if (jk_prefecture_name(code) && !has_pref(nt, code)) memcpy(found[nfound++], code, 3);
    }
    rd_kafka_metadata_destroy(md);
    qsort(found, nfound, sizeof found[0], cmp_code);
    for (size_t i = 0; i < nfound; i++) {
        if (open_pref(nt, found[i], err) == 0) continue;
        if (!tolerant) return -1;
        fprintf(stderr, "jukilog national: %s (tried again later)\n", err->msg);
    }
    return 0;
}

static void reject(struct national *nt, const jk_record_t *r, const char *code, const char *detail)
{
    char where[48];
    snprintf(where, sizeof where, "p%do%lld", r->partition, (long long)r->offset);
    jk_copy_t *cp = &nt->rejects;
    jk_copy_text(cp, r->topic);
    jk_copy_int(cp, r->partition);
    jk_copy_int(cp, r->offset);
    jk_copy_text(cp, r->ev ? r->ev->id : where);
    jk_copy_text(cp, r->ev ? r->ev->source : NULL);
    jk_copy_text(cp, code);
    jk_copy_text(cp, detail);
    jk_copy_time(cp, r->broker_ms);
    jk_copy_end_row(cp);
    nt->rejected++;
}

/* The string member of obj, or NULL (and why) when it is missing, not a string, or empty. */
static const char *need(const json_t *obj, const char *where, const char *name, char *why, size_t n)
{
    const char *s = json_string_value(json_object_get(obj, name));
    if (!s || !*s) snprintf(why, n, "%s.%s must be a non-empty string", where, name);
    return s && *s ? s : NULL;
}

/* The record fields of persons, in its column order after resident_code, prefecture, status. */
static const char *const record_fields[] = {
    "my_number", "name", "name_kana", "birth_date", "sex", "address", "municipality_code"};

/* Checks a notice of pf and queues its rows; a malformed one is rejected. */
static void queue_notice(struct national *nt, const struct pref *pf, const jk_record_t *r)
{
    const jk_envelope_t *ev = r->ev;
    char why[256] = "";
    if (strcmp(ev->source, pf->relay) != 0) {
        snprintf(why, sizeof why, "the national topic of %s carries only %s's notices, not %s's",
                 pf->code, pf->relay, ev->source);
        reject(nt, r, "wrong_source", why);
        return;
    }
    const json_t *d = ev->data, *rec = json_object_get(ev->data, "record");
    json_t *ver = json_object_get(d, "version");
    const char *change = NULL, *reason = NULL, *eff = NULL, *bt = NULL, *code = NULL,
               *status = NULL, *prev = NULL, *vals[7] = {0};
    int64_t bt_ms = 0;
    if (strcmp(ev->type, "national.notified") != 0)
        snprintf(why, sizeof why, "type %s is not national.notified", ev->type);
    else if (!json_is_object(d) || !json_is_object(rec))
        snprintf(why, sizeof why, "data and data.record must be objects");
    else if (!json_is_integer(ver) || json_integer_value(ver) < 1)
        snprintf(why, sizeof why, "data.version must be an integer >= 1");
    else if ((change = need(d, "data", "change_id", why, sizeof why)) &&
             (reason = need(d, "data", "reason", why, sizeof why)) &&
             (eff = need(d, "data", "effective_date", why, sizeof why)) &&
             (bt = need(d, "data", "broker_time", why, sizeof why)) &&
             (code = need(rec, "data.record", "resident_code", why, sizeof why)) &&
             (status = need(rec, "data.record", "status", why, sizeof why))) {
        prev = json_string_value(json_object_get(d, "previous_resident_code"));
        for (size_t k = 0; k < 7 && !why[0]; k++) {
            vals[k] = json_string_value(json_object_get(rec, record_fields[k]));
            if (!vals[k] && strcmp(record_fields[k], "name_kana") != 0)
                need(rec, "data.record", record_fields[k], why, sizeof why);
        }
        if (!why[0]) {
            if (!jk_reason_find(reason))
                snprintf(why, sizeof why, "data.reason \"%.40s\" is not a change reason", reason);
            else if (jk_time_parse(bt, &bt_ms))
                snprintf(why, sizeof why, "data.broker_time \"%.40s\" is not an RFC 3339 time", bt);
            else if (!jk_code_resident_valid(code))
                snprintf(why, sizeof why, "data.record.resident_code \"%.20s\" is not valid", code);
            else if (strcmp(status, "resident") != 0 && strcmp(status, "removed") != 0)
                snprintf(why, sizeof why, "data.record.status must be resident or removed");
            else if (strncmp(vals[6], pf->code, 2) != 0)
                snprintf(why, sizeof why, "municipality %.10s is not in prefecture %s", vals[6],
                         pf->code);
            else if (prev && (strcmp(reason, "resident_code_change") != 0 ||
                              !jk_code_resident_valid(prev) || strcmp(prev, code) == 0))
                snprintf(
                    why, sizeof why,
                    "data.previous_resident_code belongs to a resident_code_change, as a valid "
                    "code other than the record's");
        }
    }
    if (why[0]) {
        reject(nt, r, "invalid_format", why);
        return;
    }
    /* The notice's own row, and for a resident_code_change the retired code's row. */
    for (int derived = 0; derived <= (prev ? 1 : 0); derived++) {
        jk_copy_t *cp = &nt->notices;
        jk_copy_int(cp, nt->n);
        jk_copy_text(cp, derived ? "t" : "f");
        jk_copy_text(cp, derived ? prev : code);
        jk_copy_text(cp, pf->code);
        jk_copy_text(cp, derived ? "removed" : status);
        for (size_t k = 0; k < 7; k++)
            jk_copy_text(cp, vals[k]);
        jk_copy_text(cp, reason);
        jk_copy_text(cp, eff);
        jk_copy_int(cp, (long long)json_integer_value(ver));
        jk_copy_text(cp, change);
        jk_copy_time(cp, bt_ms);
        jk_copy_text(cp, derived ? code : NULL);
        jk_copy_end_row(cp);
    }
    nt->n++;
}

/* The merge: every batch row that is newer than both the stored row and the batch's earlier rows
 * of its key is fresh; the newest fresh row per key is written. Returns applied and stale counts
 * of the notices' own rows (a retired code's row is part of its notice). */
static const char merge_sql[] =
    "WITH b AS ("
    " SELECT nb.*, max(version) OVER (PARTITION BY resident_code, prefecture ORDER BY n"
    "  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before FROM national_batch nb),"
    " c AS ("
    " SELECT b.*, b.version > greatest(coalesce(p.version, 0), coalesce(b.before, 0)) AS fresh"
    " FROM b LEFT JOIN %1$s.persons p"
    "  ON p.resident_code = b.resident_code AND p.prefecture = b.prefecture),"
    " w AS ("
    " SELECT DISTINCT ON (resident_code, prefecture) * FROM c WHERE fresh"
    " ORDER BY resident_code, prefecture, version DESC, n DESC),"
    " up AS ("
    " INSERT INTO %1$s.persons SELECT resident_code, prefecture, status, my_number, name,"
    " name_kana, birth_date, sex, address, municipality_code, reason, effective_date, version,"
    " change_id, broker_time, new_resident_code FROM w"
    " ON CONFLICT (resident_code, prefecture) DO UPDATE SET status = EXCLUDED.status,"
    " my_number = EXCLUDED.my_number, name = EXCLUDED.name, name_kana = EXCLUDED.name_kana,"
    " birth_date = EXCLUDED.birth_date, sex = EXCLUDED.sex, address = EXCLUDED.address,"
    " municipality_code = EXCLUDED.municipality_code, reason = EXCLUDED.reason,"
    " effective_date = EXCLUDED.effective_date, version = EXCLUDED.version,"
    " change_id = EXCLUDED.change_id, broker_time = EXCLUDED.broker_time,"
    " new_resident_code = EXCLUDED.new_resident_code"
    " WHERE persons.version < EXCLUDED.version RETURNING 1)"
    " SELECT count(*) FILTER (WHERE fresh AND NOT derived),"
    " count(*) FILTER (WHERE NOT fresh AND NOT derived), (SELECT count(*) FROM up) FROM c";

/* COPY rows into a temporary table shaped like `like` (plus `extra` columns first), then one
 * statement from it. */
static int via_temp(PGconn *db, const char *temp, const char *extra, const char *like,
                    jk_copy_t *cp, const char *then, jk_err_t *err)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "CREATE TEMP TABLE IF NOT EXISTS %s (%s LIKE %s) ON COMMIT DELETE ROWS", temp, extra,
             like);
    if (jk_pg_exec(db, sql, err)) return -1;
    snprintf(sql, sizeof sql, "COPY %s FROM STDIN", temp);
    if (jk_pg_copy(db, sql, cp, err)) return -1;
    return then ? jk_pg_exec(db, then, err) : 0;
}

/* Writes pf's batch in one transaction: rejections, rows, offsets, chain heads. */
static int write_batch(struct national *nt, struct pref *pf, jk_err_t *err)
{
    char sql[4096], like[96];
    const char *s = nt->schema;
    if (jk_pg_exec(nt->db, "BEGIN", err)) return -1;
    snprintf(sql, sizeof sql, "COPY %s.rejections FROM STDIN", s);
    if (jk_pg_copy(nt->db, sql, &nt->rejects, err)) goto fail;
    if (nt->notices.rows) {
        snprintf(like, sizeof like, "%s.persons", s);
        if (via_temp(nt->db, "national_batch", "n bigint, derived boolean,", like, &nt->notices,
                     NULL, err))
            goto fail;
        snprintf(sql, sizeof sql, merge_sql, s);
        PGresult *r = PQexec(nt->db, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            pg_fail(err, "merging notices", r);
            goto fail;
        }
        nt->applied += atoll(PQgetvalue(r, 0, 0));
        nt->stale += atoll(PQgetvalue(r, 0, 1));
        PQclear(r);
    }
    if (jk_position_store(nt->db, s, pf->consumer, pf->cons, err)) goto fail;
    return jk_pg_exec(nt->db, "COMMIT", err);
fail:
    jk_pg_exec(nt->db, "ROLLBACK", NULL);
    return -1;
}

static int run_batch(struct national *nt, struct pref *pf, const jk_batch_t *b, jk_err_t *err)
{
    nt->n = 0;
    for (size_t i = 0; i < b->n; i++) {
        const jk_record_t *r = &b->recs[i];
        if (r->status == JK_REC_INVALID)
            reject(nt, r, "invalid_format", r->error);
        else if (r->status == JK_REC_BAD_SIGNATURE)
            reject(nt, r, "bad_signature", r->error);
        else /* a fork is the relay's fault, not the notice's: it is signed (`jukilog verify`) */
            queue_notice(nt, pf, r);
    }
    int rc = write_batch(nt, pf, err);
    /* On failure the buffers still hold rows: the program stops, nothing is reused. */
    return rc;
}

/* Parses --prefectures PP,PP,...: each a prefecture code, no repeats. */
static int parse_prefectures(const char *list, char codes[47][3], size_t *n, jk_err_t *err)
{
    *n = 0;
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        char code[3] = "";
        if (len == 2) memcpy(code, p, 2);
        if (len != 2 || !jk_prefecture_name(code))
            return jk_err_set(err, "--prefectures: \"%.*s\" is not a prefecture code (01..47)",
                              (int)len, p);
        for (size_t i = 0; i < *n; i++)
            if (strcmp(codes[i], code) == 0)
                return jk_err_set(err, "--prefectures: %s is named twice", code);
        memcpy(codes[(*n)++], code, 3);
        if (p[len] == '\0') return 0;
        p += len + 1;
    }
}

static int all_caught_up(const struct national *nt)
{
    for (size_t i = 0; i < nt->nprefs; i++)
        if (!jk_consumer_caught_up(nt->prefs[i].cons)) return 0;
    return 1;
}

static const char usage_text[] =
    "usage: jukilog national [--until-caught-up] [--prefectures PP,PP,...] [-X key=value]...\n"
    "\n"
    "The national server's projection: reads every prefecture's national topic of the\n"
    "namespace (<ns>.<PP>.national, found in the broker's metadata and looked for again\n"
    "every 5 seconds while following) and builds, in PostgreSQL schema <ns>_national,\n"
    "the table persons: one row per resident code and prefecture, the record as that\n"
    "prefecture last notified it (status resident or removed), indexed by my_number and\n"
    "by the normalised 4 information. A row only moves forward: a notice whose version\n"
    "is not newer than the row's changes nothing (counted as stale). A code retired by\n"
    "resident_code_change becomes removed, with reason resident_code_change and\n"
    "new_resident_code naming its successor.\n"
    "\n"
    "Each topic is verified against its own prefecture's key registry (its admin topic);\n"
    "the admin key pinned is $JUKILOG_HOME/keys/admin.pub for JUKILOG_PREFECTURE and\n"
    "$JUKILOG_HOME/keys/anchors/<PP>.pub for another prefecture when that file exists\n"
    "(else the admin topic's first self-registration). Notices that fail the signature,\n"
    "come from any source but relay:<PP>, or are malformed go to the table rejections.\n"
    "Rows and positions are written in one transaction per batch: exactly once.\n"
    "  --until-caught-up     stop once every topic is read up to where it ended at the start\n"
    "  --prefectures PP,...  only these prefectures' topics (each must exist)\n"
    "Prints {\"applied\":N,\"stale\":N,\"rejected\":N,\"seconds\":S} at the end, and progress\n"
    "on stderr every 5 seconds.\n";

int cmd_national(int argc, char **argv)
{
    static const struct option opts[] = {
        {"until-caught-up", no_argument, NULL, 'u'},
        {"prefectures", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "national";
    struct national nt;
    memset(&nt, 0, sizeof nt);
    jk_err_t err;
    if (jk_config_load(&nt.cfg, &err)) return jk_cli_fail(cmd, &err);
    int until = 0, c, rc = JK_EXIT_ERROR;
    char only[47][3];
    size_t nonly = 0;
    const char *list = NULL;
    jk_batch_t b = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:up:h", opts, NULL)) != -1) {
        if (c == 'u')
            until = 1;
        else if (c == 'p')
            list = optarg;
        else if ((rc = jk_cli_option(c, argv, cmd, &nt.cfg, usage_text)) != JK_CLI_NEXT)
            goto out;
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    if (list && parse_prefectures(list, only, &nonly, &err)) {
        rc = jk_cli_usage(cmd, "%s", err.msg);
        goto out;
    }
    snprintf(nt.schema, sizeof nt.schema, "%s_national", nt.cfg.ns);
    nt.db = jk_pg_connect(&nt.cfg, &err);
    if (!nt.db || jk_pg_script(nt.db, jk_sql_journal, nt.schema, &err) ||
        jk_pg_script(nt.db, jk_sql_national, nt.schema, &err))
        goto fail;
    if (list) {
        for (size_t i = 0; i < nonly; i++)
            if (open_pref(&nt, only[i], &err)) goto fail;
    } else {
        nt.meta = jk_kafka_client(&nt.cfg, RD_KAFKA_PRODUCER, NULL, &err);
        if (!nt.meta || discover(&nt, 0, &err)) goto fail;
    }

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int64_t started = jk_now_ms(), last_report = started, last_discovery = started;
    long long last_total = 0;
    while (!stop_requested && !(until && all_caught_up(&nt))) {
        int64_t now = jk_now_ms();
        if (!until && nt.meta && now - last_discovery >= REDISCOVER_MS) {
            if (discover(&nt, 1, &err)) goto fail;
            last_discovery = now;
        }
        if (nt.nprefs == 0) {
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        /* Round robin; a prefecture with nothing new costs a short wait. */
        int wait_ms = nt.nprefs > 4 ? 20 : 100;
        for (size_t i = 0; i < nt.nprefs && !stop_requested; i++) {
            struct pref *pf = &nt.prefs[i];
            if (until && jk_consumer_caught_up(pf->cons)) continue;
            if (jk_consumer_poll(pf->cons, &b, BATCH, wait_ms, &err)) goto fail;
            if (b.n == 0 && b.duplicates == 0) continue;
            if (run_batch(&nt, pf, &b, &err)) goto fail;
        }
        now = jk_now_ms();
        long long total = nt.applied + nt.stale + nt.rejected;
        if (now - last_report >= 5000 && total != last_total) {
            fprintf(stderr, "national: %zu prefectures, %lld notices, %.0f/s\n", nt.nprefs, total,
                    total * 1000.0 / (double)(now - started));
            last_report = now;
            last_total = total;
        }
    }
    double secs = (double)(jk_now_ms() - started) / 1000.0;
    printf("{\"applied\":%lld,\"stale\":%lld,\"rejected\":%lld,\"seconds\":%.3f}\n", nt.applied,
           nt.stale, nt.rejected, secs);
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    jk_batch_free(&b);
    for (size_t i = 0; i < nt.nprefs; i++)
        jk_consumer_close(nt.prefs[i].cons);
    free(nt.prefs);
    if (nt.meta) rd_kafka_destroy(nt.meta);
    jk_copy_free(&nt.notices);
    jk_copy_free(&nt.rejects);
    if (nt.db) PQfinish(nt.db);
    jk_config_free(&nt.cfg);
    return rc;
}
