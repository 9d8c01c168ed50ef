/* purposes.c: loading and querying the catalogue of lawful purposes (see purposes.h).
 *
 * The catalogue is small (tens of entries) and read once at start, so it is kept as two arrays
 * in file order and searched linearly: a few dozen strcmp per inquiry cost less than building
 * an index would save. Validation is strict and names the entry and the field, because a
 * mistake in this file widens or narrows who may see residents' data. */
#include "jukilog/purposes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

struct jk_catalogue {
    jk_department_t *deps;
    size_t n_deps;
    jk_purpose_t *purposes;
    size_t n_purposes;
};

static const char *const categories[] = {"betsu5", "betsu6", "ordinance", "disclosure",
                                         "statistics"};

static int only_chars(const char *s, const char *allowed)
{
    return s[0] != '\0' && s[strspn(s, allowed)] == '\0';
}

#define DEP_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_"
#define CODE_CHARS DEP_CHARS "."

/* Fields of obj outside the NULL-terminated list allowed, as the first one found (or NULL). */
static const char *unknown_field(const json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        (void)v;
        size_t i = 0;
        while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
            i++;
        if (allowed[i] == NULL) return key;
    }
    return NULL;
}

/* A non-empty string field, or NULL with err set naming where.field. */
static const char *want_string(const json_t *obj, const char *where, const char *field,
                               jk_err_t *err)
{
    const json_t *v = json_object_get(obj, field);
    if (v == NULL) {
        jk_err_set(err, "%s.%s: missing", where, field);
        return NULL;
    }
    const char *s = json_string_value(v);
    if (s == NULL || s[0] == '\0') {
        jk_err_set(err, "%s.%s: must be a non-empty string", where, field);
        return NULL;
    }
    return s;
}

static void purpose_clear(jk_purpose_t *p)
{
    free(p->code);
    free(p->title_ja);
    free(p->description);
    for (size_t i = 0; i < p->n_departments; i++)
        free(p->departments[i]);
    free(p->departments);
}

void jk_catalogue_free(jk_catalogue_t *cat)
{
    if (cat == NULL) return;
    for (size_t i = 0; i < cat->n_deps; i++) {
        free(cat->deps[i].code);
        free(cat->deps[i].name_ja);
    }
    free(cat->deps);
    for (size_t i = 0; i < cat->n_purposes; i++)
        purpose_clear(&cat->purposes[i]);
    free(cat->purposes);
    free(cat);
}

static int parse_departments(jk_catalogue_t *cat, const json_t *arr, jk_err_t *err)
{
    static const char *const fields[] = {"code", "name_ja", NULL};
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return jk_err_set(err, "departments: must be a non-empty array");
    cat->deps = calloc(json_array_size(arr), sizeof *cat->deps);
    if (cat->deps == NULL) return jk_err_set(err, "departments: out of memory");
    size_t i;
    json_t *d;
    json_array_foreach(arr, i, d)
    {
        char where[48];
        snprintf(where, sizeof where, "departments[%zu]", i);
        if (!json_is_object(d)) return jk_err_set(err, "%s: must be an object", where);
        const char *extra = unknown_field(d, fields);
        if (extra != NULL) return jk_err_set(err, "%s.%s: unknown field", where, extra);
        const char *code = want_string(d, where, "code", err);
        const char *name = code ? want_string(d, where, "name_ja", err) : NULL;
        if (name == NULL) return -1;
        if (!only_chars(code, DEP_CHARS))
            return jk_err_set(err, "%s.code: \"%s\" is not [a-z0-9_]+", where, code);
        if (jk_catalogue_department_exists(cat, code))
            return jk_err_set(err, "%s.code: duplicate \"%s\"", where, code);
        jk_department_t *dep = &cat->deps[cat->n_deps];
        dep->code = strdup(code);
        dep->name_ja = strdup(name);
        cat->n_deps++; /* counted before the check so that free releases a half-made entry */
        if (dep->code == NULL || dep->name_ja == NULL)
            return jk_err_set(err, "%s: out of memory", where);
    }
    return 0;
}

