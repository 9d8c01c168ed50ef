/* cli.h: what every sub-command shares: exit codes, the one-line error report, -X handling,
 * loading a source's key with an error that says how to get one, and the sub-command table. */
#ifndef JUKILOG_CLI_H
#define JUKILOG_CLI_H

#include <openssl/evp.h>

#include "jukilog/config.h"
#include "jukilog/err.h"

enum { JK_EXIT_OK = 0, JK_EXIT_REJECTED = 1, JK_EXIT_ERROR = 2 };

/* Prints "jukilog <cmd>: <err>" on stderr and returns JK_EXIT_ERROR. */
int jk_cli_fail(const char *cmd, const jk_err_t *err);
/* Prints "jukilog <cmd>: <message>" and a hint to use --help; returns JK_EXIT_ERROR. */
int jk_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The options every command shares, given getopt's result c: -X key=value (added to cfg),
 * -h/--help (prints help on stdout), and any other (a usage error naming the option; the front
 * program turns getopt's own messages off). Returns JK_CLI_NEXT when
 * parsing goes on (c was -X, or is the caller's own), otherwise the exit status to return. */
#define JK_CLI_NEXT (-1)
int jk_cli_option(int c, char **argv, const char *cmd, jk_config_t *cfg, const char *help);
/* JK_CLI_NEXT when no argument is left after the options (optind == argc), else a usage error. */
int jk_cli_no_operands(const char *cmd, int argc, char **argv);
/* --batch N of a consumer: JK_CLI_NEXT with *batch set when arg is 1..1000000, else a usage
 * error. */
int jk_cli_batch(const char *cmd, const char *arg, long *batch);

/* Loads the private key of source from $JUKILOG_HOME/keys/<source file>.pem. */
EVP_PKEY *jk_cli_source_key(const jk_config_t *cfg, const char *source, jk_err_t *err);
/* The path of that key file. */
int jk_cli_key_path(const jk_config_t *cfg, const char *source, char *out, size_t n);

/* A command made of sub-commands ("admin init", "cs enroll"): argv[1] names the sub-command,
 * which gets argc-1, argv+1. Without one, or with --help, it lists them. */
typedef struct jk_subcommand {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} jk_subcommand_t;
int jk_cli_dispatch(const char *cmd, int argc, char **argv, const jk_subcommand_t *subs, size_t n);

/* Sub-commands: cmd_<name>(argc, argv) with argv[0] the sub-command's name. */
int cmd_admin(int argc, char **argv);
int cmd_cs(int argc, char **argv);
int cmd_journal(int argc, char **argv);
int cmd_journal_read(int argc, char **argv);
int cmd_journal_check(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_projector(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_relay(int argc, char **argv);
int cmd_provider(int argc, char **argv);
int cmd_inquire(int argc, char **argv);
int cmd_disclose(int argc, char **argv);
int cmd_provide(int argc, char **argv);
int cmd_national(int argc, char **argv);
int cmd_operator(int argc, char **argv);
int cmd_decrypt(int argc, char **argv);
int cmd_identity(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_auditor(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_consistency(int argc, char **argv);
int cmd_consistency_submit(int argc, char **argv);
int cmd_consistency_report(int argc, char **argv);

#endif
