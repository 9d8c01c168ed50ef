/* gen.c: `jukilog gen`, a synthetic prefecture for demos, tests and benchmarks (see gen.h).
 *
 * It simulates the residents of a Yamaguchi-like prefecture, quarter by quarter, and writes what
 * each municipality's CS would send (JSON Lines change records, one file per municipality and
 * period), deliberate faults among them, and the answer key: the identity file and the outcome
 * counts that the prefecture must arrive at.
 *
 * Why the answer key is exact: the demo sends the periods in order, within a period the
 * municipalities in ascending code order, each file in line order. A person changes at most once
 * a quarter (a move between municipalities being one change written as two records, move_out at
 * the old and move_in at the new municipality), so within a quarter the order of files only
 * matters for the two halves of such a move, and that is predicted from the two codes. Faults
 * are made only about persons with no change in the quarter, so they meet the state they were
 * made for in any order, and they change nothing.
 *
 * Determinism: one xoshiro256** generator seeded from --seed drives every choice; records are
 * sorted with total orders; nothing depends on the clock, on rand() or on hash order. */
#include "jukilog/gen.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gen_names.h"
#include "jukilog/change.h"
#include "jukilog/cli.h"
#include "jukilog/codes.h"

#define GEN_PROGRESS_EVERY 100000
#define GEN_MAX_TRIES 100000 /* draws before a picker gives up (tiny or exhausted populations) */
#define GEN_MAX_MUNIS 32
#define GEN_MAX_RESIDENTS 50000000L
#define GEN_MAX_YEARS 100

/* ---- random numbers: xoshiro256** seeded through splitmix64 ---- */

typedef struct gen_rng {
    uint64_t s[4];
} gen_rng_t;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(gen_rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(gen_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n): draws below 2^64 mod n are redrawn, so no value is favoured. */
static uint64_t rng_below(gen_rng_t *r, uint64_t n)
{
    if (n <= 1) return 0;
    uint64_t limit = -n % n, x;
    while ((x = rng_next(r)) < limit) {
    }
    return x % n;
}

/* Uniform in [0, 1) with 53 bits. Only + - * < on doubles below: the same on every IEEE host. */
static double rng_unit(gen_rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static int rng_chance(gen_rng_t *r, double p)
{
    return rng_unit(r) < p;
}

/* x rounded down or up at random so that the expectation is x: rare events still happen in
 * small prefectures, at their rate. */
static uint64_t rng_round(gen_rng_t *r, double x)
{
    if (!(x > 0)) return 0;
    uint64_t n = (uint64_t)x;
    return n + (rng_unit(r) < x - (double)n);
}

/* An index drawn with the weights whose running sums are cum[0..n-1]. */
static unsigned rng_weighted(gen_rng_t *r, const uint64_t *cum, unsigned n)
{
    uint64_t x = rng_below(r, cum[n - 1]);
    unsigned lo = 0, hi = n - 1;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (x < cum[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* ---- calendar: days since 1970-01-01 (proleptic Gregorian) ---- */

static int32_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int32_t)doe - 719468;
}

static void civil_from_days(int32_t z, int *y, int *m, int *d)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : dim[m - 1];
}

static void date_format(int32_t day, char out[16])
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    snprintf(out, 16, "%04d-%02d-%02d", y, m, d);
}

/* Strict YYYY-MM-DD of a day that exists, years 1900..2200. */
static int date_parse(const char *s, int32_t *day)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return -1;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return -1;
    *day = days_from_civil(y, m, d);
    return 0;
}

/* The same day n months later, cut to the month's end (Jan 31 + 1 month = Feb 28/29). */
static int32_t add_months(int32_t day, int n)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    int mm = y * 12 + (m - 1) + n;
    y = mm / 12;
    m = mm % 12 + 1;
    if (d > days_in_month(y, m)) d = days_in_month(y, m);
    return days_from_civil(y, m, d);
}

/* 0 Sunday .. 6 Saturday (1970-01-01 was a Thursday). */
static int weekday(int32_t day)
{
    return (int)(((day % 7) + 7 + 4) % 7);
}

/* Completed years of life on that day. */
static int age_on(int32_t birth, int32_t day)
{
    int by, bm, bd, y, m, d;
    civil_from_days(birth, &by, &bm, &bd);
    civil_from_days(day, &y, &m, &d);
    return y - by - (m < bm || (m == bm && d < bd));
}

static unsigned band_of(int age)
{
    return age < 0 ? 0 : age / 5 >= JK_GEN_BANDS ? JK_GEN_BANDS - 1 : (unsigned)age / 5;
}

#define JST_OFFSET (9 * 3600)

/* Seconds since the epoch as RFC 3339 in Japan time, "2023-04-01T09:00:00+09:00". */
static void time_format_jst(int64_t s, char out[32])
{
    int64_t local = s + JST_OFFSET, day = local / 86400, tod = local % 86400;
    if (tod < 0) {
        tod += 86400;
        day--;
    }
    char date[16];
    date_format((int32_t)day, date);
    snprintf(out, 32, "%sT%02d:%02d:%02d+09:00", date, (int)(tod / 3600), (int)(tod / 60 % 60),
             (int)(tod % 60));
}

/* ---- a set of codes (open addressing; membership only, so its order never shows) ---- */

typedef struct gen_set {
    uint64_t *slot; /* 0 is empty: no code is 0, the 10 random digits are never all zero */
    size_t cap, n;
} gen_set_t;

static size_t set_hash(uint64_t x, size_t cap)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

/* 1 added, 0 already there, -1 out of memory. */
static int set_add(gen_set_t *s, uint64_t key)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint64_t *slot = calloc(cap, sizeof *slot);
        if (slot == NULL) return -1;
        for (size_t i = 0; i < s->cap; i++) {
            if (s->slot[i] == 0) continue;
            size_t h = set_hash(s->slot[i], cap);
            while (slot[h])
                h = (h + 1) & (cap - 1);
            slot[h] = s->slot[i];
        }
        free(s->slot);
        s->slot = slot;
        s->cap = cap;
    }
    size_t h = set_hash(key, s->cap);
    while (s->slot[h]) {
        if (s->slot[h] == key) return 0;
        h = (h + 1) & (s->cap - 1);
    }
    s->slot[h] = key;
    s->n++;
    return 1;
}

/* ---- a growing byte buffer; failures are remembered and reported once ---- */

typedef struct gen_buf {
    char *p;
    size_t len, cap;
    int oom;
} gen_buf_t;

