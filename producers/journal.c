/* journal.c: `jukilog journal`, the journal at its plainest: append events as a source, send a
 * source's spool, read events back verified, check a file of events. The programs of later
 * roles (cs send, inquire, ...) append through the same producer; these are for operators and
 * for showing the journal at work. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/cli.h"
#include "jukilog/envelope.h"
#include "jukilog/producer.h"

static int check_spec(json_t *obj, const char *source, jk_err_t *err)
{
    if (!json_is_object(obj)) return jk_err_set(err, "not a JSON object");
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        if (strcmp(k, "type") && strcmp(k, "subject") && strcmp(k, "data") && strcmp(k, "id"))
            return jk_err_set(err, "unknown field \"%s\" (expected type, subject, data, id)", k);
    }
    json_t *id = json_object_get(obj, "id");
    if (id && !(json_is_string(id) && json_string_length(id) == 32 &&
                jk_is_hex(json_string_value(id), 32)))
        return jk_err_set(err, "field \"id\": must be 32 hex digits");
    json_t *type = json_object_get(obj, "type"), *subject = json_object_get(obj, "subject");
    json_t *data = json_object_get(obj, "data");
    if (!json_is_string(type)) return jk_err_set(err, "field \"type\": must be a string");
    if (subject && !json_is_string(subject))
        return jk_err_set(err, "field \"subject\": must be a string");
    if (!json_is_object(data)) return jk_err_set(err, "field \"data\": must be an object");
    /* Build the event once without signing it: the envelope's own rules (type format, no
     * floating-point numbers, ...) then speak for the line. */
    jk_envelope_t *ev =
        jk_envelope_new(json_string_value(type), source,
                        subject ? json_string_value(subject) : NULL, json_deep_copy(data), err);
    if (ev) ev->seq = 1; /* as the producer will number it */
    int rc = ev ? jk_envelope_validate(ev, err) : -1;
    jk_envelope_free(ev);
    return rc;
}

static const char append_usage_text[] =
    "usage: jukilog journal append --as SOURCE --topic NAME [-X key=value]... [FILE|-]\n"
    "\n"
    "Appends one signed event per input line (JSON Lines, default stdin):\n"
    "  {\"type\":\"demo.noted\",\"subject\":\"24727059608\",\"data\":{...}}\n"
    "subject is optional and is also the Kafka key; id (32 hex) is optional: an event\n"
    "derived from another carries an id derived from it, so a copy is a duplicate. NAME is the "
    "tenant's topic (identity,\n"
    "admin, operations, ...). Events are numbered, chained and signed with SOURCE's key\n"
    "from $JUKILOG_HOME/keys. Every line is checked first: a bad line stops the command,\n"
    "naming the line and field, and nothing is appended.\n"
    "Prints {\"line\":N,\"status\":\"sent\",\"id\":...,\"seq\":S} per event once the broker has\n"
    "confirmed it. If the broker cannot be reached the events stay in the source's spool\n"
    "and the next `journal append` or `journal flush` of that source sends them first.\n";

/* Prints the confirmed events of a batch. */
static void print_batch(const char (*ids)[33], const long *lines, const long long *seqs, size_t n,
                        const char *status)
{
    for (size_t i = 0; i < n; i++)
        printf("{\"line\":%ld,\"status\":\"%s\",\"id\":\"%s\",\"seq\":%lld}\n", lines[i], status,
               ids[i], seqs[i]);
    fflush(stdout);
}

