/* test_audit.c: the audit's pure rules: fiscal years and office hours in JST at their edges, the
 * statistics category, rates parsed exactly, and the sample: rate 0 and 1, stratification (a
 * department with a single use), reviewers never the operator nor of the department, no
 * eligible reviewer, the same sample whatever the input order, and the reviewers file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jukilog/audit.h"
#include "jukilog/util.h"

static int64_t at(const char *t)
{
    int64_t ms = 0;
    assert_int_equal(jk_time_parse(t, &ms), 0);
    return ms;
}

static void fiscal_year_and_hours(void **state)
{
    (void)state;
    /* 2025-04-01T00:00 JST is 2025-03-31T15:00Z */
    assert_int_equal(jk_audit_fiscal_year(at("2025-03-31T14:59:59.999Z")), 2024);
    assert_int_equal(jk_audit_fiscal_year(at("2025-03-31T15:00:00.000Z")), 2025);
    assert_int_equal(jk_audit_fiscal_year(at("2026-03-31T14:59:59.999Z")), 2025);
    assert_int_equal(jk_audit_fiscal_year(at("2026-03-31T15:00:00.000Z")), 2026);
    assert_int_equal(jk_audit_fiscal_year(at("1969-12-31T15:00:00.000Z")), 1969); /* before 0 */
    /* 08:00 JST = 23:00Z the day before; 20:00 JST = 11:00Z */
    assert_int_equal(jk_audit_jst_hour(at("2025-06-01T22:59:59.999Z")), 7);
    assert_true(jk_audit_off_hours(at("2025-06-01T22:59:59.999Z")));
    assert_false(jk_audit_off_hours(at("2025-06-01T23:00:00.000Z")));
    assert_false(jk_audit_off_hours(at("2025-06-02T10:59:59.999Z")));
    assert_true(jk_audit_off_hours(at("2025-06-02T11:00:00.000Z")));
    char d[11];
    jk_audit_jst_date(at("2025-06-01T15:00:00.000Z"), d);
    assert_string_equal(d, "2025-06-02");
    jk_audit_jst_date(at("2025-06-01T14:59:59.999Z"), d);
    assert_string_equal(d, "2025-06-01");
    jk_audit_jst_date(at("2028-02-28T15:00:00.000Z"), d);
    assert_string_equal(d, "2028-02-29");
}

static void stats_category(void **state)
{
    (void)state;
    assert_string_equal(jk_audit_stats_category("bulk", 1, "betsu5"), "bulk");
    assert_string_equal(jk_audit_stats_category("inquiry", 1, "betsu5"), "national");
    assert_string_equal(jk_audit_stats_category("inquiry", 0, "betsu6"), "betsu6");
    assert_string_equal(jk_audit_stats_category("disclosure", 0, "disclosure"), "disclosure");
    assert_string_equal(jk_audit_stats_category("inquiry", 0, NULL), "unknown");
}

static void rates(void **state)
{
    (void)state;
    jk_audit_rate_t r;
    jk_err_t err = {""};
    assert_int_equal(jk_audit_rate_parse("0.05", &r, &err), 0);
    assert_true(r.num == 5 && r.den == 100);
    assert_int_equal(jk_audit_rate_parse("1", &r, &err), 0);
    assert_true(r.num == 1 && r.den == 1);
    assert_int_equal(jk_audit_rate_parse("1.000", &r, &err), 0);
    assert_true(r.num == 1000 && r.den == 1000);
    assert_int_equal(jk_audit_rate_parse(".5", &r, &err), 0);
    assert_true(r.num == 5 && r.den == 10);
    assert_int_equal(jk_audit_rate_parse("0", &r, &err), 0);
    assert_true(r.num == 0);
    assert_int_equal(jk_audit_rate_parse("1.5", &r, &err), -1);
    assert_string_equal(err.msg, "rate \"1.5\" is not between 0 and 1");
    assert_int_equal(jk_audit_rate_parse("2", &r, &err), -1);
    assert_int_equal(jk_audit_rate_parse("-0.1", &r, &err), -1);
    assert_string_equal(err.msg, "rate \"-0.1\" is not a decimal number with at most 18 decimals");
    assert_int_equal(jk_audit_rate_parse("", &r, &err), -1);
    assert_int_equal(jk_audit_rate_parse("0.1234567890123456789", &r, &err), -1);

    /* exact comparison at the edge: 0.5 * 2^64 = 2^63 */
    assert_int_equal(jk_audit_rate_parse("0.5", &r, &err), 0);
    assert_true(jk_audit_below(0x7fffffffffffffffULL, &r));
    assert_false(jk_audit_below(0x8000000000000000ULL, &r));
    jk_audit_rate_parse("1", &r, &err);
    assert_true(jk_audit_below(UINT64_MAX, &r));
    jk_audit_rate_parse("0", &r, &err);
    assert_false(jk_audit_below(0, &r));
}

