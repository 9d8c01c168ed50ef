/* test_envelope.c: the canonical form, hash, signature and strict parsing of events
 * (journal/envelope.c).
 *
 * The known answers were computed outside this code: the SHA-256 with
 *   printf '%s' "$CANON" | sha256sum
 * and the signature with the RFC 8032 test-1 key and
 *   openssl pkeyutl -sign -rawin -inkey rfc8032-1.pem -in canon.bin | base64 -w0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jukilog/envelope.h"

/* --- fixtures ----------------------------------------------------------------------------- */

#define ID "00112233445566778899aabbccddeeff"
#define PREV "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
/* Base64 of 64 zero bytes: a well-formed sig for events that are parsed but never verified. */
#define ZERO_SIG                                                                                   \
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="

/* One event, keys in writing order (not sorted), nested data included. */
#define FIXED_JSON                                                                                 \
    "{\"v\":1,\"id\":\"" ID "\",\"type\":\"identity.changed\",\"source\":\"cs:352039\","           \
    "\"seq\":42,\"prev\":\"" PREV "\",\"time\":\"2026-04-02T00:15:00.000Z\","                      \
    "\"subject\":\"24727059608\",\"data\":{\"reason\":\"move_in\",\"name\":\"山口 太郎\","     \
    "\"address\":{\"pref\":\"山口県\",\"city\":\"山口市\",\"line\":\"亀山町2-1\"},"       \
    "\"flags\":[true,false,null],\"count\":3},\"sig\":\"" ZERO_SIG "\"}"

/* The same event with every object's keys in other orders, and white space. */
static const char *const FIXED_REORDERED[] = {
    "{\"sig\":\"" ZERO_SIG "\",\"data\":{\"count\":3,\"flags\":[true,false,null],"
    "\"address\":{\"line\":\"亀山町2-1\",\"city\":\"山口市\",\"pref\":\"山口県\"},"
    "\"name\":\"山口 太郎\",\"reason\":\"move_in\"},\"subject\":\"24727059608\","
    "\"time\":\"2026-04-02T00:15:00.000Z\",\"prev\":\"" PREV "\",\"seq\":42,"
    "\"source\":\"cs:352039\",\"type\":\"identity.changed\",\"id\":\"" ID "\",\"v\":1}",

    "{ \"type\" : \"identity.changed\",\n \"data\" : { \"address\" : { \"city\" : \"山口市\", "
    "\"pref\" : \"山口県\", \"line\" : \"亀山町2-1\" }, \"reason\" : \"move_in\", "
    "\"count\" : 3, \"name\" : \"\\u5c71\\u53e3 \\u592a\\u90ce\", \"flags\" : [ true, false, "
    "null ] },\n \"v\" : 1, \"seq\" : 42, \"id\" : \"" ID "\", \"subject\" : \"24727059608\", "
    "\"source\" : \"cs:352039\", \"time\" : \"2026-04-02T00:15:00.000Z\", \"sig\" : "
    "\"" ZERO_SIG "\", \"prev\" : \"" PREV "\" }\n",
};

/* Its canonical form, written out by hand: keys sorted at every level, compact, UTF-8 as is. */
#define FIXED_CANON                                                                                     \
    "{\"data\":{\"address\":{\"city\":\"山口市\",\"line\":\"亀山町2-1\",\"pref\":\"山口県\"}," \
    "\"count\":3,\"flags\":[true,false,null],\"name\":\"山口 太郎\",\"reason\":\"move_in\"},"       \
    "\"id\":\"" ID "\",\"prev\":\"" PREV "\",\"seq\":42,\"source\":\"cs:352039\","                      \
    "\"subject\":\"24727059608\",\"time\":\"2026-04-02T00:15:00.000Z\","                                \
    "\"type\":\"identity.changed\",\"v\":1}"
#define FIXED_HASH "64ffee04a171a5d9adc4ee300d0794634e9dde51b65341063dd42ae250716208"

/* RFC 8032 section 7.1, test 1. */
static const unsigned char RFC_SEED[32] = {
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
#define FIXED_SIG                                                                                  \
    "hw6PxOXSO8CEDf0S8LIUmkeAiFivXrlmBZ6Ug2lw+ox7FpxZP4B9HkJma2gWrOJO3dJcWXDS7wOfk2FovnQRAw=="

static EVP_PKEY *rfc_key(void)
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, RFC_SEED, 32);
    assert_non_null(k);
    return k;
}

static EVP_PKEY *new_key(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(k);
    return k;
}

static jk_envelope_t *parse_ok(const char *text)
{
    jk_err_t err = {""};
    jk_envelope_t *ev = jk_envelope_parse(text, strlen(text), &err);
    if (ev == NULL) fail_msg("refused: %s\n%s", err.msg, text);
    return ev;
}

static void assert_canonical(const jk_envelope_t *ev, const char *want)
{
    jk_err_t err = {""};
    char *c = jk_envelope_canonical(ev, &err);
    assert_non_null(c);
    assert_string_equal(c, want);
    free(c);
}

/* --- canonical form and hash -------------------------------------------------------------- */

static void test_parse_fields(void **state)
{
    (void)state;
    jk_envelope_t *ev = parse_ok(FIXED_JSON);
    assert_int_equal(ev->v, 1);
    assert_string_equal(ev->id, ID);
    assert_string_equal(ev->type, "identity.changed");
    assert_string_equal(ev->source, "cs:352039");
    assert_int_equal(ev->seq, 42);
    assert_string_equal(ev->prev, PREV);
    assert_string_equal(ev->time, "2026-04-02T00:15:00.000Z");
    assert_string_equal(ev->subject, "24727059608");
    assert_string_equal(ev->sig, ZERO_SIG);
    assert_true(json_is_object(ev->data));
    assert_int_equal(json_object_size(ev->data), 5);
    assert_string_equal(json_string_value(json_object_get(ev->data, "name")), "山口 太郎");
    jk_envelope_free(ev);
}

static void test_canonical_known_answer(void **state)
{
    (void)state;
    jk_err_t err = {""};
    jk_envelope_t *ev = parse_ok(FIXED_JSON);
    assert_canonical(ev, FIXED_CANON);

    char hash[65];
    assert_int_equal(jk_envelope_hash(ev, hash, &err), 0);
    assert_string_equal(hash, FIXED_HASH);
    assert_int_equal(jk_sha256_hex(FIXED_CANON, strlen(FIXED_CANON), hash), 0);
    assert_string_equal(hash, FIXED_HASH);
    jk_envelope_free(ev);
}

static void test_canonical_key_order(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof FIXED_REORDERED / sizeof FIXED_REORDERED[0]; i++) {
        jk_envelope_t *ev = parse_ok(FIXED_REORDERED[i]);
        assert_canonical(ev, FIXED_CANON);
        jk_envelope_free(ev);
    }

    /* Built in memory, data inserted in yet another order. */
    jk_err_t err = {""};
    json_t *addr =
        json_pack("{s:s, s:s, s:s}", "line", "亀山町2-1", "pref", "山口県", "city", "山口市");
    json_t *data = json_pack("{s:[b,b,n], s:s, s:o, s:i, s:s}", "flags", 1, 0, "name", "山口 太郎",
                             "address", addr, "count", 3, "reason", "move_in");
    assert_non_null(data);
    jk_envelope_t *ev = jk_envelope_new("identity.changed", "cs:352039", "24727059608", data, &err);
    assert_non_null(ev);
    memcpy(ev->id, ID, sizeof ev->id);
    memcpy(ev->prev, PREV, sizeof ev->prev);
    strcpy(ev->time, "2026-04-02T00:15:00.000Z");
    ev->seq = 42;
    assert_canonical(ev, FIXED_CANON);
    char hash[65];
    assert_int_equal(jk_envelope_hash(ev, hash, &err), 0);
    assert_string_equal(hash, FIXED_HASH);
    jk_envelope_free(ev);
}

