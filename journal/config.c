/* config.c: the tenant's configuration from the environment and -X settings (see config.h). */
#include "jukilog/config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return (v && *v) ? v : dflt;
}

static int copy_into(char *dst, size_t n, const char *src, const char *what, jk_err_t *err)
{
    if (strlen(src) >= n)
        return jk_err_set(err, "%s is too long (%zu characters)", what, strlen(src));
    strcpy(dst, src);
    return 0;
}

int jk_config_load(jk_config_t *cfg, jk_err_t *err)
{
    memset(cfg, 0, sizeof *cfg);
    if (copy_into(cfg->brokers, sizeof cfg->brokers, env_or("JUKILOG_BROKERS", JK_DEFAULT_BROKERS),
                  "JUKILOG_BROKERS", err) ||
        copy_into(cfg->pg, sizeof cfg->pg, env_or("JUKILOG_PG", JK_DEFAULT_PG), "JUKILOG_PG",
                  err) ||
        copy_into(cfg->home, sizeof cfg->home, env_or("JUKILOG_HOME", "./var"), "JUKILOG_HOME",
                  err))
        return -1;

    const char *pref = env_or("JUKILOG_PREFECTURE", "35");
    if (strlen(pref) != 2 || !isdigit((unsigned char)pref[0]) || !isdigit((unsigned char)pref[1]) ||
        atoi(pref) < 1 || atoi(pref) > 47)
        return jk_err_set(err, "JUKILOG_PREFECTURE must be two digits 01..47, not \"%s\"", pref);
    strcpy(cfg->prefecture, pref);

    const char *ns = env_or("JUKILOG_NAMESPACE", "jk");
    size_t n = strlen(ns);
    int ok = n >= 1 && n <= 16 && islower((unsigned char)ns[0]);
    for (size_t i = 0; ok && i < n; i++)
        ok = islower((unsigned char)ns[i]) || isdigit((unsigned char)ns[i]) || ns[i] == '_';
    if (!ok)
        return jk_err_set(err, "JUKILOG_NAMESPACE must match [a-z][a-z0-9_]{0,15}, not \"%s\"", ns);
    strcpy(cfg->ns, ns);
    return 0;
}

void jk_config_free(jk_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        free(cfg->kafka_keys[i]);
        free(cfg->kafka_values[i]);
    }
    cfg->n_kafka = 0;
}

int jk_config_kafka_set(jk_config_t *cfg, const char *kv, jk_err_t *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return jk_err_set(err, "-X expects key=value, not \"%s\"", kv);
    if (cfg->n_kafka == JK_MAX_KAFKA_PROPS)
        return jk_err_set(err, "too many -X settings (at most %d)", JK_MAX_KAFKA_PROPS);
    cfg->kafka_keys[cfg->n_kafka] = strndup(kv, (size_t)(eq - kv));
    cfg->kafka_values[cfg->n_kafka] = strdup(eq + 1);
    cfg->n_kafka++;
    return 0;
}

int jk_config_kafka_default(jk_config_t *cfg, const char *key, const char *value, jk_err_t *err)
{
    for (size_t i = 0; i < cfg->n_kafka; i++)
        if (strcmp(cfg->kafka_keys[i], key) == 0) return 0;
    char kv[256];
    if ((size_t)snprintf(kv, sizeof kv, "%s=%s", key, value) >= sizeof kv)
        return jk_err_set(err, "librdkafka setting %s too long", key);
    return jk_config_kafka_set(cfg, kv, err);
}

void jk_config_topic(const jk_config_t *cfg, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s.%s.%s", cfg->ns, cfg->prefecture, name);
}

void jk_config_schema(const jk_config_t *cfg, char *out, size_t n)
{
    snprintf(out, n, "%s_%s", cfg->ns, cfg->prefecture);
}

void jk_config_admin_source(const jk_config_t *cfg, char *out, size_t n)
{
    snprintf(out, n, "admin:%s", cfg->prefecture);
}

int jk_config_path(const jk_config_t *cfg, char *out, size_t n, const char *fmt, ...)
{
    int k = snprintf(out, n, "%s/", cfg->home);
    if (k < 0 || (size_t)k >= n) return -1;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(out + k, n - (size_t)k, fmt, ap);
    va_end(ap);
    return (m < 0 || (size_t)m >= n - (size_t)k) ? -1 : 0;
}

void jk_config_source_file(const char *source, char *out, size_t n)
{
    snprintf(out, n, "%s", source);
    for (char *p = out; *p; p++)
        if (*p == ':' || *p == '/') *p = '_';
}
