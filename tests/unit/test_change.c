/* test_change.c: the change record and its CS-side checks (projections/change.c).
 *
 * Every refusal is asserted by its exact code and field; the records are synthetic and use the
 * codes of DOMAIN.md (山口市 352039, 下関市 352012). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jukilog/change.h"

#define RC1 "24727059608"
#define RC2 "10000000012"
#define MN1 "621498320257"
#define YAMAGUCHI "352039"
#define SHIMONOSEKI "352012"

static const jk_change_ctx_t CTX = {"35", YAMAGUCHI};

/* A valid record of the reason as 山口市's CS sends it: the full record for creates and
 * modifies, the four required fields for removes. */
static json_t *record(const char *reason)
{
    const jk_reason_t *r = jk_reason_find(reason);
    assert_non_null(r);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "resident_code", RC1, "reason", reason,
                          "effective_date", "2026-04-01", "municipality_code", YAMAGUCHI,
                          "notified_at", "2026-04-01T00:15:00.000Z");
    assert_non_null(o);
    if (r->kind != JK_REMOVE) {
        json_object_set_new(o, "my_number", json_string(MN1));
        json_object_set_new(o, "name", json_string("山田　太郎"));
        json_object_set_new(o, "name_kana", json_string("ヤマダ　タロウ"));
        json_object_set_new(o, "birth_date", json_string("1990-05-17"));
        json_object_set_new(o, "sex", json_string("1"));
        json_object_set_new(o, "address", json_string("山口県山口市亀山町1-1"));
    }
    if (r->changeable == JK_F_RESIDENT_CODE)
        json_object_set_new(o, "new_resident_code", json_string(RC2));
    return o;
}

/* Parses rec against CTX and releases it. */
static int parse(json_t *rec, jk_change_t *ch, jk_problem_t *pb)
{
    int rc = jk_change_parse(rec, &CTX, ch, pb);
    json_decref(rec);
    return rc;
}

/* rec with field set to the JSON text value, or removed when value is NULL. */
static json_t *with(json_t *rec, const char *field, const char *value)
{
    if (value == NULL) {
        json_object_del(rec, field);
    } else {
        json_error_t e;
        json_t *v = json_loads(value, JSON_DECODE_ANY, &e);
        assert_non_null(v);
        json_object_set_new(rec, field, v);
    }
    return rec;
}

static void expect_problem(json_t *rec, const char *code, const char *field)
{
    jk_change_t ch;
    jk_problem_t pb;
    char *text = json_dumps(rec, JSON_SORT_KEYS | JSON_COMPACT);
    int rc = parse(rec, &ch, &pb);
    if (rc != -1 || pb.code == NULL || strcmp(pb.code, code) != 0 || strcmp(pb.field, field) != 0)
        print_error("record %s: expected %s on %s, got %s on %s (%s)\n", text, code, field,
                    rc == 0 ? "success" : pb.code, pb.field, pb.detail);
    free(text);
    assert_int_equal(rc, -1);
    assert_string_equal(pb.code, code);
    assert_string_equal(pb.field, field);
    assert_true(pb.detail[0] != '\0');
    assert_null(ch.name); /* nothing allocated on refusal */
    assert_null(ch.address);
}

static void expect_ok(json_t *rec)
{
    jk_change_t ch;
    jk_problem_t pb;
    char *text = json_dumps(rec, JSON_SORT_KEYS | JSON_COMPACT);
    int rc = parse(rec, &ch, &pb);
    if (rc != 0) print_error("record %s: %s on %s (%s)\n", text, pb.code, pb.field, pb.detail);
    free(text);
    assert_int_equal(rc, 0);
    jk_change_free(&ch);
}

