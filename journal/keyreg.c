/* keyreg.c: the key registry, a projection of the admin topic (see keyreg.h).
 *
 * Each source has the list of keys ever registered for it, each with the broker times from
 * which it was valid and at which it was revoked (INT64_MAX while it stands), so that a key can
 * be looked up as of any point in the log: rotation keeps old keys for old events. Sources are
 * kept in a jk_strmap by name.
 *
 * Trust starts at the admin key (the anchor), pinned by the caller or taken from the log's
 * first self-signed registration of an admin source. Every key event must verify with it, and
 * an admin source can only ever be registered with it: the log cannot replace its own root. */
#include "jukilog/keyreg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/keys.h"
#include "jukilog/strmap.h"
#include "jukilog/util.h"

typedef struct kr_key {
    EVP_PKEY *pk;
    char id[17];
    int64_t registered_ms, revoked_ms; /* valid for registered_ms <= t < revoked_ms */
} kr_key_t;

typedef struct kr_src {
    char *name;
    kr_key_t *keys; /* in order of registration */
    size_t n, cap;
} kr_src_t;

struct jk_keyreg {
    EVP_PKEY *anchor; /* owned reference; NULL until the first admin self-registration */
    char anchor_id[17];
    jk_strmap_t *src; /* name -> kr_src_t* */
    int64_t last_ms;
};

jk_keyreg_t *jk_keyreg_new(EVP_PKEY *anchor)
{
    jk_keyreg_t *kr = calloc(1, sizeof *kr);
    if (kr == NULL) return NULL;
    if ((kr->src = jk_strmap_new()) == NULL) {
        free(kr);
        return NULL;
    }
    if (anchor != NULL) {
        if (jk_key_id(anchor, kr->anchor_id, NULL) != 0 || EVP_PKEY_up_ref(anchor) != 1) {
            jk_strmap_free(kr->src);
            free(kr);
            return NULL;
        }
        kr->anchor = anchor;
    }
    return kr;
}

static void free_src(void *ctx, const char *key, void *value)
{
    (void)ctx;
    (void)key;
    kr_src_t *src = value;
    for (size_t j = 0; j < src->n; j++)
        EVP_PKEY_free(src->keys[j].pk);
    free(src->keys);
    free(src->name);
    free(src);
}

void jk_keyreg_free(jk_keyreg_t *kr)
{
    if (kr == NULL) return;
    jk_strmap_foreach(kr->src, free_src, NULL);
    jk_strmap_free(kr->src);
    EVP_PKEY_free(kr->anchor);
    free(kr);
}

static kr_src_t *src_find(const jk_keyreg_t *kr, const char *name)
{
    return jk_strmap_get(kr->src, name);
}

static kr_src_t *src_get(jk_keyreg_t *kr, const char *name)
{
    kr_src_t *src = src_find(kr, name);
    if (src != NULL) return src;
    src = calloc(1, sizeof *src);
    if (src == NULL || (src->name = strdup(name)) == NULL || jk_strmap_put(kr->src, name, src)) {
        if (src) free(src->name);
        free(src);
        return NULL;
    }
    return src;
}

static kr_key_t *key_by_id(const kr_src_t *s, const char *id)
{
    for (size_t i = 0; s != NULL && i < s->n; i++)
        if (strcmp(s->keys[i].id, id) == 0) return &s->keys[i];
    return NULL;
}

/* The most recently registered key valid at t. */
static const kr_key_t *key_at(const jk_keyreg_t *kr, const char *source, int64_t t)
{
    const kr_src_t *s = src_find(kr, source);
    const kr_key_t *best = NULL;
    for (size_t i = 0; s != NULL && i < s->n; i++) {
        const kr_key_t *k = &s->keys[i];
        if (k->registered_ms <= t && t < k->revoked_ms &&
            (best == NULL || k->registered_ms >= best->registered_ms))
            best = k;
    }
    return best;
}

static int is_admin(const char *source)
{
    return strncmp(source, "admin:", 6) == 0 && source[6] != '\0';
}