/* Escapes as jansson writes them, pinned: only '"', '\\' and control characters are escaped,
 * \b \f \n \r \t in short form and the others as \u with upper-case hex; '/' (also when it was
 * written "\/"), DEL and every non-ASCII character (also when it was written \uXXXX) are kept as
 * raw UTF-8. Keys sort by their bytes, so "B" < "a" < "b" < "á". */
#define ESC_JSON                                                                                   \
    "{\"v\":1,\"id\":\"" ID "\",\"type\":\"t\",\"source\":\"test:x\",\"seq\":1,"                   \
    "\"prev\":\"" PREV "\",\"time\":\"2026-04-02T00:15:00.000Z\",\"sig\":\"" ZERO_SIG "\","        \
    "\"data\":{\"q\":\"say \\\"hi\\\"\",\"bs\":\"a\\\\b\",\"ctl\":\"\\u0001\\u001f\","             \
    "\"nl\":\"l1\\nl2\",\"tab\":\"\\t\\r\\b\\f\",\"slash\":\"a/b\",\"esc_slash\":\"a\\/b\","       \
    "\"del\":\"\\u007f\",\"ls\":\"\\u2028\",\"u\":\"山口市\",\"esc_u\":\"\\u5c71\\u53e3\","     \
    "\"astral\":\"\\ud842\\udfb7\",\"order\":{\"b\":1,\"a\":2,\"B\":3,\"á\":4}}}"
#define ESC_CANON                                                                                  \
    "{\"data\":{\"astral\":\"\xf0\xa0\xae\xb7\",\"bs\":\"a\\\\b\",\"ctl\":\"\\u0001\\u001F\","     \
    "\"del\":\"\x7f\",\"esc_slash\":\"a/b\",\"esc_u\":\"山口\",\"ls\":\"\xe2\x80\xa8\","         \
    "\"nl\":\"l1\\nl2\",\"order\":{\"B\":3,\"a\":2,\"b\":1,\"á\":4},\"q\":\"say \\\"hi\\\"\","    \
    "\"slash\":\"a/b\",\"tab\":\"\\t\\r\\b\\f\",\"u\":\"山口市\"},\"id\":\"" ID "\","              \
    "\"prev\":\"" PREV "\",\"seq\":1,\"source\":\"test:x\",\"time\":\"2026-04-02T00:15:00.000Z\"," \
    "\"type\":\"t\",\"v\":1}"

static void test_canonical_escapes(void **state)
{
    (void)state;
    jk_err_t err = {""};
    jk_envelope_t *ev = parse_ok(ESC_JSON);
    assert_canonical(ev, ESC_CANON);

    /* Through the wire and back: the canonical form does not drift. */
    char *wire = jk_envelope_serialize(ev, &err);
    assert_non_null(wire);
    jk_envelope_t *back = parse_ok(wire);
    assert_canonical(back, ESC_CANON);
    free(wire);
    jk_envelope_free(back);
    jk_envelope_free(ev);
}

