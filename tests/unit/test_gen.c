/* test_gen.c: `jukilog gen` keeps its promises. The same seed gives the same bytes; every record
 * is well formed for `cs send` except the deliberate CS-side faults, exactly as many as the
 * manifest says; and sending the files in the demo's order through the prefecture's own state
 * machine (jk_identity_apply) gives exactly the outcome counts of the manifest and the identity
 * file of expected.jsonl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jukilog/change.h"
#include "jukilog/codes.h"
#include "jukilog/gen.h"
#include "jukilog/identity.h"
#include "jukilog/strmap.h"

#define RESIDENTS 2000
#define YEARS 2

static char root[256];

static void path_of(char *out, size_t n, const char *run, const char *rest)
{
    snprintf(out, n, "%s/%s%s%s", root, run, rest ? "/" : "", rest ? rest : "");
}

static void generate(const char *run, uint64_t seed, double faults)
{
    char out[512];
    path_of(out, sizeof out, run, NULL);
    jk_gen_opts_t o;
    jk_gen_opts_init(&o);
    o.residents = RESIDENTS;
    o.years = YEARS;
    o.seed = seed;
    o.faults = faults;
    o.out = out;
    jk_err_t err = {{0}};
    if (jk_gen_run(&o, &err) != 0) fail_msg("jk_gen_run %s: %s", run, err.msg);
}

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/test_gen.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(root) == NULL) return -1;
    /* A high fault rate, so that every kind of fault shows up in a small prefecture. */
    generate("a", 7, 0.1);
    generate("a2", 7, 0.1);
    generate("b", 8, 0.1);
    generate("clean", 7, 0);
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    (void)state;
    return nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *b = realloc(buf, cap *= 2);
            if (b == NULL) free(buf);
            buf = b;
        }
    }
    fclose(f);
    if (buf) buf[n < cap ? n : cap - 1] = '\0';
    *len = n;
    return buf;
}

/* ---- byte-identical runs ---- */

static const char *other_root;
static size_t files_seen, files_differing;

static int compare_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag != FTW_F) return 0;
    /* path is <root>/<run>/<rest>: the same rest under the other run. */
    const char *rest = strchr(path + strlen(root) + 1, '/');
    char other[1024];
    snprintf(other, sizeof other, "%s%s", other_root, rest);
    size_t na, nb;
    char *a = slurp(path, &na), *b = slurp(other, &nb);
    files_seen++;
    if (a == NULL || b == NULL || na != nb || memcmp(a, b, na) != 0) files_differing++;
    free(a);
    free(b);
    return 0;
}

static size_t count_entries;
static int count_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path;
    (void)sb;
    (void)ftw;
    if (flag == FTW_F) count_entries++;
    return 0;
}

/* Compares every file of run x with the same file of run y; returns the number that differ. */
static size_t compare_runs(const char *x, const char *y, size_t *files)
{
    char px[512], py[512];
    path_of(px, sizeof px, x, NULL);
    path_of(py, sizeof py, y, NULL);
    other_root = py;
    files_seen = files_differing = 0;
    assert_int_equal(nftw(px, compare_entry, 16, FTW_PHYS), 0);
    count_entries = 0;
    assert_int_equal(nftw(py, count_entry, 16, FTW_PHYS), 0);
    assert_int_equal(count_entries, files_seen);
    *files = files_seen;
    return files_differing;
}

static void same_seed_same_bytes(void **state)
{
    (void)state;
    size_t files;
    assert_int_equal(compare_runs("a", "a2", &files), 0);
    /* manifest, expected, and 19 files for each of 1 + 4 * YEARS periods */
    assert_int_equal(files, 2 + 19 * (1 + 4 * YEARS));
}

static void other_seed_other_bytes(void **state)
{
    (void)state;
    size_t files;
    /* Some quarter files of the smallest towns are empty in both runs; the rest differ. */
    assert_true(compare_runs("a", "b", &files) > files * 3 / 4);
    char pa[512], pb[512];
    path_of(pa, sizeof pa, "a", "expected.jsonl");
    path_of(pb, sizeof pb, "b", "expected.jsonl");
    size_t na, nb;
    char *a = slurp(pa, &na), *b = slurp(pb, &nb);
    assert_true(a && b && (na != nb || memcmp(a, b, na) != 0));
    free(a);
    free(b);
}

/* ---- sending the files in the demo's order ---- */

typedef struct tally {
    long lines, parsed, cs_refused, applied, superseded, rejected;
    json_t *cs_codes;       /* parse failure code -> count */
    json_t *rejected_codes; /* projector rejection code -> count */
    jk_strmap_t *persons;   /* resident code -> jk_person_t* */
    long out_of_order;      /* parsed records dated before the previous one of the file */
} tally_t;

