/* test_seal.c: sealed answers and passphrase files (journal/seal.c).
 *
 * The two fixed vectors were made outside this code, with Python's cryptography 48 and hashlib:
 *   sealed: recipient = RFC 7748 Bob, ephemeral = RFC 7748 Alice, nonce 00..0b, aad "req-0001",
 *     key = HKDF(SHA256, ikm = X25519(Alice, Bob), salt = Alice pub || Bob pub,
 *                info = "jukilog seal v1"), AESGCM(key).encrypt(nonce, '{"records":[]}', aad)
 *   JKENC1: passphrase "correct horse battery staple", log2 N 10, r 8, p 1, salt 10..1f,
 *     nonce 20..2b, key = hashlib.scrypt(..., dklen=32), AESGCM with the 44-byte header as AAD,
 *     plaintext "line 1\nline 2\n". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "jukilog/keys.h"
#include "jukilog/seal.h"
#include "jukilog/util.h"

#define OPEN_FAILED "cannot open the answer: not sealed to this key, or altered"
#define PASS_FAILED "wrong passphrase, or the file was altered"

static const char BOB_PRIV_HEX[] =
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
static const char VEC_EPK[] = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
static const char VEC_NONCE[] = "AAECAwQFBgcICQoL";
static const char VEC_CT[] = "lZszVLodCO5+FxRu+Zc+eQXeRtoLx0X9ZBRVdUKU";
static const char VEC_PT[] = "{\"records\":[]}";

static const char FILE_PASS[] = "correct horse battery staple";
static const char FILE_HEX[] =
    "4a4b454e43310a0a0000000800000001101112131415161718191a1b1c1d1e1f202122232425262728292a2b1d"
    "3d0c49ee08b83469f3eeeff524979986b57e464e87b0cf8b43a27d8b44";
static const char FILE_PT[] = "line 1\nline 2\n";

static EVP_PKEY *bob(void)
{
    unsigned char raw[32];
    assert_int_equal(jk_hex_decode(BOB_PRIV_HEX, raw, sizeof raw), 0);
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key_ex(NULL, "X25519", NULL, raw, sizeof raw);
    assert_non_null(k);
    return k;
}

/* The recipient's public key as the provider gets it: from base64 on the admin topic. */
static EVP_PKEY *public_of(EVP_PKEY *priv)
{
    jk_err_t err = {""};
    char *b64 = jk_key_public_b64(priv, &err);
    assert_non_null(b64);
    EVP_PKEY *pub = jk_key_from_public_b64_x25519(b64, &err);
    assert_non_null(pub);
    assert_true(EVP_PKEY_is_a(pub, "X25519"));
    free(b64);
    return pub;
}

static json_t *vector(void)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "epk", VEC_EPK, "nonce", VEC_NONCE, "ct", VEC_CT);
    assert_non_null(o);
    return o;
}

static size_t b64_len(const json_t *o, const char *name)
{
    unsigned char *raw;
    size_t n;
    assert_int_equal(jk_b64_decode(json_string_value(json_object_get(o, name)), &raw, &n), 0);
    free(raw);
    return n;
}

/* Flips bit `bit` of byte `at` of the base64 field name (at < 0 counts from the end). */
static void flip(json_t *o, const char *name, long at, int bit)
{
    unsigned char *raw;
    size_t n;
    assert_int_equal(jk_b64_decode(json_string_value(json_object_get(o, name)), &raw, &n), 0);
    size_t i = at < 0 ? n - (size_t)(-at) : (size_t)at;
    assert_true(i < n);
    raw[i] ^= (unsigned char)(1u << bit);
    char *b64 = jk_b64_encode(raw, n);
    assert_int_equal(json_object_set_new(o, name, json_string(b64)), 0);
    free(b64);
    free(raw);
}

/* Opening fails with msg and hands nothing out: through the opener o, or jk_unseal with key. */
static void expect_fails(jk_opener_t *o, EVP_PKEY *key, const json_t *sealed, const char *aad,
                         const char *msg)
{
    jk_err_t err = {""};
    unsigned char *pt = (unsigned char *)"sentinel";
    size_t n = 99;
    int rc = o ? jk_opener_open(o, sealed, aad, &pt, &n, &err)
               : jk_unseal(key, sealed, aad, &pt, &n, &err);
    assert_int_equal(rc, -1);
    assert_string_equal(err.msg, msg);
    assert_null(pt);
    assert_int_equal(n, 0);
}

