/* test_purposes.c: the catalogue of lawful purposes: the shipped ops/purposes.json loads and
 * holds what the prefecture needs, lookups answer exactly, and malformed catalogues are refused
 * with a message naming the entry and the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jukilog/purposes.h"

#ifndef JK_SOURCE_DIR
#define JK_SOURCE_DIR "."
#endif

static jk_catalogue_t *load_shipped(void)
{
    const char *dir = getenv("JK_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/ops/purposes.json", dir ? dir : JK_SOURCE_DIR);
    jk_err_t err = {""};
    jk_catalogue_t *cat = jk_catalogue_load(path, &err);
    if (cat == NULL) fail_msg("%s", err.msg);
    return cat;
}

static void test_shipped_catalogue(void **state)
{
    (void)state;
    jk_catalogue_t *cat = load_shipped();
    assert_true(jk_catalogue_count(cat) >= 24);
    assert_true(jk_catalogue_department_count(cat) >= 13);

    static const char *const cats[] = {"betsu5", "betsu6", "ordinance", "disclosure", "statistics"};
    size_t seen[5] = {0};
    for (size_t i = 0; i < jk_catalogue_count(cat); i++) {
        const jk_purpose_t *p = jk_catalogue_at(cat, i);
        assert_non_null(p);
        for (size_t c = 0; c < 5; c++)
            if (strcmp(p->category, cats[c]) == 0) seen[c]++;
        assert_true(p->title_ja[0] != '\0' && p->description[0] != '\0');
        assert_true(p->n_departments >= 1);
        for (size_t d = 0; d < p->n_departments; d++) {
            assert_true(jk_catalogue_department_exists(cat, p->departments[d]));
            assert_true(jk_catalogue_may_cite(cat, p->code, p->departments[d]));
        }
        assert_ptr_equal(jk_catalogue_find(cat, p->code), p);
    }
    assert_null(jk_catalogue_at(cat, jk_catalogue_count(cat)));
    assert_true(seen[0] >= 10 && seen[1] >= 4 && seen[2] >= 4);
    assert_int_equal(seen[3], 1);
    assert_int_equal(seen[4], 1);

    /* Every department the issue names is there with its Japanese name. */
    static const char *const deps[] = {"kikaku",   "kenko_fukushi", "somu",         "doboku",
                                       "kankyo",   "shoko_rodo",    "norin",        "kyoiku_iinkai",
                                       "keisatsu", "jinji_iinkai",  "senkyo_kanri", "kaikei",
                                       "shimin"};
    for (size_t i = 0; i < sizeof deps / sizeof *deps; i++)
        assert_true(jk_catalogue_department_exists(cat, deps[i]));
    const jk_department_t *d0 = jk_catalogue_department_at(cat, 0);
    assert_string_equal(d0->code, "somu");
    assert_string_equal(d0->name_ja, "総務部");
    assert_null(jk_catalogue_department_at(cat, jk_catalogue_department_count(cat)));

    const jk_purpose_t *p = jk_catalogue_find(cat, "ord.nursing_loan");
    assert_non_null(p);
    assert_string_equal(p->category, "ordinance");
    assert_string_equal(p->title_ja, "看護師等修学資金貸付金の償還");
    assert_int_equal(p->n_departments, 1);
    assert_string_equal(p->departments[0], "kenko_fukushi");
    assert_false(p->bulk);

    p = jk_catalogue_find(cat, "b5.automobile_tax");
    assert_non_null(p);
    assert_string_equal(p->category, "betsu5");
    assert_true(p->bulk);
    p = jk_catalogue_find(cat, "b6.driving_license");
    assert_non_null(p);
    assert_string_equal(p->category, "betsu6");
    assert_string_equal(jk_catalogue_find(cat, "disclosure.self")->category, "disclosure");
    assert_string_equal(jk_catalogue_find(cat, "stats.usage")->category, "statistics");
    assert_null(jk_catalogue_find(cat, "b5.passport.x"));
    assert_null(jk_catalogue_find(cat, ""));

    /* Who may cite what: the department's own affairs only. */
    assert_true(jk_catalogue_may_cite(cat, "b5.passport", "kankyo"));
    assert_false(jk_catalogue_may_cite(cat, "b5.passport", "keisatsu"));
    assert_true(jk_catalogue_may_cite(cat, "b6.driving_license", "keisatsu"));
    assert_false(jk_catalogue_may_cite(cat, "b6.driving_license", "kenko_fukushi"));
    assert_true(jk_catalogue_may_cite(cat, "ord.claims_management", "kaikei"));
    assert_true(jk_catalogue_may_cite(cat, "ord.claims_management", "somu"));
    assert_false(jk_catalogue_may_cite(cat, "ord.claims_management", "doboku"));
    assert_true(jk_catalogue_may_cite(cat, "disclosure.self", "shimin"));
    assert_false(jk_catalogue_may_cite(cat, "no.such", "shimin"));
    assert_false(jk_catalogue_may_cite(cat, "b5.passport", "no_such"));
    assert_false(jk_catalogue_department_exists(cat, "Somu"));

    jk_catalogue_free(cat);
}

