/* seal.c: answers sealed to an operator's X25519 key, and passphrase-protected files (seal.h).
 *
 * Both are AES-256-GCM under a key that exists only for one message: HKDF over an ephemeral
 * X25519 exchange for a seal, scrypt over the passphrase and a random salt for a file. Every
 * failure to authenticate is reported the same way whatever its cause (wrong key, altered
 * byte), since GCM cannot tell them apart and a reader should not be told more than that. */
#include "jukilog/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "jukilog/util.h"

#define RAW_LEN 32
#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define SALT_LEN 16
#define MAGIC_LEN 7
#define MIN_FILE (JK_PASS_HEADER_LEN + JK_PASS_TAG_LEN)
/* EVP's update calls count in int: long messages go through in pieces this size. */
#define CHUNK ((size_t)1 << 30)

/* scrypt as written, and what a reader accepts (seal.h). */
#define SCRYPT_LOG2N 15
#define SCRYPT_R 8
#define SCRYPT_P 1
/* scrypt's working memory (OpenSSL's count: 128 r (N + 2) + 128 r p) may not exceed this: a file's
 * parameters are the writer's choice, and the reader's memory is not. */
#define SCRYPT_MAXMEM ((uint64_t)1 << 30)

static const char OPEN_FAILED[] = "cannot open the answer: not sealed to this key, or altered";
static const char PASS_FAILED[] = "wrong passphrase, or the file was altered";

void jk_pass_free(void *p, size_t n)
{
    if (p != NULL) OPENSSL_clear_free(p, n);
}

/* AES-256-GCM over n bytes of in into out (the same length), with aad. Encrypting writes the
 * tag; decrypting checks it. Returns 0, or -1 when the tag does not match or OpenSSL fails. */
static int gcm(int enc, const unsigned char key[KEY_LEN], const unsigned char nonce[NONCE_LEN],
               const unsigned char *aad, size_t aadn, const unsigned char *in, size_t n,
               unsigned char *out, unsigned char tag[TAG_LEN])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len, ok = ctx != NULL && aadn <= INT_MAX &&
                  EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, enc, NULL) == 1 &&
                  (aadn == 0 || EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aadn) == 1);
    for (size_t off = 0; ok && off < n; off += CHUNK) {
        size_t k = n - off < CHUNK ? n - off : CHUNK;
        ok = EVP_CipherUpdate(ctx, out + off, &len, in + off, (int)k) == 1 && (size_t)len == k;
    }
    OSSL_PARAM p[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
    p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, TAG_LEN);
    if (ok && !enc) ok = EVP_CIPHER_CTX_set_params(ctx, p) == 1;
    /* GCM is a stream mode: the final call writes nothing, and decrypting is where the tag is
     * checked. */
    if (ok) ok = EVP_CipherFinal_ex(ctx, out + n, &len) == 1 && len == 0;
    if (ok && enc) ok = EVP_CIPHER_CTX_get_params(ctx, p) == 1;
    EVP_CIPHER_CTX_free(ctx);
    ERR_clear_error();
    return ok ? 0 : -1;
}

/* ---- sealed answers ---- */

/* The seal's AES key from our private key, the peer's public key, and the salt epk || recipient.
 * Returns 0, or -1 when the exchange fails (e.g. a low-order peer point). */
static int seal_key(EVP_PKEY *mine, EVP_PKEY *peer, const unsigned char epk[RAW_LEN],
                    const unsigned char rpk[RAW_LEN], unsigned char key[KEY_LEN])
{
    unsigned char secret[RAW_LEN], salt[2 * RAW_LEN];
    size_t slen = sizeof secret;
    EVP_PKEY_CTX *dc = EVP_PKEY_CTX_new_from_pkey(NULL, mine, NULL);
    int ok = dc != NULL && EVP_PKEY_derive_init(dc) == 1 &&
             EVP_PKEY_derive_set_peer(dc, peer) == 1 && EVP_PKEY_derive(dc, secret, &slen) == 1 &&
             slen == sizeof secret;
    EVP_PKEY_CTX_free(dc);

    EVP_KDF *kdf = ok ? EVP_KDF_fetch(NULL, "HKDF", NULL) : NULL;
    EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    if (kc != NULL) {
        memcpy(salt, epk, RAW_LEN);
        memcpy(salt + RAW_LEN, rpk, RAW_LEN);
        OSSL_PARAM p[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, secret, sizeof secret),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof salt),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, JK_SEAL_INFO,
                                              sizeof JK_SEAL_INFO - 1),
            OSSL_PARAM_END,
        };
        ok = EVP_KDF_derive(kc, key, KEY_LEN, p) == 1;
    } else {
        ok = 0;
    }
    EVP_KDF_CTX_free(kc);
    EVP_KDF_free(kdf);
    OPENSSL_cleanse(secret, sizeof secret);
    ERR_clear_error();
    return ok ? 0 : -1;
}