static void reasons_table(void **state)
{
    (void)state;
    size_t n;
    const jk_reason_t *rs = jk_reasons(&n);
    assert_int_equal(n, 15);
    static const char *const codes[] = {
        "move_in",
        "birth",
        "ex_officio_entry",
        "address_set",
        "foreign_resident_entry",
        "move_out",
        "death",
        "disappearance",
        "ex_officio_removal",
        "nationality_lost",
        "relocation",
        "name_change",
        "ex_officio_correction",
        "my_number_change",
        "resident_code_change",
    };
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(rs[i].code, codes[i]);
        assert_ptr_equal(jk_reason_find(codes[i]), &rs[i]);
        assert_true(rs[i].japanese[0] != '\0');
        jk_reason_kind_t k = i < 5 ? JK_CREATE : i < 10 ? JK_REMOVE : JK_MODIFY;
        assert_int_equal(rs[i].kind, k);
        if (k == JK_CREATE) assert_int_equal(rs[i].changeable, JK_F_ALL);
        if (k == JK_REMOVE) assert_int_equal(rs[i].changeable, 0);
    }
    assert_string_equal(jk_reason_find("move_in")->japanese, "転入");
    assert_string_equal(jk_reason_find("resident_code_change")->japanese, "住民票コードの変更");
    assert_int_equal(jk_reason_find("relocation")->changeable, JK_F_ADDRESS);
    assert_int_equal(jk_reason_find("name_change")->changeable, JK_F_NAME | JK_F_NAME_KANA);
    assert_int_equal(jk_reason_find("ex_officio_correction")->changeable,
                     JK_F_NAME | JK_F_NAME_KANA | JK_F_BIRTH_DATE | JK_F_SEX | JK_F_ADDRESS);
    assert_int_equal(jk_reason_find("my_number_change")->changeable, JK_F_MY_NUMBER);
    assert_int_equal(jk_reason_find("resident_code_change")->changeable, JK_F_RESIDENT_CODE);
    assert_null(jk_reason_find("marriage"));
    assert_null(jk_reason_find(""));
    assert_null(jk_reason_find(NULL));
}

/* A valid record of each of the 15 reasons parses, and the struct holds what was sent. */
static void every_reason_parses(void **state)
{
    (void)state;
    size_t n;
    const jk_reason_t *rs = jk_reasons(&n);
    for (size_t i = 0; i < n; i++) {
        jk_change_t ch;
        jk_problem_t pb;
        assert_int_equal(parse(record(rs[i].code), &ch, &pb), 0);
        assert_ptr_equal(ch.reason, &rs[i]);
        assert_string_equal(ch.resident_code, RC1);
        assert_string_equal(ch.municipality_code, YAMAGUCHI);
        assert_string_equal(ch.effective_date, "2026-04-01");
        assert_string_equal(ch.notified_at, "2026-04-01T00:15:00.000Z");
        assert_string_equal(ch.new_resident_code,
                            rs[i].changeable == JK_F_RESIDENT_CODE ? RC2 : "");
        if (rs[i].kind == JK_REMOVE) {
            assert_string_equal(ch.my_number, "");
            assert_null(ch.name);
            assert_null(ch.name_kana);
            assert_string_equal(ch.birth_date, "");
            assert_string_equal(ch.sex, "");
            assert_null(ch.address);
        } else {
            assert_string_equal(ch.my_number, MN1);
            assert_string_equal(ch.name, "山田　太郎");
            assert_string_equal(ch.name_kana, "ヤマダ　タロウ");
            assert_string_equal(ch.birth_date, "1990-05-17");
            assert_string_equal(ch.sex, "1");
            assert_string_equal(ch.address, "山口県山口市亀山町1-1");
        }
        jk_change_free(&ch);
        jk_change_free(&ch); /* idempotent */
    }
}

/* Each required field, missing, for each reason: invalid_format naming it. Optional fields
 * (name_kana, notified_at; the rest of the record on removes) may be missing. */
static void required_fields(void **state)
{
    (void)state;
    static const char *const always[] = {"resident_code", "reason", "effective_date",
                                         "municipality_code"};
    static const char *const full[] = {"my_number", "name", "birth_date", "sex", "address"};
    size_t n;
    const jk_reason_t *rs = jk_reasons(&n);
    for (size_t i = 0; i < n; i++) {
        for (size_t f = 0; f < 4; f++)
            expect_problem(with(record(rs[i].code), always[f], NULL), "invalid_format", always[f]);
        for (size_t f = 0; f < 5; f++) {
            json_t *full_record = record(rs[i].kind == JK_REMOVE ? "move_in" : rs[i].code);
            json_object_set_new(full_record, "reason", json_string(rs[i].code));
            if (rs[i].kind == JK_REMOVE)
                expect_ok(with(full_record, full[f], NULL));
            else
                expect_problem(with(full_record, full[f], NULL), "invalid_format", full[f]);
        }
        expect_ok(with(record(rs[i].code), "name_kana", NULL));
        expect_ok(with(record(rs[i].code), "notified_at", NULL));
    }
    /* A remove may carry the whole record, which is then checked like any other. */
    json_t *rec = record("move_in");
    json_object_set_new(rec, "reason", json_string("death"));
    expect_ok(rec);
}

