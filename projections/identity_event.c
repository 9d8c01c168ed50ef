/* identity_event.c: the checks between an identity event and the state machine, and the
 * exported form of a person (see identity_event.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/identity_event.h"

int jk_identity_check_event(const jk_envelope_t *ev, const char *prefecture, jk_change_t *ch,
                            jk_problem_t *pb)
{
    memset(pb, 0, sizeof *pb);
    memset(ch, 0, sizeof *ch);
    pb->code = "invalid_format";
    if (strcmp(ev->type, "identity.changed") != 0) {
        snprintf(pb->detail, sizeof pb->detail,
                 "an event of type %s does not belong on the identity topic", ev->type);
        return -1;
    }
    if (strncmp(ev->source, "cs:", 3) != 0) {
        snprintf(pb->detail, sizeof pb->detail,
                 "identity changes come from a municipal CS, not from %s", ev->source);
        return -1;
    }
    jk_change_ctx_t ctx = {prefecture, ev->source + 3};
    if (jk_change_parse(ev->data, &ctx, ch, pb)) return -1;
    if (!ev->subject || strcmp(ev->subject, ch->resident_code) != 0) {
        jk_change_free(ch);
        memset(pb, 0, sizeof *pb);
        pb->code = "invalid_format";
        snprintf(pb->field, sizeof pb->field, "subject");
        snprintf(pb->detail, sizeof pb->detail,
                 "the event's subject %s is not its resident_code %s",
                 ev->subject ? ev->subject : "(none)", ch->resident_code);
        return -1;
    }
    return 0;
}

json_t *jk_person_to_json(const jk_person_t *p)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "resident_code", json_string(p->resident_code));
    json_object_set_new(o, "my_number", json_string(p->my_number));
    json_object_set_new(o, "name", json_string(p->name ? p->name : ""));
    if (p->name_kana) json_object_set_new(o, "name_kana", json_string(p->name_kana));
    json_object_set_new(o, "birth_date", json_string(p->birth_date));
    json_object_set_new(o, "sex", json_string(p->sex));
    json_object_set_new(o, "address", json_string(p->address ? p->address : ""));
    json_object_set_new(o, "municipality_code", json_string(p->municipality_code));
    json_object_set_new(o, "status",
                        json_string(p->status == JK_RESIDENT ? "resident" : "removed"));
    json_object_set_new(o, "reason", json_string(p->reason));
    json_object_set_new(o, "effective_date", json_string(p->effective_date));
    json_object_set_new(o, "version", json_integer(p->version));
    return o;
}

int jk_person_print(FILE *out, const jk_person_t *p)
{
    json_t *o = jk_person_to_json(p);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    int rc = s && fprintf(out, "%s\n", s) > 0 ? 0 : -1;
    free(s);
    json_decref(o);
    return rc;
}
