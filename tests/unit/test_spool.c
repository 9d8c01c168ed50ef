/* test_spool.c: the producer's spool, round trip after a simulated crash at each step: a torn
 * last line, a spool cut at every byte offset, clearing, long events, refused entries. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "jukilog/spool.h"

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    char *dir = strdup("/tmp/jk_test_spool.XXXXXX");
    if (dir == NULL || mkdtemp(dir) == NULL) return -1;
    *state = dir;
    return 0;
}

static int teardown(void **state)
{
    nftw(*state, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(*state);
    return 0;
}

static char *path_in(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    assert_non_null(p);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static long file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (long)sb.st_size;
}

static void write_bytes(const char *path, const char *buf, size_t len)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* The whole file, NUL-terminated; *len its size. */
static char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t cap = (size_t)file_size(path) + 1;
    char *buf = malloc(cap);
    assert_non_null(buf);
    *len = fread(buf, 1, cap, fp);
    buf[*len] = '\0';
    fclose(fp);
    return buf;
}

/* Entries collected by foreach, each as "topic|key|event". */
typedef struct seen {
    char *v[64];
    size_t n;
    size_t stop_at; /* return stop_rc when entry number stop_at (1-based) is seen; 0: never */
    int stop_rc;
} seen_t;

static int collect(void *ctx, const char *topic, const char *key, const char *event)
{
    seen_t *s = ctx;
    assert_true(s->n < 64);
    size_t len = strlen(topic) + strlen(key) + strlen(event) + 3;
    s->v[s->n] = malloc(len);
    assert_non_null(s->v[s->n]);
    snprintf(s->v[s->n], len, "%s|%s|%s", topic, key, event);
    s->n++;
    return s->n == s->stop_at ? s->stop_rc : 0;
}

static void seen_free(seen_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    s->n = 0;
}

static const char *const topics[] = {"jk.35.identity", "jk.35.admin", "jk.35.consistency"};
static const char *const keys[] = {"24727059608", "", "352039"};
static const char *const events[] = {"{\"seq\":1}", "{\"seq\":2,\"t\":\"a b\"}", "{\"seq\":3}"};

static void append3(jk_spool_t *sp)
{
    jk_err_t err = {""};
    for (int i = 0; i < 3; i++)
        assert_int_equal(jk_spool_append(sp, topics[i], keys[i], events[i], &err), 0);
}

static void expect_first(jk_spool_t *sp, size_t n)
{
    seen_t s = {0};
    jk_err_t err = {""};
    assert_int_equal(jk_spool_foreach(sp, collect, &s, &err), 0);
    assert_int_equal(s.n, n);
    for (size_t i = 0; i < n; i++) {
        char want[128];
        snprintf(want, sizeof want, "%s|%s|%s", topics[i], keys[i], events[i]);
        assert_string_equal(s.v[i], want);
    }
    seen_free(&s);
}

static void test_round_trip(void **state)
{
    char *path = path_in(*state, "var/spool/cs.spool"); /* parents do not exist yet */
    jk_err_t err = {""};
    jk_spool_t *sp = jk_spool_open(path, &err);
    assert_non_null(sp);
    assert_int_equal(jk_spool_count(sp), 0);
    append3(sp);
    assert_int_equal(jk_spool_count(sp), 3);
    expect_first(sp, 3); /* pending appends are seen while the spool is open */
    assert_int_equal(jk_spool_sync(sp, &err), 0);
    jk_spool_close(sp);

    size_t len;
    char *bytes = read_all(path, &len);
    assert_string_equal(bytes, "jk.35.identity\t24727059608\t{\"seq\":1}\n"
                               "jk.35.admin\t\t{\"seq\":2,\"t\":\"a b\"}\n"
                               "jk.35.consistency\t352039\t{\"seq\":3}\n");
    free(bytes);

    sp = jk_spool_open(path, &err);
    assert_non_null(sp);
    assert_int_equal(jk_spool_count(sp), 3);
    expect_first(sp, 3);
    expect_first(sp, 3); /* again: foreach reads from the start each time */
    jk_spool_close(sp);
    free(path);
}

static void test_torn_last_line(void **state)
{
    char *path = path_in(*state, "spool");
    const char *good = "jk.35.identity\t24727059608\t{\"seq\":1}\n"
                       "jk.35.admin\t\t{\"seq\":2,\"t\":\"a b\"}\n";
    char buf[256];
    snprintf(buf, sizeof buf, "%sjk.35.consistency\t352039\t{\"se", good);
    write_bytes(path, buf, strlen(buf));

    jk_err_t err = {""};
    jk_spool_t *sp = jk_spool_open(path, &err);
    assert_non_null(sp);
    assert_int_equal(jk_spool_count(sp), 2);
    assert_int_equal(file_size(path), (long)strlen(good));
    expect_first(sp, 2);

    /* Appending after the repair continues on a clean line. */
    assert_int_equal(jk_spool_append(sp, topics[2], keys[2], events[2], &err), 0);
    assert_int_equal(jk_spool_count(sp), 3);
    assert_int_equal(jk_spool_sync(sp, &err), 0);
    jk_spool_close(sp);
    sp = jk_spool_open(path, &err);
    assert_non_null(sp);
    assert_int_equal(jk_spool_count(sp), 3);
    expect_first(sp, 3);
    jk_spool_close(sp);
    free(path);
}