/* A one-purpose catalogue with the given purpose object and department list. */
static void expect_refused(const char *deps, const char *purposes, const char *want)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "{\"version\":1,\"departments\":%s,\"purposes\":%s}", deps, purposes);
    jk_err_t err = {""};
    jk_catalogue_t *cat = jk_catalogue_parse(buf, strlen(buf), &err);
    if (cat != NULL) fail_msg("accepted %s", buf);
    assert_string_equal(err.msg, want);
}

#define DEPS                                                                                               \
    "[{\"code\":\"somu\",\"name_ja\":\"総務部\"},{\"code\":\"shimin\",\"name_ja\":\"県民生活課\"}" \
    "]"
#define P(code, cat, deps)                                                                         \
    "{\"code\":\"" code "\",\"category\":\"" cat "\",\"title_ja\":\"t\",\"description\":\"d\","    \
    "\"departments\":" deps ",\"bulk\":false}"

static void test_minimal_accepted(void **state)
{
    (void)state;
    const char *buf = "{\"version\":1,\"departments\":" DEPS
                      ",\"purposes\":[" P("b5.tax", "betsu5", "[\"somu\"]") "," P(
                          "disclosure.self", "disclosure", "[\"shimin\",\"somu\"]") "]}";
    jk_err_t err = {""};
    jk_catalogue_t *cat = jk_catalogue_parse(buf, strlen(buf), &err);
    if (cat == NULL) fail_msg("%s", err.msg);
    assert_int_equal(jk_catalogue_count(cat), 2);
    assert_int_equal(jk_catalogue_department_count(cat), 2);
    assert_true(jk_catalogue_may_cite(cat, "disclosure.self", "somu"));
    assert_false(jk_catalogue_may_cite(cat, "b5.tax", "shimin"));
    jk_catalogue_free(cat);
}