typedef struct bad_case {
    const char *reason;
    const char *field;
    const char *value; /* JSON text; NULL removes the field */
    const char *code;
    const char *at; /* the field the problem names */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    /* the three codes: length, digits, check digit */
    {"move_in", "resident_code", "\"24727059607\"", "invalid_format", "resident_code"},
    {"move_in", "resident_code", "\"2472705960\"", "invalid_format", "resident_code"},
    {"move_in", "resident_code", "\"247270596080\"", "invalid_format", "resident_code"},
    {"move_in", "resident_code", "\"2472705960X\"", "invalid_format", "resident_code"},
    {"move_in", "my_number", "\"621498320258\"", "invalid_format", "my_number"},
    {"move_in", "my_number", "\"62149832025\"", "invalid_format", "my_number"},
    {"move_in", "my_number", "\"\"", "invalid_format", "my_number"},
    {"move_in", "municipality_code", "\"352013\"", "invalid_format", "municipality_code"},
    {"move_in", "municipality_code", "\"35203\"", "invalid_format", "municipality_code"},
    /* dates */
    {"move_in", "effective_date", "\"2025-02-29\"", "invalid_format", "effective_date"},
    {"move_in", "effective_date", "\"2024-13-01\"", "invalid_format", "effective_date"},
    {"move_in", "effective_date", "\"2026-04-31\"", "invalid_format", "effective_date"},
    {"move_in", "effective_date", "\"2026/04/01\"", "invalid_format", "effective_date"},
    {"move_in", "effective_date", "\"2026-4-1\"", "invalid_format", "effective_date"},
    {"move_in", "birth_date", "\"2025-02-29\"", "invalid_format", "birth_date"},
    {"move_in", "birth_date", "\"2024-13-01\"", "invalid_format", "birth_date"},
    {"move_in", "birth_date", "\"2026-04-02\"", "invalid_format", "birth_date"},
    {"birth", "birth_date", "\"2026-04-02\"", "invalid_format", "birth_date"},
    {"death", "birth_date", "\"2026-04-02\"", "invalid_format", "birth_date"},
    {"move_in", "notified_at", "\"2026-04-01\"", "invalid_format", "notified_at"},
    {"move_in", "notified_at", "\"2026-04-01T25:00:00Z\"", "invalid_format", "notified_at"},
    /* sex */
    {"move_in", "sex", "\"3\"", "invalid_format", "sex"},
    {"move_in", "sex", "\"0\"", "invalid_format", "sex"},
    {"move_in", "sex", "\"12\"", "invalid_format", "sex"},
    {"move_in", "sex", "\"\"", "invalid_format", "sex"},
    /* name_kana: hiragana, half-width katakana, ASCII, ASCII space, empty, edges */
    {"move_in", "name_kana", "\"やまだ　たろう\"", "invalid_format", "name_kana"},
    {"move_in", "name_kana", "\"ﾔﾏﾀﾞ\"", "invalid_format", "name_kana"},
    {"move_in", "name_kana", "\"YAMADA\"", "invalid_format", "name_kana"},
    {"move_in", "name_kana", "\"ヤマダ タロウ\"", "invalid_format", "name_kana"},
    {"move_in", "name_kana", "\"山田\"", "invalid_format", "name_kana"},
    {"move_in", "name_kana", "\"\"", "invalid_format", "name_kana"},
    {"move_in", "name_kana", "\"　ヤマダ\"", "invalid_format", "name_kana"},
    {"name_change", "name_kana", "\"やまだ\"", "invalid_format", "name_kana"},
    /* name */
    {"move_in", "name", "\"\"", "invalid_format", "name"},
    {"move_in", "name", "\"山田\\t太郎\"", "invalid_format", "name"},
    {"move_in", "name", "\"山田\\n\"", "invalid_format", "name"},
    {"move_in", "name", "\"山田\\u007f太郎\"", "invalid_format", "name"},
    {"move_in", "name", "\"山田\\u0085太郎\"", "invalid_format", "name"},
    {"move_in", "name", "\" 山田太郎\"", "invalid_format", "name"},
    {"move_in", "name", "\"山田太郎 \"", "invalid_format", "name"},
    {"move_in", "name", "\"山田太郎　\"", "invalid_format", "name"},
    /* address */
    {"move_in", "address", "\"東京都千代田区千代田1-1\"", "invalid_format", "address"},
    {"move_in", "address", "\"山口県\"", "invalid_format", "address"},
    {"move_in", "address", "\"山口市亀山町1-1\"", "invalid_format", "address"},
    {"move_in", "address", "\"山口県山口市\\n亀山町\"", "invalid_format", "address"},
    {"move_in", "address", "\"\"", "invalid_format", "address"},
    {"death", "address", "\"東京都千代田区千代田1-1\"", "invalid_format", "address"},
    {"death", "address", "\"山口県\"", "invalid_format", "address"},
    {"death", "my_number", "\"621498320258\"", "invalid_format", "my_number"},
    {"death", "sex", "\"9\"", "invalid_format", "sex"},
    /* reason, unknown fields, types */
    {"move_in", "reason", "\"marriage\"", "invalid_format", "reason"},
    {"move_in", "reason", "\"MOVE_IN\"", "invalid_format", "reason"},
    {"move_in", "household", "\"x\"", "invalid_format", "household"},
    {"death", "status", "\"removed\"", "invalid_format", "status"},
    {"move_in", "sex", "1", "invalid_format", "sex"},
    {"move_in", "resident_code", "24727059608", "invalid_format", "resident_code"},
    {"move_in", "name_kana", "null", "invalid_format", "name_kana"},
    {"death", "name", "null", "invalid_format", "name"},
    {"move_in", "name", "[\"山田\"]", "invalid_format", "name"},
    {"move_in", "address", "{}", "invalid_format", "address"},
    {"move_in", "notified_at", "true", "invalid_format", "notified_at"},
    {"move_in", "household", "1", "invalid_format", "household"},
    /* new_resident_code: missing, forbidden, same, bad */
    {"resident_code_change", "new_resident_code", NULL, "invalid_format", "new_resident_code"},
    {"relocation", "new_resident_code", "\"" RC2 "\"", "invalid_format", "new_resident_code"},
    {"death", "new_resident_code", "\"" RC2 "\"", "invalid_format", "new_resident_code"},
    {"resident_code_change", "new_resident_code", "\"" RC1 "\"", "invalid_format",
     "new_resident_code"},
    {"resident_code_change", "new_resident_code", "\"10000000013\"", "invalid_format",
     "new_resident_code"},
    /* after form: wrong municipality, then the future */
    {"move_in", "municipality_code", "\"" SHIMONOSEKI "\"", "wrong_municipality",
     "municipality_code"},
    {"death", "municipality_code", "\"" SHIMONOSEKI "\"", "wrong_municipality",
     "municipality_code"},
    {"move_in", "effective_date", "\"2026-04-02\"", "future_date", "effective_date"},
    {"birth", "effective_date", "\"2027-01-01\"", "future_date", "effective_date"},
};

