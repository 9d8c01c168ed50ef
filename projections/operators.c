/* operators.c: the operator registry, a projection of the admin topic (see operators.h).
 *
 * Each operator ID keeps every registration period it ever had, in log order, each with its
 * department, role and keys, the broker time it started and the one it was revoked at
 * (INT64_MAX while it stands), and its grants of purposes, each from a broker time on. Nothing
 * is ever overwritten, so a question "as of T" is answered from the same state whatever was
 * applied after T: the provider and a replay years later agree. Operators are kept in an array
 * sorted by ID (registrations are rare; lookups are a binary search, listing is in order). */
#include "jukilog/operators.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/strmap.h"
#include "jukilog/util.h"

typedef struct op_grant {
    int64_t from_ms;
    char **purposes;
    size_t n;
} op_grant_t;

typedef struct op_period {
    int64_t registered_ms, revoked_ms; /* in force for registered_ms <= t < revoked_ms */
    char *department, *role, *signing_key, *encryption_key;
    op_grant_t *grants; /* in log order */
    size_t n_grants, cap_grants;
} op_period_t;

typedef struct op_entry {
    char *id;
    op_period_t *periods; /* in log order, so registered_ms never decreases */
    size_t n, cap;
} op_entry_t;

struct jk_operators {
    jk_strmap_t *ops; /* id -> op_entry_t* */
    int64_t last_ms;  /* broker time of the last applied operator event */
};

jk_operators_t *jk_operators_new(void)
{
    jk_operators_t *ops = calloc(1, sizeof *ops);
    if (ops && (ops->ops = jk_strmap_new()) == NULL) {
        free(ops);
        return NULL;
    }
    return ops;
}

static void grant_clear(op_grant_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->purposes[i]);
    free(g->purposes);
}

static void period_clear(op_period_t *p)
{
    free(p->department);
    free(p->role);
    free(p->signing_key);
    free(p->encryption_key);
    for (size_t i = 0; i < p->n_grants; i++)
        grant_clear(&p->grants[i]);
    free(p->grants);
}

static void free_entry(void *ctx, const char *key, void *value)
{
    (void)ctx;
    (void)key;
    op_entry_t *e = value;
    for (size_t j = 0; j < e->n; j++)
        period_clear(&e->periods[j]);
    free(e->periods);
    free(e->id);
    free(e);
}

void jk_operators_free(jk_operators_t *ops)
{
    if (ops == NULL) return;
    jk_strmap_foreach(ops->ops, free_entry, NULL);
    jk_strmap_free(ops->ops);
    free(ops);
}

static op_entry_t *op_find(const jk_operators_t *ops, const char *id)
{
    return jk_strmap_get(ops->ops, id);
}

/* The period that started last at or before t (it may have been revoked since), or NULL. */
static const op_period_t *period_at(const op_entry_t *e, int64_t t)
{
    for (size_t i = e ? e->n : 0; i > 0; i--)
        if (e->periods[i - 1].registered_ms <= t) return &e->periods[i - 1];
    return NULL;
}

/* The current period if it has not been revoked, or NULL. */
static op_period_t *period_open(const op_entry_t *e)
{
    if (e == NULL || e->n == 0) return NULL;
    op_period_t *p = &e->periods[e->n - 1];
    return p->revoked_ms == INT64_MAX ? p : NULL;
}

static const op_grant_t *grant_at(const op_period_t *p, int64_t t)
{
    for (size_t i = p->n_grants; i > 0; i--)
        if (p->grants[i - 1].from_ms <= t) return &p->grants[i - 1];
    return NULL;
}

static int only_chars(const char *s, const char *allowed)
{
    return s[0] != '\0' && s[strspn(s, allowed)] == '\0';
}

