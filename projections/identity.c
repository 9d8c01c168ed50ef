/* identity.c: the logic checks of DOMAIN.md applied to one person's record (see identity.h).
 *
 * The projector (from PostgreSQL) and the replayer (from memory) both hand a person's state and
 * one parsed change to jk_identity_apply and store what comes back, so the identity file and
 * every replay of it follow the same rules. A rejection allocates nothing: out->next is only
 * filled when the outcome is JK_APPLIED.
 *
 * Details go back to the municipality's clerk: they say what was refused and why, with codes,
 * reasons and dates, but never a name or an address (they are stored unencrypted). */
#include "jukilog/identity.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jk_person_free(jk_person_t *p)
{
    if (p == NULL) return;
    free(p->name);
    free(p->name_kana);
    free(p->address);
    p->name = p->name_kana = p->address = NULL;
}

int jk_person_copy(jk_person_t *dst, const jk_person_t *src)
{
    *dst = *src;
    dst->name = dst->name_kana = dst->address = NULL;
    if ((src->name && (dst->name = strdup(src->name)) == NULL) ||
        (src->name_kana && (dst->name_kana = strdup(src->name_kana)) == NULL) ||
        (src->address && (dst->address = strdup(src->address)) == NULL)) {
        jk_person_free(dst);
        return -1;
    }
    return 0;
}

static int finish(jk_apply_out_t *out, jk_outcome_t outcome, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int finish(jk_apply_out_t *out, jk_outcome_t outcome, const char *code, const char *fmt, ...)
{
    out->outcome = outcome;
    out->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->detail, sizeof out->detail, fmt, ap);
    va_end(ap);
    return 0;
}

