/* keys.h: Ed25519 signing keys on disk and on the log.
 *
 * Private keys live under $JUKILOG_HOME/keys as PEM files with mode 0600; public keys travel on
 * the admin topic as base64 of the 32 raw bytes. A key id is the first 16 hex digits of the
 * SHA-256 of the raw public key. */
#ifndef JUKILOG_KEYS_H
#define JUKILOG_KEYS_H

#include <openssl/evp.h>

#include "jukilog/err.h"

EVP_PKEY *jk_key_generate(jk_err_t *err);
/* Writes the private key as PEM to path with mode 0600 (through a temporary file, fsynced, then
 * renamed). Refuses to overwrite an existing file. Creates missing parent directories (0700). */
int jk_key_save(EVP_PKEY *key, const char *path, jk_err_t *err);
/* Loads a private key written by jk_key_save; the error names the path. */
EVP_PKEY *jk_key_load(const char *path, jk_err_t *err);

/* X25519 keys, with which answers to an operator are encrypted: made and kept like the
 * signing keys. */
EVP_PKEY *jk_key_generate_x25519(jk_err_t *err);
EVP_PKEY *jk_key_load_x25519(const char *path, jk_err_t *err);

/* Base64 of the raw 32-byte public key (Ed25519 or X25519); malloc'd. */
char *jk_key_public_b64(EVP_PKEY *key, jk_err_t *err);
/* A public-key object from base64 of the raw 32 bytes. */
EVP_PKEY *jk_key_from_public_b64(const char *b64, jk_err_t *err);
/* The same for an X25519 public key (an operator's encryption key, to seal answers to). */
EVP_PKEY *jk_key_from_public_b64_x25519(const char *b64, jk_err_t *err);
/* The key id: 16 hex digits. */
int jk_key_id(EVP_PKEY *key, char out[17], jk_err_t *err);

/* mkdir -p with the given mode for each directory created. */
int jk_mkdirs(const char *path, int mode, jk_err_t *err);

#endif