/* A crash can leave the file cut at any byte: opening keeps exactly the complete lines. */
static void test_cut_at_every_offset(void **state)
{
    char *path = path_in(*state, "spool");
    char *cut = path_in(*state, "cut");
    jk_err_t err = {""};
    jk_spool_t *sp = jk_spool_open(path, &err);
    assert_non_null(sp);
    append3(sp);
    assert_int_equal(jk_spool_sync(sp, &err), 0);
    jk_spool_close(sp);
    size_t len;
    char *bytes = read_all(path, &len);

    for (size_t off = 0; off <= len; off++) {
        size_t lines = 0, good = 0;
        for (size_t i = 0; i < off; i++)
            if (bytes[i] == '\n') lines++, good = i + 1;
        write_bytes(cut, bytes, off);
        sp = jk_spool_open(cut, &err);
        assert_non_null(sp);
        if (jk_spool_count(sp) != lines)
            fail_msg("cut at %zu: %zu entries, want %zu", off, jk_spool_count(sp), lines);
        assert_int_equal(file_size(cut), (long)good);
        expect_first(sp, lines);
        jk_spool_close(sp);
    }
    free(bytes);
    free(cut);
    free(path);
}

static void test_clear(void **state)
{
    char *path = path_in(*state, "spool");
    jk_err_t err = {""};
    jk_spool_t *sp = jk_spool_open(path, &err);
    assert_non_null(sp);
    append3(sp);
    assert_int_equal(jk_spool_sync(sp, &err), 0);
    assert_int_equal(jk_spool_append(sp, "t", "k", "{\"pending\":1}", &err), 0);
    assert_int_equal(jk_spool_clear(sp, &err), 0); /* clears the pending entry too */
    assert_int_equal(jk_spool_count(sp), 0);
    assert_int_equal(file_size(path), 0);
    expect_first(sp, 0);
    jk_spool_close(sp);

    sp = jk_spool_open(path, &err);
    assert_non_null(sp);
    assert_int_equal(jk_spool_count(sp), 0);
    expect_first(sp, 0);
    append3(sp); /* the spool goes on after a clear */
    assert_int_equal(jk_spool_sync(sp, &err), 0);
    jk_spool_close(sp);
    sp = jk_spool_open(path, &err);
    assert_int_equal(jk_spool_count(sp), 3);
    expect_first(sp, 3);
    jk_spool_close(sp);
    free(path);
}

typedef struct big {
    size_t n;
    size_t lens[4];
    int ok;
} big_t;

static int check_big(void *ctx, const char *topic, const char *key, const char *event)
{
    big_t *b = ctx;
    size_t len = strlen(event);
    int ok = strcmp(topic, "jk.35.identity") == 0 && strcmp(key, "k") == 0 && len > 2 &&
             event[0] == '"' && event[len - 1] == '"';
    for (size_t i = 1; ok && i + 1 < len; i++)
        ok = event[i] == 'a' + (char)(i % 26);
    b->ok += ok;
    b->lens[b->n++] = len;
    return 0;
}

static char *big_event(size_t len)
{
    char *ev = malloc(len + 1);
    assert_non_null(ev);
    ev[0] = ev[len - 1] = '"';
    for (size_t i = 1; i + 1 < len; i++)
        ev[i] = 'a' + (char)(i % 26);
    ev[len] = '\0';
    return ev;
}

