/* test_keyreg.c: the key registry: trust on first use and a pinned anchor, registration,
 * rotation and revocation as of broker times, refusals, and verification of events against the
 * key valid when they were appended. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jukilog/envelope.h"
#include "jukilog/keyreg.h"
#include "jukilog/keys.h"

#define T0 1775088000000LL /* 2026-04-02T00:00:00.000Z */
#define ADMIN "admin:35"
#define CS "cs:352039"

typedef struct keys {
    EVP_PKEY *admin, *rogue, *c1, *c2;
} keys_t;

static int setup(void **state)
{
    keys_t *k = calloc(1, sizeof *k);
    if (k == NULL) return -1;
    k->admin = jk_key_generate(NULL);
    k->rogue = jk_key_generate(NULL);
    k->c1 = jk_key_generate(NULL);
    k->c2 = jk_key_generate(NULL);
    *state = k;
    return k->admin && k->rogue && k->c1 && k->c2 ? 0 : -1;
}

static int teardown(void **state)
{
    keys_t *k = *state;
    EVP_PKEY_free(k->admin);
    EVP_PKEY_free(k->rogue);
    EVP_PKEY_free(k->c1);
    EVP_PKEY_free(k->c2);
    free(k);
    return 0;
}

/* A signed event; data is taken. */
static jk_envelope_t *event(const char *type, const char *source, json_t *data, EVP_PKEY *signer)
{
    jk_err_t err = {""};
    assert_non_null(data);
    jk_envelope_t *ev = jk_envelope_new(type, source, NULL, data, &err);
    assert_non_null(ev);
    ev->seq = 1;
    assert_int_equal(jk_envelope_sign(ev, signer, &err), 0);
    return ev;
}

static json_t *reg_data(const char *source, EVP_PKEY *key)
{
    jk_err_t err = {""};
    json_t *d = jk_keyreg_registered_data(source, key, &err);
    assert_non_null(d);
    return d;
}

static const char *id_of(EVP_PKEY *key)
{
    static char ring[4][17];
    static int next;
    char *out = ring[next++ % 4];
    assert_int_equal(jk_key_id(key, out, NULL), 0);
    return out;
}

/* Applies key.registered of source's key, signed by signer, at t; returns apply's result and
 * leaves the message in err. */
static int reg(jk_keyreg_t *kr, const char *from, const char *source, EVP_PKEY *key,
               EVP_PKEY *signer, int64_t t, jk_err_t *err)
{
    jk_envelope_t *ev = event("key.registered", from, reg_data(source, key), signer);
    err->msg[0] = '\0';
    int rc = jk_keyreg_apply(kr, ev, t, err);
    jk_envelope_free(ev);
    return rc;
}

static int revoke(jk_keyreg_t *kr, const char *source, const char *key_id, EVP_PKEY *signer,
                  int64_t t, jk_err_t *err)
{
    jk_envelope_t *ev = event("key.revoked", ADMIN, jk_keyreg_revoked_data(source, key_id), signer);
    err->msg[0] = '\0';
    int rc = jk_keyreg_apply(kr, ev, t, err);
    jk_envelope_free(ev);
    return rc;
}

static void expect_key(const jk_keyreg_t *kr, const char *source, int64_t t, EVP_PKEY *want)
{
    EVP_PKEY *got = jk_keyreg_lookup(kr, source, t);
    if (want == NULL) {
        if (got != NULL) fail_msg("%s at %lld: a key, want none", source, (long long)t);
        return;
    }
    if (got == NULL) fail_msg("%s at %lld: no key", source, (long long)t);
    assert_int_equal(EVP_PKEY_eq(got, want), 1);
}

static void expect_refused(int rc, const jk_err_t *err, const char *needle)
{
    assert_int_equal(rc, -1);
    if (strstr(err->msg, needle) == NULL) fail_msg("got \"%s\", want \"%s\"", err->msg, needle);
}

