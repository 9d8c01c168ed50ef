/* test_seqstate.c: the producer's state file, and chain continuation across restarts: a
 * producer that reloads its state midway keeps one unbroken chain. */
#include <dirent.h>
#include <errno.h>
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

#include "jukilog/chain.h"
#include "jukilog/envelope.h"
#include "jukilog/keys.h"
#include "jukilog/seqstate.h"

#define SOURCE "cs:352039"

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    char *dir = strdup("/tmp/jk_test_seqstate.XXXXXX");
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

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

/* The number of entries in dir besides . and .. */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static void test_missing_file(void **state)
{
    char *path = path_in(*state, "no/such/dir/state.json");
    jk_seqstate_t st = {.seq = 99, .prev = "junk"};
    jk_err_t err = {""};
    assert_int_equal(jk_seqstate_load(path, SOURCE, &st, &err), 0);
    assert_int_equal(st.seq, 0);
    assert_string_equal(st.prev, JK_ZERO_HASH);
    free(path);
}

static void test_save_load(void **state)
{
    char *path = path_in(*state, "var/state/cs.json"); /* parents do not exist yet */
    jk_seqstate_t st = {.seq = 42};
    memset(st.prev, 'a', 64);
    st.prev[64] = '\0';
    jk_err_t err = {""};
    assert_int_equal(jk_seqstate_save(path, SOURCE, &st, &err), 0);

    jk_seqstate_t got = {0};
    assert_int_equal(jk_seqstate_load(path, SOURCE, &got, &err), 0);
    assert_int_equal(got.seq, 42);
    assert_string_equal(got.prev, st.prev);

    /* Replaced, not appended to. */
    st.seq = 43;
    memset(st.prev, 'b', 64);
    assert_int_equal(jk_seqstate_save(path, SOURCE, &st, &err), 0);
    assert_int_equal(jk_seqstate_load(path, SOURCE, &got, &err), 0);
    assert_int_equal(got.seq, 43);
    assert_string_equal(got.prev, st.prev);

    struct stat sb;
    char *dir = path_in(*state, "var/state");
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(entries(dir), 1); /* no stray .tmp */
    free(dir);
    free(path);
}

static void test_file_format(void **state)
{
    char *path = path_in(*state, "state.json");
    jk_seqstate_t st = {.seq = 7};
    memcpy(st.prev, JK_ZERO_HASH, sizeof st.prev);
    st.prev[63] = '1';
    jk_err_t err = {""};
    assert_int_equal(jk_seqstate_save(path, SOURCE, &st, &err), 0);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char buf[256] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char want[256];
    snprintf(want, sizeof want, "{\"prev\":\"%s\",\"seq\":7,\"source\":\"cs:352039\"}\n", st.prev);
    assert_string_equal(buf, want);
    free(path);
}

static void test_wrong_source(void **state)
{
    char *path = path_in(*state, "state.json");
    jk_seqstate_t st = {.seq = 3, .prev = JK_ZERO_HASH};
    jk_err_t err = {""};
    assert_int_equal(jk_seqstate_save(path, "cs:352047", &st, &err), 0);
    assert_int_equal(jk_seqstate_load(path, SOURCE, &st, &err), -1);
    char want[512];
    snprintf(want, sizeof want, "state file %s: belongs to source cs:352047, not cs:352039", path);
    assert_string_equal(err.msg, want);
    free(path);
}

