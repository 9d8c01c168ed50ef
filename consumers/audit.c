/* audit.c: `jukilog audit`, reading the audit views that `jukilog auditor` builds
 * (consumers/auditor.sql): who used or tried to use which resident's record, per resident,
 * operator or department; the yearly statistics per category; refusals and unusual activity.
 *
 * Every read is itself an auditor's operation: an audit.viewed event (what was asked, by whom,
 * how many rows) is appended to the operations topic, signed by the auditor:<pref> key and
 * confirmed by the broker, before a row is printed. The auditor consumer records these too.
 * The sample sub-commands live in audit_sample.c. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_cmd.h"
#include "jukilog/audit.h"
#include "jukilog/cli.h"
#include "jukilog/keys.h"
#include "jukilog/pg.h"
#include "jukilog/producer.h"
#include "jukilog/util.h"

const char *audit_actor(const char *as_operator)
{
    if (as_operator) return as_operator;
    const char *u = getenv("USER");
    return u && *u ? u : "unknown";
}

int audit_connect(audit_ctx_t *ctx, jk_err_t *err)
{
    jk_config_schema(&ctx->cfg, ctx->schema, sizeof ctx->schema);
    ctx->db = jk_pg_connect(&ctx->cfg, err);
    if (!ctx->db) return -1;
    const char *params[1] = {ctx->schema};
    PGresult *r = PQexecParams(ctx->db,
                               "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND "
                               "tablename = 'audit_records'",
                               1, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    if (!ok)
        return jk_err_set(err, "no audit views in schema %s (run jukilog auditor first)",
                          ctx->schema);
    return 0;
}

void audit_close(audit_ctx_t *ctx)
{
    if (ctx->db) PQfinish(ctx->db);
    ctx->db = NULL;
    jk_config_free(&ctx->cfg);
}

int audit_append(audit_ctx_t *ctx, const char *type, const char *subject, json_t *data,
                 char id_out[33], jk_err_t *err)
{
    char source[32], topic[128];
    snprintf(source, sizeof source, "auditor:%s", ctx->cfg.prefecture);
    jk_config_topic(&ctx->cfg, "operations", topic, sizeof topic);
    if (!data || json_object_set_new(data, "actor", json_string(ctx->actor))) {
        json_decref(data);
        return jk_err_set(err, "out of memory");
    }
    EVP_PKEY *key = jk_cli_source_key(&ctx->cfg, source, err);
    jk_producer_t *p = key ? jk_producer_open(&ctx->cfg, source, key, err) : NULL;
    int rc = p ? jk_producer_append(p, topic, subject, type, subject, data, id_out, err) : -1;
    if (!p) json_decref(data);
    if (rc == 0) rc = jk_producer_flush(p, err);
    jk_producer_close(p);
    EVP_PKEY_free(key);
    return rc ? jk_err_wrap(err, "recording %s", type) : 0;
}

PGresult *audit_query(audit_ctx_t *ctx, const char *sql, int nparams, const char *const *params,
                      jk_err_t *err)
{
    PGresult *r = PQexecParams(ctx->db, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        jk_err_set(err, "reading the audit views: %s", PQresultErrorMessage(r));
        err->msg[strcspn(err->msg, "\n")] = '\0';
        PQclear(r);
        return NULL;
    }
    return r;
}

void audit_csv_field(FILE *out, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_JSON 114

/* A json column as text: arrays of strings joined by spaces, anything else as JSON. */
static void json_as_text(FILE *out, const char *v, audit_format_t fmt)
{
    json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
    if (json_is_array(j)) {
        size_t i;
        json_t *it;
        char *joined = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&joined, &len);
        json_array_foreach(j, i, it)
        {
            if (i) fputc(' ', m);
            fputs(json_is_string(it) ? json_string_value(it) : "?", m);
        }
        fclose(m);
        if (fmt == AUDIT_CSV)
            audit_csv_field(out, joined ? joined : "");
        else
            fputs(joined ? joined : "", out);
        free(joined);
    } else {
        fputs(v, out);
    }
    json_decref(j);
}

