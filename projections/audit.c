/* audit.c: the pure rules of the audit views and the yearly sample (see audit.h).
 *
 * JST has no daylight saving, so a date in JST is the UTC date of the time plus nine hours, and
 * the civil date comes from days since the epoch (Howard Hinnant's days_from_civil inverse)
 * without the C library's time zone machinery. */
#include "jukilog/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define JST_MS (9LL * 3600 * 1000)
#define DAY_MS (86400LL * 1000)

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The civil date of a day number (days since 1970-01-01). */
static void civil(int64_t days, int *y, int *m, int *d)
{
    days += 719468;
    int64_t era = floor_div(days, 146097);
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int jk_audit_fiscal_year(int64_t ms)
{
    int y, m, d;
    civil(floor_div(ms + JST_MS, DAY_MS), &y, &m, &d);
    return m >= 4 ? y : y - 1;
}

int jk_audit_jst_hour(int64_t ms)
{
    int64_t in_day = (ms + JST_MS) - floor_div(ms + JST_MS, DAY_MS) * DAY_MS;
    return (int)(in_day / (3600 * 1000));
}

int jk_audit_off_hours(int64_t ms)
{
    int h = jk_audit_jst_hour(ms);
    return h < JK_AUDIT_OFFICE_FROM || h >= JK_AUDIT_OFFICE_TO;
}

void jk_audit_jst_date(int64_t ms, char out[11])
{
    int y, m, d;
    civil(floor_div(ms + JST_MS, DAY_MS), &y, &m, &d);
    char buf[40];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", y % 10000, m % 100, d % 100);
    memcpy(out, buf, 10);
    out[10] = '\0';
}

const char *jk_audit_stats_category(const char *request_type, int national, const char *category)
{
    if (request_type && strcmp(request_type, "bulk") == 0) return "bulk";
    if (national) return "national";
    return category ? category : "unknown";
}

int jk_audit_rate_parse(const char *s, jk_audit_rate_t *rate, jk_err_t *err)
{
    const char *p = s;
    uint64_t ip = 0, num = 0, den = 1;
    int digits = 0, frac = 0;
    while (*p >= '0' && *p <= '9') {
        if (ip > 1) break;
        ip = ip * 10 + (uint64_t)(*p++ - '0');
        digits++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9' && frac < 19) {
            num = num * 10 + (uint64_t)(*p++ - '0');
            den *= 10;
            frac++;
        }
    }
    if (*p != '\0' || (digits == 0 && frac == 0) || frac > 18)
        return jk_err_set(err, "rate \"%s\" is not a decimal number with at most 18 decimals", s);
    if (ip > 1 || (ip == 1 && num != 0))
        return jk_err_set(err, "rate \"%s\" is not between 0 and 1", s);
    rate->num = ip == 1 ? den : num;
    rate->den = den;
    return 0;
}

uint64_t jk_audit_hash(const char *seed, const char *a, const char *b)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    unsigned char msg[512], *m = la + lb <= sizeof msg ? msg : malloc(la + lb);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (m == NULL) return UINT64_MAX; /* never below a rate < 1: drawn only by rate 1 */
    memcpy(m, a, la);
    if (lb) memcpy(m + la, b, lb);
    HMAC(EVP_sha256(), seed, (int)strlen(seed), m, la + lb, mac, &maclen);
    if (m != msg) free(m);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h = (h << 8) | mac[i];
    return h;
}

int jk_audit_below(uint64_t h, const jk_audit_rate_t *rate)
{
    /* h < (num / den) * 2^64  <=>  h * den < num * 2^64 */
    return (unsigned __int128)h * rate->den < ((unsigned __int128)rate->num << 64);
}

static const jk_audit_use_t *sort_uses; /* qsort has no context argument in C11 */

static int by_record_id(const void *a, const void *b)
{
    const jk_audit_pick_t *x = a, *y = b;
    return strcmp(sort_uses[x->use].id, sort_uses[y->use].id);
}

/* The eligible reviewer with the smallest HMAC(seed, record id || reviewer id), or -1. */
static long assign(const char *seed, const jk_audit_use_t *u, const jk_audit_reviewer_t *rv,
                   size_t nr)
{
    long best = -1;
    uint64_t best_h = 0;
    for (size_t i = 0; i < nr; i++) {
        if (strcmp(rv[i].id, u->operator) == 0 || strcmp(rv[i].department, u->department) == 0)
            continue;
        uint64_t h = jk_audit_hash(seed, u->id, rv[i].id);
        if (best < 0 || h < best_h || (h == best_h && strcmp(rv[i].id, rv[best].id) < 0)) {
            best = (long)i;
            best_h = h;
        }
    }
    return best;
}

