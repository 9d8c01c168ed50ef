/* projector_group.c: the projector as one member of a group (`jukilog projector --group`):
 * several processes of one tenant share the identity topic's partitions through Kafka's consumer
 * group protocol, and together write exactly the tables a single projector writes (byte for
 * byte, as `--rebuild` would).
 *
 * Why a member cannot read only its share. The tables are not per-partition: events.n numbers
 * every event in the one order of the whole topic (consumer.c: a source's events by seq,
 * otherwise broker time, then partition), and the log clock (events.log_time,
 * history.valid_from, identity.broker_time, aliases.broker_time) is the largest broker time up
 * to each event in that order. A member that reads only its partitions knows neither how many
 * events of the others come before one of its own nor their times. Nor is a source's seq the only
 * order that counts: resident_code_change reads the state of its new code, which events of other
 * sources on another partition write, and which comes first is decided by broker time. So gating
 * each source's events on its chain head stored in PostgreSQL (apply seq n only when the head is
 * n-1) keeps seq order but not the tables: numbers collide, clocks differ, and a rename and a
 * birth of the same new code by two CSs may come out either way round.
 *
 * So every member computes the one order, and the members share the work of applying it:
 *
 * 1. Order. Each member reads every partition, with the merge of a single projector, and
 *    numbers every record whether it applies it or not. While the log grows, members would see
 *    different ends and so merge differently near them; the merge is therefore cut into segments
 *    whose ends (an offset per partition: the high watermarks when a member first needed the
 *    segment) are agreed in projector_segments, the first member to need segment k+1 inserting
 *    it and the others reading it, and each segment is merged exactly as a log that ends there
 *    (jk_consumer_limit). A log written before the members start is one segment, which is how
 *    `--rebuild` reads it. Members verify chain heads only (consumer.h: the records' statuses are
 *    the same), so that together they verify about what one live projector does.
 * 2. Share. The group protocol (group.c; group id "<ns>.<pref>.projector") gives each member its
 *    partitions. A member applies the records of its partitions from the offset stored for them
 *    in consumer_offsets (never from Kafka's committed offsets) and only counts the others. The
 *    rebalance callback runs between batches, so a partition's last batch under its old owner
 *    has committed (or, the owner killed mid-batch, rolled back) before the new owner reads its
 *    offset. A member that lost partitions without knowing (stalled past session.timeout.ms, or
 *    frozen inside a batch and thawed) is fenced: each batch's transaction first locks its
 *    partitions' offsets (SELECT ... FOR UPDATE, in partition order) and checks that they hold
 *    what it stored last; finding one moved, it rolls back before writing anything, drops the
 *    rows it had made for the batch (projector.c, reset_batch; kept, they went out with its next
 *    batch, rows of records the other member had committed since, and failed on events_pkey)
 *    and starts over (4). Of a zombie and the partition's new owner, whichever commits second
 *    is refused, and what the first committed is a batch the dependency rules below allowed.
 *    The check is a compare-and-set of the boundary between a partition's committed records and
 *    the rest, and it holds only because a stored offset never goes back: a batch stores, for
 *    each of its partitions, the larger of the consumer's position there and what the member
 *    stored before, so a batch that applies a record of the partition moves the offset past it,
 *    and one that applies none leaves it as it was. An offset found unchanged therefore means
 *    that nobody has committed a record of the partition since the member stored (or read) it:
 *    the records it is about to write, all at or above that offset, are nobody else's, and the
 *    states of their codes it loaded before the transaction are current. Storing the consumer's
 *    position as it was broke this: a member (re)starting at the earliest cut (4) counts its
 *    partitions' records again up to their stored offsets, and stored those lower positions
 *    meanwhile. Whoever read such an offset next (the new owner after a rebalance, the member
 *    itself after a fence) took committed records for unapplied, and an offset going back and
 *    forward again through the value another member expected let that member pass the fence
 *    although records of the partition had been committed since it looked their ids up (before
 *    its transaction): two members applied the same records, and the second failed on
 *    events_pkey instead of being refused and starting over.
 * 3. Dependencies. A resident code's records are on one partition, its home (the code is the
 *    key; the producers' partitioner is librdkafka's default, consistent_random), except a
 *    record that names a code of another partition: the new code of resident_code_change, or a
 *    record sent with another key. Call it foreign. A member holds back (jk_consumer_hold) a
 *    record of its own
 *      a. that names a code whose home is another member's partition q, until q's stored offset
 *         has reached the merge's position in q (every record of q before it is committed);
 *      b. that names a code which an earlier foreign record on another member's partition x
 *         named, until x's stored offset has passed that record.
 *    Any two records naming one code on two partitions are thereby ordered (if the earlier is
 *    foreign, b; otherwise the later is, a), whatever the partitioner: a wrong guess of the home
 *    only makes members wait more. Within its own partitions a member applies in order anyway.
 *    No deadlock: a member commits everything before the record it holds, so the earliest held
 *    record in the order waits only for records before it, which are committed or belong to
 *    members that are not held before it, and those go on. A member that owns nothing applies
 *    and holds nothing. A held member reads the stored offsets again after a sleep that grows
 *    from 1 to 50 ms: it never spins.
 * 4. Restart. With every commit a member stores, for each of its partitions, a cut: the merge's
 *    position (every partition's next offset), the number and clock there, every source's chain
 *    (waiting events included) and the segment. Cuts are positions in the one order, and a
 *    partition's cut precedes nothing of that partition that is not committed; so the earliest
 *    of the partitions' cuts precedes only committed records. A member starts there (at start,
 *    after any change of its share, after a fence), counting without applying the records below
 *    its partitions' stored offsets and all of the others', and storing those offsets unchanged
 *    until it passes them (2); a partition's cut may so lie below its offset, never above. It
 *    reads the cuts before the offsets, which only grow, so the offsets it reads are at or past
 *    the cut it starts from. The group's first cut (partition -1) is where a single projector
 *    left off, so a single projector can hand over to a group; or, when it stopped with events
 *    waiting in a gap of a chain (kept in chain_heads only by positions stored since the waiting
 *    column exists; counting is right for every position), the beginning of the log,
 *    the members counting what it applied (ensure_base). Not back: once a group has run,
 *    `jukilog projector` without --group refuses (a group of one does the same work).
 * 5. Notices. A source's chain has one writer, so one member at a time, the holder of an
 *    advisory lock, sends the notices to the CSs, from the committed events rows below the
 *    earliest cut, in n order, with the ids a single projector gives them (projector_notices
 *    keeps how far). Its chain state is the producer's state file: members that may send must
 *    share $JUKILOG_HOME/state (one host, or one volume).
 *
 * What a group does not do: an event reusing the id of an earlier one that it does not copy (only
 * a misbehaving source or a forgery makes one) keeps its number in a group but not in a single
 * projector; the partition count must not change while a group runs. */