static int parse_purpose(jk_catalogue_t *cat, const json_t *o, const char *where, jk_purpose_t *p,
                         jk_err_t *err)
{
    static const char *const fields[] = {"code",        "category", "title_ja", "description",
                                         "departments", "bulk",     NULL};
    if (!json_is_object(o)) return jk_err_set(err, "%s: must be an object", where);
    const char *extra = unknown_field(o, fields);
    if (extra != NULL) return jk_err_set(err, "%s.%s: unknown field", where, extra);

    const char *code = want_string(o, where, "code", err);
    if (code == NULL) return -1;
    if (!only_chars(code, CODE_CHARS))
        return jk_err_set(err, "%s.code: \"%s\" is not [a-z0-9_.]+", where, code);
    if (jk_catalogue_find(cat, code) != NULL)
        return jk_err_set(err, "%s.code: duplicate \"%s\"", where, code);

    const char *category = want_string(o, where, "category", err);
    if (category == NULL) return -1;
    for (size_t i = 0; i < sizeof categories / sizeof *categories; i++)
        if (strcmp(categories[i], category) == 0) p->category = categories[i];
    if (p->category == NULL)
        return jk_err_set(err,
                          "%s.category: \"%s\" is not one of betsu5, betsu6, ordinance, "
                          "disclosure, statistics",
                          where, category);

    const char *title = want_string(o, where, "title_ja", err);
    const char *desc = title ? want_string(o, where, "description", err) : NULL;
    if (desc == NULL) return -1;

    const json_t *bulk = json_object_get(o, "bulk");
    if (!json_is_boolean(bulk)) return jk_err_set(err, "%s.bulk: must be true or false", where);
    p->bulk = json_is_true(bulk);

    p->code = strdup(code);
    p->title_ja = strdup(title);
    p->description = strdup(desc);
    if (p->code == NULL || p->title_ja == NULL || p->description == NULL)
        return jk_err_set(err, "%s: out of memory", where);

    const json_t *deps = json_object_get(o, "departments");
    if (!json_is_array(deps) || json_array_size(deps) == 0)
        return jk_err_set(err, "%s.departments: must be a non-empty array of department codes",
                          where);
    p->departments = calloc(json_array_size(deps), sizeof *p->departments);
    if (p->departments == NULL) return jk_err_set(err, "%s: out of memory", where);
    size_t i;
    json_t *d;
    json_array_foreach(deps, i, d)
    {
        const char *dep = json_string_value(d);
        if (dep == NULL) return jk_err_set(err, "%s.departments[%zu]: must be a string", where, i);
        if (!jk_catalogue_department_exists(cat, dep))
            return jk_err_set(err, "%s.departments[%zu]: unknown department \"%s\"", where, i, dep);
        for (size_t j = 0; j < p->n_departments; j++)
            if (strcmp(p->departments[j], dep) == 0)
                return jk_err_set(err, "%s.departments[%zu]: duplicate \"%s\"", where, i, dep);
        p->departments[p->n_departments] = strdup(dep);
        if (p->departments[p->n_departments] == NULL)
            return jk_err_set(err, "%s: out of memory", where);
        p->n_departments++;
    }
    return 0;
}

