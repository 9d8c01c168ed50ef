/* inquire.c: `jukilog inquire`, an operator's inquiry (照会) from a department terminal.
 *
 * The request (a query by resident code, by my number, or by two or more of the 4 information)
 * is checked here as the provider will check it, signed with the operator's key, appended to the
 * operations topic, and then the provider's record is awaited on the same topic: a provision,
 * whose personal data only this operator's encryption key opens, or a refusal with its reason.
 * Nothing is shown before that record is on the log. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/cli.h"
#include "jukilog/operations.h"
#include "jukilog/terminal.h"

static const char usage_text[] =
    "usage: jukilog inquire --operator ID --purpose CODE\n"
    "         (--resident-code C | --my-number N |\n"
    "          [--name NAME] [--birth-date YYYY-MM-DD] [--sex 1|2] [--address ADDRESS])\n"
    "         [--limit N] [--timeout SECONDS] [--json] [-X key=value]...\n"
    "       jukilog inquire --operator ID --answer-to REQUEST_ID [--timeout S] [--json]\n"
    "\n"
    "Asks for the identity record of the persons a query finds, citing a lawful purpose\n"
    "(ops/purposes.json). A search by the 4 information needs at least two of them; name\n"
    "and address match exactly after full-/half-width forms and spaces are normalised.\n"
    "The request is signed with the operator's key and appended to the operations topic;\n"
    "`jukilog provider` decides it as of its place in the log and appends a provision or\n"
    "a refusal, which is printed here once it is on the log.\n"
    "  --limit N        persons shown at most (1..100, default 100); the count is always\n"
    "                   the total\n"
    "  --timeout S      how long to wait for the answer (default 10)\n"
    "  --json           print the answer as one JSON object\n"
    "  --answer-to ID   print the answer to an earlier request of this operator (one\n"
    "                   that timed out), read from the log\n"
    "Exit status: 0 provided, 1 refused (the reason is printed), 2 error or no answer in\n"
    "time (the request stays on the log and is answered when the provider runs).\n";

static void print_records(const json_t *answer)
{
    const json_t *recs = json_object_get(answer, "records");
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        const char *national = json_is_true(json_object_get(r, "national")) ? " (national)" : "";
        printf("%s  %s  %s  %s  %s  %s  %s%s\n",
               json_string_value(json_object_get(r, "resident_code")),
               json_string_value(json_object_get(r, "name")),
               json_string_value(json_object_get(r, "birth_date")),
               json_string_value(json_object_get(r, "sex")),
               json_string_value(json_object_get(r, "address")),
               json_string_value(json_object_get(r, "my_number")),
               json_string_value(json_object_get(r, "status")), national);
    }
}

int jk_terminal_report(jk_terminal_t *t, const jk_answer_t *a, int as_json,
                       void (*print)(const json_t *answer), const char *cmd)
{
    int refused = strncmp(a->type, "refusal.", 8) == 0;
    json_t *out = json_pack("{s:s, s:s}", "request_id", a->request_id, "outcome",
                            refused ? "refusal" : "provision");
    if (refused) {
        json_object_set(out, "reason", json_object_get(a->data, "reason"));
        json_object_set(out, "detail", json_object_get(a->data, "detail"));
        if (as_json) {
            char *s = json_dumps(out, JSON_COMPACT);
            printf("%s\n", s);
            free(s);
        } else {
            printf("request %s refused: %s (%s)\n", a->request_id,
                   json_string_value(json_object_get(a->data, "reason")),
                   json_string_value(json_object_get(a->data, "detail")));
        }
        json_decref(out);
        return JK_EXIT_REJECTED;
    }
    jk_err_t err;
    json_t *answer = jk_terminal_open_answer(t, a, &err);
    if (answer == NULL) {
        json_decref(out);
        return jk_cli_fail(cmd, &err);
    }
    if (as_json) {
        json_object_update(out, answer);
        char *s = json_dumps(out, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
    } else {
        json_t *count = json_object_get(answer, "count");
        printf("request %s provided: %lld person(s) found, %zu shown\n", a->request_id,
               count ? (long long)json_integer_value(count) : 0,
               json_array_size(json_object_get(answer, "records")));
        print(answer);
    }
    json_decref(answer);
    json_decref(out);
    return JK_EXIT_OK;
}

int jk_terminal_run(const jk_config_t *cfg, const char *cmd, const char *operator_id,
                    const char *type, json_t *data, int timeout_s, int as_json,
                    void (*print)(const json_t *answer))
{
    jk_err_t err;
    /* Without data: the answer to the earlier request named by type. */
    jk_terminal_t *t = jk_terminal_open(cfg, operator_id, data == NULL, &err);
    if (t == NULL) {
        json_decref(data);
        return jk_cli_fail(cmd, &err);
    }
    char id[33];
    jk_answer_t a = {0};
    int got;
    if (data) {
        got = jk_terminal_ask(t, type, data, timeout_s * 1000, id, &a, &err);
    } else {
        snprintf(id, sizeof id, "%s", type);
        got = jk_terminal_await(t, id, timeout_s * 1000, &a, &err);
    }
    int rc;
    if (got < 0) {
        rc = jk_cli_fail(cmd, &err);
    } else if (got == 0) {
        fprintf(stderr,
                "jukilog %s: no answer to request %s within %d s: is `jukilog provider` "
                "running? The request stays on the log and is answered when it runs.\n",
                cmd, id, timeout_s);
        rc = JK_EXIT_ERROR;
    } else {
        rc = jk_terminal_report(t, &a, as_json, print, cmd);
    }
    json_decref(a.data);
    jk_terminal_close(t);
    return rc;
}

