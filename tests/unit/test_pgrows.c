/* test_pgrows.c: rows as PostgreSQL array literals (jk_rows_t in pg.h), exact text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "jukilog/pg.h"

static void columns_and_escapes(void **state)
{
    (void)state;
    jk_rows_t rw = {0};
    const char *p[JK_ROWS_MAX_COLS];
    jk_err_t err;
    jk_rows_text(&rw, "a");
    jk_rows_int(&rw, 42);
    jk_rows_text(&rw, NULL);
    jk_rows_end_row(&rw);
    jk_rows_text(&rw, "say \"hi\" \\ {x,y}");
    jk_rows_int(&rw, -7);
    jk_rows_time(&rw, 0);
    jk_rows_end_row(&rw);
    assert_int_equal(jk_rows_params(&rw, p, &err), 0);
    assert_int_equal(rw.ncols, 3);
    assert_int_equal(rw.rows, 2);
    assert_string_equal(p[0], "{\"a\",\"say \\\"hi\\\" \\\\ {x,y}\"}");
    assert_string_equal(p[1], "{42,-7}");
    assert_string_equal(p[2], "{NULL,\"1970-01-01T00:00:00.000Z\"}");
    /* More rows after the literals were taken: the closing brace moves along. */
    jk_rows_text(&rw, "");
    jk_rows_int(&rw, 0);
    jk_rows_text(&rw, "日本");
    jk_rows_end_row(&rw);
    assert_int_equal(jk_rows_params(&rw, p, &err), 0);
    assert_string_equal(p[0], "{\"a\",\"say \\\"hi\\\" \\\\ {x,y}\",\"\"}");
    assert_string_equal(p[1], "{42,-7,0}");
    assert_string_equal(p[2], "{NULL,\"1970-01-01T00:00:00.000Z\",\"日本\"}");
    jk_rows_clear(&rw);
    assert_int_equal(rw.rows, 0);
    jk_rows_int(&rw, 1);
    jk_rows_end_row(&rw);
    assert_int_equal(jk_rows_params(&rw, p, &err), 0);
    assert_string_equal(p[0], "{1}");
    jk_rows_free(&rw);
}

static void uneven_rows_fail(void **state)
{
    (void)state;
    jk_rows_t rw = {0};
    const char *p[JK_ROWS_MAX_COLS];
    jk_err_t err;
    jk_rows_text(&rw, "a");
    jk_rows_text(&rw, "b");
    jk_rows_end_row(&rw);
    jk_rows_text(&rw, "c");
    jk_rows_end_row(&rw);
    assert_int_equal(jk_rows_params(&rw, p, &err), -1);
    assert_string_equal(err.msg, "rows for PostgreSQL: out of memory or of uneven length");
    jk_rows_free(&rw);
    /* A row left open is refused too. */
    jk_rows_text(&rw, "a");
    assert_int_equal(jk_rows_params(&rw, p, &err), -1);
    jk_rows_free(&rw);
}

/* Rows of a batch that was not written are dropped, and the next rows start clean. */
static void copy_clear_drops_rows(void **state)
{
    (void)state;
    jk_copy_t cp = {0};
    jk_copy_text(&cp, "stale");
    jk_copy_int(&cp, 1);
    jk_copy_end_row(&cp);
    jk_copy_text(&cp, "half a row");
    jk_copy_clear(&cp);
    assert_int_equal(cp.rows, 0);
    assert_int_equal(cp.len, 0);
    jk_copy_text(&cp, "fresh");
    jk_copy_int(&cp, 2);
    jk_copy_end_row(&cp);
    assert_int_equal(cp.rows, 1);
    assert_int_equal(cp.len, strlen("fresh\t2\n"));
    assert_memory_equal(cp.buf, "fresh\t2\n", cp.len);
    jk_copy_free(&cp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(columns_and_escapes),
        cmocka_unit_test(uneven_rows_fail),
        cmocka_unit_test(copy_clear_drops_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
