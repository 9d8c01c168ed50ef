/* test_chain.c: the per-source hash-chain tracker: in-order and out-of-order linking,
 * duplicates, forks, gaps, many sources, restore. Hashes are made up: the tracker only compares
 * them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jukilog/chain.h"
#include "jukilog/envelope.h"

/* A fake 64-hex hash for (source tag, seq, variant); seq 0 is the zero hash. */
static const char *h(int tag, int64_t seq, int variant)
{
    static char ring[16][65];
    static int next;
    char *out = ring[next++ % 16];
    if (seq == 0) return JK_ZERO_HASH;
    snprintf(out, 65, "%016x%016llx%016x%016x", tag, (unsigned long long)seq, variant, 0xabcd);
    return out;
}

/* Observes event seq of source tag in the honest chain (variant 0). */
static jk_chain_status_t see(jk_chain_t *ch, const char *src, int tag, int64_t seq)
{
    return jk_chain_observe(ch, src, seq, h(tag, seq - 1, 0), h(tag, seq, 0));
}

#define MAX_SUMS 8

typedef struct sums {
    size_t n;
    jk_chain_summary_t s[MAX_SUMS];
    char names[MAX_SUMS][64];
    char heads[MAX_SUMS][65];
} sums_t;

static void keep(void *ctx, const jk_chain_summary_t *s)
{
    sums_t *v = ctx;
    assert_true(v->n < MAX_SUMS);
    v->s[v->n] = *s;
    snprintf(v->names[v->n], 64, "%s", s->source);
    snprintf(v->heads[v->n], 65, "%s", s->head);
    v->n++;
}

/* The summary of the only source. */
static sums_t one(const jk_chain_t *ch)
{
    sums_t v = {0};
    jk_chain_foreach(ch, keep, &v);
    assert_int_equal(v.n, 1);
    return v;
}

static void expect(const jk_chain_t *ch, int64_t linked, const char *head, int64_t waiting,
                   int64_t first_waiting, int64_t duplicates, int64_t forks)
{
    sums_t v = one(ch);
    assert_int_equal(v.s[0].linked, linked);
    assert_string_equal(v.heads[0], head);
    assert_int_equal(v.s[0].waiting, waiting);
    assert_int_equal(v.s[0].first_waiting, first_waiting);
    assert_int_equal(v.s[0].duplicates, duplicates);
    assert_int_equal(v.s[0].forks, forks);
}

static void test_empty(void **state)
{
    (void)state;
    jk_chain_t *ch = jk_chain_new();
    assert_non_null(ch);
    sums_t v = {0};
    jk_chain_foreach(ch, keep, &v);
    assert_int_equal(v.n, 0);
    jk_chain_free(ch);
    jk_chain_free(NULL);
}

static void test_in_order(void **state)
{
    (void)state;
    jk_chain_t *ch = jk_chain_new();
    for (int64_t s = 1; s <= 1000; s++)
        assert_int_equal(see(ch, "cs:352039", 1, s), JK_CHAIN_LINKED);
    expect(ch, 1000, h(1, 1000, 0), 0, 0, 0, 0);
    jk_chain_free(ch);
}

static void test_out_of_order(void **state)
{
    (void)state;
    jk_chain_t *ch = jk_chain_new();
    assert_int_equal(see(ch, "cs:1", 1, 1), JK_CHAIN_LINKED);
    assert_int_equal(see(ch, "cs:1", 1, 3), JK_CHAIN_WAITING);
    expect(ch, 1, h(1, 1, 0), 1, 3, 0, 0);                    /* 2 is a gap */
    assert_int_equal(see(ch, "cs:1", 1, 2), JK_CHAIN_LINKED); /* drains 3 */
    expect(ch, 3, h(1, 3, 0), 0, 0, 0, 0);
    assert_int_equal(see(ch, "cs:1", 1, 5), JK_CHAIN_WAITING);
    assert_int_equal(see(ch, "cs:1", 1, 4), JK_CHAIN_LINKED); /* drains 5 */
    expect(ch, 5, h(1, 5, 0), 0, 0, 0, 0);
    jk_chain_free(ch);
}