static void test_trust_on_first_use(void **state)
{
    keys_t *k = *state;
    jk_err_t err;
    jk_keyreg_t *kr = jk_keyreg_new(NULL);
    assert_non_null(kr);

    /* Nothing is trusted before the admin's self-registration. */
    expect_refused(reg(kr, ADMIN, CS, k->c1, k->admin, T0, &err), &err, "no admin key yet");
    /* A self-registration must be signed by the key it carries. */
    expect_refused(reg(kr, ADMIN, ADMIN, k->admin, k->rogue, T0, &err), &err,
                   "self-registration of admin:35: signature does not verify");
    /* It must be the admin registering itself. */
    expect_refused(reg(kr, "admin:36", ADMIN, k->admin, k->admin, T0, &err), &err,
                   "no admin key yet");
    assert_int_equal(jk_keyreg_last_ms(kr), 0);

    assert_int_equal(reg(kr, ADMIN, ADMIN, k->admin, k->admin, T0 + 1, &err), 0);
    expect_key(kr, ADMIN, T0 + 1, k->admin);
    expect_key(kr, ADMIN, T0, NULL);
    assert_int_equal(jk_keyreg_last_ms(kr), T0 + 1);

    /* From now on the first key is the anchor: a second self-registration cannot replace it. */
    expect_refused(reg(kr, ADMIN, ADMIN, k->rogue, k->rogue, T0 + 2, &err), &err,
                   "not signed by the admin key");
    expect_refused(reg(kr, ADMIN, ADMIN, k->rogue, k->admin, T0 + 2, &err), &err,
                   "admin source admin:35 can only be registered with the admin key");
    expect_key(kr, ADMIN, T0 + 5, k->admin);

    assert_int_equal(reg(kr, ADMIN, CS, k->c1, k->admin, T0 + 10, &err), 0);
    expect_key(kr, CS, T0 + 9, NULL);
    expect_key(kr, CS, T0 + 10, k->c1);
    expect_key(kr, CS, T0 + 1000000, k->c1);
    expect_key(kr, "cs:352047", T0 + 10, NULL);
    assert_int_equal(jk_keyreg_last_ms(kr), T0 + 10);
    jk_keyreg_free(kr);
}

static void test_anchor_pinned(void **state)
{
    keys_t *k = *state;
    jk_err_t err;
    jk_keyreg_t *kr = jk_keyreg_new(k->admin);
    assert_non_null(kr);

    /* A rogue self-registration on the log does not displace the pinned key. */
    expect_refused(reg(kr, ADMIN, ADMIN, k->rogue, k->rogue, T0, &err), &err,
                   "not signed by the admin key");
    char want[256];
    snprintf(want, sizeof want,
             "admin source admin:35 can only be registered with the admin key %s", id_of(k->admin));
    expect_refused(reg(kr, ADMIN, ADMIN, k->rogue, k->admin, T0, &err), &err, want);

    /* Other sources can be registered before the admin's own registration is seen. */
    assert_int_equal(reg(kr, ADMIN, CS, k->c1, k->admin, T0 + 1, &err), 0);
    expect_key(kr, CS, T0 + 1, k->c1);
    assert_int_equal(reg(kr, ADMIN, ADMIN, k->admin, k->admin, T0 + 2, &err), 0);
    expect_key(kr, ADMIN, T0 + 2, k->admin);
    /* Signed by a CS key: refused. */
    expect_refused(reg(kr, ADMIN, "cs:352047", k->c2, k->c1, T0 + 3, &err), &err,
                   "not signed by the admin key");
    expect_key(kr, "cs:352047", T0 + 3, NULL);
    jk_keyreg_free(kr);
}

