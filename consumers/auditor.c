/* auditor.c: `jukilog auditor`, the audit views (DOMAIN.md "Controls": every use is recorded,
 * including refused attempts) built from the operations and admin topics into the tenant's
 * schema (auditor.sql), exactly once like the projector.
 *
 * It reads the admin topic (assigned first, so that at equal broker times an admin event comes
 * before a request: DESIGN.md "Inquiries") and the operations topic in the consumer's one order,
 * and per batch:
 *   1. drops events it processed before (by id: the provider may append a record again after a
 *      crash, with the same id; the first wins);
 *   2. applies the admin topic's operator events to the operator registry (projections/
 *      operators.c), which gives each request its operator's department at the request's time;
 *   3. classifies each operations event: request (from op:<id>), provision or refusal (from
 *      provider:<pref>), the auditor's own operations (from auditor:<pref>), anything else
 *      recorded as ignored with the reason, and events that are not well-formed or not
 *      authentic as unverified;
 *   4. writes every row by COPY, with the partitions' next offsets and the chain heads, in one
 *      transaction.
 * The registry lives in memory; its events are kept in audit_admin and replayed on start. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "jukilog/audit.h"
#include "jukilog/cli.h"
#include "jukilog/consumer.h"
#include "jukilog/operators.h"
#include "jukilog/pg.h"
#include "jukilog/position.h"
#include "jukilog/purposes.h"
#include "jukilog/strmap.h"

extern const char jk_sql_auditor[];
extern const char jk_sql_auditor_drop[];

#define CONSUMER "auditor"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct auditor {
    jk_config_t cfg;
    char schema[64];
    char ops_topic[128], admin_topic[128];
    char provider[64], auditor_source[64];
    PGconn *db;
    jk_consumer_t *cons;
    jk_operators_t *registry;
    jk_catalogue_t *catalogue;

    jk_copy_t events, admin, requests, records, actions, items;
    long long next_n;
    long long processed, requests_n, provisions, refusals, actions_n, ignored, unverified,
        duplicates;
};

static const char *str(const json_t *d, const char *k)
{
    return json_string_value(json_object_get(d, k));
}

static void event_row(struct auditor *au, const jk_record_t *r, const char *id, long long n,
                      const char *outcome, const char *detail)
{
    jk_copy_t *cp = &au->events;
    jk_copy_text(cp, id);
    jk_copy_int(cp, n);
    jk_copy_text(cp, strcmp(r->topic, au->admin_topic) == 0 ? "admin" : "operations");
    jk_copy_text(cp, r->ev ? r->ev->type : NULL);
    jk_copy_text(cp, r->ev ? r->ev->source : NULL);
    jk_copy_text(cp, outcome);
    jk_copy_text(cp, detail);
    jk_copy_time(cp, r->broker_ms);
    jk_copy_time(cp, r->log_ms);
    jk_copy_int(cp, r->partition);
    jk_copy_int(cp, r->offset);
    jk_copy_end_row(cp);
}

/* An operator event of the admin topic: into the registry, and kept for the next start. */
static int admin_event(struct auditor *au, const jk_record_t *r, long long n, const char **detail,
                       jk_err_t *why)
{
    int rc = jk_operators_apply(au->registry, r->ev, r->log_ms, why);
    if (rc == 1) return 0; /* not an operator event */
    if (rc < 0) {
        *detail = why->msg;
        return 0;
    }
    char *data = json_dumps(r->ev->data, JSON_SORT_KEYS | JSON_COMPACT);
    if (!data) return -1;
    jk_copy_int(&au->admin, n);
    jk_copy_text(&au->admin, r->ev->id);
    jk_copy_text(&au->admin, r->ev->type);
    jk_copy_text(&au->admin, r->ev->source);
    jk_copy_text(&au->admin, data);
    jk_copy_time(&au->admin, r->log_ms);
    jk_copy_end_row(&au->admin);
    free(data);
    return 0;
}

static void request_row(struct auditor *au, const jk_record_t *r, long long n)
{
    const jk_envelope_t *ev = r->ev;
    const char *op = ev->source + 3;
    const char *purpose = str(ev->data, "purpose");
    jk_operator_view_t v;
    const char *refusal = NULL;
    int known = jk_operators_check(au->registry, op, r->log_ms, NULL, NULL, &v, &refusal) == 0;
    const jk_purpose_t *p = purpose ? jk_catalogue_find(au->catalogue, purpose) : NULL;
    jk_copy_t *cp = &au->requests;
    jk_copy_text(cp, ev->id);
    jk_copy_int(cp, n);
    jk_copy_text(cp, ev->type + strlen("request."));
    jk_copy_text(cp, op);
    jk_copy_text(cp, known ? v.department : NULL);
    jk_copy_text(cp, purpose);
    jk_copy_text(cp, p ? p->category : NULL);
    jk_copy_time(cp, r->broker_ms);
    jk_copy_end_row(cp);
}