static void expect_unseal_fails(EVP_PKEY *key, const json_t *sealed, const char *aad,
                                const char *msg)
{
    expect_fails(NULL, key, sealed, aad, msg);
}

static void test_seal_round_trip(void **state)
{
    (void)state;
    jk_err_t err = {""};
    EVP_PKEY *priv = jk_key_generate_x25519(&err), *pub = public_of(priv);
    size_t sizes[] = {0, sizeof VEC_PT - 1, 5u * 1024 * 1024};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        unsigned char *in = malloc(n + 1);
        assert_non_null(in);
        if (n == sizeof VEC_PT - 1)
            memcpy(in, VEC_PT, n);
        else
            for (size_t i = 0; i < n; i++)
                in[i] = (unsigned char)(i * 131 + (i >> 13));
        json_t *sealed = jk_seal(pub, in, n, "7f3a0c11d2e94b5e8a6c0d1e2f3a4b5c", &err);
        assert_non_null(sealed);
        assert_int_equal(json_object_size(sealed), 3);
        assert_int_equal(b64_len(sealed, "epk"), 32);
        assert_int_equal(b64_len(sealed, "nonce"), 12);
        assert_int_equal(b64_len(sealed, "ct"), n + 16);

        unsigned char *out = NULL;
        size_t outn = 1;
        assert_int_equal(
            jk_unseal(priv, sealed, "7f3a0c11d2e94b5e8a6c0d1e2f3a4b5c", &out, &outn, &err), 0);
        assert_int_equal(outn, n);
        assert_memory_equal(out, in, n);
        assert_int_equal(out[n], '\0');
        jk_pass_free(out, outn + 1);
        json_decref(sealed);
        free(in);
    }
    /* "" as associated data is fine too, and still binds: it is not "x" */
    json_t *sealed = jk_seal(pub, "abc", 3, "", &err);
    assert_non_null(sealed);
    unsigned char *out;
    size_t outn;
    assert_int_equal(jk_unseal(priv, sealed, "", &out, &outn, &err), 0);
    assert_int_equal(outn, 3);
    assert_memory_equal(out, "abc", 4);
    free(out);
    expect_unseal_fails(priv, sealed, "x", OPEN_FAILED);
    json_decref(sealed);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(priv);
}

/* One sealer, two recipients: one ephemeral key in every answer, a fresh nonce in each; every
 * answer opens with its own recipient's key and associated data only. */
static void test_sealer_batch(void **state)
{
    (void)state;
    jk_err_t err = {""};
    EVP_PKEY *a = jk_key_generate_x25519(&err), *apub = public_of(a);
    EVP_PKEY *b = jk_key_generate_x25519(&err), *bpub = public_of(b);
    jk_sealer_t *s = jk_sealer_new(&err);
    assert_non_null(s);
    json_t *a1 = jk_sealer_seal(s, apub, "first", 5, "aad-1", &err);
    json_t *b1 = jk_sealer_seal(s, bpub, "second", 6, "aad-2", &err);
    json_t *a2 = jk_sealer_seal(s, apub, "third", 5, "aad-3", &err);
    assert_non_null(a1);
    assert_non_null(b1);
    assert_non_null(a2);
    jk_sealer_free(s);
    const char *epk = json_string_value(json_object_get(a1, "epk"));
    assert_string_equal(json_string_value(json_object_get(b1, "epk")), epk);
    assert_string_equal(json_string_value(json_object_get(a2, "epk")), epk);
    assert_string_not_equal(json_string_value(json_object_get(a1, "nonce")),
                            json_string_value(json_object_get(a2, "nonce")));
    unsigned char *out;
    size_t n;
    assert_int_equal(jk_unseal(a, a1, "aad-1", &out, &n, &err), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "first", 6);
    free(out);
    assert_int_equal(jk_unseal(b, b1, "aad-2", &out, &n, &err), 0);
    assert_memory_equal(out, "second", 7);
    free(out);
    assert_int_equal(jk_unseal(a, a2, "aad-3", &out, &n, &err), 0);
    assert_memory_equal(out, "third", 6);
    free(out);
    expect_unseal_fails(b, a1, "aad-1", OPEN_FAILED);
    expect_unseal_fails(a, b1, "aad-2", OPEN_FAILED);
    expect_unseal_fails(a, a2, "aad-1", OPEN_FAILED);
    json_decref(a1);
    json_decref(b1);
    json_decref(a2);
    EVP_PKEY_free(apub);
    EVP_PKEY_free(bpub);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}

