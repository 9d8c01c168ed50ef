/* identity.h: the prefecture's identity file as a pure state machine (DOMAIN.md "Logic checks").
 *
 *   (person's state, change, sender, event) -> applied (new state) | superseded | rejected
 *
 * No I/O: the projector hands in states it loaded from PostgreSQL, replay hands in states it
 * keeps in memory; both call jk_identity_apply, so they cannot disagree. */
#ifndef JUKILOG_IDENTITY_H
#define JUKILOG_IDENTITY_H

#include <stdint.h>

#include "jukilog/change.h"

typedef enum jk_status { JK_RESIDENT, JK_REMOVED } jk_status_t;

/* A person's current record in the identity file. Strings are owned (jk_person_free). */
typedef struct jk_person {
    char resident_code[12];
    char my_number[13];
    char *name;
    char *name_kana; /* NULL when none */
    char birth_date[11];
    char sex[2];
    char *address;
    char municipality_code[7];
    jk_status_t status;
    char reason[32];         /* of the last accepted change */
    char effective_date[11]; /* of the last accepted change */
    /* The municipality the person was resident in before the last move to another
     * municipality of the prefecture ("" if none): a later move_out from there is superseded. */
    char previous_municipality[7];
    int64_t version;   /* accepted changes so far, 1 for the first */
    char event_id[33]; /* of the last accepted change */
    int64_t broker_ms; /* broker time of the last accepted change */
} jk_person_t;

typedef enum jk_outcome {
    JK_APPLIED,    /* next holds the new state */
    JK_SUPERSEDED, /* accepted, changes nothing (a move_out after the move_in elsewhere) */
    JK_REJECTED,   /* code and detail say why; nothing changes */
} jk_outcome_t;

typedef struct jk_apply_in {
    const jk_change_t *change;
    const char *sender;        /* municipality code of the CS whose key signed the event */
    const jk_person_t *cur;    /* state under change->resident_code, NULL if never known */
    const jk_person_t *target; /* resident_code_change: state under new_resident_code, or NULL */
    const char *event_id;
    int64_t broker_ms;
} jk_apply_in_t;

typedef struct jk_apply_out {
    jk_outcome_t outcome;
    const char *code; /* rejection code of DESIGN.md, or NULL */
    char detail[256]; /* a sentence for the CS: what and why */
    jk_person_t next; /* APPLIED: the new state (for resident_code_change, under the new code);
                         owned by the caller once returned: free with jk_person_free */
    int renamed;      /* APPLIED resident_code_change: the person moved from cur's code */
} jk_apply_out_t;

/* Applies one change. The rules, in order:
 *  - change->municipality_code != sender: wrong_municipality (logic check 5)
 *  - create: birth with a known resident code (any status): code_exists; a person resident in
 *    the sender's municipality: already_resident (check 1); otherwise applied: the record is
 *    (re)created at the sender's municipality, and when the person was resident in another
 *    municipality of the prefecture that one becomes previous_municipality (check 3: the
 *    move_in moves the record)
 *  - remove: unknown person: unknown_resident; resident in the sender's municipality: applied
 *    (status removed, fields kept); a move_out from previous_municipality after the person moved
 *    on: superseded (check 3); otherwise not_resident_here (check 4)
 *  - modify: unknown person, or removed: unknown_resident; resident elsewhere:
 *    not_resident_here; a field outside the reason's changeable set differs from the current
 *    record: field_not_changeable, naming the field (check 2); relocation must keep the
 *    municipality; resident_code_change to a code that exists: code_exists; otherwise applied.
 * Returns 0; -1 only when memory runs out. */
int jk_identity_apply(const jk_apply_in_t *in, jk_apply_out_t *out);

void jk_person_free(jk_person_t *p);
/* A deep copy of src into dst. */
int jk_person_copy(jk_person_t *dst, const jk_person_t *src);

#endif