static void bad_records(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case_t *c = &bad_cases[i];
        expect_problem(with(record(c->reason), c->field, c->value), c->code, c->at);
    }
}

/* The edges that must still pass. */
static void good_edges(void **state)
{
    (void)state;
    expect_ok(with(record("move_in"), "name_kana", "\"ジョン・スミス\""));
    expect_ok(with(record("move_in"), "name_kana", "\"コーヒー　ヴァ\""));
    expect_ok(with(record("move_in"), "name_kana", "\"ァヶ\"")); /* U+30A1 and U+30F6 */
    expect_ok(with(record("move_in"), "name", "\"John Smith\""));
    expect_ok(with(record("move_in"), "birth_date", "\"2024-02-29\""));
    expect_ok(with(record("birth"), "birth_date", "\"2026-04-01\"")); /* born that day */
    expect_ok(with(record("move_in"), "sex", "\"2\""));
    expect_ok(with(record("move_in"), "address", "\"山口県山口市\""));
    /* Without notified_at nothing is in the future. */
    json_t *rec = with(record("move_in"), "notified_at", NULL);
    expect_ok(with(rec, "effective_date", "\"2099-12-31\""));
    /* Without a municipality in the context, any valid code is accepted. */
    jk_change_t ch;
    jk_problem_t pb;
    jk_change_ctx_t any = {"35", NULL};
    rec = with(record("move_in"), "municipality_code", "\"" SHIMONOSEKI "\"");
    assert_int_equal(jk_change_parse(rec, &any, &ch, &pb), 0);
    json_decref(rec);
    jk_change_free(&ch);
}

