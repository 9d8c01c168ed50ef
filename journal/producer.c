/* producer.c: appending signed, chained events for one source (see producer.h).
 *
 * The order of durable steps is what makes a crash at any point harmless:
 *   1. each event is numbered, chained, signed and appended to the spool;
 *   2. the spool is fsynced before anything in it is handed to Kafka;
 *   3. the spool is cleared only when every event in it was confirmed by the broker, and only
 *      after the chain state (seq and hash of the last event) was saved durably.
 * A crash before 2 loses only events nobody was told about; one after 2 is recovered from the
 * spool on the next open (the state is brought up to the spool's last event, which is why the
 * state file need not be written on every sync); events handed to Kafka before the crash are
 * sent again with the same ids, and consumers drop them.
 *
 * Two ways to send: jk_producer_flush hands the whole spool over and waits for every delivery
 * report; jk_producer_send hands over only the events appended since the last send and returns
 * at once, the reports arriving in later calls, so a program that answers requests can decide
 * the next batch while the broker appends the last. */
#include "jukilog/producer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "jukilog/envelope.h"
#include "jukilog/kafka.h"
#include "jukilog/keys.h"
#include "jukilog/seqstate.h"
#include "jukilog/spool.h"
#include "jukilog/util.h"

/* An event appended but not yet handed to Kafka: a copy of its spool line's parts. */
struct unsent {
    char *topic, *key, *event;
};

struct jk_producer {
    char source[72];
    EVP_PKEY *key;
    char state_path[PATH_MAX];
    char spool_path[PATH_MAX];
    int lock_fd;
    jk_seqstate_t st;
    jk_spool_t *spool;
    const jk_config_t *cfg;
    rd_kafka_t *rk;
    /* topics whose metadata this client has asked for (see warm_topic) */
    char warm[8][128];
    size_t nwarm;
    /* delivery accounting since the spool was last cleared */
    size_t ok, failed;
    char failure[256];
    /* jk_producer_send: events appended but not yet handed to Kafka (copies of their spool
     * lines), and how many of the spool's events were handed over */
    struct unsent *unsent;
    size_t nunsent, capunsent;
    size_t handed;
    int64_t handed_ms; /* when events were last handed over */
    int unsent_lost;   /* a copy could not be kept: the spool is the only list */
};

static const char *const producer_defaults[] = {
    "enable.idempotence",
    "true",
    "acks",
    "all",
    "linger.ms",
    "5",
    /* How long a send may wait for an unreachable broker before its events stay spooled. */
    "message.timeout.ms",
    "60000",
    /* A bulk request or provision is one event of up to tens of MB (the topics allow 64 MB). */
    "message.max.bytes",
    "67108864",
    "compression.type",
    "lz4",
    NULL,
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    jk_producer_t *p = opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        p->ok++;
    } else {
        if (p->failed++ == 0)
            snprintf(p->failure, sizeof p->failure, "%s", rd_kafka_err2str(m->err));
    }
}

static int make_client(jk_producer_t *p, jk_err_t *err)
{
    rd_kafka_conf_t *conf = jk_kafka_conf(p->cfg, producer_defaults, err);
    if (!conf) return -1;
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    p->rk = jk_kafka_new(RD_KAFKA_PRODUCER, conf, err);
    return p->rk ? 0 : -1;
}

/* Brings the chain state up to the last event in the spool: a crash may have come after the
 * spool was synced and before the state file was replaced. */
static int recover_cb(void *ctx, const char *topic, const char *key, const char *event)
{
    (void)topic;
    (void)key;
    jk_producer_t *p = ctx;
    jk_err_t e;
    jk_envelope_t *ev = jk_envelope_parse(event, strlen(event), &e);
    if (!ev) return 1;
    if (strcmp(ev->source, p->source) == 0 && ev->seq > p->st.seq) {
        char h[65];
        if (jk_envelope_hash(ev, h, &e) == 0) {
            p->st.seq = ev->seq;
            memcpy(p->st.prev, h, sizeof h);
        }
    }
    jk_envelope_free(ev);
    return 0;
}