static int is_operator_id(const char *s)
{
    return strlen(s) <= 32 && only_chars(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-");
}

static int is_department(const char *s)
{
    return only_chars(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
}

static int is_purpose_code(const char *s)
{
    return only_chars(s, "abcdefghijklmnopqrstuvwxyz0123456789_.");
}

static int is_role(const char *s)
{
    return strcmp(s, "staff") == 0 || strcmp(s, "bulk") == 0 || strcmp(s, "admin") == 0;
}

/* True when s is the base64 of exactly 32 bytes (an Ed25519 or X25519 public key). */
static int is_key32(const char *s)
{
    unsigned char *raw = NULL;
    size_t n = 0;
    if (jk_b64_decode(s, &raw, &n) != 0) return 0;
    free(raw);
    return n == 32;
}

/* The entry for id, created when new; NULL when out of memory. */
static op_entry_t *op_get(jk_operators_t *ops, const char *id)
{
    op_entry_t *e = op_find(ops, id);
    if (e != NULL) return e;
    e = calloc(1, sizeof *e);
    if (e == NULL || (e->id = strdup(id)) == NULL || jk_strmap_put(ops->ops, id, e)) {
        if (e) free(e->id);
        free(e);
        return NULL;
    }
    return e;
}

static int apply_registered(jk_operators_t *ops, const jk_envelope_t *ev, int64_t t, jk_err_t *err)
{
    const char *id = jk_envelope_data_string(ev->data, 5, "operator");
    const char *dep = jk_envelope_data_string(ev->data, 5, "department");
    const char *role = jk_envelope_data_string(ev->data, 5, "role");
    const char *sk = jk_envelope_data_string(ev->data, 5, "signing_key");
    const char *ek = jk_envelope_data_string(ev->data, 5, "encryption_key");
    if (id == NULL || dep == NULL || role == NULL || sk == NULL || ek == NULL)
        return jk_envelope_refuse(
            err, ev,
            "data must be {\"operator\",\"department\",\"role\",\"signing_key\","
            "\"encryption_key\"}, all strings");
    if (!is_operator_id(id))
        return jk_envelope_refuse(err, ev, "data.operator \"%s\" is not [a-z0-9_.-]{1,32}", id);
    if (!is_department(dep))
        return jk_envelope_refuse(err, ev, "data.department \"%s\" is not [a-z0-9_]+", dep);
    if (!is_role(role))
        return jk_envelope_refuse(err, ev, "data.role \"%s\" is not staff, bulk or admin", role);
    if (!is_key32(sk))
        return jk_envelope_refuse(err, ev, "data.signing_key is not the base64 of 32 bytes");
    if (!is_key32(ek))
        return jk_envelope_refuse(err, ev, "data.encryption_key is not the base64 of 32 bytes");

    op_period_t p = {.registered_ms = t, .revoked_ms = INT64_MAX};
    p.department = strdup(dep);
    p.role = strdup(role);
    p.signing_key = strdup(sk);
    p.encryption_key = strdup(ek);
    op_entry_t *e = NULL;
    if (p.department && p.role && p.signing_key && p.encryption_key) e = op_get(ops, id);
    if (e != NULL && e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 2;
        op_period_t *arr = realloc(e->periods, cap * sizeof *arr);
        if (arr != NULL) {
            e->periods = arr;
            e->cap = cap;
        } else {
            e = NULL;
        }
    }
    if (e == NULL) {
        period_clear(&p);
        return jk_envelope_refuse(err, ev, "out of memory");
    }
    /* A registration of an ID that is still registered ends the earlier period here: the
     * latest period that started at or before a time is the one in force (period_at). */
    op_period_t *prev = period_open(e);
    if (prev != NULL) prev->revoked_ms = t;
    e->periods[e->n++] = p;
    return 0;
}

static int apply_revoked(jk_operators_t *ops, const jk_envelope_t *ev, int64_t t, jk_err_t *err)
{
    const char *id = jk_envelope_data_string(ev->data, 2, "operator");
    const char *reason = jk_envelope_data_string(ev->data, 2, "reason");
    if (id == NULL || reason == NULL)
        return jk_envelope_refuse(err, ev, "data must be {\"operator\",\"reason\"}, both strings");
    if (reason[0] == '\0') return jk_envelope_refuse(err, ev, "data.reason must not be empty");
    const op_entry_t *e = op_find(ops, id);
    if (e == NULL) return jk_envelope_refuse(err, ev, "operator \"%s\" is not registered", id);
    op_period_t *p = period_open(e);
    if (p == NULL) return jk_envelope_refuse(err, ev, "operator \"%s\" is already revoked", id);
    p->revoked_ms = t;
    return 0;
}

static int apply_granted(jk_operators_t *ops, const jk_envelope_t *ev, int64_t t, jk_err_t *err)
{
    const json_t *d = ev->data;
    const char *id = json_string_value(json_object_get(d, "operator"));
    const json_t *arr = json_object_get(d, "purposes");
    if (json_object_size(d) != 2 || id == NULL || !json_is_array(arr))
        return jk_envelope_refuse(
            err, ev,
            "data must be {\"operator\",\"purposes\"}, a string and an array of "
            "purpose codes");
    size_t n = json_array_size(arr);
    for (size_t i = 0; i < n; i++) {
        const char *code = json_string_value(json_array_get(arr, i));
        if (code == NULL || !is_purpose_code(code))
            return jk_envelope_refuse(err, ev,
                                      "data.purposes[%zu] is not a purpose code ([a-z0-9_.]+)", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(code, json_string_value(json_array_get(arr, j))) == 0)
                return jk_envelope_refuse(err, ev, "data.purposes[%zu] \"%s\" is repeated", i,
                                          code);
    }
    const op_entry_t *e = op_find(ops, id);
    if (e == NULL) return jk_envelope_refuse(err, ev, "operator \"%s\" is not registered", id);
    op_period_t *p = period_open(e);
    if (p == NULL) return jk_envelope_refuse(err, ev, "operator \"%s\" is revoked", id);

    op_grant_t g = {.from_ms = t, .purposes = calloc(n ? n : 1, sizeof(char *))};
    for (size_t i = 0; g.purposes != NULL && i < n; i++) {
        g.purposes[i] = strdup(json_string_value(json_array_get(arr, i)));
        if (g.purposes[i] == NULL) break;
        g.n++;
    }
    if (g.purposes == NULL || g.n != n) {
        grant_clear(&g);
        return jk_envelope_refuse(err, ev, "out of memory");
    }
    if (p->n_grants == p->cap_grants) {
        size_t cap = p->cap_grants ? p->cap_grants * 2 : 2;
        op_grant_t *grants = realloc(p->grants, cap * sizeof *grants);
        if (grants == NULL) {
            grant_clear(&g);
            return jk_envelope_refuse(err, ev, "out of memory");
        }
        p->grants = grants;
        p->cap_grants = cap;
    }
    p->grants[p->n_grants++] = g;
    return 0;
}

int jk_operators_apply(jk_operators_t *ops, const jk_envelope_t *ev, int64_t broker_ms,
                       jk_err_t *err)
{
    int (*apply)(jk_operators_t *, const jk_envelope_t *, int64_t, jk_err_t *) = NULL;
    if (strcmp(ev->type, "operator.registered") == 0)
        apply = apply_registered;
    else if (strcmp(ev->type, "operator.revoked") == 0)
        apply = apply_revoked;
    else if (strcmp(ev->type, "purpose.granted") == 0)
        apply = apply_granted;
    else
        return 1;
    if (strncmp(ev->source, "admin:", 6) != 0)
        return jk_envelope_refuse(err, ev, "only an admin source may register, revoke or grant");
    /* The admin topic's order is the truth: should the broker's clock step back, an event still
     * takes effect no earlier than the one before it, so periods and grants stay in time order. */
    int64_t t = broker_ms > ops->last_ms ? broker_ms : ops->last_ms;
    if (apply(ops, ev, t, err) != 0) return -1;
    ops->last_ms = t;
    return 0;
}

static void view_fill(jk_operator_view_t *out, const op_entry_t *e, const op_period_t *p, int64_t t)
{
    const op_grant_t *g = grant_at(p, t);
    *out = (jk_operator_view_t){.id = e->id,
                                .department = p->department,
                                .role = p->role,
                                .signing_key = p->signing_key,
                                .encryption_key = p->encryption_key,
                                .registered_ms = p->registered_ms,
                                .purposes = g ? (const char *const *)g->purposes : NULL,
                                .n_purposes = g ? g->n : 0};
}

/* admin may do everything, bulk may make staff and bulk requests, staff only staff requests;
 * an unknown role asked for is refused, so that a typo never opens a door. */
static int role_allows(const char *role, const char *needed)
{
    if (strcmp(needed, "staff") == 0) return 1;
    if (strcmp(needed, "bulk") == 0) return strcmp(role, "bulk") == 0 || strcmp(role, "admin") == 0;
    if (strcmp(needed, "admin") == 0) return strcmp(role, "admin") == 0;
    return 0;
}

int jk_operators_check(const jk_operators_t *ops, const char *operator_id, int64_t broker_ms,
                       const char *purpose, const char *needed_role, jk_operator_view_t *out,
                       const char **refusal)
{
    const char *why = NULL;
    const op_entry_t *e = op_find(ops, operator_id);
    const op_period_t *p = period_at(e, broker_ms);
    if (p == NULL) {
        why = "unknown_operator";
    } else if (broker_ms >= p->revoked_ms) {
        why = "revoked";
    } else {
        jk_operator_view_t v;
        view_fill(&v, e, p, broker_ms);
        if (out != NULL) *out = v;
        if (needed_role != NULL && !role_allows(v.role, needed_role)) why = "role_not_allowed";
        if (why == NULL && purpose != NULL) {
            why = "purpose_not_allowed";
            for (size_t i = 0; i < v.n_purposes; i++)
                if (strcmp(v.purposes[i], purpose) == 0) why = NULL;
        }
    }
    if (refusal != NULL) *refusal = why;
    return why == NULL ? 0 : -1;
}

struct collect {
    const op_entry_t **v;
    size_t n;
};

static void collect_entry(void *ctx, const char *key, void *value)
{
    (void)key;
    struct collect *c = ctx;
    c->v[c->n++] = value;
}

static int by_id(const void *a, const void *b)
{
    return strcmp((*(const op_entry_t *const *)a)->id, (*(const op_entry_t *const *)b)->id);
}

int jk_operators_foreach_as_of(const jk_operators_t *ops, int64_t broker_ms,
                               int (*fn)(const jk_operator_view_t *op, void *ctx), void *ctx)
{
    size_t total = jk_strmap_count(ops->ops);
    struct collect c = {malloc((total ? total : 1) * sizeof *c.v), 0};
    if (c.v == NULL) return -1;
    jk_strmap_foreach(ops->ops, collect_entry, &c);
    qsort(c.v, c.n, sizeof *c.v, by_id);
    int rc = 0;
    for (size_t i = 0; i < c.n && rc == 0; i++) {
        const op_period_t *p = period_at(c.v[i], broker_ms);
        if (p == NULL || broker_ms >= p->revoked_ms) continue;
        jk_operator_view_t v;
        view_fill(&v, c.v[i], p, broker_ms);
        rc = fn(&v, ctx);
    }
    free(c.v);
    return rc;
}

json_t *jk_operators_registered_data(const char *id, const char *department, const char *role,
                                     const char *signing_key, const char *encryption_key)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "operator", id, "department", department, "role",
                     role, "signing_key", signing_key, "encryption_key", encryption_key);
}

json_t *jk_operators_revoked_data(const char *id, const char *reason)
{
    return json_pack("{s:s, s:s}", "operator", id, "reason", reason);
}

json_t *jk_operators_granted_data(const char *id, const char *const *purposes, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        if (purposes[i] == NULL || json_array_append_new(arr, json_string(purposes[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (arr == NULL) return NULL;
    return json_pack("{s:s, s:o}", "operator", id, "purposes", arr);
}
