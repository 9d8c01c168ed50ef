/* pg.h: PostgreSQL access shared by every consumer: connecting to the tenant's cluster and
 * running the SQL files that the owning modules keep beside their code. */
#ifndef JUKILOG_PG_H
#define JUKILOG_PG_H

#include <libpq-fe.h>

#include "jukilog/config.h"
#include "jukilog/err.h"

/* SQL files compiled into the binary (see ops/cmake/embed.cmake). */
extern const char jk_sql_journal[];

/* Connects with cfg->pg; the error carries libpq's first line. */
PGconn *jk_pg_connect(const jk_config_t *cfg, jk_err_t *err);

/* Runs a script of several statements after replacing every @SCHEMA@ with schema. */
int jk_pg_script(PGconn *db, const char *sql, const char *schema, jk_err_t *err);

/* Runs one statement that returns no rows. */
int jk_pg_exec(PGconn *db, const char *sql, jk_err_t *err);

#endif