/* Two partitions' worth interleaved, with the later half of the seqs arriving first, and waiting
 * entries inserted in the middle of the held ones. */
static void test_out_of_order_many(void **state)
{
    (void)state;
    jk_chain_t *ch = jk_chain_new();
    for (int64_t s = 2; s <= 200; s += 2)
        assert_int_equal(see(ch, "cs:1", 1, s), JK_CHAIN_WAITING);
    expect(ch, 0, JK_ZERO_HASH, 100, 2, 0, 0);
    for (int64_t s = 199; s >= 3; s -= 2)
        assert_int_equal(see(ch, "cs:1", 1, s), JK_CHAIN_WAITING);
    expect(ch, 0, JK_ZERO_HASH, 199, 2, 0, 0);
    assert_int_equal(see(ch, "cs:1", 1, 1), JK_CHAIN_LINKED);
    expect(ch, 200, h(1, 200, 0), 0, 0, 0, 0);
    jk_chain_free(ch);
}

static void test_duplicates(void **state)
{
    (void)state;
    jk_chain_t *ch = jk_chain_new();
    for (int64_t s = 1; s <= 3; s++)
        see(ch, "cs:1", 1, s);
    assert_int_equal(see(ch, "cs:1", 1, 3), JK_CHAIN_DUPLICATE); /* the head again */
    assert_int_equal(see(ch, "cs:1", 1, 1), JK_CHAIN_DUPLICATE); /* further back */
    assert_int_equal(see(ch, "cs:1", 1, 6), JK_CHAIN_WAITING);
    assert_int_equal(see(ch, "cs:1", 1, 6), JK_CHAIN_DUPLICATE); /* a waiting one again */
    expect(ch, 3, h(1, 3, 0), 1, 6, 3, 0);
    jk_chain_free(ch);
}

static void test_forks(void **state)
{
    (void)state;
    jk_chain_t *ch = jk_chain_new();
    for (int64_t s = 1; s <= 3; s++)
        see(ch, "cs:1", 1, s);

    /* Next in line, but chained to another predecessor: not linked. */
    assert_int_equal(jk_chain_observe(ch, "cs:1", 4, h(1, 3, 9), h(1, 4, 9)), JK_CHAIN_FORK);
    expect(ch, 3, h(1, 3, 0), 0, 0, 0, 1);
    /* The head's seq with another hash. */
    assert_int_equal(jk_chain_observe(ch, "cs:1", 3, h(1, 2, 0), h(1, 3, 9)), JK_CHAIN_FORK);
    /* A waiting seq with another hash: the first one stays. */
    assert_int_equal(see(ch, "cs:1", 1, 6), JK_CHAIN_WAITING);
    assert_int_equal(jk_chain_observe(ch, "cs:1", 6, h(1, 5, 0), h(1, 6, 9)), JK_CHAIN_FORK);
    expect(ch, 3, h(1, 3, 0), 1, 6, 0, 3);
    /* seq 0 and below never exist. */
    assert_int_equal(jk_chain_observe(ch, "cs:1", 0, JK_ZERO_HASH, h(1, 0, 9)), JK_CHAIN_FORK);
    assert_int_equal(jk_chain_observe(ch, "cs:1", -5, JK_ZERO_HASH, h(1, 0, 9)), JK_CHAIN_FORK);
    expect(ch, 3, h(1, 3, 0), 1, 6, 0, 5);

    /* The honest chain still links, and drains what waited for it. */
    assert_int_equal(see(ch, "cs:1", 1, 4), JK_CHAIN_LINKED);
    assert_int_equal(see(ch, "cs:1", 1, 5), JK_CHAIN_LINKED);
    expect(ch, 6, h(1, 6, 0), 0, 0, 0, 5);
    jk_chain_free(ch);
}

/* A waiting event whose prev turns out wrong when its predecessor links is a fork: dropped, and
 * what waits behind it keeps waiting. */