/* Exact details for a few cases a clerk sees most. */
static void details(void **state)
{
    (void)state;
    jk_change_t ch;
    jk_problem_t pb;
    assert_int_equal(parse(with(record("move_in"), "my_number", "\"621498320258\""), &ch, &pb), -1);
    assert_string_equal(pb.detail, "my_number \"621498320258\": check digit should be 7");
    assert_int_equal(parse(with(record("move_in"), "resident_code", "\"24727059607\""), &ch, &pb),
                     -1);
    assert_string_equal(pb.detail, "resident_code \"24727059607\": check digit should be 8");
    assert_int_equal(parse(with(record("move_in"), "effective_date", "\"2025-02-29\""), &ch, &pb),
                     -1);
    assert_string_equal(pb.detail, "effective_date \"2025-02-29\": no such date");
    assert_int_equal(parse(with(record("move_in"), "name_kana", "\"やまだ\""), &ch, &pb), -1);
    assert_string_equal(pb.detail,
                        "name_kana must be full-width katakana, but character 1 is hiragana "
                        "(U+3084)");
    assert_int_equal(parse(with(record("move_in"), "address", "\"東京都千代田区\""), &ch, &pb), -1);
    assert_string_equal(pb.detail, "address must begin with the prefecture's name \"山口県\" "
                                   "followed by the rest of the address");
    assert_int_equal(parse(with(record("move_in"), "household", "\"x\""), &ch, &pb), -1);
    assert_string_equal(pb.detail, "unknown field \"household\"");
    assert_int_equal(parse(with(record("move_in"), "sex", "1"), &ch, &pb), -1);
    assert_string_equal(pb.detail, "sex must be a string, not a number");
    assert_int_equal(parse(with(record("move_in"), "my_number", NULL), &ch, &pb), -1);
    assert_string_equal(pb.detail, "my_number is required for move_in (a create)");
    assert_int_equal(parse(with(record("move_in"), "municipality_code", "\"352012\""), &ch, &pb),
                     -1);
    assert_string_equal(pb.detail, "municipality_code 352012 is not this CS's municipality "
                                   "352039: a CS sends changes for its own municipality only");
    assert_int_equal(parse(with(record("move_in"), "effective_date", "\"2026-04-02\""), &ch, &pb),
                     -1);
    assert_string_equal(pb.detail, "effective_date 2026-04-02 is after the notification date "
                                   "2026-04-01 (Japan time of notified_at "
                                   "2026-04-01T00:15:00.000Z)");
}

/* Lengths count characters (code points), not bytes. */
static void lengths(void **state)
{
    (void)state;
    char name[512] = "", addr[1024] = "山口県", key[64];
    for (int i = 0; i < 100; i++)
        strcat(name, "あ");
    for (int i = 0; i < 197; i++)
        strcat(addr, "町");
    json_t *rec = record("move_in");
    json_object_set_new(rec, "name", json_string(name));
    json_object_set_new(rec, "address", json_string(addr));
    expect_ok(rec);

    strcat(name, "あ");
    strcat(addr, "町");
    rec = record("move_in");
    json_object_set_new(rec, "name", json_string(name));
    expect_problem(rec, "invalid_format", "name");
    rec = record("move_in");
    json_object_set_new(rec, "address", json_string(addr));
    expect_problem(rec, "invalid_format", "address");

    char kana[512] = "";
    for (int i = 0; i < 101; i++)
        strcat(kana, "ア");
    rec = record("move_in");
    json_object_set_new(rec, "name_kana", json_string(kana));
    expect_problem(rec, "invalid_format", "name_kana");

    /* A long unknown field is named, cut to fit. */
    memset(key, 'x', 40);
    key[40] = '\0';
    rec = record("move_in");
    json_object_set_new(rec, key, json_string("1"));
    jk_change_t ch;
    jk_problem_t pb;
    assert_int_equal(parse(rec, &ch, &pb), -1);
    assert_int_equal(strlen(pb.field), 31);
    assert_memory_equal(pb.field, key, 31);
}

