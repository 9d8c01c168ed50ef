/* consistency_submit.c: `jukilog consistency submit`, the municipal CS's side of the consistency
 * check (DOMAIN.md duty 6): the municipality's current records against the prefecture's file.
 *
 * The snapshot is checked line by line as `cs send` checks a change (a bad line refuses the
 * whole submission: a partial snapshot would report every missing line as a difference). The
 * records are normalised and hashed into buckets (projections/consistency.c), and only the
 * buckets' digests go on the log (consistency.submitted). The prefecture's consistency consumer
 * answers with the buckets whose digests differ from its own file's as of the submission
 * (consistency.requested); this command then sends the records of those buckets only
 * (consistency.records, in chunks of at most 1 MB of records), and waits for the report
 * (consistency.reported), whose counts it prints. The report itself: `consistency report`.
 *
 * The CS signs with its own key, under the source cscheck:<code> (registered by `cs enroll`):
 * a chain of its own, so that the identity topic's readers see the CS's identity chain whole. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/cli.h"
#include "jukilog/codes.h"
#include "jukilog/consistency.h"
#include "jukilog/consumer.h"
#include "jukilog/kafka.h"
#include "jukilog/producer.h"
#include "jukilog/seqstate.h"
#include "jukilog/strmap.h"

#define CHUNK_BYTES 1000000 /* records per consistency.records event, in bytes */

/* The snapshot, normalised: one line per record, in file order. */
struct snapshot {
    char (*codes)[12];
    char **lines;
    size_t n, cap;
    size_t bytes; /* sum of the lines' lengths */
};

static void snapshot_free(struct snapshot *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->lines[i]);
    free(s->lines);
    free(s->codes);
}

static int snapshot_add(struct snapshot *s, const char *code, char *line)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        char(*nc)[12] = realloc(s->codes, cap * sizeof *nc);
        if (nc) s->codes = nc;
        char **nl = nc ? realloc(s->lines, cap * sizeof *nl) : NULL;
        if (!nl) return -1;
        s->lines = nl;
        s->cap = cap;
    }
    memcpy(s->codes[s->n], code, 12);
    s->lines[s->n++] = line;
    s->bytes += strlen(line);
    return 0;
}

static void print_invalid(long line, const char *code, const char *detail)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s}", "line", (json_int_t)line, "status", "invalid",
                          "error", code, "detail", detail);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) puts(s);
    free(s);
    json_decref(o);
}

/* Reads and checks the snapshot. Returns the number of invalid lines (printed), or -1. */
static long read_snapshot(FILE *in, const jk_change_ctx_t *ctx, struct snapshot *snap,
                          jk_err_t *err)
{
    jk_strmap_t *seen = jk_strmap_new(); /* code -> line number (as a pointer-sized integer) */
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0, invalid = 0;
    int64_t now = jk_now_ms();
    if (!seen) return jk_err_set(err, "out of memory");
    while ((len = getline(&buf, &cap, in)) >= 0) {
        lineno++;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            len--;
        if (len == 0) continue;
        json_error_t je;
        json_t *rec = json_loadb(buf, (size_t)len, JSON_REJECT_DUPLICATES, &je);
        jk_problem_t pb;
        memset(&pb, 0, sizeof pb);
        json_t *norm = NULL;
        if (!rec) {
            pb.code = "invalid_format";
            snprintf(pb.detail, sizeof pb.detail, "not JSON: %s", je.text);
        } else {
            if (json_is_object(rec) && !json_object_get(rec, "notified_at")) {
                char t[JK_TIME_LEN];
                jk_time_format(now, t);
                json_object_set_new(rec, "notified_at", json_string(t));
            }
            jk_change_t ch;
            if (jk_change_parse(rec, ctx, &ch, &pb) == 0) {
                norm = jk_consistency_from_change(&ch, &pb);
                jk_change_free(&ch);
            }
        }
        json_decref(rec);
        if (norm) {
            const char *code = json_string_value(json_object_get(norm, "resident_code"));
            long first = (long)(intptr_t)jk_strmap_get(seen, code);
            if (first) {
                pb.code = "invalid_format";
                snprintf(pb.detail, sizeof pb.detail, "resident_code %s is on line %ld already",
                         code, first);
            } else {
                char *line = jk_consistency_line(norm);
                if (!line || jk_strmap_put(seen, code, (void *)(intptr_t)lineno) ||
                    snapshot_add(snap, code, line)) {
                    free(line);
                    json_decref(norm);
                    jk_strmap_free(seen);
                    free(buf);
                    return jk_err_set(err, "out of memory");
                }
                json_decref(norm);
                continue;
            }
            json_decref(norm);
        }
        if (pb.code && strcmp(pb.code, "out_of_memory") == 0) {
            jk_strmap_free(seen);
            free(buf);
            return jk_err_set(err, "out of memory");
        }
        invalid++;
        print_invalid(lineno, pb.code, pb.detail);
    }
    jk_strmap_free(seen);
    free(buf);
    if (ferror(in)) return jk_err_set(err, "cannot read the snapshot");
    return invalid;
}

