/* operations.c: the pure part of the operations topic (see operations.h): checking requests
 * field by field, and deriving a record's id from its request's. The provider refuses a request
 * that fails these checks as invalid_request; the terminals run the same checks before they
 * sign anything, so an operator's typing mistake never reaches the log. */
#include "jukilog/operations.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jukilog/codes.h"
#include "jukilog/envelope.h"
#include "jukilog/util.h"

const char *const jk_operations_items[] = {
    "resident_code", "my_number", "name",   "name_kana",      "birth_date",
    "sex",           "address",   "status", "effective_date", "municipality_code",
};
const size_t jk_operations_n_items = sizeof jk_operations_items / sizeof jk_operations_items[0];

static const char *const four_info[] = {"name", "birth_date", "sex", "address"};

void jk_operations_record_id(const char *request_id, char out[33])
{
    char seed[64], h[65];
    snprintf(seed, sizeof seed, "answer:%s", request_id);
    jk_sha256_hex(seed, strlen(seed), h);
    memcpy(out, h, 32);
    out[32] = '\0';
}

static int bad(jk_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(jk_err_t *err, const char *fmt, ...)
{
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return jk_err_set(err, "%s", msg);
}

static int digits(const char *s, size_t n)
{
    if (strlen(s) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static int is_date(const char *v)
{
    if (strlen(v) != 10 || v[4] != '-' || v[7] != '-') return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (v[i] < '0' || v[i] > '9')) return 0;
    char t[32];
    int64_t ms;
    snprintf(t, sizeof t, "%sT00:00:00Z", v);
    return jk_time_parse(t, &ms) == 0;
}

/* A string field of obj (NULL when absent); err names where when it is not a string. */
static int get_string(const json_t *obj, const char *where, const char *field, const char **out,
                      jk_err_t *err)
{
    json_t *v = json_object_get(obj, field);
    *out = NULL;
    if (v == NULL) return 0;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return bad(err, "%s.%s must be a non-empty string", where, field);
    *out = json_string_value(v);
    return 0;
}

int jk_operations_check_field(const char *where, const char *field, const char *v, jk_err_t *err)
{
    if (strcmp(field, "resident_code") == 0) {
        if (!digits(v, 11)) return bad(err, "%s.resident_code \"%s\": must be 11 digits", where, v);
        if (!jk_code_resident_valid(v))
            return bad(err, "%s.resident_code \"%s\": check digit should be %c", where, v,
                       jk_code_resident_check(v));
    } else if (strcmp(field, "my_number") == 0) {
        if (!digits(v, 12)) return bad(err, "%s.my_number \"%s\": must be 12 digits", where, v);
        if (!jk_code_my_number_valid(v))
            return bad(err, "%s.my_number \"%s\": check digit should be %c", where, v,
                       jk_code_my_number_check(v));
    } else if (strcmp(field, "birth_date") == 0) {
        if (!is_date(v))
            return bad(err, "%s.birth_date \"%s\": must be a date written YYYY-MM-DD", where, v);
    } else if (strcmp(field, "sex") == 0) {
        if (strcmp(v, "1") != 0 && strcmp(v, "2") != 0)
            return bad(err, "%s.sex \"%s\": must be \"1\" (male) or \"2\" (female)", where, v);
    } else if (strlen(v) > 400) {
        return bad(err, "%s.%s: longer than 400 bytes", where, field);
    }
    return 0;
}

/* Only the fields named may appear in obj. */
static int only_fields(const json_t *obj, const char *where, const char *const *allowed, size_t n,
                       jk_err_t *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        size_t i = 0;
        while (i < n && strcmp(k, allowed[i]) != 0)
            i++;
        if (i == n) return bad(err, "%s: unknown field \"%s\"", where, k);
    }
    return 0;
}

int jk_operations_check_query(const json_t *q, const char *where, int need_all_four, jk_err_t *err)
{
    if (!json_is_object(q)) return bad(err, "%s must be an object", where);
    static const char *const f[] = {"resident_code", "my_number", "name",
                                    "birth_date",    "sex",       "address"};
    if (only_fields(q, where, f, 6, err)) return -1;
    const char *rc, *mn, *four[4];
    if (get_string(q, where, "resident_code", &rc, err) ||
        get_string(q, where, "my_number", &mn, err))
        return -1;
    size_t nfour = 0;
    for (size_t i = 0; i < 4; i++) {
        if (get_string(q, where, four_info[i], &four[i], err)) return -1;
        if (four[i] && jk_operations_check_field(where, four_info[i], four[i], err)) return -1;
        nfour += four[i] != NULL;
    }
    size_t ways = (rc != NULL) + (mn != NULL) + (nfour > 0);
    if (ways != 1)
        return bad(err, "%s: give exactly one of resident_code, my_number, or the 4 information",
                   where);
    if (rc) return jk_operations_check_field(where, "resident_code", rc, err);
    if (mn) return jk_operations_check_field(where, "my_number", mn, err);
    if (need_all_four && nfour < 4)
        return bad(err,
                   "%s: a search by the 4 information needs all four (name, birth_date, "
                   "sex, address)",
                   where);
    if (nfour < 2)
        return bad(err,
                   "%s: a search by the 4 information needs at least two of name, "
                   "birth_date, sex, address",
                   where);
    return 0;
}

static int check_common(const json_t *data, const char *type, const char **op, const char **purpose,
                        jk_err_t *err)
{
    if (!json_is_object(data)) return bad(err, "%s: data must be an object", type);
    if (get_string(data, "data", "operator", op, err) ||
        get_string(data, "data", "purpose", purpose, err))
        return -1;
    if (*op == NULL) return bad(err, "%s: data.operator is missing", type);
    if (*purpose == NULL) return bad(err, "%s: data.purpose is missing", type);
    return 0;
}

int jk_operations_check_request(const char *type, const json_t *data, const char **kind,
                                jk_err_t *err)
{
    const char *op, *purpose;
    *kind = NULL;
    if (strcmp(type, "request.inquiry") == 0) {
        static const char *const f[] = {"operator", "purpose", "query", "limit"};
        if (check_common(data, type, &op, &purpose, err) || only_fields(data, "data", f, 4, err) ||
            jk_operations_check_query(json_object_get(data, "query"), "data.query", 0, err))
            return -1;
        json_t *limit = json_object_get(data, "limit");
        if (limit && (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
                      json_integer_value(limit) > JK_INQUIRY_LIMIT))
            return bad(err, "data.limit must be an integer from 1 to %d", JK_INQUIRY_LIMIT);
        *kind = "inquiry";
        return 0;
    }
    if (strcmp(type, "request.disclosure") == 0) {
        static const char *const f[] = {"operator", "purpose", "resident_code"};
        const char *rc;
        if (check_common(data, type, &op, &purpose, err) || only_fields(data, "data", f, 3, err) ||
            get_string(data, "data", "resident_code", &rc, err))
            return -1;
        if (rc == NULL) return bad(err, "%s: data.resident_code is missing", type);
        if (jk_operations_check_field("data", "resident_code", rc, err)) return -1;
        *kind = "disclosure";
        return 0;
    }
    if (strcmp(type, "request.bulk") == 0) {
        static const char *const f[] = {"operator", "purpose", "conditions_sha256", "count",
                                        "conditions"};
        const char *sha;
        if (check_common(data, type, &op, &purpose, err) || only_fields(data, "data", f, 5, err) ||
            get_string(data, "data", "conditions_sha256", &sha, err))
            return -1;
        if (sha == NULL || !jk_is_hex(sha, 64))
            return bad(err, "%s: data.conditions_sha256 must be 64 hex digits", type);
        json_t *conds = json_object_get(data, "conditions");
        json_t *count = json_object_get(data, "count");
        if (!json_is_array(conds) || json_array_size(conds) == 0)
            return bad(err, "%s: data.conditions must be a non-empty array", type);
        if (!json_is_integer(count) ||
            json_integer_value(count) != (json_int_t)json_array_size(conds))
            return bad(err, "%s: data.count must be the number of conditions (%zu)", type,
                       json_array_size(conds));
        size_t i;
        json_t *c;
        json_array_foreach(conds, i, c)
        {
            char where[64];
            snprintf(where, sizeof where, "data.conditions[%zu]", i);
            static const char *const cf[] = {"line",       "my_number", "name",
                                             "birth_date", "sex",       "address"};
            json_t *line = json_object_get(c, "line");
            if (!json_is_integer(line) || json_integer_value(line) < 1)
                return bad(err, "%s.line must be a positive integer", where);
            json_t *rest = json_deep_copy(c);
            json_object_del(rest, "line");
            int rc =
                only_fields(c, where, cf, 6, err) || jk_operations_check_query(rest, where, 1, err);
            json_decref(rest);
            if (rc) return -1;
        }
        *kind = "bulk";
        return 0;
    }
    return bad(err, "%s is not a request type (request.inquiry, request.disclosure, request.bulk)",
               type);
}
