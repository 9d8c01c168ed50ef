/* consumer.c: reading the log, verified and in one order (see consumer.h).
 *
 * Events come out in one order across every assigned partition: each partition has its own
 * queue and a small buffer, and the next event is taken from the partition heads only when every
 * partition that is not at its end has a head to compare. Among the heads, a source's events
 * come in the order of their seq (the producer's own order, which the broker's clock cannot give
 * across partitions: one producer's batch lands on several partitions in the same millisecond,
 * so a source's next event goes before an earlier one of a later seq up to JK_ORDER_WINDOW_MS
 * apart), and otherwise by broker time, then partition. So a rebuild, a replay and a live run
 * apply the same events in the same order, whatever the interleaving in which the broker
 * delivered them, and however late an event lost in a gap comes (unsettled);
 * and only the partitions the merge waits on are read, so memory stays bounded by the buffers.
 *
 * Two librdkafka handles: one for the caller's topics, assigned at the caller's offsets, and one
 * that follows the tenant's admin topic so that the key registry knows every key registered
 * before an event it checks. The admin topic is read to its end when the consumer opens, and
 * again whenever an event's source has no key yet at the event's broker time and the event is
 * newer than the last time the admin topic was read to its end. */
#include "jukilog/consumer.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jukilog/kafka.h"
#include "jukilog/keys.h"
#include "jukilog/strmap.h"

#define PART_BUF 512 /* messages buffered per partition */

struct part {
    char topic[128];
    int32_t partition;
    int64_t end;  /* high-water mark when assigned: "caught up" means read up to here */
    int64_t next; /* next offset to read */
    rd_kafka_queue_t *q;
    rd_kafka_message_t *buf[PART_BUF];
    size_t head, len;
    int at_eof;      /* read up to the partition's end, nothing buffered since */
    jk_record_t rec; /* the head message, checked (when `checked`) */
    int checked;
    int verified;  /* rec's signature has been checked (not only its form and hash) */
    int presumed;  /* held back as authentic without a check, to be confirmed (verify_heads) */
    int64_t limit; /* jk_consumer_limit: the merge takes nothing from here on (-1: no limit) */
    /* The wall time at which the broker said, when asked, that the partition ended at
     * settled_hi (see unsettled). */
    int64_t settled_ms, settled_hi;
};

struct jk_consumer {
    const jk_config_t *cfg;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    struct part **parts;
    size_t nparts;
    /* Each partition queue writes a byte here when a message arrives on it empty, so that a
     * consumer with nothing to read waits for whichever partition speaks first. */
    int wake[2];

    jk_keyreg_t *keys;
    EVP_PKEY *anchor;
    jk_chain_t *chain;

    rd_kafka_t *admin_rk;
    rd_kafka_t *ask_rk;  /* asks for the admin topic's end; fetches nothing (see admin_catch_up) */
    struct asker *asker; /* asks it in the background (jk_consumer_admin_ask) */
    char prefecture[3];  /* whose admin topic anchors the registry */
    char admin_topic[128];
    int64_t admin_next;
    int64_t admin_read_ms; /* wall time when the admin topic was last read to its end */
    int64_t clock_ms;      /* the log clock: largest broker time returned so far */
    int heads_only;        /* jk_consumer_verify_heads */
    int verifying;         /* the poll under way checks every signature */
    jk_admin_fn on_admin;  /* told of every admin event read */
    int (*wanted)(const jk_envelope_t *ev, void *ctx); /* jk_consumer_only */
    void *wanted_ctx;
    void *on_admin_ctx;
    jk_hold_fn hold; /* jk_consumer_hold */
    void *hold_ctx;
};

static const char *const consumer_defaults[] = {
    /* Offsets live with the caller's rows; Kafka's group offsets are never committed. */
    "group.id",
    "jukilog",
    "enable.auto.commit",
    "false",
    "enable.auto.offset.store",
    "false",
    "enable.partition.eof",
    "true",
    "fetch.wait.max.ms",
    "100",
    /* With a queue per partition, the prefetch limit applies to each partition (64 MB by
     * default): a few MB each keeps a consumer's memory flat however long the log. */
    "queued.max.messages.kbytes",
    "4096",
    "fetch.max.bytes",
    "4194304",
    NULL,
};

/* The admin topic's reader. Its fetches wait at the broker for news, which arrive at once when
 * appended; the question for the topic's end goes through another handle (admin_catch_up). */
static const char *const admin_defaults[] = {
    "group.id",
    "jukilog",
    "enable.auto.commit",
    "false",
    "enable.auto.offset.store",
    "false",
    "enable.partition.eof",
    "true",
    "fetch.wait.max.ms",
    "100",
    NULL,
};

void jk_batch_clear(jk_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        jk_envelope_free(b->recs[i].ev);
    b->n = 0;
    b->duplicates = 0;
}

void jk_batch_free(jk_batch_t *b)
{
    jk_batch_clear(b);
    free(b->recs);
    b->recs = NULL;
    b->cap = 0;
}

static int64_t message_ms(const rd_kafka_message_t *m)
{
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    return tt == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? 0 : ts;
}

/* The question for the admin topic's end, asked by a thread of its own while the caller does
 * other work (a program that decides requests asks it, then reads the database, then waits for
 * the answer). Only the thread touches ask_rk while a question is out; librdkafka handles may be
 * used from any thread. */
