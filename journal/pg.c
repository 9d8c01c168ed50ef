/* pg.c: connecting to the tenant's PostgreSQL cluster and running embedded SQL scripts. */
#include "jukilog/pg.h"

#include "jukilog/strmap.h"
#include "jukilog/util.h"

#include <libpq-events.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void first_line(char *s)
{
    char *nl = strchr(s, '\n');
    if (nl) *nl = '\0';
}

/* "PostgreSQL<what>: <msg>", cut to libpq's first line; err may be NULL (a caller that only
 * cleans up). Returns -1. */
static int pg_error(jk_err_t *err, const char *what, const char *msg)
{
    if (err == NULL) return -1;
    jk_err_set(err, "PostgreSQL%s: %s", what, msg);
    first_line(err->msg);
    return -1;
}

/* The statements jk_pg_run has prepared on a connection, kept with the connection itself (libpq's
 * instance data, freed with it). A statement with parameters is parsed and planned once per
 * connection, not at every run: the first run outside pipeline mode prepares it; a run inside a
 * pipeline goes unnamed and leaves it to be prepared when the connection is next idle (at the
 * next jk_pg_pipeline_begin, or the next run outside a pipeline), so that a pipeline's results
 * stay one per statement. At most MAX_NAMED statements are kept; any more run unnamed. */
enum { MAX_NAMED = 128 };

struct statements {
    jk_strmap_t *named; /* sql -> its number + 1, as a pointer ("jk_s<number>") */
    int count;
    char *pending[MAX_NAMED]; /* run unnamed in a pipeline, to be prepared */
    int npending;
};

static int pg_event(PGEventId id, void *info, void *pass)
{
    (void)pass;
    if (id == PGEVT_REGISTER) {
        PGconn *db = ((PGEventRegister *)info)->conn;
        struct statements *st = calloc(1, sizeof *st);
        if (st && !(st->named = jk_strmap_new())) {
            free(st);
            st = NULL;
        }
        return st ? PQsetInstanceData(db, pg_event, st) : 0;
    }
    if (id != PGEVT_CONNRESET && id != PGEVT_CONNDESTROY) return 1;
    /* A reset connection is a new session: its prepared statements are gone. */
    PGconn *db = id == PGEVT_CONNRESET ? ((PGEventConnReset *)info)->conn
                                       : ((PGEventConnDestroy *)info)->conn;
    struct statements *st = PQinstanceData(db, pg_event);
    if (st == NULL) return 1;
    jk_strmap_clear(st->named);
    st->count = 0;
    for (int i = 0; i < st->npending; i++)
        free(st->pending[i]);
    st->npending = 0;
    if (id == PGEVT_CONNDESTROY) {
        jk_strmap_free(st->named);
        free(st);
    }
    return 1;
}

static void statement_name(int number, char name[16])
{
    snprintf(name, 16, "jk_s%d", number);
}

/* The name sql is prepared under on db, or NULL. */
static const char *prepared(PGconn *db, const char *sql, char name[16])
{
    struct statements *st = PQinstanceData(db, pg_event);
    void *v = st ? jk_strmap_get(st->named, sql) : NULL;
    if (v == NULL) return NULL;
    statement_name((int)((intptr_t)v - 1), name);
    return name;
}

/* Prepares sql on db (not in pipeline mode) into *name, or leaves *name NULL when no more are
 * kept. Fails with PostgreSQL's error, which is the statement's own: the same SQL, unnamed,
 * would be parsed the same way. */
static int prepare(PGconn *db, const char *sql, char buf[16], const char **name, jk_err_t *err)
{
    struct statements *st = PQinstanceData(db, pg_event);
    *name = NULL;
    if (st == NULL || st->count >= MAX_NAMED) return 0;
    statement_name(st->count, buf);
    PGresult *r = PQprepare(db, buf, sql, 0, NULL);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) pg_error(err, "", PQresultErrorMessage(r));
    PQclear(r);
    if (!ok) return -1;
    if (jk_strmap_put(st->named, sql, (void *)(intptr_t)(st->count + 1)) == 0) {
        st->count++;
        *name = buf;
    }
    return 0;
}

/* Remembers a statement run unnamed in a pipeline, to be prepared once the pipeline is over. */
static void prepare_later(PGconn *db, const char *sql)
{
    struct statements *st = PQinstanceData(db, pg_event);
    if (st == NULL || st->count + st->npending >= MAX_NAMED) return;
    for (int i = 0; i < st->npending; i++)
        if (strcmp(st->pending[i], sql) == 0) return;
    char *copy = strdup(sql);
    if (copy) st->pending[st->npending++] = copy;
}