/* A provision or refusal: checked field by field; *why names the first field that is wrong. */
static int record_row(struct auditor *au, const jk_record_t *r, long long n, int provision,
                      jk_err_t *why)
{
    const json_t *d = r->ev->data;
    const char *request_id = str(d, "request_id"), *request_type = str(d, "request_type");
    const char *op = str(d, "operator"), *t = str(d, "request_time");
    const json_t *dep = json_object_get(d, "department"), *cat = json_object_get(d, "category");
    const json_t *res = json_object_get(d, "residents"), *nat = json_object_get(d, "national");
    int64_t ms = 0;
    if (!request_id || !request_type || !op)
        return jk_err_set(why, "data.request_id, request_type and operator must be strings");
    if (!t || jk_time_parse(t, &ms))
        return jk_err_set(why, "data.request_time must be an RFC 3339 time");
    if ((dep && !json_is_string(dep) && !json_is_null(dep)) ||
        (cat && !json_is_string(cat) && !json_is_null(cat)))
        return jk_err_set(why, "data.department and category must be strings or null");
    if (provision && (!json_is_string(dep) || !json_is_string(cat)))
        return jk_err_set(why, "data.department and category of a provision must be strings");
    if (nat ? !json_is_boolean(nat) : provision)
        return jk_err_set(why, "data.national must be a boolean");
    if (!json_is_array(res)) return jk_err_set(why, "data.residents must be an array");
    size_t nres = json_array_size(res);
    const char **codes = malloc((nres ? nres : 1) * sizeof *codes);
    if (!codes) return jk_err_set(why, "out of memory");
    for (size_t i = 0; i < nres; i++)
        if ((codes[i] = json_string_value(json_array_get(res, i))) == NULL) {
            free(codes);
            return jk_err_set(why, "data.residents[%zu] must be a string", i);
        }
    const json_t *count = json_object_get(d, "count");
    if (provision && !json_is_integer(count)) {
        free(codes);
        return jk_err_set(why, "data.count must be an integer");
    }
    const char *reason = str(d, "reason");
    if (!provision && !reason) {
        free(codes);
        return jk_err_set(why, "data.reason must be a string");
    }
    char *arr = jk_pg_array(codes, nres);
    free(codes);
    if (!arr) return jk_err_set(why, "out of memory");
    int national = json_is_true(nat);
    char date[11];
    jk_audit_jst_date(ms, date);
    jk_copy_t *cp = &au->records;
    jk_copy_text(cp, r->ev->id);
    jk_copy_int(cp, n);
    jk_copy_text(cp, provision ? "provision" : "refusal");
    jk_copy_text(cp, r->ev->type);
    jk_copy_text(cp, request_id);
    jk_copy_text(cp, request_type);
    jk_copy_text(cp, op);
    jk_copy_text(cp, json_string_value(dep));
    jk_copy_text(cp, str(d, "purpose"));
    jk_copy_text(cp, json_string_value(cat));
    jk_copy_text(cp, jk_audit_stats_category(request_type, national, json_string_value(cat)));
    jk_copy_text(cp, national ? "t" : "f");
    jk_copy_text(cp, reason);
    jk_copy_text(cp, str(d, "detail"));
    jk_copy_text(cp, arr);
    free(arr);
    const char *ints[3] = {"count", "matched", "unmatched"};
    for (int i = 0; i < 3; i++) {
        const json_t *v = json_object_get(d, ints[i]);
        if (json_is_integer(v) && provision)
            jk_copy_int(cp, json_integer_value(v));
        else
            jk_copy_text(cp, NULL);
    }
    jk_copy_time(cp, ms);
    jk_copy_int(cp, jk_audit_fiscal_year(ms));
    jk_copy_text(cp, date);
    jk_copy_int(cp, jk_audit_jst_hour(ms));
    jk_copy_text(cp, jk_audit_off_hours(ms) ? "t" : "f");
    jk_copy_time(cp, r->broker_ms);
    jk_copy_end_row(cp);
    return 0;
}