static void expect_open(jk_opener_t *o, const json_t *sealed, const char *aad, const char *want)
{
    jk_err_t err = {""};
    unsigned char *out = NULL;
    size_t n = 0;
    assert_int_equal(jk_opener_open(o, sealed, aad, &out, &n, &err), 0);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n + 1);
    free(out);
}

/* An opener remembers the last answer's key, by its ephemeral key: answers of one sealer and of
 * another, in any order, each open; the remembered key opens nothing altered, nothing under
 * another request, and nothing sealed to another recipient with the same ephemeral key. */
static void test_opener(void **state)
{
    (void)state;
    jk_err_t err = {""};
    EVP_PKEY *a = jk_key_generate_x25519(&err), *apub = public_of(a);
    EVP_PKEY *b = jk_key_generate_x25519(&err), *bpub = public_of(b);
    jk_sealer_t *s1 = jk_sealer_new(&err), *s2 = jk_sealer_new(&err);
    assert_non_null(s1);
    assert_non_null(s2);
    json_t *a1 = jk_sealer_seal(s1, apub, "first", 5, "aad-1", &err);
    json_t *a2 = jk_sealer_seal(s1, apub, "second", 6, "aad-2", &err);
    json_t *b1 = jk_sealer_seal(s1, bpub, "for b", 5, "aad-3", &err);
    json_t *a3 = jk_sealer_seal(s2, apub, "third", 5, "aad-4", &err);
    assert_non_null(a1);
    assert_non_null(a2);
    assert_non_null(b1);
    assert_non_null(a3);
    jk_sealer_free(s1);
    jk_sealer_free(s2);
    jk_opener_t *o = jk_opener_new(a, &err);
    assert_non_null(o);
    /* the opener holds its own reference to the key */
    EVP_PKEY_free(a);
    expect_open(o, a1, "aad-1", "first");
    expect_open(o, a2, "aad-2", "second");
    expect_open(o, a3, "aad-4", "third");
    expect_open(o, a1, "aad-1", "first");
    /* a1's key is remembered now; a2 shares it */
    expect_fails(o, NULL, b1, "aad-3", OPEN_FAILED);
    expect_fails(o, NULL, a2, "aad-1", OPEN_FAILED);
    json_t *altered = json_deep_copy(a2);
    flip(altered, "ct", 0, 0);
    expect_fails(o, NULL, altered, "aad-2", OPEN_FAILED);
    json_decref(altered);
    altered = json_deep_copy(a2);
    flip(altered, "nonce", 3, 7);
    expect_fails(o, NULL, altered, "aad-2", OPEN_FAILED);
    json_decref(altered);
    expect_open(o, a2, "aad-2", "second");
    /* a malformed answer after a remembered key still names its field */
    json_t *bad = json_pack("{s:s, s:s}", "epk", json_string_value(json_object_get(a2, "epk")),
                            "nonce", json_string_value(json_object_get(a2, "nonce")));
    expect_fails(o, NULL, bad, "aad-2", "sealed answer: \"ct\" is missing or not a string");
    json_decref(bad);
    jk_opener_free(o);

    /* b's opener: the fixed vector is not b's, b1 is */
    o = jk_opener_new(b, &err);
    assert_non_null(o);
    json_t *v = vector();
    expect_fails(o, NULL, v, "req-0001", OPEN_FAILED);
    expect_open(o, b1, "aad-3", "for b");
    jk_opener_free(o);
    EVP_PKEY *bb = bob();
    o = jk_opener_new(bb, &err);
    assert_non_null(o);
    expect_open(o, v, "req-0001", VEC_PT);
    expect_fails(o, NULL, v, "req-0002", OPEN_FAILED);
    expect_open(o, v, "req-0001", VEC_PT);
    jk_opener_free(o);

    /* only an X25519 private key makes an opener */
    EVP_PKEY *ed = jk_key_generate(&err);
    assert_null(jk_opener_new(ed, &err));
    assert_string_equal(err.msg, "cannot open the answer: the key is not an X25519 private key");
    assert_null(jk_opener_new(bpub, &err));
    assert_string_equal(err.msg, "cannot open the answer: the key is not an X25519 private key");
    jk_opener_free(NULL);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(bb);
    json_decref(v);
    json_decref(a1);
    json_decref(a2);
    json_decref(b1);
    json_decref(a3);
    EVP_PKEY_free(apub);
    EVP_PKEY_free(bpub);
    EVP_PKEY_free(b);
}