static int raw_public(EVP_PKEY *key, unsigned char raw[RAW_LEN])
{
    size_t n = RAW_LEN;
    int ok = key != NULL && EVP_PKEY_is_a(key, "X25519") &&
             EVP_PKEY_get_raw_public_key(key, raw, &n) == 1 && n == RAW_LEN;
    ERR_clear_error();
    return ok ? 0 : -1;
}

/* Sets obj[name] to base64 of n bytes; returns 0 or -1 (out of memory). */
static int set_b64(json_t *obj, const char *name, const unsigned char *in, size_t n)
{
    char *b64 = jk_b64_encode(in, n);
    json_t *s = b64 ? json_string(b64) : NULL;
    free(b64);
    return s ? json_object_set_new(obj, name, s) : -1;
}

struct sealer_key {
    unsigned char rpk[RAW_LEN], key[KEY_LEN];
};

struct jk_sealer {
    EVP_PKEY *eph;
    unsigned char epk[RAW_LEN];
    struct sealer_key *keys; /* one per recipient sealed to so far */
    size_t n, cap;
};

jk_sealer_t *jk_sealer_new(jk_err_t *err)
{
    jk_sealer_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        jk_err_set(err, "cannot seal: out of memory");
        return NULL;
    }
    s->eph = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    if (s->eph == NULL || raw_public(s->eph, s->epk) != 0) {
        jk_err_set(err, "cannot seal: no ephemeral key from OpenSSL");
        jk_sealer_free(s);
        ERR_clear_error();
        return NULL;
    }
    return s;
}

void jk_sealer_free(jk_sealer_t *s)
{
    if (s == NULL) return;
    EVP_PKEY_free(s->eph); /* EVP_PKEY_free wipes the ephemeral private key */
    if (s->keys) OPENSSL_clear_free(s->keys, s->cap * sizeof *s->keys);
    free(s);
}

/* The AES key for recipient: derived on first use, then remembered. */
static const unsigned char *sealer_key(jk_sealer_t *s, EVP_PKEY *recipient,
                                       const unsigned char rpk[RAW_LEN])
{
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(s->keys[i].rpk, rpk, RAW_LEN) == 0) return s->keys[i].key;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        struct sealer_key *k = OPENSSL_zalloc(cap * sizeof *k);
        if (k == NULL) return NULL;
        if (s->keys) {
            memcpy(k, s->keys, s->n * sizeof *k);
            OPENSSL_clear_free(s->keys, s->cap * sizeof *s->keys);
        }
        s->keys = k;
        s->cap = cap;
    }
    struct sealer_key *k = &s->keys[s->n];
    if (seal_key(s->eph, recipient, s->epk, rpk, k->key) != 0) return NULL;
    memcpy(k->rpk, rpk, RAW_LEN);
    s->n++;
    return k->key;
}

json_t *jk_sealer_seal(jk_sealer_t *s, EVP_PKEY *recipient, const void *pt, size_t n,
                       const char *aad, jk_err_t *err)
{
    unsigned char rpk[RAW_LEN], nonce[NONCE_LEN];
    if (raw_public(recipient, rpk) != 0) {
        jk_err_set(err, "cannot seal: the recipient's key is not an X25519 key");
        return NULL;
    }
    if (n > SIZE_MAX - TAG_LEN) {
        jk_err_set(err, "cannot seal: %zu bytes is too long", n);
        return NULL;
    }
    json_t *out = NULL;
    const unsigned char *key = NULL;
    unsigned char *ct = malloc(n + TAG_LEN);
    if (ct == NULL) {
        jk_err_set(err, "cannot seal: out of memory for %zu bytes", n);
    } else if (RAND_bytes(nonce, sizeof nonce) != 1) {
        jk_err_set(err, "cannot seal: no nonce from OpenSSL");
    } else if ((key = sealer_key(s, recipient, rpk)) == NULL ||
               gcm(1, key, nonce, (const unsigned char *)aad, strlen(aad), pt, n, ct, ct + n) !=
                   0) {
        jk_err_set(err, "cannot seal: key exchange or encryption failed");
    } else if ((out = json_object()) == NULL || set_b64(out, "epk", s->epk, sizeof s->epk) != 0 ||
               set_b64(out, "nonce", nonce, sizeof nonce) != 0 ||
               set_b64(out, "ct", ct, n + TAG_LEN) != 0) {
        json_decref(out);
        out = NULL;
        jk_err_set(err, "cannot seal: out of memory");
    }
    free(ct);
    ERR_clear_error();
    return out;
}