#include "projector_group.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/chain.h"
#include "jukilog/cli.h"
#include "jukilog/group.h"
#include "jukilog/pg.h"
#include "jukilog/strmap.h"
#include "jukilog/util.h"

#define HOLD_SLEEP_MAX_MS 50 /* longest wait before reading the stored offsets again */
#define IDLE_MS 100          /* wait when the log has nothing new */
#define CHECK_EVERY_MS 200   /* pgroup_notify, pgroup_done */
#define NOTICE_ROWS 2000     /* notices per round trip */
#define SEGMENTS_KEPT 1000   /* segments kept below the earliest cut's */
#define TOUCHES_SWEEP 4096   /* remembered codes before committed ones are forgotten */

/* A position in the order (see 4 above). */
struct cut {
    int64_t segment, n, log_ms;
    int64_t *offsets; /* [nparts] */
    json_t *chains;
};

/* Foreign records of other members' partitions naming a code, not yet known to be committed. */
struct touch {
    int32_t partition;
    int64_t after; /* the record's offset + 1 */
};
struct touches {
    size_t n, cap;
    struct touch *t;
};

struct pgroup {
    const jk_config_t *cfg;
    PGconn *db;
    char schema[64], topic[128];
    jk_group_t *member;
    int nparts;
    uint64_t generation; /* of the share last acted on */
    int fenced;
    int broken; /* out of memory in the hold callback */
    unsigned char *owned;
    int nowned;
    int64_t *applied;   /* own partitions: stored offset when taken over (applied below it) */
    int64_t *stored;    /* own partitions: the offset this member stored last (the fence) */
    int64_t *committed; /* every partition's stored offset, as last read */
    int64_t *ends;      /* the current segment's ends */
    int64_t *joined;    /* high watermarks when this member joined (--until-caught-up) */
    int64_t segment;
    jk_strmap_t *touches; /* code -> struct touches * */
    int held;
    int sleep_ms;
    long long holds;
    /* the notices' sender */
    int sender;
    int64_t notify_at, done_at;
    EVP_PKEY *key;
    jk_producer_t *notices;
    char outcomes_topic[128];
};

/* ---- small helpers ---- */

static PGresult *query(pgroup_t *g, const char *sql, int n, const char *const *params,
                       const char *what, jk_err_t *err)
{
    PGresult *r = PQexecParams(g->db, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        jk_err_set(err, "%s: %s", what, PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

static int run(pgroup_t *g, const char *sql, int n, const char *const *params, const char *what,
               jk_err_t *err)
{
    PGresult *r = query(g, sql, n, params, what, err);
    PQclear(r);
    return r ? 0 : -1;
}

/* "{1,2,3}" of n offsets; malloc'd. */
static char *array_text(const int64_t *v, int n)
{
    size_t cap = 2 + (size_t)n * 21;
    char *s = malloc(cap), *p = s;
    if (!s) return NULL;
    *p++ = '{';
    for (int i = 0; i < n; i++)
        p += snprintf(p, cap - (size_t)(p - s), i ? ",%lld" : "%lld", (long long)v[i]);
    snprintf(p, cap - (size_t)(p - s), "}");
    return s;
}

static int parse_array(const char *s, int64_t *out, int n)
{
    if (*s++ != '{') return -1;
    for (int i = 0; i < n; i++) {
        char *end;
        out[i] = strtoll(s, &end, 10);
        if (end == s) return -1;
        s = end;
        if (*s == ',') s++;
    }
    return strcmp(s, "}") == 0 ? 0 : -1;
}

static int64_t next_of(jk_consumer_t *c, int32_t partition)
{
    const char *topic;
    int32_t p;
    int64_t next;
    jk_consumer_part(c, (size_t)partition, &topic, &p, &next);
    return next;
}

/* The offset a batch stores for one of this member's partitions: where the consumer is in it,
 * but never below what the member stored last (see 2 above: a stored offset only grows). */
static int64_t next_stored(const pgroup_t *g, jk_consumer_t *c, int32_t partition)
{
    int64_t next = next_of(c, partition);
    return next > g->stored[partition] ? next : g->stored[partition];
}

/* The partition the producers' partitioner gives a code (the key of its records). */
static int32_t home(const pgroup_t *g, const char *code)
{
    return rd_kafka_msg_partitioner_consistent_random(NULL, code, strlen(code), g->nparts, NULL,
                                                      NULL);
}

static int load_committed(pgroup_t *g, jk_err_t *err)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT partition, next_offset FROM %s.consumer_offsets "
             "WHERE consumer = 'projector' AND topic = $1",
             g->schema);
    const char *params[1] = {g->topic};
    PGresult *r = query(g, sql, 1, params, "reading the stored offsets", err);
    if (!r) return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int p = atoi(PQgetvalue(r, i, 0));
        if (p >= 0 && p < g->nparts) g->committed[p] = atoll(PQgetvalue(r, i, 1));
    }
    PQclear(r);
    return 0;
}

/* ---- cuts ---- */