static void test_fork_while_draining(void **state)
{
    (void)state;
    jk_chain_t *ch = jk_chain_new();
    see(ch, "cs:1", 1, 1);
    assert_int_equal(jk_chain_observe(ch, "cs:1", 3, h(1, 2, 9), h(1, 3, 9)), JK_CHAIN_WAITING);
    assert_int_equal(see(ch, "cs:1", 1, 4), JK_CHAIN_WAITING);
    assert_int_equal(see(ch, "cs:1", 1, 2), JK_CHAIN_LINKED);
    expect(ch, 2, h(1, 2, 0), 1, 4, 0, 1);
    /* The honest 3 arrives late: links, and 4 with it. */
    assert_int_equal(see(ch, "cs:1", 1, 3), JK_CHAIN_LINKED);
    expect(ch, 4, h(1, 4, 0), 0, 0, 0, 1);
    jk_chain_free(ch);
}

static void test_gap(void **state)
{
    (void)state;
    jk_chain_t *ch = jk_chain_new();
    for (int64_t s = 1; s <= 10; s++)
        if (s < 4 || s > 6) see(ch, "cs:1", 1, s);
    expect(ch, 3, h(1, 3, 0), 4, 7, 0, 0); /* 4..6 missing */
    /* Filling part of the gap moves it. */
    assert_int_equal(see(ch, "cs:1", 1, 5), JK_CHAIN_WAITING);
    assert_int_equal(see(ch, "cs:1", 1, 4), JK_CHAIN_LINKED);
    expect(ch, 5, h(1, 5, 0), 4, 7, 0, 0);
    jk_chain_free(ch);
}

static void test_sources_sorted(void **state)
{
    (void)state;
    static const char *const names[] = {"operator:7", "cs:352047", "admin:35", "cs:352039",
                                        "notary:35"};
    jk_chain_t *ch = jk_chain_new();
    for (int i = 0; i < 5; i++)
        for (int64_t s = 1; s <= i + 1; s++)
            assert_int_equal(see(ch, names[i], i, s), JK_CHAIN_LINKED);
    sums_t v = {0};
    jk_chain_foreach(ch, keep, &v);
    assert_int_equal(v.n, 5);
    static const char *const sorted[] = {"admin:35", "cs:352039", "cs:352047", "notary:35",
                                         "operator:7"};
    static const int64_t linked[] = {3, 4, 2, 5, 1};
    static const int tags[] = {2, 3, 1, 4, 0};
    for (int i = 0; i < 5; i++) {
        assert_string_equal(v.names[i], sorted[i]);
        assert_int_equal(v.s[i].linked, linked[i]);
        assert_string_equal(v.heads[i], h(tags[i], linked[i], 0));
    }
    jk_chain_free(ch);
}

typedef struct count {
    size_t n;
    int64_t linked;
    int sorted;
    char last[64];
} count_t;

static void count_one(void *ctx, const jk_chain_summary_t *s)
{
    count_t *c = ctx;
    if (c->n > 0 && strcmp(c->last, s->source) >= 0) c->sorted = 0;
    snprintf(c->last, sizeof c->last, "%s", s->source);
    c->n++;
    c->linked += s->linked;
}

/* Enough sources to grow the table several times; each keeps its own chain. */
static void test_many_sources(void **state)
{
    (void)state;
    jk_chain_t *ch = jk_chain_new();
    char name[32];
    for (int64_t s = 1; s <= 3; s++)
        for (int i = 0; i < 5000; i++) {
            snprintf(name, sizeof name, "cs:%06d", (i * 7919) % 5000);
            assert_int_equal(see(ch, name, (i * 7919) % 5000, s), JK_CHAIN_LINKED);
        }
    count_t c = {.sorted = 1};
    jk_chain_foreach(ch, count_one, &c);
    assert_int_equal(c.n, 5000);
    assert_int_equal(c.linked, 15000);
    assert_true(c.sorted);
    jk_chain_free(ch);
}