static int journal_append(int argc, char **argv)
{
    static const struct option opts[] = {
        {"as", required_argument, NULL, 'a'},
        {"topic", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "journal append", *source = NULL, *topic_name = NULL;
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    int c, rc = JK_EXIT_ERROR;
    FILE *in = NULL;
    long *lines = NULL;
    char(*ids)[33] = NULL;
    long long *seqs = NULL;
    EVP_PKEY *key = NULL;
    jk_producer_t *p = NULL;
    char *buf = NULL;
    size_t cap = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:a:t:h", opts, NULL)) != -1) {
        if (c == 'a')
            source = optarg;
        else if (c == 't')
            topic_name = optarg;
        else if ((rc = jk_cli_option(c, argv, cmd, &cfg, append_usage_text)) != JK_CLI_NEXT) {
            goto out;
        }
    }
    if (!source || !topic_name) {
        rc = jk_cli_usage(cmd, "--as and --topic are required");
        goto out;
    }
    if (argc - optind > 1) {
        rc = jk_cli_usage(cmd, "one input file at most");
        goto out;
    }
    const char *file = optind < argc ? argv[optind] : "-";
    in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (!in) {
        jk_err_set(&err, "cannot open %s", file);
        rc = jk_cli_fail(cmd, &err);
        goto out;
    }

    /* stdin is copied to a temporary file so that every line can be checked before any is
     * appended, without holding the input in memory. */
    if (in == stdin) {
        in = tmpfile();
        ssize_t got;
        while (in && (got = getline(&buf, &cap, stdin)) >= 0)
            fwrite(buf, 1, (size_t)got, in);
        if (!in || fflush(in) != 0) {
            jk_err_set(&err, "cannot copy standard input to a temporary file");
            rc = jk_cli_fail(cmd, &err);
            goto out;
        }
        rewind(in);
    }
    ssize_t len;
    long lineno = 0;
    while ((len = getline(&buf, &cap, in)) >= 0) {
        lineno++;
        json_error_t je;
        json_t *obj = json_loadb(buf, (size_t)len, JSON_REJECT_DUPLICATES, &je);
        int bad = !obj ? jk_err_set(&err, "not JSON: %s", je.text) : check_spec(obj, source, &err);
        json_decref(obj);
        if (bad) {
            jk_err_wrap(&err, "%s line %ld", file, lineno);
            rc = jk_cli_fail(cmd, &err);
            goto out;
        }
    }
    rewind(in);

    char topic[128];
    jk_config_topic(&cfg, topic_name, topic, sizeof topic);
    key = jk_cli_source_key(&cfg, source, &err);
    p = key ? jk_producer_open(&cfg, source, key, &err) : NULL;
    lines = malloc(JK_PRODUCER_BATCH * sizeof *lines);
    ids = malloc(JK_PRODUCER_BATCH * sizeof *ids);
    seqs = malloc(JK_PRODUCER_BATCH * sizeof *seqs);
    if (!p || !lines || !ids || !seqs) {
        if (p) jk_err_set(&err, "out of memory");
        rc = jk_cli_fail(cmd, &err);
        goto out;
    }
    size_t batch = 0;
    lineno = 0;
    for (int more = 1; more;) {
        more = (len = getline(&buf, &cap, in)) >= 0;
        if (more) {
            json_t *s = json_loadb(buf, (size_t)len, 0, NULL);
            json_t *subject = json_object_get(s, "subject");
            const char *subj = subject ? json_string_value(subject) : NULL;
            const char *type = json_string_value(json_object_get(s, "type"));
            const char *given = json_string_value(json_object_get(s, "id"));
            json_t *data = json_incref(json_object_get(s, "data"));
            int bad;
            if (given) {
                bad = jk_producer_append_id(p, given, topic, subj, type, subj, data, &err);
                snprintf(ids[batch], sizeof ids[batch], "%s", given);
            } else {
                bad = jk_producer_append(p, topic, subj, type, subj, data, ids[batch], &err);
            }
            json_decref(s);
            if (bad) {
                rc = jk_cli_fail(cmd, &err);
                goto out;
            }
            lines[batch] = ++lineno;
            seqs[batch] = jk_producer_seq(p);
            batch++;
        }
        /* A run with no input still sends what an earlier run left in the spool. */
        if (batch == JK_PRODUCER_BATCH || (!more && (batch > 0 || jk_producer_spooled(p)))) {
            if (jk_producer_flush(p, &err)) {
                print_batch(ids, lines, seqs, batch, "spooled");
                rc = jk_cli_fail(cmd, &err);
                goto out;
            }
            print_batch(ids, lines, seqs, batch, "sent");
            batch = 0;
        }
    }
    rc = JK_EXIT_OK;
out:
    jk_producer_close(p);
    EVP_PKEY_free(key);
    if (in && in != stdin) fclose(in);
    free(buf);
    free(lines);
    free(ids);
    free(seqs);
    jk_config_free(&cfg);
    return rc;
}

static const char journal_flush_help[] =
    "usage: jukilog journal flush --as SOURCE [-X key=value]...\n"
    "\n"
    "Sends the events left in SOURCE's spool (when the broker could not be reached)\n"
    "and prints {\"source\":...,\"sent\":N}.\n";

static int journal_flush(int argc, char **argv)
{
    static const struct option opts[] = {
        {"as", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "journal flush", *source = NULL;
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    int c, rc = JK_EXIT_ERROR;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:a:h", opts, NULL)) != -1) {
        if (c == 'a')
            source = optarg;
        else if ((rc = jk_cli_option(c, argv, cmd, &cfg, journal_flush_help)) != JK_CLI_NEXT) {
            goto done;
        }
    }
    if (!source || optind != argc) {
        rc = jk_cli_usage(cmd, "--as SOURCE is required, and nothing else");
        goto done;
    }
    EVP_PKEY *key = jk_cli_source_key(&cfg, source, &err);
    jk_producer_t *p = key ? jk_producer_open(&cfg, source, key, &err) : NULL;
    size_t n = p ? jk_producer_spooled(p) : 0;
    if (!p || jk_producer_flush(p, &err)) {
        rc = jk_cli_fail(cmd, &err);
    } else {
        printf("{\"source\":\"%s\",\"sent\":%zu}\n", source, n);
        rc = JK_EXIT_OK;
    }
    jk_producer_close(p);
    EVP_PKEY_free(key);
done:
    jk_config_free(&cfg);
    return rc;
}

int cmd_journal(int argc, char **argv)
{
    static const jk_subcommand_t subs[] = {
        {"append", journal_append, "append signed events as a source (JSON Lines in)"},
        {"flush", journal_flush, "send what a source's spool still holds"},
        {"read", cmd_journal_read, "read topics from the start, verified (JSON Lines out)"},
        {"check", cmd_journal_check, "check a file of events: format, signature"},
    };
    return jk_cli_dispatch("journal", argc, argv, subs, sizeof subs / sizeof subs[0]);
}