static void buf_add(gen_buf_t *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(gen_buf_t *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* s as a JSON string. The tables hold no quote, backslash or control character, but a
 * generator of test data must not be the one to emit broken JSON if they ever do. */
static void buf_json(gen_buf_t *b, const char *s)
{
    buf_add(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        buf_add(b, run, (size_t)(s - run));
        char esc[8];
        snprintf(esc, sizeof esc, c == '"' || c == '\\' ? "\\%c" : "\\u%04x", c);
        buf_str(b, esc);
        run = s + 1;
    }
    buf_add(b, run, (size_t)(s - run));
    buf_add(b, "\"", 1);
}

static void buf_key(gen_buf_t *b, int *first, const char *key, const char *value)
{
    buf_str(b, *first ? "{\"" : ",\"");
    *first = 0;
    buf_str(b, key);
    buf_str(b, "\":");
    buf_json(b, value);
}

/* ---- the model ---- */

enum gen_reason {
    R_MOVE_IN,
    R_BIRTH,
    R_EX_OFFICIO_ENTRY,
    R_ADDRESS_SET,
    R_FOREIGN_RESIDENT_ENTRY,
    R_MOVE_OUT,
    R_DEATH,
    R_DISAPPEARANCE,
    R_EX_OFFICIO_REMOVAL,
    R_NATIONALITY_LOST,
    R_RELOCATION,
    R_NAME_CHANGE,
    R_EX_OFFICIO_CORRECTION,
    R_MY_NUMBER_CHANGE,
    R_RESIDENT_CODE_CHANGE,
    N_REASONS
};

/* The reasons' codes come from projections/change.c, whose table follows DOMAIN.md's order, as
 * this enum does (the unit test replays everything through the state machine, so a mismatch
 * cannot go unnoticed). */
static const char *reason_code(enum gen_reason r)
{
    size_t n;
    return jk_reasons(&n)[r].code;
}

/* Deliberate faults, in the order of the manifest; the first three are refused by `cs send`. */
enum gen_fault {
    F_INVALID_FORMAT,
    F_WRONG_MUNICIPALITY,
    F_FUTURE_DATE,
    F_ALREADY_RESIDENT,
    F_CODE_EXISTS,
    F_UNKNOWN_RESIDENT,
    F_NOT_RESIDENT_HERE,
    F_FIELD_NOT_CHANGEABLE,
    N_FAULTS
};
#define N_CS_FAULTS 3

static const char *const fault_code[N_FAULTS] = {
    "invalid_format", "wrong_municipality", "future_date",       "already_resident",
    "code_exists",    "unknown_resident",   "not_resident_here", "field_not_changeable",
};

/* What happens to residents in a quarter, in the order it is drawn. */
enum gen_event {
    E_DEATH,
    E_DISAPPEARANCE,
    E_EX_OFFICIO_REMOVAL,
    E_NATIONALITY_LOST,
    E_MOVE_OUT,
    E_MOVE_WITHIN,
    E_RELOCATION,
    E_NAME_CHANGE,
    E_CORRECTION,
    E_MY_NUMBER_CHANGE,
    E_CODE_CHANGE,
    E_BIRTH,
    E_MOVE_IN,
    E_ADDRESS_SET,
    E_FOREIGN_ENTRY,
    N_EVENTS
};

/* Yearly rates relative to the resident population (Yamaguchi: births 0.65 %, deaths 1.5 %,
 * a shrinking prefecture). Rare ones happen at least once a year so that small runs show every
 * reason. */
static const struct {
    double rate;
    int rare;
} flows[N_EVENTS] = {
    [E_DEATH] = {0.015, 0},
    [E_DISAPPEARANCE] = {0.00005, 1},
    [E_EX_OFFICIO_REMOVAL] = {0.0003, 1},
    [E_NATIONALITY_LOST] = {0.00005, 1},
    [E_MOVE_OUT] = {0.014, 0},
    [E_MOVE_WITHIN] = {0.01, 0},
    [E_RELOCATION] = {0.03, 0},
    [E_NAME_CHANGE] = {0.004, 0},
    [E_CORRECTION] = {0.0005, 1},
    [E_MY_NUMBER_CHANGE] = {0.0005, 1},
    [E_CODE_CHANGE] = {0.0002, 1},
    [E_BIRTH] = {0.0065, 0},
    [E_MOVE_IN] = {0.012, 0},
    [E_ADDRESS_SET] = {0.0002, 1},
    [E_FOREIGN_ENTRY] = {0.001, 1},
};

enum { ST_RESIDENT, ST_REMOVED };
enum { PF_FOREIGN = 1, PF_KANA = 2 };
#define NO_MUNI 0xff

/* One person ever known, packed: 1 M of them take about 50 MB. */
typedef struct gen_person {
    uint64_t code;      /* resident code, 11 digits */
    uint64_t my_number; /* 12 digits */
    int32_t birth;      /* days since the epoch */
    int32_t eff;        /* effective date of the last accepted change */
    uint16_t surname;   /* into the Japanese or (PF_FOREIGN) the foreign tables */
    uint16_t given;
    uint16_t banchi;
    uint16_t version; /* accepted changes so far */
    int16_t touched;  /* the last quarter with a change: at most one per quarter */
    uint8_t muni;
    uint8_t prev_muni; /* where a move_out is superseded (identity.c "previous_municipality") */
    uint8_t town, chome, go, sex, flags, status, reason;
} gen_person_t;

/* One record of the current period, its line kept in the arena until the period is sorted. */
typedef struct gen_rec {
    int64_t notified; /* seconds since the epoch */
    size_t off;
    uint32_t len;
    uint32_t seq;
    int32_t eff;
    uint8_t muni;
} gen_rec_t;

/* A record's fields as text, ready to be written (or spoilt, for a fault). */
typedef struct gen_view {
    char code[16], new_code[16], my_number[16], birth[16], sex[4], muni[8];
    char name[256], kana[256], address[320];
    int has_kana;
} gen_view_t;

/* Fields a record leaves out. */
enum {
    V_MY_NUMBER = 1,
    V_NAME = 2,
    V_KANA = 4,
    V_BIRTH = 8,
    V_SEX = 16,
    V_ADDRESS = 32,
    V_REMOVE = 63, /* a remove carries code, reason, dates and municipality only */
};

typedef struct gen {
    const jk_gen_opts_t *o;
    jk_err_t *err;
    gen_rng_t rng;
    const jk_gen_muni_t *munis;
    unsigned n_munis;
    const char *pref_name;
    uint64_t muni_cum[GEN_MAX_MUNIS];
    uint64_t *surname_cum;
    uint16_t *given_by[3][JK_GEN_ERAS]; /* [sex][era] -> indices into jk_gen_given_names */
    unsigned n_given_by[3][JK_GEN_ERAS];
    uint64_t pyramid_cum[JK_GEN_BANDS], mobility_cum[JK_GEN_BANDS];
    int32_t start;

    gen_person_t *p;
    size_t n, cap;
    size_t residents;
    gen_set_t codes, numbers;

    int q; /* current period, 0 for the initial load */
    int32_t d0, d1;
    char dir[PATH_MAX - 128]; /* room for /periods/<period>/<code>.jsonl in a PATH_MAX */
    char period[32];
    gen_buf_t arena, line;
    gen_rec_t *recs;
    size_t nrec, caprec;
    uint32_t seq;
    int oom;

    uint64_t by_reason[N_REASONS], faults[N_FAULTS], year_events[N_EVENTS];
    uint64_t total, written, superseded, accepted;
    json_t *periods, *period_records;
} gen_t;

static int oom(gen_t *g)
{
    g->oom = 1;
    return jk_err_set(g->err, "out of memory");
}

/* ---- persons ---- */

static int fresh_code(gen_t *g, gen_set_t *set, int digits, int (*check)(const char *),
                      uint64_t *out)
{
    uint64_t span = digits == 10 ? 10000000000ULL : 100000000000ULL;
    for (;;) {
        uint64_t body = 1 + rng_below(&g->rng, span - 1);
        char s[16];
        snprintf(s, sizeof s, "%0*" PRIu64, digits, body);
        uint64_t code = body * 10 + (uint64_t)(check(s) - '0');
        int r = set_add(set, code);
        if (r < 0) return oom(g);
        if (r) {
            *out = code;
            return 0;
        }
    }
}

static int fresh_codes(gen_t *g, uint64_t *code, uint64_t *my_number)
{
    if (code && fresh_code(g, &g->codes, 10, jk_code_resident_check, code)) return -1;
    if (my_number && fresh_code(g, &g->numbers, 11, jk_code_my_number_check, my_number)) return -1;
    return 0;
}

/* A new person at the end of the table (pointers into it are void afterwards). */
static gen_person_t *person_new(gen_t *g)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 1024;
        gen_person_t *p = realloc(g->p, cap * sizeof *p);
        if (p == NULL) {
            oom(g);
            return NULL;
        }
        g->p = p;
        g->cap = cap;
    }
    gen_person_t *p = &g->p[g->n];
    memset(p, 0, sizeof *p);
    if (fresh_codes(g, &p->code, &p->my_number)) return NULL;
    g->n++;
    p->prev_muni = NO_MUNI;
    p->touched = (int16_t)g->q;
    p->status = ST_RESIDENT;
    p->version = 1;
    g->accepted++;
    g->residents++;
    return p;
}

static unsigned era_of(int32_t birth)
{
    int y, m, d;
    civil_from_days(birth, &y, &m, &d);
    return y <= 1955 ? JK_GEN_ERA_OLD : y <= 1990 ? JK_GEN_ERA_MID : JK_GEN_ERA_NEW;
}

static uint16_t pick_given(gen_t *g, int sex, unsigned era)
{
    /* Fashions are not strict: one in seven bears a name of another era. */
    if (rng_chance(&g->rng, 0.15)) era = (unsigned)rng_below(&g->rng, JK_GEN_ERAS);
    return g->given_by[sex][era][rng_below(&g->rng, g->n_given_by[sex][era])];
}

/* Name and kana for p, whose sex and birth are set. */
static void person_name(gen_t *g, gen_person_t *p, int foreign)
{
    if (foreign) {
        p->flags = PF_FOREIGN | (rng_chance(&g->rng, 0.5) ? PF_KANA : 0);
        p->surname = (uint16_t)rng_below(&g->rng, jk_gen_n_foreign_surnames);
        unsigned origin = jk_gen_foreign_surnames[p->surname].origin;
        /* Drawn until it fits: gen_init made sure every country has names for both sexes. */
        do
            p->given = (uint16_t)rng_below(&g->rng, jk_gen_n_foreign_given);
        while (jk_gen_foreign_given[p->given].origin != origin ||
               jk_gen_foreign_given[p->given].sex != p->sex);
    } else {
        p->flags = PF_KANA;
        p->surname = (uint16_t)rng_weighted(&g->rng, g->surname_cum, jk_gen_n_surnames);
        p->given = pick_given(g, p->sex, era_of(p->birth));
    }
}

