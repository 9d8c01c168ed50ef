/* change.c: the change record a municipal CS sends, and the checks one record allows on its own
 * (see change.h).
 *
 * `cs send` runs jk_change_parse before anything goes on the log and the projector runs it again
 * on every identity.changed event, so both sides agree on what is well formed. Checks that need
 * the identity file (already_resident, unknown_resident, ...) live in identity.c.
 *
 * Problem details echo codes and dates, which the clerk needs to find the mistake, but never the
 * text of a name or an address: rejections are kept outside the encrypted event data, where
 * crypto-shredding could not erase them. */
#include "jukilog/change.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/codes.h"

#define INVALID "invalid_format"
#define NAME_MAX_CHARS 100
#define KANA_MAX_CHARS 100
#define ADDRESS_MAX_CHARS 200

/* DOMAIN.md "Change reasons", in its order. */
static const jk_reason_t reasons[] = {
    {"move_in", "転入", JK_CREATE, JK_F_ALL},
    {"birth", "出生", JK_CREATE, JK_F_ALL},
    {"ex_officio_entry", "職権記載", JK_CREATE, JK_F_ALL},
    {"address_set", "住所設定", JK_CREATE, JK_F_ALL},
    {"foreign_resident_entry", "法30条の46/47 届出", JK_CREATE, JK_F_ALL},
    {"move_out", "転出", JK_REMOVE, 0},
    {"death", "死亡", JK_REMOVE, 0},
    {"disappearance", "失踪宣告", JK_REMOVE, 0},
    {"ex_officio_removal", "職権消除", JK_REMOVE, 0},
    {"nationality_lost", "国籍喪失", JK_REMOVE, 0},
    {"relocation", "転居", JK_MODIFY, JK_F_ADDRESS},
    {"name_change", "氏名の変更", JK_MODIFY, JK_F_NAME | JK_F_NAME_KANA},
    {"ex_officio_correction", "職権修正", JK_MODIFY,
     JK_F_NAME | JK_F_NAME_KANA | JK_F_BIRTH_DATE | JK_F_SEX | JK_F_ADDRESS},
    {"my_number_change", "個人番号の変更", JK_MODIFY, JK_F_MY_NUMBER},
    {"resident_code_change", "住民票コードの変更", JK_MODIFY, JK_F_RESIDENT_CODE},
};
#define N_REASONS (sizeof reasons / sizeof reasons[0])

const jk_reason_t *jk_reason_find(const char *code)
{
    if (code == NULL) return NULL;
    for (size_t i = 0; i < N_REASONS; i++)
        if (strcmp(reasons[i].code, code) == 0) return &reasons[i];
    return NULL;
}

const jk_reason_t *jk_reasons(size_t *n)
{
    if (n) *n = N_REASONS;
    return reasons;
}

/* 全国地方公共団体コード: the prefecture is the first two digits, 01..47 from north to south. */
static const char *const prefectures[47] = {
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県",   "福島県", "茨城県",
    "栃木県", "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県",
    "石川県", "福井県", "山梨県", "長野県", "岐阜県", "静岡県",   "愛知県", "三重県",
    "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県",
    "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県",   "高知県", "福岡県",
    "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県",
};

const char *jk_prefecture_name(const char *code)
{
    if (code == NULL || code[0] < '0' || code[0] > '9' || code[1] < '0' || code[1] > '9' ||
        code[2] != '\0')
        return NULL;
    int n = (code[0] - '0') * 10 + (code[1] - '0');
    return n >= 1 && n <= 47 ? prefectures[n - 1] : NULL;
}

void jk_jst_date(int64_t ms, char out[11])
{
    const int64_t jst = 9 * 3600 * 1000LL;
    char t[JK_TIME_LEN];
    /* jk_time_format clamps far-off times; only the addition itself must not overflow. */
    jk_time_format(ms > INT64_MAX - jst ? INT64_MAX : ms + jst, t);
    memcpy(out, t, 10);
    out[10] = '\0';
}

/* ---- UTF-8 ---- */

/* Decodes the code point at *p and advances past it; -1 when the bytes are not well-formed
 * UTF-8 (overlong forms, surrogates and values above U+10FFFF included). */
static long utf8_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    long cp;
    int n;
    if (s[0] < 0x80) {
        cp = s[0];
        n = 0;
    } else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        cp = s[0] & 0x1f;
        n = 1;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        cp = s[0] & 0x0f;
        n = 2;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        cp = s[0] & 0x07;
        n = 3;
    } else {
        return -1;
    }
    for (int i = 1; i <= n; i++) {
        if ((s[i] & 0xc0) != 0x80) return -1; /* also stops at the terminating NUL */
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *p = s + n + 1;
    return cp;
}

/* Cuts s back so that it does not end inside a multi-byte character (after a truncating
 * snprintf), keeping every string this module produces valid for JSON. */
