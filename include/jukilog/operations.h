/* operations.h: the events of the operations topic, the lawful use of the identity file.
 *
 * A terminal never touches the database (DESIGN.md "Inquiries"): it signs a request with the
 * operator's key and appends it to the operations topic; the provider decides it as of the
 * request's position in the log and appends a provision or a refusal before anything is shown.
 * This module is the pure part of that exchange: it builds and checks the events' data, derives
 * the record's id from the request's, and seals answers. No Kafka, no database.
 *
 * Requests: source "op:<operator id>", signed with the operator's key (registered by
 * operator.registered on the admin topic), Kafka key and subject = the request's event id.
 *
 *   request.inquiry    {"operator":"ID","purpose":"b5.passport","query":Q,"limit":100}
 *                      Q is one of {"resident_code":"..."}, {"my_number":"..."}, or two or more
 *                      of {"name","birth_date","sex","address"} (the 4 information)
 *   request.disclosure {"operator":"ID","purpose":"disclosure.self","resident_code":"..."}
 *   request.bulk       {"operator":"ID","purpose":"ord.scholarship","conditions_sha256":"<64 hex
 *                      of the conditions file>","count":N,"conditions":[C,...]}
 *                      C is {"line":N,"my_number":"..."} or {"line":N,"name","birth_date",
 *                      "sex","address"} (all four)
 *
 * Records: source "provider:<pref>", Kafka key and subject = the request's id, event id
 * jk_operations_record_id(request id), so that deciding a request again (after a crash, or in
 * `provider --rebuild`) gives a copy with the same id, which readers drop.
 *
 *   provision.inquiry | provision.disclosure | provision.bulk
 *     {"request_id","request_type":"inquiry|disclosure|bulk","operator","department","purpose",
 *      "category":"betsu5|betsu6|ordinance|disclosure|statistics","request_time":"<RFC 3339 ms,
 *      the request's broker time>","national":false,"residents":["<resident code>",...],
 *      "items":["resident_code","my_number",...],"count":N,"answer":SEALED}
 *     bulk adds "matched":N,"unmatched":N; national is true when the persons were found in the
 *     national projection (an inquiry to the national server), not in this prefecture's file.
 *   refusal.inquiry | refusal.disclosure | refusal.bulk
 *     {"request_id","request_type","operator","department" (or null when unknown),"purpose",
 *      "category" (or null),"request_time","reason":R,"detail":"...","residents":[...]}
 *     R: unknown_operator, revoked, role_not_allowed, purpose_not_allowed, bad_signature,
 *     not_found, invalid_request. residents names the persons the request would have touched
 *     when the provider can tell (so a resident sees refused attempts too), else [].
 *
 * SEALED is the answer's personal data encrypted to the operator's X25519 key (seal.h):
 *     {"epk":"<b64>","nonce":"<b64>","ct":"<b64 with the GCM tag>"} with the request id as
 *     associated data. The plaintext is a JSON object: {"records":[...]} for an inquiry (each
 *     record as the change record plus status, reason, effective_date, version, "national"),
 *     plus "history" and "provisions" for a disclosure, and {"results":[...]} for a bulk. */
#ifndef JUKILOG_OPERATIONS_H
#define JUKILOG_OPERATIONS_H

#include <stddef.h>
#include <jansson.h>

#include "jukilog/err.h"

#define JK_INQUIRY_LIMIT 100 /* persons an inquiry answers at most, unless it asks for fewer */

/* The items a provision gives (the identity record and its change information). */
extern const char *const jk_operations_items[];
extern const size_t jk_operations_n_items;

/* The record's id for a request id: the first 32 hex digits of SHA-256("answer:" id). */
void jk_operations_record_id(const char *request_id, char out[33]);

/* Checks a request event's type and data; on failure err names the field. Returns 0 or -1.
 * *kind is set to "inquiry", "disclosure" or "bulk". */
int jk_operations_check_request(const char *type, const json_t *data, const char **kind,
                                jk_err_t *err);

/* Checks one field of a query or condition by its name: codes with their check digits, dates,
 * sex; other fields at most 400 bytes. where prefixes the message ("data.query"). */
int jk_operations_check_field(const char *where, const char *field, const char *v, jk_err_t *err);

/* Checks a query object: exactly one of resident_code, my_number, or the 4 information (at least
 * two of them, or all four when need_all_four), each well formed; no other field. */
int jk_operations_check_query(const json_t *q, const char *where, int need_all_four, jk_err_t *err);

#endif
