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

/* Runs one statement that returns no rows, with text parameters (NULL for none). In pipeline
 * mode it is only queued, and jk_pg_pipeline_end reads its result. On a connection made by
 * jk_pg_connect, a statement with parameters is prepared once (named jk_s0, jk_s1, ...; see
 * pg.c) and afterwards only bound and run: sql must then be the same text each time, with the
 * values in params, never in the text. */
int jk_pg_run(PGconn *db, const char *sql, int n, const char *const *params, jk_err_t *err);

/* libpq's pipeline mode: statements queued between begin and end travel together and are
 * answered together, one round trip for all. end sends the sync, reads every result up to it
 * (the rows of statement i < n into keep[i] when keep is not NULL, for the caller to PQclear)
 * and leaves pipeline mode; it fails with the first statement's error (the server then skips
 * the rest, and every keep[i] is cleared). */
int jk_pg_pipeline_begin(PGconn *db, jk_err_t *err);
int jk_pg_pipeline_end(PGconn *db, int n, PGresult **keep, jk_err_t *err);
/* end in two halves, for work to overlap the server's: _send sends the sync and returns at once
 * (the connection stays in pipeline mode), _read waits for the results as end does. */
int jk_pg_pipeline_send(PGconn *db, jk_err_t *err);
int jk_pg_pipeline_read(PGconn *db, int n, PGresult **keep, jk_err_t *err);
/* A pipeline sent may be followed by more before its results are read, each part ending in its
 * own sync and answered in turn, so that two waits become one. _more says whether statements
 * may be queued now: db is in pipeline mode and no statement waits to be prepared (which only
 * happens outside pipeline mode, at the next begin). _read_sync reads the results up to the
 * next sync as _read does, but stays in pipeline mode. A part that fails does not stop the
 * next: the server skips statements only up to the sync. */
int jk_pg_pipeline_more(PGconn *db);
int jk_pg_pipeline_read_sync(PGconn *db, int n, PGresult **keep, jk_err_t *err);

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
/* Empties cp without sending it (the rows of a batch that is not written), keeping its memory. */
void jk_copy_clear(jk_copy_t *cp);
void jk_copy_free(jk_copy_t *cp);

/* Rows as one array literal per column, for a statement that takes a whole batch as
 * parameters in one round trip (INSERT ... SELECT ... FROM unnest($1::text[], $2::bigint[], ...)),
 * which also works where COPY cannot: in libpq's pipeline mode. Fields are added in order, as
 * with jk_copy_t; every row has the same number of fields. */
#define JK_ROWS_MAX_COLS 16
typedef struct jk_rows {
    jk_copy_t col[JK_ROWS_MAX_COLS]; /* the literal of each column so far, without its braces */
    int at;                          /* the column the next field goes to */
    int ncols;                       /* fields per row, known after the first row */
    size_t rows;
    int bad; /* out of memory, or rows of different lengths */
} jk_rows_t;

void jk_rows_text(jk_rows_t *rw, const char *s); /* NULL is SQL NULL */
void jk_rows_int(jk_rows_t *rw, long long v);
void jk_rows_time(jk_rows_t *rw, int64_t ms);
void jk_rows_end_row(jk_rows_t *rw);
/* The columns' array literals ("{...}"), into params[0..ncols-1]; valid until the next change.
 * Fails when a row was short or memory ran out. */
int jk_rows_params(jk_rows_t *rw, const char *params[JK_ROWS_MAX_COLS], jk_err_t *err);
/* Runs sql with the columns as $1..$ncols (nothing when there are no rows), as jk_pg_run does
 * (queued in pipeline mode), then forgets the rows. */
int jk_rows_run(PGconn *db, const char *sql, jk_rows_t *rw, jk_err_t *err);
/* Forgets the rows, keeping the memory. */
void jk_rows_clear(jk_rows_t *rw);
void jk_rows_free(jk_rows_t *rw);

/* The ids among ids[0..n) that stand in the event_id column of schema.table, as a set (keys
 * only), in one query: how an exactly-once consumer drops events it processed before (a
 * producer's resend after a restart). NULL on error. */
struct jk_strmap *jk_pg_ids_seen(PGconn *db, const char *schema, const char *table,
                                 const char *const *ids, size_t n, jk_err_t *err);

/* A text[] literal ('{"a","b"}') of n strings for = ANY($1); malloc'd. */
char *jk_pg_array(const char *const *items, size_t n);

#endif