/* The auditor's own operations (consumers/audit.c writes them). */
static int action_row(struct auditor *au, const jk_record_t *r, long long n, jk_err_t *why)
{
    const json_t *d = r->ev->data;
    const char *actor = str(d, "actor");
    if (!actor) return jk_err_set(why, "data.actor must be a string");
    const json_t *fy = json_object_get(d, "fiscal_year");
    int drawn = strcmp(r->ev->type, "audit.sample_drawn") == 0;
    const json_t *recs = json_object_get(d, "records");
    if (drawn && (!json_is_integer(fy) || !json_is_array(recs)))
        return jk_err_set(why, "data.fiscal_year and records of a draw are required");
    for (size_t i = 0; drawn && i < json_array_size(recs); i++) {
        const json_t *it = json_array_get(recs, i);
        if (!str(it, "record") || !str(it, "reviewer"))
            return jk_err_set(why, "data.records[%zu] must be {\"record\",\"reviewer\"}", i);
    }
    char *data = json_dumps(d, JSON_SORT_KEYS | JSON_COMPACT);
    if (!data) return jk_err_set(why, "out of memory");
    jk_copy_t *cp = &au->actions;
    jk_copy_text(cp, r->ev->id);
    jk_copy_int(cp, n);
    jk_copy_text(cp, r->ev->type);
    jk_copy_text(cp, actor);
    if (json_is_integer(fy))
        jk_copy_int(cp, json_integer_value(fy));
    else
        jk_copy_text(cp, NULL);
    jk_copy_text(cp, str(d, "record"));
    jk_copy_text(cp, str(d, "reviewer"));
    jk_copy_text(cp, str(d, "verdict"));
    jk_copy_text(cp, str(d, "note"));
    jk_copy_text(cp, data);
    jk_copy_time(cp, r->broker_ms);
    jk_copy_end_row(cp);
    free(data);
    for (size_t i = 0; drawn && i < json_array_size(recs); i++) {
        const json_t *it = json_array_get(recs, i);
        jk_copy_text(&au->items, r->ev->id);
        jk_copy_int(&au->items, json_integer_value(fy));
        jk_copy_text(&au->items, str(it, "record"));
        jk_copy_text(&au->items, str(it, "reviewer"));
        jk_copy_end_row(&au->items);
    }
    return 0;
}

static int apply_one(struct auditor *au, const jk_record_t *r, jk_err_t *err)
{
    long long n = au->next_n++;
    au->processed++;
    if (r->status == JK_REC_INVALID || r->status == JK_REC_BAD_SIGNATURE) {
        /* Not the source's event: it gets an id of its place, never the id it claims. */
        char where[200];
        snprintf(where, sizeof where, "%s@%d:%lld", r->topic, r->partition, (long long)r->offset);
        au->unverified++;
        event_row(au, r, where, n, "unverified", r->error);
        return 0;
    }
    const jk_envelope_t *ev = r->ev;
    jk_err_t why = {""};
    const char *outcome = "ignored", *detail = NULL;
    if (strcmp(r->topic, au->admin_topic) == 0) {
        if (admin_event(au, r, n, &detail, &why)) return jk_err_set(err, "out of memory");
        outcome = "admin";
    } else if (strncmp(ev->type, "request.", 8) == 0) {
        if (strncmp(ev->source, "op:", 3) == 0) {
            request_row(au, r, n);
            outcome = "request";
            au->requests_n++;
        } else {
            detail = "a request not signed by an operator (op:<id>)";
        }
    } else if (strncmp(ev->type, "provision.", 10) == 0 || strncmp(ev->type, "refusal.", 8) == 0) {
        int provision = ev->type[0] == 'p';
        if (strcmp(ev->source, au->provider) != 0) {
            detail = "a record not from the provider";
        } else if (record_row(au, r, n, provision, &why) == 0) {
            outcome = provision ? "provision" : "refusal";
            if (provision)
                au->provisions++;
            else
                au->refusals++;
        } else {
            detail = why.msg;
        }
    } else if (strncmp(ev->type, "audit.", 6) == 0) {
        if (strcmp(ev->source, au->auditor_source) != 0) {
            detail = "an audit operation not from the auditor";
        } else if (action_row(au, r, n, &why) == 0) {
            outcome = "audit";
            au->actions_n++;
        } else {
            detail = why.msg;
        }
    }
    if (strcmp(outcome, "ignored") == 0) au->ignored++;
    event_row(au, r, ev->id, n, outcome, detail);
    return 0;
}

