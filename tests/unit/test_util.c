/* test_util.c: hex, base64, random ids and RFC 3339 times (journal/util.c).
 * Expected epoch values were computed independently with Python's datetime. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jukilog/util.h"

static void test_hex_round_trip(void **state)
{
    (void)state;
    const unsigned char in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char hex[2 * sizeof in + 1];
    jk_hex_encode(in, sizeof in, hex);
    assert_string_equal(hex, "00017f80abff");

    unsigned char out[sizeof in];
    assert_int_equal(jk_hex_decode(hex, out, sizeof out), 0);
    assert_memory_equal(out, in, sizeof in);
    assert_int_equal(jk_hex_decode("00017F80ABFF", out, sizeof out), 0); /* either case */
    assert_memory_equal(out, in, sizeof in);

    char empty[1];
    jk_hex_encode(in, 0, empty);
    assert_string_equal(empty, "");
}

static void test_hex_bad_input(void **state)
{
    (void)state;
    unsigned char out[3] = {0x11, 0x22, 0x33};
    assert_int_equal(jk_hex_decode("00112", out, 3), -1);   /* short */
    assert_int_equal(jk_hex_decode("0011223", out, 3), -1); /* long */
    assert_int_equal(jk_hex_decode("00112g", out, 3), -1);  /* not hex */
    assert_int_equal(jk_hex_decode("0011 2", out, 3), -1);  /* white space */
    assert_int_equal(jk_hex_decode("", out, 3), -1);
    /* A failed decode leaves out untouched. */
    assert_int_equal(out[0], 0x11);
    assert_int_equal(out[1], 0x22);
    assert_int_equal(out[2], 0x33);
}

static void test_is_hex(void **state)
{
    (void)state;
    assert_true(jk_is_hex("0123456789abcdef", 16));
    assert_false(jk_is_hex("0123456789ABCDEF", 16)); /* lower case only */
    assert_false(jk_is_hex("0123456789abcde", 16));
    assert_false(jk_is_hex("0123456789abcdef0", 16));
    assert_false(jk_is_hex("0123456789abcdeg", 16));
    assert_true(jk_is_hex("", 0));
}

static void check_b64(const char *raw, size_t n, const char *want)
{
    char *enc = jk_b64_encode((const unsigned char *)raw, n);
    assert_non_null(enc);
    assert_string_equal(enc, want);
    unsigned char *dec = NULL;
    size_t dn = 99;
    assert_int_equal(jk_b64_decode(enc, &dec, &dn), 0);
    assert_int_equal(dn, n);
    assert_memory_equal(dec, raw, n);
    free(dec);
    free(enc);
}

static void test_b64_round_trip(void **state)
{
    (void)state;
    /* RFC 4648 section 10 test vectors: every padding length. */
    check_b64("", 0, "");
    check_b64("f", 1, "Zg==");
    check_b64("fo", 2, "Zm8=");
    check_b64("foo", 3, "Zm9v");
    check_b64("foob", 4, "Zm9vYg==");
    check_b64("fooba", 5, "Zm9vYmE=");
    check_b64("foobar", 6, "Zm9vYmFy");
    check_b64("\xfb\xff\xbf", 3, "+/+/"); /* the two non-alphanumeric digits */
    check_b64("\0\0\0\0", 4, "AAAAAA==");

    /* Every byte value, and a length whose decoded size is not a multiple of 3. */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    char *enc = jk_b64_encode(all, sizeof all);
    assert_non_null(enc);
    assert_int_equal(strlen(enc), 344);
    unsigned char *dec;
    size_t dn;
    assert_int_equal(jk_b64_decode(enc, &dec, &dn), 0);
    assert_int_equal(dn, 256);
    assert_memory_equal(dec, all, 256);
    free(dec);
    free(enc);
}