static void person_address(gen_t *g, gen_person_t *p, unsigned muni)
{
    const jk_gen_muni_t *m = &g->munis[muni];
    p->muni = (uint8_t)muni;
    p->town = (uint8_t)rng_below(&g->rng, m->n_towns);
    unsigned chome = m->towns[p->town].chome;
    if (chome) {
        p->chome = (uint8_t)(1 + rng_below(&g->rng, chome));
        p->banchi = (uint16_t)(1 + rng_below(&g->rng, 30));
        p->go = (uint8_t)(1 + rng_below(&g->rng, 25));
    } else {
        p->chome = 0;
        p->banchi = (uint16_t)(1 + rng_below(&g->rng, 2500));
        p->go = rng_chance(&g->rng, 0.3) ? (uint8_t)(1 + rng_below(&g->rng, 9)) : 0;
    }
}

/* A new address in the same municipality, different from the old one. */
static void person_readdress(gen_t *g, gen_person_t *p)
{
    gen_person_t old = *p;
    do
        person_address(g, p, old.muni);
    while (p->town == old.town && p->chome == old.chome && p->banchi == old.banchi &&
           p->go == old.go);
}

/* A birth date for someone of age band b on day ref (the last band: 100 to 105). */
static int32_t birth_in_band(gen_t *g, unsigned b, int32_t ref)
{
    int age = (int)(5 * b + rng_below(&g->rng, b == JK_GEN_BANDS - 1 ? 6 : 5));
    int32_t birth = add_months(ref, -12 * age) - (int32_t)rng_below(&g->rng, 365);
    return birth >= ref ? ref - 1 : birth;
}

static int draw_sex(gen_t *g, int32_t birth, int32_t day)
{
    return rng_below(&g->rng, 100) < jk_gen_female_pct[band_of(age_on(birth, day))] ? 2 : 1;
}

static unsigned draw_muni(gen_t *g)
{
    return rng_weighted(&g->rng, g->muni_cum, g->n_munis);
}

static unsigned draw_other_muni(gen_t *g, unsigned not1, unsigned not2)
{
    for (;;) {
        unsigned m = draw_muni(g);
        if (m != not1 && m != not2) return m;
    }
}

static const char *const kanji_digits[10] = {"〇", "一", "二", "三", "四",
                                             "五", "六", "七", "八", "九"};

/* "山口県山口市中央二丁目3番4号", or in the country "山口県萩市大字江向1234番地5". */
static void address_of(const gen_t *g, const gen_person_t *p, char *out, size_t n)
{
    const jk_gen_muni_t *m = &g->munis[p->muni];
    const char *town = m->towns[p->town].name;
    if (p->chome)
        snprintf(out, n, "%s%s%s%s丁目%u番%u号", g->pref_name, m->name, town,
                 kanji_digits[p->chome % 10], (unsigned)p->banchi, (unsigned)p->go);
    else if (p->go)
        snprintf(out, n, "%s%s%s%u番地%u", g->pref_name, m->name, town, (unsigned)p->banchi,
                 (unsigned)p->go);
    else
        snprintf(out, n, "%s%s%s%u番地", g->pref_name, m->name, town, (unsigned)p->banchi);
}

static void view_of(const gen_t *g, const gen_person_t *p, gen_view_t *v)
{
    snprintf(v->code, sizeof v->code, "%011" PRIu64, p->code);
    v->new_code[0] = '\0';
    snprintf(v->my_number, sizeof v->my_number, "%012" PRIu64, p->my_number);
    date_format(p->birth, v->birth);
    snprintf(v->sex, sizeof v->sex, "%d", p->sex);
    snprintf(v->muni, sizeof v->muni, "%s", g->munis[p->muni].code);
    /* The name is "family　given" with an ideographic space, the reading likewise. */
    if (p->flags & PF_FOREIGN) {
        const char *fam = jk_gen_foreign_surnames[p->surname].name;
        const char *giv = jk_gen_foreign_given[p->given].name;
        snprintf(v->name, sizeof v->name, "%s　%s", fam, giv);
        snprintf(v->kana, sizeof v->kana, "%s　%s", fam, giv);
    } else {
        const jk_gen_surname_t *s = &jk_gen_surnames[p->surname];
        const jk_gen_given_t *gv = &jk_gen_given_names[p->given];
        snprintf(v->name, sizeof v->name, "%s　%s", s->kanji, gv->kanji);
        snprintf(v->kana, sizeof v->kana, "%s　%s", s->kana, gv->kana);
    }
    v->has_kana = (p->flags & PF_KANA) != 0;
    address_of(g, p, v->address, sizeof v->address);
}

/* ---- records ---- */

/* One change record as a JSON line, keys in the order of DESIGN.md. */
static void format_record(gen_buf_t *b, const gen_view_t *v, const char *reason, const char *eff,
                          const char *notified, unsigned omit)
{
    int first = 1;
    buf_key(b, &first, "resident_code", v->code);
    if (!(omit & V_MY_NUMBER)) buf_key(b, &first, "my_number", v->my_number);
    buf_key(b, &first, "reason", reason);
    buf_key(b, &first, "effective_date", eff);
    if (!(omit & V_NAME)) buf_key(b, &first, "name", v->name);
    if (!(omit & V_KANA) && v->has_kana) buf_key(b, &first, "name_kana", v->kana);
    if (!(omit & V_BIRTH)) buf_key(b, &first, "birth_date", v->birth);
    if (!(omit & V_SEX)) buf_key(b, &first, "sex", v->sex);
    if (!(omit & V_ADDRESS)) buf_key(b, &first, "address", v->address);
    buf_key(b, &first, "municipality_code", v->muni);
    buf_key(b, &first, "notified_at", notified);
    if (v->new_code[0]) buf_key(b, &first, "new_resident_code", v->new_code);
    buf_str(b, "}\n");
}

/* Adds a record of the current quarter to file muni. eff_text, when given, is written in place
 * of the effective date (a nonexistent date); the record still sorts by eff. */
static int emit(gen_t *g, unsigned muni, int32_t eff, int64_t notified, const char *reason,
                const gen_view_t *v, unsigned omit, const char *eff_text)
{
    if (g->nrec == g->caprec) {
        size_t cap = g->caprec ? g->caprec * 2 : 4096;
        gen_rec_t *r = realloc(g->recs, cap * sizeof *r);
        if (r == NULL) return oom(g);
        g->recs = r;
        g->caprec = cap;
    }
    char effs[16], nots[32];
    date_format(eff, effs);
    time_format_jst(notified, nots);
    gen_rec_t *r = &g->recs[g->nrec++];
    r->off = g->arena.len;
    format_record(&g->arena, v, reason, eff_text ? eff_text : effs, nots, omit);
    if (g->arena.oom) return oom(g);
    r->len = (uint32_t)(g->arena.len - r->off);
    r->notified = notified;
    r->eff = eff;
    r->muni = (uint8_t)muni;
    r->seq = g->seq++;
    g->total++;
    return 0;
}

static int emit_real(gen_t *g, const gen_person_t *p, int32_t eff, int64_t notified, int reason,
                     const gen_view_t *v, unsigned omit)
{
    g->by_reason[reason]++;
    return emit(g, p->muni, eff, notified, reason_code(reason), v, omit, NULL);
}

static int32_t draw_day(gen_t *g)
{
    return g->d0 + (int32_t)rng_below(&g->rng, (uint64_t)(g->d1 - g->d0));
}

/* The office hours (08:30-17:00 JST) of day. */
static int64_t office_time(gen_t *g, int32_t day)
{
    int64_t tod = 8 * 3600 + 30 * 60 + (int64_t)rng_below(&g->rng, 8 * 3600 + 30 * 60);
    return (int64_t)day * 86400 + tod - JST_OFFSET;
}

/* When the municipality notifies a change that took effect on eff: the same day or a few days
 * later, on a weekday. */
static int64_t draw_notified(gen_t *g, int32_t eff)
{
    static const unsigned cum[] = {40, 60, 72, 82, 90, 100}; /* 0, 1, 2, 3, 4, 5-14 days */
    uint64_t x = rng_below(&g->rng, 100);
    int32_t delay = 0;
    while (x >= cum[delay])
        delay++;
    if (delay == 5) delay += (int32_t)rng_below(&g->rng, 10);
    int32_t day = eff + delay;
    int wd = weekday(day);
    day += wd == 6 ? 2 : wd == 0 ? 1 : 0;
    return office_time(g, day);
}

/* ---- picking persons ---- */

typedef int (*gen_accept_fn)(gen_t *g, const gen_person_t *p);