static void cut_free(struct cut *c)
{
    free(c->offsets);
    json_decref(c->chains);
    memset(c, 0, sizeof *c);
}

struct chains_ctx {
    const jk_chain_t *chain;
    json_t *out;
    json_t *waits;
    int oom;
};

static void add_wait(void *ctx, int64_t seq, const char *prev, const char *hash)
{
    struct chains_ctx *cc = ctx;
    if (json_array_append_new(cc->waits, json_pack("[I,s,s]", (json_int_t)seq, prev, hash)))
        cc->oom = 1;
}

static void add_chain(void *ctx, const jk_chain_summary_t *s)
{
    struct chains_ctx *cc = ctx;
    cc->waits = json_array();
    if (cc->waits) jk_chain_foreach_waiting(cc->chain, s->source, add_wait, cc);
    json_t *e = cc->waits
                    ? json_pack("[s,I,s,o]", s->source, (json_int_t)s->linked, s->head, cc->waits)
                    : NULL;
    if (!e || json_array_append_new(cc->out, e)) cc->oom = 1;
}

/* Every source's chain as JSON text (see projector_group.sql); malloc'd. */
static char *chains_text(jk_consumer_t *c)
{
    struct chains_ctx cc = {.chain = jk_consumer_chain(c), .out = json_array()};
    if (!cc.out) return NULL;
    jk_chain_foreach(cc.chain, add_chain, &cc);
    char *s = cc.oom ? NULL : json_dumps(cc.out, JSON_COMPACT);
    json_decref(cc.out);
    return s;
}

static int restore_chains(jk_consumer_t *c, json_t *chains, jk_err_t *err)
{
    size_t i, k;
    json_t *e, *w;
    json_array_foreach(chains, i, e)
    {
        const char *source = json_string_value(json_array_get(e, 0));
        const char *head = json_string_value(json_array_get(e, 2));
        json_t *waits = json_array_get(e, 3);
        if (!source || !head ||
            jk_chain_restore(jk_consumer_chain(c), source, json_integer_value(json_array_get(e, 1)),
                             head))
            return jk_err_set(err, "a stored chain of the group cannot be restored");
        json_array_foreach(waits, k, w)
        {
            const char *prev = json_string_value(json_array_get(w, 1));
            const char *hash = json_string_value(json_array_get(w, 2));
            if (!prev || !hash) return jk_err_set(err, "a stored chain of the group is damaged");
            jk_chain_observe(jk_consumer_chain(c), source, json_integer_value(json_array_get(w, 0)),
                             prev, hash);
        }
    }
    return 0;
}

static int cut_from_row(pgroup_t *g, PGresult *r, int i, struct cut *c, jk_err_t *err)
{
    c->segment = atoll(PQgetvalue(r, i, 1));
    c->n = atoll(PQgetvalue(r, i, 2));
    c->log_ms = atoll(PQgetvalue(r, i, 3));
    c->offsets = malloc((size_t)g->nparts * sizeof *c->offsets);
    json_error_t je;
    c->chains = json_loads(PQgetvalue(r, i, 5), 0, &je);
    if (!c->offsets || !c->chains || parse_array(PQgetvalue(r, i, 4), c->offsets, g->nparts)) {
        cut_free(c);
        return jk_err_set(err, "the group's stored position of partition %s is damaged",
                          PQgetvalue(r, i, 0));
    }
    return 0;
}

/* The group's first cut, where a single projector left off (nothing of it, or stopped inside a
 * gap of a chain: the beginning). */
