/* provide.c: `jukilog provide --bulk`, bulk provision (一括提供, DOMAIN.md duty 2).
 *
 * A bulk operator brings a file of search conditions (one per line: a my number, or all of the
 * 4 information); one signed request.bulk carries them with the file's hash and count, the
 * provider matches each and appends one provision listing every resident provided, and the
 * result comes back sealed to the operator. Here it is turned into a CSV (one line per
 * condition: matched with the record, or not_found / ambiguous) and encrypted with the
 * recipient's passphrase (JKENC1: scrypt + AES-256-GCM), for the approved medium;
 * `jukilog decrypt` gives the CSV back. The conditions file is checked in full first: a bad
 * line is reported with its number and nothing is sent. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jukilog/cli.h"
#include "jukilog/envelope.h"
#include "jukilog/file.h"
#include "jukilog/operations.h"
#include "jukilog/seal.h"
#include "jukilog/terminal.h"

static const char usage_text[] =
    "usage: jukilog provide --bulk CONDITIONS.csv --operator ID --purpose CODE\n"
    "         --out RESULT.enc --passphrase-file F [--timeout SECONDS] [-X key=value]...\n"
    "\n"
    "Bulk provision. CONDITIONS.csv starts with a header naming its columns, among\n"
    "my_number, name, birth_date, sex, address (any order); each further line is one\n"
    "condition: its my number, or else all four of the 4 information. Only operators with\n"
    "the bulk role, citing a purpose that allows bulk provision. Each condition is matched by\n"
    "my number, else by an exact match of all 4 information (name and address after\n"
    "full-/half-width and space normalisation). RESULT.enc is a CSV encrypted with the\n"
    "passphrase in F (first line of the file): line,result,resident_code,my_number,name,\n"
    "name_kana,birth_date,sex,address,status,effective_date,municipality_code, where\n"
    "result is matched, not_found or ambiguous. `jukilog decrypt RESULT.enc\n"
    "--passphrase-file F` gives the CSV back.\n"
    "  --timeout S  how long to wait for the provider (default 300)\n"
    "Prints a summary (JSON). Exit status: 0 provided, 1 a bad line in the file (nothing\n"
    "sent) or the request refused, 2 error or no answer in time.\n";

static const char *const columns[] = {"my_number", "name", "birth_date", "sex", "address"};
#define NCOLS 5

/* Splits one CSV line (RFC 4180 quoting, no line breaks inside fields) in place. Returns the
 * number of fields, or -1 when a quote is not closed. */
static int split_csv(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max) return max + 1;
        char *out = p;
        fields[n++] = p;
        if (*p == '"') {
            char *q = p + 1;
            for (;;) {
                if (*q == '\0') return -1;
                if (*q == '"' && q[1] == '"') {
                    *out++ = '"';
                    q += 2;
                } else if (*q == '"') {
                    q++;
                    break;
                } else {
                    *out++ = *q++;
                }
            }
            if (*q != ',' && *q != '\0') return -1;
            int end = *q == '\0';
            *out = '\0';
            if (end) return n;
            p = q + 1;
        } else {
            char *comma = strchr(p, ',');
            if (!comma) return n;
            *comma = '\0';
            p = comma + 1;
        }
    }
}

/* Reads and checks the conditions; returns the array, or NULL with every bad line reported on
 * stderr (*bad counts them) or a system error in err. */