static int parse_root(jk_catalogue_t *cat, const json_t *root, jk_err_t *err)
{
    static const char *const fields[] = {"version", "departments", "purposes", NULL};
    if (!json_is_object(root)) return jk_err_set(err, "the catalogue must be a JSON object");
    const char *extra = unknown_field(root, fields);
    if (extra != NULL) return jk_err_set(err, "%s: unknown field", extra);
    const json_t *v = json_object_get(root, "version");
    if (!json_is_integer(v) || json_integer_value(v) != JK_CATALOGUE_VERSION)
        return jk_err_set(err, "version: must be %d", JK_CATALOGUE_VERSION);
    if (parse_departments(cat, json_object_get(root, "departments"), err) != 0) return -1;

    const json_t *arr = json_object_get(root, "purposes");
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return jk_err_set(err, "purposes: must be a non-empty array");
    cat->purposes = calloc(json_array_size(arr), sizeof *cat->purposes);
    if (cat->purposes == NULL) return jk_err_set(err, "purposes: out of memory");
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        char where[48];
        snprintf(where, sizeof where, "purposes[%zu]", i);
        /* Parsed into the array's next slot, counted only when whole, so that lookups during
         * validation see complete entries alone; a failed one is cleared here. */
        jk_purpose_t *p = &cat->purposes[cat->n_purposes];
        if (parse_purpose(cat, o, where, p, err) != 0) {
            purpose_clear(p);
            return -1;
        }
        cat->n_purposes++;
    }
    return 0;
}

jk_catalogue_t *jk_catalogue_parse(const char *json, size_t len, jk_err_t *err)
{
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        jk_err_set(err, "not JSON: %s (line %d, column %d)", je.text, je.line, je.column);
        return NULL;
    }
    jk_catalogue_t *cat = calloc(1, sizeof *cat);
    if (cat == NULL) {
        jk_err_set(err, "out of memory");
    } else if (parse_root(cat, root, err) != 0) {
        jk_catalogue_free(cat);
        cat = NULL;
    }
    json_decref(root);
    return cat;
}

jk_catalogue_t *jk_catalogue_load(const char *path, jk_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        jk_err_set(err, "%s: cannot open: %m", path);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int failed = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16384;
            char *nbuf = realloc(buf, ncap);
            if (nbuf == NULL) {
                failed = 1;
                break;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (ferror(f)) failed = 1;
    fclose(f);
    jk_catalogue_t *cat = NULL;
    if (failed)
        jk_err_set(err, "%s: cannot read", path);
    else if ((cat = jk_catalogue_parse(buf, len, err)) == NULL)
        jk_err_wrap(err, "%s", path);
    free(buf);
    return cat;
}

const jk_purpose_t *jk_catalogue_find(const jk_catalogue_t *cat, const char *code)
{
    for (size_t i = 0; i < cat->n_purposes; i++)
        if (strcmp(cat->purposes[i].code, code) == 0) return &cat->purposes[i];
    return NULL;
}

int jk_catalogue_department_exists(const jk_catalogue_t *cat, const char *department)
{
    for (size_t i = 0; i < cat->n_deps; i++)
        if (strcmp(cat->deps[i].code, department) == 0) return 1;
    return 0;
}

int jk_catalogue_may_cite(const jk_catalogue_t *cat, const char *purpose, const char *department)
{
    const jk_purpose_t *p = jk_catalogue_find(cat, purpose);
    for (size_t i = 0; p != NULL && i < p->n_departments; i++)
        if (strcmp(p->departments[i], department) == 0) return 1;
    return 0;
}

size_t jk_catalogue_count(const jk_catalogue_t *cat)
{
    return cat->n_purposes;
}

const jk_purpose_t *jk_catalogue_at(const jk_catalogue_t *cat, size_t i)
{
    return i < cat->n_purposes ? &cat->purposes[i] : NULL;
}

size_t jk_catalogue_department_count(const jk_catalogue_t *cat)
{
    return cat->n_deps;
}

const jk_department_t *jk_catalogue_department_at(const jk_catalogue_t *cat, size_t i)
{
    return i < cat->n_deps ? &cat->deps[i] : NULL;
}

extern const char jk_data_purposes[];

jk_catalogue_t *jk_catalogue_default(jk_err_t *err)
{
    const char *path = getenv("JUKILOG_PURPOSES");
    if (path && *path) return jk_catalogue_load(path, err);
    return jk_catalogue_parse(jk_data_purposes, strlen(jk_data_purposes), err);
}