struct asker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int asked, answered, quit;
    int64_t started, hi;
    rd_kafka_resp_err_t e;
    rd_kafka_t *rk;
    const char *topic;
};

static void *asker_main(void *arg)
{
    struct asker *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->asked && !a->quit)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->quit) break;
        pthread_mutex_unlock(&a->mu);
        int64_t hi = 0, started = jk_now_ms();
        rd_kafka_resp_err_t e = jk_kafka_end(a->rk, a->topic, 0, &hi, 10000);
        pthread_mutex_lock(&a->mu);
        a->started = started;
        a->hi = hi;
        a->e = e;
        a->asked = 0;
        a->answered = 1;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* A broker answers one connection's requests in order, so asked through the reader, the question
 * for the end would wait behind the reader's own fetch (held up to fetch.wait.max.ms when there
 * is nothing new): a handle that fetches nothing answers in one round trip. */
static int ask_client(jk_consumer_t *c, jk_err_t *err)
{
    if (c->ask_rk) return 0;
    c->ask_rk = jk_kafka_client(c->cfg, RD_KAFKA_PRODUCER, NULL, err);
    return c->ask_rk ? 0 : -1;
}

int jk_consumer_admin_ask(jk_consumer_t *c, jk_err_t *err)
{
    if (ask_client(c, err)) return -1;
    if (c->asker == NULL) {
        struct asker *a = calloc(1, sizeof *a);
        if (a == NULL) return jk_err_set(err, "out of memory");
        a->rk = c->ask_rk;
        a->topic = c->admin_topic;
        pthread_mutex_init(&a->mu, NULL);
        pthread_cond_init(&a->cv, NULL);
        if (pthread_create(&a->thread, NULL, asker_main, a) != 0) {
            pthread_mutex_destroy(&a->mu);
            pthread_cond_destroy(&a->cv);
            free(a);
            return jk_err_set(err, "cannot start a thread");
        }
        c->asker = a;
    }
    pthread_mutex_lock(&c->asker->mu);
    if (!c->asker->asked) {
        c->asker->asked = 1;
        c->asker->answered = 0;
        pthread_cond_broadcast(&c->asker->cv);
    }
    pthread_mutex_unlock(&c->asker->mu);
    return 0;
}

static void asker_stop(struct asker *a)
{
    if (a == NULL) return;
    pthread_mutex_lock(&a->mu);
    a->quit = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}

/* The admin topic's end: the background question's answer when one was asked (and the time it
 * was asked), else asked here. */
static rd_kafka_resp_err_t admin_end(jk_consumer_t *c, int64_t *started, int64_t *hi)
{
    struct asker *a = c->asker;
    if (a) {
        pthread_mutex_lock(&a->mu);
        while (a->asked)
            pthread_cond_wait(&a->cv, &a->mu);
        int got = a->answered;
        a->answered = 0;
        *started = a->started;
        *hi = a->hi;
        rd_kafka_resp_err_t e = a->e;
        pthread_mutex_unlock(&a->mu);
        if (got) return e;
    }
    *started = jk_now_ms();
    return jk_kafka_end(c->ask_rk, c->admin_topic, 0, hi, 10000);
}

/* Reads the admin topic from where it was left up to its current end into the registry. */
static int admin_catch_up(jk_consumer_t *c, jk_err_t *err)
{
    int64_t hi, started;
    if (ask_client(c, err)) return -1;
    rd_kafka_resp_err_t e = admin_end(c, &started, &hi);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return jk_err_set(err, "cannot read the end of %s: %s", c->admin_topic,
                          rd_kafka_err2str(e));
    int64_t deadline = jk_now_ms() + 30000;
    while (c->admin_next < hi) {
        if (jk_now_ms() > deadline)
            return jk_err_set(err, "reading %s: stalled at offset %lld of %lld", c->admin_topic,
                              (long long)c->admin_next, (long long)hi);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->admin_rk, 500);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            jk_err_set(err, "reading %s: %s", c->admin_topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            return -1;
        }
        jk_err_t why;
        jk_envelope_t *ev = jk_envelope_parse(m->payload, m->len, &why);
        /* A refused admin event changes no key; the registry stays as it was. Programs that
         * audit the admin topic itself read it as an ordinary topic and see the refusal. */
        if (ev) jk_keyreg_apply(c->keys, ev, message_ms(m), &why);
        if (ev && c->on_admin) c->on_admin(c, ev, message_ms(m), c->on_admin_ctx);
        jk_envelope_free(ev);
        c->admin_next = m->offset + 1;
        rd_kafka_message_destroy(m);
    }
    c->admin_read_ms = started;
    return 0;
}

/* The pinned admin key: $JUKILOG_HOME/keys/admin.pub for the home prefecture (the key that
 * `admin init` made there), keys/anchors/<PP>.pub for another prefecture. */