/* The size on the wire of an event with this data, as the producer will send it. */
static size_t event_bytes(const char *type, const char *source, const char *subject,
                          const json_t *data)
{
    jk_envelope_t *ev = jk_envelope_new(type, source, subject, json_deep_copy(data), NULL);
    if (!ev) return 0;
    ev->seq = 1;
    memcpy(ev->prev, JK_ZERO_HASH, sizeof ev->prev);
    unsigned char sig[64] = {0};
    ev->sig = jk_b64_encode(sig, sizeof sig); /* an Ed25519 signature's length */
    char *s = jk_envelope_serialize(ev, NULL);
    size_t n = s ? strlen(s) : 0;
    free(s);
    jk_envelope_free(ev);
    return n;
}

struct submit {
    jk_config_t cfg;
    const char *code;
    char source[32], topic[128], service[64];
    jk_producer_t *p;
    jk_consumer_t *cons;
    char id[33];
    size_t bytes_sent;
    long events_sent, records_sent;
    json_t *answers; /* the prefecture's answers read so far, by type */
    int refused;     /* a consistency.refused answered this submission */
};

static int append(struct submit *s, const char *type, json_t *data, char id_out[33], jk_err_t *err)
{
    s->bytes_sent += event_bytes(type, s->source, s->code, data);
    s->events_sent++;
    return jk_producer_append(s->p, s->topic, s->code, type, s->code, data, id_out, err);
}

/* Waits for the prefecture's event of that type answering this submission; *data gets its
 * data (a new reference). Answers read while waiting for another one are kept for later. */
static int await(struct submit *s, const char *type, int timeout_s, json_t **data, jk_err_t *err)
{
    jk_batch_t b = {0};
    int64_t deadline = jk_now_ms() + (int64_t)timeout_s * 1000;
    for (;;) {
        *data = json_incref(json_object_get(s->answers, type));
        if (*data) break;
        const json_t *refused = json_object_get(s->answers, "consistency.refused");
        if (refused) {
            jk_batch_free(&b);
            s->refused = 1;
            return jk_err_set(err, "the prefecture refused the submission %s: %s", s->id,
                              json_string_value(json_object_get(refused, "reason")));
        }
        if (jk_now_ms() > deadline) {
            jk_batch_free(&b);
            return jk_err_set(err,
                              "no %s from the prefecture within %d s: is `jukilog consistency` "
                              "running? The submission %s stays on the log and is answered when "
                              "it runs; submit again to see the answer",
                              type, timeout_s, s->id);
        }
        if (jk_consumer_poll(s->cons, &b, 100, 200, err)) {
            jk_batch_free(&b);
            return -1;
        }
        for (size_t i = 0; i < b.n; i++) {
            const jk_record_t *r = &b.recs[i];
            if (r->status != JK_REC_OK || strcmp(r->ev->source, s->service) != 0) continue;
            const char *sub = json_string_value(json_object_get(r->ev->data, "submission"));
            if (sub && strcmp(sub, s->id) == 0)
                json_object_set(s->answers, r->ev->type, r->ev->data);
        }
    }
    jk_batch_free(&b);
    return 0;
}

