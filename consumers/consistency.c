/* consistency.c: `jukilog consistency`, the prefecture's side of the consistency check
 * (DOMAIN.md duty 6), and the front of its sub-commands `submit` (producers/) and `report`.
 *
 * It reads the consistency topic and answers each CS (the exchange: consistency.h):
 *   consistency.submitted  waits until the projector has read the identity topic past the
 *                          submission's broker time (DESIGN.md: a consumer that needs another
 *                          topic's state reads it up to its high-water mark first), digests the
 *                          prefecture's records of that municipality as of that time, and asks
 *                          for the buckets that differ (consistency.requested; none: it reports
 *                          at once);
 *   consistency.records    keeps the chunks until the last is in, then compares the records of
 *                          those buckets with the prefecture's as of the submission, adds the
 *                          gaps in the CS's identity chain as the projector saw them, and
 *                          appends consistency.reported. It never repairs anything.
 * An event of either kind that is not well formed is answered with consistency.refused (why).
 * Exactly once, in the projector's manner: per event, the answers are spooled durably, then its
 * rows and the consumer's offsets and chain heads are committed in one transaction, then the
 * spool is sent. The answers' ids are derived from the submission's, so answering again after
 * a crash gives duplicates that readers drop. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jukilog/cli.h"
#include "jukilog/consistency.h"
#include "jukilog/consumer.h"
#include "jukilog/kafka.h"
#include "jukilog/pg.h"
#include "jukilog/position.h"
#include "jukilog/producer.h"
#include "jukilog/strmap.h"

extern const char jk_sql_consistency[];
extern const char jk_sql_identity[];

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct checker {
    jk_config_t cfg;
    char schema[64], topic[128], identity_topic[128], service[64];
    PGconn *db;
    jk_consumer_t *cons;
    jk_producer_t *p;
    EVP_PKEY *key;
    rd_kafka_t *rk; /* for the identity topic's high-water marks */
    int wait_s;
    long submissions, reports, refused, ignored;
};

/* A submission as stored between its events. */
struct submission {
    char id[33], municipality[7], source[32], as_of[JK_TIME_LEN];
    long long buckets, records, prefecture_records, identity_seq;
    json_t *requested;
    char state[16];
};

static void derived_id(const char *kind, const char *from, char out[33])
{
    char seed[96], h[65];
    snprintf(seed, sizeof seed, "%s:%s", kind, from);
    jk_sha256_hex(seed, strlen(seed), h);
    memcpy(out, h, 32);
    out[32] = '\0';
}