int jk_audit_draw(const char *seed, const jk_audit_rate_t *rate, const jk_audit_use_t *uses,
                  size_t n, const jk_audit_reviewer_t *reviewers, size_t n_reviewers,
                  jk_audit_pick_t **out, size_t *nout, jk_err_t *err)
{
    uint64_t *h = malloc((n ? n : 1) * sizeof *h);
    char *drawn = calloc(n ? n : 1, 1);
    jk_audit_pick_t *picks = malloc((n ? n : 1) * sizeof *picks);
    if (!h || !drawn || !picks) {
        free(h);
        free(drawn);
        free(picks);
        return jk_err_set(err, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        h[i] = jk_audit_hash(seed, uses[i].id, NULL);
        drawn[i] = (char)jk_audit_below(h[i], rate);
    }
    /* Stratification: per department, is anything drawn, and which use has the smallest hash.
     * Departments are few, so a linear scan over the ones met so far is enough. */
    size_t *best = malloc((n ? n : 1) * sizeof *best); /* per department: its best use */
    char *has = calloc(n ? n : 1, 1);
    size_t ndep = 0;
    int rc = 0;
    if (!best || !has) rc = jk_err_set(err, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t d = 0;
        while (d < ndep && strcmp(uses[best[d]].department, uses[i].department) != 0)
            d++;
        if (d == ndep) {
            best[ndep++] = i;
        } else if (h[i] < h[best[d]] ||
                   (h[i] == h[best[d]] && strcmp(uses[i].id, uses[best[d]].id) < 0)) {
            best[d] = i;
        }
        if (drawn[i] == 1) has[d] = 1;
    }
    for (size_t d = 0; rc == 0 && d < ndep; d++)
        if (!has[d]) drawn[best[d]] = 2;
    size_t np = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!drawn[i]) continue;
        picks[np] = (jk_audit_pick_t){.use = i, .hash = h[i], .stratified = drawn[i] == 2};
        np++;
    }
    if (rc == 0) {
        sort_uses = uses;
        qsort(picks, np, sizeof *picks, by_record_id);
        sort_uses = NULL;
    }
    for (size_t k = 0; rc == 0 && k < np; k++) {
        const jk_audit_use_t *u = &uses[picks[k].use];
        long r = assign(seed, u, reviewers, n_reviewers);
        if (r < 0)
            rc = jk_err_set(err,
                            "record %s (operator %s, department %s): no reviewer is eligible "
                            "(each is its operator or of its department)",
                            u->id, u->operator, u->department);
        else
            picks[k].reviewer = (size_t)r;
    }
    free(h);
    free(drawn);
    free(best);
    free(has);
    if (rc != 0) {
        free(picks);
        return -1;
    }
    *out = picks;
    *nout = np;
    return 0;
}

static int only_chars(const char *s, const char *allowed)
{
    return s[0] != '\0' && s[strspn(s, allowed)] == '\0';
}

void jk_audit_reviewers_free(jk_audit_reviewer_t *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++) {
        free((char *)r[i].id);
        free((char *)r[i].department);
    }
    free(r);
}

jk_audit_reviewer_t *jk_audit_reviewers_parse(const char *text, size_t len, size_t *n,
                                              jk_err_t *err)
{
    char *buf = malloc(len + 1);
    size_t cap = 16, cnt = 0;
    jk_audit_reviewer_t *r = malloc(cap * sizeof *r);
    if (!buf || !r) {
        free(buf);
        free(r);
        jk_err_set(err, "out of memory");
        return NULL;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    long lineno = 0;
    int rc = 0;
    for (char *line = buf, *next; line && *line && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r') line[--l] = '\0';
        if (lineno == 1) {
            if (strcmp(line, "reviewer,department") != 0)
                rc = jk_err_set(err, "line 1: the header must be \"reviewer,department\"");
            continue;
        }
        if (l == 0) continue;
        char *comma = strchr(line, ',');
        if (!comma || strchr(comma + 1, ',')) {
            rc = jk_err_set(err, "line %ld: expected two fields, reviewer and department", lineno);
            break;
        }
        *comma = '\0';
        const char *id = line, *dep = comma + 1;
        if (strlen(id) > 32 || !only_chars(id, "abcdefghijklmnopqrstuvwxyz0123456789_.-")) {
            rc = jk_err_set(err, "line %ld: reviewer \"%s\" is not [a-z0-9_.-]{1,32}", lineno, id);
            break;
        }
        if (!only_chars(dep, "abcdefghijklmnopqrstuvwxyz0123456789_")) {
            rc = jk_err_set(err, "line %ld: department \"%s\" is not [a-z0-9_]+", lineno, dep);
            break;
        }
        for (size_t i = 0; i < cnt && rc == 0; i++)
            if (strcmp(r[i].id, id) == 0)
                rc = jk_err_set(err, "line %ld: reviewer %s is listed twice", lineno, id);
        if (rc) break;
        if (cnt == cap) {
            jk_audit_reviewer_t *nr = realloc(r, 2 * cap * sizeof *nr);
            if (!nr) {
                rc = jk_err_set(err, "out of memory");
                break;
            }
            r = nr;
            cap *= 2;
        }
        r[cnt].id = strdup(id);
        r[cnt].department = strdup(dep);
        cnt++;
        if (!r[cnt - 1].id || !r[cnt - 1].department) rc = jk_err_set(err, "out of memory");
    }
    if (rc == 0 && lineno == 0)
        rc = jk_err_set(err, "empty: the header must be \"reviewer,department\"");
    free(buf);
    if (rc) {
        jk_audit_reviewers_free(r, cnt);
        return NULL;
    }
    *n = cnt;
    return r;
}
