/* change.h: the change record a municipal CS sends (DESIGN.md "External interface", DOMAIN.md
 * "The identity record" and "Change reasons"), and the CS-side checks on it.
 *
 * One JSON object per line: resident_code, my_number, reason, effective_date, name, name_kana,
 * birth_date, sex, address, municipality_code, optional notified_at (RFC 3339) and, for
 * resident_code_change, new_resident_code. A create or modify carries the full record after
 * the change; a remove carries at least resident_code, reason, effective_date and
 * municipality_code (other fields, when present, are checked all the same).
 *
 * The same checks run in `cs send` (so a CS learns of its mistakes at once) and again in the
 * projector (so a faulty or hostile CS cannot slip a malformed record past the prefecture). */
#ifndef JUKILOG_CHANGE_H
#define JUKILOG_CHANGE_H

#include <stdint.h>
#include <jansson.h>

#include "jukilog/util.h"

/* Fields of the record, as bits: what a reason may change. */
enum {
    JK_F_RESIDENT_CODE = 1u << 0,
    JK_F_MY_NUMBER = 1u << 1,
    JK_F_NAME = 1u << 2,
    JK_F_NAME_KANA = 1u << 3,
    JK_F_BIRTH_DATE = 1u << 4,
    JK_F_SEX = 1u << 5,
    JK_F_ADDRESS = 1u << 6,
    JK_F_MUNICIPALITY = 1u << 7,
    JK_F_ALL = (1u << 8) - 1,
};

typedef enum jk_reason_kind { JK_CREATE, JK_REMOVE, JK_MODIFY } jk_reason_kind_t;

typedef struct jk_reason {
    const char *code;     /* "move_in" */
    const char *japanese; /* "転入" */
    jk_reason_kind_t kind;
    unsigned changeable; /* JK_F_* bits a modify may change; JK_F_ALL for creates, 0 for removes */
} jk_reason_t;

/* The reason with that code, or NULL. */
const jk_reason_t *jk_reason_find(const char *code);
/* All reasons, in the order of DOMAIN.md; *n receives the count. */
const jk_reason_t *jk_reasons(size_t *n);

typedef struct jk_change {
    const jk_reason_t *reason;
    char resident_code[12];
    char new_resident_code[12]; /* resident_code_change only; "" otherwise */
    char my_number[13];         /* "" when absent (removes) */
    char *name;                 /* NULL when absent */
    char *name_kana;            /* NULL when absent (optional everywhere) */
    char birth_date[11];        /* YYYY-MM-DD or "" */
    char sex[2];                /* "1" | "2" | "" */
    char *address;              /* NULL when absent */
    char municipality_code[7];
    char effective_date[11];
    char notified_at[JK_TIME_LEN]; /* canonical RFC 3339 (UTC, ms) or "" when absent */
} jk_change_t;

/* Why a record was refused: one of the codes of DESIGN.md ("invalid_format",
 * "wrong_municipality", "future_date" on the CS side), the field at fault, and a sentence. */
typedef struct jk_problem {
    const char *code;
    char field[32];
    char detail[256];
} jk_problem_t;

typedef struct jk_change_ctx {
    const char *prefecture;   /* "35": addresses must begin with its name (山口県) */
    const char *municipality; /* the sending CS's municipality code; NULL: do not check */
} jk_change_ctx_t;

/* Parses and checks one record: known reason; required fields for its kind; no unknown fields;
 * formats (digit codes with valid check digits, dates that exist, sex "1"/"2", name_kana in
 * full-width katakana with long vowel mark, middle dot and ideographic (U+3000) spaces, non-empty
 * name of at most 100 characters, address beginning with the prefecture's name), birth date not
 * after the effective date, municipality_code equal to ctx->municipality (wrong_municipality),
 * new_resident_code present exactly for resident_code_change and different from resident_code,
 * effective date not after the date of notified_at in Japan time (future_date).
 * Returns 0 with *out filled (free with jk_change_free), or -1 with *pb filled (pb->code
 * "out_of_memory" when memory runs out: not the record's fault). */
int jk_change_parse(const json_t *rec, const jk_change_ctx_t *ctx, jk_change_t *out,
                    jk_problem_t *pb);
void jk_change_free(jk_change_t *ch);

/* The record as a JSON object with only the fields present, in the form jk_change_parse
 * accepts (what goes into an identity.changed event's data). */
json_t *jk_change_to_json(const jk_change_t *ch);

/* The prefecture's name in kanji ("35" -> "山口県"), or NULL for an unknown code. */
const char *jk_prefecture_name(const char *code);

/* The calendar date (YYYY-MM-DD) in Japan time (UTC+9) of a time in ms. */
void jk_jst_date(int64_t ms, char out[11]);

#endif