/* kind:name as the envelope allows it for "source". */
static int is_source(const char *s)
{
    if (strlen(s) > 64) return 0;
    size_t k = strspn(s, "abcdefghijklmnopqrstuvwxyz");
    if (k == 0 || s[k] != ':' || s[k + 1] == '\0') return 0;
    const char *name = s + k + 1;
    return name[strspn(
               name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")] == '\0';
}

static int admin_signed(const jk_keyreg_t *kr, const jk_envelope_t *ev, jk_err_t *err)
{
    if (kr->anchor == NULL)
        return jk_envelope_refuse(err, ev,
                                  "no admin key yet (the admin's self-registration comes first)");
    jk_err_t why;
    if (jk_envelope_verify(ev, kr->anchor, &why) != 0)
        return jk_envelope_refuse(err, ev, "not signed by the admin key %s: %s", kr->anchor_id,
                                  why.msg);
    return 0;
}

/* Adds key pk (owned from here on) with id to source, valid from broker_ms; self makes it the
 * anchor. A key registered before keeps its first time. */
static int add_key(jk_keyreg_t *kr, const jk_envelope_t *ev, const char *source, EVP_PKEY *pk,
                   const char id[17], int64_t broker_ms, int self, jk_err_t *err)
{
    kr_src_t *s = src_get(kr, source);
    if (s == NULL) {
        jk_envelope_refuse(err, ev, "out of memory");
        goto fail;
    }
    if (key_by_id(s, id) != NULL) { /* a resent registration: the first one's time stands */
        EVP_PKEY_free(pk);
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 2;
        kr_key_t *keys = realloc(s->keys, cap * sizeof *keys);
        if (keys == NULL) {
            jk_envelope_refuse(err, ev, "out of memory");
            goto fail;
        }
        s->keys = keys;
        s->cap = cap;
    }
    if (self) {
        if (EVP_PKEY_up_ref(pk) != 1) {
            jk_envelope_refuse(err, ev, "out of memory");
            goto fail;
        }
        kr->anchor = pk;
        memcpy(kr->anchor_id, id, 17);
    }
    s->keys[s->n++] = (kr_key_t){.pk = pk, .registered_ms = broker_ms, .revoked_ms = INT64_MAX};
    memcpy(s->keys[s->n - 1].id, id, 17);
    return 0;
fail:
    EVP_PKEY_free(pk);
    return -1;
}

static int apply_registered(jk_keyreg_t *kr, const jk_envelope_t *ev, int64_t broker_ms,
                            jk_err_t *err)
{
    const char *source = jk_envelope_data_string(ev->data, 3, "source");
    const char *b64 = jk_envelope_data_string(ev->data, 3, "public_key");
    const char *key_id = jk_envelope_data_string(ev->data, 3, "key_id");
    if (source == NULL || b64 == NULL || key_id == NULL)
        return jk_envelope_refuse(
            err, ev, "data must be {\"source\",\"public_key\",\"key_id\"}, all strings");
    if (!is_source(source))
        return jk_envelope_refuse(err, ev, "data.source \"%s\" is not kind:name", source);
    jk_err_t why;
    EVP_PKEY *pk = jk_key_from_public_b64(b64, &why);
    if (pk == NULL) return jk_envelope_refuse(err, ev, "data.public_key: %s", why.msg);
    char id[17];
    int rc = -1;
    if (jk_key_id(pk, id, &why) != 0) {
        jk_envelope_refuse(err, ev, "data.public_key: %s", why.msg);
        goto out;
    }
    if (strcmp(id, key_id) != 0) {
        jk_envelope_refuse(err, ev, "data.key_id \"%s\" is not the id of the key given (%s)",
                           key_id, id);
        goto out;
    }

    int self = 0; /* this event makes its own key the anchor */
    if (kr->anchor == NULL) {
        if (!is_admin(source) || strcmp(source, ev->source) != 0) {
            jk_envelope_refuse(err, ev,
                               "no admin key yet (the admin's self-registration comes first)");
            goto out;
        }
        if (jk_envelope_verify(ev, pk, &why) != 0) {
            jk_envelope_refuse(err, ev, "self-registration of %s: %s", source, why.msg);
            goto out;
        }
        self = 1;
    } else {
        if (admin_signed(kr, ev, err) != 0) goto out;
        if (is_admin(source) && EVP_PKEY_eq(pk, kr->anchor) != 1) {
            jk_envelope_refuse(err, ev,
                               "admin source %s can only be registered with the admin key %s",
                               source, kr->anchor_id);
            goto out;
        }
    }

    rc = add_key(kr, ev, source, pk, id, broker_ms, self, err);
    pk = NULL; /* add_key owns it now */
out:
    EVP_PKEY_free(pk);
    return rc;
}

/* operator.registered (operators.h) also speaks for the operator's requests: its signing key
 * becomes the key of source "op:<operator>" from that broker time on, and a later registration
 * with another key supersedes it. A revocation leaves the key standing, so that a revoked
 * operator's later request still verifies and is refused as "revoked", not as forged. */
static int apply_operator(jk_keyreg_t *kr, const jk_envelope_t *ev, int64_t broker_ms,
                          jk_err_t *err)
{
    const char *op = json_string_value(json_object_get(ev->data, "operator"));
    const char *b64 = json_string_value(json_object_get(ev->data, "signing_key"));
    if (op == NULL || b64 == NULL)
        return jk_envelope_refuse(err, ev, "data.operator and data.signing_key must be strings");
    char source[80];
    snprintf(source, sizeof source, "op:%s", op);
    if (strlen(op) > 32 || !is_source(source))
        return jk_envelope_refuse(err, ev, "data.operator \"%s\" cannot name a source", op);
    if (admin_signed(kr, ev, err) != 0) return -1;
    jk_err_t why;
    EVP_PKEY *pk = jk_key_from_public_b64(b64, &why);
    if (pk == NULL) return jk_envelope_refuse(err, ev, "data.signing_key: %s", why.msg);
    char id[17];
    if (jk_key_id(pk, id, &why) != 0) {
        EVP_PKEY_free(pk);
        return jk_envelope_refuse(err, ev, "data.signing_key: %s", why.msg);
    }
    return add_key(kr, ev, source, pk, id, broker_ms, 0, err);
}

static int apply_revoked(jk_keyreg_t *kr, const jk_envelope_t *ev, int64_t broker_ms, jk_err_t *err)
{
    const char *source = jk_envelope_data_string(ev->data, 2, "source");
    const char *key_id = jk_envelope_data_string(ev->data, 2, "key_id");
    if (source == NULL || key_id == NULL)
        return jk_envelope_refuse(err, ev, "data must be {\"source\",\"key_id\"}, both strings");
    if (admin_signed(kr, ev, err) != 0) return -1;
    kr_key_t *k = key_by_id(src_find(kr, source), key_id);
    if (k == NULL)
        return jk_envelope_refuse(err, ev, "key %s of %s is not registered", key_id, source);
    if (EVP_PKEY_eq(k->pk, kr->anchor) == 1)
        return jk_envelope_refuse(
            err, ev, "the admin key %s cannot be revoked on the log it anchors", key_id);
    if (k->revoked_ms == INT64_MAX) k->revoked_ms = broker_ms; /* a resent one changes nothing */
    return 0;
}

int jk_keyreg_apply(jk_keyreg_t *kr, const jk_envelope_t *ev, int64_t broker_ms, jk_err_t *err)
{
    int reg = strcmp(ev->type, "key.registered") == 0;
    int rc = 1;
    if (reg || strcmp(ev->type, "key.revoked") == 0) {
        if (!is_admin(ev->source))
            return jk_envelope_refuse(err, ev, "only an admin source may register or revoke keys");
        rc = reg ? apply_registered(kr, ev, broker_ms, err) : apply_revoked(kr, ev, broker_ms, err);
        if (rc != 0) return -1;
    } else if (strcmp(ev->type, "operator.registered") == 0) {
        if (!is_admin(ev->source))
            return jk_envelope_refuse(err, ev, "only an admin source may register operators");
        if (apply_operator(kr, ev, broker_ms, err) != 0) return -1;
        rc = 1; /* the operator registry (operators.h) applies the rest */
    }
    if (broker_ms > kr->last_ms) kr->last_ms = broker_ms;
    return rc;
}

EVP_PKEY *jk_keyreg_lookup(const jk_keyreg_t *kr, const char *source, int64_t broker_ms)
{
    const kr_key_t *k = key_at(kr, source, broker_ms);
    return k ? k->pk : NULL;
}

int jk_keyreg_verify(const jk_keyreg_t *kr, const jk_envelope_t *ev, int64_t broker_ms,
                     jk_err_t *err)
{
    return jk_keyreg_verify_canonical(kr, ev, broker_ms, NULL, 0, err);
}

int jk_keyreg_verify_canonical(const jk_keyreg_t *kr, const jk_envelope_t *ev, int64_t broker_ms,
                               const char *canonical, size_t n, jk_err_t *err)
{
    const kr_key_t *k = key_at(kr, ev->source, broker_ms);
    if (k == NULL) {
        char t[JK_TIME_LEN] = "now";
        if (broker_ms != JK_KEYREG_NOW) jk_time_format(broker_ms, t);
        return jk_err_set(err, "no key registered for source %s at %s", ev->source, t);
    }
    if (jk_envelope_verify_canonical(ev, k->pk, canonical, n, NULL) != 0)
        return jk_err_set(err, "signature does not verify with key %s of %s", k->id, ev->source);
    return 0;
}

int64_t jk_keyreg_last_ms(const jk_keyreg_t *kr)
{
    return kr->last_ms;
}

json_t *jk_keyreg_registered_data(const char *source, EVP_PKEY *key, jk_err_t *err)
{
    char id[17];
    if (jk_key_id(key, id, err) != 0) return NULL;
    char *b64 = jk_key_public_b64(key, err);
    if (b64 == NULL) return NULL;
    json_t *data = json_pack("{s:s, s:s, s:s}", "source", source, "public_key", b64, "key_id", id);
    free(b64);
    if (data == NULL) jk_err_set(err, "key.registered data: out of memory or bad source");
    return data;
}

json_t *jk_keyreg_revoked_data(const char *source, const char *key_id)
{
    return json_pack("{s:s, s:s}", "source", source, "key_id", key_id);
}