static int load_anchor(jk_consumer_t *c, jk_err_t *err)
{
    char path[PATH_MAX];
    int home = strcmp(c->prefecture, c->cfg->prefecture) == 0;
    int bad = home
                  ? jk_config_path(c->cfg, path, sizeof path, "keys/admin.pub")
                  : jk_config_path(c->cfg, path, sizeof path, "keys/anchors/%s.pub", c->prefecture);
    if (bad) return jk_err_set(err, "JUKILOG_HOME path too long");
    FILE *f = fopen(path, "r");
    if (!f) return 0; /* no pinned key here: trust the topic's first admin registration */
    char b64[128] = "";
    if (!fgets(b64, sizeof b64, f)) b64[0] = '\0';
    fclose(f);
    b64[strcspn(b64, "\r\n")] = '\0';
    c->anchor = jk_key_from_public_b64(b64, err);
    if (!c->anchor) return jk_err_wrap(err, "admin public key %s", path);
    return 0;
}

static jk_consumer_t *open_with(const jk_config_t *cfg, const char *prefecture, jk_admin_fn fn,
                                void *ctx, jk_err_t *err);

jk_consumer_t *jk_consumer_open(const jk_config_t *cfg, jk_err_t *err)
{
    return open_with(cfg, NULL, NULL, NULL, err);
}

jk_consumer_t *jk_consumer_open_admin(const jk_config_t *cfg, jk_admin_fn fn, void *ctx,
                                      jk_err_t *err)
{
    return open_with(cfg, NULL, fn, ctx, err);
}

jk_consumer_t *jk_consumer_open_prefecture(const jk_config_t *cfg, const char *prefecture,
                                           jk_err_t *err)
{
    return open_with(cfg, prefecture, NULL, NULL, err);
}

int jk_consumer_admin_refresh(jk_consumer_t *c, int64_t *as_of, jk_err_t *err)
{
    if (admin_catch_up(c, err)) return -1;
    if (as_of) *as_of = c->admin_read_ms;
    return 0;
}

