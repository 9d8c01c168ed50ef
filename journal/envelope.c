/* envelope.c: the signed event of envelope.h: building, validating, parsing, the canonical form,
 * hashing, signing and verifying.
 *
 * Every consumer calls jk_envelope_parse on every message, so validation is strict and its
 * messages name the field: an event refused here is recorded as invalid_format with this text.
 * The canonical form is what is hashed and signed; jansson's JSON_SORT_KEYS | JSON_COMPACT makes
 * it unique for a given content because events carry no floating-point numbers (whose spelling
 * would vary) and strings are dumped as UTF-8, escaping only what JSON requires. */
#include "jukilog/envelope.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "jukilog/util.h"

#define TYPE_MAX 64
#define SOURCE_MAX 64
#define SUBJECT_MAX 128
#define SIG_LEN 64

/* The fields of an event in the order they are checked; v first, so that an event of a future
 * version is reported as such rather than by whichever new field it carries. */
static const char *const fields[] = {"v",    "id",      "type", "source", "seq", "prev",
                                     "time", "subject", "data", "sig",    NULL};

/* --- field checks, shared by parse and validate ------------------------------------------- */

static int check_id(const char *s, jk_err_t *err)
{
    if (!jk_is_hex(s, 32)) return jk_err_set(err, "field \"id\": must be 32 lower-case hex digits");
    return 0;
}

static int check_type(const char *s, jk_err_t *err)
{
    /* Words of [a-z0-9_] joined by single dots: no empty word, so no leading, trailing or
     * doubled dot. */
    size_t n = strlen(s);
    int ok = n > 0 && n <= TYPE_MAX && s[0] != '.' && s[n - 1] != '.';
    for (size_t i = 0; ok && i < n; i++) {
        char c = s[i];
        if (c == '.')
            ok = s[i + 1] != '.';
        else
            ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    }
    if (!ok)
        return jk_err_set(err,
                          "field \"type\": must be words of [a-z0-9_] joined by '.', at most %d "
                          "characters",
                          TYPE_MAX);
    return 0;
}

static int check_source(const char *s, jk_err_t *err)
{
    size_t n = strlen(s), kind = 0;
    while (s[kind] >= 'a' && s[kind] <= 'z')
        kind++;
    int ok = n <= SOURCE_MAX && kind > 0 && s[kind] == ':' && s[kind + 1] != '\0';
    for (size_t i = kind + 1; ok && i < n; i++) {
        char c = s[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '.' || c == '-';
    }
    if (!ok)
        return jk_err_set(err,
                          "field \"source\": must be kind:name (kind [a-z]+, name "
                          "[A-Za-z0-9_.-]+), at most %d characters",
                          SOURCE_MAX);
    return 0;
}

static int check_seq(int64_t seq, jk_err_t *err)
{
    if (seq < 1) return jk_err_set(err, "field \"seq\": must be an integer >= 1");
    return 0;
}

static int check_prev(const char *s, jk_err_t *err)
{
    if (!jk_is_hex(s, 64))
        return jk_err_set(err, "field \"prev\": must be 64 lower-case hex digits");
    return 0;
}

static int check_time(const char *s, jk_err_t *err)
{
    /* strnlen first: in memory, time is a fixed buffer that a caller may have left unended. */
    if (strnlen(s, JK_TIME_LEN) != 24 || !jk_time_is_canonical(s))
        return jk_err_set(err, "field \"time\": must be a valid UTC time written as "
                               "YYYY-MM-DDTHH:MM:SS.mmmZ");
    return 0;
}

/* A subject is a key (resident code, request id, ...): printable, since it also becomes a Kafka
 * key and a column; the length is counted in bytes. */
static int check_subject(const char *s, jk_err_t *err)
{
    size_t n = strlen(s);
    int ok = n > 0 && n <= SUBJECT_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)s[i] >= 0x20 && s[i] != 0x7f;
    if (!ok)
        return jk_err_set(err,
                          "field \"subject\": must be 1 to %d bytes without control characters",
                          SUBJECT_MAX);
    return 0;
}

/* Walks data looking for reals; path is the position so far ("data.a.b[2]"). The path is cut
 * short if it does not fit: the message stays useful, and the walk stays bounded by jansson's
 * own nesting limit. */