static void test_restore(void **state)
{
    (void)state;
    jk_chain_t *ch = jk_chain_new();
    /* A consumer restarts: the chain stood at 100. */
    assert_int_equal(jk_chain_restore(ch, "cs:1", 100, h(1, 100, 0)), 0);
    expect(ch, 100, h(1, 100, 0), 0, 0, 0, 0);
    assert_int_equal(see(ch, "cs:1", 1, 100), JK_CHAIN_DUPLICATE);
    assert_int_equal(see(ch, "cs:1", 1, 101), JK_CHAIN_LINKED);
    assert_int_equal(see(ch, "cs:1", 1, 103), JK_CHAIN_WAITING);
    assert_int_equal(see(ch, "cs:1", 1, 105), JK_CHAIN_WAITING);
    expect(ch, 101, h(1, 101, 0), 2, 103, 1, 0);

    /* Nothing linked may be unlinked, nor the head contradicted. */
    assert_int_equal(jk_chain_restore(ch, "cs:1", 50, h(1, 50, 0)), -1);
    assert_int_equal(jk_chain_restore(ch, "cs:1", 101, h(1, 101, 9)), -1);
    assert_int_equal(jk_chain_restore(ch, "cs:1", 101, h(1, 101, 0)), 0);
    /* Bad arguments. */
    assert_int_equal(jk_chain_restore(ch, "cs:2", -1, JK_ZERO_HASH), -1);
    assert_int_equal(jk_chain_restore(ch, "cs:2", 0, h(1, 1, 0)), -1);
    assert_int_equal(jk_chain_restore(ch, "cs:2", 3, "abc"), -1);
    expect(ch, 101, h(1, 101, 0), 2, 103, 1, 0); /* cs:2 was never created */

    /* Moving forward past waiting events drops those behind and links those that follow. */
    assert_int_equal(jk_chain_restore(ch, "cs:1", 104, h(1, 104, 0)), 0);
    expect(ch, 105, h(1, 105, 0), 0, 0, 1, 0);
    jk_chain_free(ch);
}

struct waits {
    size_t n;
    int64_t seq[8];
    char prev[8][65], hash[8][65];
};

static void keep_wait(void *ctx, int64_t seq, const char *prev, const char *hash)
{
    struct waits *w = ctx;
    assert_true(w->n < 8);
    w->seq[w->n] = seq;
    snprintf(w->prev[w->n], 65, "%s", prev);
    snprintf(w->hash[w->n], 65, "%s", hash);
    w->n++;
}

/* A position stored whole, waiting events included, and restored into a new tracker behaves as
 * the one it was taken from (a group of projectors restarts at a position another member
 * stored). */
static void test_waiting_stored_and_restored(void **state)
{
    (void)state;
    jk_chain_t *ch = jk_chain_new();
    for (int64_t s = 1; s <= 3; s++)
        see(ch, "cs:1", 1, s);
    assert_int_equal(see(ch, "cs:1", 1, 7), JK_CHAIN_WAITING);
    assert_int_equal(see(ch, "cs:1", 1, 5), JK_CHAIN_WAITING);
    struct waits w = {0};
    jk_chain_foreach_waiting(ch, "cs:1", keep_wait, &w);
    assert_int_equal(w.n, 2);
    assert_int_equal(w.seq[0], 5); /* in seq order */
    assert_int_equal(w.seq[1], 7);
    assert_string_equal(w.prev[1], h(1, 6, 0));
    assert_string_equal(w.hash[1], h(1, 7, 0));
    struct waits none = {0};
    jk_chain_foreach_waiting(ch, "cs:9", keep_wait, &none);
    assert_int_equal(none.n, 0);

    jk_chain_t *back = jk_chain_new();
    assert_int_equal(jk_chain_restore(back, "cs:1", 3, h(1, 3, 0)), 0);
    for (size_t i = 0; i < w.n; i++)
        assert_int_equal(jk_chain_observe(back, "cs:1", w.seq[i], w.prev[i], w.hash[i]),
                         JK_CHAIN_WAITING);
    expect(back, 3, h(1, 3, 0), 2, 5, 0, 0);
    /* The missing ones arrive: both trackers link through to 7 alike. */
    jk_chain_t *both[2] = {ch, back};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(see(both[i], "cs:1", 1, 4), JK_CHAIN_LINKED);
        assert_int_equal(see(both[i], "cs:1", 1, 6), JK_CHAIN_LINKED);
        assert_int_equal(jk_chain_linked(both[i], "cs:1"), 7);
    }
    jk_chain_free(ch);
    jk_chain_free(back);
}