static void hash_is_hmac_sha256(void **state)
{
    (void)state;
    /* RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?" ->
     * 5bdcc146bf60754e... */
    assert_true(jk_audit_hash("Jefe", "what do ya want ", "for nothing?") == 0x5bdcc146bf60754eULL);
    assert_true(jk_audit_hash("Jefe", "what do ya want for nothing?", NULL) ==
                0x5bdcc146bf60754eULL);
}

#define NU 60
static char ids[NU][33];
static jk_audit_use_t uses[NU];
static const char *const deps[] = {"kenko_fukushi", "somu", "kyoiku"};

/* 59 uses spread over three operators of two departments, and one use of a third department. */
static void make_uses(void)
{
    static const char *const ops[] = {"sato", "suzuki", "takahashi"};
    for (int i = 0; i < NU; i++) {
        snprintf(ids[i], sizeof ids[i], "%032x", (unsigned)(i * 2654435761u));
        if (i == NU - 1)
            uses[i] = (jk_audit_use_t){ids[i], "tanaka", "kyoiku"};
        else
            uses[i] = (jk_audit_use_t){ids[i], ops[i % 3], deps[i % 3 == 2 ? 1 : 0]};
    }
}

static const jk_audit_reviewer_t reviewers[] = {
    {"ito", "kyoiku"},
    {"sato", "somu"}, /* sato reviews, but never sato's own records */
    {"watanabe", "kenko_fukushi"},
};

static void check_picks(const char *seed, const jk_audit_rate_t *rate, jk_audit_pick_t *p,
                        size_t np)
{
    int per_dep[3] = {0, 0, 0};
    for (size_t k = 0; k < np; k++) {
        const jk_audit_use_t *u = &uses[p[k].use];
        const jk_audit_reviewer_t *rv = &reviewers[p[k].reviewer];
        assert_string_not_equal(rv->id, u->operator);
        assert_string_not_equal(rv->department, u->department);
        if (k) assert_true(strcmp(uses[p[k - 1].use].id, u->id) < 0);
        assert_true(p[k].hash == jk_audit_hash(seed, u->id, NULL));
        assert_int_equal(p[k].stratified, !jk_audit_below(p[k].hash, rate));
        for (int d = 0; d < 3; d++)
            if (strcmp(u->department, deps[d]) == 0) per_dep[d]++;
    }
    for (int d = 0; d < 3; d++)
        assert_true(per_dep[d] >= 1);
}

static void draw_rates(void **state)
{
    (void)state;
    make_uses();
    jk_err_t err = {""};
    jk_audit_rate_t r;
    jk_audit_pick_t *p = NULL;
    size_t np = 0;

    jk_audit_rate_parse("1", &r, &err);
    assert_int_equal(jk_audit_draw("s1", &r, uses, NU, reviewers, 3, &p, &np, &err), 0);
    assert_int_equal(np, NU);
    check_picks("s1", &r, p, np);
    free(p);

    /* rate 0: one record per department, the one with the smallest hash */
    jk_audit_rate_parse("0", &r, &err);
    assert_int_equal(jk_audit_draw("s1", &r, uses, NU, reviewers, 3, &p, &np, &err), 0);
    assert_int_equal(np, 3);
    check_picks("s1", &r, p, np);
    for (size_t k = 0; k < np; k++) {
        assert_true(p[k].stratified);
        for (int i = 0; i < NU; i++)
            if (strcmp(uses[i].department, uses[p[k].use].department) == 0)
                assert_true(jk_audit_hash("s1", uses[i].id, NULL) >= p[k].hash);
    }
    free(p);

    /* 0.25: what the rule draws plus the single use of kyoiku (stratified unless drawn) */
    jk_audit_rate_parse("0.25", &r, &err);
    assert_int_equal(jk_audit_draw("s2", &r, uses, NU, reviewers, 3, &p, &np, &err), 0);
    size_t want = 0;
    for (int i = 0; i < NU; i++)
        want += jk_audit_below(jk_audit_hash("s2", uses[i].id, NULL), &r);
    int single_drawn = jk_audit_below(jk_audit_hash("s2", uses[NU - 1].id, NULL), &r);
    assert_int_equal(np, want + !single_drawn);
    assert_true(want > 5 && want < 25); /* 15 expected of 60 */
    check_picks("s2", &r, p, np);
    free(p);
}