static void test_sha256_hex(void **state)
{
    (void)state;
    char out[65];
    assert_int_equal(jk_sha256_hex("", 0, out), 0);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(jk_sha256_hex("abc", 3, out), 0);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* --- signing ------------------------------------------------------------------------------ */

#define FIXED_WIRE                                                                                      \
    "{\"data\":{\"address\":{\"city\":\"山口市\",\"line\":\"亀山町2-1\",\"pref\":\"山口県\"}," \
    "\"count\":3,\"flags\":[true,false,null],\"name\":\"山口 太郎\",\"reason\":\"move_in\"},"       \
    "\"id\":\"" ID "\",\"prev\":\"" PREV "\",\"seq\":42,\"sig\":\"" FIXED_SIG "\","                     \
    "\"source\":\"cs:352039\",\"subject\":\"24727059608\",\"time\":\"2026-04-02T00:15:00.000Z\","       \
    "\"type\":\"identity.changed\",\"v\":1}"

static void test_sign_known_answer(void **state)
{
    (void)state;
    jk_err_t err = {""};
    EVP_PKEY *key = rfc_key();
    jk_envelope_t *ev = parse_ok(FIXED_JSON);
    assert_int_equal(jk_envelope_sign(ev, key, &err), 0);
    assert_string_equal(ev->sig, FIXED_SIG); /* Ed25519 is deterministic */
    assert_int_equal(jk_envelope_verify(ev, key, &err), 0);

    char *wire = jk_envelope_serialize(ev, &err);
    assert_non_null(wire);
    assert_string_equal(wire, FIXED_WIRE);
    free(wire);
    /* Signing again replaces the sig (and frees the old one) with the same value. */
    assert_int_equal(jk_envelope_sign(ev, key, &err), 0);
    assert_string_equal(ev->sig, FIXED_SIG);
    jk_envelope_free(ev);
    EVP_PKEY_free(key);
}

/* jk_envelope_sign_serialize gives, from one encoding, exactly what sign, hash and serialize
 * give one after the other: the known answer, and events whose data holds the text the sig is
 * placed by (a "source" key, `,"source":` inside strings), without a subject, and non-ASCII. */
static void test_sign_serialize(void **state)
{
    (void)state;
    jk_err_t err = {""};
    EVP_PKEY *key = rfc_key();
    char hash[65];
    jk_envelope_t *ev = parse_ok(FIXED_JSON);
    char *line = jk_envelope_sign_serialize(ev, key, hash, &err);
    assert_non_null(line);
    assert_string_equal(line, FIXED_WIRE);
    assert_string_equal(hash, FIXED_HASH);
    assert_string_equal(ev->sig, FIXED_SIG);
    free(line);
    jk_envelope_free(ev);

    json_t *datas[] = {
        json_pack("{s:s, s:{s:s, s:i}}", "source", "cs:999999", "inner", "source",
                  ",\"source\":", "seq", 3),
        json_pack("{s:s}", "note", "\",\"source\":\"x\",\"sig\":\"y\"}"),
        json_pack("{s:[s, s], s:o}", "list", ",\"source\":", "日本語", "nested",
                  json_pack("{s:{s:s}}", "source", "source", "source,\"source\":1")),
        json_object(),
    };
    const char *subjects[] = {"24727059608", NULL, "sub,\"source\":\"q\"", "x"};
    for (size_t i = 0; i < sizeof datas / sizeof datas[0]; i++) {
        assert_non_null(datas[i]);
        jk_envelope_t *a =
            jk_envelope_new("audit.noted", "op:a.b-C_9", subjects[i], datas[i], &err);
        assert_non_null(a);
        a->seq = (int64_t)i + 1;
        jk_envelope_t *b =
            jk_envelope_new("audit.noted", "op:a.b-C_9", subjects[i], json_incref(a->data), &err);
        assert_non_null(b);
        memcpy(b->id, a->id, sizeof a->id);
        memcpy(b->time, a->time, sizeof a->time);
        b->seq = a->seq;
        char want_hash[65];
        assert_int_equal(jk_envelope_sign(b, key, &err), 0);
        assert_int_equal(jk_envelope_hash(b, want_hash, &err), 0);
        char *want = jk_envelope_serialize(b, &err);
        char *got = jk_envelope_sign_serialize(a, key, hash, &err);
        assert_non_null(want);
        assert_non_null(got);
        assert_string_equal(got, want);
        assert_string_equal(hash, want_hash);
        assert_string_equal(a->sig, b->sig);
        /* And what a consumer makes of it: the same event, the same hash from the wire. */
        jk_envelope_t *back = jk_envelope_parse(got, strlen(got), &err);
        assert_non_null(back);
        char wire_hash[65], *cut = NULL;
        size_t n = 0;
        assert_int_equal(jk_envelope_hash_wire(back, got, strlen(got), wire_hash, &cut, &n, &err),
                         0);
        assert_string_equal(wire_hash, want_hash);
        assert_int_equal(jk_envelope_verify(back, key, &err), 0);
        /* Cut when no string holds an escape: only the last event's (the others' quotes). */
        assert_true((cut != NULL) == (i == 3));
        if (cut == NULL) cut = jk_envelope_canonical(back, &err), n = strlen(cut);
        assert_int_equal(jk_envelope_verify_canonical(back, key, cut, n, &err), 0);
        /* Over another text, or with another key, it does not hold. */
        cut[n - 2] = cut[n - 2] == '1' ? '2' : '1';
        assert_int_equal(jk_envelope_verify_canonical(back, key, cut, n, &err), -1);
        assert_string_equal(err.msg, "signature does not verify");
        free(cut);
        EVP_PKEY *other = new_key();
        assert_int_equal(jk_envelope_verify_canonical(back, other, NULL, 0, &err), -1);
        EVP_PKEY_free(other);
        jk_envelope_free(back);
        free(want);
        free(got);
        jk_envelope_free(a);
        jk_envelope_free(b);
    }
    /* What sign refuses, it refuses too. */
    jk_envelope_t *bad = jk_envelope_new("audit.noted", "op:a", NULL, json_object(), &err);
    assert_non_null(bad);
    bad->seq = 0;
    assert_null(jk_envelope_sign_serialize(bad, key, hash, &err));
    jk_envelope_free(bad);
    EVP_PKEY_free(key);
}

static void test_sign_verify_round_trip(void **state)
{
    (void)state;
    jk_err_t err = {""};
    EVP_PKEY *key = new_key(), *other = new_key();
    json_t *data = json_pack("{s:s, s:i}", "k", "v", "n", -7);
    jk_envelope_t *ev = jk_envelope_new("key.registered", "admin:35", NULL, data, &err);
    assert_non_null(ev);
    ev->seq = 1;
    assert_int_equal(jk_envelope_sign(ev, key, &err), 0);
    assert_non_null(ev->sig);
    assert_int_equal(strlen(ev->sig), 88);
    assert_int_equal(jk_envelope_verify(ev, key, &err), 0);

    /* With the public half only, as a consumer holds it. */
    unsigned char raw[32];
    size_t rawlen = sizeof raw;
    assert_int_equal(EVP_PKEY_get_raw_public_key(key, raw, &rawlen), 1);
    EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, rawlen);
    assert_non_null(pub);
    assert_int_equal(jk_envelope_verify(ev, pub, &err), 0);

    /* Over the wire. */
    char *wire = jk_envelope_serialize(ev, &err);
    assert_non_null(wire);
    assert_null(strstr(wire, "subject")); /* absent, not null */
    jk_envelope_t *back = parse_ok(wire);
    assert_null(back->subject);
    assert_int_equal(jk_envelope_verify(back, pub, &err), 0);

    /* Another key. */
    assert_int_equal(jk_envelope_verify(back, other, &err), -1);
    assert_string_equal(err.msg, "signature does not verify");

    free(wire);
    jk_envelope_free(back);
    jk_envelope_free(ev);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

static void test_sign_verify_refusals(void **state)
{
    (void)state;
    jk_err_t err = {""};
    EVP_PKEY *key = rfc_key();
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(ec);
    jk_envelope_t *ev = parse_ok(FIXED_JSON);

    assert_int_equal(jk_envelope_sign(ev, ec, &err), -1);
    assert_string_equal(err.msg, "not an Ed25519 key");
    assert_int_equal(jk_envelope_verify(ev, ec, &err), -1);
    assert_string_equal(err.msg, "not an Ed25519 key");
    assert_int_equal(jk_envelope_verify(ev, NULL, &err), -1);
    assert_string_equal(err.msg, "not an Ed25519 key");

    /* The zero signature is well-formed but false. */
    assert_int_equal(jk_envelope_verify(ev, key, &err), -1);
    assert_string_equal(err.msg, "signature does not verify");

    const char *bad_sigs[] = {
        "", "abc", "AAAA",
        /* 63 and 65 bytes */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="};
    for (size_t i = 0; i < sizeof bad_sigs / sizeof bad_sigs[0]; i++) {
        free(ev->sig);
        ev->sig = strdup(bad_sigs[i]);
        assert_int_equal(jk_envelope_verify(ev, key, &err), -1);
        assert_string_equal(err.msg, "sig is not base64 of 64 bytes");
    }
    free(ev->sig);
    ev->sig = NULL;
    assert_int_equal(jk_envelope_verify(ev, key, &err), -1);
    assert_string_equal(err.msg, "event is not signed");

    /* Nothing a consumer would refuse gets signed. */
    ev->seq = 0;
    assert_int_equal(jk_envelope_sign(ev, key, &err), -1);
    assert_string_equal(err.msg, "field \"seq\": must be an integer >= 1");
    assert_null(ev->sig);

    jk_envelope_free(ev);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ec);
}

/* A different value of the same kind, for a leaf of the data tree. */
static json_t *other_value(const json_t *v)
{
    if (json_is_string(v)) return json_sprintf("%sx", json_string_value(v));
    if (json_is_integer(v)) return json_integer(json_integer_value(v) + 1);
    if (json_is_true(v)) return json_false();
    if (json_is_false(v)) return json_true();
    return json_integer(0); /* null */
}

/* Changes every leaf of the data tree in turn, and adds a member to every container, checking
 * that each change breaks the signature and that undoing it restores it. */
static void tamper_data(jk_envelope_t *ev, json_t *node, EVP_PKEY *key, int *count)
{
    jk_err_t err = {""};
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(node)) {
        json_object_foreach(node, k, v)
        {
            if (json_is_object(v) || json_is_array(v)) {
                tamper_data(ev, v, key, count);
                continue;
            }
            json_t *saved = json_incref(v);
            json_object_set_new(node, k, other_value(saved));
            assert_int_equal(jk_envelope_verify(ev, key, &err), -1);
            assert_string_equal(err.msg, "signature does not verify");
            json_object_set_new(node, k, saved);
            assert_int_equal(jk_envelope_verify(ev, key, &err), 0);
            (*count)++;
        }
        json_object_set_new(node, "zz_added", json_true());
        assert_int_equal(jk_envelope_verify(ev, key, &err), -1);
        json_object_del(node, "zz_added");
    } else {
        json_array_foreach(node, i, v)
        {
            if (json_is_object(v) || json_is_array(v)) {
                tamper_data(ev, v, key, count);
                continue;
            }
            json_t *saved = json_incref(v);
            json_array_set_new(node, i, other_value(saved));
            assert_int_equal(jk_envelope_verify(ev, key, &err), -1);
            assert_string_equal(err.msg, "signature does not verify");
            json_array_set_new(node, i, saved);
            assert_int_equal(jk_envelope_verify(ev, key, &err), 0);
            (*count)++;
        }
        json_array_append_new(node, json_true());
        assert_int_equal(jk_envelope_verify(ev, key, &err), -1);
        json_array_remove(node, json_array_size(node) - 1);
    }
    assert_int_equal(jk_envelope_verify(ev, key, &err), 0);
    (*count)++;
}