static int copy_into(struct auditor *au, const char *table, jk_copy_t *cp, jk_err_t *err)
{
    if (cp->rows == 0) return 0;
    char sql[256];
    snprintf(sql, sizeof sql, "COPY %s.%s FROM STDIN", au->schema, table);
    return jk_pg_copy(au->db, sql, cp, err);
}

static int write_batch(struct auditor *au, jk_err_t *err)
{
    if (jk_pg_exec(au->db, "BEGIN", err)) return -1;
    if (copy_into(au, "audit_events", &au->events, err) ||
        copy_into(au, "audit_admin", &au->admin, err) ||
        copy_into(au, "audit_requests", &au->requests, err) ||
        copy_into(au, "audit_records", &au->records, err) ||
        copy_into(au, "audit_actions", &au->actions, err) ||
        copy_into(au, "audit_sample_items", &au->items, err) ||
        jk_position_store(au->db, au->schema, CONSUMER, au->cons, err) ||
        jk_pg_exec(au->db, "COMMIT", err)) {
        jk_pg_exec(au->db, "ROLLBACK", NULL);
        return -1;
    }
    return 0;
}

static int run_batch(struct auditor *au, jk_batch_t *b, jk_err_t *err)
{
    au->duplicates += (long long)b->duplicates;
    const char **ids = malloc((b->n + 1) * sizeof *ids);
    if (!ids) return jk_err_set(err, "out of memory");
    size_t nids = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->recs[i].ev && b->recs[i].status != JK_REC_BAD_SIGNATURE)
            ids[nids++] = b->recs[i].ev->id;
    jk_strmap_t *seen = jk_pg_ids_seen(au->db, au->schema, "audit_events", ids, nids, err);
    free(ids);
    int rc = seen ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        const jk_record_t *r = &b->recs[i];
        int authentic = r->ev && r->status != JK_REC_BAD_SIGNATURE;
        if (authentic && jk_strmap_get(seen, r->ev->id)) {
            au->duplicates++;
            continue;
        }
        rc = apply_one(au, r, err);
        if (rc == 0 && authentic && jk_strmap_put(seen, r->ev->id, seen))
            rc = jk_err_set(err, "out of memory");
    }
    jk_strmap_free(seen);
    return rc == 0 ? write_batch(au, err) : -1;
}

/* The processing number, the log clock and the operator registry where the stored position
 * left off. */
