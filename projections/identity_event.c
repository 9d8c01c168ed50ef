/* identity_event.c: the checks between an identity event and the state machine, and the
 * exported form of a person (see identity_event.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/identity_event.h"
#include "jukilog/util.h"

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

/* --- the line written straight ---------------------------------------------------------------
 *
 * A replay or an export writes one line per person ever known; building a jansson object per
 * line and dumping it was a sixth of a replay's time. The line is written here directly, byte
 * for byte what json_dumps(jk_person_to_json(p), JSON_COMPACT | JSON_PRESERVE_ORDER) writes:
 * jansson escapes '"', '\\' and control characters (\b \f \n \r \t, others as \u%04X) and
 * writes every other character as it is. It does so only for valid UTF-8, and json_string
 * refuses anything else (the field would be left out), so a person with a string that is not
 * valid UTF-8, or a line that does not fit the buffer, goes through jansson as before. */

struct line {
    char buf[8192];
    size_t n;
    int full;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->full || n > sizeof l->buf - l->n) {
        l->full = 1;
        return;
    }
    memcpy(l->buf + l->n, s, n);
    l->n += n;
}

/* Valid UTF-8 as jansson checks it (jk_utf8_len). */
static int utf8_valid(const unsigned char *s)
{
    for (size_t n = strlen((const char *)s), k; n > 0; s += k, n -= k)
        if ((k = jk_utf8_len(s, n)) == 0) return 0;
    return 1;
}

static void put_string(struct line *l, const char *s)
{
    put(l, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c != '"' && c != '\\' && c >= 0x20) continue;
        put(l, run, (size_t)(s - run));
        run = s + 1;
        char esc[8];
        const char *e = c == '"'    ? "\\\""
                        : c == '\\' ? "\\\\"
                        : c == '\b' ? "\\b"
                        : c == '\f' ? "\\f"
                        : c == '\n' ? "\\n"
                        : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t"
                                    : NULL;
        if (!e) {
            snprintf(esc, sizeof esc, "\\u%04X", c);
            e = esc;
        }
        put(l, e, strlen(e));
    }
    put(l, run, (size_t)(s - run));
    put(l, "\"", 1);
}

static void put_field(struct line *l, const char *key, const char *value)
{
    put(l, ",\"", 2);
    put(l, key, strlen(key));
    put(l, "\":", 2);
    put_string(l, value);
}

static int print_json(FILE *out, const jk_person_t *p)
{
    json_t *o = jk_person_to_json(p);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    int rc = s && fprintf(out, "%s\n", s) > 0 ? 0 : -1;
    free(s);
    json_decref(o);
    return rc;
}

int jk_person_print(FILE *out, const jk_person_t *p)
{
    const char *name = p->name ? p->name : "", *address = p->address ? p->address : "";
    const char *const texts[] = {p->resident_code,
                                 p->my_number,
                                 name,
                                 p->birth_date,
                                 p->sex,
                                 address,
                                 p->municipality_code,
                                 p->reason,
                                 p->effective_date,
                                 p->name_kana ? p->name_kana : ""};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (!utf8_valid((const unsigned char *)texts[i])) return print_json(out, p);
    struct line l;
    l.n = l.full = 0;
    put(&l, "{\"resident_code\":", 17);
    put_string(&l, p->resident_code);
    put_field(&l, "my_number", p->my_number);
    put_field(&l, "name", name);
    if (p->name_kana) put_field(&l, "name_kana", p->name_kana);
    put_field(&l, "birth_date", p->birth_date);
    put_field(&l, "sex", p->sex);
    put_field(&l, "address", address);
    put_field(&l, "municipality_code", p->municipality_code);
    put_field(&l, "status", p->status == JK_RESIDENT ? "resident" : "removed");
    put_field(&l, "reason", p->reason);
    put_field(&l, "effective_date", p->effective_date);
    char v[48];
    int nv = snprintf(v, sizeof v, ",\"version\":%lld}\n", (long long)p->version);
    put(&l, v, (size_t)nv);
    if (l.full) return print_json(out, p);
    return fwrite(l.buf, 1, l.n, out) == l.n ? 0 : -1;
}