/* Runs a statement with text parameters; NULL (err filled) unless it succeeded. */
static PGresult *query(struct checker *c, const char *sql, int n, const char *const *params,
                       const char *what, jk_err_t *err)
{
    PGresult *r = PQexecParams(c->db, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return r;
    jk_err_set(err, "%s: %s", what, PQresultErrorMessage(r));
    err->msg[strcspn(err->msg, "\n")] = '\0';
    PQclear(r);
    return NULL;
}

static int exec(struct checker *c, const char *sql, int n, const char *const *params,
                const char *what, jk_err_t *err)
{
    PGresult *r = query(c, sql, n, params, what, err);
    PQclear(r);
    return r ? 0 : -1;
}

/* True once the projector's identity file holds everything up to as_of_ms: its log clock has
 * passed it, or it has read every partition of the identity topic up to the current end. */
static int projector_past(struct checker *c, int64_t as_of_ms, char *why, size_t nwhy,
                          jk_err_t *err)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce((SELECT (extract(epoch FROM log_time) * 1000)::bigint FROM %s.events "
             "ORDER BY n DESC LIMIT 1), 0)",
             c->schema);
    PGresult *r = query(c, sql, 0, NULL, "reading the projector's log clock", err);
    if (!r) return -1;
    int64_t clock = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (clock > as_of_ms) return 1;
    snprintf(sql, sizeof sql,
             "SELECT partition, next_offset FROM %s.consumer_offsets WHERE consumer = 'projector' "
             "AND topic = $1",
             c->schema);
    const char *params[1] = {c->identity_topic};
    if (!(r = query(c, sql, 1, params, "reading the projector's offsets", err))) return -1;
    int n;
    int64_t *ends = jk_kafka_ends(c->rk, c->identity_topic, &n, 10000, err);
    if (ends == NULL) {
        PQclear(r);
        return -1;
    }
    int ready = 1;
    for (int i = 0; i < n && ready; i++) {
        int64_t hi = ends[i], at = 0;
        for (int k = 0; k < PQntuples(r); k++)
            if (atoi(PQgetvalue(r, k, 0)) == i) at = atoll(PQgetvalue(r, k, 1));
        if (at < hi) {
            ready = 0;
            snprintf(why, nwhy, "partition %d read up to offset %lld of %lld", i, (long long)at,
                     (long long)hi);
        }
    }
    free(ends);
    PQclear(r);
    return ready;
}

static int wait_projector(struct checker *c, int64_t as_of_ms, jk_err_t *err)
{
    int64_t deadline = jk_now_ms() + (int64_t)c->wait_s * 1000;
    int told = 0;
    char why[128] = "";
    for (;;) {
        int ready = projector_past(c, as_of_ms, why, sizeof why, err);
        if (ready != 0) return ready < 0 ? -1 : 0;
        char t[JK_TIME_LEN];
        jk_time_format(as_of_ms, t);
        if (stop_requested || jk_now_ms() > deadline)
            return jk_err_set(err,
                              "the projector has not read the identity topic up to %s (%s) "
                              "within %d s: run `jukilog projector`",
                              t, why, c->wait_s);
        if (!told++)
            fprintf(stderr, "consistency: waiting for the projector to pass %s (%s)\n", t, why);
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Streams the prefecture's records of a municipality as of a time: digests them (dg, when not
 * NULL), keeps those of the wanted buckets (want, when not NULL) in arr, counts them all.
 * Inside the caller's transaction (in_tx), or in one of its own. */
static int load_prefecture(struct checker *c, int in_tx, const char *municipality,
                           const char *as_of, uint32_t buckets, const unsigned char *want,
                           jk_digests_t *dg, json_t *arr, long long *count, jk_err_t *err)
{
    char sql[1024];
    /* Each person's version at as_of (history follows renames: version_code is the code then). */
    snprintf(sql, sizeof sql,
             "DECLARE prefecture NO SCROLL CURSOR FOR SELECT version_code, my_number, name, "
             "name_kana, birth_date, sex, address, municipality_code, reason, effective_date FROM "
             "(SELECT DISTINCT ON (resident_code) * FROM %s.history WHERE valid_from <= "
             "$1::timestamptz ORDER BY resident_code, version DESC) h "
             "WHERE status = 'resident' AND municipality_code = $2",
             c->schema);
    const char *params[2] = {as_of, municipality};
    *count = 0;
    if ((!in_tx && exec(c, "BEGIN", 0, NULL, "reading the identity file", err)) ||
        exec(c, sql, 2, params, "reading the identity file", err))
        goto fail;
    for (;;) {
        PGresult *r =
            query(c, "FETCH 10000 FROM prefecture", 0, NULL, "reading the identity file", err);
        if (!r) goto fail;
        int n = PQntuples(r);
        for (int i = 0; i < n; i++) {
            const char *v[JK_CF_N];
            for (int f = 0; f < JK_CF_N; f++)
                v[f] = PQgetisnull(r, i, f) ? NULL : PQgetvalue(r, i, f);
            (*count)++;
            if (want && !want[jk_consistency_bucket(v[0], buckets)]) continue;
            json_t *rec = jk_consistency_record(v);
            char *line = rec && dg ? jk_consistency_line(rec) : NULL;
            int bad = !rec || (dg && !line) || (arr && json_array_append(arr, rec));
            if (line) jk_digests_add(dg, v[0], line);
            free(line);
            json_decref(rec);
            if (bad) {
                PQclear(r);
                jk_err_set(err, "out of memory");
                goto fail;
            }
        }
        PQclear(r);
        if (n == 0) break;
    }
    return exec(c, in_tx ? "CLOSE prefecture" : "COMMIT", 0, NULL, "reading the identity file",
                err);
fail:
    if (!in_tx) PQclear(PQexec(c->db, "ROLLBACK"));
    return -1;
}

/* The gaps in the CS's identity chain as the projector saw it up to as_of: seqs missing below
 * the highest it saw, and those after it up to the last seq the CS says it gave out. Forged
 * events (bad signatures) fill no gap. */
static json_t *chain_gaps(struct checker *c, const char *municipality, const char *as_of,
                          long long identity_seq, jk_err_t *err)
{
    char sql[1024], source[32];
    snprintf(source, sizeof source, "cs:%s", municipality);
    snprintf(sql, sizeof sql,
             "WITH s AS (SELECT DISTINCT seq FROM %s.events WHERE source = $1 AND log_time <= "
             "$2::timestamptz AND seq > 0 AND coalesce(code, '') <> 'bad_signature'), "
             "g AS (SELECT lag(seq, 1, 0::bigint) OVER (ORDER BY seq) + 1 AS a, seq - 1 AS b "
             "FROM s) "
             "SELECT a, b FROM g WHERE a <= b UNION ALL "
             "SELECT coalesce(max(seq), 0) + 1, $3::bigint FROM s HAVING coalesce(max(seq), 0) < "
             "$3::bigint ORDER BY 1",
             c->schema);
    char seq[24];
    snprintf(seq, sizeof seq, "%lld", identity_seq);
    const char *params[3] = {source, as_of, seq};
    PGresult *r = query(c, sql, 3, params, "reading the CS's chain", err);
    if (!r) return NULL;
    json_t *gaps = json_array();
    for (int i = 0; gaps && i < PQntuples(r); i++)
        json_array_append_new(gaps, json_pack("{s:s, s:I, s:I}", "source", source, "from",
                                              (json_int_t)atoll(PQgetvalue(r, i, 0)), "to",
                                              (json_int_t)atoll(PQgetvalue(r, i, 1))));
    PQclear(r);
    if (!gaps) jk_err_set(err, "out of memory");
    return gaps;
}

/* Spools the report of a submission from the two sides' records of the differing buckets. */
static int report(struct checker *c, const struct submission *s, const json_t *municipality,
                  const json_t *prefecture, char id_out[33], jk_err_t *err)
{
    json_t *data = jk_consistency_diff(municipality, prefecture);
    json_t *gaps = data ? chain_gaps(c, s->municipality, s->as_of, s->identity_seq, err) : NULL;
    if (!gaps) {
        json_decref(data);
        return data ? -1 : jk_err_set(err, "out of memory");
    }
    json_object_set_new(data, "submission", json_string(s->id));
    json_object_set_new(data, "municipality", json_string(s->municipality));
    json_object_set_new(data, "as_of", json_string(s->as_of));
    json_object_set_new(data, "records", json_integer(s->records));
    json_object_set_new(data, "prefecture_records", json_integer(s->prefecture_records));
    json_object_set_new(data, "buckets", json_integer(s->buckets));
    json_object_set_new(data, "buckets_differing",
                        json_integer((json_int_t)json_array_size(s->requested)));
    json_object_set_new(data, "gaps", gaps);
    derived_id("consistency.reported", s->id, id_out);
    c->reports++;
    return jk_producer_append_id(c->p, id_out, c->topic, s->municipality, "consistency.reported",
                                 s->municipality, data, err);
}

/* Ends the transaction an event's rows are in: the consumer's position and chain heads, the
 * spool made durable, commit, and then the spool sent. */
static int commit(struct checker *c, jk_err_t *err)
{
    if (jk_position_store(c->db, c->schema, "consistency", c->cons, err) ||
        jk_producer_sync(c->p, err))
        goto fail;
    return exec(c, "COMMIT", 0, NULL, "committing", err) || jk_producer_flush(c->p, err) ? -1 : 0;
fail:
    PQclear(PQexec(c->db, "ROLLBACK"));
    return -1;
}

/* Moves the position past an event that asks for nothing. */
static int advance(struct checker *c, jk_err_t *err)
{
    return exec(c, "BEGIN", 0, NULL, "storing offsets", err) || commit(c, err) ? -1 : 0;
}

/* Refuses a CS's event that is not what the protocol says: the refusal goes back to the CS on the
 * log (consistency.refused, its id derived from the event's, so a replay sends the same one), and
 * is committed with the position like any answer; submit stops waiting and says why. */
static int refuse(struct checker *c, const jk_record_t *r, const char *submission, const char *why,
                  jk_err_t *err)
{
    c->refused++;
    fprintf(stderr, "consistency: %s %s from %s refused: %s\n", r->ev->type, r->ev->id,
            r->ev->source, why);
    char id[33];
    derived_id("consistency.refused", r->ev->id, id);
    const char *code = r->ev->source + strlen("cscheck:");
    json_t *data = json_pack("{s:s, s:s, s:s, s:s}", "submission", submission, "event", r->ev->id,
                             "type", r->ev->type, "reason", why);
    if (!data) return jk_err_set(err, "out of memory");
    return jk_producer_append_id(c->p, id, c->topic, code, "consistency.refused", code, data, err);
}

static int on_submitted(struct checker *c, const jk_record_t *r, jk_err_t *err)
{
    const json_t *d = r->ev->data;
    struct submission s;
    memset(&s, 0, sizeof s);
    const char *m = json_string_value(json_object_get(d, "municipality"));
    const char *dig = json_string_value(json_object_get(d, "digests"));
    json_t *jb = json_object_get(d, "buckets"), *jr = json_object_get(d, "records"),
           *js = json_object_get(d, "identity_seq");
    if (!m || strlen(m) != 6 || strcmp(r->ev->source + strlen("cscheck:"), m) != 0 || !dig ||
        !json_is_integer(jb) || !json_is_integer(jr) || json_integer_value(jr) < 0 ||
        !json_is_integer(js) || json_integer_value(js) < 0) {
        return refuse(c, r, r->ev->id,
                      "data must hold the sender's municipality, digests, buckets, records and "
                      "identity_seq",
                      err)
                   ? -1
                   : 1;
    }
    jk_digests_t theirs = {0}, ours = {0};
    jk_err_t why;
    if (jk_digests_decode(dig, (uint32_t)json_integer_value(jb), &theirs, &why))
        return refuse(c, r, r->ev->id, why.msg, err) ? -1 : 1;
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s.consistency_submissions WHERE submission = $1",
             c->schema);
    const char *p1[1] = {r->ev->id};
    PGresult *res = query(c, sql, 1, p1, "reading submissions", err);
    int known = res && PQntuples(res) > 0;
    PQclear(res);
    if (!res || known) {
        jk_digests_free(&theirs);
        return res ? 1 : -1;
    }
    memcpy(s.id, r->ev->id, 33);
    snprintf(s.municipality, sizeof s.municipality, "%s", m);
    snprintf(s.source, sizeof s.source, "%s", r->ev->source);
    jk_time_format(r->broker_ms, s.as_of);
    s.buckets = theirs.buckets;
    s.records = json_integer_value(jr);
    s.identity_seq = json_integer_value(js);
    uint32_t *diff = NULL;
    int rc = -1;
    json_t *requested = NULL;
    if (wait_projector(c, r->broker_ms, err) || jk_digests_init(&ours, theirs.buckets) ||
        load_prefecture(c, 0, m, s.as_of, theirs.buckets, NULL, &ours, NULL, &s.prefecture_records,
                        err))
        goto out;
    diff = malloc((size_t)theirs.buckets * sizeof *diff);
    requested = json_array();
    if (!diff || !requested) {
        jk_err_set(err, "out of memory");
        goto out;
    }
    size_t nd = jk_digests_differ(&theirs, &ours, diff);
    for (size_t i = 0; i < nd; i++)
        json_array_append_new(requested, json_integer(diff[i]));
    s.requested = requested;
    char req_id[33], rep_id[33] = "";
    derived_id("consistency.requested", s.id, req_id);
    json_t *data = json_pack("{s:s, s:s, s:s, s:O}", "submission", s.id, "municipality", m, "as_of",
                             s.as_of, "buckets", requested);
    if (!data ||
        jk_producer_append_id(c->p, req_id, c->topic, m, "consistency.requested", m, data, err))
        goto out;
    if (nd == 0) {
        json_t *none = json_array();
        int bad = report(c, &s, none, none, rep_id, err);
        json_decref(none);
        if (bad) goto out;
    }
    c->submissions++;
    char *req_text = json_dumps(requested, JSON_COMPACT);
    char buckets[16], records[24], pref[24], seq[24];
    snprintf(buckets, sizeof buckets, "%lld", s.buckets);
    snprintf(records, sizeof records, "%lld", s.records);
    snprintf(pref, sizeof pref, "%lld", s.prefecture_records);
    snprintf(seq, sizeof seq, "%lld", s.identity_seq);
    const char *params[11] = {s.id,
                              m,
                              s.source,
                              s.as_of,
                              buckets,
                              records,
                              pref,
                              seq,
                              req_text,
                              nd ? "requested" : "reported",
                              nd ? NULL : rep_id};
    char up[256];
    /* A later submission replaces one still waiting for its records. */
    snprintf(up, sizeof up,
             "UPDATE %s.consistency_submissions SET state = 'superseded' WHERE municipality = $1 "
             "AND state = 'requested'",
             c->schema);
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.consistency_submissions VALUES ($1, $2, $3, $4::timestamptz, $5, $6, "
             "$7, $8, $9, $10, $11)",
             c->schema);
    rc = !req_text || exec(c, "BEGIN", 0, NULL, "storing the submission", err) ||
                 exec(c, up, 1, &params[1], "storing the submission", err) ||
                 exec(c, sql, 11, params, "storing the submission", err)
             ? -1
             : commit(c, err);
    free(req_text);
out:
    json_decref(requested);
    free(diff);
    jk_digests_free(&theirs);
    jk_digests_free(&ours);
    return rc;
}

/* Loads a stored submission; 0 when found, 1 when not, -1 on error. */
static int load_submission(struct checker *c, const char *id, struct submission *s, jk_err_t *err)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT municipality, source, to_char(as_of AT TIME ZONE 'UTC', "
             "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), buckets, records, prefecture_records, "
             "identity_seq, requested, state FROM %s.consistency_submissions WHERE submission = $1",
             c->schema);
    const char *params[1] = {id};
    PGresult *r = query(c, sql, 1, params, "reading submissions", err);
    if (!r) return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 1;
    }
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    snprintf(s->municipality, sizeof s->municipality, "%s", PQgetvalue(r, 0, 0));
    snprintf(s->source, sizeof s->source, "%s", PQgetvalue(r, 0, 1));
    snprintf(s->as_of, sizeof s->as_of, "%s", PQgetvalue(r, 0, 2));
    s->buckets = atoll(PQgetvalue(r, 0, 3));
    s->records = atoll(PQgetvalue(r, 0, 4));
    s->prefecture_records = atoll(PQgetvalue(r, 0, 5));
    s->identity_seq = atoll(PQgetvalue(r, 0, 6));
    s->requested = json_loads(PQgetvalue(r, 0, 7), 0, NULL);
    snprintf(s->state, sizeof s->state, "%s", PQgetvalue(r, 0, 8));
    PQclear(r);
    if (!s->requested) return jk_err_set(err, "submission %s: requested buckets unreadable", id);
    return 0;
}