/* Sends the records of the requested buckets in chunks. */
static int send_records(struct submit *s, const struct snapshot *snap, uint32_t buckets,
                        const json_t *requested, jk_err_t *err)
{
    unsigned char *want = calloc(buckets, 1);
    if (!want) return jk_err_set(err, "out of memory");
    size_t i;
    json_t *v;
    json_array_foreach(requested, i, v)
    {
        json_int_t b = json_integer_value(v);
        if (!json_is_integer(v) || b < 0 || b >= buckets) {
            free(want);
            return jk_err_set(err, "the prefecture requested bucket %lld of %u", (long long)b,
                              buckets);
        }
        want[b] = 1;
    }
    /* Chunks first, so that each knows how many there are. */
    json_t *chunks = json_array(), *cur = NULL;
    size_t cur_bytes = 0;
    int rc = 0;
    for (size_t k = 0; k < snap->n && rc == 0; k++) {
        if (!want[jk_consistency_bucket(snap->codes[k], buckets)]) continue;
        size_t len = strlen(snap->lines[k]);
        if (!cur || (cur_bytes + len > CHUNK_BYTES && json_array_size(cur) > 0)) {
            cur = json_array();
            json_array_append_new(chunks, cur);
            cur_bytes = 0;
        }
        json_t *rec = json_loads(snap->lines[k], 0, NULL);
        if (!rec || json_array_append_new(cur, rec)) rc = jk_err_set(err, "out of memory");
        cur_bytes += len + 1;
        s->records_sent++;
    }
    free(want);
    size_t n = json_array_size(chunks);
    for (size_t k = 0; k < n && rc == 0; k++) {
        json_t *data =
            json_pack("{s:s, s:I, s:I, s:O}", "submission", s->id, "chunk", (json_int_t)(k + 1),
                      "chunks", (json_int_t)n, "records", json_array_get(chunks, k));
        rc = data ? append(s, "consistency.records", data, NULL, err)
                  : jk_err_set(err, "out of memory");
        if (rc == 0 && (k + 1) % 16 == 0) rc = jk_producer_flush(s->p, err);
    }
    json_decref(chunks);
    return rc ? -1 : jk_producer_flush(s->p, err);
}

/* What sending every record would cost: the records, and one event's envelope per chunk. */
static size_t all_records_bytes(const struct submit *s, const struct snapshot *snap)
{
    json_t *empty = json_pack("{s:s, s:I, s:I, s:[]}", "submission", s->id, "chunk", (json_int_t)1,
                              "chunks", (json_int_t)1, "records");
    size_t envelope = event_bytes("consistency.records", s->source, s->code, empty);
    json_decref(empty);
    size_t total = 0, chunk = 0, chunks = snap->n ? 1 : 0;
    for (size_t k = 0; k < snap->n; k++) {
        size_t len = strlen(snap->lines[k]) + 1;
        if (chunk + len > CHUNK_BYTES + 1 && chunk > 0) chunks++, chunk = 0;
        chunk += len;
        total += len;
    }
    return total + chunks * envelope;
}

/* The end of each partition of the consistency topic: where the answers will be. */
static int64_t *topic_ends(const jk_config_t *cfg, const char *topic, int *n, jk_err_t *err)
{
    rd_kafka_t *rk = jk_kafka_client(cfg, RD_KAFKA_PRODUCER, NULL, err);
    if (!rk) return NULL;
    int64_t *ends = jk_kafka_ends(rk, topic, n, 10000, err);
    rd_kafka_destroy(rk);
    return ends;
}

