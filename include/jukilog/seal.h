/* seal.h: encryption for the lawful-use exchange: answers sealed to one operator's X25519 key,
 * and bulk results protected by a passphrase. OpenSSL 3 EVP only.
 *
 * A sealed answer (the "answer" of a provision, operations.h) is a JSON object
 *
 *   {"epk":"<base64 of a fresh X25519 public key, 32 bytes>",
 *    "nonce":"<base64 of 12 random bytes>",
 *    "ct":"<base64 of the AES-256-GCM ciphertext followed by its 16-byte tag>"}
 *
 * key = HKDF-SHA256(ikm = X25519(ephemeral private, recipient public),
 *                   salt = epk || recipient public key (32 + 32 raw bytes),
 *                   info = "jukilog seal v1", 32 bytes)
 * and the associated data is a caller's string (the request id), so an answer cannot be moved
 * to another request without failing to open. Only the holder of the recipient's private key
 * can open it; the sender keeps nothing that could once its sealer is freed.
 *
 * A passphrase-protected file (JKENC1) is, byte by byte:
 *
 *   offset  size  what
 *        0     7  magic "JKENC1\n"
 *        7     1  scrypt log2 N (15 when written; 10..22 accepted)
 *        8     4  scrypt r, big-endian (8 when written; 1..32 accepted)
 *       12     4  scrypt p, big-endian (1 when written; 1..16 accepted)
 *       16    16  random salt
 *       32    12  random nonce
 *       44     n  AES-256-GCM ciphertext of the n plaintext bytes
 *     44+n    16  GCM tag
 *
 * key = scrypt(passphrase, salt, N, r, p, 32 bytes); the 44-byte header is the associated data,
 * so its parameters cannot be changed either. The parameters are checked against the bounds
 * above before any work, so a hostile file cannot make the reader spend unbounded memory.
 *
 * Every key and passphrase held in memory is wiped (OPENSSL_cleanse) after use. */
#ifndef JUKILOG_SEAL_H
#define JUKILOG_SEAL_H

#include <stddef.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "jukilog/err.h"

#define JK_SEAL_INFO "jukilog seal v1"
#define JK_PASS_MAGIC "JKENC1\n"
#define JK_PASS_HEADER_LEN 44 /* magic 7, log2 N 1, r 4, p 4, salt 16, nonce 12 */
#define JK_PASS_TAG_LEN 16
#define JK_PASS_MAX 1024 /* longest passphrase file, in bytes */

/* Seals n bytes of pt to recipient (an X25519 key; its public half is used) with aad (a
 * NUL-terminated string, may be "") as associated data. Returns a new object as above, or NULL. */
json_t *jk_seal(EVP_PKEY *recipient, const void *pt, size_t n, const char *aad, jk_err_t *err);

/* A sealer seals several answers with one ephemeral key (a provider's answers of a second):
 * the X25519 exchange and HKDF are done once per recipient instead of once per answer, and the
 * answers to one recipient share an AES key, each under its own random nonce. Keep a sealer for
 * a bounded time, far below GCM's bound for random nonces (2^32 messages under one key); the
 * ephemeral private key lives as long as the sealer. What it writes is the object above, opened
 * by jk_unseal like any other. */
typedef struct jk_sealer jk_sealer_t;
jk_sealer_t *jk_sealer_new(jk_err_t *err);
json_t *jk_sealer_seal(jk_sealer_t *s, EVP_PKEY *recipient, const void *pt, size_t n,
                       const char *aad, jk_err_t *err);
void jk_sealer_free(jk_sealer_t *s);

/* Opens a sealed object with the recipient's X25519 private key and the same aad. On success
 * *pt is malloc'd (with a NUL after its n bytes, for convenience) and 0 is returned. A malformed
 * object gives -1 naming the field; a wrong key, or any altered field or aad, gives -1 with
 * "cannot open the answer: not sealed to this key, or altered". */
int jk_unseal(EVP_PKEY *recipient_private, const json_t *sealed, const char *aad,
              unsigned char **pt, size_t *n, jk_err_t *err);

/* An opener opens many answers for one recipient (a terminal's): it remembers the AES key of
 * the last answer it opened, so the next answer sealed with the same ephemeral key (the same
 * sealer) needs no X25519 exchange. jk_opener_new takes a reference to the private key and fails
 * as jk_unseal does for a key that is not X25519's; jk_opener_open behaves as jk_unseal. The
 * remembered key is wiped by jk_opener_free. */
typedef struct jk_opener jk_opener_t;
jk_opener_t *jk_opener_new(EVP_PKEY *recipient_private, jk_err_t *err);
int jk_opener_open(jk_opener_t *o, const json_t *sealed, const char *aad, unsigned char **pt,
                   size_t *n, jk_err_t *err);
void jk_opener_free(jk_opener_t *o);

/* Encrypts n bytes of pt under a passphrase (passlen bytes, not empty) into a JKENC1 file
 * image: *out malloc'd, *outn = JK_PASS_HEADER_LEN + n + JK_PASS_TAG_LEN. Fresh salt and nonce
 * each time, so two encryptions of the same data differ. */
int jk_pass_encrypt(const char *pass, size_t passlen, const void *pt, size_t n, unsigned char **out,
                    size_t *outn, jk_err_t *err);

/* Decrypts a JKENC1 file image. *pt malloc'd (NUL after its n bytes). Errors: "not a jukilog
 * encrypted file", "truncated ...", "scrypt parameter ... out of bounds", and for a wrong
 * passphrase or any altered byte "wrong passphrase, or the file was altered". */
int jk_pass_decrypt(const char *pass, size_t passlen, const void *in, size_t inn,
                    unsigned char **pt, size_t *n, jk_err_t *err);

/* Reads a passphrase from the file at path: at most JK_PASS_MAX bytes, one trailing "\n" or
 * "\r\n" removed, not empty. *pass is malloc'd and NUL-terminated; free it with jk_pass_free.
 * Errors name the path. */
int jk_pass_read_file(const char *path, char **pass, size_t *n, jk_err_t *err);

/* Wipes n bytes at p and frees them (for passphrases and plaintexts). NULL is fine. */
void jk_pass_free(void *p, size_t n);

#endif