/* Made by another implementation: fixes HKDF's salt order and info, and the ct layout. */
static void test_seal_vector(void **state)
{
    (void)state;
    jk_err_t err = {""};
    EVP_PKEY *b = bob();
    json_t *v = vector();
    unsigned char *out;
    size_t n;
    assert_int_equal(jk_unseal(b, v, "req-0001", &out, &n, &err), 0);
    assert_int_equal(n, sizeof VEC_PT - 1);
    assert_memory_equal(out, VEC_PT, sizeof VEC_PT);
    free(out);
    /* the request id is bound: the same answer under another request does not open */
    expect_unseal_fails(b, v, "req-0002", OPEN_FAILED);
    expect_unseal_fails(b, v, "req-000", OPEN_FAILED);
    json_decref(v);
    EVP_PKEY_free(b);
}

static void test_seal_other_key(void **state)
{
    (void)state;
    jk_err_t err = {""};
    EVP_PKEY *priv = jk_key_generate_x25519(&err), *other = jk_key_generate_x25519(&err);
    EVP_PKEY *pub = public_of(priv);
    json_t *sealed = jk_seal(pub, "secret", 6, "r1", &err);
    assert_non_null(sealed);
    expect_unseal_fails(other, sealed, "r1", OPEN_FAILED);
    json_t *v = vector();
    expect_unseal_fails(other, v, "req-0001", OPEN_FAILED);
    json_decref(v);
    json_decref(sealed);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(priv);
    EVP_PKEY_free(other);
}

/* Each field altered by one bit fails, and so does the aad. */
static void test_seal_altered(void **state)
{
    (void)state;
    EVP_PKEY *b = bob();
    struct {
        const char *field;
        long at;
        int bit;
    } cases[] = {
        {"epk", 0, 0},
        /* X25519 ignores this bit of a public key, so the shared secret is unchanged: only
         * the salt (which holds epk's raw bytes) catches it */
        {"epk", 31, 7},
        {"nonce", 0, 0},
        {"nonce", 11, 7},
        {"ct", 0, 0},                       /* the ciphertext's first byte */
        {"ct", (long)sizeof VEC_PT - 2, 3}, /* its last */
        {"ct", -16, 0},                     /* the tag's first byte */
        {"ct", -1, 7},                      /* the tag's last */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = vector();
        flip(v, cases[i].field, cases[i].at, cases[i].bit);
        expect_unseal_fails(b, v, "req-0001", OPEN_FAILED);
        json_decref(v);
    }
    /* a byte cut off the end or added: the tag no longer lines up */
    json_t *v = vector();
    assert_int_equal(
        json_object_set_new(v, "ct", json_string("lZszVLodCO5+FxRu+Zc+eQXeRtoLx0X9ZBRVdUI=")), 0);
    expect_unseal_fails(b, v, "req-0001", OPEN_FAILED);
    json_decref(v);
    EVP_PKEY_free(b);
}

static void test_seal_malformed(void **state)
{
    (void)state;
    EVP_PKEY *b = bob();
    json_t *arr = json_array();
    expect_unseal_fails(b, arr, "req-0001", "sealed answer: not a JSON object");
    expect_unseal_fails(b, NULL, "req-0001", "sealed answer: not a JSON object");
    json_decref(arr);

    const char *fields[] = {"epk", "nonce", "ct"};
    char want[256];
    for (size_t i = 0; i < 3; i++) {
        json_t *v = vector();
        json_object_del(v, fields[i]);
        snprintf(want, sizeof want, "sealed answer: \"%s\" is missing or not a string", fields[i]);
        expect_unseal_fails(b, v, "req-0001", want);
        json_object_set_new(v, fields[i], json_integer(12));
        expect_unseal_fails(b, v, "req-0001", want);
        json_object_set_new(v, fields[i], json_string("AAEC@wQF"));
        snprintf(want, sizeof want, "sealed answer: \"%s\" is not base64", fields[i]);
        expect_unseal_fails(b, v, "req-0001", want);
        json_object_set_new(v, fields[i], json_string("AAECAwQFBgcICQoL\n"));
        expect_unseal_fails(b, v, "req-0001", want);
        json_decref(v);
    }
    struct {
        const char *field, *value, *msg;
    } lens[] = {
        {"epk", "", "sealed answer: \"epk\" is 0 bytes, not 32"},
        {"epk", "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTg==",
         "sealed answer: \"epk\" is 31 bytes, not 32"},
        {"epk", "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmoA",
         "sealed answer: \"epk\" is 33 bytes, not 32"},
        {"nonce", "AAECAwQFBgcICQo=", "sealed answer: \"nonce\" is 11 bytes, not 12"},
        {"nonce", "AAECAwQFBgcICQoLDA0ODw==", "sealed answer: \"nonce\" is 16 bytes, not 12"},
        {"ct", "", "sealed answer: \"ct\" is 0 bytes, shorter than the 16-byte tag"},
        {"ct", "AAECAwQFBgcICQoLDA0O",
         "sealed answer: \"ct\" is 15 bytes, shorter than the "
         "16-byte tag"},
    };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        json_t *v = vector();
        json_object_set_new(v, lens[i].field, json_string(lens[i].value));
        expect_unseal_fails(b, v, "req-0001", lens[i].msg);
        json_decref(v);
    }
    /* 16 bytes is a well-formed empty answer: it fails only on authentication */
    json_t *v = vector();
    json_object_set_new(v, "ct", json_string("AAECAwQFBgcICQoLDA0ODw=="));
    expect_unseal_fails(b, v, "req-0001", OPEN_FAILED);
    json_decref(v);
    EVP_PKEY_free(b);
}