static void test_b64_bad_input(void **state)
{
    (void)state;
    const char *bad[] = {
        "Zg=",      /* length not a multiple of 4 */
        "Zg",       /* padding missing */
        "Zm9",      /* padding missing */
        "Zg===",    /* too much padding */
        "====",     /* only padding */
        "Z===",     /* three padding characters */
        "Z=g=",     /* padding in the middle */
        "Zg==Zg==", /* padding before the end */
        "Zm9v\n",   /* white space */
        " Zm9v",    /* white space */
        "Zm 9v",    /* white space */
        "Zm9v-_==", /* base64url alphabet */
        "Zm9\x80",  /* not ASCII */
        "Zh==",     /* non-zero bits under "==" (Zg== is the only spelling of "f") */
        "Zm9=",     /* non-zero bits under "=" (Zm8= is the only spelling of "fo") */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char *out = (unsigned char *)"untouched";
        size_t n = 12345;
        if (jk_b64_decode(bad[i], &out, &n) != -1) fail_msg("accepted \"%s\"", bad[i]);
        assert_string_equal((char *)out, "untouched");
        assert_int_equal(n, 12345);
    }
}

static void test_random_id(void **state)
{
    (void)state;
    char a[33], b[33];
    assert_int_equal(jk_random_id(a), 0);
    assert_int_equal(jk_random_id(b), 0);
    assert_true(jk_is_hex(a, 32));
    assert_true(jk_is_hex(b, 32));
    assert_string_not_equal(a, b);
}

static void test_now_ms(void **state)
{
    (void)state;
    int64_t a = jk_now_ms(), b = jk_now_ms();
    assert_true(a > 1767225600000LL); /* after 2026-01-01: the clock is in ms, not s or us */
    assert_true(a < 4102444800000LL); /* before 2100-01-01 */
    assert_true(b >= a);
}

