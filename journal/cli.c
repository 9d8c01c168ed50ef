/* cli.c: the shared surface of the sub-commands (see cli.h). */
#include "jukilog/cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jukilog/keys.h"

int jk_cli_fail(const char *cmd, const jk_err_t *err)
{
    fprintf(stderr, "jukilog %s: %s\n", cmd, err->msg);
    return JK_EXIT_ERROR;
}

int jk_cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "jukilog %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see jukilog %s --help)\n", cmd);
    return JK_EXIT_ERROR;
}

int jk_cli_batch(const char *cmd, const char *arg, long *batch)
{
    *batch = atol(arg);
    if (*batch < 1 || *batch > 1000000) return jk_cli_usage(cmd, "--batch must be 1..1000000");
    return JK_CLI_NEXT;
}

int jk_cli_option(int c, char **argv, const char *cmd, jk_config_t *cfg, const char *help)
{
    if (c == 'X') {
        jk_err_t err;
        return jk_config_kafka_set(cfg, optarg, &err) ? jk_cli_fail(cmd, &err) : JK_CLI_NEXT;
    }
    if (c == 'h') {
        fputs(help, stdout);
        return JK_EXIT_OK;
    }
    /* getopt leaves optind past the offending word */
    return jk_cli_usage(cmd, "unknown option, or one without its value: %s",
                        optind > 0 ? argv[optind - 1] : "?");
}

int jk_cli_no_operands(const char *cmd, int argc, char **argv)
{
    if (optind == argc) return JK_CLI_NEXT;
    return jk_cli_usage(cmd, "unexpected argument \"%s\"", argv[optind]);
}

int jk_cli_dispatch(const char *cmd, int argc, char **argv, const jk_subcommand_t *subs, size_t n)
{
    if (argc >= 2)
        for (size_t i = 0; i < n; i++)
            if (strcmp(argv[1], subs[i].name) == 0) return subs[i].fn(argc - 1, argv + 1);
    int help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    FILE *out = help ? stdout : stderr;
    if (argc >= 2 && !help)
        fprintf(stderr, "jukilog %s: '%s' is not a sub-command\n", cmd, argv[1]);
    fprintf(out, "usage: jukilog %s <sub-command> [options]\n\nsub-commands:\n", cmd);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %-10s %s\n", subs[i].name, subs[i].summary);
    fprintf(out, "\nEach takes --help.\n");
    return help ? JK_EXIT_OK : JK_EXIT_ERROR;
}

int jk_cli_key_path(const jk_config_t *cfg, const char *source, char *out, size_t n)
{
    /* The prefecture's admin key has one fixed place; every other source is named by file. */
    if (strncmp(source, "admin:", 6) == 0) return jk_config_path(cfg, out, n, "keys/admin.pem");
    char name[96];
    jk_config_source_file(source, name, sizeof name);
    return jk_config_path(cfg, out, n, "keys/%s.pem", name);
}

EVP_PKEY *jk_cli_source_key(const jk_config_t *cfg, const char *source, jk_err_t *err)
{
    char path[PATH_MAX];
    if (jk_cli_key_path(cfg, source, path, sizeof path)) {
        jk_err_set(err, "JUKILOG_HOME path too long");
        return NULL;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) {
        jk_err_set(err, "no key for %s: %s does not exist (%s)", source, path,
                   source[0] == 'a' ? "run `jukilog admin init` first"
                                    : "enroll the source first, e.g. `jukilog cs enroll`");
        return NULL;
    }
    return jk_key_load(path, err);
}
