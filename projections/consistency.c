/* consistency.c: the pure part of the consistency check (see consistency.h): bucketing,
 * normalising, digesting, diffing and the clerk's report. */
#include "jukilog/consistency.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

#include "jukilog/util.h"

const char *const jk_consistency_fields[JK_CF_N] = {
    "resident_code", "my_number",         "name",   "name_kana",      "birth_date", "sex",
    "address",       "municipality_code", "reason", "effective_date",
};

uint32_t jk_consistency_bucket_count(size_t n)
{
    uint32_t b = 16;
    while (b < JK_CONSISTENCY_MAX_BUCKETS && (size_t)b * 32 < n)
        b *= 2;
    return b;
}

uint32_t jk_consistency_bucket(const char *resident_code, uint32_t buckets)
{
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)resident_code, strlen(resident_code), h);
    uint32_t v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    return v & (buckets - 1);
}

json_t *jk_consistency_record(const char *const values[JK_CF_N])
{
    json_t *o = json_object();
    for (int i = 0; o && i < JK_CF_N; i++)
        if (values[i] && json_object_set_new(o, jk_consistency_fields[i], json_string(values[i]))) {
            json_decref(o);
            o = NULL;
        }
    return o;
}

json_t *jk_consistency_from_change(const jk_change_t *ch, jk_problem_t *pb)
{
    if (ch->reason->kind == JK_REMOVE) {
        pb->code = "invalid_format";
        snprintf(pb->field, sizeof pb->field, "reason");
        snprintf(pb->detail, sizeof pb->detail,
                 "reason %s removes the record: a snapshot lists the municipality's residents, "
                 "each with its last change",
                 ch->reason->code);
        return NULL;
    }
    const char *v[JK_CF_N] = {
        ch->new_resident_code[0] ? ch->new_resident_code : ch->resident_code,
        ch->my_number,
        ch->name,
        ch->name_kana,
        ch->birth_date,
        ch->sex,
        ch->address,
        ch->municipality_code,
        ch->reason->code,
        ch->effective_date,
    };
    json_t *o = jk_consistency_record(v);
    if (!o) {
        pb->code = "out_of_memory";
        snprintf(pb->detail, sizeof pb->detail, "out of memory");
    }
    return o;
}

int jk_consistency_check_record(const json_t *rec, jk_err_t *err)
{
    if (!json_is_object(rec)) return jk_err_set(err, "a record must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)rec, key, v)
    {
        int known = 0;
        for (int i = 0; i < JK_CF_N && !known; i++)
            known = strcmp(key, jk_consistency_fields[i]) == 0;
        if (!known) return jk_err_set(err, "record: unknown field \"%s\"", key);
        if (!json_is_string(v)) return jk_err_set(err, "record: field \"%s\" must be text", key);
    }
    const char *code = json_string_value(json_object_get(rec, "resident_code"));
    if (!code || strlen(code) != 11 || strspn(code, "0123456789") != 11)
        return jk_err_set(err, "record: resident_code must be 11 digits");
    return 0;
}

char *jk_consistency_line(const json_t *rec)
{
    return json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
}

int jk_digests_init(jk_digests_t *d, uint32_t buckets)
{
    memset(d, 0, sizeof *d);
    if (buckets == 0 || buckets > JK_CONSISTENCY_MAX_BUCKETS || (buckets & (buckets - 1)))
        return -1;
    d->sum = calloc(buckets, JK_CONSISTENCY_DIGEST);
    if (!d->sum) return -1;
    d->buckets = buckets;
    return 0;
}

void jk_digests_free(jk_digests_t *d)
{
    free(d->sum);
    memset(d, 0, sizeof *d);
}

void jk_digests_add(jk_digests_t *d, const char *resident_code, const char *line)
{
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)line, strlen(line), h);
    unsigned char *s =
        d->sum + (size_t)jk_consistency_bucket(resident_code, d->buckets) * JK_CONSISTENCY_DIGEST;
    /* s += h (the first 16 bytes, big-endian), mod 2^128 */
    unsigned carry = 0;
    for (int i = JK_CONSISTENCY_DIGEST - 1; i >= 0; i--) {
        unsigned t = (unsigned)s[i] + h[i] + carry;
        s[i] = (unsigned char)t;
        carry = t >> 8;
    }
    d->records++;
}

