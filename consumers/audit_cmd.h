/* audit_cmd.h: what the `jukilog audit` sub-commands share (consumers/audit.c, audit_sample.c):
 * the views' connection, recording each read on the log as an auditor's operation before
 * anything is shown, and printing rows as text, CSV or JSON Lines. Private to consumers/. */
#ifndef JUKILOG_AUDIT_CMD_H
#define JUKILOG_AUDIT_CMD_H

#include <stdio.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "jukilog/config.h"
#include "jukilog/err.h"

typedef enum { AUDIT_TEXT, AUDIT_CSV, AUDIT_JSON } audit_format_t;

typedef struct audit_ctx {
    jk_config_t cfg;
    char schema[64];
    PGconn *db;
    const char *actor; /* --as-operator, else $USER, else "unknown" */
} audit_ctx_t;

/* The actor recorded with each operation. */
const char *audit_actor(const char *as_operator);

/* --fiscal-year Y: a year the prefecture could have reported (NULL is not one). Returns
 * JK_CLI_NEXT with *fy set, or the usage error's exit status. */
int audit_fiscal_year_arg(const char *cmd, const char *s, int *fy);

/* Connects to the tenant's views; fails with a hint when `jukilog auditor` never ran. */
int audit_connect(audit_ctx_t *ctx, jk_err_t *err);
void audit_close(audit_ctx_t *ctx);

/* Appends an auditor's operation (type "audit.*") to the operations topic, signed by the
 * auditor:<pref> key, with "actor" added to data (taken), and waits for the broker's
 * confirmation. id_out (may be NULL) receives the event id. */
int audit_append(audit_ctx_t *ctx, const char *type, const char *subject, json_t *data,
                 char id_out[33], jk_err_t *err);

/* Runs a query that returns rows; NULL with err set on failure. */
PGresult *audit_query(audit_ctx_t *ctx, const char *sql, int nparams, const char *const *params,
                      jk_err_t *err);

/* Prints the rows of r with a header: tab-separated text, CSV, or one JSON object per row
 * (integers and booleans typed, json columns embedded, NULL as null). */
void audit_print(FILE *out, const PGresult *r, audit_format_t fmt);

/* One CSV field, quoted when it holds a comma, quote or line break. */
void audit_csv_field(FILE *out, const char *s);

int audit_sample(int argc, char **argv);
int audit_review(int argc, char **argv);
int audit_sample_status(int argc, char **argv);

#endif
