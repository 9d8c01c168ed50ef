/* test_operators.c: the operator registry as of broker times: registration, grants, role rules,
 * revocation at T (refused at T, allowed before), re-registration, replay of the same events
 * into a fresh registry, listings as of several times, and refusals of malformed events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jukilog/envelope.h"
#include "jukilog/operators.h"
#include "jukilog/util.h"

#define T0 1775088000000LL /* 2026-04-02T00:00:00.000Z */
#define ADMIN "admin:35"

/* base64 of 32 bytes of value b: a stand-in public key (the registry checks only the length). */
static char *key32(unsigned char b)
{
    unsigned char raw[32];
    memset(raw, b, sizeof raw);
    char *s = jk_b64_encode(raw, sizeof raw);
    assert_non_null(s);
    return s;
}

/* The event of type with data (taken) from source, applied at t; a refusal's message is left
 * in err, and when want_msg is not NULL it must be exactly "<type> <id> from <source> refused:
 * <want_msg>". */
static int apply_from(jk_operators_t *ops, const char *source, const char *type, json_t *data,
                      int64_t t, const char *want_msg)
{
    jk_err_t err = {""};
    assert_non_null(data);
    jk_envelope_t *ev = jk_envelope_new(type, source, NULL, data, &err);
    assert_non_null(ev);
    int rc = jk_operators_apply(ops, ev, t, &err);
    if (want_msg != NULL) {
        char want[512];
        snprintf(want, sizeof want, "%s %s from %s refused: %s", type, ev->id, source, want_msg);
        assert_int_equal(rc, -1);
        assert_string_equal(err.msg, want);
    } else if (rc == -1) {
        fail_msg("refused: %s", err.msg);
    }
    jk_envelope_free(ev);
    return rc;
}

static int apply(jk_operators_t *ops, const char *type, json_t *data, int64_t t)
{
    return apply_from(ops, ADMIN, type, data, t, NULL);
}

static void refused(jk_operators_t *ops, const char *type, json_t *data, int64_t t,
                    const char *want_msg)
{
    apply_from(ops, ADMIN, type, data, t, want_msg);
}

static json_t *registered(const char *id, const char *dep, const char *role, unsigned char k)
{
    char *sk = key32(k), *ek = key32((unsigned char)(k + 1));
    json_t *d = jk_operators_registered_data(id, dep, role, sk, ek);
    free(sk);
    free(ek);
    return d;
}

static json_t *granted(const char *id, const char *p1, const char *p2)
{
    const char *list[2] = {p1, p2};
    return jk_operators_granted_data(id, list, p1 == NULL ? 0 : p2 == NULL ? 1 : 2);
}

/* check() with the expected refusal (NULL: allowed). */
static void expect(const jk_operators_t *ops, const char *id, int64_t t, const char *purpose,
                   const char *role, const char *want)
{
    const char *why = "untouched";
    jk_operator_view_t v;
    int rc = jk_operators_check(ops, id, t, purpose, role, &v, &why);
    if (want == NULL) {
        if (rc != 0)
            fail_msg("%s at T0%+lld citing %s as %s: refused %s, want allowed", id,
                     (long long)(t - T0), purpose ? purpose : "-", role ? role : "-", why);
        assert_null(why);
    } else {
        if (rc != -1)
            fail_msg("%s at T0%+lld citing %s as %s: allowed, want %s", id, (long long)(t - T0),
                     purpose ? purpose : "-", role ? role : "-", want);
        assert_non_null(why);
        assert_string_equal(why, want);
    }
}

/* The history used by several tests:
 *   T0+10  tanaka registered, kenko_fukushi, staff
 *   T0+20  tanaka granted ord.nursing_loan, b5.public_assistance
 *   T0+30  suzuki registered, somu, bulk; granted b5.automobile_tax at T0+31
 *   T0+40  tanaka granted b5.hibakusha only (replaces)
 *   T0+50  tanaka revoked
 *   T0+60  tanaka registered again, doboku, staff (no purposes until granted)
 *   T0+70  tanaka granted ord.prefectural_housing
 *   T0+80  admin1 registered, somu, admin; suzuki revoked */
