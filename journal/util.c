/* util.c: the small encodings and clocks of util.h.
 *
 * Everything that reaches the log is text: ids and hashes in lower-case hex, keys and signatures
 * in base64, times in RFC 3339 with milliseconds. Decoders here are strict (no white space, no
 * sloppy padding, no out-of-range dates) because a value that could be spelt two ways would give
 * one event two hashes. */
#include "jukilog/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

static const char hexdigits[] = "0123456789abcdef";

void jk_hex_encode(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdigits[in[i] >> 4];
        out[2 * i + 1] = hexdigits[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int jk_hex_decode(const char *in, unsigned char *out, size_t n)
{
    /* Validate the whole input before writing, so out is untouched on failure; the NUL checks
     * keep us from reading past a short string. */
    for (size_t i = 0; i < 2 * n; i++)
        if (in[i] == '\0' || hexval(in[i]) < 0) return -1;
    if (in[2 * n] != '\0') return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(hexval(in[2 * i]) << 4 | hexval(in[2 * i + 1]));
    return 0;
}

int jk_is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return s[n] == '\0';
}

char *jk_b64_encode(const unsigned char *in, size_t n)
{
    if (n > (size_t)INT32_MAX / 2) return NULL; /* EVP_EncodeBlock counts in int */
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out == NULL) return NULL;
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int jk_b64_decode(const char *in, unsigned char **out, size_t *n)
{
    size_t len = strlen(in);
    if (len % 4 != 0 || len > (size_t)INT32_MAX / 2) return -1;
    size_t pad = 0;
    if (len > 0 && in[len - 1] == '=') pad = (in[len - 2] == '=') ? 2 : 1;
    for (size_t i = 0; i < len - pad; i++)
        if (b64val(in[i]) < 0) return -1;
    /* The bits that padding leaves over must be zero: otherwise "AB==" and "AA==" would be two
     * spellings of one byte, and a signature could be altered without changing its value. */
    if (pad == 2 && (b64val(in[len - 3]) & 0x0f) != 0) return -1;
    if (pad == 1 && (b64val(in[len - 2]) & 0x03) != 0) return -1;

    /* EVP_DecodeBlock counts padding as zero bytes, so the real length is computed here. */
    unsigned char *buf = malloc(len / 4 * 3 + 1);
    if (buf == NULL) return -1;
    if (EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len) < 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *n = len / 4 * 3 - pad;
    return 0;
}

int jk_random_id(char out[33])
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) return -1;
    jk_hex_encode(raw, sizeof raw, out);
    return 0;
}

int jk_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

int64_t jk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The years four digits can write; jk_time_format clamps to them so that its output always
 * parses back. */
#define TIME_MIN_MS (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define TIME_MAX_MS (253402300799999LL) /* 9999-12-31T23:59:59.999Z */

void jk_time_format(int64_t ms, char out[JK_TIME_LEN])
{
    if (ms < TIME_MIN_MS) ms = TIME_MIN_MS;
    if (ms > TIME_MAX_MS) ms = TIME_MAX_MS;
    /* Floor division, so that times before 1970 keep a fraction in 0..999. */
    int64_t sec = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm); /* cannot fail within the clamped range */
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ" digit by digit: consumers format a time or two per event, and
     * snprintf's parsing of the format was most of the cost. The clamp keeps every field in
     * its width. */
    const unsigned fields[7] = {(unsigned)(tm.tm_year + 1900),
                                (unsigned)(tm.tm_mon + 1),
                                (unsigned)tm.tm_mday,
                                (unsigned)tm.tm_hour,
                                (unsigned)tm.tm_min,
                                (unsigned)tm.tm_sec,
                                (unsigned)frac};
    static const unsigned widths[7] = {4, 2, 2, 2, 2, 2, 3};
    static const char after[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};
    char *o = out;
    for (int f = 0; f < 7; f++) {
        unsigned v = fields[f];
        for (unsigned i = widths[f]; i-- > 0; v /= 10)
            o[i] = (char)('0' + v % 10);
        o += widths[f];
        *o++ = after[f];
    }
    *o = '\0';
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). Done by
 * hand because timegm() depends on nothing but is not standard, and mktime() on the TZ. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

/* Reads exactly n digits at *p into *v and advances *p. */
static int digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9') return -1;
        *v = *v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c) return -1;
    (*p)++;
    return 0;
}

int jk_time_parse(const char *s, int64_t *ms)
{
    const char *p = s;
    int Y, M, D, h, m, sec;
    if (digits(&p, 4, &Y) || expect(&p, '-') || digits(&p, 2, &M) || expect(&p, '-') ||
        digits(&p, 2, &D) || expect(&p, 'T') || digits(&p, 2, &h) || expect(&p, ':') ||
        digits(&p, 2, &m) || expect(&p, ':') || digits(&p, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 || m > 59 || sec > 59)
        return -1;

    /* A fraction of any precision up to nanoseconds is accepted (other systems write
     * microseconds) and truncated to milliseconds, the resolution of the log. */
    int frac = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 3) frac = frac * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0 || nd > 9) return -1;
        for (int i = nd; i < 3; i++)
            frac *= 10;
    }

    int offset_min = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = (*p == '-') ? -1 : 1, oh, om;
        p++;
        if (digits(&p, 2, &oh) || expect(&p, ':') || digits(&p, 2, &om)) return -1;
        if (oh > 23 || om > 59) return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p != '\0') return -1;

    int64_t secs = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec;
    *ms = (secs - (int64_t)offset_min * 60) * 1000 + frac;
    return 0;
}

int jk_time_is_canonical(const char *s)
{
    int64_t ms;
    char back[JK_TIME_LEN];
    if (strlen(s) != 24 || jk_time_parse(s, &ms) != 0) return 0;
    jk_time_format(ms, back);
    return strcmp(s, back) == 0;
}

size_t jk_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char u = s[0];
    size_t len;
    uint32_t v;
    if (u < 0x80) return 1;
    if (u >= 0xC2 && u <= 0xDF)
        len = 2, v = u & 0x1F;
    else if (u >= 0xE0 && u <= 0xEF)
        len = 3, v = u & 0x0F;
    else if (u >= 0xF0 && u <= 0xF4)
        len = 4, v = u & 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (len == 3 && v < 0x800) ||
        (len == 4 && v < 0x10000))
        return 0;
    return len;
}
