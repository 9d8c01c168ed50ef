/* journal_read.c: `jukilog journal read` and `jukilog journal check`: events back off the log,
 * or out of a file, each one parsed, checked against its source's registered key, and (on the
 * log) followed along its source's chain. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/cli.h"
#include "jukilog/consumer.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static const char *status_name(jk_record_status_t s)
{
    switch (s) {
    case JK_REC_OK:
        return "ok";
    case JK_REC_INVALID:
        return "invalid";
    case JK_REC_BAD_SIGNATURE:
        return "bad_signature";
    case JK_REC_FORK:
        return "fork";
    case JK_REC_SKIPPED:
        return "skipped";
    }
    return "?";
}

static void print_record(const jk_record_t *r)
{
    char t[JK_TIME_LEN];
    jk_time_format(r->broker_ms, t);
    json_t *o = json_pack("{s:s, s:i, s:I, s:s, s:s}", "topic", r->topic, "partition", r->partition,
                          "offset", (json_int_t)r->offset, "broker_time", t, "status",
                          status_name(r->status));
    if (r->status != JK_REC_OK) json_object_set_new(o, "error", json_string(r->error));
    if (r->ev) {
        json_object_set_new(o, "hash", json_string(r->hash));
        char *line = jk_envelope_serialize(r->ev, NULL);
        json_t *ev = line ? json_loads(line, 0, NULL) : NULL;
        if (ev) json_object_set_new(o, "event", ev);
        free(line);
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) puts(s);
    free(s);
    json_decref(o);
}

static const char cmd_journal_read_help[] =
    "usage: jukilog journal read --topic NAME... [--until-caught-up] [-X key=value]...\n"
    "\n"
    "Reads the tenant's topics (identity, admin, ...) from the start and prints one JSON\n"
    "line per event: topic, partition, offset, broker_time, status (ok | invalid |\n"
    "bad_signature | fork), error, hash, event. Duplicates (a source's resent events)\n"
    "are dropped. With --until-caught-up it stops at the end the topics had when it\n"
    "started; otherwise it follows them until interrupted.\n";

int cmd_journal_read(int argc, char **argv)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'},
        {"until-caught-up", no_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "journal read";
    const char *topics[16];
    int ntopics = 0, until = 0, c, rc = JK_EXIT_ERROR;
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:t:uh", opts, NULL)) != -1) {
        if (c == 't') {
            if (ntopics == 16) {
                rc = jk_cli_usage(cmd, "at most 16 topics");
                goto out;
            }
            topics[ntopics++] = optarg;
        } else if (c == 'u') {
            until = 1;
        } else if ((rc = jk_cli_option(c, argv, cmd, &cfg, cmd_journal_read_help)) != JK_CLI_NEXT) {
            goto out;
        }
    }
    if (ntopics == 0 || optind != argc) {
        rc = jk_cli_usage(cmd, "at least one --topic, and no other argument");
        goto out;
    }
    jk_consumer_t *cons = jk_consumer_open_topics(&cfg, topics, (size_t)ntopics, &err);
    if (!cons) {
        rc = jk_cli_fail(cmd, &err);
        goto out;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    jk_batch_t b = {0};
    rc = JK_EXIT_OK;
    while (!stop_requested && !(until && jk_consumer_caught_up(cons))) {
        if (jk_consumer_poll(cons, &b, 1000, 200, &err)) {
            rc = jk_cli_fail(cmd, &err);
            break;
        }
        for (size_t i = 0; i < b.n; i++)
            print_record(&b.recs[i]);
        fflush(stdout);
    }
    jk_batch_free(&b);
    jk_consumer_close(cons);
out:
    jk_config_free(&cfg);
    return rc;
}

int cmd_journal_check(int argc, char **argv)
{
    const char *cmd = "journal check";
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf(
            "usage: jukilog journal check [FILE|-]\n"
            "\n"
            "Checks a file of events, one per line (the wire form, as in the \"event\" field of\n"
            "`journal read`): each must be a well-formed envelope, signed by the key its source\n"
            "has registered now on the admin topic. Prints {\"line\":N,\"status\":\"ok\",...}\n"
            "per event. A malformed envelope stops it with the line and field (exit 2); a\n"
            "signature that does not hold is reported and gives exit 1.\n");
        return JK_EXIT_OK;
    }
    if (argc > 2) return jk_cli_usage(cmd, "one input file at most");
    const char *file = argc == 2 ? argv[1] : "-";
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    FILE *in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (!in) {
        jk_config_free(&cfg);
        jk_err_set(&err, "cannot open %s", file);
        return jk_cli_fail(cmd, &err);
    }
    jk_consumer_t *cons = jk_consumer_open(&cfg, &err);
    int rc = cons ? JK_EXIT_OK : jk_cli_fail(cmd, &err);
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    while (cons && rc != JK_EXIT_ERROR && (len = getline(&buf, &cap, in)) >= 0) {
        lineno++;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            len--;
        jk_envelope_t *ev = jk_envelope_parse(buf, (size_t)len, &err);
        if (!ev) {
            jk_err_wrap(&err, "%s line %ld", file, lineno);
            rc = jk_cli_fail(cmd, &err);
            break;
        }
        char hash[65] = "";
        jk_envelope_hash(ev, hash, NULL);
        if (jk_keyreg_verify(jk_consumer_keys(cons), ev, JK_KEYREG_NOW, &err) == 0) {
            printf("{\"line\":%ld,\"status\":\"ok\",\"id\":\"%s\",\"source\":\"%s\",\"seq\":%lld,"
                   "\"hash\":\"%s\"}\n",
                   lineno, ev->id, ev->source, (long long)ev->seq, hash);
        } else {
            json_t *o = json_pack("{s:I, s:s, s:s, s:s}", "line", (json_int_t)lineno, "status",
                                  "bad_signature", "id", ev->id, "error", err.msg);
            char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            puts(s);
            free(s);
            json_decref(o);
            rc = JK_EXIT_REJECTED;
        }
        jk_envelope_free(ev);
    }
    free(buf);
    jk_consumer_close(cons);
    if (in != stdin) fclose(in);
    jk_config_free(&cfg);
    return rc;
}
