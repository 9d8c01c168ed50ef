/* provider.c: `jukilog provider`, which answers every request on the operations topic, in log
 * order (DOMAIN.md duties 2-5; DESIGN.md "Inquiries: request and answer through the log").
 *
 * For each request it checks, as of the request's broker time: the signature (against the
 * operator's key registered on the admin topic before it), the operator's registration, role and
 * grants (projections/operators.c) and the catalogue's word that the operator's department may
 * cite the purpose; then it looks the persons up in the identity file (and, for persons not in
 * this prefecture, in the national projection), and appends a provision (the personal data sealed
 * to the operator's encryption key) or a refusal with its reason. Nothing is shown to anyone
 * before that record is on the log: terminals read their answers from it.
 *
 * "As of the request's broker time" across two topics: before deciding a request appended at T,
 * the admin topic is read to its high-water mark at a moment after T, so every revocation
 * appended at or before T is known (ties go to the admin topic), also when the log is replayed.
 *
 * Exactly once, in the relay's manner: a batch's records are spooled durably before anything
 * else, then handed to Kafka, and its rows and the provider's position are committed together.
 * A crash before the commit decides the batch again (the spool's records go out first on
 * restart); each record's id is derived from its request's, so the copies are duplicates that
 * readers drop.
 *
 * Latency (DESIGN.md: p99 <= 20 ms at 500 requests/s): a batch costs few round trips. The
 * transaction's BEGIN and every inquiry's look-up travel in one libpq pipeline; the rows, the
 * position and the COMMIT in another, whose answer is awaited only with the next batch's
 * look-ups, sent behind it; the records go to Kafka without waiting for the broker's
 * acknowledgement (the spool already holds them). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jukilog/cli.h"
#include "jukilog/consumer.h"
#include "jukilog/envelope.h"
#include "jukilog/keys.h"
#include "jukilog/operations.h"
#include "jukilog/operators.h"
#include "jukilog/pg.h"
#include "jukilog/position.h"
#include "jukilog/producer.h"
#include "jukilog/purposes.h"
#include "jukilog/seal.h"
#include "jukilog/strmap.h"
#include "jukilog/terminal.h"
#include "jukilog/util.h"

extern const char jk_sql_identity[];
extern const char jk_sql_provider[];

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct provider {
    jk_config_t cfg;
    char schema[64], national[64], topic[128];
    PGconn *db;
    jk_consumer_t *cons;
    jk_producer_t *out;
    EVP_PKEY *key;
    jk_catalogue_t *cat;
    jk_operators_t *ops;
    int64_t admin_as_of; /* every admin event appended before this is known */
    int have_national;
    jk_rows_t rows, persons; /* provider_records, provider_residents of the batch */
    jk_strmap_t *prepared;   /* names of the look-ups prepared on db */
    jk_strmap_t *recipients; /* operators' encryption keys (EVP_PKEY *), by their base64 */
    jk_sealer_t *sealer;     /* seals the answers of a second (retire_sealer) */
    int64_t sealer_born;     /* when it was made */
    int committing;          /* a batch's COMMIT is on its way (finish_commit) */
    jk_batch_t *batch;       /* the batch being decided, and its prefetched look-ups */
    PGresult **pre;
    long long provided, refused, ignored, malformed;
};

static int write_rows(struct provider *pv, jk_err_t *err);

/* The operator registry follows the admin topic; only events the admin signed count. */
static void on_admin(jk_consumer_t *c, const jk_envelope_t *ev, int64_t broker_ms, void *ctx)
{
    struct provider *pv = ctx;
    jk_err_t why;
    if (jk_keyreg_verify(jk_consumer_keys(c), ev, broker_ms, &why) != 0) return;
    jk_operators_apply(pv->ops, ev, broker_ms, &why);
}

/* One decision under way. */
struct decision {
    const jk_record_t *r;
    const char *kind; /* inquiry | disclosure | bulk */
    const char *operator_id, *purpose;
    jk_operator_view_t op;
    const jk_purpose_t *pp;
    const char *reason;
    char detail[512];
    json_t *answer;    /* plaintext to seal, for a provision */
    json_t *residents; /* resident codes */
    long long count;
    int national;
    long long matched, unmatched; /* bulk */
};

static const char record_cols[] =
    "resident_code, my_number, name, name_kana, birth_date, sex, address, status, "
    "effective_date, municipality_code, reason, version";

static int pg_fail(jk_err_t *err, const char *what, PGresult *r)
{
    jk_err_set(err, "%s: %s", what, PQresultErrorMessage(r));
    err->msg[strcspn(err->msg, "\n")] = '\0';
    PQclear(r);
    return -1;
}

/* A person as answered: the items, the change reason and version, and where it came from. */
static json_t *row_record(PGresult *r, int i, int first_col, int national)
{
    json_t *o = json_object();
    for (int k = 0; k < 12; k++) {
        const char *name = PQfname(r, first_col + k);
        if (PQgetisnull(r, i, first_col + k)) continue;
        const char *v = PQgetvalue(r, i, first_col + k);
        if (strcmp(name, "version") == 0)
            json_object_set_new(o, name, json_integer(atoll(v)));
        else
            json_object_set_new(o, name, json_string(v));
    }
    json_object_set_new(o, "national", json_boolean(national));
    return o;
}

