/* identity_export.c: `jukilog identity export`, the projector's identity file printed in the
 * replay's format, now or as of a broker time (from the history's valid_from / valid_to), so
 * that the database and the log can be compared line by line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/cli.h"
#include "jukilog/identity_event.h"
#include "jukilog/pg.h"

static int export(const jk_config_t *cfg, const char *asof, FILE *out, jk_err_t *err)
{
    PGconn *db = jk_pg_connect(cfg, err);
    if (!db) return -1;
    char schema[64], sql[1024];
    jk_config_schema(cfg, schema, sizeof schema);
    const char *cols = "my_number, name, name_kana, birth_date, sex, address, municipality_code, "
                       "status, reason, effective_date, version";
    if (asof)
        snprintf(sql, sizeof sql,
                 "SELECT version_code, %s FROM %s.history_v WHERE valid_from <= $1::timestamptz "
                 "AND (valid_to IS NULL OR valid_to > $1::timestamptz) ORDER BY version_code",
                 cols, schema);
    else
        snprintf(sql, sizeof sql,
                 "SELECT resident_code, %s FROM %s.identity ORDER BY resident_code", cols, schema);
    /* A cursor keeps memory flat however large the file. */
    int rc = jk_pg_exec(db, "BEGIN", err);
    if (rc == 0) {
        char decl[1200];
        snprintf(decl, sizeof decl, "DECLARE persons NO SCROLL CURSOR FOR %s", sql);
        const char *params[1] = {asof};
        PGresult *r = PQexecParams(db, decl, asof ? 1 : 0, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = jk_err_set(err, "reading the identity file: %s", PQresultErrorMessage(r));
            err->msg[strcspn(err->msg, "\n")] = '\0';
        }
        PQclear(r);
    }
    while (rc == 0) {
        PGresult *r = PQexec(db, "FETCH 10000 FROM persons");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = jk_err_set(err, "reading the identity file: %s", PQresultErrorMessage(r));
            PQclear(r);
            break;
        }
        int n = PQntuples(r);
        for (int i = 0; i < n && rc == 0; i++) {
            jk_person_t p;
            memset(&p, 0, sizeof p);
            snprintf(p.resident_code, sizeof p.resident_code, "%s", PQgetvalue(r, i, 0));
            snprintf(p.my_number, sizeof p.my_number, "%s", PQgetvalue(r, i, 1));
            p.name = PQgetvalue(r, i, 2);
            p.name_kana = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3);
            snprintf(p.birth_date, sizeof p.birth_date, "%s", PQgetvalue(r, i, 4));
            snprintf(p.sex, sizeof p.sex, "%s", PQgetvalue(r, i, 5));
            p.address = PQgetvalue(r, i, 6);
            snprintf(p.municipality_code, sizeof p.municipality_code, "%s", PQgetvalue(r, i, 7));
            p.status = strcmp(PQgetvalue(r, i, 8), "resident") == 0 ? JK_RESIDENT : JK_REMOVED;
            snprintf(p.reason, sizeof p.reason, "%s", PQgetvalue(r, i, 9));
            snprintf(p.effective_date, sizeof p.effective_date, "%s", PQgetvalue(r, i, 10));
            p.version = atoll(PQgetvalue(r, i, 11));
            if (jk_person_print(out, &p)) rc = jk_err_set(err, "cannot write the output");
        }
        PQclear(r);
        if (n == 0) break;
    }
    if (rc == 0) rc = jk_pg_exec(db, "COMMIT", err);
    PQfinish(db);
    return rc;
}

static int identity_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"as-of", required_argument, NULL, 'a'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "identity export", *outpath = NULL;
    char asof[JK_TIME_LEN] = "";
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    int c, rc = JK_EXIT_ERROR;
    optind = 1;
    while ((c = getopt_long(argc, argv, "a:o:h", opts, NULL)) != -1) {
        if (c == 'a') {
            int64_t ms;
            if (jk_time_parse(optarg, &ms)) {
                rc = jk_cli_usage(cmd, "--as-of \"%s\" is not an RFC 3339 time", optarg);
                goto out;
            }
            jk_time_format(ms, asof);
        } else if (c == 'o') {
            outpath = optarg;
        } else if (c == 'h') {
            printf(
                "usage: jukilog identity export [--as-of TIME] [--out FILE]\n"
                "\n"
                "Prints the projector's identity file from PostgreSQL in the format of `jukilog\n"
                "replay`: now, or as it stood at broker time TIME (from the history's valid_from\n"
                "and valid_to). One JSON line per person, sorted by resident_code.\n");
            rc = JK_EXIT_OK;
            goto out;
        } else {
            rc = jk_cli_usage(cmd, "unknown option");
            goto out;
        }
    }
    if (optind != argc) {
        rc = jk_cli_usage(cmd, "unexpected argument \"%s\"", argv[optind]);
        goto out;
    }
    FILE *out = outpath ? fopen(outpath, "w") : stdout;
    if (!out) {
        jk_err_set(&err, "cannot write %s", outpath);
        rc = jk_cli_fail(cmd, &err);
        goto out;
    }
    rc = export(&cfg, asof[0] ? asof : NULL, out, &err) ? jk_cli_fail(cmd, &err) : JK_EXIT_OK;
    if (out != stdout && fclose(out) != 0 && rc == JK_EXIT_OK) {
        jk_err_set(&err, "cannot write %s", outpath);
        rc = jk_cli_fail(cmd, &err);
    }
out:
    jk_config_free(&cfg);
    return rc;
}

int cmd_identity(int argc, char **argv)
{
    static const jk_subcommand_t subs[] = {
        {"export", identity_export, "print the identity file (now or as of a time) as JSON Lines"},
    };
    return jk_cli_dispatch("identity", argc, argv, subs, sizeof subs / sizeof subs[0]);
}