static void history(jk_operators_t *ops)
{
    assert_int_equal(apply(ops, "operator.registered",
                           registered("tanaka", "kenko_fukushi", "staff", 1), T0 + 10),
                     0);
    assert_int_equal(apply(ops, "purpose.granted",
                           granted("tanaka", "ord.nursing_loan", "b5.public_assistance"), T0 + 20),
                     0);
    assert_int_equal(
        apply(ops, "operator.registered", registered("suzuki", "somu", "bulk", 3), T0 + 30), 0);
    assert_int_equal(
        apply(ops, "purpose.granted", granted("suzuki", "b5.automobile_tax", NULL), T0 + 31), 0);
    assert_int_equal(
        apply(ops, "purpose.granted", granted("tanaka", "b5.hibakusha", NULL), T0 + 40), 0);
    assert_int_equal(
        apply(ops, "operator.revoked", jk_operators_revoked_data("tanaka", "transferred"), T0 + 50),
        0);
    assert_int_equal(
        apply(ops, "operator.registered", registered("tanaka", "doboku", "staff", 5), T0 + 60), 0);
    assert_int_equal(
        apply(ops, "purpose.granted", granted("tanaka", "ord.prefectural_housing", NULL), T0 + 70),
        0);
    assert_int_equal(
        apply(ops, "operator.registered", registered("admin1", "somu", "admin", 7), T0 + 80), 0);
    assert_int_equal(
        apply(ops, "operator.revoked", jk_operators_revoked_data("suzuki", "retired"), T0 + 80), 0);
}