/* The WHERE clause of a query, with its parameters ($1...). */
static void query_where(const json_t *q, int own, const char *schema, char *w, size_t n,
                        const char *params[4], int *np)
{
    static const char *const four[] = {"name", "birth_date", "sex", "address"};
    *np = 0;
    const char *rc = json_string_value(json_object_get(q, "resident_code"));
    const char *mn = json_string_value(json_object_get(q, "my_number"));
    if (rc) {
        params[(*np)++] = rc;
        if (own) /* An array, so that the primary key's index serves both codes. */
            snprintf(w, n,
                     "resident_code = ANY (ARRAY[$1, (SELECT new_code FROM %s.aliases "
                     "WHERE old_code = $1)])",
                     schema);
        else
            snprintf(w, n, "resident_code = $1");
        return;
    }
    if (mn) {
        params[(*np)++] = mn;
        snprintf(w, n, "my_number = $1");
        return;
    }
    size_t len = 0;
    w[0] = '\0';
    for (int k = 0; k < 4; k++) {
        const char *v = json_string_value(json_object_get(q, four[k]));
        if (!v) continue;
        params[(*np)++] = v;
        int norm = k == 0 || k == 3;
        len += (size_t)snprintf(w + len, n - len,
                                norm ? "%sreplace(normalize(%s, NFKC), ' ', '') = "
                                       "replace(normalize($%d, NFKC), ' ', '')"
                                     : "%s%s = $%d",
                                len ? " AND " : "", four[k], *np);
    }
}

/* A look-up of persons matching q in one table (resident ones first, at most limit, with the
 * total count in the last column): its statement's name and parameters (which point into q and
 * lim). */
struct query {
    char name[24], lim[16];
    const char *params[5];
    int np;
};

/* The look-up's statement, its text in sql; 1 when it is prepared on db already. */
static int shape_find(struct provider *pv, const json_t *q, int national, int limit,
                      struct query *qq, char sql[2048])
{
    char w[1024];
    query_where(q, !national, pv->schema, w, sizeof w, qq->params, &qq->np);
    snprintf(qq->lim, sizeof qq->lim, "%d", limit);
    qq->params[qq->np++] = qq->lim;
    if (national)
        snprintf(sql, 2048,
                 "SELECT %s, count(*) OVER () FROM %s.persons WHERE %s AND prefecture <> '%s' "
                 "ORDER BY (status = 'resident') DESC, resident_code LIMIT $%d",
                 record_cols, pv->national, w, pv->cfg.prefecture, qq->np);
    else
        snprintf(sql, 2048,
                 "SELECT %s, count(*) OVER () FROM %s.identity WHERE %s "
                 "ORDER BY (status = 'resident') DESC, resident_code LIMIT $%d",
                 record_cols, pv->schema, w, qq->np);
    /* A query's text depends only on which fields it gives: each shape is planned once. */
    char h[65];
    jk_sha256_hex(sql, strlen(sql), h);
    snprintf(qq->name, sizeof qq->name, "q%.16s", h);
    return jk_strmap_get(pv->prepared, qq->name) != NULL;
}

/* Prepares the look-up's statement, whose text shape_find gave (db must not be in pipeline
 * mode). */