static void draw_same_in_any_order(void **state)
{
    (void)state;
    make_uses();
    jk_err_t err = {""};
    jk_audit_rate_t r;
    jk_audit_rate_parse("0.3", &r, &err);
    jk_audit_pick_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    assert_int_equal(jk_audit_draw("seed", &r, uses, NU, reviewers, 3, &a, &na, &err), 0);
    jk_audit_use_t rev[NU];
    for (int i = 0; i < NU; i++)
        rev[i] = uses[NU - 1 - i];
    jk_audit_reviewer_t rrev[3] = {reviewers[2], reviewers[1], reviewers[0]};
    assert_int_equal(jk_audit_draw("seed", &r, rev, NU, rrev, 3, &b, &nb, &err), 0);
    assert_int_equal(na, nb);
    for (size_t k = 0; k < na; k++) {
        assert_string_equal(uses[a[k].use].id, rev[b[k].use].id);
        assert_string_equal(reviewers[a[k].reviewer].id, rrev[b[k].reviewer].id);
        assert_int_equal(a[k].stratified, b[k].stratified);
    }
    free(b);
    /* another seed, another sample */
    assert_int_equal(jk_audit_draw("other", &r, uses, NU, reviewers, 3, &b, &nb, &err), 0);
    int same = na == nb;
    for (size_t k = 0; same && k < na; k++)
        same = strcmp(uses[a[k].use].id, uses[b[k].use].id) == 0;
    free(a);
    free(b);
    assert_false(same && na > 3);
}

static void no_eligible_reviewer(void **state)
{
    (void)state;
    jk_audit_use_t u[2] = {{"0000000000000000000000000000000a", "sato", "somu"},
                           {"0000000000000000000000000000000b", "ito", "kyoiku"}};
    /* sato is the operator of a; the other reviewer is of somu */
    jk_audit_reviewer_t rv[2] = {{"sato", "kyoiku"}, {"kato", "somu"}};
    jk_err_t err = {""};
    jk_audit_rate_t r = {1, 1};
    jk_audit_pick_t *p = NULL;
    size_t np = 0;
    assert_int_equal(jk_audit_draw("s", &r, u, 2, rv, 2, &p, &np, &err), -1);
    assert_string_equal(err.msg, "record 0000000000000000000000000000000a (operator sato, "
                                 "department somu): no reviewer is eligible (each is its "
                                 "operator or of its department)");
    /* no uses at all: an empty sample */
    assert_int_equal(jk_audit_draw("s", &r, u, 0, rv, 0, &p, &np, &err), 0);
    assert_int_equal(np, 0);
    free(p);
}

static void reviewers_file(void **state)
{
    (void)state;
    jk_err_t err = {""};
    size_t n = 0;
    const char ok[] = "reviewer,department\r\nito,kyoiku\n\nkato,somu\n";
    jk_audit_reviewer_t *r = jk_audit_reviewers_parse(ok, strlen(ok), &n, &err);
    assert_non_null(r);
    assert_int_equal(n, 2);
    assert_string_equal(r[1].id, "kato");
    assert_string_equal(r[1].department, "somu");
    jk_audit_reviewers_free(r, n);
    const char *bad[][2] = {
        {"id,dept\nito,kyoiku\n", "line 1: the header must be \"reviewer,department\""},
        {"reviewer,department\nito\n", "line 2: expected two fields, reviewer and department"},
        {"reviewer,department\nito,kyoiku\n\nIto,somu\n",
         "line 4: reviewer \"Ito\" is not [a-z0-9_.-]{1,32}"},
        {"reviewer,department\nito,kyoiku\nito,somu\n", "line 3: reviewer ito is listed twice"},
        {"", "empty: the header must be \"reviewer,department\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(jk_audit_reviewers_parse(bad[i][0], strlen(bad[i][0]), &n, &err));
        assert_string_equal(err.msg, bad[i][1]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fiscal_year_and_hours),
        cmocka_unit_test(stats_category),
        cmocka_unit_test(rates),
        cmocka_unit_test(hash_is_hmac_sha256),
        cmocka_unit_test(draw_rates),
        cmocka_unit_test(draw_same_in_any_order),
        cmocka_unit_test(no_eligible_reviewer),
        cmocka_unit_test(reviewers_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
