/* identity_event.h: from an identity.changed event to a change the state machine can apply,
 * and from a person's state to the line the identity file is exported as.
 *
 * The projector and replay both go through jk_identity_check_event before
 * jk_identity_apply, so that they reject the same events for the same reasons. */
#ifndef JUKILOG_IDENTITY_EVENT_H
#define JUKILOG_IDENTITY_EVENT_H

#include <jansson.h>

#include "jukilog/change.h"
#include "jukilog/envelope.h"
#include "jukilog/identity.h"

/* Checks an event (already verified as signed by its source) read from the identity topic:
 * type identity.changed, source a municipal CS ("cs:<code>"), data a valid change record of
 * that CS's municipality in the prefecture, subject equal to the resident code. Returns 0 with
 * *ch filled (jk_change_free), or -1 with *pb filled. */
int jk_identity_check_event(const jk_envelope_t *ev, const char *prefecture, jk_change_t *ch,
                            jk_problem_t *pb);

/* A person as one line of the exported identity file (DESIGN.md, `jukilog replay`): the fields
 * of the change record plus status, reason, effective_date and version, in that order. */
json_t *jk_person_to_json(const jk_person_t *p);

/* Prints the line for p to out (compact, keys in the order above, UTF-8 as is). */
int jk_person_print(FILE *out, const jk_person_t *p);

#endif