static void bump(json_t *counts, const char *code)
{
    json_int_t n = json_integer_value(json_object_get(counts, code));
    json_object_set_new(counts, code, json_integer(n + 1));
}

static void apply_change(tally_t *t, const jk_change_t *ch, const char *sender)
{
    jk_person_t *cur = jk_strmap_get(t->persons, ch->resident_code);
    jk_person_t *target =
        ch->new_resident_code[0] ? jk_strmap_get(t->persons, ch->new_resident_code) : NULL;
    jk_apply_in_t in = {ch, sender, cur, target, "", t->lines};
    jk_apply_out_t out;
    assert_int_equal(jk_identity_apply(&in, &out), 0);
    if (out.outcome == JK_SUPERSEDED) {
        t->superseded++;
    } else if (out.outcome == JK_REJECTED) {
        t->rejected++;
        bump(t->rejected_codes, out.code);
    } else {
        t->applied++;
        jk_person_t *next = malloc(sizeof *next);
        assert_non_null(next);
        *next = out.next;
        if (cur) {
            if (out.renamed) jk_strmap_del(t->persons, cur->resident_code);
            jk_person_free(cur);
            free(cur);
        }
        assert_int_equal(jk_strmap_put(t->persons, next->resident_code, next), 0);
    }
}

/* Every period in order, within it the municipalities in ascending code order, each file in
 * line order: parsed as `cs send` does, the good ones applied as the projector does. */
static void send_all(const char *run, json_t *manifest, tally_t *t)
{
    memset(t, 0, sizeof *t);
    t->cs_codes = json_object();
    t->rejected_codes = json_object();
    t->persons = jk_strmap_new();
    json_t *periods = json_object_get(manifest, "periods");
    json_t *munis = json_object_get(manifest, "municipalities");
    assert_int_equal(json_array_size(periods), 1 + 4 * YEARS);
    assert_int_equal(json_array_size(munis), 19);
    size_t i, j;
    json_t *period, *muni;
    const char *prev_code = "";
    json_array_foreach(munis, j, muni)
    {
        const char *code = json_string_value(json_object_get(muni, "code"));
        assert_true(strcmp(prev_code, code) < 0);
        prev_code = code;
    }
    json_array_foreach(periods, i, period)
    {
        json_array_foreach(munis, j, muni)
        {
            const char *code = json_string_value(json_object_get(muni, "code"));
            char rest[128], path[512];
            snprintf(rest, sizeof rest, "periods/%s/%s.jsonl", json_string_value(period), code);
            path_of(path, sizeof path, run, rest);
            size_t len;
            char *text = slurp(path, &len);
            assert_non_null(text);
            jk_change_ctx_t ctx = {"35", code};
            char last_eff[11] = "";
            for (char *line = text, *nl; *line; line = nl + 1) {
                nl = strchr(line, '\n');
                assert_non_null(nl); /* every line ends with a newline */
                *nl = '\0';
                t->lines++;
                json_error_t jerr;
                json_t *rec = json_loads(line, 0, &jerr);
                if (rec == NULL) fail_msg("%s line: %s", path, jerr.text);
                jk_change_t ch;
                jk_problem_t pb;
                if (jk_change_parse(rec, &ctx, &ch, &pb) != 0) {
                    t->cs_refused++;
                    bump(t->cs_codes, pb.code);
                } else {
                    t->parsed++;
                    if (strcmp(ch.effective_date, last_eff) < 0) t->out_of_order++;
                    memcpy(last_eff, ch.effective_date, sizeof last_eff);
                    apply_change(t, &ch, code);
                    jk_change_free(&ch);
                }
                json_decref(rec);
            }
            free(text);
        }
    }
}

static void free_person(void *ctx, const char *key, void *value)
{
    (void)ctx;
    (void)key;
    jk_person_free(value);
    free(value);
}

static void tally_free(tally_t *t)
{
    json_decref(t->cs_codes);
    json_decref(t->rejected_codes);
    jk_strmap_foreach(t->persons, free_person, NULL);
    jk_strmap_free(t->persons);
}

static json_t *load_manifest(const char *run)
{
    char path[512];
    path_of(path, sizeof path, run, "manifest.json");
    json_error_t jerr;
    json_t *m = json_load_file(path, 0, &jerr);
    if (m == NULL) fail_msg("%s: %s", path, jerr.text);
    return m;
}

