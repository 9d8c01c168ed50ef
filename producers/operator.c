/* operator.c: `jukilog operator`, the prefecture's registry of the staff who may use the
 * identity file (DOMAIN.md "Controls": least privilege, registration and revocation recorded).
 *
 * add:    an operator's key pair for signing requests and one for receiving answers, then
 *         operator.registered and purpose.granted on the admin topic, signed by the admin key;
 * revoke: operator.revoked;
 * list:   who could do what at a broker time, as a projection of the admin topic
 *         (projections/operators.c): the same one the provider asks before answering. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jukilog/cli.h"
#include "jukilog/consumer.h"
#include "jukilog/keys.h"
#include "jukilog/operators.h"
#include "jukilog/producer.h"
#include "jukilog/purposes.h"

/* The registry as of now (and every earlier time), read from the admin topic. */
static jk_operators_t *read_registry(const jk_config_t *cfg, jk_err_t *err)
{
    static const char *const admin[] = {"admin"};
    jk_consumer_t *c = jk_consumer_open_topics(cfg, admin, 1, err);
    jk_operators_t *ops = c ? jk_operators_new() : NULL;
    if (c && !ops) jk_err_set(err, "out of memory");
    char source[32];
    jk_config_admin_source(cfg, source, sizeof source);
    jk_batch_t b = {0};
    while (ops && !jk_consumer_caught_up(c)) {
        if (jk_consumer_poll(c, &b, 1000, 500, err)) {
            jk_operators_free(ops);
            ops = NULL;
            break;
        }
        for (size_t i = 0; i < b.n; i++) {
            const jk_record_t *r = &b.recs[i];
            /* Only the admin's own events speak for the registry; a refused one changes nothing. */
            if (r->status != JK_REC_OK || strcmp(r->ev->source, source) != 0) continue;
            jk_err_t why;
            jk_operators_apply(ops, r->ev, r->broker_ms, &why);
        }
    }
    jk_batch_free(&b);
    jk_consumer_close(c);
    return ops;
}

/* Appends events (type, data) as the prefecture's admin. Takes the data objects. */
static int admin_append(const jk_config_t *cfg, size_t n, const char *const *types, json_t **data,
                        const char *subject, jk_err_t *err)
{
    char source[32], topic[128];
    jk_config_admin_source(cfg, source, sizeof source);
    jk_config_topic(cfg, "admin", topic, sizeof topic);
    EVP_PKEY *key = jk_cli_source_key(cfg, source, err);
    jk_producer_t *p = key ? jk_producer_open(cfg, source, key, err) : NULL;
    int rc = p ? 0 : -1;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = jk_producer_append(p, topic, NULL, types[i], subject, data[i], NULL, err);
        else
            json_decref(data[i]);
    }
    if (rc == 0) rc = jk_producer_flush(p, err);
    jk_producer_close(p);
    EVP_PKEY_free(key);
    return rc;
}

static int valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > 32) return 0;
    for (const char *c = id; *c; c++)
        if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_' || *c == '.' ||
              *c == '-'))
            return 0;
    return 1;
}

/* The operator's key (kind "signing" Ed25519, or "encryption" X25519), made if missing; its
 * public half in base64. */
static char *operator_key(const jk_config_t *cfg, const char *id, const char *kind, jk_err_t *err)
{
    char path[PATH_MAX];
    if (jk_config_path(cfg, path, sizeof path, "keys/operators/%s/%s.pem", id, kind)) {
        jk_err_set(err, "JUKILOG_HOME path too long");
        return NULL;
    }
    int enc = strcmp(kind, "encryption") == 0;
    struct stat sb;
    int fresh = stat(path, &sb) != 0;
    EVP_PKEY *key = fresh ? (enc ? jk_key_generate_x25519(err) : jk_key_generate(err))
                          : (enc ? jk_key_load_x25519(path, err) : jk_key_load(path, err));
    char *b64 = NULL;
    if (key && (!fresh || jk_key_save(key, path, err) == 0)) b64 = jk_key_public_b64(key, err);
    EVP_PKEY_free(key);
    return b64;
}