char *jk_digests_encode(const jk_digests_t *d)
{
    return jk_b64_encode(d->sum, (size_t)d->buckets * JK_CONSISTENCY_DIGEST);
}

int jk_digests_decode(const char *b64, uint32_t buckets, jk_digests_t *out, jk_err_t *err)
{
    memset(out, 0, sizeof *out);
    unsigned char *raw = NULL;
    size_t n = 0;
    if (buckets == 0 || buckets > JK_CONSISTENCY_MAX_BUCKETS || (buckets & (buckets - 1)))
        return jk_err_set(err, "buckets must be a power of two up to %d",
                          JK_CONSISTENCY_MAX_BUCKETS);
    if (jk_b64_decode(b64, &raw, &n)) return jk_err_set(err, "digests: not base64");
    if (n != (size_t)buckets * JK_CONSISTENCY_DIGEST) {
        free(raw);
        return jk_err_set(err, "digests: %zu bytes for %u buckets, expected %zu", n, buckets,
                          (size_t)buckets * JK_CONSISTENCY_DIGEST);
    }
    out->buckets = buckets;
    out->sum = raw;
    return 0;
}

size_t jk_digests_differ(const jk_digests_t *a, const jk_digests_t *b, uint32_t *out)
{
    size_t n = 0;
    for (uint32_t i = 0; i < a->buckets; i++)
        if (memcmp(a->sum + (size_t)i * JK_CONSISTENCY_DIGEST,
                   b->sum + (size_t)i * JK_CONSISTENCY_DIGEST, JK_CONSISTENCY_DIGEST) != 0)
            out[n++] = i;
    return n;
}

static const char *code_of(const json_t *rec)
{
    return json_string_value(json_object_get(rec, "resident_code"));
}

static int by_code(const void *a, const void *b)
{
    return strcmp(code_of(*(json_t *const *)a), code_of(*(json_t *const *)b));
}

/* The records of arr sorted by code (borrowed references). */
static json_t **sorted(const json_t *arr, size_t *n)
{
    *n = json_array_size(arr);
    json_t **v = malloc((*n + 1) * sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < *n; i++)
        v[i] = json_array_get(arr, i);
    qsort(v, *n, sizeof *v, by_code);
    return v;
}

static int who(json_t *list, const json_t *rec)
{
    json_t *name = json_object_get(rec, "name");
    return json_array_append_new(list, json_pack("{s:s, s:O}", "resident_code", code_of(rec),
                                                 "name", name ? name : json_null()));
}

json_t *jk_consistency_diff(const json_t *municipality, const json_t *prefecture)
{
    size_t nm, np;
    json_t **m = sorted(municipality, &nm), **p = sorted(prefecture, &np);
    json_t *only_m = json_array(), *only_p = json_array(), *diffs = json_array();
    json_t *out = NULL;
    int bad = !m || !p || !only_m || !only_p || !diffs;
    size_t i = 0, k = 0;
    while (!bad && (i < nm || k < np)) {
        int c = i == nm ? 1 : k == np ? -1 : strcmp(code_of(m[i]), code_of(p[k]));
        if (c < 0) {
            bad = who(only_m, m[i++]);
        } else if (c > 0) {
            bad = who(only_p, p[k++]);
        } else {
            for (int f = 1; f < JK_CF_N && !bad; f++) {
                json_t *a = json_object_get(m[i], jk_consistency_fields[f]);
                json_t *b = json_object_get(p[k], jk_consistency_fields[f]);
                if (json_equal(a, b) || (!a && !b)) continue;
                bad = json_array_append_new(
                    diffs, json_pack("{s:s, s:s, s:O, s:O}", "resident_code", code_of(m[i]),
                                     "field", jk_consistency_fields[f], "municipality",
                                     a ? a : json_null(), "prefecture", b ? b : json_null()));
            }
            i++, k++;
        }
    }
    if (!bad)
        out = json_pack("{s:o, s:o, s:o}", "only_in_municipality", only_m, "only_in_prefecture",
                        only_p, "differences", diffs);
    else {
        json_decref(only_m);
        json_decref(only_p);
        json_decref(diffs);
    }
    free(m);
    free(p);
    return out;
}