/* Odd shapes: not an object, a NUL inside a string. */
static void odd_shapes(void **state)
{
    (void)state;
    expect_problem(json_array(), "invalid_format", "");
    expect_problem(json_string("x"), "invalid_format", "");
    expect_problem(json_object(), "invalid_format", "reason");
    json_t *rec = record("move_in");
    json_object_set_new(rec, "name", json_stringn("山田\0太郎", 10));
    expect_problem(rec, "invalid_format", "name");

    jk_change_t ch;
    jk_problem_t pb;
    assert_int_equal(jk_change_parse(NULL, &CTX, &ch, &pb), -1);
    assert_string_equal(pb.code, "invalid_format");
}

/* Form first, then wrong_municipality, then future_date. */
static void check_order(void **state)
{
    (void)state;
    json_t *rec = with(record("move_in"), "municipality_code", "\"" SHIMONOSEKI "\"");
    expect_problem(with(rec, "sex", "\"3\""), "invalid_format", "sex");
    rec = with(record("move_in"), "municipality_code", "\"" SHIMONOSEKI "\"");
    expect_problem(with(rec, "effective_date", "\"2026-05-01\""), "wrong_municipality",
                   "municipality_code");
    rec = with(record("move_in"), "effective_date", "\"2026-05-01\"");
    expect_problem(with(rec, "address", "\"東京都\""), "invalid_format", "address");
    /* Among form problems, the first field in the documented order. */
    rec = with(record("move_in"), "reason", "\"marriage\"");
    expect_problem(with(rec, "resident_code", "\"1\""), "invalid_format", "reason");
    rec = with(record("move_in"), "household", "\"x\"");
    expect_problem(with(rec, "sex", "1"), "invalid_format", "household");
}