static const char add_help[] =
    "usage: jukilog operator add --id ID --department DEPT --role staff|bulk|admin\n"
    "                            --purposes CODE,... [-X key=value]...\n"
    "\n"
    "Registers an operator: creates their signing key (Ed25519) and encryption key (X25519)\n"
    "under $JUKILOG_HOME/keys/operators/ID/, and appends operator.registered and\n"
    "purpose.granted to the admin topic, signed by the admin key. DEPT and every purpose\n"
    "must be in the purpose catalogue (ops/purposes.json, or the file named by\n"
    "JUKILOG_PURPOSES), and the department must be one that may cite each purpose. An\n"
    "operator who is registered now must be revoked before being registered again.\n"
    "Roles: staff (inquiries), bulk (also bulk provision), admin (everything).\n";

static int operator_add(int argc, char **argv)
{
    static const struct option opts[] = {
        {"id", required_argument, NULL, 'i'},   {"department", required_argument, NULL, 'd'},
        {"role", required_argument, NULL, 'r'}, {"purposes", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *cmd = "operator add", *id = NULL, *dept = NULL, *role = NULL, *purposes = NULL;
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    int c, rc = JK_EXIT_ERROR;
    jk_catalogue_t *cat = NULL;
    jk_operators_t *ops = NULL;
    char *list = NULL;
    const char **codes = NULL;
    size_t ncodes = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:i:d:r:p:h", opts, NULL)) != -1) {
        if (c == 'i')
            id = optarg;
        else if (c == 'd')
            dept = optarg;
        else if (c == 'r')
            role = optarg;
        else if (c == 'p')
            purposes = optarg;
        else if ((rc = jk_cli_option(c, argv, cmd, &cfg, add_help)) != JK_CLI_NEXT)
            goto out;
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    if (!id || !dept || !role || !purposes) {
        rc = jk_cli_usage(cmd, "--id, --department, --role and --purposes are required");
        goto out;
    }
    if (!valid_id(id)) {
        rc = jk_cli_usage(cmd, "--id \"%s\" must be 1-32 of a-z 0-9 _ . -", id);
        goto out;
    }
    if (strcmp(role, "staff") && strcmp(role, "bulk") && strcmp(role, "admin")) {
        rc = jk_cli_usage(cmd, "--role must be staff, bulk or admin, not \"%s\"", role);
        goto out;
    }
    cat = jk_catalogue_default(&err);
    if (!cat) goto fail;
    if (!jk_catalogue_department_exists(cat, dept)) {
        jk_err_set(&err, "department \"%s\" is not in the purpose catalogue", dept);
        goto fail;
    }
    list = strdup(purposes);
    codes = calloc(strlen(purposes) / 2 + 2, sizeof *codes);
    if (!list || !codes) {
        jk_err_set(&err, "out of memory");
        goto fail;
    }
    for (char *save = NULL, *code = strtok_r(list, ",", &save); code;
         code = strtok_r(NULL, ",", &save)) {
        if (!jk_catalogue_find(cat, code)) {
            jk_err_set(&err, "purpose \"%s\" is not in the purpose catalogue", code);
            goto fail;
        }
        if (!jk_catalogue_may_cite(cat, code, dept)) {
            jk_err_set(&err, "department %s may not cite purpose %s", dept, code);
            goto fail;
        }
        codes[ncodes++] = code;
    }
    if (ncodes == 0) {
        jk_err_set(&err, "--purposes names no purpose");
        goto fail;
    }
    ops = read_registry(&cfg, &err);
    if (!ops) goto fail;
    const char *refusal = NULL;
    jk_operator_view_t view;
    if (jk_operators_check(ops, id, JK_KEYREG_NOW, NULL, NULL, &view, &refusal) == 0) {
        jk_err_set(&err, "operator %s is registered already (revoke them first)", id);
        goto fail;
    }
    char *sig = operator_key(&cfg, id, "signing", &err);
    char *enc = sig ? operator_key(&cfg, id, "encryption", &err) : NULL;
    if (!enc) {
        free(sig);
        goto fail;
    }
    const char *types[2] = {"operator.registered", "purpose.granted"};
    json_t *data[2] = {
        jk_operators_registered_data(id, dept, role, sig, enc),
        jk_operators_granted_data(id, codes, ncodes),
    };
    free(sig);
    free(enc);
    json_incref(data[1]); /* for the line printed below */
    if (admin_append(&cfg, 2, types, data, id, &err)) {
        json_decref(data[1]);
        goto fail;
    }
    json_t *line =
        json_pack("{s:s, s:s, s:s, s:s, s:O}", "operator", id, "status", "registered", "department",
                  dept, "role", role, "purposes", json_object_get(data[1], "purposes"));
    char *out = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    puts(out ? out : "");
    free(out);
    json_decref(line);
    json_decref(data[1]);
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    free(list);
    free(codes);
    jk_operators_free(ops);
    jk_catalogue_free(cat);
    jk_config_free(&cfg);
    return rc;
}

static const char revoke_help[] =
    "usage: jukilog operator revoke --id ID [--reason TEXT] [-X key=value]...\n"
    "\n"
    "Revokes a registered operator: appends operator.revoked to the admin topic, signed by the\n"
    "admin key. Every request of theirs appended after it is refused, also when the log is\n"
    "replayed later; requests appended before it stand.\n";

static int operator_revoke(int argc, char **argv)
{
    static const struct option opts[] = {
        {"id", required_argument, NULL, 'i'},
        {"reason", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "operator revoke", *id = NULL, *reason = "revoked by the administrator";
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    int c, rc = JK_EXIT_ERROR;
    jk_operators_t *ops = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:i:r:h", opts, NULL)) != -1) {
        if (c == 'i')
            id = optarg;
        else if (c == 'r')
            reason = optarg;
        else if ((rc = jk_cli_option(c, argv, cmd, &cfg, revoke_help)) != JK_CLI_NEXT)
            goto out;
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    if (!id) {
        rc = jk_cli_usage(cmd, "--id is required");
        goto out;
    }
    ops = read_registry(&cfg, &err);
    if (!ops) goto fail;
    const char *refusal = NULL;
    jk_operator_view_t view;
    if (jk_operators_check(ops, id, JK_KEYREG_NOW, NULL, NULL, &view, &refusal) != 0) {
        jk_err_set(&err, "operator %s is not registered now (%s)", id, refusal);
        goto fail;
    }
    const char *types[1] = {"operator.revoked"};
    json_t *data[1] = {jk_operators_revoked_data(id, reason)};
    if (admin_append(&cfg, 1, types, data, id, &err)) goto fail;
    printf("{\"operator\":\"%s\",\"status\":\"revoked\"}\n", id);
    rc = JK_EXIT_OK;
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    jk_operators_free(ops);
    jk_config_free(&cfg);
    return rc;
}

static int print_operator(const jk_operator_view_t *op, void *ctx)
{
    (void)ctx;
    char t[JK_TIME_LEN];
    jk_time_format(op->registered_ms, t);
    json_t *purposes = json_array();
    for (size_t i = 0; i < op->n_purposes; i++)
        json_array_append_new(purposes, json_string(op->purposes[i]));
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:s}", "operator", op->id, "department",
                          op->department, "role", op->role, "purposes", purposes, "registered", t);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (s) puts(s);
    free(s);
    json_decref(o);
    return 0;
}

static const char list_help[] =
    "usage: jukilog operator list [--as-of TIME] [-X key=value]...\n"
    "\n"
    "Prints the operators registered at broker time TIME (RFC 3339; default: now), one JSON\n"
    "line each, sorted by id: operator, department, role, purposes, registered (broker time).\n"
    "The registry is a projection of the admin topic: who could do what, when.\n";

static int operator_list(int argc, char **argv)
{
    static const struct option opts[] = {
        {"as-of", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "operator list";
    int64_t asof = JK_KEYREG_NOW;
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    int c, rc = JK_EXIT_ERROR;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:a:h", opts, NULL)) != -1) {
        if (c == 'a') {
            if (jk_time_parse(optarg, &asof)) {
                rc = jk_cli_usage(cmd, "--as-of \"%s\" is not an RFC 3339 time", optarg);
                goto out;
            }
        } else if ((rc = jk_cli_option(c, argv, cmd, &cfg, list_help)) != JK_CLI_NEXT) {
            goto out;
        }
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    jk_operators_t *ops = read_registry(&cfg, &err);
    if (!ops) {
        rc = jk_cli_fail(cmd, &err);
        goto out;
    }
    jk_operators_foreach_as_of(ops, asof, print_operator, NULL);
    jk_operators_free(ops);
    rc = JK_EXIT_OK;
out:
    jk_config_free(&cfg);
    return rc;
}

int cmd_operator(int argc, char **argv)
{
    static const jk_subcommand_t subs[] = {
        {"add", operator_add, "register an operator: keys, department, role, purposes"},
        {"revoke", operator_revoke, "revoke an operator"},
        {"list", operator_list, "the operators registered at a broker time"},
    };
    return jk_cli_dispatch("operator", argc, argv, subs, sizeof subs / sizeof subs[0]);
}
