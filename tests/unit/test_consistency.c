/* test_consistency.c: the pure part of the consistency check (projections/consistency.c):
 * bucket counts and buckets, normalised records, digests that do not depend on order, the
 * buckets that differ, the record diff with each field, and the clerk's report, exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jukilog/consistency.h"

static json_t *rec(const char *code, const char *name, const char *kana, const char *address)
{
    const char *v[JK_CF_N] = {code, "621498320257", name,     kana,      "1980-05-05",
                              "2",  address,        "352039", "move_in", "2026-04-01"};
    json_t *o = jk_consistency_record(v);
    assert_non_null(o);
    return o;
}

static void bucket_counts(void **state)
{
    (void)state;
    assert_int_equal(jk_consistency_bucket_count(0), 16);
    assert_int_equal(jk_consistency_bucket_count(512), 16);
    assert_int_equal(jk_consistency_bucket_count(513), 32);
    assert_int_equal(jk_consistency_bucket_count(20000), 1024);
    assert_int_equal(jk_consistency_bucket_count(300000), 16384);
    assert_int_equal(jk_consistency_bucket_count(100000000), JK_CONSISTENCY_MAX_BUCKETS);
}

static void buckets_spread(void **state)
{
    (void)state;
    unsigned counts[16] = {0};
    char code[12];
    for (int i = 0; i < 1600; i++) {
        snprintf(code, sizeof code, "%011d", 10000000 + i);
        uint32_t b = jk_consistency_bucket(code, 16);
        assert_true(b < 16);
        assert_int_equal(b, jk_consistency_bucket(code, 16));
        counts[b]++;
        /* a bucket of a larger count narrows to the same bucket of a smaller one */
        assert_int_equal(jk_consistency_bucket(code, 1024) & 15, b);
    }
    for (int b = 0; b < 16; b++)
        assert_true(counts[b] > 50 && counts[b] < 150);
}

static void canonical_line(void **state)
{
    (void)state;
    json_t *r = rec("24727059608", "山口　一郎", NULL, "山口県山口市中央一丁目1番1号");
    char *line = jk_consistency_line(r);
    assert_string_equal(
        line, "{\"address\":\"山口県山口市中央一丁目1番1号\",\"birth_date\":\"1980-05-05\","
              "\"effective_date\":\"2026-04-01\",\"municipality_code\":\"352039\",\"my_number\":"
              "\"621498320257\",\"name\":\"山口　一郎\",\"reason\":\"move_in\",\"resident_code\":"
              "\"24727059608\",\"sex\":\"2\"}");
    free(line);
    jk_err_t err;
    assert_int_equal(jk_consistency_check_record(r, &err), 0);
    json_object_set_new(r, "status", json_string("resident"));
    assert_int_equal(jk_consistency_check_record(r, &err), -1);
    assert_string_equal(err.msg, "record: unknown field \"status\"");
    json_object_del(r, "status");
    json_object_set_new(r, "sex", json_integer(2));
    assert_int_equal(jk_consistency_check_record(r, &err), -1);
    assert_string_equal(err.msg, "record: field \"sex\" must be text");
    json_object_set_new(r, "sex", json_string("2"));
    json_object_set_new(r, "resident_code", json_string("2472705960"));
    assert_int_equal(jk_consistency_check_record(r, &err), -1);
    assert_string_equal(err.msg, "record: resident_code must be 11 digits");
    json_decref(r);
}

static json_t *change(const char *reason, const char *extra)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"resident_code\":\"24727059608\",\"my_number\":\"621498320257\",\"reason\":\"%s\","
             "\"effective_date\":\"2026-04-01\",\"name\":\"山口　一郎\",\"birth_date\":"
             "\"1980-05-05\",\"sex\":\"1\",\"address\":\"山口県山口市中央一丁目1番1号\","
             "\"municipality_code\":\"352039\",\"notified_at\":\"2026-04-01T03:00:00.000Z\"%s}",
             reason, extra);
    json_t *o = json_loads(buf, 0, NULL);
    assert_non_null(o);
    return o;
}

static void from_change(void **state)
{
    (void)state;
    jk_change_ctx_t ctx = {"35", "352039"};
    jk_change_t ch;
    jk_problem_t pb;
    json_t *in = change("resident_code_change", ",\"new_resident_code\":\"10000000012\"");
    assert_int_equal(jk_change_parse(in, &ctx, &ch, &pb), 0);
    json_t *r = jk_consistency_from_change(&ch, &pb);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "resident_code")), "10000000012");
    assert_string_equal(json_string_value(json_object_get(r, "reason")), "resident_code_change");
    assert_null(json_object_get(r, "name_kana"));
    assert_null(json_object_get(r, "notified_at"));
    json_decref(r);
    jk_change_free(&ch);
    json_decref(in);

    in = change("move_out", "");
    assert_int_equal(jk_change_parse(in, &ctx, &ch, &pb), 0);
    assert_null(jk_consistency_from_change(&ch, &pb));
    assert_string_equal(pb.code, "invalid_format");
    assert_string_equal(pb.field, "reason");
    assert_string_equal(pb.detail, "reason move_out removes the record: a snapshot lists the "
                                   "municipality's residents, each with its last change");
    jk_change_free(&ch);
    json_decref(in);
}