static int check_no_real(const json_t *j, char *path, size_t len, size_t cap, jk_err_t *err)
{
    if (json_is_real(j)) return jk_err_set(err, "%s is a floating-point number", path);
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            snprintf(path + len, cap - len, ".%s", k);
            size_t l = strlen(path);
            if (check_no_real(v, path, l, cap, err)) return -1;
            path[len] = '\0';
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            snprintf(path + len, cap - len, "[%zu]", i);
            size_t l = strlen(path);
            if (check_no_real(v, path, l, cap, err)) return -1;
            path[len] = '\0';
        }
    }
    return 0;
}

/* Whether j holds a real anywhere: the walk above, without writing paths, which only a refusal
 * needs. */
static int has_real(const json_t *j)
{
    if (json_is_real(j)) return 1;
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, k, v)
        {
            if (has_real(v)) return 1;
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            if (has_real(v)) return 1;
        }
    }
    return 0;
}

static int check_data(const json_t *data, jk_err_t *err)
{
    if (!json_is_object(data)) return jk_err_set(err, "field \"data\": must be an object");
    if (!has_real(data)) return 0;
    char path[256] = "data";
    return check_no_real(data, path, strlen(path), sizeof path, err);
}

static int check_sig(const char *s, jk_err_t *err)
{
    unsigned char *raw;
    size_t n;
    if (jk_b64_decode(s, &raw, &n) != 0)
        return jk_err_set(err, "field \"sig\": must be base64 of %d bytes", SIG_LEN);
    free(raw);
    if (n != SIG_LEN) return jk_err_set(err, "field \"sig\": must be base64 of %d bytes", SIG_LEN);
    return 0;
}

/* --- building and freeing ----------------------------------------------------------------- */

jk_envelope_t *jk_envelope_new(const char *type, const char *source, const char *subject,
                               json_t *data, jk_err_t *err)
{
    jk_envelope_t *ev = NULL;
    if (type == NULL || source == NULL) {
        jk_err_set(err, "an event needs a type and a source");
        goto fail;
    }
    if (check_type(type, err) || check_source(source, err) ||
        (subject != NULL && check_subject(subject, err)) || check_data(data, err))
        goto fail;
    ev = calloc(1, sizeof *ev);
    if (ev == NULL) {
        jk_err_set(err, "out of memory");
        goto fail;
    }
    ev->v = JK_ENVELOPE_VERSION;
    ev->seq = 0;
    memcpy(ev->prev, JK_ZERO_HASH, sizeof ev->prev);
    jk_time_format(jk_now_ms(), ev->time);
    ev->data = data;
    data = NULL; /* owned by ev from here on */
    if (jk_random_id(ev->id) != 0) {
        jk_err_set(err, "cannot draw a random event id");
        goto fail;
    }
    ev->type = strdup(type);
    ev->source = strdup(source);
    ev->subject = subject ? strdup(subject) : NULL;
    if (!ev->type || !ev->source || (subject && !ev->subject)) {
        jk_err_set(err, "out of memory");
        goto fail;
    }
    return ev;
fail:
    json_decref(data);
    jk_envelope_free(ev);
    return NULL;
}

void jk_envelope_free(jk_envelope_t *ev)
{
    if (ev == NULL) return;
    free(ev->type);
    free(ev->source);
    free(ev->subject);
    free(ev->sig);
    json_decref(ev->data);
    free(ev);
}

int jk_envelope_validate(const jk_envelope_t *ev, jk_err_t *err)
{
    if (ev->v != JK_ENVELOPE_VERSION) return jk_err_set(err, "unknown envelope version %d", ev->v);
    if (ev->type == NULL) return jk_err_set(err, "field \"type\": missing");
    if (ev->source == NULL) return jk_err_set(err, "field \"source\": missing");
    if (ev->data == NULL) return jk_err_set(err, "field \"data\": missing");
    if (check_id(ev->id, err) || check_type(ev->type, err) || check_source(ev->source, err) ||
        check_seq(ev->seq, err) || check_prev(ev->prev, err) || check_time(ev->time, err) ||
        (ev->subject && check_subject(ev->subject, err)) || check_data(ev->data, err) ||
        (ev->sig && check_sig(ev->sig, err)))
        return -1;
    return 0;
}

