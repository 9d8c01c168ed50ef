/* envelope.h: the signed event that is the only thing ever written to the log.
 *
 *   {"v":1,"id":"<32 hex>","type":"identity.changed","source":"cs:352039","seq":42,
 *    "prev":"<64 hex>","time":"2026-04-02T00:15:00.000Z","subject":"24727059608",
 *    "data":{...},"sig":"<base64>"}
 *
 * The canonical form is the object without "sig", keys sorted, compact, UTF-8 as is; the event's
 * hash is SHA-256 of the canonical form, and "sig" is Ed25519 over the same bytes. "prev" is the
 * hash of the source's previous event (64 zeros for seq 1). Values are strings, integers,
 * booleans, null, objects and arrays: never floating-point numbers. */
#ifndef JUKILOG_ENVELOPE_H
#define JUKILOG_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "jukilog/err.h"
#include "jukilog/util.h"

#define JK_ENVELOPE_VERSION 1
#define JK_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct jk_envelope {
    int v;
    char id[33];
    char *type;    /* "identity.changed": lower-case words joined by '.' or '_' */
    char *source;  /* "cs:352039": kind ':' name */
    int64_t seq;   /* 1, 2, ... per source */
    char prev[65]; /* hash of the source's previous event */
    char time[JK_TIME_LEN];
    char *subject; /* NULL when the event has none (admin events may omit it) */
    json_t *data;  /* always an object; owned */
    char *sig;     /* base64; NULL until signed */
} jk_envelope_t;

/* A new unsigned event with a random id, v=1 and the time now; seq 0 and prev zeros until a
 * producer chains it. Takes ownership of data (which must be an object). NULL on failure. */
jk_envelope_t *jk_envelope_new(const char *type, const char *source, const char *subject,
                               json_t *data, jk_err_t *err);
void jk_envelope_free(jk_envelope_t *ev);

/* Parses and validates one event: every field present with its type and format, no unknown
 * fields, known version, no floating-point numbers anywhere. The message names the field.
 * Does not verify the signature. */
jk_envelope_t *jk_envelope_parse(const char *buf, size_t len, jk_err_t *err);
/* Checks the fields of an event built in memory, as jk_envelope_parse does (sig optional). */
int jk_envelope_validate(const jk_envelope_t *ev, jk_err_t *err);

/* The canonical form (no "sig"); malloc'd NUL-terminated string, NULL on failure. */
char *jk_envelope_canonical(const jk_envelope_t *ev, jk_err_t *err);
/* The full event with "sig", keys sorted, compact: what goes on the wire. malloc'd. */
char *jk_envelope_serialize(const jk_envelope_t *ev, jk_err_t *err);
/* SHA-256 of the canonical form as 64 lower-case hex digits. */
int jk_envelope_hash(const jk_envelope_t *ev, char out[65], jk_err_t *err);
/* The same for an event parsed from buf (ev = jk_envelope_parse(buf, len)): when buf is the
 * event exactly as jk_envelope_serialize writes it, hashed from buf's bytes with "sig" cut out,
 * without dumping the event again; otherwise as jk_envelope_hash. The result is the same.
 * With canonical not NULL, the text cut out (malloc'd, NUL-terminated, n bytes: the canonical
 * form of the event parsed from buf) is handed over for the signature's check, or NULL when
 * buf's form was not recognised (a string with an escape in it is left to the slow path) or
 * memory ran out. With canonical NULL nothing is copied. */
int jk_envelope_hash_wire(const jk_envelope_t *ev, const char *buf, size_t len, char out[65],
                          char **canonical, size_t *n, jk_err_t *err);

/* Signs the canonical form with an Ed25519 private key, replacing any earlier sig. */
int jk_envelope_sign(jk_envelope_t *ev, EVP_PKEY *key, jk_err_t *err);
/* What a producer does with each event, from one encoding of it: signs it (jk_envelope_sign),
 * puts its hash in hash (jk_envelope_hash) and returns it as jk_envelope_serialize would
 * (malloc'd), byte for byte. NULL on failure. */
char *jk_envelope_sign_serialize(jk_envelope_t *ev, EVP_PKEY *key, char hash[65], jk_err_t *err);
/* Verifies sig against an Ed25519 public (or private) key: 0 when it holds, -1 otherwise with
 * the reason in err. */
int jk_envelope_verify(const jk_envelope_t *ev, EVP_PKEY *key, jk_err_t *err);
/* The same over ev's canonical form already at hand (n bytes; NULL: made from ev), as
 * jk_envelope_hash_wire hands it over for the message ev was parsed from. */
int jk_envelope_verify_canonical(const jk_envelope_t *ev, EVP_PKEY *key, const char *canonical,
                                 size_t n, jk_err_t *err);

/* SHA-256 of arbitrary bytes as hex (used for key ids, file digests). */
int jk_sha256_hex(const void *buf, size_t len, char out[65]);

/* For the projections of admin events: an error "<type> <id> from <source> refused: <why>"
 * (returns -1), and the string field name of data, which must have exactly nfields fields
 * (NULL otherwise). */
int jk_envelope_refuse(jk_err_t *err, const jk_envelope_t *ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *jk_envelope_data_string(const json_t *data, size_t nfields, const char *name);

#endif