static int prepare_shape(struct provider *pv, const struct query *qq, const char *sql,
                         jk_err_t *err)
{
    PGresult *r = PQprepare(pv->db, qq->name, sql, qq->np, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return pg_fail(err, "preparing a look-up", r);
    PQclear(r);
    if (jk_strmap_put(pv->prepared, qq->name, pv)) return jk_err_set(err, "out of memory");
    return 0;
}

/* The look-up's statement, prepared if it was not (db must not be in pipeline mode). */
static int prepare_find(struct provider *pv, const json_t *q, int national, int limit,
                        struct query *qq, jk_err_t *err)
{
    char sql[2048];
    return shape_find(pv, q, national, limit, qq, sql) ? 0 : prepare_shape(pv, qq, sql, err);
}

static PGresult *find(struct provider *pv, const json_t *q, int national, int limit, jk_err_t *err)
{
    struct query qq;
    if (prepare_find(pv, q, national, limit, &qq, err)) return NULL;
    PGresult *r = PQexecPrepared(pv->db, qq.name, qq.np, qq.params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_fail(err, "looking up the identity file", r);
        return NULL;
    }
    return r;
}

/* The inquiry's own look-up, when its request is well formed (else NULL). */
static const json_t *inquiry_query(const jk_record_t *r, int *limit)
{
    const char *kind;
    jk_err_t why;
    if (r->status != JK_REC_OK || strcmp(r->ev->type, "request.inquiry") != 0 ||
        jk_operations_check_request(r->ev->type, r->ev->data, &kind, &why) != 0)
        return NULL;
    json_t *lim = json_object_get(r->ev->data, "limit");
    *limit = lim ? (int)json_integer_value(lim) : JK_INQUIRY_LIMIT;
    return json_object_get(r->ev->data, "query");
}

/* Waits for the last batch's commit (see run_batch). */
static int finish_commit(struct provider *pv, jk_err_t *err)
{
    if (!pv->committing) return 0;
    pv->committing = 0;
    if (jk_pg_pipeline_read(pv->db, 0, NULL, err) == 0) return 0;
    return jk_err_wrap(err, "committing the provider's decisions");
}

/* Opens the batch's transaction and runs every inquiry's look-up in this prefecture's file, all
 * in one round trip (libpq's pipeline); lookup() takes the results from pv->pre. When the last
 * batch's COMMIT is still on its way, they are queued behind it, and one wait covers both
 * (unless a shape must be prepared first, which cannot be done in a pipeline). */
static int prefetch(struct provider *pv, jk_batch_t *b, jk_err_t *err)
{
    free(pv->pre);
    pv->pre = calloc(b->n ? b->n : 1, sizeof *pv->pre);
    int *slot = calloc(b->n ? b->n : 1, sizeof *slot);
    PGresult **got = calloc(b->n + 1, sizeof *got);
    struct query *qq = calloc(b->n ? b->n : 1, sizeof *qq);
    int n = 0, rc = -1;
    if (!pv->pre || !slot || !got || !qq) {
        jk_err_set(err, "out of memory");
        goto out;
    }
    pv->batch = b;
    char sql[2048];
    for (size_t i = 0; i < b->n; i++) {
        int limit;
        const json_t *q = inquiry_query(&b->recs[i], &limit);
        slot[i] = q ? 0 : -1;
        /* A shape not seen before is prepared now, outside the pipeline: after the COMMIT. */
        if (q && !shape_find(pv, q, 0, limit, &qq[i], sql) &&
            (finish_commit(pv, err) || prepare_shape(pv, &qq[i], sql, err)))
            goto out;
    }
    int behind = pv->committing && jk_pg_pipeline_more(pv->db);
    if (!behind && (finish_commit(pv, err) || jk_pg_pipeline_begin(pv->db, err))) goto out;
    int sent = jk_pg_run(pv->db, "BEGIN", 0, NULL, err) == 0;
    n = 1;
    for (size_t i = 0; i < b->n && sent; i++) {
        if (slot[i] < 0) continue;
        sent = PQsendQueryPrepared(pv->db, qq[i].name, qq[i].np, qq[i].params, NULL, NULL, 0) == 1;
        slot[i] = n++;
    }
    if (!sent) jk_err_set(err, "PostgreSQL: %s", PQerrorMessage(pv->db));
    if (behind) {
        /* The COMMIT's answer comes first; whatever it says, the look-ups' is read too, so that
         * the connection is left clean. */
        pv->committing = 0;
        jk_err_t why;
        int committed = jk_pg_pipeline_read_sync(pv->db, 0, NULL, &why) == 0;
        if (!committed && sent) {
            *err = why;
            jk_err_wrap(err, "committing the provider's decisions");
        }
        if (jk_pg_pipeline_end(pv->db, n, got, sent && committed ? err : &(jk_err_t){""}) ||
            !sent || !committed)
            goto out;
    } else if (jk_pg_pipeline_end(pv->db, n, got, sent ? err : &(jk_err_t){""}) || !sent) {
        goto out;
    }
    for (size_t i = 0; i < b->n; i++)
        if (slot[i] > 0) pv->pre[i] = got[slot[i]];
    rc = 0;
out:
    free(qq);
    free(slot);
    free(got);
    return rc;
}

/* The prefetched result of d's request, handed over to the caller (NULL if none). */
static PGresult *take_prefetched(struct provider *pv, const struct decision *d)
{
    if (pv->pre == NULL || pv->batch == NULL) return NULL;
    size_t i = (size_t)(d->r - pv->batch->recs);
    if (i >= pv->batch->n) return NULL;
    PGresult *r = pv->pre[i];
    pv->pre[i] = NULL;
    return r;
}

static void drop_prefetched(struct provider *pv)
{
    if (pv->pre && pv->batch)
        for (size_t i = 0; i < pv->batch->n; i++)
            PQclear(pv->pre[i]);
    free(pv->pre);
    pv->pre = NULL;
    pv->batch = NULL;
}

static int is_resident(PGresult *r)
{
    return PQntuples(r) > 0 && strcmp(PQgetvalue(r, 0, 7), "resident") == 0;
}

/* Who a query finds: this prefecture's residents; else, for persons not in this prefecture, the
 * national projection's residents (an inquiry to the national server); else whoever this
 * prefecture's file or the national projection knows, removed. */
static int lookup(struct provider *pv, struct decision *d, const json_t *q, int limit, int own_only,
                  jk_err_t *err)
{
    PGresult *own = take_prefetched(pv, d), *nat = NULL, *use;
    if (own == NULL) own = find(pv, q, 0, limit, err);
    use = own;
    if (own == NULL) return -1;
    if (!is_resident(own) && pv->have_national && !own_only) {
        nat = find(pv, q, 1, limit, err);
        if (nat == NULL) {
            PQclear(own);
            return -1;
        }
        if (is_resident(nat) || PQntuples(own) == 0) use = nat;
    }
    d->national = use == nat;
    d->count = PQntuples(use) ? atoll(PQgetvalue(use, 0, 12)) : 0;
    json_t *records = json_array();
    for (int i = 0; i < PQntuples(use); i++) {
        json_array_append_new(records, row_record(use, i, 0, d->national));
        json_array_append_new(d->residents, json_string(PQgetvalue(use, i, 0)));
    }
    json_object_set_new(d->answer, "records", records);
    json_object_set_new(d->answer, "count", json_integer(d->count));
    PQclear(own);
    PQclear(nat);
    return 0;
}

/* A disclosure: the resident's record, every version of it, and every provision of it. */
static int disclose(struct provider *pv, struct decision *d, const char *code, jk_err_t *err)
{
    json_t *q = json_pack("{s:s}", "resident_code", code);
    int rc = lookup(pv, d, q, 1, 1, err);
    json_decref(q);
    if (rc || d->count == 0) return rc;
    const char *current = json_string_value(json_array_get(d->residents, 0));
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT version, version_code, %s, "
             "to_char(valid_from AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
             "to_char(valid_to AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
             "FROM %s.history_v WHERE resident_code = $1 ORDER BY version",
             "my_number, name, name_kana, birth_date, sex, address, status, effective_date, "
             "municipality_code, reason",
             pv->schema);
    const char *params[1] = {current};
    PGresult *r = PQexecParams(pv->db, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) return pg_fail(err, "reading the history", r);
    json_t *history = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *v = json_object();
        for (int k = 0; k < PQnfields(r); k++) {
            if (PQgetisnull(r, i, k)) continue;
            const char *name = PQfname(r, k), *val = PQgetvalue(r, i, k);
            if (strcmp(name, "version") == 0)
                json_object_set_new(v, name, json_integer(atoll(val)));
            else
                json_object_set_new(v,
                                    k == PQnfields(r) - 2   ? "valid_from"
                                    : k == PQnfields(r) - 1 ? "valid_to"
                                                            : name,
                                    json_string(val));
        }
        json_array_append_new(history, v);
    }
    PQclear(r);
    json_object_set_new(d->answer, "history", history);

    /* Provisions under the codes the person had before a resident_code_change count too. */
    snprintf(sql, sizeof sql,
             "SELECT to_char(r.request_time AT TIME ZONE 'UTC', "
             "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), r.department, r.purpose, r.category, "
             "r.request_type, array_to_json(r.items), r.national "
             "FROM %1$s.provider_residents p JOIN %1$s.provider_records r USING (record_id) "
             "WHERE r.outcome = 'provision' AND p.resident_code IN "
             "(SELECT $1 UNION SELECT old_code FROM %1$s.aliases WHERE new_code = $1) "
             "ORDER BY r.request_time, r.record_id",
             pv->schema);
    r = PQexecParams(pv->db, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) return pg_fail(err, "reading provisions", r);
    json_t *provisions = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *items = json_loads(PQgetvalue(r, i, 5), 0, NULL);
        json_array_append_new(provisions,
                              json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:b}", "time",
                                        PQgetvalue(r, i, 0), "department", PQgetvalue(r, i, 1),
                                        "purpose", PQgetvalue(r, i, 2), "category",
                                        PQgetvalue(r, i, 3), "request_type", PQgetvalue(r, i, 4),
                                        "items", items ? items : json_array(), "national",
                                        strcmp(PQgetvalue(r, i, 6), "t") == 0));
    }
    PQclear(r);
    json_object_set_new(d->answer, "provisions", provisions);
    return 0;
}