static jk_consumer_t *open_with(const jk_config_t *cfg, const char *prefecture, jk_admin_fn fn,
                                void *ctx, jk_err_t *err)
{
    if (prefecture && (strlen(prefecture) != 2 || strspn(prefecture, "0123456789") != 2)) {
        jk_err_set(err, "prefecture \"%s\" is not 2 digits", prefecture);
        return NULL;
    }
    jk_consumer_t *c = calloc(1, sizeof *c);
    if (!c) {
        jk_err_set(err, "out of memory");
        return NULL;
    }
    c->cfg = cfg;
    c->on_admin = fn;
    c->on_admin_ctx = ctx;
    c->wake[0] = c->wake[1] = -1;
    if (pipe2(c->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        jk_err_set(err, "cannot make a pipe");
        free(c);
        return NULL;
    }
    snprintf(c->prefecture, sizeof c->prefecture, "%s", prefecture ? prefecture : cfg->prefecture);
    c->verifying = 1;
    c->chain = jk_chain_new();
    if (!c->chain || load_anchor(c, err)) goto fail;
    c->keys = jk_keyreg_new(c->anchor);
    c->rk = jk_kafka_client(cfg, RD_KAFKA_CONSUMER, consumer_defaults, err);
    c->admin_rk = c->rk ? jk_kafka_client(cfg, RD_KAFKA_CONSUMER, admin_defaults, err) : NULL;
    if (!c->keys || !c->rk || !c->admin_rk) goto fail;
    rd_kafka_poll_set_consumer(c->rk);
    rd_kafka_poll_set_consumer(c->admin_rk);
    c->q = rd_kafka_queue_get_consumer(c->rk);

    snprintf(c->admin_topic, sizeof c->admin_topic, "%s.%s.admin", cfg->ns, c->prefecture);
    if (jk_kafka_partitions(c->admin_rk, c->admin_topic, 10000, err) < 0) goto fail;
    rd_kafka_topic_partition_list_t *al = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(al, c->admin_topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(c->admin_rk, al);
    rd_kafka_topic_partition_list_destroy(al);
    if (e) {
        jk_err_set(err, "cannot assign %s: %s", c->admin_topic, rd_kafka_err2str(e));
        goto fail;
    }
    if (admin_catch_up(c, err)) goto fail;
    return c;
fail:
    jk_consumer_close(c);
    return NULL;
}

void jk_consumer_close(jk_consumer_t *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->nparts; i++) {
        struct part *p = c->parts[i];
        for (size_t k = p->head; k < p->len; k++)
            rd_kafka_message_destroy(p->buf[k]);
        if (p->checked) jk_envelope_free(p->rec.ev);
        if (p->q) {
            rd_kafka_queue_io_event_enable(p->q, -1, NULL, 0);
            rd_kafka_queue_destroy(p->q);
        }
        free(p);
    }
    if (c->q) rd_kafka_queue_destroy(c->q);
    if (c->rk) {
        rd_kafka_consumer_close(c->rk);
        rd_kafka_destroy(c->rk);
    }
    asker_stop(c->asker);
    if (c->ask_rk) rd_kafka_destroy(c->ask_rk);
    if (c->admin_rk) {
        rd_kafka_consumer_close(c->admin_rk);
        rd_kafka_destroy(c->admin_rk);
    }
    free(c->parts);
    jk_keyreg_free(c->keys);
    EVP_PKEY_free(c->anchor);
    jk_chain_free(c->chain);
    for (int i = 0; i < 2; i++)
        if (c->wake[i] >= 0) close(c->wake[i]);
    free(c);
}

void jk_consumer_set_clock(jk_consumer_t *c, int64_t log_ms)
{
    c->clock_ms = log_ms;
}

jk_consumer_t *jk_consumer_open_topics(const jk_config_t *cfg, const char *const *names, size_t n,
                                       jk_err_t *err)
{
    jk_consumer_t *c = jk_consumer_open(cfg, err);
    for (size_t i = 0; c && i < n; i++) {
        char topic[128];
        jk_config_topic(cfg, names[i], topic, sizeof topic);
        if (jk_consumer_assign(c, topic, NULL, 0, err)) {
            jk_consumer_close(c);
            c = NULL;
        }
    }
    return c;
}

int jk_consumer_partitions(jk_consumer_t *c, const char *topic, jk_err_t *err)
{
    return jk_kafka_partitions(c->rk, topic, 10000, err);
}

int jk_consumer_assign(jk_consumer_t *c, const char *topic, const int64_t *offsets, int n_offsets,
                       jk_err_t *err)
{
    int n = jk_kafka_partitions(c->rk, topic, 10000, err);
    if (n < 0) return -1;
    if (offsets && n_offsets != n)
        return jk_err_set(err, "topic %s has %d partitions, but %d offsets were given", topic, n,
                          n_offsets);
    struct part **np = realloc(c->parts, (c->nparts + (size_t)n) * sizeof *np);
    if (!np) return jk_err_set(err, "out of memory");
    c->parts = np;
    rd_kafka_topic_partition_list_t *add = rd_kafka_topic_partition_list_new(n);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(c->rk, topic, i, &lo, &hi, 10000);
        if (e) {
            rc = jk_err_set(err, "cannot read the end of %s [%d]: %s", topic, i,
                            rd_kafka_err2str(e));
            break;
        }
        struct part *p = calloc(1, sizeof *p);
        if (!p) {
            rc = jk_err_set(err, "out of memory");
            break;
        }
        int64_t start = offsets ? offsets[i] : JK_OFFSET_BEGINNING;
        if (start == JK_OFFSET_END) start = hi;
        snprintf(p->topic, sizeof p->topic, "%s", topic);
        p->partition = i;
        p->end = hi;
        p->next = start == JK_OFFSET_BEGINNING ? lo : start;
        p->limit = -1;
        /* Each partition its own queue, taken off the consumer queue before any fetch starts. */
        p->q = rd_kafka_queue_get_partition(c->rk, topic, i);
        if (!p->q) {
            free(p);
            rc = jk_err_set(err, "no queue for %s [%d]", topic, i);
            break;
        }
        rd_kafka_queue_forward(p->q, NULL);
        rd_kafka_queue_io_event_enable(p->q, c->wake[1], "w", 1);
        c->parts[c->nparts++] = p;
        rd_kafka_topic_partition_list_add(add, topic, i)->offset =
            start == JK_OFFSET_BEGINNING ? RD_KAFKA_OFFSET_BEGINNING : start;
    }
    if (rc == 0) {
        /* Incremental, so that partitions assigned earlier keep their positions. */
        rd_kafka_error_t *e = rd_kafka_incremental_assign(c->rk, add);
        if (e) {
            rc = jk_err_set(err, "cannot assign %s: %s", topic, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    }
    rd_kafka_topic_partition_list_destroy(add);
    return rc;
}

/* Checks a record's signature against the key its source had at the record's broker time,
 * over its canonical form when that is at hand (else it is made from the event). */
static int verify_canonical(jk_consumer_t *c, jk_record_t *r, const char *canonical, size_t n)
{
    if (jk_keyreg_lookup(c->keys, r->ev->source, r->broker_ms) == NULL &&
        r->broker_ms >= c->admin_read_ms - 1000) {
        /* A key registered since the admin topic was last read: read it again. */
        jk_err_t e2;
        admin_catch_up(c, &e2);
    }
    jk_err_t why;
    if (jk_keyreg_verify_canonical(c->keys, r->ev, r->broker_ms, canonical, n, &why) == 0) return 0;
    r->status = JK_REC_BAD_SIGNATURE;
    snprintf(r->error, sizeof r->error, "%s", why.msg);
    return -1;
}

static int verify_record(jk_consumer_t *c, jk_record_t *r)
{
    return verify_canonical(c, r, NULL, 0);
}

/* Turns one message into a record: parsed, hashed, and (unless only chain heads are verified)
 * its signature checked against the key its source had at the message's broker time. */
static void check_message(jk_consumer_t *c, const rd_kafka_message_t *m, jk_record_t *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->topic, sizeof r->topic, "%s", rd_kafka_topic_name(m->rkt));
    r->partition = m->partition;
    r->offset = m->offset;
    r->broker_ms = message_ms(m);

    jk_err_t why;
    const char *payload = m->payload ? m->payload : "";
    r->ev = jk_envelope_parse(payload, m->len, &why);
    int skipped = r->ev && c->wanted && !c->wanted(r->ev, c->wanted_ctx);
    int checked = r->ev && !skipped && c->verifying;
    /* The canonical form cut from the message serves the hash and, when the signature is
     * checked here, the signature too. */
    char *canonical = NULL;
    size_t n = 0;
    if (!r->ev || jk_envelope_hash_wire(r->ev, payload, m->len, r->hash,
                                        checked ? &canonical : NULL, &n, &why) != 0) {
        r->status = JK_REC_INVALID;
        snprintf(r->error, sizeof r->error, "%s", why.msg);
        return;
    }
    r->status = skipped ? JK_REC_SKIPPED : JK_REC_OK;
    if (checked) verify_canonical(c, r, canonical, n);
    free(canonical);
}

/* A checked record may be taken when it is its source's next event, or one already linked (a
 * duplicate). Records that are not signed events follow no chain and are always ready. */
static int is_ready(const jk_consumer_t *c, const jk_record_t *r)
{
    if (r->status != JK_REC_OK) return 1;
    return r->ev->seq <= jk_chain_linked(c->chain, r->ev->source) + 1;
}

/* Follows the record's chain; returns 1 when it is a duplicate (to be dropped). */
static int link_record(jk_consumer_t *c, jk_record_t *r)
{
    if (r->status != JK_REC_OK) return 0;
    switch (jk_chain_observe(c->chain, r->ev->source, r->ev->seq, r->ev->prev, r->hash)) {
    case JK_CHAIN_DUPLICATE:
        return 1;
    case JK_CHAIN_FORK:
        r->status = JK_REC_FORK;
        snprintf(r->error, sizeof r->error, "%s seq %lld contradicts the chain already read",
                 r->ev->source, (long long)r->ev->seq);
        return 0;
    default:
        return 0;
    }
}

/* Refills an empty partition buffer, waiting at most timeout_ms. End-of-partition markers set
 * at_eof; any other error is returned in err. */
static int fill(struct part *p, int timeout_ms, jk_err_t *err)
{
    if (p->head < p->len) return 0;
    p->head = p->len = 0;
    ssize_t n = rd_kafka_consume_batch_queue(p->q, timeout_ms, p->buf, PART_BUF);
    int rc = 0;
    size_t kept = 0;
    for (ssize_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = p->buf[i];
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            p->at_eof = 1;
            rd_kafka_message_destroy(m);
        } else if (m->err) {
            if (rc == 0)
                rc = jk_err_set(err, "reading %s [%d]: %s", p->topic, p->partition,
                                rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        } else {
            p->at_eof = 0;
            p->buf[kept++] = m;
        }
    }
    p->len = kept;
    return rc;
}

/* The partition has been read up to its limit (jk_consumer_limit): what follows is not taken yet,
 * and the merge goes on without waiting for it, as it does past a partition's end. */
static int at_limit(const struct part *p)
{
    if (p->limit < 0) return 0;
    if (p->head < p->len) return p->buf[p->head]->offset >= p->limit;
    return p->next >= p->limit;
}

/* Orders partition heads: broker time, then assignment order (offsets within one partition are
 * already in order). */
static int head_before(const struct part *a, size_t ia, const struct part *b, size_t ib)
{
    int64_t ta = a->rec.broker_ms, tb = b->rec.broker_ms;
    if (ta != tb) return ta < tb;
    return ia < ib;
}

/* Whether a partition with nothing buffered is read up to its end. librdkafka's end-of-partition
 * event does not always follow the last message of a fetch: it may come only with the next,
 * empty, fetch response, fetch.wait.max.ms later. The high-water mark that the broker sent with
 * the messages says the same at once: nothing was beyond them when the broker answered. */
static int at_end(jk_consumer_t *c, struct part *p)
{
    if (p->at_eof) return 1;
    int64_t lo, hi;
    if (rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi < 0 || p->next < hi)
        return 0;
    p->at_eof = 1;
    return 1;
}

/* Whether a head waiting for its predecessor (the earliest head, none ready before it) may be
 * taken: only when no event of the log can still come before it in the one order, which a
 * replay of the same log decides with every event at hand. An event that comes later would be
 * taken first if it were a ready head no later than t = the waiting head's broker time plus
 * JK_ORDER_WINDOW_MS; one appended once the broker's clock is past t cannot be. So each partition
 * read to its end is asked for its end once the wall clock is past t by JK_ORDER_SETTLE_MS (the
 * broker stamps an event a moment before a reader can see it, and its clock may differ a little
 * from this host's): if nothing came by then, nothing will. Returns 1 when a partition has more
 * to read (wait for it); otherwise sets *until to the wall time to wait for, 0 when the head may
 * be taken. A replay, far behind the wall clock, asks each partition at its end once. */
static int unsettled(jk_consumer_t *c, int64_t t, int64_t *until)
{
    *until = 0;
    int64_t now = jk_now_ms(), after = t + JK_ORDER_SETTLE_MS;
    for (size_t i = 0; i < c->nparts; i++) {
        struct part *p = c->parts[i];
        if (p->head < p->len || at_limit(p)) continue;
        if (p->settled_hi == p->next && p->settled_ms > after) continue;
        int64_t hi;
        jk_err_t e;
        if (ask_client(c, &e) != 0 || jk_kafka_end(c->ask_rk, p->topic, p->partition, &hi, 1000) !=
                                          RD_KAFKA_RESP_ERR_NO_ERROR) {
            *until = now + 100; /* the broker cannot tell now: ask again */
            return 0;
        }
        if (hi > p->next) {
            p->at_eof = 0; /* not at its end after all: the merge waits for it */
            return 1;
        }
        p->settled_hi = hi;
        p->settled_ms = now;
        if (now <= after) *until = after + 1;
    }
    return 0;
}

/* Waits at most timeout_ms for a message on any partition whose queue was empty. */
static void wait_any(jk_consumer_t *c, int timeout_ms)
{
    struct pollfd pfd = {.fd = c->wake[0], .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) > 0) {
        char drain[64];
        while (read(c->wake[0], drain, sizeof drain) > 0)
            ;
    }
}