void audit_print(FILE *out, const PGresult *r, audit_format_t fmt)
{
    int nf = PQnfields(r);
    if (fmt != AUDIT_JSON) {
        for (int f = 0; f < nf; f++) {
            if (f) fputc(fmt == AUDIT_CSV ? ',' : '\t', out);
            fputs(PQfname(r, f), out);
        }
        fputc('\n', out);
    }
    for (int i = 0; i < PQntuples(r); i++) {
        if (fmt == AUDIT_JSON) {
            json_t *o = json_object();
            for (int f = 0; f < nf; f++) {
                const char *v = PQgetvalue(r, i, f);
                Oid t = PQftype(r, f);
                json_t *j;
                if (PQgetisnull(r, i, f))
                    j = json_null();
                else if (t == OID_INT8 || t == OID_INT4 || t == OID_INT2)
                    j = json_integer(atoll(v));
                else if (t == OID_BOOL)
                    j = json_boolean(v[0] == 't');
                else if (t == OID_JSON)
                    j = json_loads(v, JSON_DECODE_ANY, NULL);
                else
                    j = json_string(v);
                json_object_set_new(o, PQfname(r, f), j ? j : json_null());
            }
            char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (s) fprintf(out, "%s\n", s);
            free(s);
            json_decref(o);
            continue;
        }
        for (int f = 0; f < nf; f++) {
            if (f) fputc(fmt == AUDIT_CSV ? ',' : '\t', out);
            if (PQgetisnull(r, i, f)) continue;
            const char *v = PQgetvalue(r, i, f);
            if (PQftype(r, f) == OID_JSON)
                json_as_text(out, v, fmt);
            else if (fmt == AUDIT_CSV)
                audit_csv_field(out, v);
            else
                fputs(v, out);
        }
        fputc('\n', out);
    }
}

#define UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* Reads a view, records the read with its row count, then prints. */
static int view(audit_ctx_t *ctx, const char *name, json_t *query, const char *sql, int nparams,
                const char *const *params, audit_format_t fmt, jk_err_t *err)
{
    PGresult *r = audit_query(ctx, sql, nparams, params, err);
    if (!r) {
        json_decref(query);
        return -1;
    }
    json_t *data = json_pack("{s:s, s:o, s:I}", "view", name, "query", query, "rows",
                             (json_int_t)PQntuples(r));
    if (audit_append(ctx, "audit.viewed", NULL, data, NULL, err)) {
        PQclear(r);
        return -1;
    }
    audit_print(stdout, r, fmt);
    PQclear(r);
    return 0;
}

static int format_option(int c, audit_format_t *fmt)
{
    if (c == 'j') *fmt = AUDIT_JSON;
    if (c == 'c') *fmt = AUDIT_CSV;
    return c == 'j' || c == 'c';
}

static const char access_usage[] =
    "usage: jukilog audit access (--resident-code C | --operator ID | --department D)\n"
    "                            [--from T] [--to T] [--json|--csv] [--as-operator ID]\n"
    "\n"
    "Every use of the identity file that the audit views hold, in time order:\n"
    "  --resident-code C  every provision and refusal that touched resident C\n"
    "  --operator ID      every request, provision and refusal of operator ID\n"
    "  --department D     the same for every operator of department D (a request counts for\n"
    "                     the department its operator belonged to at the request's time)\n"
    "  --from T, --to T   only uses at T_from <= time < T_to (RFC 3339); a record's time is its\n"
    "                     request's broker time\n"
    "Columns: kind (request|provision|refusal), time, id, request_id, request_type, operator,\n"
    "department, purpose, category, reason (refusals), residents. Default output is\n"
    "tab-separated text with a header; --csv is CSV, --json one JSON object per line.\n"
    "The read is recorded first on the operations topic (audit.viewed, signed by the\n"
    "auditor:<pref> key) with the actor: --as-operator ID, else $USER.\n"
    "Run `jukilog auditor --until-caught-up` first for an up-to-date view.\n";