/* What a clerk does about a field that differs. */
static const char *field_action(const char *field)
{
    static const struct {
        const char *field, *action;
    } actions[] = {
        {"my_number", "if the registry is right, send a my_number_change"},
        {"name", "if the registry is right, send a name_change (or an ex_officio_correction)"},
        {"name_kana", "if the registry is right, send a name_change (or an ex_officio_correction)"},
        {"birth_date", "if the registry is right, send an ex_officio_correction"},
        {"sex", "if the registry is right, send an ex_officio_correction"},
        {"address", "if the registry is right, send a relocation (or an ex_officio_correction)"},
        {"municipality_code", "check where the person is registered"},
        {"reason", "the last change differs: check `jukilog cs outcomes` for a rejected change "
                   "and send it again, corrected"},
        {"effective_date", "the last change differs: check `jukilog cs outcomes` for a rejected "
                           "change and send it again, corrected"},
    };
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (strcmp(actions[i].field, field) == 0) return actions[i].action;
    return "check the registry";
}

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

/* A value as the report shows it: quoted, or (none). */
static void show(FILE *out, const json_t *v)
{
    if (json_is_string(v))
        fprintf(out, "\"%s\"", json_string_value(v));
    else
        fputs("(none)", out);
}

int jk_consistency_print(FILE *out, const json_t *r)
{
    fprintf(out, "consistency check of municipality %s, submission %s\n",
            str_or(r, "municipality", "?"), str_or(r, "submission", "?"));
    fprintf(out,
            "compared with the prefecture's file as of %s: %lld records in the municipality, "
            "%lld in the prefecture; %lld of %lld buckets differed\n",
            str_or(r, "as_of", "?"), (long long)json_integer_value(json_object_get(r, "records")),
            (long long)json_integer_value(json_object_get(r, "prefecture_records")),
            (long long)json_integer_value(json_object_get(r, "buckets_differing")),
            (long long)json_integer_value(json_object_get(r, "buckets")));
    size_t i, findings = 0;
    json_t *e;
    json_array_foreach(json_object_get(r, "only_in_municipality"), i, e)
    {
        findings++;
        fprintf(out,
                "%s only in the municipality (%s): the prefecture has no such resident here; "
                "send the person's last change record again (jukilog cs send)\n",
                str_or(e, "resident_code", "?"), str_or(e, "name", "no name"));
    }
    json_array_foreach(json_object_get(r, "only_in_prefecture"), i, e)
    {
        findings++;
        fprintf(out,
                "%s only in the prefecture (%s): the registry has no such resident; if the "
                "person left or died, send the removal (move_out, death, ...)\n",
                str_or(e, "resident_code", "?"), str_or(e, "name", "no name"));
    }
    json_array_foreach(json_object_get(r, "differences"), i, e)
    {
        findings++;
        const char *field = str_or(e, "field", "?");
        fprintf(out, "%s %s differs: municipality ", str_or(e, "resident_code", "?"), field);
        show(out, json_object_get(e, "municipality"));
        fputs(", prefecture ", out);
        show(out, json_object_get(e, "prefecture"));
        fprintf(out, "; %s\n", field_action(field));
    }
    json_array_foreach(json_object_get(r, "gaps"), i, e)
    {
        findings++;
        long long from = (long long)json_integer_value(json_object_get(e, "from"));
        long long to = (long long)json_integer_value(json_object_get(e, "to"));
        fprintf(out,
                "%s seq %lld..%lld (%lld event%s) never reached the prefecture; find the "
                "changes in the CS's spool or records and send them again\n",
                str_or(e, "source", "?"), from, to, to - from + 1, to == from ? "" : "s");
    }
    if (findings == 0) fputs("no differences\n", out);
    return ferror(out) ? -1 : 0;
}