/* A resident with no change yet this quarter whom accept takes (accept may draw: that is how
 * age weights work), or NULL when GEN_MAX_TRIES draws find none. */
static gen_person_t *pick(gen_t *g, gen_accept_fn accept)
{
    if (g->n == 0 || g->residents == 0) return NULL;
    for (int tries = 0; tries < GEN_MAX_TRIES; tries++) {
        gen_person_t *p = &g->p[rng_below(&g->rng, g->n)];
        if (p->status != ST_RESIDENT || p->touched == g->q) continue;
        if (accept && !accept(g, p)) continue;
        return p;
    }
    return NULL;
}

static int age_now(const gen_t *g, const gen_person_t *p)
{
    return age_on(p->birth, g->d0);
}

static int acc_dying(gen_t *g, const gen_person_t *p)
{
    return rng_below(&g->rng, 4000) < jk_gen_mortality[band_of(age_now(g, p))];
}

static int acc_mobile(gen_t *g, const gen_person_t *p)
{
    return rng_below(&g->rng, 60) < jk_gen_mobility[band_of(age_now(g, p))];
}

static int acc_adult(gen_t *g, const gen_person_t *p)
{
    return age_now(g, p) >= 20;
}

static int acc_working_age(gen_t *g, const gen_person_t *p)
{
    int a = age_now(g, p);
    return a >= 20 && a <= 70;
}

static int acc_japanese(gen_t *g, const gen_person_t *p)
{
    (void)g;
    return !(p->flags & PF_FOREIGN);
}

static int acc_japanese_adult(gen_t *g, const gen_person_t *p)
{
    int a = age_now(g, p);
    return !(p->flags & PF_FOREIGN) && a >= 20 && a <= 65;
}

/* Surnames change on marriage, in nine cases out of ten the wife's. */
static int acc_marrying(gen_t *g, const gen_person_t *p)
{
    int a = age_now(g, p);
    if ((p->flags & PF_FOREIGN) || a < 22 || a > 44) return 0;
    return p->sex == 2 || rng_chance(&g->rng, 0.12);
}

static int acc_mother(gen_t *g, const gen_person_t *p)
{
    int a = age_now(g, p);
    return !(p->flags & PF_FOREIGN) && p->sex == 2 && a >= 20 && a <= 44;
}

/* Marks an accepted change of p; versions count accepted changes, as the projector does. */
static void touch(gen_t *g, gen_person_t *p, int reason, int32_t eff, unsigned versions)
{
    p->reason = (uint8_t)reason;
    p->eff = eff;
    p->version = (uint16_t)(p->version + versions);
    p->touched = (int16_t)g->q;
    g->accepted += versions;
}

/* ---- the changes of a quarter ---- */

static int ev_remove(gen_t *g, int reason, gen_accept_fn accept)
{
    gen_person_t *p = pick(g, accept);
    if (p == NULL) return 0;
    int32_t eff = draw_day(g);
    gen_view_t v;
    view_of(g, p, &v);
    if (emit_real(g, p, eff, draw_notified(g, eff), reason, &v, V_REMOVE)) return -1;
    /* The record stays with its last fields, marked removed; a removed person never returns
     * (someone who comes back gets a new record), so no later change refers to it. */
    p->status = ST_REMOVED;
    g->residents--;
    touch(g, p, reason, eff, 1);
    return 0;
}

/* A modify: mutate changes p, then the full record after the change is written. */
static int ev_modify(gen_t *g, gen_person_t *p, int reason, const char *new_code)
{
    int32_t eff = draw_day(g);
    gen_view_t v;
    view_of(g, p, &v);
    if (new_code) snprintf(v.new_code, sizeof v.new_code, "%s", new_code);
    if (emit_real(g, p, eff, draw_notified(g, eff), reason, &v, 0)) return -1;
    touch(g, p, reason, eff, 1);
    return 0;
}

static int ev_relocation(gen_t *g)
{
    gen_person_t *p = pick(g, acc_mobile);
    if (p == NULL) return 0;
    person_readdress(g, p);
    return ev_modify(g, p, R_RELOCATION, NULL);
}

static int ev_name_change(gen_t *g)
{
    gen_person_t *p = pick(g, acc_marrying);
    if (p == NULL) return 0;
    const char *old = jk_gen_surnames[p->surname].kana;
    uint16_t s;
    do
        s = (uint16_t)rng_weighted(&g->rng, g->surname_cum, jk_gen_n_surnames);
    while (strcmp(jk_gen_surnames[s].kana, old) == 0);
    p->surname = s;
    return ev_modify(g, p, R_NAME_CHANGE, NULL);
}

/* Another surname read the same way (森田 for 守田), or -1. */
static int surname_variant(gen_t *g, unsigned s)
{
    unsigned found[8], n = 0;
    for (unsigned i = 0; i < jk_gen_n_surnames && n < 8; i++)
        if (i != s && strcmp(jk_gen_surnames[i].kana, jk_gen_surnames[s].kana) == 0) found[n++] = i;
    return n ? (int)found[rng_below(&g->rng, n)] : -1;
}

/* A clerk's mistake put right: a surname written with the wrong characters (the reading was
 * right), or a birth date off by some days or a year. */
static int ev_correction(gen_t *g)
{
    gen_person_t *p = pick(g, NULL);
    if (p == NULL) return 0;
    int variant = p->flags & PF_FOREIGN ? -1 : surname_variant(g, p->surname);
    if (variant >= 0 && rng_chance(&g->rng, 0.4)) {
        p->surname = (uint16_t)variant;
    } else {
        int32_t d = rng_chance(&g->rng, 0.3) ? 365 : 1 + (int32_t)rng_below(&g->rng, 27);
        /* The birth date stays before the quarter, hence before the correction's date. */
        p->birth = rng_chance(&g->rng, 0.5) && p->birth + d < g->d0 ? p->birth + d : p->birth - d;
    }
    return ev_modify(g, p, R_EX_OFFICIO_CORRECTION, NULL);
}

static int ev_my_number_change(gen_t *g)
{
    gen_person_t *p = pick(g, NULL);
    if (p == NULL) return 0;
    if (fresh_codes(g, NULL, &p->my_number)) return -1;
    return ev_modify(g, p, R_MY_NUMBER_CHANGE, NULL);
}

/* The record is written under the old code, carrying the new one; afterwards the person lives
 * on under the new code (the old one is never handed out again). */
static int ev_code_change(gen_t *g)
{
    gen_person_t *p = pick(g, NULL);
    if (p == NULL) return 0;
    uint64_t code;
    if (fresh_codes(g, &code, NULL)) return -1;
    char new_code[16];
    snprintf(new_code, sizeof new_code, "%011" PRIu64, code);
    if (ev_modify(g, p, R_RESIDENT_CODE_CHANGE, new_code)) return -1;
    p->code = code;
    return 0;
}

/* A move between two municipalities of the prefecture: move_out at the old one (A) and move_in
 * at the new one (B), same effective date. A's file is sent before B's when A < B: the move_out
 * removes the record, the move_in creates it again at B (two versions). When B < A the move_in
 * moves the record and A's move_out, arriving later, is superseded (one version). */
static int ev_move_within(gen_t *g)
{
    if (g->n_munis < 2) return 0;
    gen_person_t *p = pick(g, acc_mobile);
    if (p == NULL) return 0;
    unsigned a = p->muni, b = draw_other_muni(g, a, a);
    int32_t eff = draw_day(g);
    gen_view_t v;
    view_of(g, p, &v);
    if (emit_real(g, p, eff, draw_notified(g, eff), R_MOVE_OUT, &v, V_REMOVE)) return -1;
    person_address(g, p, b);
    view_of(g, p, &v);
    if (emit_real(g, p, eff, draw_notified(g, eff), R_MOVE_IN, &v, 0)) return -1;
    if (a < b) {
        p->prev_muni = NO_MUNI;
        touch(g, p, R_MOVE_IN, eff, 2);
    } else {
        p->prev_muni = (uint8_t)a;
        g->superseded++;
        touch(g, p, R_MOVE_IN, eff, 1);
    }
    return 0;
}

/* A newborn, registered at the mother's address under her surname. */
static int ev_birth(gen_t *g)
{
    gen_person_t *mother = pick(g, acc_mother);
    if (mother == NULL) return 0;
    gen_person_t m = *mother; /* person_new may move the table */
    int32_t eff = draw_day(g);
    gen_person_t *p = person_new(g);
    if (p == NULL) return -1;
    p->birth = eff;
    p->sex = rng_below(&g->rng, 1000) < 512 ? 1 : 2;
    p->flags = PF_KANA;
    p->surname = m.surname;
    p->given = pick_given(g, p->sex, JK_GEN_ERA_NEW);
    p->muni = m.muni;
    p->town = m.town;
    p->chome = m.chome;
    p->banchi = m.banchi;
    p->go = m.go;
    p->reason = R_BIRTH;
    p->eff = eff;
    gen_view_t v;
    view_of(g, p, &v);
    return emit_real(g, p, eff, draw_notified(g, eff), R_BIRTH, &v, 0);
}