/* --- messages in canonical form -----------------------------------------------------------
 *
 * Every jukilog producer writes jk_envelope_serialize's bytes: the canonical form with "sig" in
 * its sorted place. Such a message can be read without jansson's general parser (which copies
 * every byte through a buffer of its own, a third of a replay's time), and its canonical form is
 * the message with the sig member cut out, so that its hash needs no dump of the event. The
 * reader below accepts a message only when it is exactly what json_dumps(JSON_SORT_KEYS |
 * JSON_COMPACT) writes for the value it holds, and it builds the same tree json_loadb would;
 * anything else (white space, another key order, an escape, "-0", invalid UTF-8, an integer out
 * of range, deep nesting, a value jansson refuses) is left to jansson, whose answers, errors
 * included, stay what they were. The form it accepts:
 *   - no white space;
 *   - strings with no backslash and no control character, valid UTF-8 as jansson checks it
 *     (utf8_check_first and utf8_check_full: no overlong form, no surrogate, <= U+10FFFF);
 *     jansson writes '"', '\\' and control characters escaped and anything else as it is, so
 *     such a string is written byte for byte;
 *   - object keys in strictly increasing order of their bytes (jansson's compare_keys: memcmp,
 *     then the shorter first), so no key twice;
 *   - integers as "%lld" writes them (no leading zero, no "-0") within int64; a '.', 'e' or 'E'
 *     after the digits is a real, left to jansson (and refused by parse_root);
 *   - true, false, null; objects and arrays compact, "{}" and "[]" when empty. */

#define WIRE_DEPTH 32 /* deeper than any event; deeper messages are left to jansson */

struct wire {
    const char *s;
    size_t n, i;
};

static int wire_value(struct wire *w, int depth, json_t **out);

/* A string token with no escape; its bytes (without quotes) in *str, *len. */
static int wire_string(struct wire *w, const char **str, size_t *len)
{
    if (w->i >= w->n || w->s[w->i] != '"') return 0;
    size_t start = ++w->i;
    while (w->i < w->n && w->s[w->i] != '"') {
        unsigned char c = (unsigned char)w->s[w->i];
        if (c == '\\' || c < 0x20) return 0;
        if (c < 0x80) {
            w->i++;
            continue;
        }
        size_t k = jk_utf8_len((const unsigned char *)w->s + w->i, w->n - w->i);
        if (k == 0) return 0;
        w->i += k;
    }
    if (w->i >= w->n) return 0;
    *str = w->s + start;
    *len = w->i - start;
    w->i++;
    return 1;
}

static int wire_literal(struct wire *w, const char *lit, json_t *val, json_t **out)
{
    size_t n = strlen(lit);
    if (w->n - w->i < n || memcmp(w->s + w->i, lit, n) != 0) return 0;
    w->i += n;
    if (out) *out = val;
    return 1;
}

static int wire_integer(struct wire *w, json_t **out)
{
    int neg = w->i < w->n && w->s[w->i] == '-';
    if (neg) w->i++;
    size_t digits = w->i;
    uint64_t v = 0;
    /* Up to 2^63 for a negative number, 2^63 - 1 otherwise. */
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    while (w->i < w->n && w->s[w->i] >= '0' && w->s[w->i] <= '9') {
        unsigned d = (unsigned)(w->s[w->i] - '0');
        if (v > (limit - d) / 10) return 0; /* out of range: jansson says how */
        v = v * 10 + d;
        w->i++;
    }
    size_t nd = w->i - digits;
    if (nd == 0 || (nd > 1 && w->s[digits] == '0') || (neg && v == 0)) return 0;
    /* What follows must end the value: a '.', 'e' or 'E' would make it a real. */
    if (w->i < w->n && w->s[w->i] != ',' && w->s[w->i] != '}' && w->s[w->i] != ']') return 0;
    if (out) {
        json_int_t iv =
            neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(json_int_t)v) : (json_int_t)v;
        if (!(*out = json_integer(iv))) return 0;
    }
    return 1;
}

/* Keys strictly increasing as jansson sorts them. */
static int key_after(const char *prev, size_t plen, const char *key, size_t klen)
{
    int c = memcmp(prev, key, plen < klen ? plen : klen);
    return c < 0 || (c == 0 && plen < klen);
}

/* An object; when sig_from is not NULL (the top level), the span of the member "sig" with the
 * comma that joins it to its neighbours, in [*sig_from, *sig_to). */