/* notified_at 14:59:59Z is 23:59:59 on 04-01 in Japan; 15:00:00Z is already 04-02. */
static void future_date_boundary(void **state)
{
    (void)state;
    static const struct {
        const char *notified, *effective;
        int ok;
    } cases[] = {
        {"\"2026-04-01T14:59:59Z\"", "\"2026-04-01\"", 1},
        {"\"2026-04-01T14:59:59Z\"", "\"2026-04-02\"", 0},
        {"\"2026-04-01T15:00:00Z\"", "\"2026-04-02\"", 1},
        {"\"2026-04-01T15:00:00Z\"", "\"2026-04-03\"", 0},
        {"\"2026-04-02T08:59:59+09:00\"", "\"2026-04-02\"", 1},
        {"\"2026-04-01T23:59:59.999+09:00\"", "\"2026-04-02\"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *rec = with(record("move_in"), "notified_at", cases[i].notified);
        rec = with(rec, "effective_date", cases[i].effective);
        if (cases[i].ok)
            expect_ok(rec);
        else
            expect_problem(rec, "future_date", "effective_date");
    }
}

static void notified_at_is_canonical(void **state)
{
    (void)state;
    jk_change_t ch;
    jk_problem_t pb;
    json_t *rec = with(record("move_in"), "notified_at", "\"2026-04-01T09:15:00.5+09:00\"");
    assert_int_equal(parse(rec, &ch, &pb), 0);
    assert_string_equal(ch.notified_at, "2026-04-01T00:15:00.500Z");
    jk_change_free(&ch);
}

static int same_change(const jk_change_t *a, const jk_change_t *b)
{
    return a->reason == b->reason && !strcmp(a->resident_code, b->resident_code) &&
           !strcmp(a->new_resident_code, b->new_resident_code) &&
           !strcmp(a->my_number, b->my_number) && !strcmp(a->birth_date, b->birth_date) &&
           !strcmp(a->sex, b->sex) && !strcmp(a->municipality_code, b->municipality_code) &&
           !strcmp(a->effective_date, b->effective_date) &&
           !strcmp(a->notified_at, b->notified_at) && (!a->name == !b->name) &&
           (!a->name || !strcmp(a->name, b->name)) && (!a->name_kana == !b->name_kana) &&
           (!a->name_kana || !strcmp(a->name_kana, b->name_kana)) && (!a->address == !b->address) &&
           (!a->address || !strcmp(a->address, b->address));
}

/* to_json gives back exactly the record that was parsed, and parses to the same change. */
static void to_json_round_trip(void **state)
{
    (void)state;
    size_t n;
    const jk_reason_t *rs = jk_reasons(&n);
    for (size_t i = 0; i <= n; i++) {
        /* The extra round: a create without name_kana and notified_at. */
        json_t *rec = i < n ? record(rs[i].code)
                            : with(with(record("birth"), "name_kana", NULL), "notified_at", NULL);
        jk_change_t a, b;
        jk_problem_t pb;
        assert_int_equal(jk_change_parse(rec, &CTX, &a, &pb), 0);
        json_t *back = jk_change_to_json(&a);
        assert_non_null(back);
        assert_true(json_equal(rec, back));
        char *t1 = json_dumps(back, JSON_COMPACT);
        assert_int_equal(jk_change_parse(back, &CTX, &b, &pb), 0);
        assert_true(same_change(&a, &b));
        json_t *again = jk_change_to_json(&b);
        char *t2 = json_dumps(again, JSON_COMPACT);
        assert_string_equal(t1, t2); /* stable key order too */
        free(t1);
        free(t2);
        json_decref(again);
        json_decref(back);
        json_decref(rec);
        jk_change_free(&a);
        jk_change_free(&b);
    }
}

static void prefecture_names(void **state)
{
    (void)state;
    assert_string_equal(jk_prefecture_name("01"), "北海道");
    assert_string_equal(jk_prefecture_name("13"), "東京都");
    assert_string_equal(jk_prefecture_name("26"), "京都府");
    assert_string_equal(jk_prefecture_name("27"), "大阪府");
    assert_string_equal(jk_prefecture_name("35"), "山口県");
    assert_string_equal(jk_prefecture_name("47"), "沖縄県");
    assert_null(jk_prefecture_name("00"));
    assert_null(jk_prefecture_name("48"));
    assert_null(jk_prefecture_name("3"));
    assert_null(jk_prefecture_name("355"));
    assert_null(jk_prefecture_name("3a"));
    assert_null(jk_prefecture_name(""));
    assert_null(jk_prefecture_name(NULL));
    /* All 47 exist and end in 都, 道, 府 or 県. */
    for (int i = 1; i <= 47; i++) {
        char code[3];
        snprintf(code, sizeof code, "%02d", i);
        const char *p = jk_prefecture_name(code);
        assert_non_null(p);
        size_t len = strlen(p);
        assert_true(len >= 6);
        const char *last = p + len - 3;
        assert_true(!strcmp(last, "都") || !strcmp(last, "道") || !strcmp(last, "府") ||
                    !strcmp(last, "県"));
    }
    /* Another prefecture's context checks addresses against its own name. */
    jk_change_t ch;
    jk_problem_t pb;
    jk_change_ctx_t tokyo = {"13", NULL};
    json_t *rec = with(record("move_in"), "address", "\"東京都千代田区千代田1-1\"");
    assert_int_equal(jk_change_parse(rec, &tokyo, &ch, &pb), 0);
    jk_change_free(&ch);
    json_decref(rec);
}

static void jst_dates(void **state)
{
    (void)state;
    char d[11];
    jk_jst_date(1775055599999LL, d); /* 2026-04-01T14:59:59.999Z */
    assert_string_equal(d, "2026-04-01");
    jk_jst_date(1775055600000LL, d); /* 2026-04-01T15:00:00.000Z */
    assert_string_equal(d, "2026-04-02");
    jk_jst_date(0, d);
    assert_string_equal(d, "1970-01-01");
    jk_jst_date(-32400001LL, d); /* 1969-12-31T14:59:59.999Z */
    assert_string_equal(d, "1969-12-31");
    jk_jst_date(-32400000LL, d);
    assert_string_equal(d, "1970-01-01");
    jk_jst_date(INT64_MAX, d);
    assert_string_equal(d, "9999-12-31");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reasons_table),
        cmocka_unit_test(every_reason_parses),
        cmocka_unit_test(required_fields),
        cmocka_unit_test(bad_records),
        cmocka_unit_test(good_edges),
        cmocka_unit_test(details),
        cmocka_unit_test(lengths),
        cmocka_unit_test(odd_shapes),
        cmocka_unit_test(check_order),
        cmocka_unit_test(future_date_boundary),
        cmocka_unit_test(notified_at_is_canonical),
        cmocka_unit_test(to_json_round_trip),
        cmocka_unit_test(prefecture_names),
        cmocka_unit_test(jst_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