/* A bulk provision: each condition matched by my number, else by all 4 information exactly. */
static int bulk(struct provider *pv, struct decision *d, const json_t *conds, jk_err_t *err)
{
    jk_copy_t cp = {0};
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c)
    {
        jk_copy_int(&cp, json_integer_value(json_object_get(c, "line")));
        static const char *const f[] = {"my_number", "name", "birth_date", "sex", "address"};
        for (int k = 0; k < 5; k++)
            jk_copy_text(&cp, json_string_value(json_object_get(c, f[k])));
        jk_copy_end_row(&cp);
    }
    char sql[2048];
    int rc = jk_pg_exec(pv->db,
                        "CREATE TEMP TABLE IF NOT EXISTS bulk_conditions (line bigint, my_number "
                        "text, name text, birth_date text, sex text, address text) "
                        "ON COMMIT DELETE ROWS",
                        err) ||
             jk_pg_exec(pv->db, "TRUNCATE bulk_conditions", err) ||
             jk_pg_copy(pv->db, "COPY bulk_conditions FROM STDIN", &cp, err);
    jk_copy_free(&cp);
    if (rc) return -1;
    snprintf(sql, sizeof sql,
             "WITH m AS ("
             " SELECT c.line, i.* FROM bulk_conditions c JOIN %1$s.identity i"
             "  ON i.my_number = c.my_number"
             " UNION ALL"
             " SELECT c.line, i.* FROM bulk_conditions c JOIN %1$s.identity i"
             "  ON c.my_number IS NULL"
             "  AND replace(normalize(i.name, NFKC), ' ', '') = "
             "replace(normalize(c.name, NFKC), ' ', '')"
             "  AND i.birth_date = c.birth_date AND i.sex = c.sex"
             "  AND replace(normalize(i.address, NFKC), ' ', '') = "
             "replace(normalize(c.address, NFKC), ' ', ''))"
             "SELECT c.line, count(m.line) OVER (PARTITION BY c.line), "
             "m.resident_code, m.my_number, m.name, m.name_kana, m.birth_date, m.sex, m.address, "
             "m.status, m.effective_date, m.municipality_code, m.reason, m.version "
             "FROM bulk_conditions c LEFT JOIN m ON m.line = c.line "
             "ORDER BY c.line, m.resident_code",
             pv->schema);
    PGresult *r = PQexec(pv->db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) return pg_fail(err, "matching the conditions", r);
    json_t *results = json_array();
    for (int k = 0; k < PQntuples(r); k++) {
        long long line = atoll(PQgetvalue(r, k, 0)), n = atoll(PQgetvalue(r, k, 1));
        if (n == 1) {
            json_array_append_new(results, json_pack("{s:I, s:s, s:o}", "line", line, "result",
                                                     "matched", "record", row_record(r, k, 2, 0)));
            json_array_append_new(d->residents, json_string(PQgetvalue(r, k, 2)));
            d->matched++;
        } else {
            /* An ambiguous line comes once per candidate: report it once, provide nobody. */
            if (k > 0 && atoll(PQgetvalue(r, k - 1, 0)) == line) continue;
            json_array_append_new(results, json_pack("{s:I, s:s}", "line", line, "result",
                                                     n == 0 ? "not_found" : "ambiguous"));
            d->unmatched++;
        }
    }
    PQclear(r);
    d->count = d->matched;
    json_object_set_new(d->answer, "results", results);
    return 0;
}

