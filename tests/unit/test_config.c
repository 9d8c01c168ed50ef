/* test_config.c: -X librdkafka settings and a program's own defaults for them
 * (journal/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jukilog/config.h"

/* The value cfg holds for key, or NULL. */
static const char *setting(const jk_config_t *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n_kafka; i++)
        if (strcmp(cfg->kafka_keys[i], key) == 0) return cfg->kafka_values[i];
    return NULL;
}

static void kafka_default(void **state)
{
    (void)state;
    jk_config_t cfg;
    jk_err_t err = {""};
    memset(&cfg, 0, sizeof cfg);
    /* A default fills in what -X did not give ... */
    assert_int_equal(jk_config_kafka_set(&cfg, "fetch.wait.max.ms=10", &err), 0);
    assert_int_equal(jk_config_kafka_default(&cfg, "queued.max.messages.kbytes", "16384", &err), 0);
    assert_string_equal(setting(&cfg, "queued.max.messages.kbytes"), "16384");
    assert_int_equal(cfg.n_kafka, 2);
    /* ... and never replaces what it gave. */
    assert_int_equal(jk_config_kafka_default(&cfg, "fetch.wait.max.ms", "500", &err), 0);
    assert_string_equal(setting(&cfg, "fetch.wait.max.ms"), "10");
    assert_int_equal(cfg.n_kafka, 2);
    jk_config_free(&cfg);
}

static void kafka_default_refusals(void **state)
{
    (void)state;
    jk_config_t cfg;
    jk_err_t err = {""};
    memset(&cfg, 0, sizeof cfg);
    char key[300];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    assert_int_equal(jk_config_kafka_default(&cfg, key, "1", &err), -1);
    assert_non_null(strstr(err.msg, "too long"));
    for (int i = 0; i < JK_MAX_KAFKA_PROPS; i++) {
        char k[32];
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(jk_config_kafka_default(&cfg, k, "1", &err), 0);
    }
    assert_int_equal(jk_config_kafka_default(&cfg, "one.more", "1", &err), -1);
    assert_string_equal(err.msg, "too many -X settings (at most 64)");
    assert_int_equal(jk_config_kafka_default(&cfg, "k0", "2", &err), 0); /* present already */
    jk_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kafka_default),
        cmocka_unit_test(kafka_default_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
