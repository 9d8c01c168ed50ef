/* pg.c: connecting to the tenant's PostgreSQL cluster and running embedded SQL scripts. */
#include "jukilog/pg.h"

#include <stdlib.h>
#include <string.h>

static void first_line(char *s)
{
    char *nl = strchr(s, '\n');
    if (nl) *nl = '\0';
}

PGconn *jk_pg_connect(const jk_config_t *cfg, jk_err_t *err)
{
    PGconn *db = PQconnectdb(cfg->pg);
    if (PQstatus(db) != CONNECTION_OK) {
        jk_err_set(err, "cannot connect to PostgreSQL (%s): %s", cfg->pg, PQerrorMessage(db));
        first_line(err->msg);
        PQfinish(db);
        return NULL;
    }
    /* Quiet NOTICEs such as "schema already exists, skipping". */
    PGresult *r = PQexec(db, "SET client_min_messages = warning");
    PQclear(r);
    return db;
}

static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t nf = strlen(from), nt = strlen(to), count = 0;
    for (const char *p = strstr(s, from); p; p = strstr(p + nf, from)) count++;
    char *out = malloc(strlen(s) + count * (nt > nf ? nt - nf : 0) + 1);
    if (!out) return NULL;
    char *o = out;
    for (const char *p = s;;) {
        const char *q = strstr(p, from);
        if (!q) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, to, nt);
        o += nt;
        p = q + nf;
    }
    return out;
}

int jk_pg_exec(PGconn *db, const char *sql, jk_err_t *err)
{
    PGresult *r = PQexec(db, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        jk_err_set(err, "PostgreSQL: %s", PQresultErrorMessage(r));
        first_line(err->msg);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

int jk_pg_script(PGconn *db, const char *sql, const char *schema, jk_err_t *err)
{
    char *text = replace_all(sql, "@SCHEMA@", schema);
    if (!text) return jk_err_set(err, "out of memory");
    int rc = jk_pg_exec(db, text, err);
    free(text);
    return rc;
}