static int audit_access(int argc, char **argv)
{
    static const struct option opts[] = {
        {"resident-code", required_argument, NULL, 'r'},
        {"operator", required_argument, NULL, 'o'},
        {"department", required_argument, NULL, 'd'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, 'c'},
        {"as-operator", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "audit access";
    audit_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    jk_err_t err;
    if (jk_config_load(&ctx.cfg, &err)) return jk_cli_fail(cmd, &err);
    const char *resident = NULL, *op = NULL, *dep = NULL, *from = NULL, *to = NULL, *as = NULL;
    audit_format_t fmt = AUDIT_TEXT;
    int c, rc = JK_EXIT_ERROR;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:r:o:d:f:t:jca:h", opts, NULL)) != -1) {
        if (c == 'r')
            resident = optarg;
        else if (c == 'o')
            op = optarg;
        else if (c == 'd')
            dep = optarg;
        else if (c == 'f')
            from = optarg;
        else if (c == 't')
            to = optarg;
        else if (c == 'a')
            as = optarg;
        else if (!format_option(c, &fmt) &&
                 (rc = jk_cli_option(c, argv, cmd, &ctx.cfg, access_usage)) != JK_CLI_NEXT)
            goto out;
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    if (!!resident + !!op + !!dep != 1) {
        rc = jk_cli_usage(cmd, "one of --resident-code, --operator, --department is required");
        goto out;
    }
    int64_t ms;
    if ((from && jk_time_parse(from, &ms)) || (to && jk_time_parse(to, &ms))) {
        rc = jk_cli_usage(cmd, "--from and --to must be RFC 3339 times");
        goto out;
    }
    ctx.actor = audit_actor(as);
    if (audit_connect(&ctx, &err)) goto fail;
    const char *by = resident ? "resident_code" : op ? "operator" : "department";
    const char *value = resident ? resident : op ? op : dep;
    char req_cond[128], rec_cond[128];
    if (resident) {
        snprintf(req_cond, sizeof req_cond, "false");
        snprintf(rec_cond, sizeof rec_cond, "residents @> ARRAY[$1::text]");
    } else {
        snprintf(req_cond, sizeof req_cond, "%s = $1", by);
        snprintf(rec_cond, sizeof rec_cond, "%s = $1", by);
    }
    char sql[2048];
    snprintf(
        sql, sizeof sql,
        "SELECT kind, " UTC(
            "t") " AS time, id, request_id, request_type, operator, "
                 "department, purpose, category, reason, to_json(residents) AS residents FROM ("
                 "SELECT 'request' AS kind, 0 AS k, broker_time AS t, event_id AS id, "
                 "event_id AS request_id, request_type, operator, department, purpose, category, "
                 "NULL::text AS reason, NULL::text[] AS residents FROM %1$s.audit_requests WHERE "
                 "%2$s "
                 "UNION ALL SELECT kind, 1, request_time, record_id, request_id, request_type, "
                 "operator, department, purpose, category, reason, residents "
                 "FROM %1$s.audit_records WHERE %3$s) u "
                 "WHERE ($2::timestamptz IS NULL OR t >= $2) AND ($3::timestamptz IS NULL OR t < "
                 "$3) "
                 "ORDER BY t, k, id",
        ctx.schema, req_cond, rec_cond);
    const char *params[3] = {value, from, to};
    json_t *query = json_pack("{s:s, s:s?, s:s?}", by, value, "from", from, "to", to);
    if (view(&ctx, "access", query, sql, 3, params, fmt, &err)) goto fail;
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    audit_close(&ctx);
    return rc;
}

int audit_fiscal_year_arg(const char *cmd, const char *s, int *fy)
{
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || *s == '\0' || *end != '\0' || v < 1900 || v > 9999)
        return jk_cli_usage(cmd, "--fiscal-year must be a year like 2025 (April 2025 to March "
                                 "2026)");
    *fy = (int)v;
    return JK_CLI_NEXT;
}

static const char stats_usage[] =
    "usage: jukilog audit stats --fiscal-year Y [--csv|--json] [--as-operator ID]\n"
    "\n"
    "Uses of the identity file in fiscal year Y (April Y to March Y+1, JST, by the request's\n"
    "broker time) per category, the way prefectures report them each year: betsu5 (別表第五),\n"
    "betsu6 (別表第六), ordinance (条例), disclosure, statistics, national (answered from\n"
    "the national server), bulk (一括提供), then unknown (refusals of an unknown purpose,\n"
    "only when there are any) and total. Columns: category, provisions, persons (persons\n"
    "provided), refusals (counted separately, under the category of what was asked).\n"
    "The read is recorded first on the operations topic (audit.viewed).\n";

static int audit_stats(int argc, char **argv)
{
    static const struct option opts[] = {
        {"fiscal-year", required_argument, NULL, 'y'},
        {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, 'c'},
        {"as-operator", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "audit stats", *year = NULL, *as = NULL;
    audit_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    jk_err_t err;
    if (jk_config_load(&ctx.cfg, &err)) return jk_cli_fail(cmd, &err);
    audit_format_t fmt = AUDIT_TEXT;
    int c, rc = JK_EXIT_ERROR, fy = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:y:jca:h", opts, NULL)) != -1) {
        if (c == 'y')
            year = optarg;
        else if (c == 'a')
            as = optarg;
        else if (!format_option(c, &fmt) &&
                 (rc = jk_cli_option(c, argv, cmd, &ctx.cfg, stats_usage)) != JK_CLI_NEXT)
            goto out;
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    if (!year) {
        rc = jk_cli_usage(cmd, "--fiscal-year is required");
        goto out;
    }
    if ((rc = audit_fiscal_year_arg(cmd, year, &fy)) != JK_CLI_NEXT) goto out;
    ctx.actor = audit_actor(as);
    if (audit_connect(&ctx, &err)) goto fail;
    char sql[2048];
    snprintf(
        sql, sizeof sql,
        "WITH cats(c, o) AS (VALUES ('betsu5', 1), ('betsu6', 2), ('ordinance', 3), "
        "('disclosure', 4), ('statistics', 5), ('national', 6), ('bulk', 7), "
        "('unknown', 8)), "
        "s AS (SELECT * FROM %s.audit_stats WHERE fiscal_year = $1::int), "
        "rows AS (SELECT c AS category, o, coalesce(s.provisions, 0)::bigint AS provisions, "
        "coalesce(s.persons, 0)::bigint AS persons, coalesce(s.refusals, 0)::bigint AS "
        "refusals FROM cats LEFT JOIN s ON s.stats_category = c "
        "WHERE c <> 'unknown' OR s.stats_category IS NOT NULL) "
        "SELECT category, provisions, persons, refusals FROM ("
        "SELECT * FROM rows UNION ALL SELECT 'total', 9, coalesce(sum(provisions), 0)::bigint, "
        "coalesce(sum(persons), 0)::bigint, coalesce(sum(refusals), 0)::bigint FROM rows) t "
        "ORDER BY o",
        ctx.schema);
    const char *params[1] = {year};
    json_t *query = json_pack("{s:i}", "fiscal_year", fy);
    if (view(&ctx, "stats", query, sql, 1, params, fmt, &err)) goto fail;
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    audit_close(&ctx);
    return rc;
}

static const char flags_usage[] =
    "usage: jukilog audit flags --fiscal-year Y [--multiple M] [--json|--csv] [--as-operator ID]\n"
    "\n"
    "Refusals and unusual activity in fiscal year Y (JST), from the provider's records (every\n"
    "request gets one: a provision or a refusal), each with the request's broker time:\n"
    "  refusal      every refused request, with its reason\n"
    "  off_hours    every request made outside 08:00-20:00 JST\n"
    "  daily_count  an operator's uses on one JST day above M times their department's median\n"
    "               daily count (the median over every day on which an operator of the\n"
    "               department made a request in the year, one value per operator and day)\n"
    "  --multiple M  a decimal number, default $JUKILOG_AUDIT_MULTIPLE "
    "or " JK_AUDIT_MULTIPLE_DEFAULT "\n"
    "Columns: flag, time (the day, for daily_count), id, operator, department, purpose,\n"
    "detail. The read is recorded first on the operations topic (audit.viewed).\n";

static int audit_flags(int argc, char **argv)
{
    static const struct option opts[] = {
        {"fiscal-year", required_argument, NULL, 'y'},
        {"multiple", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, 'c'},
        {"as-operator", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "audit flags", *year = NULL, *as = NULL;
    const char *multiple = getenv("JUKILOG_AUDIT_MULTIPLE");
    if (!multiple || !*multiple) multiple = JK_AUDIT_MULTIPLE_DEFAULT;
    audit_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    jk_err_t err;
    if (jk_config_load(&ctx.cfg, &err)) return jk_cli_fail(cmd, &err);
    audit_format_t fmt = AUDIT_TEXT;
    int c, rc = JK_EXIT_ERROR, fy = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:y:m:jca:h", opts, NULL)) != -1) {
        if (c == 'y')
            year = optarg;
        else if (c == 'm')
            multiple = optarg;
        else if (c == 'a')
            as = optarg;
        else if (!format_option(c, &fmt) &&
                 (rc = jk_cli_option(c, argv, cmd, &ctx.cfg, flags_usage)) != JK_CLI_NEXT)
            goto out;
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    if (!year) {
        rc = jk_cli_usage(cmd, "--fiscal-year is required");
        goto out;
    }
    if ((rc = audit_fiscal_year_arg(cmd, year, &fy)) != JK_CLI_NEXT) goto out;
    size_t digits = strspn(multiple, "0123456789.");
    if (digits == 0 || multiple[digits] != '\0' ||
        strchr(multiple, '.') != strrchr(multiple, '.')) {
        rc =
            jk_cli_usage(cmd, "--multiple must be a positive decimal number, not \"%s\"", multiple);
        goto out;
    }
    ctx.actor = audit_actor(as);
    if (audit_connect(&ctx, &err)) goto fail;
    char sql[3072];
    snprintf(
        sql, sizeof sql,
        "WITH y AS (SELECT * FROM %1$s.audit_records WHERE fiscal_year = $1::int), "
        "daily AS (SELECT department, operator, jst_date, count(*) AS uses FROM y "
        "WHERE department IS NOT NULL GROUP BY 1, 2, 3), "
        "med AS (SELECT department, (percentile_cont(0.5) WITHIN GROUP (ORDER BY uses))"
        "::numeric AS median FROM daily GROUP BY 1) "
        "SELECT flag, time, id, operator, department, purpose, detail FROM ("
        "SELECT 'refusal' AS flag, request_time AS t, " UTC(
            "request_time") " AS time, "
                            "record_id AS id, operator, department, purpose, reason AS detail FROM "
                            "y "
                            "WHERE kind = 'refusal' "
                            "UNION ALL SELECT 'off_hours', request_time, " UTC(
                                "request_time") ", record_id, "
                                                "operator, department, purpose, kind || ' of a "
                                                "request at ' || "
                                                "lpad(jst_hour::text, 2, '0') || ':xx JST' FROM y "
                                                "WHERE off_hours "
                                                "UNION ALL SELECT 'daily_count', "
                                                "d.jst_date::timestamp AT TIME ZONE 'Asia/Tokyo', "
                                                "d.jst_date::text, NULL, d.operator, d.department, "
                                                "NULL, d.uses || ' uses on ' || "
                                                "d.jst_date || ' (JST); department median ' || "
                                                "trim_scale(m.median) || '; limit ' || "
                                                "trim_scale($2::numeric * m.median) FROM daily d "
                                                "JOIN med m USING (department) "
                                                "WHERE d.uses > $2::numeric * m.median) f ORDER BY "
                                                "t, flag, id, operator",
        ctx.schema);
    const char *params[2] = {year, multiple};
    json_t *query = json_pack("{s:i, s:s}", "fiscal_year", fy, "multiple", multiple);
    if (view(&ctx, "flags", query, sql, 2, params, fmt, &err)) goto fail;
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    audit_close(&ctx);
    return rc;
}

int cmd_audit(int argc, char **argv)
{
    static const jk_subcommand_t subs[] = {
        {"access", audit_access, "every use per resident, operator or department"},
        {"stats", audit_stats, "uses per category in a fiscal year"},
        {"flags", audit_flags, "refusals, off-hours requests, unusual daily counts"},
        {"sample", audit_sample, "draw the year's reproducible out-of-purpose sample"},
        {"review", audit_review, "record a reviewer's verdict on a sampled record"},
        {"sample-status", audit_sample_status, "reviewed, pending, out-of-purpose counts"},
    };
    return jk_cli_dispatch("audit", argc, argv, subs, sizeof subs / sizeof subs[0]);
}
