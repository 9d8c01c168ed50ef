/* group.c: membership of a Kafka consumer group, for a share of a topic's partitions (group.h).
 *
 * One librdkafka consumer subscribed to the topic. Its rebalance callback records the member's
 * share and acknowledges it; the assigned partitions are paused at once, so the membership
 * fetches nothing (the caller reads through a jk_consumer of its own, at the offsets it keeps in
 * PostgreSQL). Both rebalance protocols are served: eager (the default: every partition is
 * revoked, then the new shares are handed out) and cooperative (-X
 * partition.assignment.strategy=cooperative-sticky: only the partitions that move). */
#include "jukilog/group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/kafka.h"
#include "jukilog/util.h"

struct jk_group {
    rd_kafka_t *rk;
    char topic[128];
    int nparts;
    unsigned char *owned; /* [nparts] */
    uint64_t generation;
    char error[256]; /* a failure inside the rebalance callback, reported by the next poll */
};

static void share(jk_group_t *g, const rd_kafka_topic_partition_list_t *l, unsigned char v)
{
    for (int i = 0; i < l->cnt; i++)
        if (strcmp(l->elems[i].topic, g->topic) == 0 && l->elems[i].partition >= 0 &&
            l->elems[i].partition < g->nparts)
            g->owned[l->elems[i].partition] = v;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    jk_group_t *g = opaque;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *ce = NULL;
    rd_kafka_resp_err_t ee = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* Nothing is read through the membership: were it to fetch, it would start at the end. */
        for (int i = 0; i < parts->cnt; i++)
            parts->elems[i].offset = RD_KAFKA_OFFSET_END;
        if (cooperative)
            ce = rd_kafka_incremental_assign(rk, parts);
        else
            ee = rd_kafka_assign(rk, parts);
        rd_kafka_pause_partitions(rk, parts);
        if (!cooperative) memset(g->owned, 0, (size_t)g->nparts);
        share(g, parts, 1);
    } else {
        if (cooperative)
            ce = rd_kafka_incremental_unassign(rk, parts);
        else
            ee = rd_kafka_assign(rk, NULL);
        if (cooperative)
            share(g, parts, 0);
        else
            memset(g->owned, 0, (size_t)g->nparts);
    }
    if (ce) {
        snprintf(g->error, sizeof g->error, "rebalance: %s", rd_kafka_error_string(ce));
        rd_kafka_error_destroy(ce);
    } else if (ee) {
        snprintf(g->error, sizeof g->error, "rebalance: %s", rd_kafka_err2str(ee));
    }
    g->generation++;
}

jk_group_t *jk_group_join(const jk_config_t *cfg, const char *group_id, const char *topic,
                          jk_err_t *err)
{
    /* A member that dies is replaced after session.timeout.ms; one that stops polling (a stuck
     * batch) after max.poll.interval.ms. Offsets are never committed to Kafka. */
    const char *const defaults[] = {
        "group.id",
        group_id,
        "enable.auto.commit",
        "false",
        "enable.auto.offset.store",
        "false",
        "session.timeout.ms",
        "10000",
        "heartbeat.interval.ms",
        "1000",
        "max.poll.interval.ms",
        "60000",
        NULL,
    };
    jk_group_t *g = calloc(1, sizeof *g);
    if (!g) {
        jk_err_set(err, "out of memory");
        return NULL;
    }
    snprintf(g->topic, sizeof g->topic, "%s", topic);
    rd_kafka_conf_t *conf = jk_kafka_conf(cfg, defaults, err);
    if (!conf) goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, g);
    g->rk = jk_kafka_new(RD_KAFKA_CONSUMER, conf, err);
    if (!g->rk) goto fail;
    rd_kafka_poll_set_consumer(g->rk);
    g->nparts = jk_kafka_partitions(g->rk, topic, 10000, err);
    if (g->nparts < 0) goto fail;
    g->owned = calloc((size_t)g->nparts + 1, 1);
    if (!g->owned) {
        jk_err_set(err, "out of memory");
        goto fail;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(g->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        jk_err_set(err, "cannot join group %s for %s: %s", group_id, topic, rd_kafka_err2str(e));
        goto fail;
    }
    return g;
fail:
    jk_group_leave(g);
    return NULL;
}

void jk_group_leave(jk_group_t *g)
{
    if (!g) return;
    if (g->rk) {
        rd_kafka_consumer_close(g->rk);
        rd_kafka_destroy(g->rk);
    }
    free(g->owned);
    free(g);
}

int jk_group_poll(jk_group_t *g, int timeout_ms, jk_err_t *err)
{
    int64_t deadline = jk_now_ms() + timeout_ms;
    do {
        int left = (int)(deadline - jk_now_ms());
        rd_kafka_message_t *m = rd_kafka_consumer_poll(g->rk, left > 0 ? left : 0);
        if (g->error[0]) {
            jk_err_set(err, "%s", g->error);
            if (m) rd_kafka_message_destroy(m);
            return -1;
        }
        if (!m) continue;
        /* Paused partitions deliver nothing but what was under way; errors other than a fatal
         * one are the client's to retry (a broker away, a coordinator moving). */
        int fatal = m->err == RD_KAFKA_RESP_ERR__FATAL;
        if (fatal) {
            char why[256];
            rd_kafka_fatal_error(g->rk, why, sizeof why);
            jk_err_set(err, "group membership for %s: %s", g->topic, why);
        }
        rd_kafka_message_destroy(m);
        if (fatal) return -1;
    } while (jk_now_ms() < deadline);
    return 0;
}

uint64_t jk_group_generation(const jk_group_t *g)
{
    return g->generation;
}

int jk_group_partitions(const jk_group_t *g)
{
    return g->nparts;
}

int jk_group_owns(const jk_group_t *g, int32_t partition)
{
    return partition >= 0 && partition < g->nparts && g->owned[partition];
}

int jk_group_watermarks(jk_group_t *g, int32_t partition, int64_t *lo, int64_t *hi, jk_err_t *err)
{
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(g->rk, g->topic, partition, lo, hi, 10000);
    if (e)
        return jk_err_set(err, "cannot read the end of %s [%d]: %s", g->topic, partition,
                          rd_kafka_err2str(e));
    return 0;
}
