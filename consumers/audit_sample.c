/* audit_sample.c: `jukilog audit sample | review | sample-status`, the yearly check for
 * out-of-purpose use by staff other than the user (DOMAIN.md "Controls").
 *
 * sample draws the year's provision records by the pure rule of projections/audit.c (a keyed
 * hash of seed and event id below the rate, stratified by department, reviewers assigned by
 * hash), writes the worksheet, and appends audit.sample_drawn with the seed, rate, counts, the
 * worksheet's SHA-256 and the drawn records with their reviewers; review appends a verdict
 * (audit.reviewed); sample-status counts the latest draw's reviewed, pending and out-of-purpose
 * records. The auditor consumer turns these events into audit_actions and audit_sample_items. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_cmd.h"
#include "jukilog/audit.h"
#include "jukilog/cli.h"
#include "jukilog/envelope.h"
#include "jukilog/file.h"

static const char sample_usage[] =
    "usage: jukilog audit sample --fiscal-year Y --rate R --seed S --reviewers REVIEWERS.csv\n"
    "                            --out WORKSHEET.csv [--as-operator ID]\n"
    "\n"
    "Draws fiscal year Y's sample of provision records for the out-of-purpose check, so that\n"
    "anyone with the log and the seed draws the same: a record is drawn when the first 8 bytes\n"
    "of HMAC-SHA256(key S, its event id), big-endian, are below R x 2^64 (R a decimal in [0,1],\n"
    "compared exactly). Every department with provisions in the year gets at least one record\n"
    "(its smallest hash when none was drawn; so rate 0 gives one per department). Each record\n"
    "goes to the reviewer from REVIEWERS.csv (header \"reviewer,department\") who is neither\n"
    "its operator nor of its department with the smallest HMAC-SHA256(S, record id ||\n"
    "reviewer id); when nobody is eligible the command fails naming the record.\n"
    "The worksheet (CSV, sorted by record id): record_id, request_id, request_time, operator,\n"
    "department, purpose, category, persons, hash, stratified, reviewer, verdict, note.\n"
    "The draw is appended first to the operations topic (audit.sample_drawn: seed, rate,\n"
    "counts, the worksheet's SHA-256, the records and reviewers); prints a summary (JSON).\n"
    "Run `jukilog auditor --until-caught-up` first: the draw reads the audit views.\n";

struct row {
    char *id, *request_id, *time, *op, *dep, *purpose, *category, *persons;
};

int audit_sample(int argc, char **argv)
{
    static const struct option opts[] = {
        {"fiscal-year", required_argument, NULL, 'y'},
        {"rate", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 's'},
        {"reviewers", required_argument, NULL, 'v'},
        {"out", required_argument, NULL, 'o'},
        {"as-operator", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "audit sample", *year = NULL, *rate_s = NULL, *seed = NULL, *rev = NULL;
    const char *out_path = NULL, *as = NULL;
    audit_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    jk_err_t err;
    if (jk_config_load(&ctx.cfg, &err)) return jk_cli_fail(cmd, &err);
    int c, rc = JK_EXIT_ERROR, fy = 0;
    jk_audit_reviewer_t *reviewers = NULL;
    size_t nrev = 0, nuses = 0, npicks = 0;
    char *rev_text = NULL, *sheet = NULL;
    size_t rev_len = 0, sheet_len = 0;
    PGresult *res = NULL;
    jk_audit_use_t *uses = NULL;
    jk_audit_pick_t *picks = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:y:r:s:v:o:a:h", opts, NULL)) != -1) {
        if (c == 'y')
            year = optarg;
        else if (c == 'r')
            rate_s = optarg;
        else if (c == 's')
            seed = optarg;
        else if (c == 'v')
            rev = optarg;
        else if (c == 'o')
            out_path = optarg;
        else if (c == 'a')
            as = optarg;
        else if ((rc = jk_cli_option(c, argv, cmd, &ctx.cfg, sample_usage)) != JK_CLI_NEXT)
            goto out;
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    if (!year || !rate_s || !seed || !rev || !out_path) {
        rc = jk_cli_usage(cmd, "--fiscal-year, --rate, --seed, --reviewers and --out are required");
        goto out;
    }
    if ((rc = audit_fiscal_year_arg(cmd, year, &fy)) != JK_CLI_NEXT) goto out;
    jk_audit_rate_t rate;
    if (jk_audit_rate_parse(rate_s, &rate, &err)) {
        rc = jk_cli_usage(cmd, "--rate: %s", err.msg);
        goto out;
    }
    if (!*seed) {
        rc = jk_cli_usage(cmd, "--seed must not be empty");
        goto out;
    }
    ctx.actor = audit_actor(as);
    if (jk_file_read(rev, (unsigned char **)&rev_text, &rev_len, &err)) goto fail;
    reviewers = jk_audit_reviewers_parse(rev_text, rev_len, &nrev, &err);
    if (!reviewers) {
        jk_err_wrap(&err, "%s", rev);
        goto fail;
    }
    if (audit_connect(&ctx, &err)) goto fail;
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT record_id, request_id, "
             "to_char(request_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
             "operator, department, purpose, stats_category, coalesce(persons, 0) "
             "FROM %s.audit_records WHERE kind = 'provision' AND fiscal_year = $1::int "
             "ORDER BY record_id",
             ctx.schema);
    const char *params[1] = {year};
    res = audit_query(&ctx, sql, 1, params, &err);
    if (!res) goto fail;
    nuses = (size_t)PQntuples(res);
    uses = malloc((nuses ? nuses : 1) * sizeof *uses);
    if (!uses) {
        jk_err_set(&err, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nuses; i++)
        uses[i] = (jk_audit_use_t){PQgetvalue(res, (int)i, 0), PQgetvalue(res, (int)i, 3),
                                   PQgetvalue(res, (int)i, 4)};
    if (jk_audit_draw(seed, &rate, uses, nuses, reviewers, nrev, &picks, &npicks, &err)) {
        rc = jk_cli_fail(cmd, &err);
        rc = JK_EXIT_REJECTED;
        goto out;
    }

    /* The worksheet, in memory first: its hash goes into the event. */
    FILE *m = open_memstream(&sheet, &sheet_len);
    if (!m) {
        jk_err_set(&err, "out of memory");
        goto fail;
    }
    fputs("record_id,request_id,request_time,operator,department,purpose,category,persons,hash,"
          "stratified,reviewer,verdict,note\n",
          m);
    json_t *recs = json_array();
    size_t stratified = 0;
    for (size_t k = 0; k < npicks; k++) {
        int i = (int)picks[k].use;
        for (int f = 0; f < 8; f++) {
            audit_csv_field(m, PQgetvalue(res, i, f));
            fputc(',', m);
        }
        fprintf(m, "%016llx,%d,", (unsigned long long)picks[k].hash, picks[k].stratified);
        audit_csv_field(m, reviewers[picks[k].reviewer].id);
        fputs(",,\n", m);
        stratified += (size_t)picks[k].stratified;
        json_array_append_new(recs, json_pack("{s:s, s:s}", "record", uses[i].id, "reviewer",
                                              reviewers[picks[k].reviewer].id));
    }
    fclose(m);
    size_t ndeps = 0;
    for (size_t i = 0; i < nuses; i++) {
        size_t j = 0;
        while (j < i && strcmp(uses[j].department, uses[i].department) != 0)
            j++;
        ndeps += j == i;
    }
    char sheet_hash[65], rev_hash[65], draw_id[33];
    jk_sha256_hex(sheet, sheet_len, sheet_hash);
    jk_sha256_hex(rev_text, rev_len, rev_hash);
    json_t *data = json_pack(
        "{s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:o}", "fiscal_year", fy, "seed",
        seed, "rate", rate_s, "provisions", (json_int_t)nuses, "departments", (json_int_t)ndeps,
        "drawn", (json_int_t)npicks, "by_rate", (json_int_t)(npicks - stratified), "stratified",
        (json_int_t)stratified, "reviewers", (json_int_t)nrev, "reviewers_sha256", rev_hash,
        "worksheet_sha256", sheet_hash, "records", recs);
    json_t *summary = data ? json_deep_copy(data) : NULL;
    if (audit_append(&ctx, "audit.sample_drawn", NULL, data, draw_id, &err)) {
        json_decref(summary);
        goto fail;
    }
    FILE *f = fopen(out_path, "wb");
    int ok = f && fwrite(sheet, 1, sheet_len, f) == sheet_len;
    if (f) ok = fclose(f) == 0 && ok;
    if (!ok) {
        json_decref(summary);
        jk_err_set(&err,
                   "cannot write %s (the draw %s is on the log; draw again with the same "
                   "seed for the same worksheet)",
                   out_path, draw_id);
        goto fail;
    }
    json_object_del(summary, "records");
    json_object_set_new(summary, "draw", json_string(draw_id));
    json_object_set_new(summary, "out", json_string(out_path));
    char *s = json_dumps(summary, JSON_COMPACT | JSON_SORT_KEYS);
    if (s) printf("%s\n", s);
    free(s);
    json_decref(summary);
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    free(picks);
    free(uses);
    PQclear(res);
    free(sheet);
    free(rev_text);
    jk_audit_reviewers_free(reviewers, nrev);
    audit_close(&ctx);
    return rc;
}