static void test_seal_key_kinds(void **state)
{
    (void)state;
    jk_err_t err = {""};
    EVP_PKEY *ed = jk_key_generate(&err), *b = bob(), *bpub = public_of(b);
    assert_null(jk_seal(ed, "x", 1, "", &err));
    assert_string_equal(err.msg, "cannot seal: the recipient's key is not an X25519 key");
    assert_null(jk_seal(NULL, "x", 1, "", &err));
    assert_string_equal(err.msg, "cannot seal: the recipient's key is not an X25519 key");
    json_t *v = vector();
    expect_unseal_fails(ed, v, "req-0001",
                        "cannot open the answer: the key is not an X25519 private key");
    expect_unseal_fails(bpub, v, "req-0001",
                        "cannot open the answer: the key is not an X25519 private key");
    assert_null(jk_key_from_public_b64_x25519("AAECAwQFBgcICQoL", &err));
    assert_string_equal(err.msg, "public key is not base64 of 32 bytes");
    json_decref(v);
    EVP_PKEY_free(bpub);
    EVP_PKEY_free(b);
    EVP_PKEY_free(ed);
}

/* Sealing is randomised: the same answer to the same operator never looks the same twice. */
static void test_seal_differs(void **state)
{
    (void)state;
    jk_err_t err = {""};
    EVP_PKEY *b = bob(), *pub = public_of(b);
    json_t *s1 = jk_seal(pub, VEC_PT, sizeof VEC_PT - 1, "req-0001", &err);
    json_t *s2 = jk_seal(pub, VEC_PT, sizeof VEC_PT - 1, "req-0001", &err);
    assert_non_null(s1);
    assert_non_null(s2);
    const char *names[] = {"epk", "nonce", "ct"};
    for (size_t i = 0; i < 3; i++)
        assert_string_not_equal(json_string_value(json_object_get(s1, names[i])),
                                json_string_value(json_object_get(s2, names[i])));
    json_decref(s1);
    json_decref(s2);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(b);
}

/* ---- passphrase files ---- */

static unsigned char *file_vector(size_t *n)
{
    *n = (sizeof FILE_HEX - 1) / 2;
    unsigned char *f = malloc(*n);
    assert_non_null(f);
    assert_int_equal(jk_hex_decode(FILE_HEX, f, *n), 0);
    return f;
}

static void expect_decrypt_fails(const char *pass, const void *in, size_t inn, const char *msg)
{
    jk_err_t err = {""};
    unsigned char *pt = (unsigned char *)"sentinel";
    size_t n = 99;
    assert_int_equal(jk_pass_decrypt(pass, strlen(pass), in, inn, &pt, &n, &err), -1);
    assert_string_equal(err.msg, msg);
    assert_null(pt);
    assert_int_equal(n, 0);
}

