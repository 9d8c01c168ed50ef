/* cs.c: `jukilog cs`, the municipal Communication Server's side of the prefecture server.
 *
 * enroll: gives a municipality's CS a key pair and registers its public key on the admin topic,
 * so that its change events can be verified by every consumer from then on. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "jukilog/admin.h"
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
        } else if (c == 'X') {
            if (jk_config_kafka_set(&cfg, optarg, &err)) {
                rc = jk_cli_fail(cmd, &err);
                goto out;
            }
        } else if (c == 'h') {
            printf("usage: jukilog cs enroll --municipality CODE [-X key=value]...\n"
                   "\n"
                   "Creates the key pair of the municipality's CS in $JUKILOG_HOME/keys/cs_CODE.pem\n"
                   "(kept if it exists) and registers its public key on the admin topic, signed by\n"
                   "the admin key. CODE is the 6-digit municipality code with its check digit, of\n"
                   "the prefecture JUKILOG_PREFECTURE. Enrolling again changes nothing.\n");
            rc = JK_EXIT_OK;
            goto out;
        } else {
            rc = jk_cli_usage(cmd, "unknown option");
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

int cmd_cs(int argc, char **argv)
{
    static const jk_subcommand_t subs[] = {
        {"enroll", cs_enroll, "create and register the key of a municipality's CS"},
    };
    return jk_cli_dispatch("cs", argc, argv, subs, sizeof subs / sizeof subs[0]);
}
