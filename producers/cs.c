/* cs.c: `jukilog cs`, the municipal Communication Server's side of the prefecture server.
 *
 * enroll:   gives a municipality's CS a key pair and registers its public key on the admin
 *           topic, so that its change events can be verified by every consumer from then on.
 * send:     reads the municipality's change records (JSON Lines), checks each one as the
 *           prefecture will (projections/change.c), and appends the valid ones as signed
 *           identity.changed events keyed by resident code; one result line per input line.
 * outcomes: the prefecture's answers to this CS: rejections and superseded move_outs. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jukilog/admin.h"
#include "jukilog/change.h"
#include "jukilog/consumer.h"
#include "jukilog/producer.h"
#include "jukilog/strmap.h"
#include "jukilog/cli.h"
#include "jukilog/codes.h"
#include "jukilog/keys.h"

/* A municipality code of this prefecture, with a valid check digit. */
static int check_municipality(const jk_config_t *cfg, const char *code, jk_err_t *err)
{
    if (strlen(code) != 6 || strspn(code, "0123456789") != 6)
        return jk_err_set(err, "municipality code \"%s\" must be 6 digits", code);
    if (!jk_code_municipality_valid(code))
        return jk_err_set(err, "municipality code %s: check digit should be %c", code,
                          jk_code_municipality_check(code));
    if (strncmp(code, cfg->prefecture, 2) != 0)
        return jk_err_set(err, "municipality %s is not in prefecture %s", code, cfg->prefecture);
    return 0;
}

static const char cs_enroll_help[] =
    "usage: jukilog cs enroll --municipality CODE [-X key=value]...\n"
    "\n"
    "Creates the key pair of the municipality's CS in $JUKILOG_HOME/keys/cs_CODE.pem\n"
    "(kept if it exists) and registers its public key on the admin topic, signed by\n"
    "the admin key. CODE is the 6-digit municipality code with its check digit, of\n"
    "the prefecture JUKILOG_PREFECTURE. The same key is registered for the CS's\n"
    "consistency checks (source cscheck:CODE). Enrolling again changes nothing.\n";