#define reject(out, code, ...) finish(out, JK_REJECTED, code, __VA_ARGS__)

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* Replaces an owned string by a copy of v (NULL allowed). Returns 0, or -1 out of memory. */
static int set_str(char **dst, const char *v)
{
    char *copy = NULL;
    if (v && (copy = strdup(v)) == NULL) return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

/* The bookkeeping every accepted change writes, whatever its kind. */
static void stamp(jk_person_t *n, const jk_apply_in_t *in)
{
    snprintf(n->reason, sizeof n->reason, "%s", in->change->reason->code);
    memcpy(n->effective_date, in->change->effective_date, sizeof n->effective_date);
    n->version = (in->cur ? in->cur->version : 0) + 1;
    snprintf(n->event_id, sizeof n->event_id, "%s", nz(in->event_id));
    n->broker_ms = in->broker_ms;
}

/* "resident at 352039" or "removed at 352039 (death on 2026-03-01)": where cur stands. */
static const char *where(const jk_person_t *p, char *buf, size_t n)
{
    if (p->status == JK_RESIDENT)
        snprintf(buf, n, "resident at %s", p->municipality_code);
    else
        snprintf(buf, n, "removed at %s (%s on %s)", p->municipality_code, p->reason,
                 p->effective_date);
    return buf;
}

static int apply_create(const jk_apply_in_t *in, jk_apply_out_t *out)
{
    const jk_change_t *ch = in->change;
    const jk_person_t *cur = in->cur;
    const char *r = ch->reason->code;
    char buf[96];

    /* A birth brings a resident code never used before; any record under it, even a removed
     * one, means the CS reused a code. */
    if (cur && strcmp(r, "birth") == 0)
        return reject(out, "code_exists",
                      "birth with resident code %s, which is already in the identity file (%s): "
                      "a newborn gets a new resident code",
                      ch->resident_code, where(cur, buf, sizeof buf));
    if (cur && cur->status == JK_RESIDENT && strcmp(cur->municipality_code, in->sender) == 0)
        return reject(out, "already_resident",
                      "%s at %s for %s, who is already resident there (last change: %s on %s)", r,
                      in->sender, ch->resident_code, cur->reason, cur->effective_date);

    jk_person_t *n = &out->next;
    memcpy(n->resident_code, ch->resident_code, sizeof n->resident_code);
    memcpy(n->my_number, ch->my_number, sizeof n->my_number);
    memcpy(n->birth_date, ch->birth_date, sizeof n->birth_date);
    memcpy(n->sex, ch->sex, sizeof n->sex);
    memcpy(n->municipality_code, ch->municipality_code, sizeof n->municipality_code);
    if (set_str(&n->name, nz(ch->name)) || set_str(&n->name_kana, ch->name_kana) ||
        set_str(&n->address, nz(ch->address))) {
        jk_person_free(n);
        memset(n, 0, sizeof *n);
        return -1;
    }
    n->status = JK_RESIDENT;
    /* Check 3: a move_in while still resident elsewhere moves the record and remembers where
     * from, so that the old municipality's move_out, arriving later, is recognised. */
    if (cur && cur->status == JK_RESIDENT)
        memcpy(n->previous_municipality, cur->municipality_code, sizeof n->previous_municipality);
    stamp(n, in);
    out->outcome = JK_APPLIED;
    return 0;
}

static int apply_remove(const jk_apply_in_t *in, jk_apply_out_t *out)
{
    const jk_change_t *ch = in->change;
    const jk_person_t *cur = in->cur;
    const char *r = ch->reason->code;
    char buf[96];

    if (cur == NULL)
        return reject(out, "unknown_resident",
                      "%s at %s for %s: no person with this resident code in the identity file", r,
                      in->sender, ch->resident_code);
    /* Check 3, the other half: the person already moved on (and may since have been removed
     * there), so the old municipality's remove is accepted and changes nothing. */
    if (cur->previous_municipality[0] && strcmp(in->sender, cur->previous_municipality) == 0 &&
        strcmp(cur->municipality_code, in->sender) != 0) {
        if (strcmp(cur->reason, "move_in") == 0)
            return finish(out, JK_SUPERSEDED, NULL,
                          "%s from %s superseded: the person moved in at %s on %s", r, in->sender,
                          cur->municipality_code, cur->effective_date);
        return finish(out, JK_SUPERSEDED, NULL,
                      "%s from %s superseded: the person has since moved to %s (last change "
                      "there: %s on %s)",
                      r, in->sender, cur->municipality_code, cur->reason, cur->effective_date);
    }
    if (cur->status != JK_RESIDENT || strcmp(cur->municipality_code, in->sender) != 0)
        return reject(out, "not_resident_here", "%s from %s for %s, who is not resident there (%s)",
                      r, in->sender, ch->resident_code, where(cur, buf, sizeof buf));

    /* The record stays, marked removed: inquiries about removed persons still find it. */
    if (jk_person_copy(&out->next, cur) != 0) {
        memset(&out->next, 0, sizeof out->next);
        return -1;
    }
    out->next.status = JK_REMOVED;
    stamp(&out->next, in);
    out->outcome = JK_APPLIED;
    return 0;
}

/* The record's fields in the order a refusal names them, as bits and names. */
static const struct {
    unsigned bit;
    const char *name;
} field_order[] = {
    {JK_F_MY_NUMBER, "my_number"},
    {JK_F_NAME, "name"},
    {JK_F_NAME_KANA, "name_kana"},
    {JK_F_BIRTH_DATE, "birth_date"},
    {JK_F_SEX, "sex"},
    {JK_F_ADDRESS, "address"},
    {JK_F_MUNICIPALITY, "municipality_code"},
    {JK_F_RESIDENT_CODE, "resident_code"},
};
#define N_FIELD_ORDER (sizeof field_order / sizeof field_order[0])

/* Which fields of cur the change would alter. A modify carries the full record after the
 * change, so a present field that differs is a change. name_kana is optional: its absence
 * means "no kana" only when the reason may change the kana; otherwise the kana is kept. */
static unsigned differences(const jk_change_t *ch, const jk_person_t *cur)
{
    unsigned d = 0;
    if (ch->my_number[0] && strcmp(ch->my_number, cur->my_number) != 0) d |= JK_F_MY_NUMBER;
    if (ch->name && strcmp(ch->name, nz(cur->name)) != 0) d |= JK_F_NAME;
    if (ch->name_kana ? cur->name_kana == NULL || strcmp(ch->name_kana, cur->name_kana) != 0
                      : cur->name_kana != NULL && (ch->reason->changeable & JK_F_NAME_KANA))
        d |= JK_F_NAME_KANA;
    if (ch->birth_date[0] && strcmp(ch->birth_date, cur->birth_date) != 0) d |= JK_F_BIRTH_DATE;
    if (ch->sex[0] && strcmp(ch->sex, cur->sex) != 0) d |= JK_F_SEX;
    if (ch->address && strcmp(ch->address, nz(cur->address)) != 0) d |= JK_F_ADDRESS;
    if (strcmp(ch->municipality_code, cur->municipality_code) != 0) d |= JK_F_MUNICIPALITY;
    if (ch->new_resident_code[0] && strcmp(ch->new_resident_code, cur->resident_code) != 0)
        d |= JK_F_RESIDENT_CODE;
    return d;
}

/* "the address", "the name and name_kana", ...: what a reason may change, for a detail. */
static const char *changeable_text(unsigned bits, char *buf, size_t n)
{
    size_t count = 0, total = 0, used;
    for (size_t i = 0; i < N_FIELD_ORDER; i++)
        total += (bits & field_order[i].bit) != 0;
    used = (size_t)snprintf(buf, n, "the");
    for (size_t i = 0; i < N_FIELD_ORDER && used < n; i++) {
        if (!(bits & field_order[i].bit)) continue;
        count++;
        const char *sep = count == 1 ? " " : count == total ? " and " : ", ";
        used += (size_t)snprintf(buf + used, n - used, "%s%s", sep, field_order[i].name);
    }
    if (total == 0) snprintf(buf, n, "nothing");
    return buf;
}

static int apply_modify(const jk_apply_in_t *in, jk_apply_out_t *out)
{
    const jk_change_t *ch = in->change;
    const jk_person_t *cur = in->cur;
    const jk_reason_t *r = ch->reason;
    char buf[128];

    if (cur == NULL)
        return reject(out, "unknown_resident",
                      "%s at %s for %s: no person with this resident code in the identity file",
                      r->code, in->sender, ch->resident_code);
    if (cur->status != JK_RESIDENT)
        return reject(out, "unknown_resident",
                      "%s at %s for %s: the record was removed at %s (%s on %s); a person who "
                      "returns is sent as a create",
                      r->code, in->sender, ch->resident_code, cur->municipality_code, cur->reason,
                      cur->effective_date);
    if (strcmp(cur->municipality_code, in->sender) != 0)
        return reject(out, "not_resident_here",
                      "%s from %s for %s, who is resident at %s: only that municipality may "
                      "modify the record; a move between municipalities is move_in and move_out",
                      r->code, in->sender, ch->resident_code, cur->municipality_code);
    if ((r->changeable & JK_F_RESIDENT_CODE) && ch->new_resident_code[0] == '\0')
        return reject(out, "invalid_format", "%s for %s carries no new_resident_code", r->code,
                      ch->resident_code);

    /* Check 2. Unreachable for the municipality after the checks above, and kept so that the
     * rule does not depend on their order. */
    unsigned d = differences(ch, cur), bad = d & ~r->changeable;
    for (size_t i = 0; bad && i < N_FIELD_ORDER; i++) {
        if (!(bad & field_order[i].bit)) continue;
        if (field_order[i].bit == JK_F_MUNICIPALITY)
            return reject(out, "field_not_changeable",
                          "%s cannot change municipality_code from %s to %s: a move between "
                          "municipalities is sent as move_in and move_out",
                          r->code, cur->municipality_code, ch->municipality_code);
        return reject(out, "field_not_changeable", "%s may change only %s, but \"%s\" differs",
                      r->code, changeable_text(r->changeable, buf, sizeof buf),
                      field_order[i].name);
    }
    if ((d & JK_F_RESIDENT_CODE) && in->target != NULL)
        return reject(out, "code_exists",
                      "%s from %s to %s: the new code is already in the identity file (%s)",
                      r->code, ch->resident_code, ch->new_resident_code,
                      where(in->target, buf, sizeof buf));

    jk_person_t *n = &out->next;
    if (jk_person_copy(n, cur) != 0) goto oom;
    if (d & JK_F_MY_NUMBER) memcpy(n->my_number, ch->my_number, sizeof n->my_number);
    if (d & JK_F_BIRTH_DATE) memcpy(n->birth_date, ch->birth_date, sizeof n->birth_date);
    if (d & JK_F_SEX) memcpy(n->sex, ch->sex, sizeof n->sex);
    if (d & JK_F_RESIDENT_CODE) {
        memcpy(n->resident_code, ch->new_resident_code, sizeof n->resident_code);
        out->renamed = 1;
    }
    if (((d & JK_F_NAME) && set_str(&n->name, ch->name)) ||
        ((d & JK_F_NAME_KANA) && set_str(&n->name_kana, ch->name_kana)) ||
        ((d & JK_F_ADDRESS) && set_str(&n->address, ch->address))) {
        jk_person_free(n);
        goto oom;
    }
    stamp(n, in);
    out->outcome = JK_APPLIED;
    return 0;
oom:
    memset(n, 0, sizeof *n);
    out->renamed = 0;
    return -1;
}

int jk_identity_apply(const jk_apply_in_t *in, jk_apply_out_t *out)
{
    memset(out, 0, sizeof *out);
    const jk_change_t *ch = in->change;
    if (ch->reason == NULL)
        return reject(out, "invalid_format", "change for %s carries no reason", ch->resident_code);
    /* Check 5 first: a CS's key speaks for its own municipality only, whatever the change. */
    const char *sender = nz(in->sender);
    if (strcmp(ch->municipality_code, sender) != 0)
        return reject(out, "wrong_municipality",
                      "%s for municipality %s was sent by the CS of %.8s: a CS may only send "
                      "changes for its own municipality",
                      ch->reason->code, ch->municipality_code, sender);

    jk_apply_in_t copy = *in;
    copy.sender = sender;
    switch (ch->reason->kind) {
    case JK_CREATE:
        return apply_create(&copy, out);
    case JK_REMOVE:
        return apply_remove(&copy, out);
    case JK_MODIFY:
        return apply_modify(&copy, out);
    }
    return reject(out, "invalid_format", "change for %s has a reason of unknown kind",
                  ch->resident_code);
}
