/* config.h: where a tenant lives.
 *
 * Read from the environment (DESIGN.md "External interface" and "Tenancy"):
 *   JUKILOG_BROKERS     Kafka bootstrap servers      (127.0.0.1:9092)
 *   JUKILOG_PG          libpq conninfo               (the project's local cluster)
 *   JUKILOG_HOME        keys, chain state, spools    (./var)
 *   JUKILOG_PREFECTURE  2 digits                     (35)
 *   JUKILOG_NAMESPACE   prefix of topics and schema  (jk)
 * plus -X key=value librdkafka settings given on the command line. */
#ifndef JUKILOG_CONFIG_H
#define JUKILOG_CONFIG_H

#include <limits.h>
#include <stddef.h>

#include "jukilog/err.h"

#define JK_DEFAULT_BROKERS "127.0.0.1:9092"
#define JK_DEFAULT_PG "host=127.0.0.1 port=55432 dbname=jukilog user=jukilog"
#define JK_MAX_KAFKA_PROPS 64

typedef struct jk_config {
    char brokers[512];
    char pg[1024];
    char home[PATH_MAX];
    char prefecture[3];
    char ns[32];
    char *kafka_keys[JK_MAX_KAFKA_PROPS];
    char *kafka_values[JK_MAX_KAFKA_PROPS];
    size_t n_kafka;
} jk_config_t;

/* Fills cfg from the environment, validating the prefecture (01..47) and namespace
 * ([a-z][a-z0-9_]{0,15}). */
int jk_config_load(jk_config_t *cfg, jk_err_t *err);
void jk_config_free(jk_config_t *cfg);

/* Adds one "-X key=value" librdkafka setting. */
int jk_config_kafka_set(jk_config_t *cfg, const char *kv, jk_err_t *err);
/* The same, unless a -X setting of key was given: a program's own default. */
int jk_config_kafka_default(jk_config_t *cfg, const char *key, const char *value, jk_err_t *err);

/* "<ns>.<pref>.<name>" */
void jk_config_topic(const jk_config_t *cfg, const char *name, char *out, size_t n);
/* "<ns>_<pref>" */
void jk_config_schema(const jk_config_t *cfg, char *out, size_t n);
/* "admin:<pref>": the source name of the prefecture's admin key */
void jk_config_admin_source(const jk_config_t *cfg, char *out, size_t n);
/* A path under home: jk_config_path(cfg, out, n, "keys/%s.pem", name). */
int jk_config_path(const jk_config_t *cfg, char *out, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A source name turned into a file name: "cs:352039" -> "cs_352039". */
void jk_config_source_file(const char *source, char *out, size_t n);

#endif