static void test_tamper_each_field(void **state)
{
    (void)state;
    jk_err_t err = {""};
    EVP_PKEY *key = rfc_key();
    jk_envelope_t *ev = parse_ok(FIXED_JSON);
    assert_int_equal(jk_envelope_sign(ev, key, &err), 0);

#define BROKEN()                                                                                   \
    do {                                                                                           \
        assert_int_equal(jk_envelope_verify(ev, key, &err), -1);                                   \
        assert_string_equal(err.msg, "signature does not verify");                                 \
    } while (0)
#define INTACT() assert_int_equal(jk_envelope_verify(ev, key, &err), 0)

    INTACT();
    ev->v = 2;
    BROKEN();
    ev->v = 1;
    INTACT();
    for (char *s = ev->id; *s; s++) {
        char c = *s;
        *s = (c == '0') ? '1' : '0';
        BROKEN();
        *s = c;
    }
    INTACT();
    char *strs[] = {ev->type, ev->source, ev->subject};
    for (size_t f = 0; f < 3; f++) {
        for (char *s = strs[f]; *s; s++) {
            char c = *s;
            *s = (c == 'x') ? 'y' : 'x';
            BROKEN();
            *s = c;
        }
        INTACT();
    }
    ev->seq++;
    BROKEN();
    ev->seq -= 2;
    BROKEN();
    ev->seq++;
    INTACT();
    for (char *s = ev->prev; *s; s++) {
        char c = *s;
        *s = (c == '0') ? '1' : '0';
        BROKEN();
        *s = c;
    }
    INTACT();
    for (char *s = ev->time; *s; s++) {
        char c = *s;
        *s = (c == '1') ? '2' : '1';
        BROKEN();
        *s = c;
    }
    INTACT();
    char *subject = ev->subject;
    ev->subject = NULL; /* dropping the optional field */
    BROKEN();
    ev->subject = subject;
    INTACT();

    int count = 0;
    tamper_data(ev, ev->data, key, &count);
    assert_int_equal(count, 12); /* 9 leaves (6 strings and integers, true, false, null) and 3
                                    containers (data, address, flags) */
    INTACT();

    /* Every bit of the signature itself. */
    unsigned char *raw;
    size_t n;
    char *orig = ev->sig;
    assert_int_equal(jk_b64_decode(orig, &raw, &n), 0);
    assert_int_equal(n, 64);
    for (size_t bit = 0; bit < 64 * 8; bit++) {
        raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        ev->sig = jk_b64_encode(raw, n);
        BROKEN();
        free(ev->sig);
        raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    free(raw);
    ev->sig = orig;
    INTACT();
#undef BROKEN
#undef INTACT
    jk_envelope_free(ev);
    EVP_PKEY_free(key);
}

/* Another byte of the same kind, so that most flips still parse and reach verification. */
static size_t replacements(unsigned char c, unsigned char out[20])
{
    static const char punct[] = "\"{}[],: =+/_-.\\";
    size_t n = 0;
    if (c >= '0' && c <= '9') {
        out[n++] = (unsigned char)('0' + (c - '0' + 1) % 10);
        out[n++] = (unsigned char)('0' + (c - '0' + 5) % 10);
    } else if (c >= 'a' && c <= 'z') {
        out[n++] = (unsigned char)('a' + (c - 'a' + 1) % 26);
        out[n++] = (unsigned char)('a' + (c - 'a' + 13) % 26);
    } else if (c >= 'A' && c <= 'Z') {
        out[n++] = (unsigned char)('A' + (c - 'A' + 1) % 26);
        out[n++] = (unsigned char)('A' + (c - 'A' + 13) % 26);
    } else if (c >= 0x80) {
        out[n++] = c ^ 0x01;
        out[n++] = c ^ 0x10;
    } else {
        for (const char *p = punct; *p; p++)
            if ((unsigned char)*p != c) out[n++] = (unsigned char)*p;
    }
    out[n++] = '\0'; /* and a NUL anywhere */
    return n;
}

/* Every byte of the signed event on the wire, changed to each of its replacements: the result
 * either does not parse or does not verify. */
static void flip_every_byte(const char *json)
{
    jk_err_t err = {""};
    EVP_PKEY *key = rfc_key();
    jk_envelope_t *ev = parse_ok(json);
    assert_int_equal(jk_envelope_sign(ev, key, &err), 0);
    char *wire = jk_envelope_serialize(ev, &err);
    assert_non_null(wire);
    size_t len = strlen(wire);
    char *buf = malloc(len + 1);
    assert_non_null(buf);

    size_t tried = 0, unparsable = 0, unverified = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char rep[20];
        size_t nrep = replacements((unsigned char)wire[i], rep);
        for (size_t r = 0; r < nrep; r++) {
            memcpy(buf, wire, len + 1);
            buf[i] = (char)rep[r];
            tried++;
            jk_envelope_t *t = jk_envelope_parse(buf, len, &err);
            if (t == NULL) {
                unparsable++;
                continue;
            }
            if (jk_envelope_verify(t, key, &err) == 0)
                fail_msg("byte %zu changed to 0x%02x still verifies:\n%s", i, rep[r], buf);
            assert_string_equal(err.msg, "signature does not verify");
            unverified++;
            jk_envelope_free(t);
        }
    }
    /* Every flip was caught, and both ways of catching were exercised in earnest. */
    assert_int_equal(unparsable + unverified, tried);
    assert_true(tried > 3 * len);
    assert_true(unverified > len / 2);

    jk_envelope_t *t = jk_envelope_parse(wire, len, &err);
    assert_non_null(t);
    assert_int_equal(jk_envelope_verify(t, key, &err), 0);
    jk_envelope_free(t);
    free(buf);
    free(wire);
    jk_envelope_free(ev);
    EVP_PKEY_free(key);
}

static void test_tamper_every_byte(void **state)
{
    (void)state;
    flip_every_byte(FIXED_JSON); /* subject, nested data, non-ASCII */
    flip_every_byte(ESC_JSON);   /* escapes, every JSON type */
}

/* --- the hash read off the wire ------------------------------------------------------------ */

/* jk_envelope_parse(buf) must give what jansson's parser gives for the same bytes: the same
 * event, or a refusal. A leading space takes buf past the canonical reader to jansson. */
static void assert_same_parse(const char *buf, size_t len)
{
    jk_err_t e1 = {""}, e2 = {""};
    char *spaced = malloc(len + 2);
    assert_non_null(spaced);
    spaced[0] = ' ';
    memcpy(spaced + 1, buf, len);
    jk_envelope_t *a = jk_envelope_parse(buf, len, &e1);
    jk_envelope_t *b = jk_envelope_parse(spaced, len + 1, &e2);
    free(spaced);
    if ((a == NULL) != (b == NULL))
        fail_msg("read %s, jansson %s:\n%.*s", a ? "accepted" : e1.msg, b ? "accepted" : e2.msg,
                 (int)len, buf);
    if (a) {
        char *wa = jk_envelope_serialize(a, &e1), *wb = jk_envelope_serialize(b, &e2);
        assert_non_null(wa);
        assert_non_null(wb);
        assert_string_equal(wa, wb);
        assert_true(json_equal(a->data, b->data));
        free(wa);
        free(wb);
    }
    jk_envelope_free(a);
    jk_envelope_free(b);
}