static void test_revocation(void **state)
{
    keys_t *k = *state;
    jk_err_t err;
    jk_keyreg_t *kr = jk_keyreg_new(k->admin);
    assert_int_equal(reg(kr, ADMIN, CS, k->c1, k->admin, T0 + 1000, &err), 0);
    assert_int_equal(revoke(kr, CS, id_of(k->c1), k->admin, T0 + 5000, &err), 0);
    expect_key(kr, CS, T0 + 999, NULL);
    expect_key(kr, CS, T0 + 1000, k->c1);
    expect_key(kr, CS, T0 + 4999, k->c1);
    expect_key(kr, CS, T0 + 5000, NULL);
    expect_key(kr, CS, T0 + 9999, NULL);
    assert_int_equal(jk_keyreg_last_ms(kr), T0 + 5000);

    /* A resent revocation keeps the first time. */
    assert_int_equal(revoke(kr, CS, id_of(k->c1), k->admin, T0 + 6000, &err), 0);
    expect_key(kr, CS, T0 + 4999, k->c1);
    expect_key(kr, CS, T0 + 5500, NULL);

    /* A revoked key registered again stays revoked: its id is the same key. */
    assert_int_equal(reg(kr, ADMIN, CS, k->c1, k->admin, T0 + 7000, &err), 0);
    expect_key(kr, CS, T0 + 7000, NULL);

    expect_refused(revoke(kr, CS, id_of(k->c2), k->admin, T0 + 8000, &err), &err,
                   "is not registered");
    expect_refused(revoke(kr, "cs:352047", id_of(k->c1), k->admin, T0 + 8000, &err), &err,
                   "is not registered");
    expect_refused(revoke(kr, CS, id_of(k->c1), k->c1, T0 + 8000, &err), &err,
                   "not signed by the admin key");
    assert_int_equal(reg(kr, ADMIN, ADMIN, k->admin, k->admin, T0 + 8000, &err), 0);
    expect_refused(revoke(kr, ADMIN, id_of(k->admin), k->admin, T0 + 9000, &err), &err,
                   "cannot be revoked");
    expect_key(kr, ADMIN, T0 + 9000, k->admin);
    assert_int_equal(jk_keyreg_last_ms(kr), T0 + 8000);
    jk_keyreg_free(kr);
}

static void test_rotation(void **state)
{
    keys_t *k = *state;
    jk_err_t err;
    jk_keyreg_t *kr = jk_keyreg_new(k->admin);
    assert_int_equal(reg(kr, ADMIN, CS, k->c1, k->admin, T0 + 1000, &err), 0);
    assert_int_equal(reg(kr, ADMIN, CS, k->c2, k->admin, T0 + 3000, &err), 0);
    expect_key(kr, CS, T0 + 2999, k->c1);
    expect_key(kr, CS, T0 + 3000, k->c2); /* the newer one wins while both stand */
    assert_int_equal(revoke(kr, CS, id_of(k->c1), k->admin, T0 + 4000, &err), 0);
    expect_key(kr, CS, T0 + 2000, k->c1);
    expect_key(kr, CS, T0 + 4500, k->c2);
    /* Revoking the newer key falls back to none, not to the revoked older one. */
    assert_int_equal(revoke(kr, CS, id_of(k->c2), k->admin, T0 + 6000, &err), 0);
    expect_key(kr, CS, T0 + 5999, k->c2);
    expect_key(kr, CS, T0 + 6000, NULL);
    expect_key(kr, CS, T0 + 3500, k->c2);
    jk_keyreg_free(kr);
}

/* Rotation where the older key stays valid: a newer key revoked falls back to the older. */
static void test_rotation_fallback(void **state)
{
    keys_t *k = *state;
    jk_err_t err;
    jk_keyreg_t *kr = jk_keyreg_new(k->admin);
    assert_int_equal(reg(kr, ADMIN, CS, k->c1, k->admin, T0 + 1000, &err), 0);
    assert_int_equal(reg(kr, ADMIN, CS, k->c2, k->admin, T0 + 3000, &err), 0);
    assert_int_equal(revoke(kr, CS, id_of(k->c2), k->admin, T0 + 4000, &err), 0);
    expect_key(kr, CS, T0 + 3500, k->c2);
    expect_key(kr, CS, T0 + 4000, k->c1);
    jk_keyreg_free(kr);
}

static void test_idempotent(void **state)
{
    keys_t *k = *state;
    jk_err_t err;
    jk_keyreg_t *kr = jk_keyreg_new(k->admin);
    assert_int_equal(reg(kr, ADMIN, CS, k->c1, k->admin, T0 + 1000, &err), 0);
    assert_int_equal(reg(kr, ADMIN, CS, k->c1, k->admin, T0 + 2000, &err), 0);
    expect_key(kr, CS, T0 + 1500, k->c1); /* the first registration's time stands */
    assert_int_equal(jk_keyreg_last_ms(kr), T0 + 2000);
    jk_keyreg_free(kr);
}