int cmd_inquire(int argc, char **argv)
{
    static const struct option opts[] = {
        {"operator", required_argument, NULL, 'o'},
        {"purpose", required_argument, NULL, 'p'},
        {"resident-code", required_argument, NULL, 'r'},
        {"my-number", required_argument, NULL, 'm'},
        {"name", required_argument, NULL, 'n'},
        {"birth-date", required_argument, NULL, 'b'},
        {"sex", required_argument, NULL, 's'},
        {"address", required_argument, NULL, 'a'},
        {"limit", required_argument, NULL, 'l'},
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"answer-to", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "inquire";
    jk_config_t cfg;
    jk_err_t err;
    if (jk_terminal_config(&cfg, &err)) return jk_cli_fail(cmd, &err);
    const char *op = NULL, *purpose = NULL, *answer_to = NULL;
    int limit = JK_INQUIRY_LIMIT, timeout_s = 10, as_json = 0, c, rc = JK_EXIT_ERROR;
    json_t *query = json_object();
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            op = optarg;
            break;
        case 'p':
            purpose = optarg;
            break;
        case 'r':
            json_object_set_new(query, "resident_code", json_string(optarg));
            break;
        case 'm':
            json_object_set_new(query, "my_number", json_string(optarg));
            break;
        case 'n':
            json_object_set_new(query, "name", json_string(optarg));
            break;
        case 'b':
            json_object_set_new(query, "birth_date", json_string(optarg));
            break;
        case 's':
            json_object_set_new(query, "sex", json_string(optarg));
            break;
        case 'a':
            json_object_set_new(query, "address", json_string(optarg));
            break;
        case 'l':
            limit = atoi(optarg);
            break;
        case 't':
            timeout_s = atoi(optarg);
            break;
        case 'j':
            as_json = 1;
            break;
        case 'A':
            answer_to = optarg;
            break;
        default:
            if ((rc = jk_cli_option(c, argv, cmd, &cfg, usage_text)) != JK_CLI_NEXT) goto out;
        }
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    if (op && answer_to) {
        if (strlen(answer_to) != 32 || strspn(answer_to, "0123456789abcdef") != 32) {
            rc = jk_cli_usage(cmd, "--answer-to must be a request id (32 hex digits)");
            goto out;
        }
        rc = jk_terminal_run(&cfg, cmd, op, answer_to, NULL, timeout_s, as_json, print_records);
        goto out;
    }
    if (!op || !purpose) {
        rc = jk_cli_usage(cmd, "--operator and --purpose are required");
        goto out;
    }
    if (limit < 1 || limit > JK_INQUIRY_LIMIT || timeout_s < 1) {
        rc = jk_cli_usage(cmd, "--limit must be 1..%d and --timeout at least 1", JK_INQUIRY_LIMIT);
        goto out;
    }
    json_t *data = json_pack("{s:s, s:s, s:O, s:i}", "operator", op, "purpose", purpose, "query",
                             query, "limit", limit);
    const char *kind;
    if (jk_operations_check_request("request.inquiry", data, &kind, &err)) {
        json_decref(data);
        rc = jk_cli_usage(cmd, "%s", err.msg);
        goto out;
    }
    rc = jk_terminal_run(&cfg, cmd, op, "request.inquiry", data, timeout_s, as_json, print_records);
out:
    json_decref(query);
    jk_config_free(&cfg);
    return rc;
}
