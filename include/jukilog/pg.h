/* pg.h: PostgreSQL access shared by every consumer: connecting to the tenant's cluster and
 * running the SQL files that the owning modules keep beside their code. */
#ifndef JUKILOG_PG_H
#define JUKILOG_PG_H

#include <stdint.h>
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

/* Rows for COPY ... FROM STDIN in text format, built in memory and sent in one go. */
typedef struct jk_copy {
    char *buf;
    size_t len, cap;
    size_t rows;
    int at_row_start;
    int oom;
} jk_copy_t;

/* One field: text (escaped), NULL as \N. */
void jk_copy_text(jk_copy_t *cp, const char *s);
void jk_copy_int(jk_copy_t *cp, long long v);
/* A broker time in ms as a timestamptz literal. */
void jk_copy_time(jk_copy_t *cp, int64_t ms);
void jk_copy_end_row(jk_copy_t *cp);
/* Sends the rows with `copy_sql` ("COPY t (a, b) FROM STDIN") and empties cp. */
int jk_pg_copy(PGconn *db, const char *copy_sql, jk_copy_t *cp, jk_err_t *err);
void jk_copy_free(jk_copy_t *cp);

/* A text[] literal ('{"a","b"}') of n strings for = ANY($1); malloc'd. */
char *jk_pg_array(const char *const *items, size_t n);

#endif