/* jk_envelope_hash_wire(parse(buf), buf) must equal jk_envelope_hash(parse(buf)) for every buf
 * that parses, whether buf is canonical (hashed from its bytes) or not (dumped again). Returns
 * 1 when buf is the event exactly as jk_envelope_serialize writes it. */
static int assert_wire_hash(const char *buf, size_t len)
{
    jk_err_t err = {""};
    assert_same_parse(buf, len);
    jk_envelope_t *ev = jk_envelope_parse(buf, len, &err);
    if (ev == NULL) return 0;
    char want[65], got[65], *cut = NULL;
    size_t n = 0;
    assert_int_equal(jk_envelope_hash(ev, want, &err), 0);
    assert_int_equal(jk_envelope_hash_wire(ev, buf, len, got, &cut, &n, &err), 0);
    if (strcmp(want, got) != 0) fail_msg("wire hash differs for:\n%.*s", (int)len, buf);
    char *wire = jk_envelope_serialize(ev, &err);
    assert_non_null(wire);
    int canonical = strlen(wire) == len && memcmp(wire, buf, len) == 0;
    free(wire);
    /* A canonical form cut from buf (only from a canonical buf; one whose strings hold escapes
     * is left to jk_envelope_canonical) is the event's. */
    if (cut && !canonical) fail_msg("canonical form cut from:\n%.*s", (int)len, buf);
    if (cut) {
        char *c = jk_envelope_canonical(ev, &err);
        assert_non_null(c);
        assert_int_equal(n, strlen(c));
        assert_string_equal(cut, c);
        free(c);
        free(cut);
    }
    jk_envelope_free(ev);
    return canonical;
}

#define WIRE_HEAD "{\"data\":"
#define WIRE_TAIL                                                                                  \
    ",\"id\":\"" ID "\",\"prev\":\"" PREV "\",\"seq\":42,\"sig\":\"" ZERO_SIG "\","                \
    "\"source\":\"cs:352039\",\"subject\":\"24727059608\",\"time\":\"2026-04-02T00:15:00.000Z\","  \
    "\"type\":\"identity.changed\",\"v\":1}"

static void test_hash_wire(void **state)
{
    (void)state;
    jk_err_t err = {""};
    /* The known answer, from the wire form and from forms that are not canonical. */
    jk_envelope_t *ev = parse_ok(FIXED_JSON);
    char *wire = jk_envelope_serialize(ev, &err);
    assert_non_null(wire);
    char hash[65];
    assert_int_equal(jk_envelope_hash_wire(ev, wire, strlen(wire), hash, NULL, NULL, &err), 0);
    assert_string_equal(hash, FIXED_HASH);
    assert_int_equal(
        jk_envelope_hash_wire(ev, FIXED_JSON, strlen(FIXED_JSON), hash, NULL, NULL, &err), 0);
    assert_string_equal(hash, FIXED_HASH);
    assert_true(assert_wire_hash(wire, strlen(wire)));
    /* The canonical wire form is hashed from its bytes, not from the event (which it must be
     * parsed into; here, to show which path was taken, it is not). */
    ev->seq = 43;
    assert_int_equal(jk_envelope_hash_wire(ev, wire, strlen(wire), hash, NULL, NULL, &err), 0);
    assert_string_equal(hash, FIXED_HASH);
    free(wire);
    jk_envelope_free(ev);
    for (size_t i = 0; i < sizeof FIXED_REORDERED / sizeof FIXED_REORDERED[0]; i++)
        assert_false(assert_wire_hash(FIXED_REORDERED[i], strlen(FIXED_REORDERED[i])));
    assert_false(assert_wire_hash(ESC_JSON, strlen(ESC_JSON)));

    /* data of every shape: canonical ones, and ones a byte away from canonical. */
    static const struct {
        const char *data;
        int canonical;
    } cases[] = {
        {"{}", 1},
        {"{\"\":[],\"a\":{},\"ab\":[[]],\"b\":[1,-2,0,true,false,null,\"\"]}", 1},
        {"{\"n\":9223372036854775807,\"m\":-9223372036854775808}", 0},
        {"{\"m\":-9223372036854775808,\"n\":9223372036854775807}", 1},
        {"{\"B\":1,\"a\":2,\"b\":3,\"\xc3\xa1\":4}", 1},
        {"{\"ab\":1,\"a\":2}", 0}, /* shorter key first */
        {"{\"n\":-0}", 0},         /* written "0" */
        {"{\"n\":-1}", 1},
        {"{\"s\":\"\\u0041\"}", 0},           /* written "A" */
        {"{\"s\":\"a\\/b\"}", 0},             /* written "a/b" */
        {"{\"s\":\"a\\nb\"}", 1},             /* canonical, but escaped: left to the dump */
        {"{\"s\":\"\x7f\xe2\x80\xa8/\"}", 1}, /* DEL, U+2028 and '/' are written as they are */
        {"{\"s\": \"x\"}", 0},
        {"{\"a\":[1 ,2]}", 0},
        {"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
         "}",
         1},
        {"{\"s\":\"\xf0\xa0\xae\xb7\xef\xbf\xbf\xc2\x80\"}", 1}, /* 4-, 3- and 2-byte forms */
    };
    /* Refused by jansson, and so by the reader: invalid UTF-8 (overlong, surrogate, beyond
     * U+10FFFF, a lone continuation byte, cut short), integers out of range, reals, control
     * characters, a key twice, a leading zero, a bad literal. */
    static const char *const refused[] = {
        "{\"s\":\"\xc0\x80\"}",
        "{\"s\":\"\xe0\x80\x80\"}",
        "{\"s\":\"\xed\xa0\x80\"}",
        "{\"s\":\"\xf4\x90\x80\x80\"}",
        "{\"s\":\"\x80\"}",
        "{\"s\":\"\xe5\xb1\"}",
        "{\"n\":9223372036854775808}",
        "{\"n\":-9223372036854775809}",
        "{\"n\":1.5}",
        "{\"n\":1e5}",
        "{\"s\":\"a\x01\"}",
        "{\"a\":1,\"a\":1}",
        "{\"a\":01}",
        "{\"a\":tru}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char buf[1024];
        int n = snprintf(buf, sizeof buf, "%s%s%s", WIRE_HEAD, refused[i], WIRE_TAIL);
        assert_true(n > 0 && (size_t)n < sizeof buf);
        jk_err_t e = {""};
        jk_envelope_t *ev = jk_envelope_parse(buf, (size_t)n, &e);
        if (ev) fail_msg("accepted: %s", buf);
        assert_same_parse(buf, (size_t)n);
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[1024];
        int n = snprintf(buf, sizeof buf, "%s%s%s", WIRE_HEAD, cases[i].data, WIRE_TAIL);
        assert_true(n > 0 && (size_t)n < sizeof buf);
        if (assert_wire_hash(buf, (size_t)n) != cases[i].canonical)
            fail_msg("case %zu: canonical should be %d: %s", i, cases[i].canonical, buf);
    }
    char trailing[1024];
    int n = snprintf(trailing, sizeof trailing, "%s{}%s\n", WIRE_HEAD, WIRE_TAIL);
    assert_false(assert_wire_hash(trailing, (size_t)n));
}

