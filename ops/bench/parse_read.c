/* parse_read.c: a ceiling for ops/bench/identity. A bare librdkafka consumer, as kcat is, reads a
 * topic from its beginning to its end, and parses every message with jansson (the project's JSON
 * library) and frees it: no signature, no hash, no state, one thread. Anything that must parse
 * every event (a replay, a rebuild) is bounded by this rate on one core. Asserts nothing.
 *
 * usage: jukilog-bench-parse BROKERS TOPIC
 * Prints one line: events= seconds= per_s= bytes_per_event= not_json= */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) == RD_KAFKA_CONF_OK) return 0;
    fprintf(stderr, "jukilog-bench-parse: %s=%s: %s\n", k, v, err);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s BROKERS TOPIC\n", argv[0]);
        return 2;
    }
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", argv[1]) || set(conf, "group.id", "jukilog-bench-parse") ||
        set(conf, "enable.auto.commit", "false") || set(conf, "enable.partition.eof", "true"))
        return 2;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "jukilog-bench-parse: %s\n", err);
        return 2;
    }
    rd_kafka_poll_set_consumer(rk);
    double t0 = now_s();
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, argv[2], NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (e || md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "jukilog-bench-parse: no metadata for %s: %s\n", argv[2],
                rd_kafka_err2str(e ? e : md->topics[0].err));
        return 2;
    }
    int nparts = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
    for (int i = 0; i < nparts; i++)
        rd_kafka_topic_partition_list_add(parts, argv[2], i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if ((e = rd_kafka_assign(rk, parts)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "jukilog-bench-parse: assign: %s\n", rd_kafka_err2str(e));
        return 2;
    }
    rd_kafka_topic_partition_list_destroy(parts);

    long long events = 0, bytes = 0, not_json = 0;
    int at_end = 0;
    while (at_end < nparts) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            at_end++;
        } else if (m->err) {
            fprintf(stderr, "jukilog-bench-parse: %s\n", rd_kafka_message_errstr(m));
            return 2;
        } else {
            json_error_t je;
            json_t *doc = json_loadb(m->payload, m->len, 0, &je);
            if (!doc) not_json++;
            json_decref(doc);
            events++;
            bytes += (long long)m->len;
        }
        rd_kafka_message_destroy(m);
    }
    double secs = now_s() - t0;
    printf("events=%lld seconds=%.3f per_s=%.0f bytes_per_event=%.0f not_json=%lld\n", events, secs,
           secs > 0 ? (double)events / secs : 0.0, events ? (double)bytes / (double)events : 0.0,
           not_json);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}
