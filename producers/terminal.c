/* terminal.c: an operator's terminal on the log (terminal.h). */
#include "jukilog/terminal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/consumer.h"
#include "jukilog/keys.h"
#include "jukilog/producer.h"
#include "jukilog/seal.h"
#include "jukilog/util.h"

struct jk_terminal {
    const jk_config_t *cfg;
    char topic[128];
    char provider[64]; /* the source whose records answer requests */
    EVP_PKEY *signing, *encryption;
    jk_opener_t *opener; /* the reading half's, on encryption */
    jk_producer_t *p;
    jk_consumer_t *c;
    jk_batch_t b;
    size_t at; /* next record of b to look at */
};

static EVP_PKEY *operator_key(const jk_config_t *cfg, const char *id, const char *kind,
                              jk_err_t *err)
{
    char path[PATH_MAX];
    if (jk_config_path(cfg, path, sizeof path, "keys/operators/%s/%s.pem", id, kind)) {
        jk_err_set(err, "JUKILOG_HOME path too long");
        return NULL;
    }
    EVP_PKEY *k =
        strcmp(kind, "signing") == 0 ? jk_key_load(path, err) : jk_key_load_x25519(path, err);
    if (k == NULL)
        jk_err_wrap(err, "operator %s has no %s key here (made by `jukilog operator add`)", id,
                    kind);
    return k;
}

int jk_terminal_config(jk_config_t *cfg, jk_err_t *err)
{
    return jk_config_load(cfg, err) || jk_config_kafka_set(cfg, "linger.ms=0", err) ? -1 : 0;
}

/* A terminal reads the provider's records only. */
static int from_provider(const jk_envelope_t *ev, void *ctx)
{
    const jk_terminal_t *t = ctx;
    return strcmp(ev->source, t->provider) == 0;
}

jk_terminal_t *jk_terminal_open(const jk_config_t *cfg, const char *operator_id, int from_start,
                                jk_err_t *err)
{
    jk_terminal_t *t = calloc(1, sizeof *t);
    if (t == NULL) {
        jk_err_set(err, "out of memory");
        return NULL;
    }
    t->cfg = cfg;
    jk_config_topic(cfg, "operations", t->topic, sizeof t->topic);
    snprintf(t->provider, sizeof t->provider, "provider:%s", cfg->prefecture);
    char source[64];
    snprintf(source, sizeof source, "op:%s", operator_id);
    t->signing = operator_key(cfg, operator_id, "signing", err);
    t->encryption = t->signing ? operator_key(cfg, operator_id, "encryption", err) : NULL;
    t->opener = t->encryption ? jk_opener_new(t->encryption, err) : NULL;
    t->p = t->opener ? jk_producer_open(cfg, source, t->signing, err) : NULL;
    t->c = t->p ? jk_consumer_open(cfg, err) : NULL;
    if (t->c == NULL) goto fail;
    jk_consumer_only(t->c, from_provider, t);
    int n = jk_consumer_partitions(t->c, t->topic, err);
    if (n < 0) goto fail;
    int64_t *ends = malloc((size_t)n * sizeof *ends);
    if (ends == NULL) {
        jk_err_set(err, "out of memory");
        goto fail;
    }
    for (int i = 0; i < n; i++)
        ends[i] = from_start ? JK_OFFSET_BEGINNING : JK_OFFSET_END;
    int rc = jk_consumer_assign(t->c, t->topic, ends, n, err);
    free(ends);
    if (rc) goto fail;
    return t;
fail:
    jk_terminal_close(t);
    return NULL;
}

void jk_terminal_close(jk_terminal_t *t)
{
    if (t == NULL) return;
    jk_batch_free(&t->b);
    jk_consumer_close(t->c);
    jk_producer_close(t->p);
    EVP_PKEY_free(t->signing);
    EVP_PKEY_free(t->encryption);
    jk_opener_free(t->opener);
    free(t);
}

int jk_terminal_append(jk_terminal_t *t, const char *type, json_t *data, char id[33], jk_err_t *err)
{
    if (jk_random_id(id)) {
        json_decref(data);
        return jk_err_set(err, "no random bytes for a request id");
    }
    return jk_producer_append_id(t->p, id, t->topic, id, type, id, data, err);
}

int jk_terminal_flush(jk_terminal_t *t, jk_err_t *err)
{
    if (jk_producer_wait(t->p, err) == 0) return 0;
    return jk_err_wrap(err, "the request could not be appended (it stays spooled and goes out "
                            "before this operator's next request)");
}

int jk_terminal_send(jk_terminal_t *t, jk_err_t *err)
{
    if (jk_producer_send(t->p, err) == 0) return 0;
    return jk_err_wrap(err, "the request could not be appended (it stays spooled and goes out "
                            "before this operator's next request)");
}

int jk_terminal_next(jk_terminal_t *t, int timeout_ms, jk_answer_t *a, jk_err_t *err)
{
    int64_t deadline = jk_now_ms() + timeout_ms;
    for (;;) {
        while (t->at < t->b.n) {
            jk_record_t *r = &t->b.recs[t->at++];
            if (r->status != JK_REC_OK || strcmp(r->ev->source, t->provider) != 0) continue;
            if (strncmp(r->ev->type, "provision.", 10) != 0 &&
                strncmp(r->ev->type, "refusal.", 8) != 0)
                continue;
            const char *req = json_string_value(json_object_get(r->ev->data, "request_id"));
            if (req == NULL || strlen(req) != 32) continue;
            snprintf(a->type, sizeof a->type, "%s", r->ev->type);
            memcpy(a->request_id, req, 33);
            a->data = json_incref(r->ev->data);
            a->broker_ms = r->broker_ms;
            return 1;
        }
        int64_t left = deadline - jk_now_ms();
        if (left < 0) return 0;
        t->at = 0;
        if (jk_consumer_poll(t->c, &t->b, 256, (int)left, err)) return -1;
        if (t->b.n == 0 && jk_now_ms() >= deadline) return 0;
    }
}

int jk_terminal_await(jk_terminal_t *t, const char *request_id, int timeout_ms, jk_answer_t *a,
                      jk_err_t *err)
{
    int64_t deadline = jk_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - jk_now_ms();
        int rc = jk_terminal_next(t, left > 0 ? (int)left : 0, a, err);
        if (rc <= 0) return rc;
        if (strcmp(a->request_id, request_id) == 0) return 1;
        json_decref(a->data);
        a->data = NULL;
    }
}

int jk_terminal_ask(jk_terminal_t *t, const char *type, json_t *data, int timeout_ms, char id[33],
                    jk_answer_t *a, jk_err_t *err)
{
    if (jk_terminal_append(t, type, data, id, err) || jk_terminal_flush(t, err)) return -1;
    return jk_terminal_await(t, id, timeout_ms, a, err);
}

json_t *jk_terminal_open_answer(jk_terminal_t *t, const jk_answer_t *a, jk_err_t *err)
{
    const json_t *sealed = json_object_get(a->data, "answer");
    if (sealed == NULL) {
        jk_err_set(err, "%s carries no answer", a->type);
        return NULL;
    }
    unsigned char *pt = NULL;
    size_t n = 0;
    if (jk_opener_open(t->opener, sealed, a->request_id, &pt, &n, err)) return NULL;
    json_error_t je;
    json_t *doc = json_loadb((const char *)pt, n, 0, &je);
    free(pt);
    if (doc == NULL) jk_err_set(err, "the answer is not JSON: %s", je.text);
    return doc;
}