/* Every byte of two wire forms changed, deleted, or preceded by a space: the canonical reader
 * and jansson read the same event or refuse it alike, and whatever parses hashes the same both
 * ways, canonical or not. */
static void wire_every_byte(const char *json)
{
    jk_err_t err = {""};
    jk_envelope_t *ev = parse_ok(json);
    char *wire = jk_envelope_serialize(ev, &err);
    assert_non_null(wire);
    size_t len = strlen(wire);
    char *buf = malloc(len + 2);
    assert_non_null(buf);
    size_t parsed = 0, canonical = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char rep[20];
        size_t nrep = replacements((unsigned char)wire[i], rep);
        for (size_t r = 0; r < nrep + 2; r++) {
            size_t n = len;
            memcpy(buf, wire, len + 1);
            if (r < nrep) {
                buf[i] = (char)rep[r];
            } else if (r == nrep) { /* deleted */
                memmove(buf + i, buf + i + 1, len - i);
                n = len - 1;
            } else { /* a space before it */
                memmove(buf + i + 1, buf + i, len - i + 1);
                buf[i] = ' ';
                n = len + 1;
            }
            assert_same_parse(buf, n);
            jk_envelope_t *t = jk_envelope_parse(buf, n, &err);
            if (t == NULL) continue;
            jk_envelope_free(t);
            parsed++;
            canonical += (size_t)assert_wire_hash(buf, n);
        }
    }
    /* Both paths exercised in earnest. */
    assert_true(canonical > len / 2);
    assert_true(parsed - canonical > len / 10);
    free(buf);
    free(wire);
    jk_envelope_free(ev);
}

static void test_hash_wire_every_byte(void **state)
{
    (void)state;
    wire_every_byte(FIXED_JSON);
    wire_every_byte(ESC_JSON);
}

/* --- refusals ----------------------------------------------------------------------------- */

static void expect_refused(const char *buf, size_t len, const char *want)
{
    jk_err_t err = {""};
    jk_envelope_t *ev = jk_envelope_parse(buf, len, &err);
    if (ev != NULL) {
        jk_envelope_free(ev);
        fail_msg("accepted: %.*s", (int)len, buf);
    }
    if (strstr(err.msg, want) == NULL)
        fail_msg("message \"%s\" lacks \"%s\" for: %.*s", err.msg, want, (int)len, buf);
}

static void test_parse_not_an_event(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"", "not valid JSON"},
        {"not json", "not valid JSON"},
        {"{", "not valid JSON"},
        {"{\"v\":1,}", "not valid JSON"},
        {"{'v':1}", "not valid JSON"},
        {FIXED_JSON "x", "not valid JSON"},        /* trailing text */
        {FIXED_JSON FIXED_JSON, "not valid JSON"}, /* two events */
        {"[1,2]", "not a JSON object"},
        {"\"event\"", "not a JSON object"},
        {"42", "not a JSON object"},
        {"null", "not a JSON object"},
        {"{\"v\":1,", "not valid JSON"},
        /* duplicate keys, at the top and inside data */
        {"{\"v\":1,\"v\":1}", "duplicate object key"},
        {"{\"seq\":43,\"v\":1,\"id\":\"" ID "\",\"type\":\"identity.changed\","
         "\"source\":\"cs:352039\",\"seq\":42,\"prev\":\"" PREV "\","
         "\"time\":\"2026-04-02T00:15:00.000Z\",\"data\":{},\"sig\":\"" ZERO_SIG "\"}",
         "duplicate object key"},
        {"{\"v\":1,\"id\":\"" ID "\",\"type\":\"t\",\"source\":\"a:b\",\"seq\":1,"
         "\"prev\":\"" PREV "\",\"time\":\"2026-04-02T00:15:00.000Z\","
         "\"data\":{\"a\":{\"x\":1,\"x\":2}},\"sig\":\"" ZERO_SIG "\"}",
         "duplicate object key"},
        /* strings that are not UTF-8, or hold NUL */
        {"{\"v\":1,\"type\":\"\xff\"}", "not valid JSON"},
        {"{\"v\":1,\"type\":\"\xc3\"}", "not valid JSON"},
        {"{\"v\":1,\"type\":\"\xed\xa0\x80\"}", "not valid JSON"}, /* surrogate in UTF-8 */
        {"{\"v\":1,\"type\":\"\\ud800\"}", "not valid JSON"},      /* lone surrogate escape */
        {"{\"v\":1,\"type\":\"a\\u0000b\"}", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_refused(cases[i].in, strlen(cases[i].in), cases[i].want);

    /* A raw NUL between tokens, which jansson alone would skip: the event is otherwise valid. */
    char nul[sizeof FIXED_JSON + 1] = FIXED_JSON;
    char *at = strstr(nul, "\"seq\":42,") + strlen("\"seq\":42");
    memmove(at + 1, at, strlen(at) + 1);
    *at = '\0';
    char want[64];
    snprintf(want, sizeof want, "not valid JSON: NUL byte at offset %zu", (size_t)(at - nul));
    expect_refused(nul, sizeof nul - 1, want);
    /* len is honoured: the buffer is not read past it. */
    expect_refused(FIXED_JSON, strlen(FIXED_JSON) - 1, "not valid JSON");
}