/* A person who was not registered here before: moved in from another prefecture, given an
 * address (address_set), or a foreign resident's first registration. Age follows mobility. */
static int ev_create(gen_t *g, int reason, int foreign)
{
    int32_t eff = draw_day(g);
    gen_person_t *p = person_new(g);
    if (p == NULL) return -1;
    unsigned b;
    do
        b = rng_weighted(&g->rng, g->mobility_cum, JK_GEN_BANDS);
    while (reason != R_MOVE_IN && b < 4); /* address_set and foreign entries: adults */
    p->birth = birth_in_band(g, b, eff);
    p->sex = (uint8_t)draw_sex(g, p->birth, eff);
    person_name(g, p, foreign);
    person_address(g, p, draw_muni(g));
    p->reason = (uint8_t)reason;
    p->eff = eff;
    gen_view_t v;
    view_of(g, p, &v);
    return emit_real(g, p, eff, draw_notified(g, eff), reason, &v, 0);
}

static int run_event(gen_t *g, int e)
{
    switch (e) {
    case E_DEATH:
        return ev_remove(g, R_DEATH, acc_dying);
    case E_DISAPPEARANCE:
        return ev_remove(g, R_DISAPPEARANCE, acc_adult);
    case E_EX_OFFICIO_REMOVAL:
        return ev_remove(g, R_EX_OFFICIO_REMOVAL, acc_working_age);
    case E_NATIONALITY_LOST:
        return ev_remove(g, R_NATIONALITY_LOST, acc_japanese_adult);
    case E_MOVE_OUT:
        return ev_remove(g, R_MOVE_OUT, acc_mobile);
    case E_MOVE_WITHIN:
        return ev_move_within(g);
    case E_RELOCATION:
        return ev_relocation(g);
    case E_NAME_CHANGE:
        return ev_name_change(g);
    case E_CORRECTION:
        return ev_correction(g);
    case E_MY_NUMBER_CHANGE:
        return ev_my_number_change(g);
    case E_CODE_CHANGE:
        return ev_code_change(g);
    case E_BIRTH:
        return ev_birth(g);
    case E_MOVE_IN:
        return ev_create(g, R_MOVE_IN, rng_chance(&g->rng, 0.03));
    case E_ADDRESS_SET:
        return ev_create(g, R_ADDRESS_SET, 0);
    case E_FOREIGN_ENTRY:
        return ev_create(g, R_FOREIGN_RESIDENT_ENTRY, 1);
    }
    return 0;
}

/* ---- deliberate faults ---- */