static const char review_usage[] =
    "usage: jukilog audit review --record ID --reviewer R --verdict V [--note TEXT]\n"
    "                            [--as-operator ID]\n"
    "\n"
    "Records reviewer R's verdict on sampled record ID: in_purpose, out_of_purpose or unclear\n"
    "(audit.reviewed on the operations topic). The record must be in the latest draw of its\n"
    "fiscal year as the audit views hold it, assigned to R; otherwise nothing is appended and\n"
    "the exit status is 1. A later verdict on the same record replaces the earlier one in\n"
    "sample-status; both stay on the log.\n";

int audit_review(int argc, char **argv)
{
    static const struct option opts[] = {
        {"record", required_argument, NULL, 'r'},
        {"reviewer", required_argument, NULL, 'v'},
        {"verdict", required_argument, NULL, 'd'},
        {"note", required_argument, NULL, 'n'},
        {"as-operator", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "audit review", *record = NULL, *reviewer = NULL, *verdict = NULL;
    const char *note = "", *as = NULL;
    audit_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    jk_err_t err;
    if (jk_config_load(&ctx.cfg, &err)) return jk_cli_fail(cmd, &err);
    int c, rc = JK_EXIT_ERROR;
    PGresult *res = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:r:v:d:n:a:h", opts, NULL)) != -1) {
        if (c == 'r')
            record = optarg;
        else if (c == 'v')
            reviewer = optarg;
        else if (c == 'd')
            verdict = optarg;
        else if (c == 'n')
            note = optarg;
        else if (c == 'a')
            as = optarg;
        else if ((rc = jk_cli_option(c, argv, cmd, &ctx.cfg, review_usage)) != JK_CLI_NEXT)
            goto out;
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    if (!record || !reviewer || !verdict) {
        rc = jk_cli_usage(cmd, "--record, --reviewer and --verdict are required");
        goto out;
    }
    if (strcmp(verdict, "in_purpose") && strcmp(verdict, "out_of_purpose") &&
        strcmp(verdict, "unclear")) {
        rc = jk_cli_usage(cmd, "--verdict must be in_purpose, out_of_purpose or unclear");
        goto out;
    }
    ctx.actor = audit_actor(as);
    if (audit_connect(&ctx, &err)) goto fail;
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT i.fiscal_year, i.reviewer, i.draw_id FROM %1$s.audit_sample_items i "
             "WHERE i.record_id = $1 AND i.draw_id = (SELECT a.event_id FROM %1$s.audit_actions a "
             "WHERE a.type = 'audit.sample_drawn' AND a.fiscal_year = i.fiscal_year "
             "ORDER BY a.n DESC LIMIT 1)",
             ctx.schema);
    const char *params[1] = {record};
    res = audit_query(&ctx, sql, 1, params, &err);
    if (!res) goto fail;
    if (PQntuples(res) == 0) {
        jk_err_set(&err,
                   "record %s is in no latest draw of a fiscal year (run jukilog auditor "
                   "if it was drawn just now)",
                   record);
        jk_cli_fail(cmd, &err);
        rc = JK_EXIT_REJECTED;
        goto out;
    }
    if (strcmp(PQgetvalue(res, 0, 1), reviewer) != 0) {
        jk_err_set(&err, "record %s is assigned to %s, not %s", record, PQgetvalue(res, 0, 1),
                   reviewer);
        jk_cli_fail(cmd, &err);
        rc = JK_EXIT_REJECTED;
        goto out;
    }
    char id[33];
    json_t *data = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "fiscal_year",
                             atoi(PQgetvalue(res, 0, 0)), "draw", PQgetvalue(res, 0, 2), "record",
                             record, "reviewer", reviewer, "verdict", verdict, "note", note);
    if (audit_append(&ctx, "audit.reviewed", record, data, id, &err)) goto fail;
    printf("{\"record\":\"%s\",\"reviewer\":\"%s\",\"verdict\":\"%s\",\"id\":\"%s\"}\n", record,
           reviewer, verdict, id);
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    PQclear(res);
    audit_close(&ctx);
    return rc;
}