static const char submit_help[] =
    "usage: jukilog consistency submit --municipality CODE [--timeout SECONDS]\n"
    "                                  [-X key=value]... SNAPSHOT|-\n"
    "\n"
    "Checks the municipality's current records against the prefecture's identity file.\n"
    "SNAPSHOT holds one change record per resident (JSON Lines, as `cs send` reads them):\n"
    "the record after the person's last change, with that change's reason and effective\n"
    "date. Every line is checked first; if any is invalid, each is printed as\n"
    "  {\"line\":N,\"status\":\"invalid\",\"error\":\"<code>\",\"detail\":\"...\"}\n"
    "and nothing is submitted (exit 1). Otherwise the records are hashed into buckets and\n"
    "only the buckets' digests are sent (consistency.submitted); the prefecture's\n"
    "`jukilog consistency` answers with the buckets that differ, whose records alone are\n"
    "then sent (consistency.records), and reports. Prints one JSON line: the submission,\n"
    "records, buckets, buckets_differing, records_sent, bytes_sent (the events sent),\n"
    "bytes_all_records (what sending every record would cost) and the report's counts.\n"
    "A submission the prefecture refuses (consistency.refused) gives its reason and exit 1.\n"
    "--timeout: how long to wait for each answer (default 120 s). Read the report with\n"
    "`jukilog consistency report --municipality CODE`.\n";