/* Decides one request: sets d->reason for a refusal, or fills d->answer. */
static int decide(struct provider *pv, struct decision *d, jk_err_t *err)
{
    const jk_record_t *r = d->r;
    const json_t *data = r->ev->data;
    d->operator_id = json_string_value(json_object_get(data, "operator"));
    d->purpose = json_string_value(json_object_get(data, "purpose"));
    const char *signer = strncmp(r->ev->source, "op:", 3) == 0 ? r->ev->source + 3 : "";
    const char *refusal = NULL;

    if (r->status != JK_REC_OK) {
        /* Whose key would it be? An operator nobody registered is that; anything else is a
         * signature that does not hold (or a chain it contradicts). */
        if (jk_operators_check(pv->ops, signer, r->broker_ms, NULL, NULL, NULL, &refusal) != 0 &&
            strcmp(refusal, "unknown_operator") == 0) {
            d->reason = "unknown_operator";
            snprintf(d->detail, sizeof d->detail, "no operator %s was registered at the time",
                     signer);
        } else {
            d->reason = "bad_signature";
            snprintf(d->detail, sizeof d->detail, "%s", r->error);
        }
        return 0;
    }
    jk_err_t why;
    if (jk_operations_check_request(r->ev->type, data, &d->kind, &why) != 0) {
        d->reason = "invalid_request";
        snprintf(d->detail, sizeof d->detail, "%s", why.msg);
        return 0;
    }
    if (strcmp(d->operator_id, signer) != 0) {
        d->reason = "bad_signature";
        snprintf(d->detail, sizeof d->detail, "signed by %s, on behalf of operator %s",
                 r->ev->source, d->operator_id);
        return 0;
    }
    const char *role = strcmp(d->kind, "bulk") == 0 ? "bulk" : "staff";
    if (jk_operators_check(pv->ops, d->operator_id, r->broker_ms, d->purpose, role, &d->op,
                           &refusal) != 0) {
        d->reason = refusal;
        snprintf(d->detail, sizeof d->detail, "operator %s: %s (role %s needed, purpose %s)",
                 d->operator_id, refusal, role, d->purpose);
    }
    d->pp = jk_catalogue_find(pv->cat, d->purpose);
    if (d->reason == NULL) {
        if (!jk_catalogue_may_cite(pv->cat, d->purpose, d->op.department)) {
            d->reason = "purpose_not_allowed";
            snprintf(d->detail, sizeof d->detail,
                     "the catalogue does not let department %s cite purpose %s", d->op.department,
                     d->purpose);
        } else if (strcmp(d->kind, "bulk") == 0 && !d->pp->bulk) {
            d->reason = "purpose_not_allowed";
            snprintf(d->detail, sizeof d->detail, "purpose %s does not allow bulk provision",
                     d->purpose);
        } else if (strcmp(d->kind, "disclosure") == 0 &&
                   strcmp(d->pp->category, "disclosure") != 0) {
            d->reason = "purpose_not_allowed";
            snprintf(d->detail, sizeof d->detail, "a disclosure cites a disclosure purpose");
        }
    }

    /* Look the persons up also for a refusal, so that each resident can see refused attempts
     * on their record; the answer of a refusal is never sealed nor sent. */
    int rc;
    if (strcmp(d->kind, "inquiry") == 0) {
        json_t *limit = json_object_get(data, "limit");
        rc = lookup(pv, d, json_object_get(data, "query"),
                    limit ? (int)json_integer_value(limit) : JK_INQUIRY_LIMIT, 0, err);
    } else if (strcmp(d->kind, "disclosure") == 0) {
        /* Earlier decisions of this batch are provisions it must list too. */
        rc = write_rows(pv, err) ||
             disclose(pv, d, json_string_value(json_object_get(data, "resident_code")), err);
    } else {
        rc = d->reason ? 0 : bulk(pv, d, json_object_get(data, "conditions"), err);
    }
    if (rc) return -1;
    if (d->reason == NULL && d->count == 0 && strcmp(d->kind, "bulk") != 0) {
        d->reason = "not_found";
        snprintf(d->detail, sizeof d->detail, "nobody matches the query");
    }
    return 0;
}

static json_t *items_json(void)
{
    json_t *a = json_array();
    for (size_t i = 0; i < jk_operations_n_items; i++)
        json_array_append_new(a, json_string(jk_operations_items[i]));
    return a;
}

/* Who the request speaks for: its operator field, else its signer. */
static const char *operator_of(const struct decision *d)
{
    const char *src = d->r->ev->source;
    return d->operator_id ? d->operator_id : strncmp(src, "op:", 3) == 0 ? src + 3 : src;
}

/* The operator's encryption key, parsed once (pv->recipients owns them). */
static EVP_PKEY *recipient(struct provider *pv, const char *b64, jk_err_t *err)
{
    EVP_PKEY *k = jk_strmap_get(pv->recipients, b64);
    if (k) return k;
    k = jk_key_from_public_b64_x25519(b64, err);
    if (k && jk_strmap_put(pv->recipients, b64, k)) {
        EVP_PKEY_free(k);
        jk_err_set(err, "out of memory");
        return NULL;
    }
    return k;
}

static void free_recipient(void *ctx, const char *key, void *value)
{
    (void)ctx;
    (void)key;
    EVP_PKEY_free(value);
}