static int ensure_base(pgroup_t *g, jk_err_t *err)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s.projector_cuts WHERE partition = -1", g->schema);
    PGresult *r = query(g, sql, 0, NULL, "reading the group's positions", err);
    if (!r) return -1;
    int have = PQntuples(r) > 0;
    PQclear(r);
    if (have) return 0;

    int rc = -1;
    int64_t *offsets = calloc((size_t)g->nparts, sizeof *offsets);
    int64_t *lows = calloc((size_t)g->nparts, sizeof *lows);
    json_t *chains = json_array();
    char *offs = NULL, *ch = NULL, *ends = NULL;
    if (!offsets || !lows || !chains) {
        jk_err_set(err, "out of memory");
        goto out;
    }
    for (int p = 0; p < g->nparts; p++) {
        int64_t hi;
        if (jk_group_watermarks(g->member, p, &lows[p], &hi, err)) goto out;
        offsets[p] = lows[p];
    }
    snprintf(sql, sizeof sql,
             "SELECT partition, next_offset FROM %s.consumer_offsets "
             "WHERE consumer = 'projector' AND topic = $1",
             g->schema);
    const char *p1[1] = {g->topic};
    if (!(r = query(g, sql, 1, p1, "reading the stored offsets", err))) goto out;
    for (int i = 0; i < PQntuples(r); i++) {
        int p = atoi(PQgetvalue(r, i, 0));
        if (p >= 0 && p < g->nparts) offsets[p] = atoll(PQgetvalue(r, i, 1));
    }
    PQclear(r);
    snprintf(sql, sizeof sql,
             "SELECT source, linked, head FROM %s.chain_heads WHERE consumer = 'projector' "
             "ORDER BY source",
             g->schema);
    if (!(r = query(g, sql, 0, NULL, "reading the chain heads", err))) goto out;
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(chains, json_pack("[s,I,s,[]]", PQgetvalue(r, i, 0),
                                                (json_int_t)atoll(PQgetvalue(r, i, 1)),
                                                PQgetvalue(r, i, 2)));
    PQclear(r);
    /* As a single projector resumes (projector.c, load_next_n). */
    snprintf(sql, sizeof sql,
             "SELECT coalesce(max(n), 0) + 1, coalesce((extract(epoch FROM max(log_time)) * "
             "1000)::bigint, 0) FROM %s.events",
             g->schema);
    if (!(r = query(g, sql, 0, NULL, "reading the events table", err))) goto out;
    char n[24], log_ms[24], cut_n[24], cut_ms[24];
    snprintf(n, sizeof n, "%s", PQgetvalue(r, 0, 0));
    snprintf(log_ms, sizeof log_ms, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    /* chain_heads keeps a source's linked head, and the events a single projector applied ahead
     * of a missing predecessor (a gap in the chain) only where it stored its position since the
     * waiting column exists; they wait in its chain until the predecessor comes. Without them
     * the group would merge on differently from where it stopped (the events after the gap not
     * ready), and number the events and clock the log otherwise than a rebuild. Then the
     * group's first cut is the beginning of the log: the members count (segment 0 ending where
     * the single projector stopped, a prefix of its order, as in 1) what it applied, and so
     * rebuild its chains whole. */
    snprintf(sql, sizeof sql,
             "SELECT EXISTS (SELECT 1 FROM %1$s.events e LEFT JOIN %1$s.chain_heads h "
             "ON h.consumer = 'projector' AND h.source = e.source "
             "WHERE e.source <> '' AND e.seq > coalesce(h.linked, 0))",
             g->schema);
    if (!(r = query(g, sql, 0, NULL, "reading the events table", err))) goto out;
    int gaps = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    snprintf(cut_n, sizeof cut_n, "%s", gaps ? "1" : n);
    snprintf(cut_ms, sizeof cut_ms, "%s", gaps ? "0" : log_ms);

    ends = array_text(offsets, g->nparts);
    offs = array_text(gaps ? lows : offsets, g->nparts);
    ch = gaps ? strdup("[]") : json_dumps(chains, JSON_COMPACT);
    if (!ends || !offs || !ch) {
        jk_err_set(err, "out of memory");
        goto out;
    }
    /* Members starting together insert the same rows: the first wins, the others change nothing.
     * Notices go on from where the single projector's stopped. */
    const char *p6[6] = {cut_n, cut_ms, offs, ch, ends, n};
    snprintf(sql, sizeof sql,
             "WITH c AS (INSERT INTO %1$s.projector_cuts VALUES (-1, 0, $1, $2, $3, $4) "
             "ON CONFLICT DO NOTHING), "
             "s AS (INSERT INTO %1$s.projector_segments VALUES (0, $5) ON CONFLICT DO NOTHING) "
             "INSERT INTO %1$s.projector_notices VALUES (1, $6) ON CONFLICT DO NOTHING",
             g->schema);
    rc = run(g, sql, 6, p6, "storing the group's first position", err);
out:
    free(offsets);
    free(lows);
    free(offs);
    free(ends);
    free(ch);
    json_decref(chains);
    return rc;
}

/* The earliest cut: of the partitions' when every partition has one, else the group's first. */
static int start_cut(pgroup_t *g, struct cut *out, jk_err_t *err)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT partition, segment, n, log_ms, offsets, chains FROM %s.projector_cuts",
             g->schema);
    PGresult *r = query(g, sql, 0, NULL, "reading the group's positions", err);
    if (!r) return -1;
    int base = -1, best = -1, parts = 0;
    long double best_sum = 0;
    int64_t *v = malloc((size_t)g->nparts * sizeof *v);
    for (int i = 0; v && i < PQntuples(r); i++) {
        int p = atoi(PQgetvalue(r, i, 0));
        if (p == -1) base = i;
        if (p < 0 || p >= g->nparts || parse_array(PQgetvalue(r, i, 4), v, g->nparts)) continue;
        parts++;
        long double sum = 0;
        for (int k = 0; k < g->nparts; k++)
            sum += (long double)v[k];
        if (best < 0 || sum < best_sum) best = i, best_sum = sum;
    }
    free(v);
    int pick = parts == g->nparts ? best : base;
    int rc = pick < 0 ? jk_err_set(err, "the group has no stored position to start from")
                      : cut_from_row(g, r, pick, out, err);
    PQclear(r);
    return rc;
}

/* The segment's ends into g->ends; 1 when found, 0 when not (yet), -1 on error. */
static int load_segment(pgroup_t *g, int64_t k, jk_err_t *err)
{
    char sql[256], ks[24];
    snprintf(sql, sizeof sql, "SELECT ends FROM %s.projector_segments WHERE k = $1", g->schema);
    snprintf(ks, sizeof ks, "%lld", (long long)k);
    const char *params[1] = {ks};
    PGresult *r = query(g, sql, 1, params, "reading the order's segments", err);
    if (!r) return -1;
    int found = PQntuples(r) > 0;
    if (found && parse_array(PQgetvalue(r, 0, 0), g->ends, g->nparts)) {
        PQclear(r);
        return jk_err_set(err, "segment %lld of the order is damaged", (long long)k);
    }
    PQclear(r);
    return found;
}

/* ---- dependencies between members (3 above) ---- */

/* The resident codes a record would read or write: none unless it can be applied. */
static int record_codes(const jk_record_t *r, const char *codes[2])
{
    if (!r->ev || r->status != JK_REC_OK) return 0;
    static const char *const keys[2] = {"resident_code", "new_resident_code"};
    int n = 0;
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(r->ev->data, keys[i]);
        if (json_is_string(v) && json_string_length(v) == 11) codes[n++] = json_string_value(v);
    }
    return n;
}

static void free_touches(void *ctx, const char *key, void *value)
{
    (void)ctx;
    (void)key;
    struct touches *t = value;
    if (t) free(t->t);
    free(t);
}

/* Drops the entries known to be committed; returns how many are left. */
static size_t prune(const pgroup_t *g, struct touches *t)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++)
        if (g->committed[t->t[i].partition] < t->t[i].after) t->t[k++] = t->t[i];
    t->n = k;
    return k;
}

