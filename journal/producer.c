/* producer.c: appending signed, chained events for one source (see producer.h).
 *
 * The order of durable steps is what makes a crash at any point harmless:
 *   1. each event is numbered, chained, signed and appended to the spool;
 *   2. on flush the spool and then the chain state are fsynced;
 *   3. only then is the spool handed to Kafka, and it is cleared only when every delivery
 *      report came back successful.
 * A crash before 2 loses only events nobody was told about; one between 2 and 3 is recovered
 * from the spool on the next open (the state is brought up to the spool's last event); one after
 * 3 resends events the broker may already have, with the same ids, and consumers drop them. */
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
    /* delivery accounting for the flush under way */
    size_t ok, failed;
    char failure[256];
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
    if (jk_envelope_validate(ev, err) || jk_envelope_sign(ev, p->key, err) ||
        jk_envelope_hash(ev, hash, err))
        goto out;
    line = jk_envelope_serialize(ev, err);
    if (!line) goto out;
    if (jk_spool_append(p->spool, topic, key ? key : "", line, err)) goto out;
    p->st.seq = ev->seq;
    memcpy(p->st.prev, hash, sizeof hash);
    if (id_out) memcpy(id_out, ev->id, 33);
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
    return jk_spool_sync(p->spool, err) || jk_seqstate_save(p->state_path, p->source, &p->st, err)
               ? -1
               : 0;
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

int jk_producer_flush(jk_producer_t *p, jk_err_t *err)
{
    if (jk_spool_count(p->spool) == 0) return 0;
    /* Durable before anything is handed to Kafka: first the events, then the chain state. */
    if (jk_producer_sync(p, err)) return -1;

    p->ok = p->failed = 0;
    p->failure[0] = '\0';
    struct send_ctx s = {p, 0, err};
    if (jk_spool_foreach(p->spool, send_cb, &s, err) != 0) {
        rd_kafka_flush(p->rk, timeout_ms(p->rk) + 5000);
        return -1;
    }
    rd_kafka_flush(p->rk, timeout_ms(p->rk) + 5000);

    size_t missing = s.queued - p->ok;
    if (p->failed || missing) {
        jk_err_set(err,
                   "the broker did not confirm %zu of %zu events (%s); they stay in %s and are "
                   "sent first next time",
                   missing, s.queued, p->failed ? p->failure : "no delivery report", p->spool_path);
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
    return jk_spool_clear(p->spool, err);
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