static void test_malformed_refused(void **state)
{
    (void)state;
    expect_refused(
        DEPS, "[" P("b5.tax", "betsu5", "[\"somu\"]") "," P("b5.tax", "betsu6", "[\"somu\"]") "]",
        "purposes[1].code: duplicate \"b5.tax\"");
    expect_refused(DEPS, "[" P("b5.tax", "betsu7", "[\"somu\"]") "]",
                   "purposes[0].category: \"betsu7\" is not one of betsu5, betsu6, ordinance, "
                   "disclosure, statistics");
    expect_refused(DEPS, "[" P("b5.tax", "betsu5", "[\"somu\",\"doboku\"]") "]",
                   "purposes[0].departments[1]: unknown department \"doboku\"");
    expect_refused(DEPS, "[" P("b5.tax", "betsu5", "[\"somu\",\"somu\"]") "]",
                   "purposes[0].departments[1]: duplicate \"somu\"");
    expect_refused(DEPS, "[" P("b5.tax", "betsu5", "[]") "]",
                   "purposes[0].departments: must be a non-empty array of department codes");
    expect_refused(DEPS, "[" P("B5.Tax", "betsu5", "[\"somu\"]") "]",
                   "purposes[0].code: \"B5.Tax\" is not [a-z0-9_.]+");
    expect_refused(DEPS, "[" P("b5 tax", "betsu5", "[\"somu\"]") "]",
                   "purposes[0].code: \"b5 tax\" is not [a-z0-9_.]+");
    expect_refused(DEPS, "[" P("", "betsu5", "[\"somu\"]") "]",
                   "purposes[0].code: must be a non-empty string");
    expect_refused(DEPS,
                   "[{\"code\":\"a\",\"category\":\"betsu5\",\"title_ja\":\"\","
                   "\"description\":\"d\",\"departments\":[\"somu\"],\"bulk\":false}]",
                   "purposes[0].title_ja: must be a non-empty string");
    expect_refused(DEPS,
                   "[{\"code\":\"a\",\"category\":\"betsu5\",\"title_ja\":\"t\","
                   "\"departments\":[\"somu\"],\"bulk\":false}]",
                   "purposes[0].description: missing");
    expect_refused(DEPS,
                   "[{\"code\":\"a\",\"category\":\"betsu5\",\"title_ja\":\"t\","
                   "\"description\":\"d\",\"departments\":[\"somu\"],\"bulk\":1}]",
                   "purposes[0].bulk: must be true or false");
    expect_refused(DEPS,
                   "[{\"code\":\"a\",\"category\":\"betsu5\",\"title_ja\":\"t\",\"law\":\"x\","
                   "\"description\":\"d\",\"departments\":[\"somu\"],\"bulk\":false}]",
                   "purposes[0].law: unknown field");
    expect_refused(DEPS, "[]", "purposes: must be a non-empty array");
    expect_refused("[{\"code\":\"somu\",\"name_ja\":\"a\"},{\"code\":\"somu\",\"name_ja\":\"b\"}]",
                   "[" P("a", "betsu5", "[\"somu\"]") "]",
                   "departments[1].code: duplicate \"somu\"");
    expect_refused("[{\"code\":\"So-mu\",\"name_ja\":\"a\"}]",
                   "[" P("a", "betsu5", "[\"somu\"]") "]",
                   "departments[0].code: \"So-mu\" is not [a-z0-9_]+");
    expect_refused("[{\"code\":\"somu\"}]", "[" P("a", "betsu5", "[\"somu\"]") "]",
                   "departments[0].name_ja: missing");

    jk_err_t err = {""};
    const char *v2 = "{\"version\":2,\"departments\":" DEPS
                     ",\"purposes\":[" P("a", "betsu5", "[\"somu\"]") "]}";
    assert_null(jk_catalogue_parse(v2, strlen(v2), &err));
    assert_string_equal(err.msg, "version: must be 1");
    const char *extra = "{\"version\":1,\"extra\":0}";
    assert_null(jk_catalogue_parse(extra, strlen(extra), &err));
    assert_string_equal(err.msg, "extra: unknown field");
    assert_null(jk_catalogue_parse("[1]", 3, &err));
    assert_string_equal(err.msg, "the catalogue must be a JSON object");
    assert_null(jk_catalogue_parse("{\"version\":1,", 13, &err));
    assert_string_equal(err.msg,
                        "not JSON: string or '}' expected near end of file (line 1, column 13)");
    const char *dup = "{\"version\":1,\"version\":1}";
    assert_null(jk_catalogue_parse(dup, strlen(dup), &err));
    assert_true(strncmp(err.msg, "not JSON: duplicate object key", 30) == 0);
}

static void test_load_names_the_file(void **state)
{
    (void)state;
    char path[] = "/tmp/jk_purposes_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs("{\"version\":1,\"departments\":" DEPS
          ",\"purposes\":[" P("a", "statistics", "[\"kikaku\"]") "]}",
          f);
    fclose(f);
    jk_err_t err = {""};
    assert_null(jk_catalogue_load(path, &err));
    char want[256];
    snprintf(want, sizeof want, "%s: purposes[0].departments[0]: unknown department \"kikaku\"",
             path);
    assert_string_equal(err.msg, want);
    remove(path);

    assert_null(jk_catalogue_load("/nonexistent/purposes.json", &err));
    assert_string_equal(err.msg,
                        "/nonexistent/purposes.json: cannot open: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_catalogue),
        cmocka_unit_test(test_minimal_accepted),
        cmocka_unit_test(test_malformed_refused),
        cmocka_unit_test(test_load_names_the_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