jk_producer_t *jk_producer_open(const jk_config_t *cfg, const char *source, EVP_PKEY *key,
                                jk_err_t *err)
{
    jk_producer_t *p = calloc(1, sizeof *p);
    if (!p) {
        jk_err_set(err, "out of memory");
        return NULL;
    }
    p->lock_fd = -1;
    p->cfg = cfg;
    p->key = key;
    snprintf(p->source, sizeof p->source, "%s", source);

    char name[96], dir[PATH_MAX], lock_path[PATH_MAX];
    jk_config_source_file(source, name, sizeof name);
    if (jk_config_path(cfg, dir, sizeof dir, "state") || jk_mkdirs(dir, 0700, err) ||
        jk_config_path(cfg, p->state_path, sizeof p->state_path, "state/%s.state", name) ||
        jk_config_path(cfg, lock_path, sizeof lock_path, "state/%s.lock", name) ||
        jk_config_path(cfg, p->spool_path, sizeof p->spool_path, "spool/%s.spool", name)) {
        if (!err || !err->msg[0]) jk_err_set(err, "JUKILOG_HOME path too long");
        goto fail;
    }

    /* One producer per source: two would fork its chain. */
    p->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (p->lock_fd < 0) {
        jk_err_set(err, "cannot open %s: %s", lock_path, strerror(errno));
        goto fail;
    }
    if (flock(p->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        jk_err_set(err, "another producer for %s is running (lock %s is held)", source, lock_path);
        goto fail;
    }

    if (jk_seqstate_load(p->state_path, source, &p->st, err)) goto fail;
    p->spool = jk_spool_open(p->spool_path, err);
    if (!p->spool) goto fail;
    if (jk_spool_foreach(p->spool, recover_cb, p, err) != 0) {
        if (!err || !err->msg[0])
            jk_err_set(err, "spool %s holds an unreadable event", p->spool_path);
        goto fail;
    }
    if (make_client(p, err)) goto fail;
    return p;
fail:
    jk_producer_close(p);
    return NULL;
}

static void drop_unsent(jk_producer_t *p)
{
    for (size_t i = 0; i < p->nunsent; i++) {
        free(p->unsent[i].topic);
        free(p->unsent[i].key);
        free(p->unsent[i].event);
    }
    p->nunsent = 0;
}

/* Keeps the event's line (taken) for jk_producer_send. The spool already holds the event, so
 * when memory runs out the copy is only marked missing and the next send hands over the whole
 * spool instead. */
static void keep_unsent(jk_producer_t *p, const char *topic, const char *key, char *line)
{
    if (p->nunsent == p->capunsent) {
        size_t cap = p->capunsent ? 2 * p->capunsent : 64;
        struct unsent *u = realloc(p->unsent, cap * sizeof *u);
        if (u == NULL) {
            free(line);
            p->unsent_lost = 1;
            return;
        }
        p->unsent = u;
        p->capunsent = cap;
    }
    struct unsent *u = &p->unsent[p->nunsent];
    u->topic = strdup(topic);
    u->key = strdup(key);
    u->event = line;
    if (!u->topic || !u->key) {
        free(u->topic);
        free(u->key);
        free(line);
        p->unsent_lost = 1;
        return;
    }
    p->nunsent++;
}

static int append(jk_producer_t *p, const char *id, const char *topic, const char *key,
                  const char *type, const char *subject, json_t *data, char id_out[33],
                  jk_err_t *err)
{
    jk_envelope_t *ev = jk_envelope_new(type, p->source, subject, data, err);
    if (!ev) return -1;
    if (id) snprintf(ev->id, sizeof ev->id, "%s", id);
    ev->seq = p->st.seq + 1;
    memcpy(ev->prev, p->st.prev, sizeof ev->prev);

    char hash[65];
    char *line = NULL;
    int rc = -1;
    line = jk_envelope_sign_serialize(ev, p->key, hash, err);
    if (!line) goto out;
    if (jk_spool_append(p->spool, topic, key ? key : "", line, err)) goto out;
    p->st.seq = ev->seq;
    memcpy(p->st.prev, hash, sizeof hash);
    if (id_out) memcpy(id_out, ev->id, 33);
    keep_unsent(p, topic, key ? key : "", line);
    line = NULL;
    rc = 0;
out:
    free(line);
    jk_envelope_free(ev);
    return rc;
}

int jk_producer_append(jk_producer_t *p, const char *topic, const char *key, const char *type,
                       const char *subject, json_t *data, char id_out[33], jk_err_t *err)
{
    return append(p, NULL, topic, key, type, subject, data, id_out, err);
}

int jk_producer_append_id(jk_producer_t *p, const char *id, const char *topic, const char *key,
                          const char *type, const char *subject, json_t *data, jk_err_t *err)
{
    return append(p, id, topic, key, type, subject, data, NULL, err);
}

int jk_producer_sync(jk_producer_t *p, jk_err_t *err)
{
    if (jk_spool_count(p->spool) == 0) return 0;
    return jk_spool_sync(p->spool, err);
}

/* librdkafka learns a topic it has not produced to on its once-a-second metadata scan, so the
 * first send to a topic would wait up to a second; asking for the topic's metadata at once
 * takes a round trip instead. */
static void warm_topic(jk_producer_t *p, const char *topic)
{
    for (size_t i = 0; i < p->nwarm; i++)
        if (strcmp(p->warm[i], topic) == 0) return;
    rd_kafka_topic_t *t = rd_kafka_topic_new(p->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (t && rd_kafka_metadata(p->rk, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    if (t) rd_kafka_topic_destroy(t);
    if (p->nwarm < sizeof p->warm / sizeof p->warm[0])
        snprintf(p->warm[p->nwarm++], sizeof p->warm[0], "%s", topic);
}

struct send_ctx {
    jk_producer_t *p;
    size_t queued;
    jk_err_t *err;
};

static int send_cb(void *ctx, const char *topic, const char *key, const char *event)
{
    struct send_ctx *s = ctx;
    warm_topic(s->p, topic);
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(s->p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                              RD_KAFKA_V_VALUE((void *)event, strlen(event)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            jk_err_set(s->err, "cannot hand an event to Kafka for topic %s: %s", topic,
                       rd_kafka_err2str(e));
            return 1;
        }
        rd_kafka_poll(s->p->rk, 50);
    }
    s->queued++;
    rd_kafka_poll(s->p->rk, 0);
    return 0;
}

static int timeout_ms(rd_kafka_t *rk)
{
    char buf[32];
    size_t n = sizeof buf;
    if (rd_kafka_conf_get(rd_kafka_conf(rk), "message.timeout.ms", buf, &n) != RD_KAFKA_CONF_OK)
        return 60000;
    return atoi(buf);
}

/* Whether the spool is exactly the events handed over (none failed) followed by the unsent
 * copies; otherwise only a flush of the whole spool is sure to send everything. */
static int accounted(const jk_producer_t *p)
{
    return p->rk && !p->unsent_lost && p->failed == 0 &&
           p->handed + p->nunsent == jk_spool_count(p->spool);
}

/* Every event in the spool is on the log: the chain state goes to its file, then the spool is
 * emptied (in that order: the state must not fall behind what the spool no longer holds). */
static int settle(jk_producer_t *p, jk_err_t *err)
{
    if (jk_seqstate_save(p->state_path, p->source, &p->st, err) || jk_spool_clear(p->spool, err))
        return -1;
    p->ok = p->failed = p->handed = 0;
    p->failure[0] = '\0';
    return 0;
}

/* Hands the unsent copies to Kafka (the spool was synced before). */
static int hand_unsent(jk_producer_t *p, jk_err_t *err)
{
    struct send_ctx s = {p, 0, err};
    int rc = 0;
    for (size_t i = 0; i < p->nunsent && rc == 0; i++)
        rc = send_cb(&s, p->unsent[i].topic, p->unsent[i].key, p->unsent[i].event);
    p->handed += s.queued;
    p->handed_ms = jk_now_ms();
    if (rc) p->unsent_lost = 1; /* some went, some not: the next flush sends the whole spool */
    drop_unsent(p);
    return rc ? -1 : 0;
}

/* Waits for the report of every event handed over; fails naming how many were not confirmed. */
static int await_reports(jk_producer_t *p, jk_err_t *err)
{
    rd_kafka_flush(p->rk, timeout_ms(p->rk) + 5000);
    size_t missing = p->handed > p->ok ? p->handed - p->ok : 0;
    if (p->failed == 0 && missing == 0) return 0;
    jk_err_set(err,
               "the broker did not confirm %zu of %zu events (%s); they stay in %s and are "
               "sent first next time",
               missing, p->handed, p->failed ? p->failure : "no delivery report", p->spool_path);
    p->unsent_lost = 1;
    /* An idempotent producer that hit a fatal error cannot send again: start afresh. */
    char fe[256];
    if (rd_kafka_fatal_error(p->rk, fe, sizeof fe) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_destroy(p->rk);
        p->rk = NULL;
        p->nwarm = 0;
        jk_err_t e2;
        make_client(p, &e2);
    }
    return -1;
}

int jk_producer_flush(jk_producer_t *p, jk_err_t *err)
{
    if (p->rk == NULL) {
        jk_err_t e2;
        if (make_client(p, &e2)) return jk_err_set(err, "%s", e2.msg);
    }
    /* The reports of earlier sends first, so that what follows knows what is confirmed. */
    if (p->handed > p->ok + p->failed) rd_kafka_flush(p->rk, timeout_ms(p->rk) + 5000);
    if (jk_spool_count(p->spool) == 0) {
        drop_unsent(p);
        return 0;
    }
    /* Durable before anything more is handed to Kafka. */
    if (jk_producer_sync(p, err)) return -1;
    if (accounted(p) && p->ok == p->handed) {
        /* Only what was appended since the last send still has to go. */
        if (hand_unsent(p, err) || await_reports(p, err)) return -1;
        return settle(p, err);
    }
    /* Something failed or is unaccounted for: hand the whole spool over again (what the broker
     * has already carries the same ids, and consumers drop it). */
    drop_unsent(p);
    p->ok = p->failed = p->handed = 0;
    p->failure[0] = '\0';
    p->unsent_lost = 0;
    struct send_ctx s = {p, 0, err};
    int rc = jk_spool_foreach(p->spool, send_cb, &s, err);
    p->handed = s.queued;
    if (rc != 0) {
        rd_kafka_flush(p->rk, timeout_ms(p->rk) + 5000);
        p->unsent_lost = 1;
        return -1;
    }
    if (await_reports(p, err)) return -1;
    return settle(p, err);
}

int jk_producer_send(jk_producer_t *p, jk_err_t *err)
{
    if (!accounted(p)) return jk_producer_flush(p, err);
    if (p->nunsent == 0) return 0;
    if (jk_producer_sync(p, err) || hand_unsent(p, err)) return -1;
    rd_kafka_poll(p->rk, 0);
    /* Keep the spool short: once enough went out, wait for it and start a new one. */
    if (p->handed >= JK_PRODUCER_SETTLE) {
        if (await_reports(p, err)) return -1;
        return settle(p, err);
    }
    return 0;
}

int jk_producer_poll(jk_producer_t *p, int timeout_ms, jk_err_t *err)
{
    if (p->rk) rd_kafka_poll(p->rk, timeout_ms);
    if (p->failed) {
        jk_err_set(err,
                   "the broker did not confirm %zu events (%s); they stay in %s and are sent "
                   "again with the next ones",
                   p->failed, p->failure, p->spool_path);
        return -1;
    }
    /* Settling writes the state file and empties the spool (fsyncs and a journal commit, some
     * milliseconds under load): a producer that keeps sending, as a busy provider, settles when
     * it pauses, or every JK_PRODUCER_SETTLE events in jk_producer_send. */
    if (accounted(p) && p->nunsent == 0 && p->handed > 0 && p->ok == p->handed &&
        jk_now_ms() - p->handed_ms >= JK_PRODUCER_PAUSE_MS)
        return settle(p, err);
    return 0;
}

int jk_producer_wait(jk_producer_t *p, jk_err_t *err)
{
    /* send falls back to a whole flush when it must; what it handed over is awaited here. */
    if (jk_producer_send(p, err)) return -1;
    return p->handed ? await_reports(p, err) : 0;
}

size_t jk_producer_spooled(const jk_producer_t *p)
{
    return jk_spool_count(p->spool);
}

long long jk_producer_seq(const jk_producer_t *p)
{
    return (long long)p->st.seq;
}

void jk_producer_close(jk_producer_t *p)
{
    if (!p) return;
    /* Everything confirmed: leave an empty spool, so the next producer has nothing to resend. */
    if (p->rk && accounted(p) && p->nunsent == 0 && p->handed > 0) {
        rd_kafka_poll(p->rk, 0);
        if (p->ok == p->handed) settle(p, &(jk_err_t){""});
    }
    drop_unsent(p);
    free(p->unsent);
    if (p->rk) {
        /* Nothing unconfirmed is lost: it is all in the spool. Purge so destroy does not wait. */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(p->rk, 0);
        rd_kafka_destroy(p->rk);
    }
    if (p->spool) {
        /* Events appended but not flushed are still made durable: they carry seqs that the
         * state file does not know yet, and the next open recovers the state from them. */
        jk_spool_sync(p->spool, NULL);
        jk_spool_close(p->spool);
    }
    if (p->lock_fd >= 0) close(p->lock_fd);
    free(p);
}