static void test_cs_cannot_register(void **state)
{
    keys_t *k = *state;
    jk_err_t err;
    jk_keyreg_t *kr = jk_keyreg_new(k->admin);
    assert_int_equal(reg(kr, ADMIN, CS, k->c1, k->admin, T0, &err), 0);
    /* A CS registering a key for itself, signed with its own registered key. */
    expect_refused(reg(kr, CS, CS, k->c2, k->c1, T0 + 1, &err), &err,
                   "only an admin source may register or revoke keys");
    jk_envelope_t *ev = event("key.revoked", CS, jk_keyreg_revoked_data(CS, id_of(k->c1)), k->c1);
    expect_refused(jk_keyreg_apply(kr, ev, T0 + 1, &err), &err,
                   "only an admin source may register or revoke keys");
    jk_envelope_free(ev);
    /* Or claiming to be the admin. */
    expect_refused(reg(kr, ADMIN, CS, k->c2, k->c1, T0 + 1, &err), &err,
                   "not signed by the admin key");
    expect_key(kr, CS, T0 + 1, k->c1);
    jk_keyreg_free(kr);
}

/* Puts value in place of the placeholder text in data.field. */
static void replace(json_t *data, const char *field, const char *placeholder, const char *value)
{
    const char *v = json_string_value(json_object_get(data, field));
    if (v != NULL && strcmp(v, placeholder) == 0)
        json_object_set_new(data, field, json_string(value));
}

static void test_malformed(void **state)
{
    keys_t *k = *state;
    jk_err_t err = {""};
    jk_keyreg_t *kr = jk_keyreg_new(k->admin);

    /* key_id of another key. */
    json_t *d = reg_data(CS, k->c1);
    json_object_set_new(d, "key_id", json_string(id_of(k->c2)));
    jk_envelope_t *ev = event("key.registered", ADMIN, d, k->admin);
    char want[256];
    snprintf(want, sizeof want, "data.key_id \"%s\" is not the id of the key given (%s)",
             id_of(k->c2), id_of(k->c1));
    expect_refused(jk_keyreg_apply(kr, ev, T0, &err), &err, want);
    assert_int_equal(strncmp(err.msg, "key.registered ", 15), 0);
    jk_envelope_free(ev);

    static const char *const bad[] = {
        "{\"source\":\"cs:352039\",\"key_id\":\"0011223344556677\"}",
        "{\"source\":\"cs:352039\",\"public_key\":\"AAAA\",\"key_id\":\"0011223344556677\"}",
        "{\"source\":\"cs 352039\",\"public_key\":\"PK\",\"key_id\":\"ID\"}",
        "{\"source\":\"cs:352039\",\"public_key\":\"PK\",\"key_id\":\"ID\",\"x\":1}",
        "{\"source\":\"cs:352039\",\"public_key\":\"PK\",\"key_id\":5}",
        "{\"source\":7,\"public_key\":\"PK\",\"key_id\":\"ID\"}",
    };
    static const char *const why[] = {
        "data must be", "data.public_key: ", "is not kind:name",
        "data must be", "data must be",      "data must be",
    };
    char *pk = jk_key_public_b64(k->c1, &err);
    assert_non_null(pk);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *data = json_loads(bad[i], 0, NULL);
        assert_non_null(data);
        replace(data, "public_key", "PK", pk);
        replace(data, "key_id", "ID", id_of(k->c1));
        ev = event("key.registered", ADMIN, data, k->admin);
        expect_refused(jk_keyreg_apply(kr, ev, T0, &err), &err, why[i]);
        jk_envelope_free(ev);
    }
    free(pk);

    ev = event("key.revoked", ADMIN, json_pack("{s:s}", "source", CS), k->admin);
    expect_refused(jk_keyreg_apply(kr, ev, T0, &err), &err, "data must be");
    jk_envelope_free(ev);
    expect_key(kr, CS, T0, NULL);
    assert_int_equal(jk_keyreg_last_ms(kr), 0);
    jk_keyreg_free(kr);
}