/* The record's data: a refusal with its reason, or a provision with the sealed answer. */
static json_t *record_data(struct provider *pv, struct decision *d, const char *request_time,
                           jk_err_t *err)
{
    const jk_envelope_t *ev = d->r->ev;
    const char *type = strncmp(ev->type, "request.", 8) == 0 ? ev->type + 8 : ev->type;
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s, s:O}", "request_id", ev->id,
                  "request_type", type, "operator", operator_of(d), "department", d->op.department,
                  "purpose", d->purpose, "category", d->pp ? d->pp->category : NULL, "request_time",
                  request_time, "residents", d->residents);
    if (o == NULL) {
        jk_err_set(err, "out of memory");
        return NULL;
    }
    if (d->reason) {
        json_object_set_new(o, "reason", json_string(d->reason));
        json_object_set_new(o, "detail", json_string(d->detail));
        return o;
    }
    json_object_set_new(o, "national", json_boolean(d->national));
    json_object_set_new(o, "items", items_json());
    json_object_set_new(o, "count", json_integer(d->count));
    if (strcmp(d->kind, "bulk") == 0) {
        json_object_set_new(o, "matched", json_integer(d->matched));
        json_object_set_new(o, "unmatched", json_integer(d->unmatched));
    }
    /* One ephemeral key for the answers of up to a second (seal.h: jk_sealer_t). */
    if (pv->sealer == NULL) {
        pv->sealer = jk_sealer_new(err);
        pv->sealer_born = jk_now_ms();
    }
    EVP_PKEY *to = pv->sealer ? recipient(pv, d->op.encryption_key, err) : NULL;
    char *pt = to ? json_dumps(d->answer, JSON_COMPACT) : NULL;
    json_t *sealed = pt ? jk_sealer_seal(pv->sealer, to, pt, strlen(pt), ev->id, err) : NULL;
    if (pt) jk_pass_free(pt, strlen(pt));
    if (sealed == NULL) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "answer", sealed);
    return o;
}

/* The decision's rows, buffered for one statement per table and batch. */
static int store_row(struct provider *pv, struct decision *d, const char *record_id,
                     const json_t *rec, jk_err_t *err)
{
    jk_rows_t *rw = &pv->rows;
    jk_rows_text(rw, record_id);
    jk_rows_text(rw, d->r->ev->id);
    jk_rows_text(rw, json_string_value(json_object_get(rec, "request_type")));
    jk_rows_text(rw, d->reason ? "refusal" : "provision");
    jk_rows_text(rw, operator_of(d));
    jk_rows_text(rw, d->op.department);
    jk_rows_text(rw, d->purpose);
    jk_rows_text(rw, d->pp ? d->pp->category : NULL);
    jk_rows_text(rw, d->reason);
    jk_rows_text(rw, d->reason ? d->detail : NULL);
    jk_rows_text(rw, d->national ? "t" : "f");
    jk_rows_time(rw, d->r->broker_ms);
    char *items = d->reason ? NULL : jk_pg_array(jk_operations_items, jk_operations_n_items);
    jk_rows_text(rw, items);
    free(items);
    jk_rows_int(rw, d->reason ? (long long)json_array_size(d->residents) : d->count);
    jk_rows_end_row(rw);
    /* A person matched by two lines of a bulk file was provided once. */
    jk_strmap_t *seen = jk_strmap_new();
    if (seen == NULL) return jk_err_set(err, "out of memory");
    size_t i;
    json_t *v;
    json_array_foreach(d->residents, i, v)
    {
        const char *code = json_string_value(v);
        if (jk_strmap_get(seen, code)) continue;
        jk_strmap_put(seen, code, (void *)code);
        jk_rows_text(&pv->persons, code);
        jk_rows_text(&pv->persons, record_id);
        jk_rows_end_row(&pv->persons);
    }
    jk_strmap_free(seen);
    return pv->rows.bad || pv->persons.bad ? jk_err_set(err, "out of memory") : 0;
}

/* Writes the buffered rows into the open transaction (queued, in pipeline mode). */
static int write_rows(struct provider *pv, jk_err_t *err)
{
    char records[1024], residents[256];
    snprintf(records, sizeof records,
             "INSERT INTO %s.provider_records SELECT a, b, c, d, e, f, g, h, i, j, k, l, "
             "m::text[], n FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
             "$5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], "
             "$11::boolean[], $12::timestamptz[], $13::text[], $14::bigint[]) "
             "AS u(a, b, c, d, e, f, g, h, i, j, k, l, m, n)",
             pv->schema);
    snprintf(residents, sizeof residents,
             "INSERT INTO %s.provider_residents (resident_code, record_id) "
             "SELECT * FROM unnest($1::text[], $2::text[])",
             pv->schema);
    return jk_rows_run(pv->db, records, &pv->rows, err) ||
                   jk_rows_run(pv->db, residents, &pv->persons, err)
               ? -1
               : 0;
}

/* Decides one request and appends its record; the rows go into the open transaction. */
static int answer(struct provider *pv, const jk_record_t *r, jk_err_t *err)
{
    /* Decide only what the admin topic, read to its end after the request's time, covers (the
     * batch's refresh covers all but requests appended while it ran). */
    while (r->broker_ms >= pv->admin_as_of) {
        if (jk_now_ms() <= r->broker_ms) {
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
        }
        if (jk_consumer_admin_refresh(pv->cons, &pv->admin_as_of, err)) return -1;
    }
    struct decision d = {.r = r, .answer = json_object(), .residents = json_array()};
    char request_time[JK_TIME_LEN], record_id[33];
    jk_time_format(r->broker_ms, request_time);
    jk_operations_record_id(r->ev->id, record_id);
    json_t *rec = NULL;
    int rc = -1;
    if (decide(pv, &d, err)) goto out;
    if (d.reason) {
        json_decref(d.residents);
        d.residents = json_array();
        if (strcmp(d.reason, "bad_signature") != 0 && strcmp(d.reason, "invalid_request") != 0) {
            /* The persons the refused request would have touched, kept for their access log. */
            json_t *recs = json_object_get(d.answer, "records");
            size_t i;
            json_t *v;
            json_array_foreach(recs, i, v)
                json_array_append(d.residents, json_object_get(v, "resident_code"));
        }
    }
    rec = record_data(pv, &d, request_time, err);
    if (rec == NULL || store_row(pv, &d, record_id, rec, err)) goto out;
    char type[64];
    snprintf(type, sizeof type, "%s.%s", d.reason ? "refusal" : "provision",
             strncmp(r->ev->type, "request.", 8) == 0 ? r->ev->type + 8 : "unknown");
    if (jk_producer_append_id(pv->out, record_id, pv->topic, r->ev->id, type, r->ev->id,
                              json_incref(rec), err))
        goto out;
    if (d.reason)
        pv->refused++;
    else
        pv->provided++;
    rc = 0;
out:
    json_decref(rec);
    json_decref(d.answer);
    json_decref(d.residents);
    return rc;
}