static int wire_object(struct wire *w, int depth, json_t **out, size_t *sig_from, size_t *sig_to)
{
    json_t *obj = NULL;
    if (out && !(obj = json_object())) return 0;
    w->i++; /* '{' */
    if (w->i < w->n && w->s[w->i] == '}') {
        w->i++;
        if (out) *out = obj;
        return 1;
    }
    const char *prev = NULL;
    size_t plen = 0;
    for (int first = 1;; first = 0) {
        size_t member = w->i;
        const char *key;
        size_t klen;
        json_t *val = NULL;
        if (!wire_string(w, &key, &klen) || (prev && !key_after(prev, plen, key, klen)) ||
            w->i >= w->n || w->s[w->i++] != ':' || !wire_value(w, depth + 1, out ? &val : NULL))
            break;
        if (obj && json_object_setn_new_nocheck(obj, key, klen, val) != 0) break;
        int sig = sig_from && klen == 3 && memcmp(key, "sig", 3) == 0;
        if (sig) {
            /* ",\"sig\":..." after another member; "\"sig\":...," when it is the first. */
            *sig_from = first ? member : member - 1;
            *sig_to = w->i;
        }
        prev = key;
        plen = klen;
        if (w->i >= w->n) break;
        char c = w->s[w->i++];
        if (sig && first && c == ',') *sig_to = w->i;
        if (c == '}') {
            if (out) *out = obj;
            return 1;
        }
        if (c != ',') break;
    }
    json_decref(obj);
    return 0;
}

static int wire_array(struct wire *w, int depth, json_t **out)
{
    json_t *arr = NULL;
    if (out && !(arr = json_array())) return 0;
    w->i++; /* '[' */
    if (w->i < w->n && w->s[w->i] == ']') {
        w->i++;
        if (out) *out = arr;
        return 1;
    }
    for (;;) {
        json_t *val = NULL;
        if (!wire_value(w, depth + 1, out ? &val : NULL)) break;
        if (arr && json_array_append_new(arr, val) != 0) break;
        if (w->i >= w->n) break;
        char c = w->s[w->i++];
        if (c == ']') {
            if (out) *out = arr;
            return 1;
        }
        if (c != ',') break;
    }
    json_decref(arr);
    return 0;
}

static int wire_value(struct wire *w, int depth, json_t **out)
{
    if (depth > WIRE_DEPTH || w->i >= w->n) return 0;
    const char *str;
    size_t len;
    switch (w->s[w->i]) {
    case '{':
        return wire_object(w, depth, out, NULL, NULL);
    case '[':
        return wire_array(w, depth, out);
    case '"':
        if (!wire_string(w, &str, &len)) return 0;
        return !out || (*out = json_stringn_nocheck(str, len)) != NULL;
    case 't':
        return wire_literal(w, "true", json_true(), out);
    case 'f':
        return wire_literal(w, "false", json_false(), out);
    case 'n':
        return wire_literal(w, "null", json_null(), out);
    default:
        return wire_integer(w, out);
    }
}

/* The message as an object when it is in canonical form (*out NULL when out is NULL), with
 * the span of its sig member; 0 when it is not. */
static int wire_read(const char *buf, size_t len, json_t **out, size_t *sig_from, size_t *sig_to)
{
    struct wire w = {buf, len, 0};
    *sig_from = *sig_to = 0;
    if (len == 0 || buf[0] != '{') return 0;
    json_t *root = NULL;
    if (!wire_object(&w, 0, out ? &root : NULL, sig_from, sig_to)) return 0;
    if (w.i != len) {
        json_decref(root);
        return 0;
    }
    if (out) *out = root;
    return 1;
}

/* --- parsing ------------------------------------------------------------------------------ */

/* The string value of a required (or, with optional set, possibly absent) field. */
static int get_string(json_t *root, const char *name, int optional, const char **out, jk_err_t *err)
{
    json_t *j = json_object_get(root, name);
    *out = NULL;
    if (j == NULL) return optional ? 0 : jk_err_set(err, "field \"%s\": missing", name);
    if (!json_is_string(j)) return jk_err_set(err, "field \"%s\": must be a string", name);
    *out = json_string_value(j);
    return 0;
}

