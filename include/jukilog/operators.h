/* operators.h: the operator registry, a projection of the admin topic.
 *
 * operator.registered / operator.revoked / purpose.granted events, signed by the prefecture's
 * admin key, say who may use the system, from which department, with which role and keys, and
 * which purposes they may cite, from which broker time on. The registry answers "could this
 * operator make this request at this broker time", so that the provider checks each inquiry
 * as of its own position in the log, also when the log is replayed years later (DESIGN.md
 * "Inquiries"). Like keyreg.h, an event at broker time t holds for every query at t or later.
 *
 * No I/O and no signatures: the caller hands in events it has already verified as the admin's.
 *
 *   operator.registered {"operator":"ID","department":"DEPT","role":"staff|bulk|admin",
 *                        "signing_key":"<b64 Ed25519 public>","encryption_key":"<b64 X25519>"}
 *   operator.revoked    {"operator":"ID","reason":"..."}
 *   purpose.granted     {"operator":"ID","purposes":["code",...]}
 *
 * A registration (also of an ID registered before) starts a new period with no purposes; a
 * revocation ends the current period; a grant replaces the purposes of the current period. */
#ifndef JUKILOG_OPERATORS_H
#define JUKILOG_OPERATORS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "jukilog/envelope.h"
#include "jukilog/err.h"

typedef struct jk_operators jk_operators_t;

/* An operator as of some broker time. Strings are owned by the registry and stay valid until the
 * next jk_operators_apply or jk_operators_free. */
typedef struct jk_operator_view {
    const char *id;
    const char *department;
    const char *role;            /* "staff" | "bulk" | "admin" */
    const char *signing_key;     /* base64 of the Ed25519 public key */
    const char *encryption_key;  /* base64 of the X25519 public key */
    int64_t registered_ms;       /* start of the registration period in force */
    const char *const *purposes; /* granted at that time, in the grant's order */
    size_t n_purposes;
} jk_operator_view_t;

jk_operators_t *jk_operators_new(void);
void jk_operators_free(jk_operators_t *ops);

/* Applies one admin event at broker time broker_ms. Returns 0 when applied, 1 when it is not an
 * operator event (left to other projections), -1 when refused (malformed data, revoking an
 * operator that is not registered, granting to one that is not) with the reason in err; a
 * refused event changes nothing. */
int jk_operators_apply(jk_operators_t *ops, const jk_envelope_t *ev, int64_t broker_ms,
                       jk_err_t *err);

/* Whether operator_id could, at broker_ms, cite purpose (NULL: not asked) in a request that needs
 * needed_role ("staff", "bulk", "admin"; NULL: not asked). Returns 0 when allowed, -1 with
 * *refusal set to "unknown_operator" (never registered at or before broker_ms), "revoked"
 * (registered before but not at broker_ms), "role_not_allowed" or "purpose_not_allowed" (checked
 * in that order). out (may be NULL) is filled whenever the operator was registered at broker_ms,
 * also when the request is refused for its role or purpose. Role rule: admin may do everything,
 * bulk may make staff and bulk requests, staff only staff requests. */
int jk_operators_check(const jk_operators_t *ops, const char *operator_id, int64_t broker_ms,
                       const char *purpose, const char *needed_role, jk_operator_view_t *out,
                       const char **refusal);

/* Calls fn for each operator registered at broker_ms, sorted by id; stops at the first non-zero
 * return and returns it (0 when all were visited, -1 when memory runs out before any). */
int jk_operators_foreach_as_of(const jk_operators_t *ops, int64_t broker_ms,
                               int (*fn)(const jk_operator_view_t *op, void *ctx), void *ctx);

/* The data objects of the three events, for the admin who writes them (NULL on bad arguments or
 * out of memory; the event is still checked in full when applied). */
json_t *jk_operators_registered_data(const char *id, const char *department, const char *role,
                                     const char *signing_key, const char *encryption_key);
json_t *jk_operators_revoked_data(const char *id, const char *reason);
json_t *jk_operators_granted_data(const char *id, const char *const *purposes, size_t n);

#endif