static int is_request(const jk_record_t *r)
{
    return r->ev && strncmp(r->ev->type, "request.", 8) == 0 &&
           strncmp(r->ev->source, "op:", 3) == 0;
}

/* The provider reads requests only: its own records and the auditors' events go by unchecked. */
static int wanted(const jk_envelope_t *ev, void *ctx)
{
    (void)ctx;
    return strncmp(ev->type, "request.", 8) == 0 && strncmp(ev->source, "op:", 3) == 0;
}

/* An ephemeral key seals the answers of up to SEALER_LIFE_MS, whatever their batches: a key
 * made per batch cost an X25519 key generation and exchange per batch (about 100 us, more than
 * checking the signature of a batch of one or two requests), and the terminal that opens them
 * remembers the last key it derived (jk_opener_t). Retired when older (or now, with force), so
 * its private half is not kept longer than that. */
#define SEALER_LIFE_MS 1000

static void retire_sealer(struct provider *pv, int force)
{
    if (pv->sealer == NULL || (!force && jk_now_ms() - pv->sealer_born < SEALER_LIFE_MS)) return;
    jk_sealer_free(pv->sealer);
    pv->sealer = NULL;
}

/* One batch in one transaction: decisions, rows, position. The records are spooled durably,
 * then handed to Kafka without waiting for the broker, and the rows, position and COMMIT go to
 * PostgreSQL in one pipeline whose answer is read only with the next batch's look-ups (prefetch):
 * the broker appends the records, and the terminals read them, while the database commits. */
static int run_batch(struct provider *pv, jk_batch_t *b, jk_err_t *err)
{
    /* The admin topic's end is asked while the database answers the look-ups. */
    if (jk_consumer_admin_ask(pv->cons, err) || prefetch(pv, b, err) ||
        jk_consumer_admin_refresh(pv->cons, &pv->admin_as_of, err))
        goto fail;
    for (size_t i = 0; i < b->n; i++) {
        const jk_record_t *r = &b->recs[i];
        if (r->status == JK_REC_INVALID) {
            pv->malformed++;
            fprintf(stderr, "provider: %s [%d] at %lld is not an event, skipped: %s\n", r->topic,
                    r->partition, (long long)r->offset, r->error);
            continue;
        }
        if (!is_request(r)) {
            pv->ignored++;
            continue;
        }
        if (answer(pv, r, err)) goto fail;
    }
    drop_prefetched(pv);
    retire_sealer(pv, 0);
    if (jk_producer_sync(pv->out, err)) goto fail;
    if (jk_producer_send(pv->out, err)) {
        /* The records stay spooled and go out with the next batch; the decisions stand. */
        fprintf(stderr, "provider: %s\n", err->msg);
    }
    if (jk_pg_pipeline_begin(pv->db, err)) goto fail;
    if (write_rows(pv, err) || jk_position_store(pv->db, pv->schema, "provider", pv->cons, err) ||
        jk_pg_run(pv->db, "COMMIT", 0, NULL, err)) {
        jk_pg_pipeline_end(pv->db, 0, NULL, &(jk_err_t){""});
        goto fail;
    }
    if (jk_pg_pipeline_send(pv->db, err)) goto fail;
    pv->committing = 1;
    return 0;
fail:
    drop_prefetched(pv);
    retire_sealer(pv, 1);
    jk_rows_clear(&pv->rows);
    jk_rows_clear(&pv->persons);
    if (PQpipelineStatus(pv->db) != PQ_PIPELINE_OFF) PQexitPipelineMode(pv->db);
    jk_pg_exec(pv->db, "ROLLBACK", &(jk_err_t){""});
    return -1;
}

static int national_exists(struct provider *pv, jk_err_t *err)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT to_regclass('%s.persons') IS NOT NULL", pv->national);
    PGresult *r = PQexec(pv->db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pg_fail(err, "looking for the national projection", r);
    pv->have_national = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return 0;
}

static const char usage_text[] =
    "usage: jukilog provider [--until-caught-up] [--rebuild] [-X key=value]...\n"
    "\n"
    "Answers every request on the operations topic (request.inquiry, request.disclosure,\n"
    "request.bulk), in log order. Each is checked as of its own broker time: the operator's\n"
    "signature, registration, role and granted purposes (admin topic), and that the catalogue\n"
    "lets the operator's department cite the purpose. Then the persons are looked up in the\n"
    "identity file (persons not in this prefecture: in the national projection built by\n"
    "`jukilog national`), and a provision (personal data encrypted to the operator) or a\n"
    "refusal with its reason is appended: unknown_operator, revoked, role_not_allowed,\n"
    "purpose_not_allowed, bad_signature, invalid_request, not_found.\n"
    "Exactly once: the decisions (tables provider_records, provider_residents) and the\n"
    "position are committed together.\n"
    "  --until-caught-up  stop once the topic is read up to where it ended at the start\n"
    "  --rebuild          forget the decisions and decide every request again from offset 0\n"
    "                     (records appended again carry the same ids: readers drop them)\n"
    "Prints a summary line (JSON) at the end.\n";