static json_t *read_conditions(const char *path, const char *buf, size_t len, int *bad,
                               jk_err_t *err)
{
    json_t *conds = json_array();
    char *copy = strndup(buf, len);
    if (!conds || !copy) {
        json_decref(conds);
        free(copy);
        jk_err_set(err, "out of memory");
        return NULL;
    }
    int col_of[NCOLS] = {-1, -1, -1, -1, -1}, ncols = 0;
    long lineno = 0;
    char *save = NULL;
    for (char *line = copy; line; line = save) {
        char *nl = strchr(line, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl) *nl = '\0';
        lineno++;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r') line[--l] = '\0';
        if (l == 0) {
            if (!save) break;
            continue;
        }
        char *f[16];
        int n = split_csv(line, f, 16);
        if (n < 0 || n > 16) {
            fprintf(stderr, "%s:%ld: %s\n", path, lineno,
                    n < 0 ? "a quoted field is not closed" : "more than 16 columns");
            (*bad)++;
            continue;
        }
        if (lineno == 1) {
            for (int i = 0; i < n; i++) {
                int k = 0;
                while (k < NCOLS && strcmp(f[i], columns[k]) != 0)
                    k++;
                if (k == NCOLS || col_of[k] >= 0) {
                    fprintf(stderr, "%s:1: column \"%s\" is %s\n", path, f[i],
                            k == NCOLS ? "not one of my_number, name, birth_date, sex, address"
                                       : "named twice");
                    (*bad)++;
                } else {
                    col_of[k] = i;
                }
            }
            ncols = n;
            continue;
        }
        if (n != ncols) {
            fprintf(stderr, "%s:%ld: %d fields, the header has %d\n", path, lineno, n, ncols);
            (*bad)++;
            continue;
        }
        json_t *c = json_pack("{s:I}", "line", (json_int_t)lineno);
        const char *mn = col_of[0] >= 0 ? f[col_of[0]] : "";
        if (*mn) {
            json_object_set_new(c, "my_number", json_string(mn));
        } else {
            for (int k = 1; k < NCOLS; k++)
                if (col_of[k] >= 0 && *f[col_of[k]])
                    json_object_set_new(c, columns[k], json_string(f[col_of[k]]));
        }
        json_t *q = json_deep_copy(c);
        json_object_del(q, "line");
        char where[64];
        snprintf(where, sizeof where, "line %ld", lineno);
        jk_err_t why;
        if (jk_operations_check_query(q, where, 1, &why)) {
            fprintf(stderr, "%s:%ld: %s\n", path, lineno, why.msg);
            (*bad)++;
            json_decref(c);
        } else {
            json_array_append_new(conds, c);
        }
        json_decref(q);
    }
    free(copy);
    if (*bad == 0 && json_array_size(conds) == 0) {
        fprintf(stderr, "%s: no conditions\n", path);
        (*bad)++;
    }
    if (*bad) {
        json_decref(conds);
        return NULL;
    }
    return conds;
}

/* Appends one CSV field, quoted when it must be. */
static void csv_field(FILE *out, const char *s, int first)
{
    if (!first) fputc(',', out);
    if (!s) return;
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

/* The result CSV of an opened bulk answer; malloc'd. */
static char *result_csv(const json_t *answer, size_t *len)
{
    static const char *const fields[] = {
        "resident_code", "my_number", "name",   "name_kana",      "birth_date",
        "sex",           "address",   "status", "effective_date", "municipality_code"};
    char *buf = NULL;
    FILE *out = open_memstream(&buf, len);
    if (!out) return NULL;
    fputs("line,result", out);
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
        csv_field(out, fields[k], 0);
    fputc('\n', out);
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(answer, "results"), i, r)
    {
        fprintf(out, "%lld", (long long)json_integer_value(json_object_get(r, "line")));
        csv_field(out, json_string_value(json_object_get(r, "result")), 0);
        json_t *rec = json_object_get(r, "record");
        for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
            csv_field(out, json_string_value(json_object_get(rec, fields[k])), 0);
        fputc('\n', out);
    }
    fclose(out);
    return buf;
}