static int restore(struct auditor *au, jk_err_t *err)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(max(n), 0) + 1, "
             "coalesce((extract(epoch FROM max(log_time)) * 1000)::bigint, 0) FROM %s.audit_events",
             au->schema);
    PGresult *r = PQexec(au->db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        jk_err_set(err, "reading audit_events: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    au->next_n = atoll(PQgetvalue(r, 0, 0));
    jk_consumer_set_clock(au->cons, atoll(PQgetvalue(r, 0, 1)));
    PQclear(r);
    snprintf(sql, sizeof sql,
             "SELECT event_id, type, source, data, "
             "(extract(epoch FROM log_time) * 1000)::bigint FROM %s.audit_admin ORDER BY n",
             au->schema);
    r = PQexec(au->db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        jk_err_set(err, "reading audit_admin: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        json_error_t je;
        json_t *data = json_loads(PQgetvalue(r, i, 3), 0, &je);
        jk_envelope_t *ev =
            data ? jk_envelope_new(PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), NULL, data, err)
                 : NULL;
        if (!ev) {
            rc = jk_err_set(err, "audit_admin event %s cannot be read back", PQgetvalue(r, i, 0));
            break;
        }
        jk_err_t why;
        if (jk_operators_apply(au->registry, ev, atoll(PQgetvalue(r, i, 4)), &why) < 0)
            rc = jk_err_set(err, "audit_admin event %s: %s", PQgetvalue(r, i, 0), why.msg);
        jk_envelope_free(ev);
    }
    PQclear(r);
    return rc;
}

static const char usage_text[] =
    "usage: jukilog auditor [--until-caught-up] [--rebuild] [--batch N] [-X key=value]...\n"
    "\n"
    "Builds the audit views in PostgreSQL (schema <ns>_<pref>, tables audit_*) from the\n"
    "operations and admin topics, exactly once: each batch's rows and the partitions' next\n"
    "offsets are written in one transaction. Requests (with the operator's department at the\n"
    "request's time), provisions and refusals (with the fiscal year and JST hour of the\n"
    "request's broker time and the statistics category), and the auditor's own operations.\n"
    "Records are kept by event id: a copy of an id already read is dropped (the first wins).\n"
    "The `jukilog audit` commands read these views.\n"
    "  --until-caught-up  stop once the topics are read up to where they ended at the start\n"
    "  --rebuild          drop the audit tables and rebuild them from offset 0\n"
    "  --batch N          events per batch (default 5000)\n"
    "Prints a summary line (JSON) at the end, and progress on stderr every 5 seconds.\n";

int cmd_auditor(int argc, char **argv)
{
    static const struct option opts[] = {
        {"until-caught-up", no_argument, NULL, 'u'},
        {"rebuild", no_argument, NULL, 'r'},
        {"batch", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "auditor";
    struct auditor au;
    memset(&au, 0, sizeof au);
    jk_err_t err;
    if (jk_config_load(&au.cfg, &err)) return jk_cli_fail(cmd, &err);
    int until = 0, rebuild = 0, c, rc = JK_EXIT_ERROR;
    long batch = 5000;
    jk_batch_t b = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:urb:h", opts, NULL)) != -1) {
        if (c == 'u')
            until = 1;
        else if (c == 'r')
            rebuild = 1;
        else if ((rc = c == 'b' ? jk_cli_batch(cmd, optarg, &batch)
                                : jk_cli_option(c, argv, cmd, &au.cfg, usage_text)) != JK_CLI_NEXT)
            goto out;
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    jk_config_schema(&au.cfg, au.schema, sizeof au.schema);
    jk_config_topic(&au.cfg, "operations", au.ops_topic, sizeof au.ops_topic);
    jk_config_topic(&au.cfg, "admin", au.admin_topic, sizeof au.admin_topic);
    snprintf(au.provider, sizeof au.provider, "provider:%s", au.cfg.prefecture);
    snprintf(au.auditor_source, sizeof au.auditor_source, "auditor:%s", au.cfg.prefecture);
    au.registry = jk_operators_new();
    if (!au.registry) {
        jk_err_set(&err, "out of memory");
        goto fail;
    }
    au.catalogue = jk_catalogue_default(&err);
    au.db = au.catalogue ? jk_pg_connect(&au.cfg, &err) : NULL;
    if (!au.db) goto fail;
    if ((rebuild && jk_pg_script(au.db, jk_sql_auditor_drop, au.schema, &err)) ||
        jk_pg_script(au.db, jk_sql_auditor, au.schema, &err))
        goto fail;
    au.cons = jk_consumer_open(&au.cfg, &err);
    if (!au.cons) goto fail;
    jk_consumer_verify_heads(au.cons, rebuild);
    /* admin first: at equal broker times its events come first in the consumer's order */
    if (restore(&au, &err) ||
        jk_position_restore(au.db, au.schema, CONSUMER, au.cons, au.admin_topic, &err) ||
        jk_position_restore(au.db, au.schema, CONSUMER, au.cons, au.ops_topic, &err))
        goto fail;

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int64_t started = jk_now_ms(), last_report = started;
    while (!stop_requested && !(until && jk_consumer_caught_up(au.cons))) {
        if (jk_consumer_poll(au.cons, &b, (size_t)batch, 500, &err)) goto fail;
        if (b.n == 0 && b.duplicates == 0) continue;
        if (run_batch(&au, &b, &err)) goto fail;
        int64_t now = jk_now_ms();
        if (now - last_report >= 5000) {
            fprintf(stderr, "auditor: %lld events, %.0f/s\n", au.processed,
                    au.processed * 1000.0 / (double)(now - started));
            last_report = now;
        }
    }
    double secs = (double)(jk_now_ms() - started) / 1000.0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"events\":%lld,\"requests\":%lld,\"provisions\":%lld,\"refusals\":%lld,"
           "\"audit\":%lld,\"ignored\":%lld,\"unverified\":%lld,\"duplicates\":%lld,"
           "\"seconds\":%.3f,\"per_s\":%.0f,\"max_rss_kb\":%ld}\n",
           au.processed, au.requests_n, au.provisions, au.refusals, au.actions_n, au.ignored,
           au.unverified, au.duplicates, secs, secs > 0 ? au.processed / secs : 0.0, ru.ru_maxrss);
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    jk_batch_free(&b);
    jk_consumer_close(au.cons);
    jk_operators_free(au.registry);
    jk_catalogue_free(au.catalogue);
    jk_copy_t *cps[] = {&au.events, &au.admin, &au.requests, &au.records, &au.actions, &au.items};
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++)
        jk_copy_free(cps[i]);
    if (au.db) PQfinish(au.db);
    jk_config_free(&au.cfg);
    return rc;
}