/* The municipality's records of every chunk of a submission, those of requested buckets only,
 * each code once. */
static json_t *collect_records(struct checker *c, const struct submission *s,
                               const unsigned char *want, jk_err_t *err)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT records FROM %s.consistency_chunks WHERE submission = $1 ORDER BY chunk",
             c->schema);
    const char *params[1] = {s->id};
    PGresult *r = query(c, sql, 1, params, "reading the records", err);
    if (!r) return NULL;
    json_t *all = json_array();
    jk_strmap_t *seen = jk_strmap_new();
    for (int i = 0; all && seen && i < PQntuples(r); i++) {
        json_t *chunk = json_loads(PQgetvalue(r, i, 0), 0, NULL);
        size_t k;
        json_t *rec;
        json_array_foreach(chunk, k, rec)
        {
            jk_err_t why;
            if (jk_consistency_check_record(rec, &why)) continue;
            const char *code = json_string_value(json_object_get(rec, "resident_code"));
            if (!want[jk_consistency_bucket(code, (uint32_t)s->buckets)] ||
                jk_strmap_get(seen, code))
                continue;
            jk_strmap_put(seen, code, seen);
            json_array_append(all, rec);
        }
        json_decref(chunk);
    }
    PQclear(r);
    if (!seen) {
        json_decref(all);
        all = NULL;
    }
    jk_strmap_free(seen);
    if (!all) jk_err_set(err, "out of memory");
    return all;
}

