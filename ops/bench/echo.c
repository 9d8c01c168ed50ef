/* echo.c: the floor under ops/bench/inquiry's round trip. An inquiry goes through the log twice
 * (request appended, read by the provider; record appended, read by the terminal); this does the
 * same with nothing else: no signature, no database, no fsync, no encryption. A child process
 * reads every message of topic REQ and appends it unchanged to topic ANS; the parent appends
 * RATE messages a second to REQ for SECONDS seconds and reads ANS, timing each message from just
 * before it is handed to librdkafka to the moment it is read back. Both sides use the clients'
 * settings of jukilog's terminal and provider (idempotent, acks=all, linger.ms=0, lz4, Nagle
 * off, fetch.wait.max.ms=100). Prints one key=value line; asserts nothing.
 *
 * usage: jukilog-bench-echo BROKERS REQ_TOPIC ANS_TOPIC RATE SECONDS [BYTES]
 * (both topics exist already, LogAppendTime, any number of partitions) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "latency.h"

static rd_kafka_t *client(rd_kafka_type_t type, const char *brokers)
{
    /* Key, value pairs. */
    /* clang-format off */
    static const char *const common[] = {"socket.nagle.disable", "true", NULL};
    static const char *const producer[] = {"enable.idempotence", "true", "acks", "all",
                                           "linger.ms", "0", "compression.type", "lz4", NULL};
    static const char *const consumer[] = {"group.id", "jukilog-bench-echo",
                                           "enable.auto.commit", "false",
                                           "fetch.wait.max.ms", "100", NULL};
    /* clang-format on */
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *const *sets[] = {common, type == RD_KAFKA_PRODUCER ? producer : consumer};
    int bad = rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
    for (size_t s = 0; s < 2; s++)
        for (const char *const *kv = sets[s]; *kv && !bad; kv += 2)
            bad = rd_kafka_conf_set(conf, kv[0], kv[1], errstr, sizeof errstr);
    rd_kafka_t *rk = bad ? NULL : rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (rk == NULL) {
        if (bad) rd_kafka_conf_destroy(conf);
        fprintf(stderr, "jukilog-bench-echo: %s\n", errstr);
        exit(2);
    }
    if (type == RD_KAFKA_CONSUMER) rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Reads topic from its current end, on every partition. */
static rd_kafka_t *reader(const char *brokers, const char *topic)
{
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, brokers);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, t, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1 || md->topics[0].partition_cnt < 1) {
        fprintf(stderr, "jukilog-bench-echo: no topic %s\n", topic);
        exit(2);
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    if (rd_kafka_assign(rk, l) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "jukilog-bench-echo: cannot read %s\n", topic);
        exit(2);
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rk;
}

/* A producer learns a topic it has not produced to on its next metadata scan (up to a second):
 * asking for the topic's metadata first makes the first message go at once. */
static rd_kafka_t *writer(const char *brokers, const char *topic)
{
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, brokers);
    rd_kafka_topic_t *t = rd_kafka_topic_new(p, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(p, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return p;
}

static void produce(rd_kafka_t *p, const char *topic, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen),
                             RD_KAFKA_V_VALUE((void *)val, vlen),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(p, 10);
    rd_kafka_poll(p, 0);
}

static volatile sig_atomic_t quit;
static void on_term(int sig)
{
    (void)sig;
    quit = 1;
}

static void echo(const char *brokers, const char *req, const char *ans)
{
    signal(SIGTERM, on_term);
    rd_kafka_t *c = reader(brokers, req), *p = writer(brokers, ans);
    while (!quit) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m && !m->err) produce(p, ans, m->key, m->key_len, m->payload, m->len);
        if (m) rd_kafka_message_destroy(m);
        rd_kafka_poll(p, 0);
    }
    rd_kafka_flush(p, 5000);
    rd_kafka_destroy(p);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 7) {
        fprintf(stderr, "usage: %s BROKERS REQ_TOPIC ANS_TOPIC RATE SECONDS [BYTES]\n", argv[0]);
        return 2;
    }
    const char *brokers = argv[1], *req = argv[2], *ans = argv[3];
    int rate = atoi(argv[4]), seconds = atoi(argv[5]), bytes = argc == 7 ? atoi(argv[6]) : 1500;
    if (rate < 1 || seconds < 1 || bytes < 32) {
        fprintf(stderr, "%s: bad arguments\n", argv[0]);
        return 2;
    }
    pid_t child = fork();
    if (child < 0) return 2;
    if (child == 0) {
        echo(brokers, req, ans);
        _exit(0);
    }
    rd_kafka_t *c = reader(brokers, ans), *p = writer(brokers, req);
    sleep(2); /* both readers positioned at the ends */
    size_t total = (size_t)rate * (size_t)seconds, sent = 0, done = 0;
    long long *t0 = calloc(total, sizeof *t0), *lat = calloc(total, sizeof *lat);
    char *val = malloc((size_t)bytes);
    if (!t0 || !lat || !val) return 2;
    memset(val, 'x', (size_t)bytes);
    long long start = now_us(), stop_at = start + (long long)seconds * 1000000 + 15000000;
    while (done < total && now_us() < stop_at) {
        size_t due = (size_t)((now_us() - start) * rate / 1000000);
        for (; sent < due && sent < total; sent++) {
            char key[24];
            int kl = snprintf(key, sizeof key, "%zu", sent);
            memcpy(val, key, (size_t)kl + 1);
            t0[sent] = now_us();
            produce(p, req, key, (size_t)kl, val, (size_t)bytes);
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1);
        if (m && !m->err && m->len > 0) {
            size_t i = strtoull(m->payload, NULL, 10);
            if (i < sent && t0[i]) {
                lat[done++] = now_us() - t0[i];
                t0[i] = 0;
            }
        }
        if (m) rd_kafka_message_destroy(m);
    }
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    qsort(lat, done, sizeof *lat, cmp_ll);
    size_t within20 = 0;
    while (within20 < done && lat[within20] <= 20000)
        within20++;
    printf("rate=%d seconds=%d bytes=%d sent=%zu echoed=%zu p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f "
           "max_ms=%.1f within_20ms_pct=%.1f\n",
           rate, seconds, bytes, sent, done, done ? lat[done / 2] / 1000.0 : -1,
           done ? lat[done * 90 / 100] / 1000.0 : -1, done ? lat[done * 99 / 100] / 1000.0 : -1,
           done ? lat[done - 1] / 1000.0 : -1,
           done ? 100.0 * (double)within20 / (double)done : 0.0);
    free(t0);
    free(lat);
    free(val);
    rd_kafka_flush(p, 5000);
    rd_kafka_destroy(p);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return 0;
}