/* Every answer the history implies; the same for a live registry and a replayed one. */
static void expect_history(const jk_operators_t *ops)
{
    expect(ops, "tanaka", T0 + 9, NULL, NULL, "unknown_operator");
    expect(ops, "nobody", T0 + 100, NULL, NULL, "unknown_operator");
    /* Registered but nothing granted yet. */
    expect(ops, "tanaka", T0 + 10, NULL, "staff", NULL);
    expect(ops, "tanaka", T0 + 10, "ord.nursing_loan", "staff", "purpose_not_allowed");
    expect(ops, "tanaka", T0 + 20, "ord.nursing_loan", "staff", NULL);
    expect(ops, "tanaka", T0 + 39, "b5.public_assistance", "staff", NULL);
    expect(ops, "tanaka", T0 + 20, "b5.hibakusha", "staff", "purpose_not_allowed");
    expect(ops, "tanaka", T0 + 20, "ord.nursing_loan", "bulk", "role_not_allowed");
    expect(ops, "tanaka", T0 + 20, "ord.nursing_loan", "admin", "role_not_allowed");
    /* The grant at T0+40 replaces the earlier one. */
    expect(ops, "tanaka", T0 + 40, "b5.hibakusha", "staff", NULL);
    expect(ops, "tanaka", T0 + 40, "ord.nursing_loan", "staff", "purpose_not_allowed");
    /* Revoked at T0+50: allowed just before, refused at and after, until re-registered. */
    expect(ops, "tanaka", T0 + 49, "b5.hibakusha", "staff", NULL);
    expect(ops, "tanaka", T0 + 50, "b5.hibakusha", "staff", "revoked");
    expect(ops, "tanaka", T0 + 51, NULL, NULL, "revoked");
    expect(ops, "tanaka", T0 + 59, NULL, NULL, "revoked");
    /* A new period: new department, no purposes of the old one, then its own grant. */
    expect(ops, "tanaka", T0 + 60, "b5.hibakusha", "staff", "purpose_not_allowed");
    expect(ops, "tanaka", T0 + 69, "ord.prefectural_housing", "staff", "purpose_not_allowed");
    expect(ops, "tanaka", T0 + 70, "ord.prefectural_housing", "staff", NULL);
    expect(ops, "tanaka", T0 + 100000, "ord.prefectural_housing", "staff", NULL);
    /* bulk may make staff and bulk requests, not admin ones. */
    expect(ops, "suzuki", T0 + 31, "b5.automobile_tax", "bulk", NULL);
    expect(ops, "suzuki", T0 + 31, "b5.automobile_tax", "staff", NULL);
    expect(ops, "suzuki", T0 + 31, "b5.automobile_tax", "admin", "role_not_allowed");
    expect(ops, "suzuki", T0 + 31, "b5.automobile_tax", "root", "role_not_allowed");
    expect(ops, "suzuki", T0 + 30, "b5.automobile_tax", "bulk", "purpose_not_allowed");
    expect(ops, "suzuki", T0 + 79, "b5.automobile_tax", "bulk", NULL);
    expect(ops, "suzuki", T0 + 80, "b5.automobile_tax", "bulk", "revoked");
    /* admin may do everything its grants cover; it has none. */
    expect(ops, "admin1", T0 + 80, NULL, "admin", NULL);
    expect(ops, "admin1", T0 + 80, NULL, "bulk", NULL);
    expect(ops, "admin1", T0 + 80, "b5.automobile_tax", "staff", "purpose_not_allowed");
    expect(ops, "admin1", T0 + 79, NULL, "admin", "unknown_operator");

    /* What the view says as of a time: the period in force then. */
    jk_operator_view_t v;
    const char *why;
    assert_int_equal(jk_operators_check(ops, "tanaka", T0 + 45, NULL, NULL, &v, &why), 0);
    assert_string_equal(v.id, "tanaka");
    assert_string_equal(v.department, "kenko_fukushi");
    assert_string_equal(v.role, "staff");
    char *k1 = key32(1), *k2 = key32(2), *k5 = key32(5), *k6 = key32(6);
    assert_string_equal(v.signing_key, k1);
    assert_string_equal(v.encryption_key, k2);
    assert_int_equal(v.registered_ms, T0 + 10);
    assert_int_equal(v.n_purposes, 1);
    assert_string_equal(v.purposes[0], "b5.hibakusha");
    assert_int_equal(jk_operators_check(ops, "tanaka", T0 + 75, "b5.hibakusha", NULL, &v, &why),
                     -1);
    assert_string_equal(why, "purpose_not_allowed");
    assert_string_equal(v.department, "doboku");
    assert_string_equal(v.signing_key, k5);
    assert_string_equal(v.encryption_key, k6);
    assert_int_equal(v.registered_ms, T0 + 60);
    free(k1);
    free(k2);
    free(k5);
    free(k6);
    /* out and refusal may be NULL. */
    assert_int_equal(jk_operators_check(ops, "tanaka", T0 + 75, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(jk_operators_check(ops, "tanaka", T0 + 55, NULL, NULL, NULL, NULL), -1);
}

static void test_history(void **state)
{
    (void)state;
    jk_operators_t *ops = jk_operators_new();
    assert_non_null(ops);
    history(ops);
    expect_history(ops);
    jk_operators_free(ops);

    /* A replay years later: the same events into a fresh registry give the same answers. */
    ops = jk_operators_new();
    assert_non_null(ops);
    history(ops);
    expect_history(ops);
    jk_operators_free(ops);
}

typedef struct listing {
    char text[512];
} listing_t;

static int list_one(const jk_operator_view_t *op, void *ctx)
{
    listing_t *l = ctx;
    size_t n = strlen(l->text);
    n += (size_t)snprintf(l->text + n, sizeof l->text - n, "%s%s/%s/%s@%lld:", n ? " " : "", op->id,
                          op->department, op->role, (long long)(op->registered_ms - T0));
    for (size_t i = 0; i < op->n_purposes; i++)
        n += (size_t)snprintf(l->text + n, sizeof l->text - n, "%s%s", i ? "," : "",
                              op->purposes[i]);
    return 0;
}

static void expect_listing(const jk_operators_t *ops, int64_t t, const char *want)
{
    listing_t l = {""};
    assert_int_equal(jk_operators_foreach_as_of(ops, t, list_one, &l), 0);
    assert_string_equal(l.text, want);
}

static int stop_at_first(const jk_operator_view_t *op, void *ctx)
{
    (void)op;
    (*(int *)ctx)++;
    return 7;
}

static void test_foreach_as_of(void **state)
{
    (void)state;
    jk_operators_t *ops = jk_operators_new();
    assert_non_null(ops);
    expect_listing(ops, T0, "");
    history(ops);
    expect_listing(ops, T0 + 9, "");
    expect_listing(ops, T0 + 10, "tanaka/kenko_fukushi/staff@10:");
    expect_listing(ops, T0 + 31,
                   "suzuki/somu/bulk@30:b5.automobile_tax "
                   "tanaka/kenko_fukushi/staff@10:ord.nursing_loan,b5.public_assistance");
    expect_listing(ops, T0 + 50, "suzuki/somu/bulk@30:b5.automobile_tax");
    expect_listing(ops, T0 + 70,
                   "suzuki/somu/bulk@30:b5.automobile_tax "
                   "tanaka/doboku/staff@60:ord.prefectural_housing");
    expect_listing(ops, T0 + 80,
                   "admin1/somu/admin@80: tanaka/doboku/staff@60:ord.prefectural_housing");
    int calls = 0;
    assert_int_equal(jk_operators_foreach_as_of(ops, T0 + 80, stop_at_first, &calls), 7);
    assert_int_equal(calls, 1);
    jk_operators_free(ops);
}

static void test_reregistration_and_ties(void **state)
{
    (void)state;
    jk_operators_t *ops = jk_operators_new();
    assert_non_null(ops);
    /* Registering a registered ID again starts a new period there: a new role, no purposes. */
    apply(ops, "operator.registered", registered("sato", "kankyo", "staff", 1), T0);
    apply(ops, "purpose.granted", granted("sato", "b5.passport", NULL), T0);
    expect(ops, "sato", T0, "b5.passport", "staff", NULL);
    apply(ops, "operator.registered", registered("sato", "kankyo", "bulk", 1), T0 + 5);
    expect(ops, "sato", T0 + 4, "b5.passport", "bulk", "role_not_allowed");
    expect(ops, "sato", T0 + 5, "b5.passport", "bulk", "purpose_not_allowed");
    expect(ops, "sato", T0 + 5, NULL, "bulk", NULL);
    /* An empty grant withdraws every purpose. */
    apply(ops, "purpose.granted", granted("sato", "b5.passport", "b5.hunting_license"), T0 + 6);
    expect(ops, "sato", T0 + 6, "b5.hunting_license", "bulk", NULL);
    apply(ops, "purpose.granted", granted("sato", NULL, NULL), T0 + 7);
    expect(ops, "sato", T0 + 7, "b5.hunting_license", "staff", "purpose_not_allowed");
    /* A revocation at the very time of a registration leaves an empty period. */
    apply(ops, "operator.registered", registered("ito", "norin", "staff", 9), T0 + 8);
    apply(ops, "operator.revoked", jk_operators_revoked_data("ito", "mistake"), T0 + 8);
    expect(ops, "ito", T0 + 7, NULL, NULL, "unknown_operator");
    expect(ops, "ito", T0 + 8, NULL, NULL, "revoked");
    /* A broker clock that steps back: the event takes effect at the previous event's time. */
    apply(ops, "operator.registered", registered("kato", "norin", "staff", 9), T0 + 3);
    expect(ops, "kato", T0 + 7, NULL, NULL, "unknown_operator");
    expect(ops, "kato", T0 + 8, NULL, NULL, NULL);
    jk_operators_free(ops);
}

static void test_refusals(void **state)
{
    (void)state;
    jk_operators_t *ops = jk_operators_new();
    assert_non_null(ops);
    char *k = key32(1);

    /* Not operator events: left to other projections. */
    jk_err_t err = {""};
    jk_envelope_t *ev = jk_envelope_new("key.revoked", ADMIN, NULL, json_object(), &err);
    assert_non_null(ev);
    assert_int_equal(jk_operators_apply(ops, ev, T0, &err), 1);
    jk_envelope_free(ev);

    apply_from(ops, "op:tanaka", "operator.registered", registered("tanaka", "somu", "staff", 1),
               T0, "only an admin source may register, revoke or grant");

    const char *reg_shape = "data must be {\"operator\",\"department\",\"role\",\"signing_key\","
                            "\"encryption_key\"}, all strings";
    refused(ops, "operator.registered", json_pack("{s:s}", "operator", "tanaka"), T0, reg_shape);
    refused(ops, "operator.registered",
            json_pack("{s:s, s:s, s:s, s:s, s:i}", "operator", "tanaka", "department", "somu",
                      "role", "staff", "signing_key", k, "encryption_key", 1),
            T0, reg_shape);
    refused(ops, "operator.registered",
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "operator", "tanaka", "department", "somu",
                      "role", "staff", "signing_key", k, "encryption_key", k, "extra", "x"),
            T0, reg_shape);
    refused(ops, "operator.registered", registered("Tanaka", "somu", "staff", 1), T0,
            "data.operator \"Tanaka\" is not [a-z0-9_.-]{1,32}");
    refused(ops, "operator.registered",
            registered("a23456789012345678901234567890123", "somu", "staff", 1), T0,
            "data.operator \"a23456789012345678901234567890123\" is not [a-z0-9_.-]{1,32}");
    refused(ops, "operator.registered", registered("", "somu", "staff", 1), T0,
            "data.operator \"\" is not [a-z0-9_.-]{1,32}");
    refused(ops, "operator.registered", registered("tanaka", "so mu", "staff", 1), T0,
            "data.department \"so mu\" is not [a-z0-9_]+");
    refused(ops, "operator.registered", registered("tanaka", "somu", "root", 1), T0,
            "data.role \"root\" is not staff, bulk or admin");
    refused(ops, "operator.registered",
            jk_operators_registered_data("tanaka", "somu", "staff", "AAAA", k), T0,
            "data.signing_key is not the base64 of 32 bytes");
    refused(ops, "operator.registered",
            jk_operators_registered_data("tanaka", "somu", "staff", k, "not base64!"), T0,
            "data.encryption_key is not the base64 of 32 bytes");

    refused(ops, "operator.revoked", jk_operators_revoked_data("tanaka", "left"), T0,
            "operator \"tanaka\" is not registered");
    refused(ops, "purpose.granted", granted("tanaka", "b5.passport", NULL), T0,
            "operator \"tanaka\" is not registered");
    /* Nothing refused was registered. */
    expect(ops, "tanaka", T0 + 1000, NULL, NULL, "unknown_operator");

    apply(ops, "operator.registered", registered("tanaka.k-2", "somu", "staff", 1), T0 + 1);
    refused(ops, "operator.revoked", json_pack("{s:s}", "operator", "tanaka.k-2"), T0 + 2,
            "data must be {\"operator\",\"reason\"}, both strings");
    refused(ops, "operator.revoked", jk_operators_revoked_data("tanaka.k-2", ""), T0 + 2,
            "data.reason must not be empty");
    refused(ops, "purpose.granted",
            json_pack("{s:s, s:s}", "operator", "tanaka.k-2", "purposes", "x"), T0 + 2,
            "data must be {\"operator\",\"purposes\"}, a string and an array of purpose codes");
    refused(ops, "purpose.granted",
            json_pack("{s:s, s:[s,i]}", "operator", "tanaka.k-2", "purposes", "b5.passport", 3),
            T0 + 2, "data.purposes[1] is not a purpose code ([a-z0-9_.]+)");
    refused(ops, "purpose.granted", granted("tanaka.k-2", "B5.passport", NULL), T0 + 2,
            "data.purposes[0] is not a purpose code ([a-z0-9_.]+)");
    refused(ops, "purpose.granted", granted("tanaka.k-2", "b5.passport", "b5.passport"), T0 + 2,
            "data.purposes[1] \"b5.passport\" is repeated");
    expect(ops, "tanaka.k-2", T0 + 2, "b5.passport", "staff", "purpose_not_allowed");

    apply(ops, "operator.revoked", jk_operators_revoked_data("tanaka.k-2", "left"), T0 + 3);
    refused(ops, "operator.revoked", jk_operators_revoked_data("tanaka.k-2", "again"), T0 + 4,
            "operator \"tanaka.k-2\" is already revoked");
    refused(ops, "purpose.granted", granted("tanaka.k-2", "b5.passport", NULL), T0 + 4,
            "operator \"tanaka.k-2\" is revoked");
    expect(ops, "tanaka.k-2", T0 + 2, NULL, "staff", NULL);
    expect(ops, "tanaka.k-2", T0 + 3, NULL, "staff", "revoked");

    /* The data builders refuse what they cannot build. */
    assert_null(jk_operators_registered_data(NULL, "somu", "staff", k, k));
    const char *bad[1] = {NULL};
    assert_null(jk_operators_granted_data("x", bad, 1));
    free(k);
    jk_operators_free(ops);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_foreach_as_of),
        cmocka_unit_test(test_reregistration_and_ties),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