/* Prepares what pipelines ran unnamed, when db is idle outside any transaction (a statement
 * that cannot be prepared then must not abort the caller's). Parameters' types come from the
 * SQL ($1::text[]) or are inferred, as for an unnamed run. */
static void prepare_pending(PGconn *db)
{
    struct statements *st = PQinstanceData(db, pg_event);
    if (st == NULL || st->npending == 0 || PQtransactionStatus(db) != PQTRANS_IDLE) return;
    char buf[16];
    const char *name;
    for (int i = 0; i < st->npending; i++) {
        if (jk_strmap_get(st->named, st->pending[i]) == NULL)
            prepare(db, st->pending[i], buf, &name, &(jk_err_t){""});
        free(st->pending[i]);
    }
    st->npending = 0;
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
    if (!PQregisterEventProc(db, pg_event, "jukilog statements", NULL)) {
        jk_err_set(err, "PostgreSQL: out of memory");
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
    for (const char *p = strstr(s, from); p; p = strstr(p + nf, from))
        count++;
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
        pg_error(err, "", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

int jk_pg_run(PGconn *db, const char *sql, int n, const char *const *params, jk_err_t *err)
{
    char buf[16];
    const char *name = n > 0 ? prepared(db, sql, buf) : NULL;
    if (PQpipelineStatus(db) != PQ_PIPELINE_OFF) {
        if (name == NULL && n > 0) prepare_later(db, sql);
        int sent = name ? PQsendQueryPrepared(db, name, n, params, NULL, NULL, 0)
                        : PQsendQueryParams(db, sql, n, NULL, params, NULL, NULL, 0);
        if (sent == 1) return 0;
        return pg_error(err, "", PQerrorMessage(db));
    }
    prepare_pending(db);
    if (name == NULL && n > 0 && prepare(db, sql, buf, &name, err)) return -1;
    PGresult *r = name ? PQexecPrepared(db, name, n, params, NULL, NULL, 0)
                       : PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) pg_error(err, "", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

int jk_pg_pipeline_begin(PGconn *db, jk_err_t *err)
{
    prepare_pending(db);
    if (PQenterPipelineMode(db) == 1) return 0;
    return pg_error(err, ": cannot enter pipeline mode", PQerrorMessage(db));
}

int jk_pg_pipeline_send(PGconn *db, jk_err_t *err)
{
    if (PQpipelineSync(db) == 1) return 0;
    pg_error(err, ": cannot send a pipeline", PQerrorMessage(db));
    PQexitPipelineMode(db);
    return -1;
}

int jk_pg_pipeline_end(PGconn *db, int n, PGresult **keep, jk_err_t *err)
{
    if (keep)
        for (int i = 0; i < n; i++)
            keep[i] = NULL;
    if (jk_pg_pipeline_send(db, err)) return -1;
    return jk_pg_pipeline_read(db, n, keep, err);
}

int jk_pg_pipeline_more(PGconn *db)
{
    struct statements *st = PQinstanceData(db, pg_event);
    return PQpipelineStatus(db) == PQ_PIPELINE_ON && (st == NULL || st->npending == 0);
}

static void drop_kept(PGresult **keep, int n)
{
    for (int i = 0; keep && i < n; i++) {
        PQclear(keep[i]);
        keep[i] = NULL;
    }
}

int jk_pg_pipeline_read_sync(PGconn *db, int n, PGresult **keep, jk_err_t *err)
{
    int rc = 0;
    if (keep)
        for (int i = 0; i < n; i++)
            keep[i] = NULL;
    /* Each statement's result, then a NULL; after the last, the sync's own result. Read up to
     * the sync whatever n says, so that the connection is left clean. */
    for (int i = 0;;) {
        PGresult *r = PQgetResult(db);
        if (r == NULL) {
            if (PQstatus(db) != CONNECTION_OK || ++i > n + 4096) {
                if (rc == 0) rc = jk_err_set(err, "PostgreSQL: connection lost in a pipeline");
                break;
            }
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && rc == 0)
            rc = pg_error(err, "",
                          st == PGRES_PIPELINE_ABORTED ? "a pipelined statement was not run"
                                                       : PQresultErrorMessage(r));
        if (keep && i < n && st == PGRES_TUPLES_OK && keep[i] == NULL)
            keep[i] = r;
        else
            PQclear(r);
    }
    if (rc) drop_kept(keep, n);
    return rc;
}

int jk_pg_pipeline_read(PGconn *db, int n, PGresult **keep, jk_err_t *err)
{
    int rc = jk_pg_pipeline_read_sync(db, n, keep, err);
    if (PQexitPipelineMode(db) != 1 && rc == 0) {
        rc = pg_error(err, ": cannot leave pipeline mode", PQerrorMessage(db));
        drop_kept(keep, n);
    }
    return rc;
}

int jk_pg_script(PGconn *db, const char *sql, const char *schema, jk_err_t *err)
{
    char *text = replace_all(sql, "@SCHEMA@", schema);
    if (!text) return jk_err_set(err, "out of memory");
    int rc = jk_pg_exec(db, text, err);
    free(text);
    return rc;
}

/* A buffer starts small and doubles. It started at 64 KB: the nine columns of a consumer's
 * position (jk_position_take), made and freed at every batch, then took 576 KB at the top of the
 * heap, which glibc gave back to the system at each free and asked for again at the next batch:
 * the provider made 1,500 brk calls and 4,500 page faults a second at 500 inquiries/s (0 and
 * 500 since). */
static void copy_put(jk_copy_t *cp, const char *s, size_t n)
{
    if (cp->oom) return;
    if (cp->len + n + 1 > cp->cap) {
        size_t cap = cp->cap ? cp->cap : 256;
        while (cap < cp->len + n + 1)
            cap *= 2;
        char *nb = realloc(cp->buf, cap);
        if (!nb) {
            cp->oom = 1;
            return;
        }
        cp->buf = nb;
        cp->cap = cap;
    }
    memcpy(cp->buf + cp->len, s, n);
    cp->len += n;
}

static void copy_sep(jk_copy_t *cp)
{
    if (!cp->at_row_start && cp->len > 0 && cp->buf[cp->len - 1] != '\n') copy_put(cp, "\t", 1);
    cp->at_row_start = 0;
}

void jk_copy_text(jk_copy_t *cp, const char *s)
{
    copy_sep(cp);
    if (!s) {
        copy_put(cp, "\\N", 2);
        return;
    }
    /* COPY's text format: backslash escapes for the characters that delimit fields and rows. */
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '\\':
            copy_put(cp, "\\\\", 2);
            break;
        case '\t':
            copy_put(cp, "\\t", 2);
            break;
        case '\n':
            copy_put(cp, "\\n", 2);
            break;
        case '\r':
            copy_put(cp, "\\r", 2);
            break;
        default:
            copy_put(cp, p, 1);
        }
    }
}

void jk_copy_int(jk_copy_t *cp, long long v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", v);
    copy_sep(cp);
    copy_put(cp, b, (size_t)n);
}

void jk_copy_time(jk_copy_t *cp, int64_t ms)
{
    char t[JK_TIME_LEN];
    jk_time_format(ms, t);
    copy_sep(cp);
    copy_put(cp, t, strlen(t));
}

void jk_copy_end_row(jk_copy_t *cp)
{
    copy_put(cp, "\n", 1);
    cp->rows++;
    cp->at_row_start = 1;
}

int jk_pg_copy(PGconn *db, const char *copy_sql, jk_copy_t *cp, jk_err_t *err)
{
    if (cp->oom) return jk_err_set(err, "out of memory building COPY data");
    if (cp->rows == 0) return 0;
    PGresult *r = PQexec(db, copy_sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        pg_error(err, "", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    int ok = PQputCopyData(db, cp->buf, (int)cp->len) == 1 && PQputCopyEnd(db, NULL) == 1;
    r = PQgetResult(db);
    if (!ok || PQresultStatus(r) != PGRES_COMMAND_OK) {
        pg_error(err, " COPY", PQresultErrorMessage(r));
        PQclear(r);
        while ((r = PQgetResult(db)) != NULL)
            PQclear(r);
        return -1;
    }
    PQclear(r);
    cp->len = 0;
    cp->rows = 0;
    cp->at_row_start = 1;
    return 0;
}

void jk_copy_clear(jk_copy_t *cp)
{
    cp->len = 0;
    cp->rows = 0;
    cp->at_row_start = 1;
    cp->oom = 0;
}

void jk_copy_free(jk_copy_t *cp)
{
    free(cp->buf);
    memset(cp, 0, sizeof *cp);
}

char *jk_pg_array(const char *const *items, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += 2 * strlen(items[i]) + 3;
    char *out = malloc(len), *o = out;
    if (!out) return NULL;
    *o++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i) *o++ = ',';
        *o++ = '"';
        for (const char *p = items[i]; *p; p++) {
            if (*p == '"' || *p == '\\') *o++ = '\\';
            *o++ = *p;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return out;
}

/* ---- rows as array literals ---- */

static jk_copy_t *rows_field(jk_rows_t *rw)
{
    if (rw->at >= JK_ROWS_MAX_COLS || (rw->ncols && rw->at >= rw->ncols)) {
        rw->bad = 1;
        return NULL;
    }
    jk_copy_t *c = &rw->col[rw->at++];
    copy_put(c, c->len == 0 ? "{" : ",", 1);
    return c;
}

void jk_rows_text(jk_rows_t *rw, const char *s)
{
    jk_copy_t *c = rows_field(rw);
    if (c == NULL) return;
    if (s == NULL) {
        copy_put(c, "NULL", 4);
        return;
    }
    /* An array element in double quotes: only the quote and the backslash are escaped. */
    copy_put(c, "\"", 1);
    for (const char *p = s; *p; p++) {
        size_t n = strcspn(p, "\"\\");
        copy_put(c, p, n);
        p += n;
        if (*p == '\0') break;
        copy_put(c, "\\", 1);
        copy_put(c, p, 1);
    }
    copy_put(c, "\"", 1);
}

void jk_rows_int(jk_rows_t *rw, long long v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", v);
    jk_copy_t *c = rows_field(rw);
    if (c) copy_put(c, b, (size_t)n);
}

void jk_rows_time(jk_rows_t *rw, int64_t ms)
{
    char t[JK_TIME_LEN];
    jk_time_format(ms, t);
    jk_rows_text(rw, t);
}

void jk_rows_end_row(jk_rows_t *rw)
{
    if (rw->ncols == 0) rw->ncols = rw->at;
    if (rw->at != rw->ncols) rw->bad = 1;
    rw->at = 0;
    rw->rows++;
}

int jk_rows_params(jk_rows_t *rw, const char *params[JK_ROWS_MAX_COLS], jk_err_t *err)
{
    for (int i = 0; i < rw->ncols; i++)
        if (rw->col[i].oom) rw->bad = 1;
    if (rw->bad || rw->at != 0)
        return jk_err_set(err, "rows for PostgreSQL: out of memory or of uneven length");
    for (int i = 0; i < rw->ncols; i++) {
        jk_copy_t *c = &rw->col[i];
        /* The closing brace and the terminator go past the end, so more rows can follow. */
        copy_put(c, "}", 1);
        if (c->oom) return jk_err_set(err, "rows for PostgreSQL: out of memory");
        c->buf[c->len] = '\0';
        c->len--;
        params[i] = c->buf;
    }
    return 0;
}

int jk_rows_run(PGconn *db, const char *sql, jk_rows_t *rw, jk_err_t *err)
{
    if (rw->rows == 0) return 0;
    const char *params[JK_ROWS_MAX_COLS];
    int rc = jk_rows_params(rw, params, err) || jk_pg_run(db, sql, rw->ncols, params, err) ? -1 : 0;
    jk_rows_clear(rw);
    return rc;
}

void jk_rows_clear(jk_rows_t *rw)
{
    for (int i = 0; i < JK_ROWS_MAX_COLS; i++)
        rw->col[i].len = 0;
    rw->at = rw->ncols = 0;
    rw->rows = 0;
    rw->bad = 0;
}

void jk_rows_free(jk_rows_t *rw)
{
    for (int i = 0; i < JK_ROWS_MAX_COLS; i++)
        jk_copy_free(&rw->col[i]);
    memset(rw, 0, sizeof *rw);
}

jk_strmap_t *jk_pg_ids_seen(PGconn *db, const char *schema, const char *table,
                            const char *const *ids, size_t n, jk_err_t *err)
{
    jk_strmap_t *seen = jk_strmap_new();
    if (!seen) {
        jk_err_set(err, "out of memory");
        return NULL;
    }
    if (n == 0) return seen;
    char *arr = jk_pg_array(ids, n);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT event_id FROM %s.%s WHERE event_id = ANY($1::text[])", schema,
             table);
    const char *params[1] = {arr};
    PGresult *r = PQexecParams(db, sql, 1, NULL, params, NULL, NULL, 0);
    free(arr);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        jk_err_set(err, "checking event ids: %s", PQresultErrorMessage(r));
        PQclear(r);
        jk_strmap_free(seen);
        return NULL;
    }
    for (int i = 0; i < PQntuples(r); i++)
        jk_strmap_put(seen, PQgetvalue(r, i, 0), seen);
    PQclear(r);
    return seen;
}