static int poll_once(jk_consumer_t *c, jk_batch_t *b, size_t max, int timeout_ms, jk_err_t *err)
{
    jk_batch_clear(b);
    if (b->cap < max) {
        jk_record_t *nr = realloc(b->recs, max * sizeof *nr);
        if (!nr) return jk_err_set(err, "out of memory");
        b->recs = nr;
        b->cap = max;
    }
    /* Client-level events arrive on the consumer queue; a broker that is down is waited for
     * (librdkafka reconnects), anything else is an error. */
    rd_kafka_message_t *ev = rd_kafka_consumer_poll(c->rk, 0);
    if (ev) {
        rd_kafka_resp_err_t e = ev->err;
        int bad = e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
                  e != RD_KAFKA_RESP_ERR__TRANSPORT && e != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
        if (bad) jk_err_set(err, "reading the log: %s", rd_kafka_message_errstr(ev));
        rd_kafka_message_destroy(ev);
        if (bad) return -1;
    }
    int64_t deadline = jk_now_ms() + timeout_ms;
    while (b->n < max) {
        struct part *blocked = NULL, *ready = NULL, *any = NULL;
        size_t ready_i = 0, any_i = 0, limited = 0;
        for (size_t i = 0; i < c->nparts; i++) {
            struct part *p = c->parts[i];
            if (!p->checked && fill(p, 0, err)) return -1;
            if (at_limit(p)) {
                limited++;
                continue;
            }
            /* Below its limit a partition is waited for even at its end: the limit says that
             * there is more to read. */
            if (p->head == p->len) {
                if (p->limit >= 0 || !at_end(c, p)) blocked = p;
                continue;
            }
            if (!p->checked) {
                check_message(c, p->buf[p->head], &p->rec);
                p->checked = 1;
                p->verified = c->verifying;
                p->presumed = 0;
            }
            if (is_ready(c, &p->rec)) {
                if (!ready || head_before(p, i, ready, ready_i)) ready = p, ready_i = i;
            } else if (!any || head_before(p, i, any, any_i)) {
                any = p, any_i = i;
            }
        }
        /* A partition with nothing buffered and not at its end may hold an earlier event: wait
         * for it. Otherwise take the earliest head that is its source's next event; when none
         * is (a gap in a chain, or partitions waiting on each other), the earliest head. */
        /* Verifying only chain heads, a held-back head that is the earliest decides the
         * order: a forged one is refused in its place in time, as a live consumer refuses it,
         * instead of being held for a predecessor that will never come. Checking it here would
         * cost a signature for every event whose seq order runs against the broker's clock
         * (a fifth of a rebuild's events across three partitions), so it is presumed
         * authentic, which leaves the order as a check that holds would, and confirmed once
         * the batch is read (confirm_presumed): by its chain when it was taken, by its own
         * signature when it is still a head. A presumption that fails has the batch read
         * again, checking every signature. */
        if (!blocked && any && !any->verified && !any->presumed &&
            (!ready || head_before(any, any_i, ready, ready_i))) {
            if (c->verifying) {
                verify_record(c, &any->rec);
                any->verified = 1;
            } else {
                any->presumed = 1;
            }
            continue;
        }
        /* A ready head is taken before an earlier one waiting for its predecessor if it is no
         * more than JK_ORDER_WINDOW_MS later (one producer's batch spread over partitions);
         * the waiting head is taken once nothing can come before it (unsettled). A source not
         * followed from its first event (a reader that starts at the end) has no order to
         * restore: its heads are taken as they come. */
        struct part *take = NULL;
        int64_t until = 0;
        if (!blocked) {
            if (ready && (!any || head_before(ready, ready_i, any, any_i) ||
                          ready->rec.broker_ms <= any->rec.broker_ms + JK_ORDER_WINDOW_MS))
                take = ready;
            else if (any && jk_chain_linked(c->chain, any->rec.ev->source) == 0)
                take = any;
            else if (any && !unsettled(c, any->rec.broker_ms + JK_ORDER_WINDOW_MS, &until) &&
                     until == 0)
                take = any;
        }
        /* The caller may keep the next record for a later poll: the batch ends before it. */
        if (take && c->hold && take->rec.status != JK_REC_SKIPPED &&
            c->hold(c, &take->rec, c->hold_ctx))
            break;
        if (!take) {
            /* Every partition read up to its limit: nothing can come until the limits move. */
            if (limited == c->nparts && c->nparts > 0) break;
            int64_t left = deadline - jk_now_ms();
            if (b->n > 0 || left <= 0 || c->nparts == 0) break;
            int wait = left < 100 ? (int)left : 100;
            if (until && until - jk_now_ms() < wait) wait = (int)(until - jk_now_ms());
            if (wait < 0) wait = 0;
            /* Also for a partition that is waited for: librdkafka's batch read would wait its
             * whole timeout for a full batch, however soon the first message came. Each pass of
             * the loop takes what arrived (fill with no wait). */
            wait_any(c, wait);
            continue;
        }
        rd_kafka_message_t *m = take->buf[take->head++];
        take->next = m->offset + 1;
        take->checked = 0;
        jk_record_t *r = &b->recs[b->n];
        *r = take->rec;
        if (r->broker_ms > c->clock_ms) c->clock_ms = r->broker_ms;
        r->log_ms = c->clock_ms;
        if (r->status == JK_REC_SKIPPED) {
            jk_envelope_free(r->ev);
            rd_kafka_message_destroy(m);
            continue;
        }
        /* A duplicate is dropped only once its signature is known to hold: a forged copy of
         * an old seq is refused, not dropped. */
        if (link_record(c, r) == 0 || (!take->verified && verify_record(c, r) != 0)) {
            b->n++;
        } else {
            jk_envelope_free(b->recs[b->n].ev);
            b->duplicates++;
        }
        rd_kafka_message_destroy(m);
    }
    return 0;
}

