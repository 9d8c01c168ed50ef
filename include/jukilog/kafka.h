/* kafka.h: the few things every program asks of Kafka besides producing and consuming:
 * a configured client, topic creation with the configs of DESIGN.md, partition counts. */
#ifndef JUKILOG_KAFKA_H
#define JUKILOG_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "jukilog/config.h"
#include "jukilog/err.h"

/* A librdkafka configuration with bootstrap servers, the given defaults (NULL-terminated key,
 * value pairs) unless -X overrides them, and the -X settings of cfg. */
rd_kafka_conf_t *jk_kafka_conf(const jk_config_t *cfg, const char *const *defaults, jk_err_t *err);
/* A client from conf, which it takes (also on failure). */
rd_kafka_t *jk_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, jk_err_t *err);
/* Both at once. */
rd_kafka_t *jk_kafka_client(const jk_config_t *cfg, rd_kafka_type_t type,
                            const char *const *defaults, jk_err_t *err);

/* Creates the topic (full name) with `partitions` partitions and the journal's configs
 * (LogAppendTime, delete policy, infinite retention). An existing topic is left as it is and
 * counts as success. */
int jk_kafka_create_topic(rd_kafka_t *rk, const char *topic, int partitions, jk_err_t *err);

/* Deletes the topic (full name); a missing topic counts as success. */
int jk_kafka_delete_topic(rd_kafka_t *rk, const char *topic, jk_err_t *err);

/* The end of a partition (its high-water mark: the offset the next event will have), asked of
 * the broker now, in one request. */
rd_kafka_resp_err_t jk_kafka_end(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t *end,
                                 int timeout_ms);

/* The end of every partition of topic, asked in one request: a malloc'd array of *n ends (index =
 * partition), or NULL with err naming the topic, or the partition at fault. */
int64_t *jk_kafka_ends(rd_kafka_t *rk, const char *topic, int *n, int timeout_ms, jk_err_t *err);

/* Number of partitions of topic, or -1 (topic missing, broker unreachable). */
int jk_kafka_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms, jk_err_t *err);

#endif