json_t *jk_seal(EVP_PKEY *recipient, const void *pt, size_t n, const char *aad, jk_err_t *err)
{
    jk_sealer_t *s = jk_sealer_new(err);
    json_t *out = s ? jk_sealer_seal(s, recipient, pt, n, aad, err) : NULL;
    jk_sealer_free(s);
    return out;
}

/* Decodes sealed[name] (base64) into *out; len is the exact length wanted, or 0 for "at least
 * TAG_LEN". Errors name the field. */
static int get_b64(const json_t *sealed, const char *name, size_t len, unsigned char **out,
                   size_t *n, jk_err_t *err)
{
    const char *s = json_string_value(json_object_get(sealed, name));
    *out = NULL;
    if (s == NULL) return jk_err_set(err, "sealed answer: \"%s\" is missing or not a string", name);
    if (jk_b64_decode(s, out, n) != 0) {
        *out = NULL;
        return jk_err_set(err, "sealed answer: \"%s\" is not base64", name);
    }
    if (len != 0 && *n != len) {
        jk_err_set(err, "sealed answer: \"%s\" is %zu bytes, not %zu", name, *n, len);
    } else if (len == 0 && *n < TAG_LEN) {
        jk_err_set(err, "sealed answer: \"%s\" is %zu bytes, shorter than the %d-byte tag", name,
                   *n, TAG_LEN);
    } else {
        return 0;
    }
    free(*out);
    *out = NULL;
    return -1;
}

struct jk_opener {
    EVP_PKEY *key;
    unsigned char rpk[RAW_LEN];
    /* the AES key of the last answer opened, and the ephemeral key it came from */
    int have;
    unsigned char epk[RAW_LEN], aes[KEY_LEN];
};

jk_opener_t *jk_opener_new(EVP_PKEY *recipient_private, jk_err_t *err)
{
    unsigned char rpk[RAW_LEN];
    size_t priv_len = 0;
    if (raw_public(recipient_private, rpk) != 0 ||
        EVP_PKEY_get_raw_private_key(recipient_private, NULL, &priv_len) != 1) {
        ERR_clear_error();
        jk_err_set(err, "cannot open the answer: the key is not an X25519 private key");
        return NULL;
    }
    jk_opener_t *o = OPENSSL_zalloc(sizeof *o);
    if (o == NULL || EVP_PKEY_up_ref(recipient_private) != 1) {
        OPENSSL_free(o);
        jk_err_set(err, "cannot open the answer: out of memory");
        return NULL;
    }
    o->key = recipient_private;
    memcpy(o->rpk, rpk, RAW_LEN);
    return o;
}

void jk_opener_free(jk_opener_t *o)
{
    if (o == NULL) return;
    EVP_PKEY_free(o->key);
    OPENSSL_clear_free(o, sizeof *o);
}

/* The AES key for an answer sealed with epk: the last answer's if it came from the same
 * ephemeral key, else derived. Returns 0, or -1 when the exchange fails. */
static int opener_key(const jk_opener_t *o, const unsigned char epk[RAW_LEN],
                      unsigned char key[KEY_LEN])
{
    if (o->have && CRYPTO_memcmp(o->epk, epk, RAW_LEN) == 0) {
        memcpy(key, o->aes, KEY_LEN);
        return 0;
    }
    EVP_PKEY *peer = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, epk, RAW_LEN);
    int rc = peer != NULL && seal_key(o->key, peer, epk, o->rpk, key) == 0 ? 0 : -1;
    EVP_PKEY_free(peer);
    return rc;
}