int cmd_provider(int argc, char **argv)
{
    static const struct option opts[] = {
        {"until-caught-up", no_argument, NULL, 'u'},
        {"rebuild", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "provider";
    struct provider pv;
    memset(&pv, 0, sizeof pv);
    jk_err_t err;
    if (jk_terminal_config(&pv.cfg, &err)) return jk_cli_fail(cmd, &err);
    int until = 0, rebuild = 0, c, rc = JK_EXIT_ERROR;
    jk_batch_t b = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:urh", opts, NULL)) != -1) {
        if (c == 'u')
            until = 1;
        else if (c == 'r')
            rebuild = 1;
        else if ((rc = jk_cli_option(c, argv, cmd, &pv.cfg, usage_text)) != JK_CLI_NEXT)
            goto out;
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    jk_config_schema(&pv.cfg, pv.schema, sizeof pv.schema);
    snprintf(pv.national, sizeof pv.national, "%s_national", pv.cfg.ns);
    jk_config_topic(&pv.cfg, "operations", pv.topic, sizeof pv.topic);
    char source[64];
    snprintf(source, sizeof source, "provider:%s", pv.cfg.prefecture);
    pv.cat = jk_catalogue_default(&err);
    pv.ops = pv.cat ? jk_operators_new() : NULL;
    if (pv.cat &&
        (!pv.ops || !(pv.prepared = jk_strmap_new()) || !(pv.recipients = jk_strmap_new())))
        jk_err_set(&err, "out of memory");
    pv.db = pv.recipients ? jk_pg_connect(&pv.cfg, &err) : NULL;
    /* A batch's COMMIT does not wait for its WAL to reach the disk. What a crash of PostgreSQL
     * (or of the machine) could lose is the last fraction of a second of decisions with their
     * position, never one without the other; the requests are then decided again and their
     * records appended again with the same ids, which readers drop: what a crash of the provider
     * between appending and committing does already (the records went out durably spooled).
     * A batch no longer waits for the previous one's WAL flush before it starts. */
    if (pv.db && jk_pg_exec(pv.db, "SET synchronous_commit = off", &err)) goto fail;
    if (!pv.db || jk_pg_script(pv.db, jk_sql_journal, pv.schema, &err) ||
        jk_pg_script(pv.db, jk_sql_identity, pv.schema, &err))
        goto fail;
    if (rebuild) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "DROP TABLE IF EXISTS %1$s.provider_records, %1$s.provider_residents", pv.schema);
        if (jk_pg_exec(pv.db, sql, &err) || jk_position_forget(pv.db, pv.schema, "provider", &err))
            goto fail;
    }
    if (jk_pg_script(pv.db, jk_sql_provider, pv.schema, &err) || national_exists(&pv, &err))
        goto fail;
    pv.key = jk_cli_source_key(&pv.cfg, source, &err);
    pv.out = pv.key ? jk_producer_open(&pv.cfg, source, pv.key, &err) : NULL;
    /* Records a crash left in the spool go out first. */
    if (!pv.out || jk_producer_flush(pv.out, &err)) goto fail;
    pv.cons = jk_consumer_open_admin(&pv.cfg, on_admin, &pv, &err);
    if (pv.cons) jk_consumer_only(pv.cons, wanted, NULL);
    if (!pv.cons || jk_consumer_admin_refresh(pv.cons, &pv.admin_as_of, &err) ||
        jk_position_restore(pv.db, pv.schema, "provider", pv.cons, pv.topic, &err))
        goto fail;

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int64_t started = jk_now_ms(), last_look = started;
    while (!stop_requested && !(until && jk_consumer_caught_up(pv.cons))) {
        if (jk_consumer_poll(pv.cons, &b, 256, 200, &err)) goto fail;
        if (jk_producer_poll(pv.out, 0, &err)) fprintf(stderr, "provider: %s\n", err.msg);
        if (b.n == 0 && b.duplicates == 0) {
            if (finish_commit(&pv, &err)) goto fail;
            retire_sealer(&pv, 0);
            int64_t now = jk_now_ms();
            if (!pv.have_national && now - last_look > 5000) {
                if (national_exists(&pv, &err)) goto fail;
                last_look = now;
            }
            continue;
        }
        if (run_batch(&pv, &b, &err)) goto fail;
    }
    if (finish_commit(&pv, &err) || jk_producer_flush(pv.out, &err)) goto fail;
    double secs = (double)(jk_now_ms() - started) / 1000.0;
    printf("{\"provided\":%lld,\"refused\":%lld,\"other_events\":%lld,\"malformed\":%lld,"
           "\"seconds\":%.3f}\n",
           pv.provided, pv.refused, pv.ignored, pv.malformed, secs);
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    jk_batch_free(&b);
    jk_rows_free(&pv.rows);
    jk_rows_free(&pv.persons);
    drop_prefetched(&pv);
    retire_sealer(&pv, 1);
    jk_strmap_free(pv.prepared);
    if (pv.recipients) jk_strmap_foreach(pv.recipients, free_recipient, NULL);
    jk_strmap_free(pv.recipients);
    jk_consumer_close(pv.cons);
    jk_producer_close(pv.out);
    EVP_PKEY_free(pv.key);
    jk_operators_free(pv.ops);
    jk_catalogue_free(pv.cat);
    if (pv.db) PQfinish(pv.db);
    jk_config_free(&pv.cfg);
    return rc;
}