/* Each bad file is refused with the path and the problem in the message. */
static void test_corrupt(void **state)
{
    static const struct {
        const char *text, *problem;
    } cases[] = {
        {"", "not JSON"},
        {"{\"source\":\"cs:352039\",\"seq\":4,\"prev\":\"00", "not JSON"},
        {"[1,2]", "not a JSON object"},
        {"{\"seq\":4,\"prev\":\"" JK_ZERO_HASH "\"}", "\"source\" missing"},
        {"{\"source\":\"cs:352039\",\"prev\":\"" JK_ZERO_HASH "\"}", "\"seq\" missing"},
        {"{\"source\":\"cs:352039\",\"seq\":-1,\"prev\":\"" JK_ZERO_HASH "\"}", "\"seq\" missing"},
        {"{\"source\":\"cs:352039\",\"seq\":\"4\",\"prev\":\"" JK_ZERO_HASH "\"}",
         "\"seq\" missing"},
        {"{\"source\":\"cs:352039\",\"seq\":4}", "\"prev\" missing"},
        {"{\"source\":\"cs:352039\",\"seq\":4,\"prev\":\"00\"}", "\"prev\" missing"},
        {"{\"source\":\"cs:352039\",\"seq\":4,\"prev\":\"" JK_ZERO_HASH "0\"}", "\"prev\" missing"},
        {"{\"source\":\"cs:352039\",\"seq\":4,\"prev\":\"ABCDEF00000000000000000000000000000000"
         "00000000000000000000000000\"}",
         "\"prev\" missing"},
    };
    char *path = path_in(*state, "state.json");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(path, cases[i].text);
        jk_seqstate_t st = {.seq = 5};
        jk_err_t err = {""};
        assert_int_equal(jk_seqstate_load(path, SOURCE, &st, &err), -1);
        char want[512];
        snprintf(want, sizeof want, "state file %s: %s", path, cases[i].problem);
        if (strncmp(err.msg, want, strlen(want)) != 0)
            fail_msg("case %zu: got \"%s\", want prefix \"%s\"", i, err.msg, want);
        assert_int_equal(st.seq, 5); /* untouched */
    }
    free(path);
}

static void test_unreadable(void **state)
{
    /* A directory where the file should be: an error, not a fresh start at seq 0. */
    char *path = path_in(*state, "state.json");
    assert_int_equal(mkdir(path, 0700), 0);
    jk_seqstate_t st;
    jk_err_t err = {""};
    assert_int_equal(jk_seqstate_load(path, SOURCE, &st, &err), -1);
    assert_non_null(strstr(err.msg, path));
    free(path);
}