static void add_all(jk_digests_t *d, json_t *const *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *line = jk_consistency_line(recs[i]);
        jk_digests_add(d, json_string_value(json_object_get(recs[i], "resident_code")), line);
        free(line);
    }
}

static void digests(void **state)
{
    (void)state;
    enum { N = 200 };
    json_t *recs[N], *rev[N];
    char code[12];
    for (int i = 0; i < N; i++) {
        snprintf(code, sizeof code, "%011d", 20000000 + i);
        recs[i] = rec(code, "佐藤　花子", "サトウ　ハナコ", "山口県山口市小郡二丁目2番2号");
        rev[N - 1 - i] = recs[i];
    }
    jk_digests_t a, b, c;
    assert_int_equal(jk_digests_init(&a, 64), 0);
    assert_int_equal(jk_digests_init(&b, 64), 0);
    assert_int_equal(jk_digests_init(&c, 100), -1); /* not a power of two */
    assert_int_equal(jk_digests_init(&c, 64), 0);
    add_all(&a, recs, N);
    add_all(&b, rev, N);
    assert_int_equal(a.records, N);
    assert_memory_equal(a.sum, b.sum, 64 * JK_CONSISTENCY_DIGEST);
    uint32_t out[64];
    assert_int_equal(jk_digests_differ(&a, &b, out), 0);

    /* one field changed in one record, one record left out: exactly their two buckets */
    json_object_set_new(rev[10], "sex", json_string("1"));
    add_all(&c, rev, N - 1); /* rev[N-1] is recs[0] */
    uint32_t b1 =
        jk_consistency_bucket(json_string_value(json_object_get(rev[10], "resident_code")), 64);
    uint32_t b2 =
        jk_consistency_bucket(json_string_value(json_object_get(recs[0], "resident_code")), 64);
    size_t nd = jk_digests_differ(&a, &c, out);
    assert_int_equal(nd, b1 == b2 ? 1 : 2);
    assert_int_equal(out[0], b1 < b2 ? b1 : b2);
    assert_int_equal(out[nd - 1], b1 < b2 ? b2 : b1);

    char *enc = jk_digests_encode(&c);
    jk_digests_t d;
    jk_err_t err;
    assert_int_equal(jk_digests_decode(enc, 64, &d, &err), 0);
    assert_memory_equal(d.sum, c.sum, 64 * JK_CONSISTENCY_DIGEST);
    jk_digests_free(&d);
    assert_int_equal(jk_digests_decode(enc, 128, &d, &err), -1);
    assert_string_equal(err.msg, "digests: 1024 bytes for 128 buckets, expected 2048");
    assert_int_equal(jk_digests_decode("not base64!", 64, &d, &err), -1);
    assert_string_equal(err.msg, "digests: not base64");
    free(enc);

    jk_digests_t empty;
    assert_int_equal(jk_digests_init(&empty, 16), 0);
    for (int i = 0; i < 16 * JK_CONSISTENCY_DIGEST; i++)
        assert_int_equal(empty.sum[i], 0);
    jk_digests_free(&empty);
    jk_digests_free(&a);
    jk_digests_free(&b);
    jk_digests_free(&c);
    for (int i = 0; i < N; i++)
        json_decref(recs[i]);
}