static int cs_enroll(int argc, char **argv)
{
    static const struct option opts[] = {
        {"municipality", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "cs enroll";
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    const char *code = NULL;
    int c, rc = JK_EXIT_ERROR;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:m:h", opts, NULL)) != -1) {
        if (c == 'm') {
            code = optarg;
        } else if ((rc = jk_cli_option(c, argv, cmd, &cfg, cs_enroll_help)) != JK_CLI_NEXT) {
            goto out;
        }
    }
    if (!code || optind != argc) {
        rc = jk_cli_usage(cmd, code ? "unexpected argument \"%s\"" : "--municipality is required%s",
                          code ? argv[optind] : "");
        goto out;
    }
    if (check_municipality(&cfg, code, &err)) {
        rc = jk_cli_fail(cmd, &err);
        goto out;
    }

    char source[32], path[PATH_MAX];
    snprintf(source, sizeof source, "cs:%s", code);
    jk_cli_key_path(&cfg, source, path, sizeof path);
    struct stat sb;
    int fresh = stat(path, &sb) != 0;
    EVP_PKEY *key = fresh ? jk_key_generate(&err) : jk_key_load(path, &err);
    if (!key || (fresh && jk_key_save(key, path, &err))) {
        EVP_PKEY_free(key);
        rc = jk_cli_fail(cmd, &err);
        goto out;
    }
    char id[17] = "";
    jk_key_id(key, id, &err);
    int reg = jk_admin_register_key(&cfg, source, key, &err);
    /* The same key signs the CS's consistency checks, on a chain of their own (cscheck:CODE),
     * so that the identity topic's readers see the CS's identity chain without holes. */
    char check_source[32];
    snprintf(check_source, sizeof check_source, "cscheck:%s", code);
    if (reg >= 0 && jk_admin_register_key(&cfg, check_source, key, &err) < 0) reg = -1;
    EVP_PKEY_free(key);
    if (reg < 0) {
        rc = jk_cli_fail(cmd, &err);
        goto out;
    }
    printf("{\"municipality\":\"%s\",\"source\":\"%s\",\"key_id\":\"%s\",\"status\":\"%s\"}\n",
           code, source, id, reg ? "already_enrolled" : "enrolled");
    rc = JK_EXIT_OK;
out:
    jk_config_free(&cfg);
    return rc;
}

/* The result of one input line, printed once its batch is settled, in line order. */
struct result {
    long line;
    char id[33];      /* sent: the event id */
    const char *code; /* invalid: the problem code */
    char *detail;     /* invalid: the sentence */
};

static void print_results(struct result *res, size_t n, const char *sent_status)
{
    for (size_t i = 0; i < n; i++) {
        json_t *o = res[i].code ? json_pack("{s:I, s:s, s:s, s:s}", "line", (json_int_t)res[i].line,
                                            "status", "invalid", "error", res[i].code, "detail",
                                            res[i].detail)
                                : json_pack("{s:I, s:s, s:s}", "line", (json_int_t)res[i].line,
                                            "status", sent_status, "id", res[i].id);
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        puts(s);
        free(s);
        json_decref(o);
        free(res[i].detail);
        res[i].detail = NULL;
    }
    fflush(stdout);
}

/* Parses a line into the event data of a valid change, or fills the result with the problem. */
static json_t *check_line(const char *buf, size_t len, const jk_change_ctx_t *ctx, int64_t now,
                          struct result *res, char code_out[12])
{
    json_error_t je;
    json_t *rec = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    jk_problem_t pb;
    memset(&pb, 0, sizeof pb);
    json_t *data = NULL;
    if (!rec) {
        pb.code = "invalid_format";
        snprintf(pb.detail, sizeof pb.detail, "not JSON: %s", je.text);
    } else {
        /* The moment of notification is now, unless the registry recorded it. */
        if (!json_object_get(rec, "notified_at")) {
            char t[JK_TIME_LEN];
            jk_time_format(now, t);
            json_object_set_new(rec, "notified_at", json_string(t));
        }
        jk_change_t ch;
        if (jk_change_parse(rec, ctx, &ch, &pb) == 0) {
            data = jk_change_to_json(&ch);
            memcpy(code_out, ch.resident_code, 12);
            jk_change_free(&ch);
        }
    }
    json_decref(rec);
    if (!data) {
        res->code = pb.code;
        res->detail = strdup(pb.detail);
    }
    return data;
}

static const char cs_send_help[] =
    "usage: jukilog cs send --municipality CODE [-X key=value]... FILE|-\n"
    "\n"
    "Sends the municipality's change records (JSON Lines: resident_code, my_number,\n"
    "reason, effective_date, name, name_kana, birth_date, sex, address,\n"
    "municipality_code, optional notified_at and new_resident_code) to the prefecture\n"
    "as signed identity.changed events, keyed by resident code. Each line is checked\n"
    "first (required fields per reason, formats, check digits, municipality_code equal\n"
    "to CODE, effective date not after the notification date, address in the\n"
    "prefecture); a line without notified_at is notified now.\n"
    "Prints one line per input line, in order, once the broker confirmed its batch:\n"
    "  {\"line\":N,\"status\":\"sent\",\"id\":\"...\"}\n"
    "  {\"line\":N,\"status\":\"invalid\",\"error\":\"<code>\",\"detail\":\"...\"}\n"
    "Invalid lines are not sent; exit 1 if any line was invalid. If the broker cannot\n"
    "be reached, the batch stays in the CS's spool (status \"spooled\", exit 2) and is\n"
    "sent first by the next run.\n";

static int cs_send(int argc, char **argv)
{
    static const struct option opts[] = {
        {"municipality", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "cs send", *code = NULL;
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    int c, rc = JK_EXIT_ERROR;
    FILE *in = NULL;
    EVP_PKEY *key = NULL;
    jk_producer_t *p = NULL;
    struct result *res = NULL;
    char *buf = NULL;
    size_t cap = 0, nres = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:m:h", opts, NULL)) != -1) {
        if (c == 'm')
            code = optarg;
        else if ((rc = jk_cli_option(c, argv, cmd, &cfg, cs_send_help)) != JK_CLI_NEXT) {
            goto out;
        }
    }
    if (!code || argc - optind != 1) {
        rc = jk_cli_usage(cmd, "--municipality CODE and one input (FILE or -) are required");
        goto out;
    }
    if (check_municipality(&cfg, code, &err)) {
        rc = jk_cli_fail(cmd, &err);
        goto out;
    }
    const char *file = argv[optind];
    in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (!in) {
        jk_err_set(&err, "cannot open %s", file);
        rc = jk_cli_fail(cmd, &err);
        goto out;
    }
    char source[32], topic[128];
    snprintf(source, sizeof source, "cs:%s", code);
    jk_config_topic(&cfg, "identity", topic, sizeof topic);
    key = jk_cli_source_key(&cfg, source, &err);
    p = key ? jk_producer_open(&cfg, source, key, &err) : NULL;
    res = calloc(JK_PRODUCER_BATCH, sizeof *res);
    if (!p || !res) {
        if (p) jk_err_set(&err, "out of memory");
        rc = jk_cli_fail(cmd, &err);
        goto out;
    }
    jk_change_ctx_t ctx = {cfg.prefecture, code};
    long lineno = 0, invalid = 0, sent = 0;
    ssize_t len;
    int more = 1;
    while (more) {
        more = (len = getline(&buf, &cap, in)) >= 0;
        if (more) {
            lineno++;
            while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
                len--;
            if (len == 0) continue; /* blank lines are not records */
            struct result *r = &res[nres++];
            memset(r, 0, sizeof *r);
            r->line = lineno;
            char rcode[12];
            json_t *data = check_line(buf, (size_t)len, &ctx, jk_now_ms(), r, rcode);
            if (!data) {
                invalid++;
            } else if (jk_producer_append(p, topic, rcode, "identity.changed", rcode, data, r->id,
                                          &err)) {
                print_results(res, nres - 1, "spooled");
                rc = jk_cli_fail(cmd, &err);
                goto out;
            } else {
                sent++;
            }
        }
        if (nres == JK_PRODUCER_BATCH || (!more && (nres > 0 || jk_producer_spooled(p)))) {
            if (jk_producer_flush(p, &err)) {
                print_results(res, nres, "spooled");
                nres = 0;
                rc = jk_cli_fail(cmd, &err);
                goto out;
            }
            print_results(res, nres, "sent");
            nres = 0;
        }
    }
    if (lineno >= 100000)
        fprintf(stderr, "cs send: %ld lines, %ld sent, %ld invalid\n", lineno, sent, invalid);
    rc = invalid ? JK_EXIT_REJECTED : JK_EXIT_OK;
out:
    for (size_t i = 0; i < nres; i++)
        free(res[i].detail);
    free(res);
    free(buf);
    jk_producer_close(p);
    EVP_PKEY_free(key);
    if (in && in != stdin) fclose(in);
    jk_config_free(&cfg);
    return rc;
}

static const char cs_outcomes_help[] =
    "usage: jukilog cs outcomes --municipality CODE [--since TIME] [-X key=value]...\n"
    "\n"
    "Prints the prefecture's notices to the municipality's CS, as JSON Lines in log\n"
    "order: every change it rejected (with the code and why) and every move_out it\n"
    "found superseded by the move_in elsewhere. --since keeps notices appended at or\n"
    "after TIME (RFC 3339, broker time). Reads the outcomes topic up to its end.\n";

static int cs_outcomes(int argc, char **argv)
{
    static const struct option opts[] = {
        {"municipality", required_argument, NULL, 'm'},
        {"since", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "cs outcomes", *code = NULL;
    int64_t since = 0;
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    int c, rc = JK_EXIT_ERROR;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:m:s:h", opts, NULL)) != -1) {
        if (c == 'm')
            code = optarg;
        else if (c == 's') {
            if (jk_time_parse(optarg, &since)) {
                rc = jk_cli_usage(cmd, "--since \"%s\" is not an RFC 3339 time", optarg);
                goto out;
            }
        } else if ((rc = jk_cli_option(c, argv, cmd, &cfg, cs_outcomes_help)) != JK_CLI_NEXT) {
            goto out;
        }
    }
    if (!code || optind != argc) {
        rc = jk_cli_usage(cmd, "--municipality CODE is required, and nothing else");
        goto out;
    }
    if (check_municipality(&cfg, code, &err)) {
        rc = jk_cli_fail(cmd, &err);
        goto out;
    }
    char source[32], projector[64];
    snprintf(source, sizeof source, "cs:%s", code);
    snprintf(projector, sizeof projector, "projector:%s", cfg.prefecture);
    static const char *const outcomes[] = {"outcomes"};
    jk_consumer_t *cons = jk_consumer_open_topics(&cfg, outcomes, 1, &err);
    jk_strmap_t *seen = jk_strmap_new();
    if (!cons || !seen) {
        if (!seen) jk_err_set(&err, "out of memory");
        jk_consumer_close(cons);
        jk_strmap_free(seen);
        rc = jk_cli_fail(cmd, &err);
        goto out;
    }
    jk_batch_t b = {0};
    rc = JK_EXIT_OK;
    while (!jk_consumer_caught_up(cons)) {
        if (jk_consumer_poll(cons, &b, 1000, 500, &err)) {
            rc = jk_cli_fail(cmd, &err);
            break;
        }
        for (size_t i = 0; i < b.n; i++) {
            const jk_record_t *r = &b.recs[i];
            /* Only the prefecture's projector speaks here; a notice produced again after a crash
             * carries the same id and is shown once. */
            if (r->status != JK_REC_OK || strcmp(r->ev->source, projector) != 0) continue;
            json_t *d = r->ev->data;
            if (r->broker_ms < since || !json_is_string(json_object_get(d, "source")) ||
                strcmp(json_string_value(json_object_get(d, "source")), source) != 0 ||
                jk_strmap_get(seen, r->ev->id))
                continue;
            jk_strmap_put(seen, r->ev->id, seen);
            char t[JK_TIME_LEN];
            jk_time_format(r->broker_ms, t);
            json_t *o = json_pack("{s:s, s:s}", "time", t, "outcome",
                                  strcmp(r->ev->type, "identity.superseded") == 0 ? "superseded"
                                                                                  : "rejected");
            const char *keys[] = {"event_id", "seq", "resident_code", "reason", "code", "detail"};
            for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
                json_t *v = json_object_get(d, keys[k]);
                if (v && !json_is_null(v)) json_object_set(o, keys[k], v);
            }
            char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            puts(s);
            free(s);
            json_decref(o);
        }
    }
    jk_batch_free(&b);
    jk_strmap_free(seen);
    jk_consumer_close(cons);
out:
    jk_config_free(&cfg);
    return rc;
}

int cmd_cs(int argc, char **argv)
{
    static const jk_subcommand_t subs[] = {
        {"enroll", cs_enroll, "create and register the key of a municipality's CS"},
        {"send", cs_send, "send the municipality's change records (JSON Lines)"},
        {"outcomes", cs_outcomes, "the prefecture's rejections and superseded notices"},
    };
    return jk_cli_dispatch("cs", argc, argv, subs, sizeof subs / sizeof subs[0]);
}