static int get_integer(json_t *root, const char *name, json_int_t *out, jk_err_t *err)
{
    json_t *j = json_object_get(root, name);
    if (j == NULL) return jk_err_set(err, "field \"%s\": missing", name);
    if (!json_is_integer(j)) return jk_err_set(err, "field \"%s\": must be an integer", name);
    *out = json_integer_value(j);
    return 0;
}

static int parse_root(json_t *root, jk_envelope_t *ev, jk_err_t *err)
{
    json_int_t v = 0, seq = 0;
    if (get_integer(root, "v", &v, err)) return -1;
    if (v != JK_ENVELOPE_VERSION)
        return jk_err_set(err, "unknown envelope version %lld", (long long)v);

    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        int known = 0;
        for (int i = 0; fields[i] && !known; i++)
            known = strcmp(key, fields[i]) == 0;
        if (!known) return jk_err_set(err, "unknown field \"%s\"", key);
    }

    const char *id, *type, *source, *prev, *time, *subject, *sig;
    if (get_string(root, "id", 0, &id, err) || check_id(id, err) ||
        get_string(root, "type", 0, &type, err) || check_type(type, err) ||
        get_string(root, "source", 0, &source, err) || check_source(source, err))
        return -1;
    if (get_integer(root, "seq", &seq, err)) return -1;
    if (check_seq(seq, err) || get_string(root, "prev", 0, &prev, err) || check_prev(prev, err) ||
        get_string(root, "time", 0, &time, err) || check_time(time, err) ||
        get_string(root, "subject", 1, &subject, err) || (subject && check_subject(subject, err)))
        return -1;
    json_t *data = json_object_get(root, "data");
    if (data == NULL) return jk_err_set(err, "field \"data\": missing");
    if (check_data(data, err) || get_string(root, "sig", 0, &sig, err) || check_sig(sig, err))
        return -1;

    ev->v = (int)v;
    ev->seq = seq;
    memcpy(ev->id, id, sizeof ev->id);
    memcpy(ev->prev, prev, sizeof ev->prev);
    memcpy(ev->time, time, strlen(time) + 1); /* canonical: 24 characters */
    ev->data = json_incref(data);
    ev->type = strdup(type);
    ev->source = strdup(source);
    ev->subject = subject ? strdup(subject) : NULL;
    ev->sig = strdup(sig);
    if (!ev->type || !ev->source || (subject && !ev->subject) || !ev->sig)
        return jk_err_set(err, "out of memory");
    return 0;
}

jk_envelope_t *jk_envelope_parse(const char *buf, size_t len, jk_err_t *err)
{
    /* jansson skips a raw NUL byte between tokens ({"v":1<NUL>} loads), which would let two
     * different messages read as one event; no valid JSON text contains one. */
    const char *nul = memchr(buf, '\0', len);
    if (nul != NULL) {
        jk_err_set(err, "not valid JSON: NUL byte at offset %zu", (size_t)(nul - buf));
        return NULL;
    }
    json_error_t jerr;
    size_t from, to;
    json_t *root = NULL;
    /* JSON_DECODE_ANY so that a bare scalar is reported as "not an object" like an array. */
    if (!wire_read(buf, len, &root, &from, &to))
        root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        jk_err_set(err, "not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                   jerr.column);
        return NULL;
    }
    jk_envelope_t *ev = NULL;
    if (!json_is_object(root)) {
        jk_err_set(err, "not a JSON object");
        goto fail;
    }
    ev = calloc(1, sizeof *ev);
    if (ev == NULL) {
        jk_err_set(err, "out of memory");
        goto fail;
    }
    if (parse_root(root, ev, err) != 0) goto fail;
    json_decref(root);
    return ev;
fail:
    json_decref(root);
    jk_envelope_free(ev);
    return NULL;
}

/* --- canonical form, hash, signature ------------------------------------------------------ */

/* The event as a JSON object, with or without sig. Strings that are not UTF-8 (possible only
 * for events built in memory) make json_string fail, which is reported here. */
