/* test_strmap.c: the hash map against a plain array model, through growth and deletions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "jukilog/strmap.h"

#define N 5000

static void count_cb(void *ctx, const char *key, void *value)
{
    (void)key;
    size_t *sum = ctx;
    *sum += (size_t)(uintptr_t)value;
}

static void against_model(void **state)
{
    (void)state;
    jk_strmap_t *m = jk_strmap_new();
    assert_non_null(m);
    static int present[N];
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "%011d", i * 7919);
        assert_int_equal(jk_strmap_put(m, key, (void *)(uintptr_t)(i + 1)), 0);
        present[i] = 1;
    }
    assert_int_equal(jk_strmap_count(m), N);
    /* delete every third, replace every fifth */
    for (int i = 0; i < N; i += 3) {
        snprintf(key, sizeof key, "%011d", i * 7919);
        assert_ptr_equal(jk_strmap_del(m, key), (void *)(uintptr_t)(i + 1));
        present[i] = 0;
    }
    for (int i = 0; i < N; i += 5) {
        snprintf(key, sizeof key, "%011d", i * 7919);
        assert_int_equal(jk_strmap_put(m, key, (void *)(uintptr_t)(i + 1)), 0);
        present[i] = 1;
    }
    size_t expect_count = 0, expect_sum = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "%011d", i * 7919);
        if (present[i]) {
            expect_count++;
            expect_sum += (size_t)i + 1;
            assert_ptr_equal(jk_strmap_get(m, key), (void *)(uintptr_t)(i + 1));
        } else {
            assert_null(jk_strmap_get(m, key));
        }
    }
    assert_int_equal(jk_strmap_count(m), expect_count);
    size_t sum = 0;
    jk_strmap_foreach(m, count_cb, &sum);
    assert_int_equal(sum, expect_sum);
    assert_null(jk_strmap_del(m, "nothing"));
    jk_strmap_clear(m);
    assert_int_equal(jk_strmap_count(m), 0);
    assert_null(jk_strmap_get(m, "00000000000"));
    jk_strmap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(against_model)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