/* Where a batch started: enough to read it again. */
struct snapshot {
    jk_chain_summary_t *heads; /* source names owned */
    size_t n, cap;
    int64_t waiting;
    int64_t *next;
    int64_t clock_ms;
};

static void snap_head(void *ctx, const jk_chain_summary_t *cs)
{
    struct snapshot *sn = ctx;
    sn->waiting += cs->waiting;
    if (sn->n == sn->cap) {
        size_t cap = sn->cap ? sn->cap * 2 : 32;
        jk_chain_summary_t *nh = realloc(sn->heads, cap * sizeof *nh);
        if (!nh) {
            sn->waiting = -1; /* cannot rewind: verify everything */
            return;
        }
        sn->heads = nh;
        sn->cap = cap;
    }
    jk_chain_summary_t *h = &sn->heads[sn->n];
    *h = *cs;
    h->source = strdup(cs->source);
    char *head = malloc(65);
    if (!h->source || !head) {
        free((char *)h->source);
        free(head);
        sn->waiting = -1;
        return;
    }
    memcpy(head, cs->head, 65);
    h->head = head;
    sn->n++;
}

static void snap_free(struct snapshot *sn)
{
    for (size_t i = 0; i < sn->n; i++) {
        free((char *)sn->heads[i].source);
        free((char *)sn->heads[i].head);
    }
    free(sn->heads);
    free(sn->next);
}

