/* keyreg.h: the key registry, a projection of the admin topic.
 *
 * key.registered / key.revoked events, signed by the prefecture's admin key, say which public
 * key speaks for which source from which broker time on. The registry answers "which key was
 * valid for this source at this broker time", so that an event is checked against the key
 * registered before it on the log, also when the log is replayed years later.
 *
 * The admin key is the trust anchor: the admin topic's first event registers it (self-signed),
 * and a caller that holds the admin public key from $JUKILOG_HOME pins it. */
#ifndef JUKILOG_KEYREG_H
#define JUKILOG_KEYREG_H

#include <stdint.h>
#include <openssl/evp.h>

#include "jukilog/envelope.h"
#include "jukilog/err.h"

typedef struct jk_keyreg jk_keyreg_t;

/* A broker time after every registration and revocation read so far: "as of now". */
#define JK_KEYREG_NOW (INT64_MAX - 1)

/* anchor: the admin public key to trust (not owned; may be NULL to trust the topic's first
 * admin self-registration). */
jk_keyreg_t *jk_keyreg_new(EVP_PKEY *anchor);
void jk_keyreg_free(jk_keyreg_t *kr);

/* Applies one event read from the admin topic at broker time broker_ms. Returns 0 when applied,
 * 1 when the event is not a key event (left to other projections), -1 when refused (bad
 * signature, not signed by the admin, malformed data) with the reason in err. */
int jk_keyreg_apply(jk_keyreg_t *kr, const jk_envelope_t *ev, int64_t broker_ms, jk_err_t *err);

/* The key valid for source at broker time broker_ms (registered at or before it and not revoked
 * at or before it), or NULL. Owned by the registry. */
EVP_PKEY *jk_keyreg_lookup(const jk_keyreg_t *kr, const char *source, int64_t broker_ms);

/* Verifies ev's signature with the key valid for its source at broker_ms. The error says
 * whether no key was registered or the signature did not hold. */
int jk_keyreg_verify(const jk_keyreg_t *kr, const jk_envelope_t *ev, int64_t broker_ms,
                     jk_err_t *err);
/* The same over ev's canonical form already at hand (jk_envelope_verify_canonical). */
int jk_keyreg_verify_canonical(const jk_keyreg_t *kr, const jk_envelope_t *ev, int64_t broker_ms,
                               const char *canonical, size_t n, jk_err_t *err);

/* Broker time of the last applied admin event (0 when none). */
int64_t jk_keyreg_last_ms(const jk_keyreg_t *kr);

/* The data object of a key.registered / key.revoked event. */
json_t *jk_keyreg_registered_data(const char *source, EVP_PKEY *key, jk_err_t *err);
json_t *jk_keyreg_revoked_data(const char *source, const char *key_id);

#endif