/* One change to the fixed event: field set to the JSON text repl (NULL: removed). */
static const struct {
    const char *field;
    const char *repl;
    const char *want;
} field_cases[] = {
    /* version */
    {"v", "2", "unknown envelope version 2"},
    {"v", "0", "unknown envelope version 0"},
    {"v", "-1", "unknown envelope version -1"},
    {"v", "\"1\"", "field \"v\": must be an integer"},
    {"v", "1.0", "field \"v\": must be an integer"},
    {"v", "true", "field \"v\": must be an integer"},
    /* unknown fields */
    {"hash", "\"x\"", "unknown field \"hash\""},
    {"Sig", "\"x\"", "unknown field \"Sig\""},
    {"", "1", "unknown field \"\""},
    /* wrong types */
    {"id", "5", "field \"id\": must be a string"},
    {"type", "null", "field \"type\": must be a string"},
    {"source", "[]", "field \"source\": must be a string"},
    {"seq", "\"1\"", "field \"seq\": must be an integer"},
    {"seq", "1.0", "field \"seq\": must be an integer"},
    {"seq", "42.0", "field \"seq\": must be an integer"},
    {"seq", "4.2e1", "field \"seq\": must be an integer"},
    {"seq", "null", "field \"seq\": must be an integer"},
    {"prev", "{}", "field \"prev\": must be a string"},
    {"time", "1775088900000", "field \"time\": must be a string"},
    {"subject", "24727059608", "field \"subject\": must be a string"},
    {"subject", "null", "field \"subject\": must be a string"},
    {"data", "\"x\"", "field \"data\": must be an object"},
    {"data", "[]", "field \"data\": must be an object"},
    {"data", "null", "field \"data\": must be an object"},
    {"sig", "1", "field \"sig\": must be a string"},
    {"sig", "null", "field \"sig\": must be a string"},
    /* id */
    {"id", "\"00112233445566778899aabbccddeef\"", "field \"id\": must be 32 lower-case hex"},
    {"id", "\"00112233445566778899aabbccddeeff0\"", "field \"id\": must be 32 lower-case hex"},
    {"id", "\"00112233445566778899AABBCCDDEEFF\"", "field \"id\": must be 32 lower-case hex"},
    {"id", "\"00112233445566778899aabbccddeefg\"", "field \"id\": must be 32 lower-case hex"},
    {"id", "\"\"", "field \"id\": must be 32 lower-case hex"},
    /* type */
    {"type", "\"\"", "field \"type\": must be words of [a-z0-9_] joined by '.'"},
    {"type", "\"Identity.changed\"", "field \"type\": must be words"},
    {"type", "\"identity-changed\"", "field \"type\": must be words"},
    {"type", "\"identity..changed\"", "field \"type\": must be words"},
    {"type", "\".identity\"", "field \"type\": must be words"},
    {"type", "\"identity.\"", "field \"type\": must be words"},
    {"type", "\"identity changed\"", "field \"type\": must be words"},
    {"type", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", /* 65 */
     "field \"type\": must be words"},
    /* source */
    {"source", "\"cs352039\"", "field \"source\": must be kind:name"},
    {"source", "\":352039\"", "field \"source\": must be kind:name"},
    {"source", "\"cs:\"", "field \"source\": must be kind:name"},
    {"source", "\"CS:352039\"", "field \"source\": must be kind:name"},
    {"source", "\"c1:352039\"", "field \"source\": must be kind:name"},
    {"source", "\"cs:35 2039\"", "field \"source\": must be kind:name"},
    {"source", "\"cs:352039:1\"", "field \"source\": must be kind:name"},
    {"source", "\"cs:352039/x\"", "field \"source\": must be kind:name"},
    {"source", "\"cs:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", /* 65 */
     "field \"source\": must be kind:name"},
    /* seq */
    {"seq", "0", "field \"seq\": must be an integer >= 1"},
    {"seq", "-1", "field \"seq\": must be an integer >= 1"},
    {"seq", "-9223372036854775808", "field \"seq\": must be an integer >= 1"},
    {"seq", "9223372036854775808", "not valid JSON"}, /* beyond int64 */
    /* prev */
    {"prev", "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\"",
     "field \"prev\": must be 64 lower-case hex"},
    {"prev", "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0\"",
     "field \"prev\": must be 64 lower-case hex"},
    {"prev", "\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"",
     "field \"prev\": must be 64 lower-case hex"},
    {"prev", "\"\"", "field \"prev\": must be 64 lower-case hex"},
    /* time */
    {"time", "\"2026-04-02T00:15:00Z\"", "field \"time\": must be a valid UTC time"},
    {"time", "\"2026-04-02T00:15:00.0000Z\"", "field \"time\": must be a valid UTC time"},
    {"time", "\"2026-04-02T09:15:00.000+09:00\"", "field \"time\": must be a valid UTC time"},
    {"time", "\"2026-02-30T00:15:00.000Z\"", "field \"time\": must be a valid UTC time"},
    {"time", "\"2025-02-29T00:15:00.000Z\"", "field \"time\": must be a valid UTC time"},
    {"time", "\"2026-04-02 00:15:00.000Z\"", "field \"time\": must be a valid UTC time"},
    {"time", "\"\"", "field \"time\": must be a valid UTC time"},
    /* subject */
    {"subject", "\"\"", "field \"subject\": must be 1 to 128 bytes"},
    {"subject", "\"a\\nb\"", "field \"subject\": must be 1 to 128 bytes without control"},
    {"subject", "\"a\\u007f\"", "field \"subject\": must be 1 to 128 bytes without control"},
    {"subject",
     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", /* 129 */
     "field \"subject\": must be 1 to 128 bytes"},
    /* data: no floating-point number at any depth */
    {"data", "{\"x\":1.5}", "data.x is a floating-point number"},
    {"data", "{\"x\":1e3}", "data.x is a floating-point number"},
    {"data", "{\"x\":-0.0}", "data.x is a floating-point number"},
    {"data", "{\"a\":{\"b\":[1,2,3.5]}}", "data.a.b[2] is a floating-point number"},
    {"data", "{\"a\":[{\"b\":{\"c\":[[0.1]]}}]}", "data.a[0].b.c[0][0] is a floating-point number"},
    /* sig */
    {"sig", "\"\"", "field \"sig\": must be base64 of 64 bytes"},
    {"sig", "\"abc\"", "field \"sig\": must be base64 of 64 bytes"},
    {"sig",
     "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"",
     "field \"sig\": must be base64 of 64 bytes"}, /* padding missing */
    {"sig",
     "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB==\"",
     "field \"sig\": must be base64 of 64 bytes"}, /* non-zero bits under the padding */
    {"sig",
     "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"",
     "field \"sig\": must be base64 of 64 bytes"}, /* 63 bytes */
    {"sig",
     "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-_A==\"",
     "field \"sig\": must be base64 of 64 bytes"}, /* base64url */
};

static char *fixed_with(const char *field, const char *repl)
{
    json_error_t jerr;
    json_t *o = json_loads(FIXED_JSON, 0, &jerr);
    assert_non_null(o);
    if (repl == NULL) {
        assert_int_equal(json_object_del(o, field), 0);
    } else {
        json_t *v = json_loads(repl, JSON_DECODE_ANY, &jerr);
        if (v == NULL) {
            /* Text jansson itself refuses (an integer beyond int64): splice it in raw. */
            json_decref(o);
            char *out = malloc(strlen(repl) + 64);
            assert_non_null(out);
            sprintf(out, "{\"%s\":%s}", field, repl);
            return out;
        }
        json_object_set_new(o, field, v);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(s);
    return s;
}

static void test_parse_field_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof field_cases / sizeof field_cases[0]; i++) {
        char *s = fixed_with(field_cases[i].field, field_cases[i].repl);
        expect_refused(s, strlen(s), field_cases[i].want);
        free(s);
    }
}

static void test_parse_missing_fields(void **state)
{
    (void)state;
    const char *required[] = {"v", "id", "type", "source", "seq", "prev", "time", "data", "sig"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "field \"%s\": missing", required[i]);
        char *s = fixed_with(required[i], NULL);
        expect_refused(s, strlen(s), want);
        free(s);
    }
    expect_refused("{}", 2, "field \"v\": missing");

    /* subject is optional. */
    char *s = fixed_with("subject", NULL);
    jk_envelope_t *ev = parse_ok(s);
    assert_null(ev->subject);
    jk_envelope_free(ev);
    free(s);
}

