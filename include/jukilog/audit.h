/* audit.h: the pure rules of the audit views and of the yearly out-of-purpose sample
 * (DOMAIN.md "Controls": every use recorded, a yearly sample checked by staff other than the
 * user).
 *
 * Time: the prefecture reports per fiscal year (April to March) and judges office hours in Japan
 * Standard Time (UTC+9, no daylight saving), from the request's broker time.
 *
 * The sample: a provision record is drawn when HMAC-SHA256(key = seed, message = its event id),
 * read as a big-endian 64-bit number h, satisfies h < R * 2^64 (R a decimal fraction in [0, 1],
 * compared exactly, without floating point). Nothing else enters the rule, so anyone holding
 * the log and the seed draws the same sample whatever order, partitions or batches they read in.
 * Stratification: a department with provisions in the year but none drawn gets its record with
 * the smallest h (ties: the smaller id). Each drawn record goes to the eligible reviewer (not
 * its operator, not of its department) with the smallest HMAC(seed, record id || reviewer id)
 * (ties: the smaller reviewer id). No I/O: callers hand in the year's provisions. */
#ifndef JUKILOG_AUDIT_H
#define JUKILOG_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "jukilog/err.h"

#define JK_AUDIT_OFFICE_FROM 8 /* office hours in JST: [08:00, 20:00) */
#define JK_AUDIT_OFFICE_TO 20
#define JK_AUDIT_MULTIPLE_DEFAULT "3" /* daily count flagged above 3 x the department's median */

/* The fiscal year (April to March, in JST) of a broker time in ms since the epoch: 2025 for
 * 2025-04-01T00:00 JST up to 2026-03-31T23:59:59.999 JST. */
int jk_audit_fiscal_year(int64_t ms);
/* The hour of the day (0..23) in JST, and whether it is outside office hours. */
int jk_audit_jst_hour(int64_t ms);
int jk_audit_off_hours(int64_t ms);
/* The JST calendar date as "YYYY-MM-DD" (out must hold 11 bytes). */
void jk_audit_jst_date(int64_t ms, char out[11]);

/* The category a use is counted under in the yearly statistics: "bulk" for a bulk request,
 * "national" for an answer from the national server, else the purpose's category (betsu5,
 * betsu6, ordinance, disclosure, statistics), or "unknown" when that is NULL. */
const char *jk_audit_stats_category(const char *request_type, int national, const char *category);

/* A sampling rate: num / den with den a power of ten, 0 <= num <= den. */
typedef struct jk_audit_rate {
    uint64_t num, den;
} jk_audit_rate_t;

/* Parses "0", "1", "0.05", "1.0", ".5" (at most 18 digits after the point). The error says why. */
int jk_audit_rate_parse(const char *s, jk_audit_rate_t *rate, jk_err_t *err);

/* The first 8 bytes of HMAC-SHA256(key = seed, message = a || b) as a big-endian number
 * (b may be NULL). */
uint64_t jk_audit_hash(const char *seed, const char *a, const char *b);

/* True when h < rate * 2^64, exactly. */
int jk_audit_below(uint64_t h, const jk_audit_rate_t *rate);

/* One provision of the year, as the sample sees it. */
typedef struct jk_audit_use {
    const char *id; /* the provision record's event id (unique) */
    const char *operator;
    const char *department;
} jk_audit_use_t;

typedef struct jk_audit_reviewer {
    const char *id;
    const char *department;
} jk_audit_reviewer_t;

/* A drawn record: uses[use], its hash, whether it is there for its department only, and
 * reviewers[reviewer]. */
typedef struct jk_audit_pick {
    size_t use;
    uint64_t hash;
    int stratified;
    size_t reviewer;
} jk_audit_pick_t;

/* Draws the sample of uses[0..n) with the rule above. *out (malloc'd, sorted by the record's id)
 * and *nout are set on success. Fails, naming the record, its operator and department, when no
 * reviewer is eligible for a drawn record. */
int jk_audit_draw(const char *seed, const jk_audit_rate_t *rate, const jk_audit_use_t *uses,
                  size_t n, const jk_audit_reviewer_t *reviewers, size_t n_reviewers,
                  jk_audit_pick_t **out, size_t *nout, jk_err_t *err);

/* The reviewers file: CSV with the header "reviewer,department" and one line per reviewer (ids
 * and departments as the operator registry writes them: [a-z0-9_.-], [a-z0-9_]), no repeated
 * reviewer. Returns the list (strings owned by it, free with jk_audit_reviewers_free) or NULL,
 * the error naming the line. */
jk_audit_reviewer_t *jk_audit_reviewers_parse(const char *text, size_t len, size_t *n,
                                              jk_err_t *err);
void jk_audit_reviewers_free(jk_audit_reviewer_t *r, size_t n);

#endif