static json_t *to_json(const jk_envelope_t *ev, int with_sig, jk_err_t *err)
{
    if (ev->type == NULL || ev->source == NULL || ev->data == NULL)
        return jk_err_set(err, "event is incomplete"), NULL;
    json_t *o = json_object();
    if (o == NULL) return jk_err_set(err, "out of memory"), NULL;
    struct {
        const char *name;
        json_t *val;
        int optional; /* absent (NULL) is fine */
    } kv[] = {
        {"v", json_integer(ev->v), 0},
        {"id", json_string(ev->id), 0},
        {"type", json_string(ev->type), 0},
        {"source", json_string(ev->source), 0},
        {"seq", json_integer(ev->seq), 0},
        {"prev", json_string(ev->prev), 0},
        {"time", json_string(ev->time), 0},
        {"subject", ev->subject ? json_string(ev->subject) : NULL, ev->subject == NULL},
        {"data", json_incref(ev->data), 0},
        {"sig", with_sig && ev->sig ? json_string(ev->sig) : NULL, !with_sig || !ev->sig},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        if (kv[i].val == NULL && kv[i].optional) continue;
        /* json_object_set_new steals the value even when it fails and takes NULL as a failure,
         * so each value is released exactly once. */
        if (rc == 0 && json_object_set_new(o, kv[i].name, kv[i].val) != 0)
            rc =
                jk_err_set(err, "field \"%s\": cannot be encoded as JSON (not UTF-8?)", kv[i].name);
        else if (rc != 0)
            json_decref(kv[i].val);
    }
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static char *dump(const jk_envelope_t *ev, int with_sig, jk_err_t *err)
{
    json_t *o = to_json(ev, with_sig, err);
    if (o == NULL) return NULL;
    char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(o);
    if (s == NULL) jk_err_set(err, "cannot encode the event as JSON");
    return s;
}

char *jk_envelope_canonical(const jk_envelope_t *ev, jk_err_t *err)
{
    return dump(ev, 0, err);
}

char *jk_envelope_serialize(const jk_envelope_t *ev, jk_err_t *err)
{
    return dump(ev, 1, err);
}

/* SHA-256 of the bytes of a followed by those of b, as hex. */
static int sha256_hex2(const void *a, size_t an, const void *b, size_t bn, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, a, an) == 1 && EVP_DigestUpdate(ctx, b, bn) == 1 &&
             EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == sizeof md;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        return -1;
    }
    jk_hex_encode(md, sizeof md, out);
    return 0;
}

int jk_sha256_hex(const void *buf, size_t len, char out[65])
{
    return sha256_hex2(buf, len, "", 0, out);
}

int jk_envelope_hash(const jk_envelope_t *ev, char out[65], jk_err_t *err)
{
    char *c = jk_envelope_canonical(ev, err);
    if (c == NULL) return -1;
    int rc = jk_sha256_hex(c, strlen(c), out);
    free(c);
    if (rc != 0) return jk_err_set(err, "SHA-256 failed");
    return 0;
}

int jk_envelope_hash_wire(const jk_envelope_t *ev, const char *buf, size_t len, char out[65],
                          char **canonical, size_t *n, jk_err_t *err)
{
    size_t from, to;
    if (canonical) *canonical = NULL;
    if (!wire_read(buf, len, NULL, &from, &to) || to <= from) return jk_envelope_hash(ev, out, err);
    /* The canonical form is buf without its sig member: the bytes before it and after it. */
    if (sha256_hex2(buf, from, buf + to, len - to, out) != 0)
        return jk_err_set(err, "SHA-256 failed");
    if (canonical == NULL) return 0;
    size_t cn = len - (to - from);
    char *c = malloc(cn + 1);
    if (c == NULL) return 0; /* the signature's check makes the form again */
    memcpy(c, buf, from);
    memcpy(c + from, buf + to, len - to);
    c[cn] = '\0';
    *canonical = c;
    *n = cn;
    return 0;
}

static int check_ed25519(EVP_PKEY *key, jk_err_t *err)
{
    if (key == NULL || !EVP_PKEY_is_a(key, "ED25519")) return jk_err_set(err, "not an Ed25519 key");
    return 0;
}

/* Signs the canonical form c of ev, setting ev->sig. */
static int sign_canonical(jk_envelope_t *ev, EVP_PKEY *key, const char *c, size_t n, jk_err_t *err)
{
    unsigned char sig[SIG_LEN];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)c, n) == 1 &&
             siglen == SIG_LEN;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        return jk_err_set(err, "Ed25519 signing failed");
    }
    char *b64 = jk_b64_encode(sig, siglen);
    if (b64 == NULL) return jk_err_set(err, "out of memory");
    free(ev->sig);
    ev->sig = b64;
    return 0;
}