static void test_other_events(void **state)
{
    keys_t *k = *state;
    jk_err_t err = {""};
    jk_keyreg_t *kr = jk_keyreg_new(NULL);
    /* Not a key event: left to other projections, whoever signed it. */
    jk_envelope_t *ev =
        event("purpose.granted", ADMIN, json_pack("{s:s}", "operator", "op:1"), k->rogue);
    assert_int_equal(jk_keyreg_apply(kr, ev, T0 + 5, &err), 1);
    assert_int_equal(jk_keyreg_last_ms(kr), T0 + 5);
    jk_envelope_free(ev);
    ev = event("key.registered_later", ADMIN, json_object(), k->rogue);
    assert_int_equal(jk_keyreg_apply(kr, ev, T0 + 6, &err), 1);
    jk_envelope_free(ev);
    jk_keyreg_free(kr);
}

static json_t *operator_data(const char *id, EVP_PKEY *signing)
{
    char *b64 = jk_key_public_b64(signing, NULL);
    assert_non_null(b64);
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s}", "operator", id, "department", "somu", "role",
                          "staff", "signing_key", b64, "encryption_key", b64);
    free(b64);
    return d;
}

/* operator.registered makes the operator's signing key the key of "op:<id>"; a later
 * registration with another key supersedes it; revocation (the operator registry's business)
 * leaves it standing; only the admin can register. */
static void test_operator_keys(void **state)
{
    keys_t *k = *state;
    jk_err_t err = {""};
    jk_keyreg_t *kr = jk_keyreg_new(NULL);
    assert_int_equal(reg(kr, ADMIN, ADMIN, k->admin, k->admin, T0, &err), 0);

    jk_envelope_t *ev =
        event("operator.registered", ADMIN, operator_data("tanaka", k->c1), k->rogue);
    expect_refused(jk_keyreg_apply(kr, ev, T0 + 1, &err), &err, "not signed by the admin key");
    jk_envelope_free(ev);
    expect_key(kr, "op:tanaka", T0 + 1, NULL);

    ev = event("operator.registered", CS, operator_data("tanaka", k->c1), k->c1);
    expect_refused(jk_keyreg_apply(kr, ev, T0 + 2, &err), &err, "only an admin source");
    jk_envelope_free(ev);

    ev = event("operator.registered", ADMIN, operator_data("tanaka", k->c1), k->admin);
    assert_int_equal(jk_keyreg_apply(kr, ev, T0 + 10, &err), 1);
    jk_envelope_free(ev);
    expect_key(kr, "op:tanaka", T0 + 9, NULL);
    expect_key(kr, "op:tanaka", T0 + 10, k->c1);

    ev = event("operator.revoked", ADMIN,
               json_pack("{s:s, s:s}", "operator", "tanaka", "reason", "left"), k->admin);
    assert_int_equal(jk_keyreg_apply(kr, ev, T0 + 20, &err), 1);
    jk_envelope_free(ev);
    expect_key(kr, "op:tanaka", T0 + 21, k->c1);

    ev = event("operator.registered", ADMIN, operator_data("tanaka", k->c2), k->admin);
    assert_int_equal(jk_keyreg_apply(kr, ev, T0 + 30, &err), 1);
    jk_envelope_free(ev);
    expect_key(kr, "op:tanaka", T0 + 29, k->c1);
    expect_key(kr, "op:tanaka", T0 + 30, k->c2);

    ev = event("operator.registered", ADMIN, operator_data("bad id!", k->c2), k->admin);
    expect_refused(jk_keyreg_apply(kr, ev, T0 + 40, &err), &err, "cannot name a source");
    jk_envelope_free(ev);
    jk_keyreg_free(kr);
}