static int remember(pgroup_t *g, const char *code, int32_t partition, int64_t after)
{
    struct touches *t = jk_strmap_get(g->touches, code);
    if (!t) {
        if (!(t = calloc(1, sizeof *t)) || jk_strmap_put(g->touches, code, t)) {
            free(t);
            return -1;
        }
    }
    prune(g, t);
    for (size_t i = 0; i < t->n; i++)
        if (t->t[i].partition == partition) {
            if (t->t[i].after < after) t->t[i].after = after;
            return 0;
        }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 2;
        struct touch *nt = realloc(t->t, cap * sizeof *nt);
        if (!nt) return -1;
        t->t = nt;
        t->cap = cap;
    }
    t->t[t->n++] = (struct touch){partition, after};
    return 0;
}

static void keep_live(void *ctx, const char *key, void *value)
{
    void **m = ctx; /* {g, new map} */
    pgroup_t *g = m[0];
    struct touches *t = value;
    if (prune(g, t) == 0) {
        free_touches(NULL, key, t);
    } else if (jk_strmap_put(m[1], key, t)) {
        free_touches(NULL, key, t);
        g->broken = 1; /* a dependency forgotten: the member stops rather than guess */
    }
}

/* Forgets the codes whose foreign records are all committed. */
static void sweep(pgroup_t *g)
{
    if (jk_strmap_count(g->touches) < TOUCHES_SWEEP) return;
    jk_strmap_t *fresh = jk_strmap_new();
    if (!fresh) return;
    void *m[2] = {g, fresh};
    jk_strmap_foreach(g->touches, keep_live, m);
    jk_strmap_free(g->touches);
    g->touches = fresh;
}

static int hold(jk_consumer_t *c, const jk_record_t *r, void *ctx)
{
    pgroup_t *g = ctx;
    int32_t p = r->partition;
    const char *codes[2];
    int n = p >= 0 && p < g->nparts ? record_codes(r, codes) : 0;
    if (n == 0) return 0;
    if (g->owned[p]) {
        if (r->offset < g->applied[p]) return 0; /* applied before: only counted */
        for (int i = 0; i < n; i++) {
            int32_t h = home(g, codes[i]);
            if (h != p && !g->owned[h] && g->committed[h] < next_of(c, h)) goto held; /* a */
            struct touches *t = jk_strmap_get(g->touches, codes[i]);
            for (size_t k = 0; t && k < t->n; k++) { /* b */
                const struct touch *e = &t->t[k];
                if (e->partition != p && !g->owned[e->partition] &&
                    g->committed[e->partition] < e->after)
                    goto held;
            }
        }
        return 0;
    }
    /* Another member's record: remembered when foreign and not known to be committed. */
    if (g->committed[p] > r->offset) return 0;
    for (int i = 0; i < n; i++)
        if (home(g, codes[i]) != p && remember(g, codes[i], p, r->offset + 1)) g->broken = 1;
    return 0;
held:
    g->held = 1;
    g->holds++;
    return 1;
}

/* ---- the member's life ---- */

pgroup_t *pgroup_open(const jk_config_t *cfg, PGconn *db, const char *schema, const char *topic,
                      jk_err_t *err)
{
    pgroup_t *g = calloc(1, sizeof *g);
    if (!g) {
        jk_err_set(err, "out of memory");
        return NULL;
    }
    g->cfg = cfg;
    g->db = db;
    snprintf(g->schema, sizeof g->schema, "%s", schema);
    snprintf(g->topic, sizeof g->topic, "%s", topic);
    jk_config_topic(cfg, "outcomes", g->outcomes_topic, sizeof g->outcomes_topic);
    char group_id[160];
    snprintf(group_id, sizeof group_id, "%s.%s.projector", cfg->ns, cfg->prefecture);
    g->touches = jk_strmap_new();
    g->member = g->touches ? jk_group_join(cfg, group_id, topic, err) : NULL;
    if (!g->member) goto fail;
    g->nparts = jk_group_partitions(g->member);
    size_t n = (size_t)g->nparts + 1;
    g->owned = calloc(n, 1);
    g->applied = calloc(n, sizeof *g->applied);
    g->stored = calloc(n, sizeof *g->stored);
    g->committed = calloc(n, sizeof *g->committed);
    g->ends = calloc(n, sizeof *g->ends);
    g->joined = calloc(n, sizeof *g->joined);
    if (!g->owned || !g->applied || !g->stored || !g->committed || !g->ends || !g->joined) {
        jk_err_set(err, "out of memory");
        goto fail;
    }
    for (int p = 0; p < g->nparts; p++) {
        int64_t lo;
        if (jk_group_watermarks(g->member, p, &lo, &g->joined[p], err)) goto fail;
    }
    return g;
fail:
    pgroup_close(g);
    return NULL;
}

void pgroup_close(pgroup_t *g)
{
    if (!g) return;
    jk_group_leave(g->member);
    jk_producer_close(g->notices);
    EVP_PKEY_free(g->key);
    if (g->touches) {
        jk_strmap_foreach(g->touches, free_touches, NULL);
        jk_strmap_free(g->touches);
    }
    free(g->owned);
    free(g->applied);
    free(g->stored);
    free(g->committed);
    free(g->ends);
    free(g->joined);
    free(g);
}

/* "{1,3}": this member's partitions; malloc'd. */
static char *owned_text(const pgroup_t *g)
{
    char *s = malloc(2 + (size_t)g->nparts * 12), *w = s;
    if (!s) return NULL;
    w += sprintf(w, "{");
    for (int p = 0, k = 0; p < g->nparts; p++)
        if (g->owned[p]) w += sprintf(w, k++ ? ",%d" : "%d", p);
    sprintf(w, "}");
    return s;
}

/* Opens a consumer of every partition at the cut, merging within its segment. */
static jk_consumer_t *open_at(pgroup_t *g, const struct cut *cut, jk_err_t *err)
{
    jk_consumer_t *c = jk_consumer_open(g->cfg, err);
    if (!c) return NULL;
    g->segment = cut->segment;
    int found = load_segment(g, g->segment, err);
    if (found == 0)
        jk_err_set(err,
                   "segment %lld of the order, where the group's earliest position is, is "
                   "gone",
                   (long long)g->segment);
    if (found <= 0 || restore_chains(c, cut->chains, err) ||
        jk_consumer_assign(c, g->topic, cut->offsets, g->nparts, err) ||
        jk_consumer_limit(c, g->ends, (size_t)g->nparts, err)) {
        jk_consumer_close(c);
        return NULL;
    }
    jk_consumer_set_clock(c, cut->log_ms);
    jk_consumer_verify_heads(c, 1);
    jk_consumer_hold(c, hold, g);
    return c;
}