static int on_records(struct checker *c, const jk_record_t *r, jk_err_t *err)
{
    const json_t *d = r->ev->data;
    const char *sub = json_string_value(json_object_get(d, "submission"));
    json_t *jc = json_object_get(d, "chunk"), *jn = json_object_get(d, "chunks");
    json_t *recs = json_object_get(d, "records");
    if (!sub || !json_is_integer(jc) || !json_is_integer(jn) || !json_is_array(recs) ||
        json_integer_value(jc) < 1 || json_integer_value(jc) > json_integer_value(jn) ||
        json_integer_value(jn) > 100000) {
        return refuse(c, r, sub ? sub : r->ev->id,
                      "data must hold submission, chunk (1..chunks), chunks and records", err)
                   ? -1
                   : 1;
    }
    struct submission s;
    int found = load_submission(c, sub, &s, err);
    if (found < 0) return -1;
    if (found > 0 || strcmp(s.source, r->ev->source) != 0 || strcmp(s.state, "requested") != 0) {
        /* Late, superseded, or not this sender's: nothing to do. */
        if (found == 0) json_decref(s.requested);
        return 1;
    }
    int rc = -1;
    unsigned char *want = calloc((size_t)s.buckets, 1);
    json_t *mine = NULL, *theirs = json_array();
    char *text = json_dumps(recs, JSON_COMPACT);
    char sql[512], cs[16], ns[16];
    snprintf(cs, sizeof cs, "%lld", (long long)json_integer_value(jc));
    snprintf(ns, sizeof ns, "%lld", (long long)json_integer_value(jn));
    const char *params[4] = {sub, cs, ns, text};
    if (!want || !theirs || !text) {
        jk_err_set(err, "out of memory");
        goto out;
    }
    size_t i;
    json_t *v;
    json_array_foreach(s.requested, i, v)
    {
        json_int_t b = json_integer_value(v);
        if (b >= 0 && b < s.buckets) want[b] = 1;
    }
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.consistency_chunks VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
             c->schema);
    if (exec(c, "BEGIN", 0, NULL, "storing records", err) ||
        exec(c, sql, 4, params, "storing records", err))
        goto rollback;
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM %s.consistency_chunks WHERE submission = $1 AND chunks = $2",
             c->schema);
    const char *p2[2] = {sub, ns};
    PGresult *res = query(c, sql, 2, p2, "counting chunks", err);
    if (!res) goto rollback;
    int complete = atoll(PQgetvalue(res, 0, 0)) == json_integer_value(jn);
    PQclear(res);
    if (complete) {
        char rep_id[33];
        long long pcount;
        mine = collect_records(c, &s, want, err);
        if (!mine ||
            load_prefecture(c, 1, s.municipality, s.as_of, (uint32_t)s.buckets, want, NULL, theirs,
                            &pcount, err) ||
            report(c, &s, mine, theirs, rep_id, err))
            goto rollback;
        snprintf(sql, sizeof sql,
                 "UPDATE %s.consistency_submissions SET state = 'reported', report_id = $2 "
                 "WHERE submission = $1",
                 c->schema);
        const char *p3[2] = {sub, rep_id};
        char del[256];
        snprintf(del, sizeof del, "DELETE FROM %s.consistency_chunks WHERE submission = $1",
                 c->schema);
        if (exec(c, sql, 2, p3, "storing the report", err) ||
            exec(c, del, 1, p3, "storing the report", err))
            goto rollback;
    }
    rc = commit(c, err);
    goto out;