int cmd_provide(int argc, char **argv)
{
    static const struct option opts[] = {
        {"bulk", required_argument, NULL, 'B'},
        {"operator", required_argument, NULL, 'o'},
        {"purpose", required_argument, NULL, 'p'},
        {"out", required_argument, NULL, 'O'},
        {"passphrase-file", required_argument, NULL, 'P'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "provide";
    jk_config_t cfg;
    jk_err_t err;
    if (jk_terminal_config(&cfg, &err)) return jk_cli_fail(cmd, &err);
    const char *file = NULL, *op = NULL, *purpose = NULL, *out = NULL, *passfile = NULL;
    int timeout_s = 300, c, rc = JK_EXIT_ERROR;
    char *buf = NULL, *pass = NULL, *csv = NULL;
    size_t len = 0, passlen = 0, csvlen = 0;
    unsigned char *enc = NULL;
    jk_terminal_t *t = NULL;
    json_t *answer = NULL;
    jk_answer_t a = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:h", opts, NULL)) != -1) {
        switch (c) {
        case 'B':
            file = optarg;
            break;
        case 'o':
            op = optarg;
            break;
        case 'p':
            purpose = optarg;
            break;
        case 'O':
            out = optarg;
            break;
        case 'P':
            passfile = optarg;
            break;
        case 't':
            timeout_s = atoi(optarg);
            break;
        default:
            if ((rc = jk_cli_option(c, argv, cmd, &cfg, usage_text)) != JK_CLI_NEXT) goto done;
        }
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto done;
    if (!file || !op || !purpose || !out || !passfile || timeout_s < 1) {
        rc = jk_cli_usage(cmd, "--bulk, --operator, --purpose, --out and --passphrase-file are "
                               "required");
        goto done;
    }
    if (access(out, F_OK) == 0) {
        jk_err_set(&err, "%s exists: not overwritten", out);
        goto fail;
    }
    if (jk_pass_read_file(passfile, &pass, &passlen, &err) ||
        jk_file_read(file, (unsigned char **)&buf, &len, &err))
        goto fail;
    int bad = 0;
    json_t *conds = read_conditions(file, buf, len, &bad, &err);
    if (!conds) {
        if (!bad) goto fail;
        fprintf(stderr, "jukilog provide: %d bad line(s) in %s: nothing sent\n", bad, file);
        rc = JK_EXIT_REJECTED;
        goto done;
    }
    char sha[65];
    jk_sha256_hex(buf, len, sha);
    size_t count = json_array_size(conds);
    json_t *data =
        json_pack("{s:s, s:s, s:s, s:I, s:o}", "operator", op, "purpose", purpose,
                  "conditions_sha256", sha, "count", (json_int_t)count, "conditions", conds);
    t = jk_terminal_open(&cfg, op, 0, &err);
    if (!t) {
        json_decref(data);
        goto fail;
    }
    char id[33];
    int got = jk_terminal_ask(t, "request.bulk", data, timeout_s * 1000, id, &a, &err);
    if (got < 0) goto fail;
    if (got == 0) {
        jk_err_set(&err,
                   "no answer to request %s within %d s: is `jukilog provider` running? The "
                   "request stays on the log and is answered when it runs",
                   id, timeout_s);
        goto fail;
    }
    if (strncmp(a.type, "refusal.", 8) == 0) {
        rc = jk_terminal_report(t, &a, 0, NULL, cmd);
        goto done;
    }
    answer = jk_terminal_open_answer(t, &a, &err);
    csv = answer ? result_csv(answer, &csvlen) : NULL;
    if (answer && !csv) jk_err_set(&err, "out of memory");
    size_t enclen = 0;
    if (!csv || jk_pass_encrypt(pass, passlen, csv, csvlen, &enc, &enclen, &err) ||
        jk_file_write_new(out, enc, enclen, &err))
        goto fail;
    printf("{\"request_id\":\"%s\",\"conditions\":%zu,\"matched\":%lld,\"unmatched\":%lld,"
           "\"out\":\"%s\"}\n",
           id, count, (long long)json_integer_value(json_object_get(a.data, "matched")),
           (long long)json_integer_value(json_object_get(a.data, "unmatched")), out);
    rc = JK_EXIT_OK;
    goto done;
fail:
    rc = jk_cli_fail(cmd, &err);
done:
    json_decref(answer);
    json_decref(a.data);
    jk_terminal_close(t);
    if (csv) jk_pass_free(csv, csvlen);
    free(enc);
    free(buf);
    jk_pass_free(pass, passlen);
    jk_config_free(&cfg);
    return rc;
}