int jk_opener_open(jk_opener_t *o, const json_t *sealed, const char *aad, unsigned char **pt,
                   size_t *n, jk_err_t *err)
{
    unsigned char key[KEY_LEN], *epk = NULL, *nonce = NULL, *ct = NULL;
    size_t epkn, noncen, ctn;
    *pt = NULL;
    *n = 0;
    if (!json_is_object(sealed)) return jk_err_set(err, "sealed answer: not a JSON object");
    if (get_b64(sealed, "epk", RAW_LEN, &epk, &epkn, err) != 0 ||
        get_b64(sealed, "nonce", NONCE_LEN, &nonce, &noncen, err) != 0 ||
        get_b64(sealed, "ct", 0, &ct, &ctn, err) != 0) {
        free(epk);
        free(nonce);
        return -1;
    }
    int rc = -1;
    size_t len = ctn - TAG_LEN;
    unsigned char *out = malloc(len + 1);
    if (out == NULL) {
        jk_err_set(err, "cannot open the answer: out of memory for %zu bytes", len);
    } else if (opener_key(o, epk, key) != 0 || gcm(0, key, nonce, (const unsigned char *)aad,
                                                   strlen(aad), ct, len, out, ct + len) != 0) {
        jk_err_set(err, "%s", OPEN_FAILED);
    } else {
        out[len] = '\0';
        *pt = out;
        *n = len;
        out = NULL;
        /* Remembered only once an answer opened with it. */
        memcpy(o->epk, epk, RAW_LEN);
        memcpy(o->aes, key, KEY_LEN);
        o->have = 1;
        rc = 0;
    }
    /* A failed decryption may have written unauthenticated plaintext: wipe it too. */
    jk_pass_free(out, len + 1);
    OPENSSL_cleanse(key, sizeof key);
    free(epk);
    free(nonce);
    free(ct);
    ERR_clear_error();
    return rc;
}

int jk_unseal(EVP_PKEY *recipient_private, const json_t *sealed, const char *aad,
              unsigned char **pt, size_t *n, jk_err_t *err)
{
    *pt = NULL;
    *n = 0;
    jk_opener_t *o = jk_opener_new(recipient_private, err);
    if (o == NULL) return -1;
    int rc = jk_opener_open(o, sealed, aad, pt, n, err);
    jk_opener_free(o);
    return rc;
}

/* ---- passphrase files ---- */

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int scrypt_key(const char *pass, size_t passlen, const unsigned char salt[SALT_LEN],
                      unsigned log2n, uint32_t r, uint32_t p, unsigned char key[KEY_LEN])
{
    uint64_t nn = (uint64_t)1 << log2n, maxmem = SCRYPT_MAXMEM;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    int ok = 0;
    if (kc != NULL) {
        OSSL_PARAM prm[] = {
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pass, passlen),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, SALT_LEN),
            OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &nn),
            OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
            OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
            OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
            OSSL_PARAM_END,
        };
        ok = EVP_KDF_derive(kc, key, KEY_LEN, prm) == 1;
    }
    EVP_KDF_CTX_free(kc);
    EVP_KDF_free(kdf);
    ERR_clear_error();
    return ok ? 0 : -1;
}

int jk_pass_encrypt(const char *pass, size_t passlen, const void *pt, size_t n, unsigned char **out,
                    size_t *outn, jk_err_t *err)
{
    *out = NULL;
    *outn = 0;
    if (passlen == 0) return jk_err_set(err, "cannot encrypt: the passphrase is empty");
    if (n > SIZE_MAX - MIN_FILE) return jk_err_set(err, "cannot encrypt: %zu bytes is too long", n);
    unsigned char *buf = malloc(MIN_FILE + n), key[KEY_LEN];
    if (buf == NULL) return jk_err_set(err, "cannot encrypt: out of memory for %zu bytes", n);
    unsigned char *h = buf, *salt = h + 16, *nonce = h + 32;
    memcpy(h, JK_PASS_MAGIC, MAGIC_LEN);
    h[7] = SCRYPT_LOG2N;
    put_be32(h + 8, SCRYPT_R);
    put_be32(h + 12, SCRYPT_P);
    int rc = -1;
    if (RAND_bytes(salt, SALT_LEN) != 1 || RAND_bytes(nonce, NONCE_LEN) != 1) {
        jk_err_set(err, "cannot encrypt: no random salt or nonce from OpenSSL");
    } else if (scrypt_key(pass, passlen, salt, SCRYPT_LOG2N, SCRYPT_R, SCRYPT_P, key) != 0) {
        jk_err_set(err, "cannot encrypt: scrypt failed");
    } else if (gcm(1, key, nonce, h, JK_PASS_HEADER_LEN, pt, n, buf + JK_PASS_HEADER_LEN,
                   buf + JK_PASS_HEADER_LEN + n) != 0) {
        jk_err_set(err, "cannot encrypt: AES-256-GCM failed");
    } else {
        *out = buf;
        *outn = MIN_FILE + n;
        buf = NULL;
        rc = 0;
    }
    OPENSSL_cleanse(key, sizeof key);
    free(buf);
    ERR_clear_error();
    return rc;
}