static void test_verify(void **state)
{
    keys_t *k = *state;
    jk_err_t err = {""};
    jk_keyreg_t *kr = jk_keyreg_new(NULL);
    assert_int_equal(reg(kr, ADMIN, ADMIN, k->admin, k->admin, T0, &err), 0);
    assert_int_equal(reg(kr, ADMIN, CS, k->c1, k->admin, T0 + 1000, &err), 0);

    jk_envelope_t *good = event("identity.changed", CS, json_object(), k->c1);
    jk_envelope_t *wrong = event("identity.changed", CS, json_object(), k->c2);
    jk_envelope_t *stranger = event("identity.changed", "cs:999999", json_object(), k->c2);

    assert_int_equal(jk_keyreg_verify(kr, good, T0 + 2000, &err), 0);

    char want[256];
    snprintf(want, sizeof want, "signature does not verify with key %s of cs:352039", id_of(k->c1));
    assert_int_equal(jk_keyreg_verify(kr, wrong, T0 + 2000, &err), -1);
    assert_string_equal(err.msg, want);

    assert_int_equal(jk_keyreg_verify(kr, stranger, T0 + 2000, &err), -1);
    assert_string_equal(err.msg,
                        "no key registered for source cs:999999 at 2026-04-02T00:00:02.000Z");

    /* Appended before its key was registered. */
    assert_int_equal(jk_keyreg_verify(kr, good, T0 + 999, &err), -1);
    assert_string_equal(err.msg,
                        "no key registered for source cs:352039 at 2026-04-02T00:00:00.999Z");

    /* After rotation to c2, c1's events appended later do not verify, earlier ones still do. */
    assert_int_equal(reg(kr, ADMIN, CS, k->c2, k->admin, T0 + 3000, &err), 0);
    assert_int_equal(jk_keyreg_verify(kr, good, T0 + 2999, &err), 0);
    assert_int_equal(jk_keyreg_verify(kr, wrong, T0 + 3000, &err), 0);
    assert_int_equal(jk_keyreg_verify(kr, good, T0 + 3000, &err), -1);
    snprintf(want, sizeof want, "signature does not verify with key %s of cs:352039", id_of(k->c2));
    assert_string_equal(err.msg, want);

    /* As of now: the current key. */
    assert_int_equal(jk_keyreg_verify(kr, wrong, JK_KEYREG_NOW, &err), 0);
    assert_int_equal(jk_keyreg_verify(kr, stranger, JK_KEYREG_NOW, &err), -1);
    assert_string_equal(err.msg, "no key registered for source cs:999999 at now");
    assert_int_equal(revoke(kr, CS, id_of(k->c1), k->admin, T0 + 4000, &err), 0);
    assert_int_equal(revoke(kr, CS, id_of(k->c2), k->admin, T0 + 4000, &err), 0);
    assert_int_equal(jk_keyreg_verify(kr, wrong, JK_KEYREG_NOW, &err), -1);
    assert_string_equal(err.msg, "no key registered for source cs:352039 at now");
    assert_int_equal(jk_keyreg_verify(kr, wrong, T0 + 3999, &err), 0);

    /* Admin events other than key events verify against the admin's registered key. */
    jk_envelope_t *grant = event("purpose.granted", ADMIN, json_object(), k->admin);
    assert_int_equal(jk_keyreg_verify(kr, grant, T0 + 1, &err), 0);
    jk_envelope_free(grant);

    jk_envelope_free(good);
    jk_envelope_free(wrong);
    jk_envelope_free(stranger);
    jk_keyreg_free(kr);
}

static void test_data_builders(void **state)
{
    keys_t *k = *state;
    jk_err_t err = {""};
    json_t *d = jk_keyreg_registered_data(CS, k->c1, &err);
    assert_non_null(d);
    char *pk = jk_key_public_b64(k->c1, &err);
    char *text = json_dumps(d, JSON_SORT_KEYS | JSON_COMPACT);
    char want[256];
    snprintf(want, sizeof want,
             "{\"key_id\":\"%s\",\"public_key\":\"%s\",\"source\":\"cs:352039\"}", id_of(k->c1),
             pk);
    assert_string_equal(text, want);
    free(text);
    free(pk);
    json_decref(d);

    d = jk_keyreg_revoked_data(CS, "0011223344556677");
    text = json_dumps(d, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"key_id\":\"0011223344556677\",\"source\":\"cs:352039\"}");
    free(text);
    json_decref(d);
    assert_null(jk_keyreg_revoked_data(NULL, "x"));
    jk_keyreg_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trust_on_first_use), cmocka_unit_test(test_anchor_pinned),
        cmocka_unit_test(test_revocation),         cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_rotation_fallback),  cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_cs_cannot_register), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_other_events),       cmocka_unit_test(test_verify),
        cmocka_unit_test(test_data_builders),      cmocka_unit_test(test_operator_keys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
