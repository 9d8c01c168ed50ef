/* consistency.h: the consistency check (本人確認情報整合, DOMAIN.md duty 6) as pure functions:
 * normalising records, hashing them into buckets, digesting each bucket, finding the buckets
 * that differ, comparing the records of those buckets, and printing the report for a clerk.
 *
 * The exchange on the consistency topic (key: municipality code):
 *   consistency.submitted  (CS)          municipality, snapshot, buckets, records, identity_seq,
 *                                        digests (base64 of buckets x 16 bytes)
 *   consistency.requested  (prefecture)  submission, as_of, buckets: the buckets that differ
 *   consistency.records    (CS)          submission, chunk, chunks, records of those buckets
 *   consistency.reported   (prefecture)  submission, as_of, counts, only_in_municipality,
 *                                        only_in_prefecture, differences, gaps
 *   consistency.refused    (prefecture)  submission, event, type, reason: a submitted or
 *                                        records event that is not well formed
 * Both sides normalise a record the same way (jk_consistency_line), so equal records give equal
 * bytes, and a bucket's digest is the sum (mod 2^128) of its records' truncated SHA-256: the same
 * whatever order the records are read in, so both sides stream their records once, keeping
 * 16 bytes per bucket. No I/O here besides the FILE a caller hands to jk_consistency_print. */
#ifndef JUKILOG_CONSISTENCY_H
#define JUKILOG_CONSISTENCY_H

#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "jukilog/change.h"
#include "jukilog/err.h"

#define JK_CONSISTENCY_DIGEST 16         /* bytes of a bucket's digest */
#define JK_CONSISTENCY_MAX_BUCKETS 65536 /* 1 MB of digests: the submission stays one event */

/* The fields compared, in the order a report lists them. */
enum {
    JK_CF_RESIDENT_CODE,
    JK_CF_MY_NUMBER,
    JK_CF_NAME,
    JK_CF_NAME_KANA,
    JK_CF_BIRTH_DATE,
    JK_CF_SEX,
    JK_CF_ADDRESS,
    JK_CF_MUNICIPALITY_CODE,
    JK_CF_REASON,
    JK_CF_EFFECTIVE_DATE,
    JK_CF_N,
};
extern const char *const jk_consistency_fields[JK_CF_N];

/* The bucket count for a municipality of n records: a power of two near n/32, at least 16 and
 * at most JK_CONSISTENCY_MAX_BUCKETS. A digest costs about 21 bytes on the wire (base64) and a
 * record about 350; with d differences the bytes sent are about 21*B + d*(n/B)*350, smallest
 * at n/B = sqrt(0.06 n/d), which is 15..30 records a bucket for the usual few differences in
 * ten thousand; and it stays near that as municipalities grow. */
uint32_t jk_consistency_bucket_count(size_t n);

/* The bucket of a resident code: the first 4 bytes of SHA-256(code), big-endian, mod buckets
 * (a power of two). Hashing spreads codes evenly whatever their digits. */
uint32_t jk_consistency_bucket(const char *resident_code, uint32_t buckets);

/* A normalised record: an object holding the fields of jk_consistency_fields that are present
 * (name_kana may be absent), each a string. From values in field order (NULL: absent). */
json_t *jk_consistency_record(const char *const values[JK_CF_N]);

/* The normalised record of a snapshot line, already checked by jk_change_parse: the record
 * after the person's last change; for resident_code_change the record is under the new code.
 * A remove cannot be in a snapshot of residents: -1 with *pb filled (invalid_format). */
json_t *jk_consistency_from_change(const jk_change_t *ch, jk_problem_t *pb);

/* Checks a record received from the log: an object with only the known fields, every value a
 * string, resident_code 11 digits. */
int jk_consistency_check_record(const json_t *rec, jk_err_t *err);

/* The record's canonical bytes: keys sorted, compact, UTF-8 as is. malloc'd. */
char *jk_consistency_line(const json_t *rec);

/* The digests of one side: buckets x JK_CONSISTENCY_DIGEST bytes, all zero when empty. */
typedef struct jk_digests {
    uint32_t buckets;
    unsigned char *sum;
    size_t records;
} jk_digests_t;

int jk_digests_init(jk_digests_t *d, uint32_t buckets);
void jk_digests_free(jk_digests_t *d);
/* Adds one record (its code and canonical line) to its bucket. */
void jk_digests_add(jk_digests_t *d, const char *resident_code, const char *line);
/* All digests as one base64 string (malloc'd), and back: the count must match. */
char *jk_digests_encode(const jk_digests_t *d);
int jk_digests_decode(const char *b64, uint32_t buckets, jk_digests_t *out, jk_err_t *err);
/* The buckets whose digests differ, ascending, into out (room for a->buckets); their count.
 * Both must have the same bucket count. */
size_t jk_digests_differ(const jk_digests_t *a, const jk_digests_t *b, uint32_t *out);

/* Compares the records of the municipality and of the prefecture (arrays of normalised
 * records, any order; each side's codes unique). The result:
 *   {"only_in_municipality":[{"resident_code","name"}...],
 *    "only_in_prefecture":[{"resident_code","name"}...],
 *    "differences":[{"resident_code","field","municipality","prefecture"}...]}
 * sorted by resident code, differences in field order; an absent value is null. NULL when
 * memory runs out. */
json_t *jk_consistency_diff(const json_t *municipality, const json_t *prefecture);

/* Prints a consistency.reported event's data as a clerk reads it: a heading, then one line per
 * finding with what differs, both values and what to do. Returns 0, or -1 on a write error. */
int jk_consistency_print(FILE *out, const json_t *report);

#endif