/* The waiting events as one line of text (a position in a table) and back. */
static void test_waiting_text(void **state)
{
    (void)state;
    jk_chain_t *ch = jk_chain_new();
    for (int64_t s = 1; s <= 3; s++)
        see(ch, "cs:1", 1, s);
    see(ch, "cs:1", 1, 7);
    see(ch, "cs:1", 1, 5);
    char want[512];
    snprintf(want, sizeof want, "5:%s:%s", h(1, 4, 0), h(1, 5, 0));
    snprintf(want + strlen(want), sizeof want - strlen(want), " 7:%s:%s", h(1, 6, 0), h(1, 7, 0));
    char *text = jk_chain_waiting_text(ch, "cs:1");
    assert_string_equal(text, want);
    char *none = jk_chain_waiting_text(ch, "cs:9");
    assert_string_equal(none, "");
    free(none);

    jk_chain_t *back = jk_chain_new();
    assert_int_equal(jk_chain_restore(back, "cs:1", 3, h(1, 3, 0)), 0);
    assert_int_equal(jk_chain_restore_waiting(back, "cs:1", text), 0);
    expect(back, 3, h(1, 3, 0), 2, 5, 0, 0);
    assert_int_equal(jk_chain_restore_waiting(back, "cs:1", ""), 0);
    expect(back, 3, h(1, 3, 0), 2, 5, 0, 0);
    /* A resent copy of a waiting event is a duplicate; the gap fills and everything links. */
    assert_int_equal(see(back, "cs:1", 1, 7), JK_CHAIN_DUPLICATE);
    assert_int_equal(see(back, "cs:1", 1, 4), JK_CHAIN_LINKED);
    assert_int_equal(see(back, "cs:1", 1, 6), JK_CHAIN_LINKED);
    assert_int_equal(jk_chain_linked(back, "cs:1"), 7);
    free(text);
    jk_chain_free(ch);
    jk_chain_free(back);
}

/* Text that is not "seq:prev:hash ..." is refused whole: nothing of it is observed. */
static void test_waiting_text_malformed(void **state)
{
    (void)state;
    char good[160], upper[160], short_hash[160], extra[200], zero[160], two[400];
    snprintf(good, sizeof good, "5:%s:%s", h(1, 4, 0), h(1, 5, 0));
    snprintf(upper, sizeof upper, "5:%s:%s", h(1, 4, 0), h(1, 5, 0));
    for (char *c = upper + 2; *c; c++)
        if (*c >= 'a' && *c <= 'f') *c = (char)(*c - 'a' + 'A');
    snprintf(short_hash, sizeof short_hash, "5:%s:%.63s", h(1, 4, 0), h(1, 5, 0));
    snprintf(extra, sizeof extra, "%sx", good);
    snprintf(zero, sizeof zero, "0:%s:%s", h(1, 4, 0), h(1, 5, 0));
    snprintf(two, sizeof two, "%s 6:%s", good, h(1, 5, 0)); /* the second item is cut short */
    const char *bad[] = {"x", "5", "5:", ":", "5:abc:def", upper, short_hash, extra, zero, two};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        jk_chain_t *ch = jk_chain_new();
        assert_int_equal(jk_chain_restore(ch, "cs:1", 3, h(1, 3, 0)), 0);
        assert_int_equal(jk_chain_restore_waiting(ch, "cs:1", bad[i]), -1);
        expect(ch, 3, h(1, 3, 0), 0, 0, 0, 0);
        jk_chain_free(ch);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_out_of_order_many),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_forks),
        cmocka_unit_test(test_fork_while_draining),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_sources_sorted),
        cmocka_unit_test(test_many_sources),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_waiting_stored_and_restored),
        cmocka_unit_test(test_waiting_text),
        cmocka_unit_test(test_waiting_text_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