static void utf8_trim(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
        i--;
    if (i == 0) return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (n - (i - 1) < need) s[i - 1] = '\0';
}

/* A value quoted in a detail, cut (at a character boundary) so that one long value cannot
 * crowd out the rest of the sentence. */
typedef struct shown {
    char s[48];
} shown_t;

static shown_t show(const char *v)
{
    shown_t r;
    size_t n = strlen(v);
    if (n < sizeof r.s) {
        memcpy(r.s, v, n + 1);
    } else {
        memcpy(r.s, v, sizeof r.s - 4);
        r.s[sizeof r.s - 4] = '\0';
        utf8_trim(r.s);
        strcat(r.s, "...");
    }
    return r;
}

/* ---- problems ---- */

static int problem(jk_problem_t *pb, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int problem(jk_problem_t *pb, const char *code, const char *field, const char *fmt, ...)
{
    pb->code = code;
    snprintf(pb->field, sizeof pb->field, "%s", field);
    utf8_trim(pb->field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pb->detail, sizeof pb->detail, fmt, ap);
    va_end(ap);
    utf8_trim(pb->detail);
    return -1;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

static const char *kind_name(jk_reason_kind_t k)
{
    return k == JK_CREATE ? "a create" : k == JK_REMOVE ? "a remove" : "a modify";
}

/* ---- field checks: each returns 0, or -1 with *pb filled ---- */

/* The fields of a record, in the order jk_change_to_json writes them. */
static const char *const fields[] = {
    "resident_code", "new_resident_code", "reason",    "effective_date",
    "notified_at",   "municipality_code", "my_number", "name",
    "name_kana",     "birth_date",        "sex",       "address",
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

static int all_digits(const char *s)
{
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static int check_code(jk_problem_t *pb, const char *field, const char *v, size_t len,
                      int (*valid)(const char *), int (*check)(const char *))
{
    if (strlen(v) != len || !all_digits(v))
        return problem(pb, INVALID, field, "%s \"%s\": must be %zu digits", field, show(v).s, len);
    if (!valid(v))
        return problem(pb, INVALID, field, "%s \"%s\": check digit should be %c", field, v,
                       check(v));
    return 0;
}

static int check_date(jk_problem_t *pb, const char *field, const char *v)
{
    int shape = strlen(v) == 10 && v[4] == '-' && v[7] == '-';
    for (int i = 0; shape && i < 10; i++)
        if (i != 4 && i != 7 && (v[i] < '0' || v[i] > '9')) shape = 0;
    if (!shape)
        return problem(pb, INVALID, field, "%s \"%s\": must be a date written YYYY-MM-DD", field,
                       show(v).s);
    /* jk_time_parse knows month lengths and leap years; midnight UTC makes it a date check. */
    char t[32];
    int64_t ms;
    memcpy(t, v, 10);
    memcpy(t + 10, "T00:00:00Z", sizeof "T00:00:00Z");
    if (jk_time_parse(t, &ms) != 0)
        return problem(pb, INVALID, field, "%s \"%s\": no such date", field, v);
    return 0;
}

static int is_kana(long cp)
{
    return (cp >= 0x30a1 && cp <= 0x30f6) || cp == 0x30fc || cp == 0x30fb || cp == 0x3000;
}

static const char *char_class(long cp)
{
    if (cp < 0x80) return "an ASCII character";
    if (cp >= 0x3041 && cp <= 0x309f) return "hiragana";
    if (cp >= 0xff61 && cp <= 0xff9f) return "half-width katakana";
    return "not katakana";
}

/* Free text (name, name_kana, address): not empty, well-formed UTF-8, no control characters,
 * no space (ASCII or U+3000) at either end, at most max characters; with kana, only full-width
 * katakana, ー, ・ and U+3000. Characters are counted as code points, as people count them. */
static int check_text(jk_problem_t *pb, const char *field, const char *v, size_t max, int kana)
{
    if (*v == '\0') return problem(pb, INVALID, field, "%s must not be empty", field);
    const unsigned char *p = (const unsigned char *)v;
    size_t n = 0;
    long cp = 0, first = -1;
    while (*p) {
        cp = utf8_next(&p);
        n++;
        if (cp < 0) return problem(pb, INVALID, field, "%s is not valid UTF-8", field);
        if (first < 0) first = cp;
        if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
            return problem(pb, INVALID, field,
                           "%s contains a control character (U+%04lX) at character %zu", field, cp,
                           n);
        if (kana && !is_kana(cp))
            return problem(pb, INVALID, field,
                           "%s must be full-width katakana, but character %zu is %s (U+%04lX)",
                           field, n, char_class(cp), cp);
    }
    if (first == ' ' || first == 0x3000 || cp == ' ' || cp == 0x3000)
        return problem(pb, INVALID, field, "%s must not begin or end with a space", field);
    if (n > max)
        return problem(pb, INVALID, field, "%s has %zu characters; at most %zu are allowed", field,
                       n, max);
    return 0;
}

static int check_address(jk_problem_t *pb, const jk_change_ctx_t *ctx, const char *v)
{
    if (check_text(pb, "address", v, ADDRESS_MAX_CHARS, 0) != 0) return -1;
    if (ctx == NULL || ctx->prefecture == NULL) return 0;
    const char *pref = jk_prefecture_name(ctx->prefecture);
    if (pref == NULL)
        return problem(pb, INVALID, "address",
                       "address cannot be checked: prefecture code \"%s\" is unknown",
                       show(ctx->prefecture).s);
    size_t n = strlen(pref);
    if (strncmp(v, pref, n) != 0 || v[n] == '\0')
        return problem(pb, INVALID, "address",
                       "address must begin with the prefecture's name \"%s\" followed by the "
                       "rest of the address",
                       pref);
    return 0;
}

/* The string value of a field, or NULL when absent (types were checked before). */
static const char *str(const json_t *rec, const char *field)
{
    return json_string_value(json_object_get(rec, field));
}

static int check_form(const json_t *rec, const jk_change_ctx_t *ctx, const jk_reason_t **reasonp,
                      jk_problem_t *pb)
{
    if (!json_is_object(rec))
        return problem(pb, INVALID, "", "the record must be a JSON object, not %s",
                       rec ? json_kind(rec) : "nothing");

    const char *key;
    json_t *v;
    json_object_foreach((json_t *)rec, key, v)
    {
        size_t i = 0;
        while (i < N_FIELDS && strcmp(fields[i], key) != 0)
            i++;
        if (i == N_FIELDS) return problem(pb, INVALID, key, "unknown field \"%s\"", show(key).s);
    }
    for (size_t i = 0; i < N_FIELDS; i++) {
        v = json_object_get(rec, fields[i]);
        if (v == NULL) continue;
        if (!json_is_string(v))
            return problem(pb, INVALID, fields[i], "%s must be a string, not %s", fields[i],
                           json_kind(v));
        if (strlen(json_string_value(v)) != json_string_length(v))
            return problem(pb, INVALID, fields[i], "%s contains a NUL character", fields[i]);
    }

    const char *s = str(rec, "reason");
    if (s == NULL) return problem(pb, INVALID, "reason", "reason is required");
    const jk_reason_t *r = jk_reason_find(s);
    if (r == NULL)
        return problem(pb, INVALID, "reason", "reason \"%s\" is not a known change reason",
                       show(s).s);
    *reasonp = r;

    /* What every record needs, then what a create or modify needs: the full record after the
     * change. A remove may carry the rest, and then it is checked all the same. */
    static const char *const always[] = {"resident_code", "municipality_code", "effective_date"};
    static const char *const full[] = {"my_number", "name", "birth_date", "sex", "address"};
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
        if (str(rec, always[i]) == NULL)
            return problem(pb, INVALID, always[i], "%s is required", always[i]);
    if (r->kind != JK_REMOVE)
        for (size_t i = 0; i < sizeof full / sizeof full[0]; i++)
            if (str(rec, full[i]) == NULL)
                return problem(pb, INVALID, full[i], "%s is required for %s (%s)", full[i], r->code,
                               kind_name(r->kind));

    const char *rc = str(rec, "resident_code");
    if (check_code(pb, "resident_code", rc, 11, jk_code_resident_valid, jk_code_resident_check))
        return -1;

    const char *nrc = str(rec, "new_resident_code");
    int renames = r->changeable == JK_F_RESIDENT_CODE;
    if (renames && nrc == NULL)
        return problem(pb, INVALID, "new_resident_code", "new_resident_code is required for %s",
                       r->code);
    if (!renames && nrc != NULL)
        return problem(pb, INVALID, "new_resident_code",
                       "new_resident_code is allowed only for resident_code_change, not for %s",
                       r->code);
    if (nrc != NULL) {
        if (check_code(pb, "new_resident_code", nrc, 11, jk_code_resident_valid,
                       jk_code_resident_check))
            return -1;
        if (strcmp(nrc, rc) == 0)
            return problem(pb, INVALID, "new_resident_code",
                           "new_resident_code \"%s\" is the same as resident_code", nrc);
    }

    if (check_code(pb, "municipality_code", str(rec, "municipality_code"), 6,
                   jk_code_municipality_valid, jk_code_municipality_check))
        return -1;
    if (check_date(pb, "effective_date", str(rec, "effective_date"))) return -1;

    int64_t ms;
    if ((s = str(rec, "notified_at")) && jk_time_parse(s, &ms) != 0)
        return problem(pb, INVALID, "notified_at",
                       "notified_at \"%s\": must be an RFC 3339 time such as "
                       "2026-04-01T09:00:00+09:00",
                       show(s).s);
    if ((s = str(rec, "my_number")) &&
        check_code(pb, "my_number", s, 12, jk_code_my_number_valid, jk_code_my_number_check))
        return -1;
    if ((s = str(rec, "name")) && check_text(pb, "name", s, NAME_MAX_CHARS, 0)) return -1;
    if ((s = str(rec, "name_kana")) && check_text(pb, "name_kana", s, KANA_MAX_CHARS, 1)) return -1;
    if ((s = str(rec, "birth_date")) && check_date(pb, "birth_date", s)) return -1;
    if ((s = str(rec, "sex")) && strcmp(s, "1") != 0 && strcmp(s, "2") != 0)
        return problem(pb, INVALID, "sex", "sex \"%s\": must be \"1\" (male) or \"2\" (female)",
                       show(s).s);
    if ((s = str(rec, "address")) && check_address(pb, ctx, s)) return -1;

    const char *eff = str(rec, "effective_date");
    if ((s = str(rec, "birth_date")) && strcmp(s, eff) > 0)
        return problem(pb, INVALID, "birth_date", "birth_date %s is after effective_date %s", s,
                       eff);
    return 0;
}

int jk_change_parse(const json_t *rec, const jk_change_ctx_t *ctx, jk_change_t *out,
                    jk_problem_t *pb)
{
    jk_problem_t scratch;
    if (pb == NULL) pb = &scratch;
    memset(pb, 0, sizeof *pb);
    memset(out, 0, sizeof *out);

    const jk_reason_t *r = NULL;
    if (check_form(rec, ctx, &r, pb) != 0) return -1;

    /* Form is sound: the lengths below were all checked. */
    const char *mc = str(rec, "municipality_code"), *eff = str(rec, "effective_date");
    if (ctx && ctx->municipality && strcmp(mc, ctx->municipality) != 0)
        return problem(pb, "wrong_municipality", "municipality_code",
                       "municipality_code %s is not this CS's municipality %s: a CS sends "
                       "changes for its own municipality only",
                       mc, show(ctx->municipality).s);

    int64_t ms = 0;
    const char *na = str(rec, "notified_at");
    if (na) {
        jk_time_parse(na, &ms);
        char day[11];
        jk_jst_date(ms, day);
        if (strcmp(eff, day) > 0)
            return problem(pb, "future_date", "effective_date",
                           "effective_date %s is after the notification date %s (Japan time "
                           "of notified_at %s)",
                           eff, day, show(na).s);
    }

    jk_change_t ch;
    memset(&ch, 0, sizeof ch);
    ch.reason = r;
    const char *s;
    strcpy(ch.resident_code, str(rec, "resident_code"));
    if ((s = str(rec, "new_resident_code"))) strcpy(ch.new_resident_code, s);
    if ((s = str(rec, "my_number"))) strcpy(ch.my_number, s);
    if ((s = str(rec, "birth_date"))) strcpy(ch.birth_date, s);
    if ((s = str(rec, "sex"))) strcpy(ch.sex, s);
    strcpy(ch.municipality_code, mc);
    strcpy(ch.effective_date, eff);
    if (na) jk_time_format(ms, ch.notified_at);
    if (((s = str(rec, "name")) && (ch.name = strdup(s)) == NULL) ||
        ((s = str(rec, "name_kana")) && (ch.name_kana = strdup(s)) == NULL) ||
        ((s = str(rec, "address")) && (ch.address = strdup(s)) == NULL)) {
        jk_change_free(&ch);
        return problem(pb, "out_of_memory", "", "out of memory while copying the record");
    }
    *out = ch;
    return 0;
}

void jk_change_free(jk_change_t *ch)
{
    if (ch == NULL) return;
    free(ch->name);
    free(ch->name_kana);
    free(ch->address);
    ch->name = ch->name_kana = ch->address = NULL;
}

/* Sets key to a string unless the value is absent (NULL or ""). */
static int put(json_t *o, const char *key, const char *v)
{
    if (v == NULL || *v == '\0') return 0;
    return json_object_set_new(o, key, json_string(v));
}

json_t *jk_change_to_json(const jk_change_t *ch)
{
    json_t *o = json_object();
    if (o == NULL) return NULL;
    const char *vals[N_FIELDS] = {
        ch->resident_code,
        ch->new_resident_code,
        ch->reason ? ch->reason->code : NULL,
        ch->effective_date,
        ch->notified_at,
        ch->municipality_code,
        ch->my_number,
        ch->name,
        ch->name_kana,
        ch->birth_date,
        ch->sex,
        ch->address,
    };
    for (size_t i = 0; i < N_FIELDS; i++) {
        if (put(o, fields[i], vals[i]) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}