int pgroup_sync(pgroup_t *g, jk_consumer_t **cons, long long *next_n, int wait_ms, jk_err_t *err)
{
    if (jk_group_poll(g->member, wait_ms, err)) return -1;
    uint64_t gen = jk_group_generation(g->member);
    if (gen == g->generation && !g->fenced) return 0;
    g->generation = gen;
    g->fenced = 0;
    g->held = 0;
    jk_consumer_close(*cons);
    *cons = NULL;
    jk_strmap_foreach(g->touches, free_touches, NULL);
    jk_strmap_clear(g->touches);
    g->nowned = 0;
    for (int p = 0; p < g->nparts; p++)
        g->nowned += g->owned[p] = (unsigned char)jk_group_owns(g->member, p);
    if (g->nowned == 0) return 0;

    struct cut cut = {0};
    int rc = -1;
    int64_t *offs = malloc((size_t)g->nparts * sizeof *offs);
    char *pa = owned_text(g), *oa = NULL;
    if (!offs || !pa) {
        jk_err_set(err, "out of memory");
        goto out;
    }
    if (ensure_base(g, err) || start_cut(g, &cut, err)) goto out;
    /* A partition that nobody has stored an offset for starts where the cut has it. */
    int k = 0;
    for (int p = 0; p < g->nparts; p++)
        if (g->owned[p]) offs[k++] = cut.offsets[p];
    if (!(oa = array_text(offs, k))) {
        jk_err_set(err, "out of memory");
        goto out;
    }
    char sql[384];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.consumer_offsets SELECT 'projector', $1, p, o "
             "FROM unnest($2::int[], $3::bigint[]) AS u(p, o) ON CONFLICT DO NOTHING",
             g->schema);
    const char *params[3] = {g->topic, pa, oa};
    if (run(g, sql, 3, params, "storing the first offsets of this member's partitions", err) ||
        load_committed(g, err))
        goto out;
    for (int p = 0; p < g->nparts; p++) {
        if (!g->owned[p]) continue;
        if (g->committed[p] < cut.offsets[p]) {
            jk_err_set(err,
                       "partition %d is stored at offset %lld, before the group's earliest "
                       "position (%lld)",
                       p, (long long)g->committed[p], (long long)cut.offsets[p]);
            goto out;
        }
        g->applied[p] = g->stored[p] = g->committed[p];
    }
    if (!(*cons = open_at(g, &cut, err))) goto out;
    *next_n = cut.n;
    rc = 0;
out:
    cut_free(&cut);
    free(offs);
    free(pa);
    free(oa);
    return rc;
}

