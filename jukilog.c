/* jukilog.c: the front program. A table from sub-command name to cmd_<name>(argc, argv), like
 * git; each sub-command lives in the folder of its role (producers/, consumers/), and the shared
 * work in the libraries below them. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "jukilog/cli.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

/* One command a line, however long its summary. */
/* clang-format off */
static const struct command commands[] = {
    {"admin", cmd_admin, "set up a prefecture's tenant: admin key, topics, schema"},
    {"cs", cmd_cs, "municipal Communication Server: enroll its key"},
    {"gen", cmd_gen, "write a synthetic prefecture's change records"},
    {"projector", cmd_projector, "build the identity file in PostgreSQL from the identity topic"},
    {"relay", cmd_relay, "forward every accepted change to the national server"},
    {"national", cmd_national, "the national server's projection of every prefecture's notices"},
    {"replay", cmd_replay, "the identity file as of a broker time, straight from the log"},
    {"identity", cmd_identity, "export the identity file from PostgreSQL, now or as of a time"},
    {"verify", cmd_verify, "check every signature and every source's chain on the log"},
    {"journal", cmd_journal, "append events as a source, send its spool, read or check events"},
    {"operator", cmd_operator, "register and revoke operators; who could do what, when"},
    {"provider", cmd_provider, "answer every inquiry, disclosure and bulk request on the log"},
    {"inquire", cmd_inquire, "an operator's inquiry: request on the log, answer decrypted"},
    {"disclose", cmd_disclose, "a resident's record, history and who received it (開示)"},
    {"provide", cmd_provide, "bulk provision (一括提供): a file of conditions, an encrypted result"},
    {"decrypt", cmd_decrypt, "open a passphrase-protected result (JKENC1) with its passphrase"},
    {"auditor", cmd_auditor, "build the audit views in PostgreSQL from the operations topic"},
    {"audit", cmd_audit, "audit views: access, yearly stats, flags; the out-of-purpose sample"},
    {"consistency", cmd_consistency,
     "consistency check with each municipality: submit, answer, report"},
};
/* clang-format on */

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: jukilog <command> [options]\n"
        "\n"
        "jukilog is the prefecture server of the resident registry network as an event-sourced\n"
        "system: every change and every use is a signed event on Kafka.\n"
        "\n"
        "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(
        out,
        "\n"
        "Every command takes --help. Environment: JUKILOG_BROKERS (127.0.0.1:9092), JUKILOG_PG\n"
        "(the local cluster), JUKILOG_HOME (./var), JUKILOG_PREFECTURE (35), JUKILOG_NAMESPACE "
        "(jk).\n"
        "Exit status: 0 success, 1 some input rejected (and reported), 2 usage or system error.\n");
}

int main(int argc, char **argv)
{
    /* Commands report a bad option themselves, in one line that names the command. */
    opterr = 0;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        (strcmp(argv[1], "help") == 0 && argc == 2)) {
        usage(stdout);
        return argc < 2 ? JK_EXIT_ERROR : JK_EXIT_OK;
    }
    const char *name = argv[1];
    char *help_argv[] = {argv[0], argv[2], "--help", NULL};
    if (strcmp(name, "help") == 0) {
        /* `jukilog help <cmd>` is `jukilog <cmd> --help` */
        name = argv[2];
        argc = 3;
        argv = help_argv;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "jukilog: '%s' is not a command (see jukilog --help)\n", name);
    return JK_EXIT_ERROR;
}