static void test_time_format(void **state)
{
    (void)state;
    const struct {
        int64_t ms;
        const char *text;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1, "1970-01-01T00:00:00.001Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {1775088900000LL, "2026-04-02T00:15:00.000Z"},
        {1798761599999LL, "2026-12-31T23:59:59.999Z"},
        {1709208000000LL, "2024-02-29T12:00:00.000Z"},
        {-2203891200000LL, "1900-03-01T00:00:00.000Z"},
        {-62167219200000LL, "0000-01-01T00:00:00.000Z"},
        {253402300799999LL, "9999-12-31T23:59:59.999Z"},
        /* Out of four-digit years: clamped, so the output still parses. */
        {INT64_MIN, "0000-01-01T00:00:00.000Z"},
        {INT64_MAX, "9999-12-31T23:59:59.999Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[JK_TIME_LEN];
        jk_time_format(cases[i].ms, out);
        assert_string_equal(out, cases[i].text);
        int64_t back = 0;
        assert_int_equal(jk_time_parse(out, &back), 0);
        if (cases[i].ms != INT64_MIN && cases[i].ms != INT64_MAX)
            assert_int_equal(back, cases[i].ms);
        assert_true(jk_time_is_canonical(out));
    }
}

static void test_time_parse(void **state)
{
    (void)state;
    const struct {
        const char *text;
        int64_t ms;
    } cases[] = {
        {"2026-04-02T00:15:00.000Z", 1775088900000LL},
        {"2026-04-02T00:15:00Z", 1775088900000LL},
        {"2026-04-02T09:15:00+09:00", 1775088900000LL},
        {"2026-04-02T09:15:00.000+09:00", 1775088900000LL},
        {"2026-04-01T14:45:30-09:30", 1775088930000LL},
        {"2026-04-02T00:15:00+00:00", 1775088900000LL},
        {"2026-04-02T00:15:00-00:00", 1775088900000LL},
        {"2026-04-02T00:15:00.1Z", 1775088900100LL},
        {"2026-04-02T00:15:00.12Z", 1775088900120LL},
        {"2026-04-02T00:15:00.123Z", 1775088900123LL},
        {"2026-04-02T00:15:00.123456Z", 1775088900123LL},    /* truncated to ms */
        {"2026-04-02T00:15:00.999999999Z", 1775088900999LL}, /* truncated, not rounded */
        {"2026-04-02T00:00:00.5+09:00", 1775055600500LL},    /* day boundary crossed */
        {"2024-02-29T12:00:00Z", 1709208000000LL},           /* leap year */
        {"2000-02-29T00:00:00Z", 951782400000LL},            /* divisible by 400: leap */
        {"1900-03-01T00:00:00Z", -2203891200000LL},
        {"1969-12-31T23:59:59.999Z", -1},
        {"2026-12-31T23:59:59.999Z", 1798761599999LL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = 0;
        if (jk_time_parse(cases[i].text, &ms) != 0) fail_msg("refused %s", cases[i].text);
        if (ms != cases[i].ms)
            fail_msg("%s: %lld, want %lld", cases[i].text, (long long)ms, (long long)cases[i].ms);
    }
}

static void test_time_parse_invalid(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "2026-02-30T00:00:00Z", /* no such day */
        "2026-04-31T00:00:00Z", /* April has 30 */
        "2025-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z", /* divisible by 100: not leap */
        "2026-00-10T00:00:00Z", /* month 0 */
        "2026-13-10T00:00:00Z", /* month 13 */
        "2026-01-00T00:00:00Z", /* day 0 */
        "2026-01-32T00:00:00Z",
        "2026-01-01T24:00:00Z", /* hour 24 */
        "2026-01-01T00:60:00Z",
        "2026-01-01T00:00:60Z", /* leap seconds are not on the log */
        "2026-01-01T00:00:00",  /* no offset */
        "2026-01-01 00:00:00Z", /* space for T */
        "2026-01-01t00:00:00z", /* lower case */
        "2026-1-01T00:00:00Z",  /* one-digit month */
        "26-01-01T00:00:00Z",
        "2026-01-01T00:00:00.Z",           /* empty fraction */
        "2026-01-01T00:00:00.1234567890Z", /* beyond nanoseconds */
        "2026-01-01T00:00:00+0900",        /* offset without colon */
        "2026-01-01T00:00:00+09",
        "2026-01-01T00:00:00+24:00", /* offset out of range */
        "2026-01-01T00:00:00+09:60",
        "2026-01-01T00:00:00ZZ", /* trailing text */
        "2026-01-01T00:00:00Z ",
        " 2026-01-01T00:00:00Z",
        "2026-01-01",
        "+2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00,5Z", /* comma fraction */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 777;
        if (jk_time_parse(bad[i], &ms) != -1) fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(ms, 777);
        assert_false(jk_time_is_canonical(bad[i]));
    }
}

static void test_time_is_canonical(void **state)
{
    (void)state;
    assert_true(jk_time_is_canonical("2026-04-02T00:15:00.000Z"));
    assert_true(jk_time_is_canonical("2024-02-29T23:59:59.999Z"));
    assert_false(jk_time_is_canonical("2026-04-02T00:15:00Z"));          /* no ms */
    assert_false(jk_time_is_canonical("2026-04-02T00:15:00.0Z"));        /* short ms */
    assert_false(jk_time_is_canonical("2026-04-02T00:15:00.0000Z"));     /* long ms */
    assert_false(jk_time_is_canonical("2026-04-02T09:15:00.000+09:00")); /* not UTC */
    assert_false(jk_time_is_canonical("2026-04-02T00:15:00.000+00:00")); /* Z, not +00:00 */
    assert_false(jk_time_is_canonical("2026-02-30T00:15:00.000Z"));      /* invalid date */
    assert_false(jk_time_is_canonical("2025-02-29T00:15:00.000Z"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_round_trip),
        cmocka_unit_test(test_hex_bad_input),
        cmocka_unit_test(test_is_hex),
        cmocka_unit_test(test_b64_round_trip),
        cmocka_unit_test(test_b64_bad_input),
        cmocka_unit_test(test_random_id),
        cmocka_unit_test(test_now_ms),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_time_parse_invalid),
        cmocka_unit_test(test_time_is_canonical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