static json_int_t count_of(json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

static const char *const cs_side[] = {"invalid_format", "wrong_municipality", "future_date"};
static const char *const projector_side[] = {"already_resident", "code_exists", "unknown_resident",
                                             "not_resident_here", "field_not_changeable"};

/* True when every key of counts is one of codes. */
static int only_codes(json_t *counts, const char *const *codes, size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach(counts, key, v)
    {
        size_t k = 0;
        while (k < n && strcmp(codes[k], key) != 0)
            k++;
        if (k == n) {
            print_error("unexpected outcome %s (%lld times)\n", key,
                        (long long)json_integer_value(v));
            return 0;
        }
    }
    return 1;
}

/* The outcome counts of sending run's files equal the manifest's expectations. */
static void check_outcomes(json_t *manifest, tally_t *t)
{
    json_t *exp = json_object_get(manifest, "expected");
    json_t *records = json_object_get(manifest, "records");
    assert_int_equal(t->lines, count_of(records, "total"));
    assert_int_equal(t->out_of_order, 0);

    /* Parse failures are the CS-side faults, no more and no other. */
    json_int_t cs = 0;
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(count_of(t->cs_codes, cs_side[k]), count_of(exp, cs_side[k]));
        cs += count_of(exp, cs_side[k]);
    }
    assert_true(only_codes(t->cs_codes, cs_side, 3));
    assert_int_equal(t->cs_refused, cs);
    assert_int_equal(t->parsed, count_of(exp, "sent"));

    json_int_t rejected = 0;
    for (size_t k = 0; k < 5; k++) {
        assert_int_equal(count_of(t->rejected_codes, projector_side[k]),
                         count_of(exp, projector_side[k]));
        rejected += count_of(exp, projector_side[k]);
    }
    assert_true(only_codes(t->rejected_codes, projector_side, 5));
    assert_int_equal(t->rejected, rejected);
    assert_int_equal(t->superseded, count_of(exp, "superseded"));
    assert_int_equal(t->applied, count_of(exp, "accepted"));
    assert_int_equal(t->applied + t->rejected + t->superseded, count_of(exp, "sent"));
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* expected.jsonl: well formed, sorted, unique, and equal to the state the sending built. */
static void check_identity_file(const char *run, json_t *manifest, tally_t *t)
{
    static const char *const keys[] = {
        "resident_code", "my_number",         "name",   "name_kana", "birth_date",     "sex",
        "address",       "municipality_code", "status", "reason",    "effective_date", "version",
    };
    char path[512];
    path_of(path, sizeof path, run, "expected.jsonl");
    size_t len;
    char *text = slurp(path, &len);
    assert_non_null(text);
    char prev[12] = "";
    long lines = 0, resident = 0, removed = 0, versions = 0;
    for (char *line = text, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        lines++;
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        if (o == NULL) fail_msg("expected.jsonl: %s", jerr.text);
        /* Exactly these keys in this order; name_kana may be left out. */
        size_t k = 0;
        const char *key;
        json_t *v;
        json_object_foreach(o, key, v)
        {
            if (strcmp(keys[k], "name_kana") == 0 && strcmp(key, "name_kana") != 0) k++;
            assert_string_equal(key, keys[k]);
            k++;
        }
        assert_int_equal(k, 12);

        const char *code = json_string_value(json_object_get(o, "resident_code"));
        assert_non_null(code);
        assert_true(strcmp(prev, code) < 0); /* sorted, so unique */
        snprintf(prev, sizeof prev, "%s", code);
        assert_true(jk_code_resident_valid(code));
        const char *my_number = json_string_value(json_object_get(o, "my_number"));
        assert_true(jk_code_my_number_valid(my_number));

        const char *status = json_string_value(json_object_get(o, "status"));
        json_int_t version = json_integer_value(json_object_get(o, "version"));
        if (strcmp(status, "resident") == 0)
            resident++;
        else
            removed++;
        versions += version;

        const jk_person_t *p = jk_strmap_get(t->persons, code);
        if (p == NULL) fail_msg("expected.jsonl has %s, which sending did not create", code);
        assert_string_equal(my_number, p->my_number);
        assert_string_equal(json_string_value(json_object_get(o, "name")), p->name);
        assert_string_equal(nz(json_string_value(json_object_get(o, "name_kana"))),
                            nz(p->name_kana));
        assert_string_equal(json_string_value(json_object_get(o, "birth_date")), p->birth_date);
        assert_string_equal(json_string_value(json_object_get(o, "sex")), p->sex);
        assert_string_equal(json_string_value(json_object_get(o, "address")), p->address);
        assert_string_equal(json_string_value(json_object_get(o, "municipality_code")),
                            p->municipality_code);
        assert_string_equal(status, p->status == JK_RESIDENT ? "resident" : "removed");
        assert_string_equal(json_string_value(json_object_get(o, "reason")), p->reason);
        assert_string_equal(json_string_value(json_object_get(o, "effective_date")),
                            p->effective_date);
        assert_int_equal(version, p->version);
        json_decref(o);
    }
    free(text);
    assert_int_equal(lines, (long)jk_strmap_count(t->persons));

    json_t *final = json_object_get(manifest, "final");
    assert_int_equal(resident, count_of(final, "resident"));
    assert_int_equal(removed, count_of(final, "removed"));
    assert_int_equal(lines, count_of(final, "persons"));
    assert_int_equal(versions, count_of(json_object_get(manifest, "expected"), "accepted"));
}

static void sending_gives_the_expected_outcome(void **state)
{
    (void)state;
    json_t *m = load_manifest("a");
    tally_t t;
    send_all("a", m, &t);
    check_outcomes(m, &t);
    check_identity_file("a", m, &t);

    /* At this rate every kind of fault is there, and every reason of DOMAIN.md. */
    json_t *exp = json_object_get(m, "expected");
    for (size_t k = 0; k < 3; k++)
        assert_true(count_of(exp, cs_side[k]) > 0);
    for (size_t k = 0; k < 5; k++)
        assert_true(count_of(exp, projector_side[k]) > 0);
    assert_true(count_of(exp, "superseded") > 0);
    const char *reason;
    json_t *n;
    json_object_foreach(json_object_get(json_object_get(m, "records"), "by_reason"), reason, n)
    {
        if (json_integer_value(n) == 0) fail_msg("no record with reason %s", reason);
    }
    assert_int_equal(json_object_size(json_object_get(json_object_get(m, "records"), "by_reason")),
                     15);
    assert_int_equal(count_of(json_object_get(m, "options"), "residents"), RESIDENTS);
    tally_free(&t);
    json_decref(m);
}

static void no_faults_no_failures(void **state)
{
    (void)state;
    json_t *m = load_manifest("clean");
    tally_t t;
    send_all("clean", m, &t);
    check_outcomes(m, &t);
    check_identity_file("clean", m, &t);
    assert_int_equal(t.cs_refused, 0);
    assert_int_equal(t.rejected, 0);
    assert_int_equal(t.parsed, t.lines);
    tally_free(&t);
    json_decref(m);
}

/* ---- refusals ---- */

static void refuses_what_it_cannot_do(void **state)
{
    (void)state;
    char out[512];
    jk_gen_opts_t o;
    jk_err_t err = {{0}};

    path_of(out, sizeof out, "tokyo", NULL);
    jk_gen_opts_init(&o);
    o.out = out;
    o.prefecture = "13";
    assert_int_equal(jk_gen_run(&o, &err), -1);
    assert_non_null(strstr(err.msg, "prefecture 13 (東京都) is not supported"));
    assert_int_not_equal(access(out, F_OK), 0); /* nothing written */

    o.prefecture = "48";
    assert_int_equal(jk_gen_run(&o, &err), -1);
    assert_non_null(strstr(err.msg, "not a prefecture code"));

    o.prefecture = "35";
    o.start = "2023-02-30";
    assert_int_equal(jk_gen_run(&o, &err), -1);
    assert_non_null(strstr(err.msg, "2023-02-30"));

    /* An earlier run's directory is never written into. */
    jk_gen_opts_init(&o);
    path_of(out, sizeof out, "a", NULL);
    o.out = out;
    o.residents = 10;
    assert_int_equal(jk_gen_run(&o, &err), -1);
    assert_non_null(strstr(err.msg, "not empty"));

    jk_gen_opts_init(&o);
    o.out = NULL;
    assert_int_equal(jk_gen_run(&o, &err), -1);
    assert_non_null(strstr(err.msg, "--out"));
}

/* A prefecture of one resident still works (pickers give up instead of looping). */
static void tiny_prefecture(void **state)
{
    (void)state;
    char out[512];
    path_of(out, sizeof out, "tiny", NULL);
    jk_gen_opts_t o;
    jk_gen_opts_init(&o);
    o.out = out;
    o.residents = 1;
    o.years = 1;
    o.faults = 0.5;
    jk_err_t err = {{0}};
    if (jk_gen_run(&o, &err) != 0) fail_msg("%s", err.msg);
    json_t *m = load_manifest("tiny");
    assert_int_equal(count_of(json_object_get(m, "final"), "persons") >= 1, 1);
    json_decref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_seed_same_bytes),
        cmocka_unit_test(other_seed_other_bytes),
        cmocka_unit_test(sending_gives_the_expected_outcome),
        cmocka_unit_test(no_faults_no_failures),
        cmocka_unit_test(refuses_what_it_cannot_do),
        cmocka_unit_test(tiny_prefecture),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