/* Katakana to hiragana in place (U+30A1..U+30F6 -> U+3041..U+3096, both 3 bytes in UTF-8). */
static void to_hiragana(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        if (p[0] == 0xe3 && p[1] && p[2]) {
            unsigned cp = ((p[0] & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
            if (cp >= 0x30a1 && cp <= 0x30f6) {
                cp -= 0x60;
                p[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                p[2] = (unsigned char)(0x80 | (cp & 0x3f));
            }
            p += 3;
        } else {
            p++;
        }
    }
}

/* A digit other than c. */
static char other_digit(gen_t *g, char c)
{
    return (char)('0' + (c - '0' + 1 + (int)rng_below(&g->rng, 9)) % 10);
}

/* A made-up person that is in no file: for records about codes nobody has. */
static int phantom(gen_t *g, gen_person_t *p, unsigned muni, int32_t birth)
{
    memset(p, 0, sizeof *p);
    if (fresh_codes(g, &p->code, &p->my_number)) return -1;
    p->birth = birth;
    p->sex = (uint8_t)(1 + rng_below(&g->rng, 2));
    person_name(g, p, 0);
    person_address(g, p, muni);
    return 0;
}

/* Records that must not change the state: refused by `cs send` (the first three kinds) or
 * rejected by the projector. All are about persons untouched this quarter, or about nobody. */
static int fault(gen_t *g, int kind)
{
    gen_person_t *p, ph;
    gen_view_t v;
    int32_t eff = draw_day(g);
    int64_t notified = draw_notified(g, eff);
    unsigned muni;
    const char *reason = "relocation";
    const char *eff_text = NULL;
    unsigned omit = 0;
    char bad_date[16];

    switch (kind) {
    case F_INVALID_FORMAT: {
        /* A relocation spoilt in one of eight ways; the rest of it is well formed. */
        if ((p = pick(g, acc_japanese)) == NULL) return 0;
        gen_person_t moved = *p;
        person_readdress(g, &moved);
        view_of(g, &moved, &v);
        muni = p->muni;
        switch (rng_below(&g->rng, 8)) {
        case 0: /* check digit of the resident code */
            v.code[10] = other_digit(g, v.code[10]);
            break;
        case 1: /* check digit of the my number */
            v.my_number[11] = other_digit(g, v.my_number[11]);
            break;
        case 2: { /* a day that does not exist */
            int y, m, d;
            civil_from_days(eff, &y, &m, &d);
            snprintf(bad_date, sizeof bad_date, "%04d-02-30", y);
            eff_text = bad_date;
            break;
        }
        case 3:
            snprintf(v.sex, sizeof v.sex, "3");
            break;
        case 4:
            to_hiragana(v.kana);
            break;
        case 5:
            snprintf(v.address, sizeof v.address, "%s",
                     jk_gen_other_addresses[rng_below(&g->rng, jk_gen_n_other_addresses)]);
            break;
        case 6:
            reason = rng_chance(&g->rng, 0.5) ? "marriage" : "household_change";
            break;
        default: { /* a required field left out */
            static const unsigned required[] = {V_MY_NUMBER, V_NAME, V_BIRTH, V_SEX, V_ADDRESS};
            omit = required[rng_below(&g->rng, 5)];
            break;
        }
        }
        break;
    }
    case F_WRONG_MUNICIPALITY: /* in this CS's file, for another municipality */
        if (g->n_munis < 2 || (p = pick(g, NULL)) == NULL) return 0;
        muni = p->muni;
        {
            gen_person_t moved = *p;
            person_readdress(g, &moved);
            view_of(g, &moved, &v);
        }
        snprintf(v.muni, sizeof v.muni, "%s", g->munis[draw_other_muni(g, muni, muni)].code);
        break;
    case F_FUTURE_DATE: /* notified one to five days before it takes effect */
        if ((p = pick(g, NULL)) == NULL) return 0;
        muni = p->muni;
        {
            gen_person_t moved = *p;
            person_readdress(g, &moved);
            view_of(g, &moved, &v);
        }
        notified = office_time(g, eff - 1 - (int32_t)rng_below(&g->rng, 5));
        break;
    case F_ALREADY_RESIDENT: /* a second move_in where the person already lives */
        if ((p = pick(g, NULL)) == NULL) return 0;
        muni = p->muni;
        view_of(g, p, &v);
        reason = "move_in";
        break;
    case F_CODE_EXISTS: /* a newborn given a code that is taken */
        if ((p = pick(g, NULL)) == NULL) return 0;
        muni = draw_muni(g);
        if (phantom(g, &ph, muni, eff)) return -1;
        ph.code = p->code;
        ph.given = pick_given(g, ph.sex, JK_GEN_ERA_NEW);
        view_of(g, &ph, &v);
        reason = "birth";
        break;
    case F_UNKNOWN_RESIDENT: /* a relocation or a death for a code nobody has */
        muni = draw_muni(g);
        if (phantom(g, &ph, muni, birth_in_band(g, 4 + (unsigned)rng_below(&g->rng, 12), eff)))
            return -1;
        view_of(g, &ph, &v);
        if (rng_chance(&g->rng, 0.5)) {
            reason = "death";
            omit = V_REMOVE;
        }
        break;
    case F_NOT_RESIDENT_HERE: /* a death notified by a municipality where the person is not */
        /* Not from prev_muni either: there a remove would be taken as a late move_out. */
        if (g->n_munis < 3 || (p = pick(g, NULL)) == NULL) return 0;
        muni = draw_other_muni(g, p->muni, p->prev_muni);
        view_of(g, p, &v);
        snprintf(v.muni, sizeof v.muni, "%s", g->munis[muni].code);
        reason = "death";
        omit = V_REMOVE;
        break;
    case F_FIELD_NOT_CHANGEABLE: /* a relocation that also changes the given name */
    default: {
        if ((p = pick(g, acc_japanese)) == NULL) return 0;
        muni = p->muni;
        gen_person_t moved = *p;
        person_readdress(g, &moved);
        uint16_t given = moved.given;
        while (strcmp(jk_gen_given_names[moved.given].kanji, jk_gen_given_names[given].kanji) == 0)
            moved.given = pick_given(g, moved.sex, era_of(moved.birth));
        view_of(g, &moved, &v);
        break;
    }
    }
    g->faults[kind]++;
    return emit(g, muni, eff, notified, reason, &v, omit, eff_text);
}

/* ---- files ---- */

static int make_dir(gen_t *g, const char *path)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return jk_err_set(g->err, "cannot create directory %s: %s", path, strerror(errno));
    return 0;
}

/* Creates out (and its parents); an existing out must be empty, so that no file of an earlier
 * run can pass for part of this one. */
static int prepare_out(gen_t *g)
{
    const char *out = g->o->out;
    if (strlen(out) >= sizeof g->dir) return jk_err_set(g->err, "--out path too long");
    snprintf(g->dir, sizeof g->dir, "%s", out);
    DIR *d = opendir(out);
    if (d) {
        struct dirent *e;
        int empty = 1;
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = 0;
        closedir(d);
        if (!empty)
            return jk_err_set(g->err,
                              "%s is not empty: give a new or empty directory, so that no file "
                              "of an earlier run mixes with this one",
                              out);
    } else if (errno != ENOENT) {
        return jk_err_set(g->err, "cannot open %s: %s", out, strerror(errno));
    } else {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s", out);
        for (char *s = path + 1; *s; s++) {
            if (*s != '/') continue;
            *s = '\0';
            if (make_dir(g, path)) return -1;
            *s = '/';
        }
        if (make_dir(g, path)) return -1;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/periods", g->dir);
    return make_dir(g, path);
}

static FILE *open_file(gen_t *g, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        jk_err_set(g->err, "cannot create %s: %s", path, strerror(errno));
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    return f;
}

static int close_file(gen_t *g, FILE *f, const char *path)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return jk_err_set(g->err, "cannot write %s: %s", path, strerror(errno ? errno : EIO));
    return 0;
}

/* Writes one line; change records (not the answer key's lines) count towards progress. */
static int write_line(gen_t *g, FILE *f, const char *s, size_t n, int record)
{
    if (fwrite(s, 1, n, f) != n) return jk_err_set(g->err, "write failed: %s", strerror(errno));
    if (record && ++g->written % GEN_PROGRESS_EVERY == 0 && g->o->progress)
        g->o->progress(g->o->progress_arg, g->written, g->period);
    return 0;
}

static int begin_period(gen_t *g, const char *name)
{
    snprintf(g->period, sizeof g->period, "%s", name);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/periods/%s", g->dir, name);
    if (make_dir(g, path)) return -1;
    if (json_array_append_new(g->periods, json_string(name))) return oom(g);
    return 0;
}

static void file_path(gen_t *g, unsigned muni, char *path, size_t n)
{
    snprintf(path, n, "%s/periods/%s/%s.jsonl", g->dir, g->period, g->munis[muni].code);
}

static int cmp_rec(const void *a, const void *b)
{
    const gen_rec_t *x = a, *y = b;
    if (x->muni != y->muni) return x->muni < y->muni ? -1 : 1;
    if (x->eff != y->eff) return x->eff < y->eff ? -1 : 1;
    if (x->notified != y->notified) return x->notified < y->notified ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Writes the quarter's records: per municipality, in date order. */
static int write_period(gen_t *g)
{
    if (g->nrec) qsort(g->recs, g->nrec, sizeof *g->recs, cmp_rec);
    size_t i = 0;
    for (unsigned m = 0; m < g->n_munis; m++) {
        char path[PATH_MAX];
        file_path(g, m, path, sizeof path);
        FILE *f = open_file(g, path);
        if (f == NULL) return -1;
        int rc = 0;
        for (; i < g->nrec && g->recs[i].muni == m && rc == 0; i++)
            rc = write_line(g, f, g->arena.p + g->recs[i].off, g->recs[i].len, 1);
        if (close_file(g, f, path) || rc) return -1;
    }
    if (json_array_append_new(g->period_records, json_integer((json_int_t)g->nrec))) return oom(g);
    return 0;
}

/* ---- the initial load ---- */

static int cmp_initial(const void *a, const void *b)
{
    const gen_person_t *x = a, *y = b;
    if (x->eff != y->eff) return x->eff < y->eff ? -1 : 1;
    return x->code < y->code ? -1 : x->code > y->code;
}

/* Every resident, as the municipalities' ex officio entries notified on the start date at
 * 09:00 JST. Each file is written straight from the table, so a big prefecture needs no more
 * than its persons in memory. */
static int gen_initial(gen_t *g, uint64_t *initial)
{
    const long n = g->o->residents;
    uint64_t total = g->muni_cum[g->n_munis - 1];
    /* Largest remainders: the municipalities' shares add up to exactly n. */
    uint64_t rem[GEN_MAX_MUNIS], given = 0;
    for (unsigned m = 0; m < g->n_munis; m++) {
        uint64_t w = g->munis[m].population;
        initial[m] = (uint64_t)n * w / total;
        rem[m] = (uint64_t)n * w % total;
        given += initial[m];
    }
    while (given < (uint64_t)n) {
        unsigned best = 0;
        for (unsigned m = 1; m < g->n_munis; m++)
            if (rem[m] > rem[best]) best = m;
        initial[best]++;
        rem[best] = 0;
        given++;
    }

    if (begin_period(g, "0000-initial")) return -1;
    char notified[32];
    time_format_jst((int64_t)g->start * 86400, notified);
    const int32_t register_began = days_from_civil(1967, 11, 10);
    size_t first = 0;
    for (unsigned m = 0; m < g->n_munis; m++) {
        for (uint64_t k = 0; k < initial[m]; k++) {
            gen_person_t *p = person_new(g);
            if (p == NULL) return -1;
            unsigned b = rng_weighted(&g->rng, g->pyramid_cum, JK_GEN_BANDS);
            p->birth = birth_in_band(g, b, g->start);
            p->sex = (uint8_t)draw_sex(g, p->birth, g->start);
            /* About one resident in eighty is a foreign national, as in Yamaguchi. */
            person_name(g, p, rng_below(&g->rng, 1000) < 12);
            person_address(g, p, m);
            /* Registered here at some day between birth (or the start of the Basic Resident
             * Register, 1967-11-10, for the older) and the load. */
            int32_t from =
                p->birth > register_began || g->start <= register_began ? p->birth : register_began;
            p->eff = from + (int32_t)rng_below(&g->rng, (uint64_t)(g->start - from));
            p->reason = R_EX_OFFICIO_ENTRY;
        }
        if (initial[m]) qsort(g->p + first, (size_t)initial[m], sizeof *g->p, cmp_initial);

        char path[PATH_MAX];
        file_path(g, m, path, sizeof path);
        FILE *f = open_file(g, path);
        if (f == NULL) return -1;
        int rc = 0;
        for (size_t i = first; i < g->n && rc == 0; i++) {
            gen_view_t v;
            char eff[16];
            view_of(g, &g->p[i], &v);
            date_format(g->p[i].eff, eff);
            g->line.len = 0;
            format_record(&g->line, &v, reason_code(R_EX_OFFICIO_ENTRY), eff, notified, 0);
            if (g->line.oom) rc = oom(g);
            if (rc == 0) rc = write_line(g, f, g->line.p, g->line.len, 1);
        }
        if (close_file(g, f, path) || rc) return -1;
        g->by_reason[R_EX_OFFICIO_ENTRY] += initial[m];
        g->total += initial[m];
        first = g->n;
    }
    if (json_array_append_new(g->period_records, json_integer(n))) return oom(g);
    return 0;
}

/* ---- the quarters ---- */

static int gen_quarter(gen_t *g, int q, int32_t d0, int32_t d1)
{
    int y, m, d;
    civil_from_days(d0, &y, &m, &d);
    char name[32];
    snprintf(name, sizeof name, "%04d-%04d-Q%d", q, y, (m - 1) / 3 + 1);
    if (begin_period(g, name)) return -1;
    g->q = q;
    g->d0 = d0;
    g->d1 = d1;
    g->nrec = 0;
    g->arena.len = 0;

    if (q % 4 == 1) memset(g->year_events, 0, sizeof g->year_events);
    double years = (double)(d1 - d0) / 365.2425, pop = (double)g->residents;
    uint64_t count[N_EVENTS];
    for (int e = 0; e < N_EVENTS; e++) {
        count[e] = rng_round(&g->rng, pop * flows[e].rate * years);
        if (flows[e].rare && q % 4 == 0 && g->year_events[e] + count[e] == 0) count[e] = 1;
        g->year_events[e] += count[e];
    }
    for (int e = 0; e < N_EVENTS; e++)
        for (uint64_t i = 0; i < count[e]; i++)
            if (run_event(g, e)) return -1;

    uint64_t nf = rng_round(&g->rng, (double)g->nrec * g->o->faults);
    for (uint64_t i = 0; i < nf; i++)
        if (fault(g, (int)rng_below(&g->rng, N_FAULTS))) return -1;
    return write_period(g);
}

/* ---- the answer key ---- */

typedef struct gen_key {
    uint64_t code;
    size_t idx;
} gen_key_t;

static int cmp_key(const void *a, const void *b)
{
    const gen_key_t *x = a, *y = b;
    return x->code < y->code ? -1 : x->code > y->code;
}

/* The identity file after everything: one line per person ever known, by resident code. */
static int write_expected(gen_t *g, uint64_t *final_res, uint64_t *final_rem, uint64_t *versions)
{
    gen_key_t *keys = malloc((g->n ? g->n : 1) * sizeof *keys);
    if (keys == NULL) return oom(g);
    for (size_t i = 0; i < g->n; i++) {
        keys[i].code = g->p[i].code;
        keys[i].idx = i;
    }
    qsort(keys, g->n, sizeof *keys, cmp_key);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/expected.jsonl", g->dir);
    FILE *f = open_file(g, path);
    if (f == NULL) {
        free(keys);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < g->n && rc == 0; i++) {
        const gen_person_t *p = &g->p[keys[i].idx];
        gen_view_t v;
        char eff[16], ver[16];
        view_of(g, p, &v);
        date_format(p->eff, eff);
        snprintf(ver, sizeof ver, "%u", p->version);
        gen_buf_t *b = &g->line;
        int first = 1;
        b->len = 0;
        buf_key(b, &first, "resident_code", v.code);
        buf_key(b, &first, "my_number", v.my_number);
        buf_key(b, &first, "name", v.name);
        if (v.has_kana) buf_key(b, &first, "name_kana", v.kana);
        buf_key(b, &first, "birth_date", v.birth);
        buf_key(b, &first, "sex", v.sex);
        buf_key(b, &first, "address", v.address);
        buf_key(b, &first, "municipality_code", v.muni);
        buf_key(b, &first, "status", p->status == ST_RESIDENT ? "resident" : "removed");
        buf_key(b, &first, "reason", reason_code((enum gen_reason)p->reason));
        buf_key(b, &first, "effective_date", eff);
        buf_str(b, ",\"version\":");
        buf_str(b, ver);
        buf_str(b, "}\n");
        if (b->oom) rc = oom(g);
        if (rc == 0) rc = write_line(g, f, b->p, b->len, 0);
        *(p->status == ST_RESIDENT ? final_res : final_rem) += 1;
        *versions += p->version;
    }
    free(keys);
    if (close_file(g, f, path) || rc) return -1;
    return 0;
}

static json_t *counts_object(const char *const *names, const uint64_t *n, int count)
{
    json_t *o = json_object();
    for (int i = 0; o && i < count; i++)
        if (json_object_set_new(o, names[i], json_integer((json_int_t)n[i]))) {
            json_decref(o);
            return NULL;
        }
    return o;
}

static int write_manifest(gen_t *g, const uint64_t *initial, uint64_t final_res, uint64_t final_rem)
{
    uint64_t cs_refused = 0, rejected = 0;
    for (int k = 0; k < N_FAULTS; k++)
        *(k < N_CS_FAULTS ? &cs_refused : &rejected) += g->faults[k];
    uint64_t good = 0;
    for (int r = 0; r < N_REASONS; r++)
        good += g->by_reason[r];

    uint64_t final_by_muni[GEN_MAX_MUNIS] = {0};
    for (size_t i = 0; i < g->n; i++)
        if (g->p[i].status == ST_RESIDENT) final_by_muni[g->p[i].muni]++;
    json_t *munis = json_array();
    for (unsigned m = 0; munis && m < g->n_munis; m++)
        if (json_array_append_new(munis, json_pack("{s:s, s:s, s:I, s:I}", "code", g->munis[m].code,
                                                   "name", g->munis[m].name, "initial",
                                                   (json_int_t)initial[m], "final",
                                                   (json_int_t)final_by_muni[m]))) {
            json_decref(munis);
            munis = NULL;
        }

    json_t *expected = counts_object(fault_code, g->faults, N_FAULTS);
    if (expected &&
        (json_object_set_new(expected, "superseded", json_integer((json_int_t)g->superseded)) ||
         json_object_set_new(expected, "sent", json_integer((json_int_t)(g->total - cs_refused))) ||
         json_object_set_new(expected, "accepted", json_integer((json_int_t)g->accepted)))) {
        json_decref(expected);
        expected = NULL;
    }
    const char *reason_names[N_REASONS];
    for (int r = 0; r < N_REASONS; r++)
        reason_names[r] = reason_code((enum gen_reason)r);
    json_t *by_reason = counts_object(reason_names, g->by_reason, N_REASONS);
    json_t *faults = counts_object(fault_code, g->faults, N_FAULTS);

    /* "o" steals each reference, also when json_pack fails: nothing leaks on any path. */
    json_t *man = json_pack(
        "{s:s, s:{s:s, s:I, s:i, s:I, s:f, s:s}, s:o*, s:O, s:O, s:{s:I, s:I, s:o*, s:o*}, "
        "s:o*, s:{s:I, s:I, s:I}}",
        "generator", "jukilog gen", "options", "prefecture", g->o->prefecture, "residents",
        (json_int_t)g->o->residents, "years", g->o->years, "seed", (json_int_t)g->o->seed, "faults",
        g->o->faults, "start", g->o->start, "municipalities", munis, "periods", g->periods,
        "records_per_period", g->period_records, "records", "total", (json_int_t)g->total,
        "changes", (json_int_t)good, "by_reason", by_reason, "faults", faults, "expected", expected,
        "final", "persons", (json_int_t)g->n, "resident", (json_int_t)final_res, "removed",
        (json_int_t)final_rem);
    if (man == NULL || munis == NULL || expected == NULL || by_reason == NULL || faults == NULL) {
        json_decref(man);
        return oom(g);
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/manifest.json", g->dir);
    int rc =
        json_dump_file(man, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(man);
    if (rc != 0) return jk_err_set(g->err, "cannot write %s: %s", path, strerror(errno));
    FILE *f = fopen(path, "a"); /* json_dump_file ends without a newline */
    if (f == NULL || fputc('\n', f) == EOF || fclose(f) != 0)
        return jk_err_set(g->err, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* ---- set-up ---- */

static int check_opts(const jk_gen_opts_t *o, jk_err_t *err)
{
    if (o->out == NULL || *o->out == '\0') return jk_err_set(err, "--out DIR is required");
    if (o->prefecture == NULL || jk_prefecture_name(o->prefecture) == NULL)
        return jk_err_set(err, "prefecture \"%s\" is not a prefecture code (01..47)",
                          o->prefecture ? o->prefecture : "");
    if (strcmp(o->prefecture, "35") != 0)
        return jk_err_set(
            err, "prefecture %s (%s) is not supported: only 35 (%s) has municipality data",
            o->prefecture, jk_prefecture_name(o->prefecture), jk_prefecture_name("35"));
    if (o->residents < 1 || o->residents > GEN_MAX_RESIDENTS)
        return jk_err_set(err, "residents must be 1..%ld, not %ld", GEN_MAX_RESIDENTS,
                          o->residents);
    if (o->years < 0 || o->years > GEN_MAX_YEARS)
        return jk_err_set(err, "years must be 0..%d, not %d", GEN_MAX_YEARS, o->years);
    if (o->seed > (uint64_t)INT64_MAX)
        return jk_err_set(err, "seed must be 0..%" PRId64, (int64_t)INT64_MAX);
    if (!(o->faults >= 0 && o->faults <= 0.5))
        return jk_err_set(err, "faults must be a share 0..0.5, not %g", o->faults);
    int32_t day;
    if (o->start == NULL || date_parse(o->start, &day) != 0)
        return jk_err_set(err, "start \"%s\" is not a date YYYY-MM-DD (1900..2200)",
                          o->start ? o->start : "");
    return 0;
}

static int gen_init(gen_t *g)
{
    g->munis = jk_gen_yamaguchi;
    g->n_munis = jk_gen_n_yamaguchi;
    g->pref_name = jk_prefecture_name(g->o->prefecture);
    date_parse(g->o->start, &g->start);
    rng_seed(&g->rng, g->o->seed);

    uint64_t sum = 0;
    for (unsigned m = 0; m < g->n_munis; m++) {
        /* The table must stay in ascending code order: it is the order files are sent in. */
        if (!jk_code_municipality_valid(g->munis[m].code) ||
            (m && strcmp(g->munis[m - 1].code, g->munis[m].code) >= 0))
            return jk_err_set(g->err, "municipality table: bad or unordered code %s",
                              g->munis[m].code);
        g->muni_cum[m] = sum += g->munis[m].population;
    }
    g->surname_cum = malloc(jk_gen_n_surnames * sizeof *g->surname_cum);
    if (g->surname_cum == NULL) return oom(g);
    sum = 0;
    for (unsigned i = 0; i < jk_gen_n_surnames; i++)
        g->surname_cum[i] = sum += jk_gen_surnames[i].weight;
    for (int s = 1; s <= 2; s++) {
        for (int e = 0; e < JK_GEN_ERAS; e++) {
            g->given_by[s][e] = malloc(jk_gen_n_given_names * sizeof(uint16_t));
            if (g->given_by[s][e] == NULL) return oom(g);
            for (unsigned i = 0; i < jk_gen_n_given_names; i++)
                if (jk_gen_given_names[i].sex == s && jk_gen_given_names[i].era == e)
                    g->given_by[s][e][g->n_given_by[s][e]++] = (uint16_t)i;
            if (g->n_given_by[s][e] == 0)
                return jk_err_set(g->err, "given name table: none for sex %d era %d", s, e);
        }
        for (int c = 0; c < JK_GEN_ORIGINS; c++) {
            unsigned n = 0;
            for (unsigned i = 0; i < jk_gen_n_foreign_given; i++)
                n += jk_gen_foreign_given[i].sex == s && jk_gen_foreign_given[i].origin == c;
            if (n == 0)
                return jk_err_set(g->err, "foreign given name table: none for sex %d origin %d", s,
                                  c);
        }
    }
    uint64_t a = 0, b = 0;
    for (int k = 0; k < JK_GEN_BANDS; k++) {
        g->pyramid_cum[k] = a += jk_gen_pyramid[k];
        g->mobility_cum[k] = b += jk_gen_mobility[k];
    }
    g->periods = json_array();
    g->period_records = json_array();
    if (g->periods == NULL || g->period_records == NULL) return oom(g);
    return 0;
}

static void gen_free(gen_t *g)
{
    free(g->surname_cum);
    for (int s = 0; s < 3; s++) {
        for (int e = 0; e < JK_GEN_ERAS; e++)
            free(g->given_by[s][e]);
    }
    free(g->p);
    free(g->codes.slot);
    free(g->numbers.slot);
    free(g->arena.p);
    free(g->line.p);
    free(g->recs);
    json_decref(g->periods);
    json_decref(g->period_records);
}

void jk_gen_opts_init(jk_gen_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->prefecture = "35";
    o->residents = 100000;
    o->years = 3;
    o->seed = 1;
    o->faults = 0.01;
    o->start = "2023-04-01";
}

int jk_gen_run(const jk_gen_opts_t *opts, jk_err_t *err)
{
    if (check_opts(opts, err)) return -1;
    gen_t g;
    memset(&g, 0, sizeof g);
    g.o = opts;
    g.err = err;
    uint64_t initial[GEN_MAX_MUNIS] = {0}, res = 0, rem = 0, versions = 0;
    int rc = -1;
    if (gen_init(&g) || prepare_out(&g) || gen_initial(&g, initial)) goto out;
    int32_t d0 = g.start;
    for (int q = 1; q <= 4 * opts->years; q++) {
        int32_t d1 = add_months(g.start, 3 * q);
        if (gen_quarter(&g, q, d0, d1)) goto out;
        d0 = d1;
    }
    if (write_expected(&g, &res, &rem, &versions)) goto out;
    /* The versions in the answer key and the accepted count were kept apart; they must agree. */
    if (versions != g.accepted) {
        jk_err_set(err, "internal error: versions add up to %" PRIu64 ", accepted %" PRIu64,
                   versions, g.accepted);
        goto out;
    }
    if (write_manifest(&g, initial, res, rem)) goto out;
    rc = 0;
out:
    gen_free(&g);
    return rc;
}

/* ---- the command ---- */

static void gen_usage(FILE *out)
{
    fprintf(
        out,
        "usage: jukilog gen --out DIR [--prefecture 35] [--residents N] [--years Y]\n"
        "                   [--seed S] [--faults RATE] [--start YYYY-MM-DD]\n"
        "\n"
        "Writes a synthetic prefecture: what its municipal CSs would send over Y years, and\n"
        "what the prefecture must make of it. Every person in it is made up.\n"
        "\n"
        "  DIR/periods/0000-initial/CODE.jsonl   the initial load: every resident, as\n"
        "                                        ex_officio_entry, one file per municipality\n"
        "  DIR/periods/NNNN-YYYY-QN/CODE.jsonl   one directory per quarter: change records in\n"
        "                                        date order, the input of `cs send`\n"
        "  DIR/manifest.json                     options, periods, records per reason, the\n"
        "                                        expected outcome counts, final counts\n"
        "  DIR/expected.jsonl                    the identity file once every period has been\n"
        "                                        sent in order (within a period the files by\n"
        "                                        ascending municipality code) and applied\n"
        "\n"
        "  --prefecture PP  prefecture code (default 35; only 35, Yamaguchi, has data)\n"
        "  --residents N    residents of the initial load (default 100000)\n"
        "  --years Y        years of quarterly changes after the load (default 3)\n"
        "  --seed S         seed (default 1): the same options give the same bytes\n"
        "  --faults RATE    deliberately faulty records as a share of each quarter's records\n"
        "                   (default 0.01; 0 for none): refused by cs send (invalid_format,\n"
        "                   wrong_municipality, future_date) or rejected by the projector\n"
        "                   (already_resident, code_exists, unknown_resident,\n"
        "                   not_resident_here, field_not_changeable)\n"
        "  --start DATE     date of the initial load; the quarters follow (default 2023-04-01)\n"
        "  --out DIR        where to write: created, and must be empty if it exists\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static void print_progress(void *arg, uint64_t records, const char *period)
{
    (void)arg;
    fprintf(stderr, "jukilog gen: %" PRIu64 " records written (%s)\n", records, period);
}

int cmd_gen(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"prefecture", required_argument, NULL, 'p'},
        {"residents", required_argument, NULL, 'n'},
        {"years", required_argument, NULL, 'y'},
        {"seed", required_argument, NULL, 's'},
        {"faults", required_argument, NULL, 'f'},
        {"start", required_argument, NULL, 'd'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "gen";
    jk_gen_opts_t o;
    jk_gen_opts_init(&o);
    o.progress = print_progress;
    int c;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            o.prefecture = optarg;
            break;
        case 'n':
            if (parse_long(optarg, 1, GEN_MAX_RESIDENTS, &v))
                return jk_cli_usage(cmd, "--residents must be 1..%ld, not \"%s\"",
                                    GEN_MAX_RESIDENTS, optarg);
            o.residents = v;
            break;
        case 'y':
            if (parse_long(optarg, 0, GEN_MAX_YEARS, &v))
                return jk_cli_usage(cmd, "--years must be 0..%d, not \"%s\"", GEN_MAX_YEARS,
                                    optarg);
            o.years = (int)v;
            break;
        case 's':
            if (parse_long(optarg, 0, LONG_MAX, &v))
                return jk_cli_usage(cmd, "--seed must be an integer 0..%ld, not \"%s\"", LONG_MAX,
                                    optarg);
            o.seed = (uint64_t)v;
            break;
        case 'f': {
            char *end;
            errno = 0;
            o.faults = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(o.faults >= 0 && o.faults <= 0.5))
                return jk_cli_usage(cmd, "--faults must be a share 0..0.5, not \"%s\"", optarg);
            break;
        }
        case 'd':
            o.start = optarg;
            break;
        case 'o':
            o.out = optarg;
            break;
        case 'h':
            gen_usage(stdout);
            return JK_EXIT_OK;
        default:
            return jk_cli_usage(cmd, "unknown option");
        }
    }
    if (optind != argc) return jk_cli_usage(cmd, "unexpected argument \"%s\"", argv[optind]);
    if (o.out == NULL) return jk_cli_usage(cmd, "--out DIR is required");
    jk_err_t err;
    if (jk_gen_run(&o, &err)) return jk_cli_fail(cmd, &err);
    return JK_EXIT_OK;
}