int jk_envelope_sign(jk_envelope_t *ev, EVP_PKEY *key, jk_err_t *err)
{
    /* Never sign what a consumer would refuse: the signer is the last place to catch it. */
    if (check_ed25519(key, err) || jk_envelope_validate(ev, err)) return -1;
    char *c = jk_envelope_canonical(ev, err);
    if (c == NULL) return -1;
    int rc = sign_canonical(ev, key, c, strlen(c), err);
    free(c);
    return rc;
}

char *jk_envelope_sign_serialize(jk_envelope_t *ev, EVP_PKEY *key, char hash[65], jk_err_t *err)
{
    if (check_ed25519(key, err) || jk_envelope_validate(ev, err)) return NULL;
    char *c = jk_envelope_canonical(ev, err);
    if (c == NULL) return NULL;
    size_t n = strlen(c);
    char *line = NULL;
    if (sign_canonical(ev, key, c, n, err)) goto out;
    if (jk_sha256_hex(c, n, hash) != 0) {
        jk_err_set(err, "SHA-256 failed");
        goto out;
    }
    /* Keys are sorted, so sig goes just before the top-level source (seq < sig < source). That
     * source is the last `,"source":` of the text: data comes before it, and what follows it
     * (subject, time, type, v) are strings and a number, in which a quote is escaped. */
    static const char at[] = ",\"source\":";
    const char *src = NULL;
    for (const char *q = strstr(c, at); q; q = strstr(q + 1, at))
        src = q;
    if (src == NULL) {
        jk_err_set(err, "cannot encode the event as JSON");
        goto out;
    }
    size_t head = (size_t)(src - c), siglen = strlen(ev->sig);
    line = malloc(n + siglen + sizeof ",\"sig\":\"\"");
    if (line == NULL) {
        jk_err_set(err, "out of memory");
        goto out;
    }
    memcpy(line, c, head);
    char *w = line + head;
    memcpy(w, ",\"sig\":\"", 8);
    memcpy(w + 8, ev->sig, siglen);
    w[8 + siglen] = '"';
    memcpy(w + 9 + siglen, src, n - head + 1);
out:
    free(c);
    return line;
}

int jk_envelope_verify(const jk_envelope_t *ev, EVP_PKEY *key, jk_err_t *err)
{
    return jk_envelope_verify_canonical(ev, key, NULL, 0, err);
}

int jk_envelope_verify_canonical(const jk_envelope_t *ev, EVP_PKEY *key, const char *canonical,
                                 size_t n, jk_err_t *err)
{
    if (check_ed25519(key, err)) return -1;
    if (ev->sig == NULL) return jk_err_set(err, "event is not signed");
    unsigned char *sig;
    size_t siglen;
    if (jk_b64_decode(ev->sig, &sig, &siglen) != 0) sig = NULL;
    if (sig == NULL || siglen != SIG_LEN) {
        free(sig);
        return jk_err_set(err, "sig is not base64 of %d bytes", SIG_LEN);
    }
    char *c = NULL;
    if (canonical == NULL) {
        c = jk_envelope_canonical(ev, err);
        if (c == NULL) {
            free(sig);
            return -1;
        }
        canonical = c;
        n = strlen(c);
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = -2;
    if (ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1)
        rc = EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)canonical, n);
    EVP_MD_CTX_free(ctx);
    free(c);
    free(sig);
    if (rc == 1) return 0;
    /* A failed verification leaves reasons on OpenSSL's queue; they are ours to drop. */
    ERR_clear_error();
    if (rc == -2) return jk_err_set(err, "cannot set up Ed25519 verification");
    return jk_err_set(err, "signature does not verify");
}

int jk_envelope_refuse(jk_err_t *err, const jk_envelope_t *ev, const char *fmt, ...)
{
    char why[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return jk_err_set(err, "%s %s from %s refused: %s", ev->type, ev->id, ev->source, why);
}

const char *jk_envelope_data_string(const json_t *data, size_t nfields, const char *name)
{
    if (!json_is_object(data) || json_object_size(data) != nfields) return NULL;
    return json_string_value(json_object_get(data, name));
}