static void test_parse_limits_accepted(void **state)
{
    (void)state;
    const struct {
        const char *field;
        const char *repl;
    } ok[] = {
        {"type", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""}, /* 64 */
        {"type", "\"a\""},
        {"type", "\"key.registered\""},
        {"type", "\"request.v2_inquiry.x\""},
        {"source", "\"cs:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""}, /* 64 */
        {"source", "\"operator:Tanaka-01.b_x\""},
        {"subject",
         "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""}, /* 128 */
        {"subject", "\"山口市\""},
        {"seq", "9223372036854775807"},
        {"prev", "\"" JK_ZERO_HASH "\""},
        {"time", "\"0000-01-01T00:00:00.000Z\""},
        {"time", "\"2024-02-29T23:59:59.999Z\""},
        {"data", "{}"},
        {"data", "{\"a\":[1,\"x\",true,false,null,{\"b\":-9223372036854775808}]}"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *s = fixed_with(ok[i].field, ok[i].repl);
        jk_envelope_t *ev = parse_ok(s);
        jk_envelope_free(ev);
        free(s);
    }
}

static void test_validate(void **state)
{
    (void)state;
    jk_err_t err = {""};
    jk_envelope_t *ev = parse_ok(FIXED_JSON);
    assert_int_equal(jk_envelope_validate(ev, &err), 0);
    char *sig = ev->sig;
    ev->sig = NULL; /* unsigned is fine in memory */
    assert_int_equal(jk_envelope_validate(ev, &err), 0);
    ev->sig = sig;

#define REFUSED(want)                                                                              \
    do {                                                                                           \
        assert_int_equal(jk_envelope_validate(ev, &err), -1);                                      \
        assert_string_equal(err.msg, want);                                                        \
    } while (0)

    ev->v = 2;
    REFUSED("unknown envelope version 2");
    ev->v = 1;
    ev->id[0] = 'A';
    REFUSED("field \"id\": must be 32 lower-case hex digits");
    ev->id[0] = '0';
    ev->seq = 0;
    REFUSED("field \"seq\": must be an integer >= 1");
    ev->seq = 42;
    ev->prev[63] = '\0';
    REFUSED("field \"prev\": must be 64 lower-case hex digits");
    ev->prev[63] = 'f';
    strcpy(ev->time, "2026-02-30T00:15:00.000Z");
    REFUSED("field \"time\": must be a valid UTC time written as YYYY-MM-DDTHH:MM:SS.mmmZ");
    memset(ev->time, '0', sizeof ev->time); /* no NUL at all */
    REFUSED("field \"time\": must be a valid UTC time written as YYYY-MM-DDTHH:MM:SS.mmmZ");
    strcpy(ev->time, "2026-04-02T00:15:00.000Z");
    ev->type[0] = 'I';
    REFUSED("field \"type\": must be words of [a-z0-9_] joined by '.', at most 64 characters");
    ev->type[0] = 'i';
    ev->source[2] = '_';
    REFUSED("field \"source\": must be kind:name (kind [a-z]+, name [A-Za-z0-9_.-]+), at most "
            "64 characters");
    ev->source[2] = ':';
    ev->subject[0] = '\t';
    REFUSED("field \"subject\": must be 1 to 128 bytes without control characters");
    ev->subject[0] = '2';
    json_object_set_new(json_object_get(ev->data, "address"), "lat", json_real(34.18));
    REFUSED("data.address.lat is a floating-point number");
    json_object_del(json_object_get(ev->data, "address"), "lat");
    sig[0] = '!';
    REFUSED("field \"sig\": must be base64 of 64 bytes");
    sig[0] = 'A';
    json_t *data = ev->data;
    ev->data = json_array();
    REFUSED("field \"data\": must be an object");
    json_decref(ev->data);
    ev->data = NULL;
    REFUSED("field \"data\": missing");
    ev->data = data;
    assert_int_equal(jk_envelope_validate(ev, &err), 0);
#undef REFUSED
    jk_envelope_free(ev);
}

static void test_envelope_new(void **state)
{
    (void)state;
    jk_err_t err = {""};
    int64_t before = jk_now_ms();
    json_t *data = json_object();
    jk_envelope_t *ev = jk_envelope_new("identity.changed", "cs:352039", "24727059608", data, &err);
    int64_t after = jk_now_ms();
    assert_non_null(ev);
    assert_int_equal(ev->v, 1);
    assert_true(jk_is_hex(ev->id, 32));
    assert_string_equal(ev->type, "identity.changed");
    assert_string_equal(ev->source, "cs:352039");
    assert_string_equal(ev->subject, "24727059608");
    assert_int_equal(ev->seq, 0);
    assert_string_equal(ev->prev, JK_ZERO_HASH);
    assert_true(jk_time_is_canonical(ev->time));
    int64_t t;
    assert_int_equal(jk_time_parse(ev->time, &t), 0);
    assert_true(t >= before && t <= after);
    assert_ptr_equal(ev->data, data);
    assert_null(ev->sig);

    jk_envelope_t *ev2 = jk_envelope_new("x", "a:b", NULL, json_object(), &err);
    assert_non_null(ev2);
    assert_null(ev2->subject);
    assert_string_not_equal(ev->id, ev2->id);
    jk_envelope_free(ev2);
    jk_envelope_free(ev);

    /* Refusals; data is released in every case (LeakSanitizer watches). */
    assert_null(jk_envelope_new("x", "a:b", NULL, json_array(), &err));
    assert_string_equal(err.msg, "field \"data\": must be an object");
    assert_null(jk_envelope_new("x", "a:b", NULL, NULL, &err));
    assert_string_equal(err.msg, "field \"data\": must be an object");
    assert_null(jk_envelope_new("X", "a:b", NULL, json_object(), &err));
    assert_string_equal(err.msg,
                        "field \"type\": must be words of [a-z0-9_] joined by '.', at most 64 "
                        "characters");
    assert_null(jk_envelope_new("x", "ab", NULL, json_object(), &err));
    assert_string_equal(err.msg, "field \"source\": must be kind:name (kind [a-z]+, name "
                                 "[A-Za-z0-9_.-]+), at most 64 characters");
    assert_null(jk_envelope_new("x", "a:b", "", json_object(), &err));
    assert_string_equal(err.msg,
                        "field \"subject\": must be 1 to 128 bytes without control characters");
    assert_null(jk_envelope_new("x", "a:b", NULL, json_pack("{s:[f]}", "p", 0.5), &err));
    assert_string_equal(err.msg, "data.p[0] is a floating-point number");
    assert_null(jk_envelope_new(NULL, "a:b", NULL, json_object(), &err));
    assert_string_equal(err.msg, "an event needs a type and a source");
}

static void test_canonical_refuses_bad_utf8(void **state)
{
    (void)state;
    jk_err_t err = {""};
    jk_envelope_t *ev = parse_ok(FIXED_JSON);
    free(ev->subject);
    ev->subject = strdup("\xff");
    assert_null(jk_envelope_canonical(ev, &err));
    assert_string_equal(err.msg, "field \"subject\": cannot be encoded as JSON (not UTF-8?)");
    char hash[65];
    assert_int_equal(jk_envelope_hash(ev, hash, &err), -1);
    jk_envelope_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_fields),
        cmocka_unit_test(test_canonical_known_answer),
        cmocka_unit_test(test_canonical_key_order),
        cmocka_unit_test(test_canonical_escapes),
        cmocka_unit_test(test_sha256_hex),
        cmocka_unit_test(test_sign_known_answer),
        cmocka_unit_test(test_sign_serialize),
        cmocka_unit_test(test_sign_verify_round_trip),
        cmocka_unit_test(test_sign_verify_refusals),
        cmocka_unit_test(test_tamper_each_field),
        cmocka_unit_test(test_tamper_every_byte),
        cmocka_unit_test(test_hash_wire),
        cmocka_unit_test(test_hash_wire_every_byte),
        cmocka_unit_test(test_parse_not_an_event),
        cmocka_unit_test(test_parse_field_errors),
        cmocka_unit_test(test_parse_missing_fields),
        cmocka_unit_test(test_parse_limits_accepted),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_envelope_new),
        cmocka_unit_test(test_canonical_refuses_bad_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