/* Puts the consumer back where the snapshot was taken: chain, clock, partition positions. */
static int rewind_to(jk_consumer_t *c, const struct snapshot *sn, jk_err_t *err)
{
    jk_chain_t *fresh = jk_chain_new();
    if (!fresh) return jk_err_set(err, "out of memory");
    for (size_t i = 0; i < sn->n; i++)
        jk_chain_restore(fresh, sn->heads[i].source, sn->heads[i].linked, sn->heads[i].head);
    jk_chain_free(c->chain);
    c->chain = fresh;
    c->clock_ms = sn->clock_ms;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)c->nparts);
    for (size_t i = 0; i < c->nparts; i++) {
        struct part *p = c->parts[i];
        for (size_t k = p->head; k < p->len; k++)
            rd_kafka_message_destroy(p->buf[k]);
        if (p->checked) jk_envelope_free(p->rec.ev);
        p->head = p->len = 0;
        p->checked = 0;
        p->at_eof = 0;
        p->next = sn->next[i];
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->next;
    }
    rd_kafka_error_t *e = rd_kafka_seek_partitions(c->rk, l, 10000);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        jk_err_set(err, "cannot seek back to read a batch again: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return -1;
    }
    return 0;
}

struct succ {
    int64_t seq;
    char prev[65];
    int authentic;
};

static void free_succ(void *ctx, const char *key, void *value)
{
    (void)ctx;
    (void)key;
    free(value);
}

/* Walks the batch backwards: a source's last event in it is verified; an earlier one is
 * authentic when the next event of its source is, follows it by one seq and carries its hash
 * as prev; otherwise it is verified by itself. Returns 0 when every event is authentic. */
static int verify_heads(jk_consumer_t *c, jk_batch_t *b, jk_err_t *err)
{
    jk_strmap_t *next = jk_strmap_new();
    if (!next) return jk_err_set(err, "out of memory");
    int bad = 0;
    for (size_t i = b->n; i-- > 0;) {
        jk_record_t *r = &b->recs[i];
        /* Records already refused are where a live consumer would have them; they are on no
         * chain. */
        if (r->status == JK_REC_INVALID || r->status == JK_REC_BAD_SIGNATURE) continue;
        struct succ *sc = jk_strmap_get(next, r->ev->source);
        int authentic =
            sc && sc->authentic && sc->seq == r->ev->seq + 1 && strcmp(sc->prev, r->hash) == 0;
        if (!authentic) authentic = verify_record(c, r) == 0;
        if (!authentic) bad = 1;
        if (!sc && (sc = malloc(sizeof *sc)) != NULL && jk_strmap_put(next, r->ev->source, sc)) {
            free(sc);
            sc = NULL;
        }
        if (!sc) {
            bad = 1; /* out of memory: have the batch read again, verifying everything */
            continue;
        }
        sc->seq = r->ev->seq;
        memcpy(sc->prev, r->ev->prev, sizeof sc->prev);
        sc->authentic = authentic;
    }
    jk_strmap_foreach(next, free_succ, NULL);
    jk_strmap_free(next);
    return bad;
}

/* Confirms the presumptions of poll_once about heads still waiting in their partitions (those
 * taken into the batch are confirmed by verify_heads, like every event of the batch). Returns 0
 * when every one holds. */