static int schema_lock(PGconn *db, const char *schema, const char *how, jk_err_t *err)
{
    char key[96];
    snprintf(key, sizeof key, "%s.projector schema", schema);
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_%s(hashtext($1))", how);
    const char *params[1] = {key};
    PGresult *r = PQexecParams(db, sql, 1, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) jk_err_set(err, "locking the schema: %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

int pgroup_schema_lock(PGconn *db, const char *schema, int on, jk_err_t *err)
{
    return schema_lock(db, schema, on ? "lock" : "unlock", err);
}

int pgroup_begin(pgroup_t *g, jk_consumer_t *cons, jk_err_t *err)
{
    if (schema_lock(g->db, g->schema, "xact_lock_shared", err)) return -1;
    /* The fence, before anything is written: lock this member's offsets (in partition order, so
     * that two members claiming the same partitions do not deadlock) and check that each still
     * holds what this member stored last. A member that took a partition over waits here for a
     * batch the old owner had under way, then finds the offset moved. */
    char *parts = owned_text(g);
    if (!parts) return jk_err_set(err, "out of memory");
    char sql[384];
    snprintf(sql, sizeof sql,
             "SELECT partition, next_offset FROM %s.consumer_offsets WHERE consumer = 'projector' "
             "AND topic = $1 AND partition = ANY ($2::int[]) ORDER BY partition FOR UPDATE",
             g->schema);
    const char *p2[2] = {g->topic, parts};
    PGresult *r = query(g, sql, 2, p2, "locking this member's offsets", err);
    free(parts);
    if (!r) return -1;
    int moved = PQntuples(r) != g->nowned;
    for (int i = 0; i < PQntuples(r) && !moved; i++) {
        int p = atoi(PQgetvalue(r, i, 0));
        moved = p < 0 || p >= g->nparts || atoll(PQgetvalue(r, i, 1)) != g->stored[p];
    }
    PQclear(r);
    if (moved) {
        g->fenced = 1;
        return jk_err_set(err, "another member has taken over a partition of this member's "
                               "share; starting over from the stored positions");
    }
    /* The new offsets, in the same transaction as the rows. */
    int64_t *next = malloc((size_t)g->nparts * sizeof *next);
    if (!next) return jk_err_set(err, "out of memory");
    int k = 0;
    for (int p = 0; p < g->nparts; p++)
        if (g->owned[p]) next[k++] = next_stored(g, cons, p);
    char *na = array_text(next, k);
    parts = owned_text(g);
    free(next);
    if (!na || !parts) {
        free(na);
        free(parts);
        return jk_err_set(err, "out of memory");
    }
    snprintf(sql, sizeof sql,
             "UPDATE %s.consumer_offsets o SET next_offset = u.next "
             "FROM unnest($2::int[], $3::bigint[]) AS u(p, next) "
             "WHERE o.consumer = 'projector' AND o.topic = $1 AND o.partition = u.p",
             g->schema);
    const char *p3[3] = {g->topic, parts, na};
    int rc = run(g, sql, 3, p3, "storing this member's offsets", err);
    free(na);
    free(parts);
    return rc;
}

int pgroup_applies(const pgroup_t *g, const jk_record_t *r)
{
    int32_t p = r->partition;
    return p >= 0 && p < g->nparts && g->owned[p] && r->offset >= g->applied[p];
}

int pgroup_fenced(const pgroup_t *g)
{
    return g->fenced;
}

long long pgroup_holds(const pgroup_t *g)
{
    return g->holds;
}

int pgroup_store(pgroup_t *g, jk_consumer_t *cons, long long next_n, jk_err_t *err)
{
    int rc = -1;
    int64_t *all = malloc((size_t)g->nparts * sizeof *all);
    char *parts = owned_text(g), *offs = NULL, *chains = NULL;
    if (!all || !parts) goto oom;
    for (int p = 0; p < g->nparts; p++)
        all[p] = next_of(cons, p);
    offs = array_text(all, g->nparts);
    chains = chains_text(cons);
    if (!offs || !chains) goto oom;
    char sql[512], seg[24], n[24], log_ms[24];
    snprintf(seg, sizeof seg, "%lld", (long long)g->segment);
    snprintf(n, sizeof n, "%lld", next_n);
    snprintf(log_ms, sizeof log_ms, "%lld", (long long)jk_consumer_clock(cons));
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.projector_cuts SELECT p, $2, $3, $4, $5, $6 FROM unnest($1::int[]) p "
             "ON CONFLICT (partition) DO UPDATE SET segment = EXCLUDED.segment, n = EXCLUDED.n, "
             "log_ms = EXCLUDED.log_ms, offsets = EXCLUDED.offsets, chains = EXCLUDED.chains",
             g->schema);
    const char *p6[6] = {parts, seg, n, log_ms, offs, chains};
    if (run(g, sql, 6, p6, "storing this member's position", err)) goto out;
    /* What the fence expects next (a failed commit ends the member, or is fenced and resyncs):
     * the offsets pgroup_begin wrote, not the cut's, which may lag behind them. */
    for (int p = 0; p < g->nparts; p++)
        if (g->owned[p]) g->stored[p] = g->committed[p] = next_stored(g, cons, p);
    rc = 0;
    goto out;
oom:
    jk_err_set(err, "out of memory");
out:
    free(all);
    free(parts);
    free(offs);
    free(chains);
    return rc;
}

/* Segment k+1 of the order: read, or made of the high watermarks when no member made it yet.
 * Returns 1 when the consumer moved to it, 0 when the log has nothing new, -1 on error. */
static int next_segment(pgroup_t *g, jk_consumer_t *cons, jk_err_t *err)
{
    int found = load_segment(g, g->segment + 1, err);
    if (found < 0) return -1;
    if (!found) {
        int64_t *hw = malloc((size_t)g->nparts * sizeof *hw);
        if (!hw) return jk_err_set(err, "out of memory");
        int more = 0;
        for (int p = 0; p < g->nparts; p++) {
            int64_t lo;
            if (jk_group_watermarks(g->member, p, &lo, &hw[p], err)) {
                free(hw);
                return -1;
            }
            if (hw[p] > g->ends[p])
                more = 1;
            else
                hw[p] = g->ends[p];
        }
        char *ends = more ? array_text(hw, g->nparts) : NULL;
        free(hw);
        if (!more) return 0;
        if (!ends) return jk_err_set(err, "out of memory");
        char sql[512], ks[24], np[16], keep[16];
        snprintf(ks, sizeof ks, "%lld", (long long)(g->segment + 1));
        snprintf(np, sizeof np, "%d", g->nparts);
        snprintf(keep, sizeof keep, "%d", SEGMENTS_KEPT);
        /* The first member to need it makes it; segments far below every partition's cut go. */
        snprintf(sql, sizeof sql,
                 "WITH ins AS (INSERT INTO %1$s.projector_segments VALUES ($1, $2) "
                 "ON CONFLICT DO NOTHING) "
                 "DELETE FROM %1$s.projector_segments WHERE k < (SELECT min(segment) - $4 FROM "
                 "%1$s.projector_cuts WHERE partition >= 0 HAVING count(*) = $3)",
                 g->schema);
        const char *params[4] = {ks, ends, np, keep};
        int bad = run(g, sql, 4, params, "adding a segment to the order", err);
        free(ends);
        if (bad || (found = load_segment(g, g->segment + 1, err)) < 0) return -1;
        if (!found) return jk_err_set(err, "segment %s of the order vanished", ks);
    }
    g->segment++;
    return jk_consumer_limit(cons, g->ends, (size_t)g->nparts, err) ? -1 : 1;
}

int pgroup_idle(pgroup_t *g, jk_consumer_t *cons, jk_err_t *err)
{
    if (g->broken) return jk_err_set(err, "out of memory");
    if (g->held) {
        g->held = 0;
        int64_t before = 0, after = 0;
        for (int p = 0; p < g->nparts; p++)
            before += g->committed[p];
        if (load_committed(g, err)) return -1;
        for (int p = 0; p < g->nparts; p++)
            after += g->committed[p];
        sweep(g);
        if (after != before) {
            g->sleep_ms = 0;
            return 0;
        }
        g->sleep_ms = g->sleep_ms ? g->sleep_ms * 2 : 1;
        if (g->sleep_ms > HOLD_SLEEP_MAX_MS) g->sleep_ms = HOLD_SLEEP_MAX_MS;
        return jk_group_poll(g->member, g->sleep_ms, err);
    }
    g->sleep_ms = 0;
    if (!jk_consumer_at_limits(cons)) return 0;
    int moved = next_segment(g, cons, err);
    if (moved < 0) return -1;
    return moved ? 0 : jk_group_poll(g->member, IDLE_MS, err);
}

/* The number below which every event row of the group is committed: the earliest cut's. */
static int safe_n(pgroup_t *g, long long *n, jk_err_t *err)
{
    char sql[512], np[16];
    snprintf(np, sizeof np, "%d", g->nparts);
    snprintf(sql, sizeof sql,
             "SELECT CASE WHEN count(*) FILTER (WHERE partition >= 0) = $1 "
             "THEN min(n) FILTER (WHERE partition >= 0) "
             "ELSE min(n) FILTER (WHERE partition = -1) END FROM %s.projector_cuts",
             g->schema);
    const char *params[1] = {np};
    PGresult *r = query(g, sql, 1, params, "reading the group's positions", err);
    if (!r) return -1;
    *n = PQgetisnull(r, 0, 0) ? 0 : atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

static int notices_next(pgroup_t *g, long long *n, jk_err_t *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT next_n FROM %s.projector_notices", g->schema);
    PGresult *r = query(g, sql, 0, NULL, "reading how far notices were sent", err);
    if (!r) return -1;
    *n = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return 0;
}

/* Becomes the group's sender of notices when no other member is. */
static int claim_sender(pgroup_t *g, jk_err_t *err)
{
    char lock[160], sql[128];
    snprintf(lock, sizeof lock, "%s.projector notices", g->schema);
    snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(hashtext($1))");
    const char *params[1] = {lock};
    PGresult *r = query(g, sql, 1, params, "asking who sends the notices", err);
    if (!r) return -1;
    int got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!got) return 0;
    char source[64];
    snprintf(source, sizeof source, "projector:%s", g->cfg->prefecture);
    g->key = jk_cli_source_key(g->cfg, source, err);
    g->notices = g->key ? jk_producer_open(g->cfg, source, g->key, err) : NULL;
    /* Notices a crash left in the spool go out first. */
    if (!g->notices || jk_producer_flush(g->notices, err)) return -1;
    g->sender = 1;
    return 0;
}

static int send_notices(pgroup_t *g, long long upto, jk_err_t *err)
{
    for (;;) {
        long long from;
        if (notices_next(g, &from, err)) return -1;
        if (from >= upto) return 0;
        char sql[512], f[24], u[24], lim[16];
        snprintf(f, sizeof f, "%lld", from);
        snprintf(u, sizeof u, "%lld", upto);
        snprintf(lim, sizeof lim, "%d", NOTICE_ROWS);
        snprintf(sql, sizeof sql,
                 "SELECT n, event_id, source, seq, code, resident_code, reason, detail, "
                 "(extract(epoch FROM broker_time) * 1000)::bigint, outcome FROM %s.events "
                 "WHERE n >= $1 AND n < $2 AND outcome <> 'applied' AND source <> '' "
                 "ORDER BY n LIMIT $3",
                 g->schema);
        const char *params[3] = {f, u, lim};
        PGresult *r = query(g, sql, 3, params, "reading the notices to send", err);
        if (!r) return -1;
        int rows = PQntuples(r), rc = 0;
        long long last = from - 1;
        for (int i = 0; i < rows && rc == 0; i++) {
#define V(c) (PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c))
            int rejected = strcmp(PQgetvalue(r, i, 9), "rejected") == 0;
            rc = jk_projector_notice(g->notices, g->outcomes_topic,
                                     rejected ? "identity.rejected" : "identity.superseded", V(1),
                                     V(2), atoll(PQgetvalue(r, i, 3)), V(4), V(5), V(6), V(7),
                                     atoll(PQgetvalue(r, i, 8)), err);
#undef V
            last = atoll(PQgetvalue(r, i, 0));
        }
        PQclear(r);
        if (rc || jk_producer_flush(g->notices, err)) return -1;
        /* Sent (a crash before this is stored sends them again, with the same ids). */
        snprintf(f, sizeof f, "%lld", rows == NOTICE_ROWS ? last + 1 : upto);
        snprintf(sql, sizeof sql, "UPDATE %s.projector_notices SET next_n = $1", g->schema);
        const char *p1[1] = {f};
        if (run(g, sql, 1, p1, "storing how far notices were sent", err)) return -1;
        if (rows < NOTICE_ROWS) return 0;
    }
}

int pgroup_notify(pgroup_t *g, jk_err_t *err)
{
    int64_t now = jk_now_ms();
    if (now < g->notify_at) return 0;
    g->notify_at = now + CHECK_EVERY_MS;
    if (!g->sender && claim_sender(g, err)) return -1;
    if (!g->sender) return 0;
    long long upto;
    return safe_n(g, &upto, err) ? -1 : send_notices(g, upto, err);
}

int pgroup_done(pgroup_t *g, jk_err_t *err)
{
    int64_t now = jk_now_ms();
    if (now < g->done_at) return 0;
    g->done_at = now + CHECK_EVERY_MS;
    char *joined = array_text(g->joined, g->nparts);
    if (!joined) return jk_err_set(err, "out of memory");
    /* A partition that no member has committed yet stands where the group started. */
    char sql[640], np[16];
    snprintf(np, sizeof np, "%d", g->nparts);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM generate_series(0, $2::int - 1) AS p "
             "CROSS JOIN LATERAL (SELECT offsets FROM %s.projector_cuts "
             "WHERE partition IN (p, -1) ORDER BY partition DESC LIMIT 1) AS c "
             "WHERE NOT EXISTS (SELECT 1 FROM unnest(c.offsets, $1::bigint[]) AS u(have, want) "
             "WHERE have < want)",
             g->schema);
    const char *params[2] = {joined, np};
    PGresult *r = query(g, sql, 2, params, "reading the group's positions", err);
    free(joined);
    if (!r) return -1;
    int done = atoi(PQgetvalue(r, 0, 0)) == g->nparts;
    PQclear(r);
    if (!done || !g->sender) return done;
    /* The sender leaves once every notice up to there is out. */
    long long upto, sent;
    if (safe_n(g, &upto, err) || send_notices(g, upto, err) || notices_next(g, &sent, err))
        return -1;
    return sent >= upto;
}
