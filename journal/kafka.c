/* kafka.c: configured librdkafka clients, topic creation with the journal's configs, and
 * partition counts. Producer and consumer wrappers build on these. */
#include "jukilog/kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int overridden(const jk_config_t *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n_kafka; i++)
        if (strcmp(cfg->kafka_keys[i], key) == 0) return 1;
    return 0;
}

static int set(rd_kafka_conf_t *conf, const char *k, const char *v, jk_err_t *err)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return jk_err_set(err, "Kafka setting %s=%s: %s", k, v, errstr);
    return 0;
}

rd_kafka_conf_t *jk_kafka_conf(const jk_config_t *cfg, const char *const *defaults, jk_err_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", cfg->brokers, err) ||
        /* librdkafka logs connection trouble to stderr by default; programs report it once
         * themselves, through delivery reports and errors. */
        set(conf, "log_level", "0", err) ||
        /* Requests and answers are small and waited on: Nagle's algorithm would hold a small
         * write back until the last one is acknowledged (up to the peer's delayed ACK). */
        (!overridden(cfg, "socket.nagle.disable") &&
         set(conf, "socket.nagle.disable", "true", err)))
        goto fail;
    for (const char *const *d = defaults; d && d[0]; d += 2)
        if (!overridden(cfg, d[0]) && set(conf, d[0], d[1], err)) goto fail;
    for (size_t i = 0; i < cfg->n_kafka; i++)
        if (set(conf, cfg->kafka_keys[i], cfg->kafka_values[i], err)) goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_t *jk_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, jk_err_t *err)
{
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        jk_err_set(err, "cannot create Kafka client: %s", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

rd_kafka_t *jk_kafka_client(const jk_config_t *cfg, rd_kafka_type_t type,
                            const char *const *defaults, jk_err_t *err)
{
    rd_kafka_conf_t *conf = jk_kafka_conf(cfg, defaults, err);
    return conf ? jk_kafka_new(type, conf, err) : NULL;
}

int jk_kafka_create_topic(rd_kafka_t *rk, const char *topic, int partitions, jk_err_t *err)
{
    char errstr[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, errstr, sizeof errstr);
    if (!nt) return jk_err_set(err, "topic %s: %s", topic, errstr);
    /* The broker's clock stamps every event (producers cannot back-date); nothing expires by
     * time: erasure is by crypto-shredding. With one replica locally, min.insync is 1. */
    rd_kafka_NewTopic_set_config(nt, "message.timestamp.type", "LogAppendTime");
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "delete");
    rd_kafka_NewTopic_set_config(nt, "retention.ms", "-1");
    rd_kafka_NewTopic_set_config(nt, "retention.bytes", "-1");
    rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", "1");
    /* A bulk request or provision carries a whole file of conditions or results in one event. */
    rd_kafka_NewTopic_set_config(nt, "max.message.bytes", "67108864");

    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, 30000, errstr, sizeof errstr);
    rd_kafka_AdminOptions_set_request_timeout(opt, 30000, errstr, sizeof errstr);
    rd_kafka_CreateTopics(rk, &nt, 1, opt, q);

    int rc = -1;
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 35000);
    if (!ev) {
        jk_err_set(err, "topic %s: no answer from the broker within 35 s", topic);
    } else if (rd_kafka_event_error(ev)) {
        jk_err_set(err, "topic %s: %s", topic, rd_kafka_event_error_string(ev));
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
        rd_kafka_resp_err_t e = n ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            rc = e == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : 1;
        else
            jk_err_set(err, "topic %s: %s", topic, rd_kafka_topic_result_error_string(tr[0]));
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

int jk_kafka_delete_topic(rd_kafka_t *rk, const char *topic, jk_err_t *err)
{
    char errstr[256];
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, 30000, errstr, sizeof errstr);
    rd_kafka_DeleteTopics(rk, &dt, 1, opt, q);
    int rc = -1;
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 35000);
    if (!ev) {
        jk_err_set(err, "topic %s: no answer from the broker within 35 s", topic);
    } else if (rd_kafka_event_error(ev)) {
        jk_err_set(err, "topic %s: %s", topic, rd_kafka_event_error_string(ev));
    } else {
        size_t n;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        rd_kafka_resp_err_t e = n ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            rc = 0;
        else
            jk_err_set(err, "topic %s: %s", topic, rd_kafka_topic_result_error_string(tr[0]));
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy(dt);
    return rc;
}

/* The ends of partitions first .. first + n - 1, in one ListOffsets request: asked for the offset
 * of time -1 (RD_KAFKA_OFFSET_END), the broker answers the latest, where
 * rd_kafka_query_watermark_offsets sends two requests per partition (for the low mark too) and
 * waits for each. On failure *failed is the partition at fault, or -1 for the whole request. */
static rd_kafka_resp_err_t ask_ends(rd_kafka_t *rk, const char *topic, int32_t first, int n,
                                    int64_t *ends, int32_t *failed, int timeout_ms)
{
    *failed = -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, topic, first + i)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, l, timeout_ms);
    /* The answers come in the list as it was asked: element i is partition first + i. */
    for (int i = 0; i < n && e == RD_KAFKA_RESP_ERR_NO_ERROR; i++) {
        e = l->elems[i].err;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && l->elems[i].offset < 0) e = RD_KAFKA_RESP_ERR__FAIL;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            ends[i] = l->elems[i].offset;
        else
            *failed = first + i;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return e;
}

rd_kafka_resp_err_t jk_kafka_end(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t *end,
                                 int timeout_ms)
{
    int32_t failed;
    return ask_ends(rk, topic, partition, 1, end, &failed, timeout_ms);
}

int64_t *jk_kafka_ends(rd_kafka_t *rk, const char *topic, int *n, int timeout_ms, jk_err_t *err)
{
    *n = jk_kafka_partitions(rk, topic, timeout_ms, err);
    if (*n < 0) return NULL;
    int64_t *ends = calloc(*n ? (size_t)*n : 1, sizeof *ends);
    if (ends == NULL) {
        jk_err_set(err, "out of memory");
        return NULL;
    }
    int32_t failed;
    rd_kafka_resp_err_t e = ask_ends(rk, topic, 0, *n, ends, &failed, timeout_ms);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return ends;
    free(ends);
    if (failed < 0)
        jk_err_set(err, "cannot read the ends of %s: %s", topic, rd_kafka_err2str(e));
    else
        jk_err_set(err, "cannot read the end of %s [%d]: %s", topic, (int)failed,
                   rd_kafka_err2str(e));
    return NULL;
}

int jk_kafka_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms, jk_err_t *err)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, timeout_ms);
    int n = -1;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        jk_err_set(err, "cannot read metadata of topic %s: %s", topic, rd_kafka_err2str(e));
    else if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
        jk_err_set(err, "topic %s: %s (has `jukilog admin init` been run for this tenant?)", topic,
                   md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found");
    else
        n = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return n;
}