int cmd_consistency_submit(int argc, char **argv)
{
    static const struct option opts[] = {
        {"municipality", required_argument, NULL, 'm'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "consistency submit";
    struct submit s;
    memset(&s, 0, sizeof s);
    s.answers = json_object();
    struct snapshot snap;
    memset(&snap, 0, sizeof snap);
    jk_digests_t dg = {0};
    jk_err_t err;
    if (jk_config_load(&s.cfg, &err)) return jk_cli_fail(cmd, &err);
    int c, rc = JK_EXIT_ERROR, timeout = 120, nparts = 0;
    FILE *in = NULL;
    EVP_PKEY *key = NULL;
    int64_t *ends = NULL;
    json_t *req = NULL, *rep = NULL;
    char *digests = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:m:t:h", opts, NULL)) != -1) {
        if (c == 'm') {
            s.code = optarg;
        } else if (c == 't') {
            timeout = atoi(optarg);
            if (timeout < 1 || timeout > 86400) {
                rc = jk_cli_usage(cmd, "--timeout must be 1..86400 seconds");
                goto out;
            }
        } else if ((rc = jk_cli_option(c, argv, cmd, &s.cfg, submit_help)) != JK_CLI_NEXT) {
            goto out;
        }
    }
    if (!s.code || argc - optind != 1) {
        rc = jk_cli_usage(cmd, "--municipality CODE and one snapshot (FILE or -) are required");
        goto out;
    }
    if (strlen(s.code) != 6 || strspn(s.code, "0123456789") != 6 ||
        !jk_code_municipality_valid(s.code) || strncmp(s.code, s.cfg.prefecture, 2) != 0) {
        rc = jk_cli_usage(cmd, "\"%s\" is not a municipality code of prefecture %s", s.code,
                          s.cfg.prefecture);
        goto out;
    }
    const char *file = argv[optind];
    in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (!in) {
        jk_err_set(&err, "cannot open %s", file);
        goto fail;
    }
    jk_change_ctx_t ctx = {s.cfg.prefecture, s.code};
    long invalid = read_snapshot(in, &ctx, &snap, &err);
    if (invalid < 0) goto fail;
    if (invalid > 0) {
        fprintf(stderr, "jukilog %s: %ld invalid line%s; nothing submitted\n", cmd, invalid,
                invalid == 1 ? "" : "s");
        rc = JK_EXIT_REJECTED;
        goto out;
    }

    uint32_t buckets = jk_consistency_bucket_count(snap.n);
    if (jk_digests_init(&dg, buckets)) {
        jk_err_set(&err, "out of memory");
        goto fail;
    }
    for (size_t k = 0; k < snap.n; k++)
        jk_digests_add(&dg, snap.codes[k], snap.lines[k]);
    digests = jk_digests_encode(&dg);
    char snapshot_id[65], cs_source[32], state[PATH_MAX], cs_file[40];
    jk_sha256_hex(dg.sum, (size_t)buckets * JK_CONSISTENCY_DIGEST, snapshot_id);

    /* The last seq the CS gave out on its identity chain: a gap at the end shows too. */
    snprintf(cs_source, sizeof cs_source, "cs:%s", s.code);
    jk_config_source_file(cs_source, cs_file, sizeof cs_file);
    jk_seqstate_t st;
    if (jk_config_path(&s.cfg, state, sizeof state, "state/%s.state", cs_file) ||
        jk_seqstate_load(state, cs_source, &st, &err))
        goto fail;

    snprintf(s.source, sizeof s.source, "cscheck:%s", s.code);
    snprintf(s.service, sizeof s.service, "consistency:%s", s.cfg.prefecture);
    jk_config_topic(&s.cfg, "consistency", s.topic, sizeof s.topic);
    key = jk_cli_source_key(&s.cfg, cs_source, &err);
    if (!key) goto fail;
    s.cons = jk_consumer_open(&s.cfg, &err);
    if (!s.cons) goto fail;
    if (!jk_keyreg_lookup(jk_consumer_keys(s.cons), s.source, jk_now_ms())) {
        jk_err_set(&err,
                   "no key is registered for %s: run `jukilog cs enroll --municipality %s` "
                   "again to register the CS's key for consistency checks",
                   s.source, s.code);
        goto fail;
    }
    ends = topic_ends(&s.cfg, s.topic, &nparts, &err);
    if (!ends || jk_consumer_assign(s.cons, s.topic, ends, nparts, &err)) goto fail;
    s.p = jk_producer_open(&s.cfg, s.source, key, &err);
    /* Anything an earlier run left in the spool goes first. */
    if (!s.p || jk_producer_flush(s.p, &err)) goto fail;

    json_t *data =
        json_pack("{s:s, s:s, s:I, s:I, s:I, s:s}", "municipality", s.code, "snapshot", snapshot_id,
                  "buckets", (json_int_t)buckets, "records", (json_int_t)snap.n, "identity_seq",
                  (json_int_t)st.seq, "digests", digests);
    if (!data) {
        jk_err_set(&err, "out of memory");
        goto fail;
    }
    int64_t started = jk_now_ms();
    if (append(&s, "consistency.submitted", data, s.id, &err) || jk_producer_flush(s.p, &err) ||
        await(&s, "consistency.requested", timeout, &req, &err))
        goto fail;
    json_t *requested = json_object_get(req, "buckets");
    if (json_array_size(requested) > 0 && send_records(&s, &snap, buckets, requested, &err))
        goto fail;
    if (await(&s, "consistency.reported", timeout, &rep, &err)) goto fail;
    double secs = (double)(jk_now_ms() - started) / 1000.0;
    json_t *o = json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "submission",
        s.id, "municipality", s.code, "records", (json_int_t)snap.n, "buckets", (json_int_t)buckets,
        "buckets_differing", (json_int_t)json_array_size(requested), "records_sent",
        (json_int_t)s.records_sent, "events_sent", (json_int_t)s.events_sent, "bytes_sent",
        (json_int_t)s.bytes_sent, "bytes_all_records", (json_int_t)all_records_bytes(&s, &snap),
        "only_in_municipality",
        (json_int_t)json_array_size(json_object_get(rep, "only_in_municipality")),
        "only_in_prefecture",
        (json_int_t)json_array_size(json_object_get(rep, "only_in_prefecture")), "differences",
        (json_int_t)json_array_size(json_object_get(rep, "differences")), "gaps",
        (json_int_t)json_array_size(json_object_get(rep, "gaps")), "seconds", secs);
    char *line =
        o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(4)) : NULL;
    if (line) puts(line);
    free(line);
    json_decref(o);
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
    if (s.refused) rc = JK_EXIT_REJECTED;
out:
    json_decref(req);
    json_decref(rep);
    json_decref(s.answers);
    free(digests);
    free(ends);
    jk_digests_free(&dg);
    snapshot_free(&snap);
    jk_producer_close(s.p);
    jk_consumer_close(s.cons);
    EVP_PKEY_free(key);
    if (in && in != stdin) fclose(in);
    jk_config_free(&s.cfg);
    return rc;
}