static char *dumps(const json_t *o)
{
    return json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

static void diff_each_kind(void **state)
{
    (void)state;
    const char *addr = "山口県山口市中央一丁目1番1号";
    json_t *m = json_array(), *p = json_array();
    /* same in both */
    json_array_append_new(m, rec("10000000001", "一", "イチ", addr));
    json_array_append_new(p, rec("10000000001", "一", "イチ", addr));
    /* only in the municipality, only in the prefecture */
    json_array_append_new(m, rec("10000000005", "五", NULL, addr));
    json_array_append_new(p, rec("10000000003", "三", NULL, addr));
    /* every field of one person differs; name_kana absent on one side */
    json_t *a = rec("10000000002", "二", "ニ", addr);
    const char *v[JK_CF_N] = {"10000000002",
                              "983205673214",
                              "弐",
                              NULL,
                              "1981-06-06",
                              "1",
                              "山口県山口市小郡二丁目2番2号",
                              "352047",
                              "relocation",
                              "2026-05-01"};
    json_array_append_new(p, jk_consistency_record(v));
    json_array_insert_new(m, 0, a);
    json_t *d = jk_consistency_diff(m, p);
    assert_non_null(d);
    char *s = dumps(d);
    assert_string_equal(
        s, "{\"only_in_municipality\":[{\"resident_code\":\"10000000005\",\"name\":\"五\"}],"
           "\"only_in_prefecture\":[{\"resident_code\":\"10000000003\",\"name\":\"三\"}],"
           "\"differences\":["
           "{\"resident_code\":\"10000000002\",\"field\":\"my_number\",\"municipality\":"
           "\"621498320257\",\"prefecture\":\"983205673214\"},"
           "{\"resident_code\":\"10000000002\",\"field\":\"name\",\"municipality\":\"二\","
           "\"prefecture\":\"弐\"},"
           "{\"resident_code\":\"10000000002\",\"field\":\"name_kana\",\"municipality\":\"ニ\","
           "\"prefecture\":null},"
           "{\"resident_code\":\"10000000002\",\"field\":\"birth_date\",\"municipality\":"
           "\"1980-05-05\",\"prefecture\":\"1981-06-06\"},"
           "{\"resident_code\":\"10000000002\",\"field\":\"sex\",\"municipality\":\"2\","
           "\"prefecture\":\"1\"},"
           "{\"resident_code\":\"10000000002\",\"field\":\"address\",\"municipality\":"
           "\"山口県山口市中央一丁目1番1号\",\"prefecture\":\"山口県山口市小郡二丁目2番2号\"},"
           "{\"resident_code\":\"10000000002\",\"field\":\"municipality_code\",\"municipality\":"
           "\"352039\",\"prefecture\":\"352047\"},"
           "{\"resident_code\":\"10000000002\",\"field\":\"reason\",\"municipality\":\"move_in\","
           "\"prefecture\":\"relocation\"},"
           "{\"resident_code\":\"10000000002\",\"field\":\"effective_date\",\"municipality\":"
           "\"2026-04-01\",\"prefecture\":\"2026-05-01\"}]}");
    free(s);
    json_decref(d);

    /* equal sides, and empty sides: nothing */
    d = jk_consistency_diff(p, p);
    s = dumps(d);
    assert_string_equal(
        s, "{\"only_in_municipality\":[],\"only_in_prefecture\":[],\"differences\":[]}");
    free(s);
    json_decref(d);
    json_decref(m);
    json_decref(p);
}

static char *printed(const json_t *report)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(jk_consistency_print(f, report), 0);
    fclose(f);
    return buf;
}

static void clerk_report(void **state)
{
    (void)state;
    json_t *r = json_loads(
        "{\"submission\":\"ab\",\"municipality\":\"352039\",\"as_of\":\"2026-04-02T00:00:00.000Z\","
        "\"records\":3,\"prefecture_records\":2,\"buckets\":16,\"buckets_differing\":2,"
        "\"only_in_municipality\":[{\"resident_code\":\"10000000005\",\"name\":\"五\"}],"
        "\"only_in_prefecture\":[],"
        "\"differences\":[{\"resident_code\":\"10000000002\",\"field\":\"name_kana\","
        "\"municipality\":\"ニ\",\"prefecture\":null}],"
        "\"gaps\":[{\"source\":\"cs:352039\",\"from\":4,\"to\":5}]}",
        0, NULL);
    assert_non_null(r);
    char *s = printed(r);
    assert_string_equal(
        s, "consistency check of municipality 352039, submission ab\n"
           "compared with the prefecture's file as of 2026-04-02T00:00:00.000Z: 3 records in the "
           "municipality, 2 in the prefecture; 2 of 16 buckets differed\n"
           "10000000005 only in the municipality (五): the prefecture has no such resident here; "
           "send the person's last change record again (jukilog cs send)\n"
           "10000000002 name_kana differs: municipality \"ニ\", prefecture (none); if the registry "
           "is right, send a name_change (or an ex_officio_correction)\n"
           "cs:352039 seq 4..5 (2 events) never reached the prefecture; find the changes in the "
           "CS's spool or records and send them again\n");
    free(s);
    json_object_set_new(r, "only_in_municipality", json_array());
    json_object_set_new(r, "differences", json_array());
    json_object_set_new(r, "gaps", json_array());
    s = printed(r);
    assert_non_null(strstr(s, "differed\nno differences\n"));
    free(s);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_counts),  cmocka_unit_test(buckets_spread),
        cmocka_unit_test(canonical_line), cmocka_unit_test(from_change),
        cmocka_unit_test(digests),        cmocka_unit_test(diff_each_kind),
        cmocka_unit_test(clerk_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