static void test_pass_round_trip(void **state)
{
    (void)state;
    jk_err_t err = {""};
    const char *pass = "tsuru-kame 1234";
    size_t sizes[] = {0, 5, 300000};
    for (size_t s = 0; s < 3; s++) {
        size_t n = sizes[s];
        unsigned char *in = malloc(n + 1);
        assert_non_null(in);
        for (size_t i = 0; i < n; i++)
            in[i] = (unsigned char)(i * 7 + 1);
        unsigned char *f, *out;
        size_t fn, outn;
        assert_int_equal(jk_pass_encrypt(pass, strlen(pass), in, n, &f, &fn, &err), 0);
        /* the layout of seal.h: magic, log2 N 15, r 8, p 1 big-endian, salt, nonce, ct, tag */
        assert_int_equal(fn, 44 + n + 16);
        static const unsigned char head[16] = {'J', 'K', 'E', 'N', 'C', '1', '\n', 15,
                                               0,   0,   0,   8,   0,   0,   0,    1};
        assert_memory_equal(f, head, sizeof head);
        assert_int_equal(jk_pass_decrypt(pass, strlen(pass), f, fn, &out, &outn, &err), 0);
        assert_int_equal(outn, n);
        assert_memory_equal(out, in, n);
        assert_int_equal(out[n], '\0');
        jk_pass_free(out, outn + 1);
        free(f);
        free(in);
    }
    unsigned char *f;
    size_t fn;
    assert_int_equal(jk_pass_encrypt("", 0, "x", 1, &f, &fn, &err), -1);
    assert_string_equal(err.msg, "cannot encrypt: the passphrase is empty");
    assert_null(f);
}

/* Made by another implementation: fixes scrypt's use, the header as AAD, and that the reader
 * takes the parameters from the header (log2 N 10 here, not the 15 it writes). */
static void test_pass_vector(void **state)
{
    (void)state;
    jk_err_t err = {""};
    size_t fn, n;
    unsigned char *f = file_vector(&fn), *out;
    assert_int_equal(fn, 74);
    assert_int_equal(jk_pass_decrypt(FILE_PASS, strlen(FILE_PASS), f, fn, &out, &n, &err), 0);
    assert_int_equal(n, sizeof FILE_PT - 1);
    assert_memory_equal(out, FILE_PT, sizeof FILE_PT);
    free(out);
    free(f);
}

static void test_pass_wrong(void **state)
{
    (void)state;
    size_t fn;
    unsigned char *f = file_vector(&fn);
    expect_decrypt_fails("correct horse battery stapl", f, fn, PASS_FAILED);
    expect_decrypt_fails("correct horse battery staple\n", f, fn, PASS_FAILED);
    expect_decrypt_fails("Correct horse battery staple", f, fn, PASS_FAILED);
    free(f);
}

