/* consistency_report.c: `jukilog consistency report`, the latest consistency report of a
 * municipality, read from the log (the consistency topic, verified like every consumer reads),
 * printed as a clerk acts on it (projections/consistency.c), or as the event's data. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/cli.h"
#include "jukilog/codes.h"
#include "jukilog/consistency.h"
#include "jukilog/consumer.h"

static const char report_help[] =
    "usage: jukilog consistency report --municipality CODE [--json] [-X key=value]...\n"
    "\n"
    "Prints the latest consistency report of the municipality (read from the consistency\n"
    "topic up to its end): a heading with the counts, then one line per finding, each\n"
    "with what to do:\n"
    "  CODE only in the municipality (NAME): ...\n"
    "  CODE only in the prefecture (NAME): ...\n"
    "  CODE FIELD differs: municipality \"...\", prefecture \"...\"; ...\n"
    "  cs:CODE seq A..B (N events) never reached the prefecture; ...\n"
    "or \"no differences\". --json prints the consistency.reported event's data instead.\n"
    "Exit 1 when the municipality has no report yet.\n";

int cmd_consistency_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"municipality", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "consistency report", *code = NULL;
    int as_json = 0, c, rc = JK_EXIT_ERROR;
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:m:jh", opts, NULL)) != -1) {
        if (c == 'm')
            code = optarg;
        else if (c == 'j')
            as_json = 1;
        else if ((rc = jk_cli_option(c, argv, cmd, &cfg, report_help)) != JK_CLI_NEXT)
            goto out;
    }
    if (!code || optind != argc) {
        rc = jk_cli_usage(cmd, "--municipality CODE is required, and nothing else");
        goto out;
    }
    if (strlen(code) != 6 || strspn(code, "0123456789") != 6 || !jk_code_municipality_valid(code)) {
        rc = jk_cli_usage(cmd, "\"%s\" is not a municipality code", code);
        goto out;
    }
    char service[64];
    snprintf(service, sizeof service, "consistency:%s", cfg.prefecture);
    static const char *const topics[] = {"consistency"};
    jk_consumer_t *cons = jk_consumer_open_topics(&cfg, topics, 1, &err);
    if (!cons) {
        rc = jk_cli_fail(cmd, &err);
        goto out;
    }
    jk_batch_t b = {0};
    json_t *latest = NULL;
    rc = JK_EXIT_OK;
    while (!jk_consumer_caught_up(cons)) {
        if (jk_consumer_poll(cons, &b, 100, 500, &err)) {
            rc = jk_cli_fail(cmd, &err);
            break;
        }
        for (size_t i = 0; i < b.n; i++) {
            const jk_record_t *r = &b.recs[i];
            /* Only the prefecture's consistency consumer reports. */
            if (r->status != JK_REC_OK || strcmp(r->ev->source, service) != 0 ||
                strcmp(r->ev->type, "consistency.reported") != 0)
                continue;
            const char *m = json_string_value(json_object_get(r->ev->data, "municipality"));
            if (!m || strcmp(m, code) != 0) continue;
            json_decref(latest);
            latest = json_incref(r->ev->data);
        }
    }
    jk_batch_free(&b);
    jk_consumer_close(cons);
    if (rc == JK_EXIT_OK && !latest) {
        fprintf(stderr,
                "jukilog %s: municipality %s has no consistency report yet (submit one with "
                "`jukilog consistency submit`)\n",
                cmd, code);
        rc = JK_EXIT_REJECTED;
    } else if (rc == JK_EXIT_OK && as_json) {
        char *s = json_dumps(latest, JSON_COMPACT | JSON_SORT_KEYS);
        if (s) puts(s);
        free(s);
    } else if (rc == JK_EXIT_OK && jk_consistency_print(stdout, latest)) {
        jk_err_set(&err, "cannot write the report");
        rc = jk_cli_fail(cmd, &err);
    }
    json_decref(latest);
out:
    jk_config_free(&cfg);
    return rc;
}