int jk_pass_decrypt(const char *pass, size_t passlen, const void *in, size_t inn,
                    unsigned char **pt, size_t *n, jk_err_t *err)
{
    const unsigned char *h = in;
    *pt = NULL;
    *n = 0;
    if (inn == 0) return jk_err_set(err, "not a jukilog encrypted file: it is empty");
    if (memcmp(h, JK_PASS_MAGIC, inn < MAGIC_LEN ? inn : MAGIC_LEN) != 0)
        return jk_err_set(err, "not a jukilog encrypted file (it does not start with JKENC1)");
    if (inn < MIN_FILE)
        return jk_err_set(err,
                          "truncated: %zu bytes, fewer than the %d of the smallest jukilog "
                          "encrypted file",
                          inn, MIN_FILE);
    unsigned log2n = h[7];
    uint32_t r = get_be32(h + 8), p = get_be32(h + 12);
    if (log2n < 10 || log2n > 22)
        return jk_err_set(err, "scrypt parameter log2 N = %u out of bounds (10..22)", log2n);
    if (r < 1 || r > 32)
        return jk_err_set(err, "scrypt parameter r = %u out of bounds (1..32)", (unsigned)r);
    if (p < 1 || p > 16)
        return jk_err_set(err, "scrypt parameter p = %u out of bounds (1..16)", (unsigned)p);
    uint64_t mem = 128 * (uint64_t)r * (((uint64_t)1 << log2n) + 2) + 128 * (uint64_t)r * p;
    if (mem > SCRYPT_MAXMEM)
        return jk_err_set(err,
                          "scrypt parameters log2 N = %u, r = %u need %llu MiB, more than "
                          "the %llu MiB allowed",
                          log2n, (unsigned)r, (unsigned long long)((mem + (1 << 20) - 1) >> 20),
                          (unsigned long long)(SCRYPT_MAXMEM >> 20));
    if (passlen == 0) return jk_err_set(err, "cannot decrypt: the passphrase is empty");

    size_t len = inn - MIN_FILE;
    unsigned char key[KEY_LEN], *out = malloc(len + 1);
    if (out == NULL) return jk_err_set(err, "cannot decrypt: out of memory for %zu bytes", len);
    int rc = -1;
    if (scrypt_key(pass, passlen, h + 16, log2n, r, p, key) != 0) {
        jk_err_set(err, "cannot decrypt: scrypt failed");
    } else if (gcm(0, key, h + 32, h, JK_PASS_HEADER_LEN, h + JK_PASS_HEADER_LEN, len, out,
                   (unsigned char *)h + JK_PASS_HEADER_LEN + len) != 0) {
        jk_err_set(err, "%s", PASS_FAILED);
    } else {
        out[len] = '\0';
        *pt = out;
        *n = len;
        out = NULL;
        rc = 0;
    }
    jk_pass_free(out, len + 1);
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

int jk_pass_read_file(const char *path, char **pass, size_t *n, jk_err_t *err)
{
    *pass = NULL;
    *n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return jk_err_set(err, "%s: %s", path, strerror(errno));
    /* One byte more than allowed, to tell "exactly 1024" from "longer". */
    size_t cap = JK_PASS_MAX + 1, len = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        close(fd);
        return jk_err_set(err, "%s: out of memory", path);
    }
    int rc = 0;
    while (len < cap) {
        ssize_t k = read(fd, buf + len, cap - len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) rc = jk_err_set(err, "%s: %s", path, strerror(errno));
        if (k <= 0) break;
        len += (size_t)k;
    }
    close(fd);
    if (rc == 0 && len > JK_PASS_MAX)
        rc = jk_err_set(err, "%s: a passphrase file holds at most %d bytes", path, JK_PASS_MAX);
    if (rc == 0) {
        size_t kept = len;
        if (kept >= 1 && buf[kept - 1] == '\n') kept--;
        if (kept >= 1 && kept < len && buf[kept - 1] == '\r') kept--;
        OPENSSL_cleanse(buf + kept, cap + 1 - kept);
        len = kept;
        if (len == 0) rc = jk_err_set(err, "%s: the passphrase is empty", path);
    }
    if (rc != 0) {
        jk_pass_free(buf, cap + 1);
        return rc;
    }
    buf[len] = '\0';
    *pass = buf;
    *n = len;
    return 0;
}