static int confirm_presumed(jk_consumer_t *c)
{
    int bad = 0;
    for (size_t i = 0; i < c->nparts; i++) {
        struct part *p = c->parts[i];
        if (!p->checked || !p->presumed || p->verified) continue;
        if (verify_record(c, &p->rec) != 0) bad = 1;
        p->verified = 1;
    }
    return bad;
}

int jk_consumer_poll(jk_consumer_t *c, jk_batch_t *b, size_t max, int timeout_ms, jk_err_t *err)
{
    struct snapshot sn;
    memset(&sn, 0, sizeof sn);
    int cheap = c->heads_only;
    if (cheap) {
        jk_chain_foreach(c->chain, snap_head, &sn);
        sn.next = malloc((c->nparts + 1) * sizeof *sn.next);
        /* Events waiting for a predecessor cannot be put back as they were: verify all. */
        if (sn.waiting != 0 || !sn.next) cheap = 0;
        for (size_t i = 0; cheap && i < c->nparts; i++)
            sn.next[i] = c->parts[i]->next;
        sn.clock_ms = c->clock_ms;
    }
    c->verifying = !cheap;
    int rc = poll_once(c, b, max, timeout_ms, err);
    if (rc == 0 && cheap && (verify_heads(c, b, err) || confirm_presumed(c))) {
        /* Something in this batch is not what its source signed: read it again, verifying
         * every signature, so that it is refused exactly as a live consumer refuses it. */
        jk_batch_clear(b);
        c->verifying = 1;
        rc = rewind_to(c, &sn, err);
        if (rc == 0) rc = poll_once(c, b, max, timeout_ms, err);
    }
    c->verifying = 1;
    snap_free(&sn);
    return rc;
}

void jk_consumer_only(jk_consumer_t *c, int (*wanted)(const jk_envelope_t *ev, void *ctx),
                      void *ctx)
{
    c->wanted = wanted;
    c->wanted_ctx = ctx;
}

void jk_consumer_hold(jk_consumer_t *c, jk_hold_fn fn, void *ctx)
{
    c->hold = fn;
    c->hold_ctx = ctx;
}

int jk_consumer_limit(jk_consumer_t *c, const int64_t *limits, size_t n, jk_err_t *err)
{
    if (n != c->nparts)
        return jk_err_set(err, "%zu limits given for %zu assigned partitions", n, c->nparts);
    for (size_t i = 0; i < n; i++)
        c->parts[i]->limit = limits ? limits[i] : -1;
    return 0;
}

int jk_consumer_at_limits(const jk_consumer_t *c)
{
    for (size_t i = 0; i < c->nparts; i++)
        if (!at_limit(c->parts[i])) return 0;
    return 1;
}

int64_t jk_consumer_clock(const jk_consumer_t *c)
{
    return c->clock_ms;
}

void jk_consumer_verify_heads(jk_consumer_t *c, int on)
{
    c->heads_only = on;
}

int jk_consumer_caught_up(const jk_consumer_t *c)
{
    for (size_t i = 0; i < c->nparts; i++)
        if (c->parts[i]->next < c->parts[i]->end) return 0;
    return 1;
}

size_t jk_consumer_nparts(const jk_consumer_t *c)
{
    return c->nparts;
}

void jk_consumer_part(const jk_consumer_t *c, size_t i, const char **topic, int32_t *partition,
                      int64_t *next)
{
    *topic = c->parts[i]->topic;
    *partition = c->parts[i]->partition;
    *next = c->parts[i]->next;
}

jk_keyreg_t *jk_consumer_keys(jk_consumer_t *c)
{
    return c->keys;
}

jk_chain_t *jk_consumer_chain(jk_consumer_t *c)
{
    return c->chain;
}

#define MAX_CHECKERS 64

struct sigcheck {
    const jk_keyreg_t *keys;
    const jk_batch_t *b;
    unsigned char *bad;
    size_t from, step;
};

static void *check_signatures(void *arg)
{
    struct sigcheck *sc = arg;
    for (size_t i = sc->from; i < sc->b->n; i += sc->step) {
        const jk_record_t *r = &sc->b->recs[i];
        if (r->status != JK_REC_OK && r->status != JK_REC_FORK) continue;
        jk_err_t why;
        if (jk_keyreg_verify(sc->keys, r->ev, r->broker_ms, &why)) sc->bad[i] = 1;
    }
    return NULL;
}

size_t jk_batch_check_signatures(const jk_keyreg_t *keys, const jk_batch_t *b, int threads,
                                 unsigned char *bad)
{
    if (threads < 1) threads = 1;
    if (threads > MAX_CHECKERS) threads = MAX_CHECKERS;
    struct sigcheck sc[MAX_CHECKERS];
    pthread_t tid[MAX_CHECKERS];
    int started[MAX_CHECKERS] = {0};
    for (int t = 0; t < threads; t++) {
        sc[t] = (struct sigcheck){keys, b, bad, (size_t)t, (size_t)threads};
        if (t > 0) started[t] = pthread_create(&tid[t], NULL, check_signatures, &sc[t]) == 0;
    }
    check_signatures(&sc[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            check_signatures(&sc[t]); /* no thread for it: done here */
    }
    size_t failed = 0;
    for (size_t i = 0; i < b->n; i++)
        failed += bad[i];
    return failed;
}