static void test_long_events(void **state)
{
    static const size_t lens[] = {100 * 1024, 10, 300 * 1024 + 7, 65535};
    char *path = path_in(*state, "spool");
    jk_err_t err = {""};
    jk_spool_t *sp = jk_spool_open(path, &err);
    assert_non_null(sp);
    for (int i = 0; i < 4; i++) {
        char *ev = big_event(lens[i]);
        assert_int_equal(jk_spool_append(sp, "jk.35.identity", "k", ev, &err), 0);
        free(ev);
    }
    assert_int_equal(jk_spool_sync(sp, &err), 0);
    jk_spool_close(sp);

    sp = jk_spool_open(path, &err);
    assert_non_null(sp);
    assert_int_equal(jk_spool_count(sp), 4);
    big_t b = {0};
    assert_int_equal(jk_spool_foreach(sp, check_big, &b, &err), 0);
    assert_int_equal(b.n, 4);
    assert_int_equal(b.ok, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(b.lens[i], lens[i]);
    jk_spool_close(sp);
    free(path);
}

/* Enough small entries to pass the write buffer several times. */
static void test_many(void **state)
{
    char *path = path_in(*state, "spool");
    jk_err_t err = {""};
    jk_spool_t *sp = jk_spool_open(path, &err);
    assert_non_null(sp);
    char ev[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(ev, sizeof ev, "{\"seq\":%d}", i + 1);
        assert_int_equal(jk_spool_append(sp, "jk.35.identity", "24727059608", ev, &err), 0);
    }
    assert_int_equal(jk_spool_count(sp), 20000);
    assert_int_equal(jk_spool_sync(sp, &err), 0);
    long size = file_size(path);
    jk_spool_close(sp);
    sp = jk_spool_open(path, &err);
    assert_int_equal(jk_spool_count(sp), 20000);
    assert_int_equal(file_size(path), size);
    jk_spool_close(sp);
    free(path);
}

static void test_refused(void **state)
{
    static const struct {
        const char *topic, *key, *event, *why;
    } cases[] = {
        {"jk.35\tidentity", "k", "{}", "topic"},
        {"jk.35\nidentity", "k", "{}", "topic"},
        {"", "k", "{}", "topic"},
        {"jk.35.identity", "a\tb", "{}", "key holds a TAB or NEWLINE"},
        {"jk.35.identity", "a\nb", "{}", "key holds a TAB or NEWLINE"},
        {"jk.35.identity", "k", "{\n}", "event holds a NEWLINE"},
        {"jk.35.identity", "k", "{}\n", "event holds a NEWLINE"},
    };
    char *path = path_in(*state, "spool");
    jk_err_t err = {""};
    jk_spool_t *sp = jk_spool_open(path, &err);
    assert_non_null(sp);
    append3(sp);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err.msg[0] = '\0';
        assert_int_equal(jk_spool_append(sp, cases[i].topic, cases[i].key, cases[i].event, &err),
                         -1);
        char want[512];
        snprintf(want, sizeof want, "spool %s: %s", path, cases[i].why);
        if (strncmp(err.msg, want, strlen(want)) != 0)
            fail_msg("case %zu: got \"%s\", want prefix \"%s\"", i, err.msg, want);
    }
    /* A TAB inside the event is fine: only the first two separate fields. */
    assert_int_equal(jk_spool_append(sp, "t", "k", "{\"a\":\"x\ty\"}", &err), 0);
    assert_int_equal(jk_spool_count(sp), 4);
    assert_int_equal(jk_spool_sync(sp, &err), 0);
    jk_spool_close(sp);

    sp = jk_spool_open(path, &err);
    assert_int_equal(jk_spool_count(sp), 4);
    seen_t s = {0};
    assert_int_equal(jk_spool_foreach(sp, collect, &s, &err), 0);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.v[3], "t|k|{\"a\":\"x\ty\"}");
    seen_free(&s);
    jk_spool_close(sp);
    free(path);
}

static void test_stop_early(void **state)
{
    char *path = path_in(*state, "spool");
    jk_err_t err = {""};
    jk_spool_t *sp = jk_spool_open(path, &err);
    assert_non_null(sp);
    append3(sp);
    seen_t s = {.stop_at = 2, .stop_rc = 7};
    assert_int_equal(jk_spool_foreach(sp, collect, &s, &err), 7);
    assert_int_equal(s.n, 2);
    seen_free(&s);
    jk_spool_close(sp);
    free(path);
}

static void test_malformed_line(void **state)
{
    char *path = path_in(*state, "spool");
    const char *text = "jk.35.identity\tk\t{}\nno tabs here\n";
    write_bytes(path, text, strlen(text));
    jk_err_t err = {""};
    jk_spool_t *sp = jk_spool_open(path, &err);
    assert_non_null(sp);
    assert_int_equal(jk_spool_count(sp), 2);
    seen_t s = {0};
    assert_int_equal(jk_spool_foreach(sp, collect, &s, &err), -1);
    assert_int_equal(s.n, 1);
    char want[512];
    snprintf(want, sizeof want, "spool %s: line 2 is not topic TAB key TAB event", path);
    assert_string_equal(err.msg, want);
    seen_free(&s);
    jk_spool_close(sp);
    free(path);
}

static void test_locked(void **state)
{
    char *path = path_in(*state, "spool");
    jk_err_t err = {""};
    jk_spool_t *sp = jk_spool_open(path, &err);
    assert_non_null(sp);
    append3(sp);
    assert_null(jk_spool_open(path, &err));
    char want[512];
    snprintf(want, sizeof want, "spool %s: in use by another process", path);
    assert_string_equal(err.msg, want);
    jk_spool_close(sp);
    sp = jk_spool_open(path, &err); /* free again once closed */
    assert_non_null(sp);
    assert_int_equal(jk_spool_count(sp), 3);
    jk_spool_close(sp);
    free(path);
}

static void test_open_fails(void **state)
{
    /* The parent "directory" is a file. */
    char *file = path_in(*state, "file");
    write_bytes(file, "x", 1);
    char *path = path_in(*state, "file/spool");
    jk_err_t err = {""};
    assert_null(jk_spool_open(path, &err));
    assert_non_null(strstr(err.msg, path));
    free(path);
    free(file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_last_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_at_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_early, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_fails, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