rollback:
    PQclear(PQexec(c->db, "ROLLBACK"));
out:
    free(text);
    free(want);
    json_decref(mine);
    json_decref(theirs);
    json_decref(s.requested);
    return rc;
}

static const char consistency_help[] =
    "usage: jukilog consistency [--until-caught-up] [--wait SECONDS] [-X key=value]...\n"
    "       jukilog consistency submit --municipality CODE SNAPSHOT   (the CS's side)\n"
    "       jukilog consistency report --municipality CODE [--json]   (the latest report)\n"
    "\n"
    "Answers the municipalities' consistency checks on the consistency topic: for each\n"
    "submission it compares the buckets' digests with those of the prefecture's identity\n"
    "file as of the submission's broker time, asks for the records of the buckets that\n"
    "differ, and reports the records only in the municipality, only in the prefecture,\n"
    "every field that differs (both values), and the gaps in the CS's identity chain as\n"
    "the projector saw them. It never repairs anything; a submission or records that are\n"
    "not well formed are refused, the reason sent back (consistency.refused). Before\n"
    "deciding it waits until the projector has read the identity topic past the\n"
    "submission (--wait: at most this long, default 60 s, then exit 2). Exactly once: its\n"
    "position is kept in PostgreSQL with its rows.\n"
    "  --until-caught-up  stop once the topic is read up to where it ended at the start\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"until-caught-up", no_argument, NULL, 'u'},
        {"wait", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "consistency";
    struct checker c;
    memset(&c, 0, sizeof c);
    c.wait_s = 60;
    jk_err_t err;
    if (jk_config_load(&c.cfg, &err)) return jk_cli_fail(cmd, &err);
    int until = 0, opt, rc = JK_EXIT_ERROR;
    jk_batch_t b = {0};
    optind = 1;
    while ((opt = getopt_long(argc, argv, "X:uw:h", opts, NULL)) != -1) {
        if (opt == 'u') {
            until = 1;
        } else if (opt == 'w') {
            c.wait_s = atoi(optarg);
            if (c.wait_s < 1 || c.wait_s > 86400) {
                rc = jk_cli_usage(cmd, "--wait must be 1..86400 seconds");
                goto out;
            }
        } else if ((rc = jk_cli_option(opt, argv, cmd, &c.cfg, consistency_help)) != JK_CLI_NEXT) {
            goto out;
        }
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    jk_config_schema(&c.cfg, c.schema, sizeof c.schema);
    jk_config_topic(&c.cfg, "consistency", c.topic, sizeof c.topic);
    jk_config_topic(&c.cfg, "identity", c.identity_topic, sizeof c.identity_topic);
    snprintf(c.service, sizeof c.service, "consistency:%s", c.cfg.prefecture);
    c.db = jk_pg_connect(&c.cfg, &err);
    if (!c.db || jk_pg_script(c.db, jk_sql_journal, c.schema, &err) ||
        jk_pg_script(c.db, jk_sql_identity, c.schema, &err) ||
        jk_pg_script(c.db, jk_sql_consistency, c.schema, &err))
        goto fail;
    c.key = jk_cli_source_key(&c.cfg, c.service, &err);
    c.p = c.key ? jk_producer_open(&c.cfg, c.service, c.key, &err) : NULL;
    /* Answers a crash left in the spool go out first. */
    if (!c.p || jk_producer_flush(c.p, &err)) goto fail;
    c.rk = jk_kafka_client(&c.cfg, RD_KAFKA_PRODUCER, NULL, &err);
    c.cons = c.rk ? jk_consumer_open(&c.cfg, &err) : NULL;
    if (!c.cons) goto fail;
    if (jk_position_restore(c.db, c.schema, "consistency", c.cons, c.topic, &err)) goto fail;

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int64_t started = jk_now_ms();
    long events = 0;
    while (!stop_requested && !(until && jk_consumer_caught_up(c.cons))) {
        /* One event at a time: each is committed with its answers before the next is read. */
        if (jk_consumer_poll(c.cons, &b, 1, 500, &err)) goto fail;
        if (b.n == 0) {
            if (b.duplicates && advance(&c, &err)) goto fail;
            continue;
        }
        const jk_record_t *r = &b.recs[0];
        events++;
        int done = 1;
        if (r->status == JK_REC_OK && strncmp(r->ev->source, "cscheck:", 8) == 0) {
            if (strcmp(r->ev->type, "consistency.submitted") == 0)
                done = on_submitted(&c, r, &err);
            else if (strcmp(r->ev->type, "consistency.records") == 0)
                done = on_records(&c, r, &err);
        } else if (r->status != JK_REC_OK) {
            c.ignored++;
            fprintf(stderr, "consistency: event at %s [%d] offset %lld refused: %s\n", r->topic,
                    r->partition, (long long)r->offset, r->error);
        }
        if (done < 0 || (done > 0 && advance(&c, &err))) goto fail;
    }
    printf("{\"events\":%ld,\"submissions\":%ld,\"reports\":%ld,\"refused\":%ld,"
           "\"ignored\":%ld,\"seconds\":%.3f}\n",
           events, c.submissions, c.reports, c.refused, c.ignored,
           (double)(jk_now_ms() - started) / 1000.0);
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    jk_batch_free(&b);
    jk_consumer_close(c.cons);
    if (c.rk) rd_kafka_destroy(c.rk);
    jk_producer_close(c.p);
    EVP_PKEY_free(c.key);
    if (c.db) PQfinish(c.db);
    jk_config_free(&c.cfg);
    return rc;
}

int cmd_consistency(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "submit") == 0)
        return cmd_consistency_submit(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "report") == 0)
        return cmd_consistency_report(argc - 1, argv + 1);
    return run(argc, argv);
}