static const char status_usage[] =
    "usage: jukilog audit sample-status --fiscal-year Y [--as-operator ID]\n"
    "\n"
    "The latest draw of fiscal year Y and its progress, as one JSON object: draw (the\n"
    "audit.sample_drawn event), seed, rate, sampled, reviewed, pending, in_purpose,\n"
    "out_of_purpose, unclear (each record's latest verdict by its assigned reviewer).\n"
    "The read is recorded first on the operations topic (audit.viewed).\n";

int audit_sample_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"fiscal-year", required_argument, NULL, 'y'},
        {"as-operator", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "audit sample-status", *year = NULL, *as = NULL;
    audit_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    jk_err_t err;
    if (jk_config_load(&ctx.cfg, &err)) return jk_cli_fail(cmd, &err);
    int c, rc = JK_EXIT_ERROR, fy = 0;
    PGresult *res = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:y:a:h", opts, NULL)) != -1) {
        if (c == 'y')
            year = optarg;
        else if (c == 'a')
            as = optarg;
        else if ((rc = jk_cli_option(c, argv, cmd, &ctx.cfg, status_usage)) != JK_CLI_NEXT)
            goto out;
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    if ((rc = audit_fiscal_year_arg(cmd, year, &fy)) != JK_CLI_NEXT) goto out;
    ctx.actor = audit_actor(as);
    if (audit_connect(&ctx, &err)) goto fail;
    char sql[2048];
    snprintf(
        sql, sizeof sql,
        "WITH d AS (SELECT event_id, data::json AS data FROM %1$s.audit_actions "
        "WHERE type = 'audit.sample_drawn' AND fiscal_year = $1::int ORDER BY n DESC LIMIT 1), "
        "i AS (SELECT record_id, reviewer FROM %1$s.audit_sample_items "
        "WHERE draw_id = (SELECT event_id FROM d)), "
        "v AS (SELECT DISTINCT ON (record_id, reviewer) record_id, reviewer, verdict "
        "FROM %1$s.audit_actions WHERE type = 'audit.reviewed' AND fiscal_year = $1::int "
        "AND data::json->>'draw' = (SELECT event_id FROM d) "
        "ORDER BY record_id, reviewer, n DESC) "
        "SELECT (SELECT event_id FROM d) AS draw, (SELECT data->>'seed' FROM d) AS seed, "
        "(SELECT data->>'rate' FROM d) AS rate, count(i.record_id) AS sampled, "
        "count(v.verdict) AS reviewed, count(i.record_id) - count(v.verdict) AS pending, "
        "count(*) FILTER (WHERE v.verdict = 'in_purpose') AS in_purpose, "
        "count(*) FILTER (WHERE v.verdict = 'out_of_purpose') AS out_of_purpose, "
        "count(*) FILTER (WHERE v.verdict = 'unclear') AS unclear "
        "FROM i LEFT JOIN v USING (record_id, reviewer)",
        ctx.schema);
    const char *params[1] = {year};
    res = audit_query(&ctx, sql, 1, params, &err);
    if (!res) goto fail;
    if (PQgetisnull(res, 0, 0)) {
        jk_err_set(&err, "no sample drawn for fiscal year %d", fy);
        jk_cli_fail(cmd, &err);
        rc = JK_EXIT_REJECTED;
        goto out;
    }
    json_t *data = json_pack("{s:s, s:{s:i}, s:I}", "view", "sample_status", "query", "fiscal_year",
                             fy, "rows", (json_int_t)1);
    if (audit_append(&ctx, "audit.viewed", NULL, data, NULL, &err)) goto fail;
    json_t *o = json_pack("{s:i}", "fiscal_year", fy);
    for (int f = 0; f < PQnfields(res); f++) {
        const char *v = PQgetvalue(res, 0, f);
        json_object_set_new(o, PQfname(res, f), f < 3 ? json_string(v) : json_integer(atoll(v)));
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) printf("%s\n", s);
    free(s);
    json_decref(o);
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    PQclear(res);
    audit_close(&ctx);
    return rc;
}
