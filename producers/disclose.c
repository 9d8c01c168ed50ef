/* disclose.c: `jukilog disclose`, a resident's disclosure request (開示請求, DOMAIN.md duty 3).
 *
 * Staff at the disclosure counter ask, for a resident who proved who they are, for the
 * resident's current record, every version of it, and every provision of it (time, recipient
 * department, purpose, items provided). It goes through the log like any other use: a signed
 * request.disclosure, decided and recorded by the provider, so the disclosure itself is on the
 * log and shows up in the next one. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/cli.h"
#include "jukilog/operations.h"
#include "jukilog/terminal.h"

static const char usage_text[] =
    "usage: jukilog disclose --operator ID --resident-code C [--purpose CODE]\n"
    "         [--timeout SECONDS] [--json] [-X key=value]...\n"
    "\n"
    "Prints a resident's current record, its history (every version, with the times it was\n"
    "valid), and every provision of the record: time, recipient department, purpose, items\n"
    "provided. The request cites the disclosure purpose (default disclosure.self) and is\n"
    "recorded on the log like any other use.\n"
    "Exit status: 0 disclosed, 1 refused (the reason is printed), 2 error or no answer.\n";

static void print_disclosure(const json_t *answer)
{
    const json_t *rec = json_array_get(json_object_get(answer, "records"), 0);
    printf("record:\n  %s  %s (%s)  %s  sex %s  %s  [%s since %s]\n",
           json_string_value(json_object_get(rec, "resident_code")),
           json_string_value(json_object_get(rec, "name")),
           json_string_value(json_object_get(rec, "name_kana")),
           json_string_value(json_object_get(rec, "birth_date")),
           json_string_value(json_object_get(rec, "sex")),
           json_string_value(json_object_get(rec, "address")),
           json_string_value(json_object_get(rec, "status")),
           json_string_value(json_object_get(rec, "effective_date")));
    printf("history:\n");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(answer, "history"), i, v)
    {
        const char *to = json_string_value(json_object_get(v, "valid_to"));
        printf("  v%lld  %s  %s  %s  %s  from %s%s%s\n",
               (long long)json_integer_value(json_object_get(v, "version")),
               json_string_value(json_object_get(v, "reason")),
               json_string_value(json_object_get(v, "effective_date")),
               json_string_value(json_object_get(v, "name")),
               json_string_value(json_object_get(v, "address")),
               json_string_value(json_object_get(v, "valid_from")), to ? " to " : "", to ? to : "");
    }
    json_t *provs = json_object_get(answer, "provisions");
    printf("provisions (%zu):\n", json_array_size(provs));
    json_array_foreach(provs, i, v)
    {
        printf("  %s  %s  %s (%s, %s)\n", json_string_value(json_object_get(v, "time")),
               json_string_value(json_object_get(v, "department")),
               json_string_value(json_object_get(v, "purpose")),
               json_string_value(json_object_get(v, "category")),
               json_string_value(json_object_get(v, "request_type")));
    }
}

int cmd_disclose(int argc, char **argv)
{
    static const struct option opts[] = {
        {"operator", required_argument, NULL, 'o'},
        {"resident-code", required_argument, NULL, 'r'},
        {"purpose", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "disclose";
    jk_config_t cfg;
    jk_err_t err;
    if (jk_terminal_config(&cfg, &err)) return jk_cli_fail(cmd, &err);
    const char *op = NULL, *code = NULL, *purpose = "disclosure.self";
    int timeout_s = 10, as_json = 0, c, rc = JK_EXIT_ERROR;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            op = optarg;
            break;
        case 'r':
            code = optarg;
            break;
        case 'p':
            purpose = optarg;
            break;
        case 't':
            timeout_s = atoi(optarg);
            break;
        case 'j':
            as_json = 1;
            break;
        default:
            if ((rc = jk_cli_option(c, argv, cmd, &cfg, usage_text)) != JK_CLI_NEXT) goto out;
        }
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    if (!op || !code || timeout_s < 1) {
        rc = jk_cli_usage(cmd, "--operator and --resident-code are required");
        goto out;
    }
    json_t *data =
        json_pack("{s:s, s:s, s:s}", "operator", op, "purpose", purpose, "resident_code", code);
    const char *kind;
    if (jk_operations_check_request("request.disclosure", data, &kind, &err)) {
        json_decref(data);
        rc = jk_cli_usage(cmd, "%s", err.msg);
        goto out;
    }
    rc = jk_terminal_run(&cfg, cmd, op, "request.disclosure", data, timeout_s, as_json,
                         print_disclosure);
out:
    jk_config_free(&cfg);
    return rc;
}