/* Any bit of the file altered: header (which is the AAD), salt, nonce, ciphertext, tag. */
static void test_pass_altered(void **state)
{
    (void)state;
    size_t fn;
    unsigned char *f = file_vector(&fn);
    /* a bit of each field's first and last byte, keeping the parameters in bounds (outside
     * them the file is refused before authentication: test_pass_bounds): log2 N 10 -> 11,
     * r 8 -> 9, p 1 -> 3 */
    struct {
        size_t at;
        int bit;
    } cases[] = {{7, 0},  {11, 0}, {15, 1}, {16, 0}, {31, 0}, {32, 0},
                 {43, 0}, {44, 0}, {57, 0}, {58, 0}, {73, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f[cases[i].at] ^= (unsigned char)(1u << cases[i].bit);
        expect_decrypt_fails(FILE_PASS, f, fn, PASS_FAILED);
        f[cases[i].at] ^= (unsigned char)(1u << cases[i].bit);
    }
    /* the magic itself is what says whose file it is */
    f[6] ^= 1;
    expect_decrypt_fails(FILE_PASS, f, fn,
                         "not a jukilog encrypted file (it does not start with JKENC1)");
    f[6] ^= 1;
    /* a tail cut off (still long enough to parse) or a byte added */
    expect_decrypt_fails(FILE_PASS, f, fn - 1, PASS_FAILED);
    unsigned char *longer = malloc(fn + 1);
    memcpy(longer, f, fn);
    longer[fn] = 0;
    expect_decrypt_fails(FILE_PASS, longer, fn + 1, PASS_FAILED);
    free(longer);
    free(f);
}

static void test_pass_not_ours(void **state)
{
    (void)state;
    size_t fn;
    unsigned char *f = file_vector(&fn);
    expect_decrypt_fails(FILE_PASS, "", 0, "not a jukilog encrypted file: it is empty");
    expect_decrypt_fails(FILE_PASS, "hello", 5,
                         "not a jukilog encrypted file (it does not start with JKENC1)");
    expect_decrypt_fails(FILE_PASS, "{\"records\":[]} and more text past the header's length", 52,
                         "not a jukilog encrypted file (it does not start with JKENC1)");
    /* a JKENC1 file cut short, inside the magic, inside the header, before the tag */
    expect_decrypt_fails(FILE_PASS, f, 4,
                         "truncated: 4 bytes, fewer than the 60 of the smallest jukilog "
                         "encrypted file");
    expect_decrypt_fails(FILE_PASS, f, 30,
                         "truncated: 30 bytes, fewer than the 60 of the smallest jukilog "
                         "encrypted file");
    expect_decrypt_fails(FILE_PASS, f, 59,
                         "truncated: 59 bytes, fewer than the 60 of the smallest jukilog "
                         "encrypted file");
    /* exactly 60 bytes parses, and fails only on authentication */
    expect_decrypt_fails(FILE_PASS, f, 60, PASS_FAILED);
    free(f);
}

static void set_params(unsigned char *f, unsigned log2n, uint32_t r, uint32_t p)
{
    f[7] = (unsigned char)log2n;
    for (int i = 0; i < 4; i++) {
        f[8 + i] = (unsigned char)(r >> (24 - 8 * i));
        f[12 + i] = (unsigned char)(p >> (24 - 8 * i));
    }
}

/* Parameters are refused before any work; those inside the bounds are used (and, altered,
 * fail authentication). */
static void test_pass_bounds(void **state)
{
    (void)state;
    size_t fn;
    unsigned char *f = file_vector(&fn);
    struct {
        unsigned log2n;
        uint32_t r, p;
        const char *msg;
    } cases[] = {
        {9, 8, 1, "scrypt parameter log2 N = 9 out of bounds (10..22)"},
        {23, 8, 1, "scrypt parameter log2 N = 23 out of bounds (10..22)"},
        {255, 8, 1, "scrypt parameter log2 N = 255 out of bounds (10..22)"},
        {10, 0, 1, "scrypt parameter r = 0 out of bounds (1..32)"},
        {10, 33, 1, "scrypt parameter r = 33 out of bounds (1..32)"},
        {10, 0x01000008, 1, "scrypt parameter r = 16777224 out of bounds (1..32)"},
        {10, 8, 0, "scrypt parameter p = 0 out of bounds (1..16)"},
        {10, 8, 17, "scrypt parameter p = 17 out of bounds (1..16)"},
        {10, 8, 0xffffffff, "scrypt parameter p = 4294967295 out of bounds (1..16)"},
        /* in bounds, but beyond the reader's 1 GiB of scrypt memory (128 r (N + 2) + 128 r p) */
        {22, 8, 1,
         "scrypt parameters log2 N = 22, r = 8 need 4097 MiB, more than the 1024 MiB "
         "allowed"},
        {20, 8, 1,
         "scrypt parameters log2 N = 20, r = 8 need 1025 MiB, more than the 1024 MiB "
         "allowed"},
        /* the lowest bounds are allowed: they reach authentication */
        {10, 1, 1, PASS_FAILED},
        {11, 8, 1, PASS_FAILED},
        {10, 8, 2, PASS_FAILED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *g = malloc(fn);
        memcpy(g, f, fn);
        set_params(g, cases[i].log2n, cases[i].r, cases[i].p);
        expect_decrypt_fails(FILE_PASS, g, fn, cases[i].msg);
        free(g);
    }
    free(f);
}

static void test_pass_differs(void **state)
{
    (void)state;
    jk_err_t err = {""};
    unsigned char *a, *b;
    size_t an, bn;
    assert_int_equal(jk_pass_encrypt("pw", 2, FILE_PT, sizeof FILE_PT - 1, &a, &an, &err), 0);
    assert_int_equal(jk_pass_encrypt("pw", 2, FILE_PT, sizeof FILE_PT - 1, &b, &bn, &err), 0);
    assert_int_equal(an, bn);
    assert_memory_equal(a, b, 16);               /* same magic and parameters */
    assert_memory_not_equal(a + 16, b + 16, 16); /* salt */
    assert_memory_not_equal(a + 32, b + 32, 12); /* nonce */
    assert_memory_not_equal(a + 44, b + 44, an - 44);
    free(a);
    free(b);
}

/* ---- passphrase files ---- */

static char *write_tmp(const char *dir, const char *name, const void *data, size_t n)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    assert_non_null(p);
    sprintf(p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
    return p;
}

static void test_pass_read_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/jk_test_seal.XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct {
        const char *content;
        size_t n;
        const char *want; /* NULL: refused as empty */
        size_t wantn;
    } cases[] = {
        {"secret\n", 7, "secret", 6},
        {"secret\r\n", 8, "secret", 6},
        {"secret", 6, "secret", 6},
        {"secret\n\n", 8, "secret\n", 7}, /* exactly one newline goes */
        {"secret\r\n\r\n", 10, "secret\r\n", 8},
        {"secret\r", 7, "secret\r", 7}, /* a lone CR is part of the passphrase */
        {" two words \n", 12, " two words ", 11},
        {"a\0b\n", 4, "a\0b", 3},
        {"\n\n", 2, "\n", 1},
        {"", 0, NULL, 0},
        {"\n", 1, NULL, 0},
        {"\r\n", 2, NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jk_err_t err = {""};
        char *path = write_tmp(dir, "pass", cases[i].content, cases[i].n), *pass = "x";
        size_t n = 99;
        if (cases[i].want != NULL) {
            assert_int_equal(jk_pass_read_file(path, &pass, &n, &err), 0);
            assert_int_equal(n, cases[i].wantn);
            assert_memory_equal(pass, cases[i].want, n);
            assert_int_equal(pass[n], '\0');
            jk_pass_free(pass, n);
        } else {
            assert_int_equal(jk_pass_read_file(path, &pass, &n, &err), -1);
            char want[600];
            snprintf(want, sizeof want, "%s: the passphrase is empty", path);
            assert_string_equal(err.msg, want);
            assert_null(pass);
            assert_int_equal(n, 0);
        }
        unlink(path);
        free(path);
    }

    /* 1024 bytes is the most; 1025, even when the last is the newline, is refused */
    char big[1026];
    memset(big, 'k', sizeof big);
    jk_err_t err = {""};
    char *pass, want[600];
    size_t n;
    char *path = write_tmp(dir, "pass", big, 1024);
    assert_int_equal(jk_pass_read_file(path, &pass, &n, &err), 0);
    assert_int_equal(n, 1024);
    jk_pass_free(pass, n);
    unlink(path);
    free(path);
    big[1024] = '\n';
    size_t over[] = {1025, 1026};
    for (size_t i = 0; i < 2; i++) {
        path = write_tmp(dir, "pass", big, over[i]);
        assert_int_equal(jk_pass_read_file(path, &pass, &n, &err), -1);
        snprintf(want, sizeof want, "%s: a passphrase file holds at most 1024 bytes", path);
        assert_string_equal(err.msg, want);
        assert_null(pass);
        unlink(path);
        free(path);
    }

    snprintf(want, sizeof want, "%s/absent", dir);
    assert_int_equal(jk_pass_read_file(want, &pass, &n, &err), -1);
    char msg[700];
    snprintf(msg, sizeof msg, "%s: No such file or directory", want);
    assert_string_equal(err.msg, msg);
    assert_int_equal(jk_pass_read_file(dir, &pass, &n, &err), -1);
    snprintf(msg, sizeof msg, "%s: Is a directory", dir);
    assert_string_equal(err.msg, msg);
    assert_int_equal(rmdir(dir), 0);
}

/* A passphrase read from a file opens what was encrypted with it; with the newline kept, not. */
static void test_pass_file_and_decrypt(void **state)
{
    (void)state;
    char dir[] = "/tmp/jk_test_seal.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = write_tmp(dir, "pass", "correct horse battery staple\r\n", 30), *pass;
    jk_err_t err = {""};
    size_t pn, fn, n;
    assert_int_equal(jk_pass_read_file(path, &pass, &pn, &err), 0);
    unsigned char *f = file_vector(&fn), *out;
    assert_int_equal(jk_pass_decrypt(pass, pn, f, fn, &out, &n, &err), 0);
    assert_memory_equal(out, FILE_PT, sizeof FILE_PT);
    free(out);
    jk_pass_free(pass, pn);
    free(f);
    unlink(path);
    free(path);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_round_trip), cmocka_unit_test(test_sealer_batch),
        cmocka_unit_test(test_opener),          cmocka_unit_test(test_seal_vector),
        cmocka_unit_test(test_seal_other_key),  cmocka_unit_test(test_seal_altered),
        cmocka_unit_test(test_seal_malformed),  cmocka_unit_test(test_seal_key_kinds),
        cmocka_unit_test(test_seal_differs),    cmocka_unit_test(test_pass_round_trip),
        cmocka_unit_test(test_pass_vector),     cmocka_unit_test(test_pass_wrong),
        cmocka_unit_test(test_pass_altered),    cmocka_unit_test(test_pass_not_ours),
        cmocka_unit_test(test_pass_bounds),     cmocka_unit_test(test_pass_differs),
        cmocka_unit_test(test_pass_read_file),  cmocka_unit_test(test_pass_file_and_decrypt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