static void test_save_refuses_bad_state(void **state)
{
    char *path = path_in(*state, "state.json");
    jk_seqstate_t st = {.seq = 1, .prev = "abc"};
    jk_err_t err = {""};
    assert_int_equal(jk_seqstate_save(path, SOURCE, &st, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(entries(*state), 0);
    free(path);
}

#define N_EVENTS 12
#define RESTART_AT 7

typedef struct sent {
    int64_t seq;
    char prev[65], hash[65];
} sent_t;

/* One event as a producer makes it: next seq, prev from the state, signed, and the state saved
 * with its hash before it would be sent. */
static void produce(const char *path, jk_seqstate_t *st, EVP_PKEY *key, sent_t *out)
{
    jk_err_t err = {""};
    jk_envelope_t *ev = jk_envelope_new("identity.changed", SOURCE, "24727059608",
                                        json_pack("{s:I}", "n", (json_int_t)st->seq + 1), &err);
    assert_non_null(ev);
    ev->seq = st->seq + 1;
    memcpy(ev->prev, st->prev, sizeof ev->prev);
    assert_int_equal(jk_envelope_sign(ev, key, &err), 0);
    char hash[65];
    assert_int_equal(jk_envelope_hash(ev, hash, &err), 0);

    jk_seqstate_t next = {.seq = ev->seq};
    memcpy(next.prev, hash, sizeof next.prev);
    assert_int_equal(jk_seqstate_save(path, SOURCE, &next, &err), 0);
    *st = next;

    /* What a consumer sees is what went over the wire. */
    char *wire = jk_envelope_serialize(ev, &err);
    assert_non_null(wire);
    jk_envelope_t *got = jk_envelope_parse(wire, strlen(wire), &err);
    assert_non_null(got);
    out->seq = got->seq;
    memcpy(out->prev, got->prev, sizeof out->prev);
    assert_int_equal(jk_envelope_hash(got, out->hash, &err), 0);
    assert_string_equal(out->hash, hash);
    jk_envelope_free(got);
    free(wire);
    jk_envelope_free(ev);
}

typedef struct summary {
    int calls;
    jk_chain_summary_t s;
    char head[65];
} summary_t;

static void keep_summary(void *ctx, const jk_chain_summary_t *s)
{
    summary_t *sum = ctx;
    sum->calls++;
    sum->s = *s;
    snprintf(sum->head, sizeof sum->head, "%s", s->head);
}

static void test_chain_continues_across_restarts(void **state)
{
    char *path = path_in(*state, "state/" SOURCE ".json");
    jk_err_t err = {""};
    EVP_PKEY *key = jk_key_generate(&err);
    assert_non_null(key);

    sent_t sent[N_EVENTS];
    jk_seqstate_t st;
    assert_int_equal(jk_seqstate_load(path, SOURCE, &st, &err), 0);
    for (int i = 0; i < N_EVENTS; i++) {
        if (i == RESTART_AT) {
            /* The producer restarts: everything it knew is gone but the state file. */
            jk_seqstate_t fresh;
            memset(&fresh, 0x5a, sizeof fresh);
            assert_int_equal(jk_seqstate_load(path, SOURCE, &fresh, &err), 0);
            assert_int_equal(fresh.seq, RESTART_AT);
            assert_string_equal(fresh.prev, sent[RESTART_AT - 1].hash);
            st = fresh;
        }
        produce(path, &st, key, &sent[i]);
        assert_int_equal(sent[i].seq, i + 1);
        assert_string_equal(sent[i].prev, i == 0 ? JK_ZERO_HASH : sent[i - 1].hash);
    }

    /* In order: every event links. */
    jk_chain_t *ch = jk_chain_new();
    assert_non_null(ch);
    for (int i = 0; i < N_EVENTS; i++)
        assert_int_equal(jk_chain_observe(ch, SOURCE, sent[i].seq, sent[i].prev, sent[i].hash),
                         JK_CHAIN_LINKED);
    summary_t sum = {0};
    jk_chain_foreach(ch, keep_summary, &sum);
    assert_int_equal(sum.calls, 1);
    assert_int_equal(sum.s.linked, N_EVENTS);
    assert_string_equal(sum.head, sent[N_EVENTS - 1].hash);
    assert_int_equal(sum.s.waiting, 0);
    assert_int_equal(sum.s.first_waiting, 0);
    assert_int_equal(sum.s.duplicates, 0);
    assert_int_equal(sum.s.forks, 0);
    jk_chain_free(ch);

    /* In reverse: all wait until seq 1 arrives and links the lot. */
    ch = jk_chain_new();
    for (int i = N_EVENTS - 1; i > 0; i--)
        assert_int_equal(jk_chain_observe(ch, SOURCE, sent[i].seq, sent[i].prev, sent[i].hash),
                         JK_CHAIN_WAITING);
    assert_int_equal(jk_chain_observe(ch, SOURCE, sent[0].seq, sent[0].prev, sent[0].hash),
                     JK_CHAIN_LINKED);
    memset(&sum, 0, sizeof sum);
    jk_chain_foreach(ch, keep_summary, &sum);
    assert_int_equal(sum.s.linked, N_EVENTS);
    assert_int_equal(sum.s.waiting, 0);
    assert_int_equal(sum.s.forks, 0);
    jk_chain_free(ch);

    char *dir = path_in(*state, "state");
    assert_int_equal(entries(dir), 1); /* no stray .tmp after all those saves */
    free(dir);
    EVP_PKEY_free(key);
    free(path);
}

/* A producer that restarted from a state file older than what it sent (the file was restored
 * from a backup) would reuse seq numbers: the chain shows it as a fork. */
static void test_stale_state_shows_as_fork(void **state)
{
    char *path = path_in(*state, "state.json");
    jk_err_t err = {""};
    EVP_PKEY *key = jk_key_generate(&err);
    assert_non_null(key);
    jk_seqstate_t st = {.seq = 0, .prev = JK_ZERO_HASH};
    sent_t sent[4];
    produce(path, &st, key, &sent[0]);
    produce(path, &st, key, &sent[1]);
    jk_seqstate_t backup = st;
    produce(path, &st, key, &sent[2]);
    st = backup; /* restored */
    produce(path, &st, key, &sent[3]);
    assert_int_equal(sent[3].seq, 3);

    jk_chain_t *ch = jk_chain_new();
    for (int i = 0; i < 3; i++)
        assert_int_equal(jk_chain_observe(ch, SOURCE, sent[i].seq, sent[i].prev, sent[i].hash),
                         JK_CHAIN_LINKED);
    assert_int_equal(jk_chain_observe(ch, SOURCE, sent[3].seq, sent[3].prev, sent[3].hash),
                     JK_CHAIN_FORK);
    jk_chain_free(ch);
    EVP_PKEY_free(key);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_refuses_bad_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_continues_across_restarts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_state_shows_as_fork, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
