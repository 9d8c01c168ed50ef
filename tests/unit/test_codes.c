/* test_codes.c: check digits against the examples of DOMAIN.md and every single-digit error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "jukilog/codes.h"

static void my_number_examples(void **state)
{
    (void)state;
    assert_true(jk_code_my_number_valid("621498320257"));
    assert_true(jk_code_my_number_valid("983205673214"));
    assert_int_equal(jk_code_my_number_check("62149832025"), '7');
    assert_false(jk_code_my_number_valid("621498320258"));
    assert_false(jk_code_my_number_valid("62149832025"));
    assert_false(jk_code_my_number_valid("6214983202577"));
    assert_false(jk_code_my_number_valid("62149832025a"));
    assert_false(jk_code_my_number_valid(""));
    assert_false(jk_code_my_number_valid(NULL));
}

static void resident_code_examples(void **state)
{
    (void)state;
    assert_true(jk_code_resident_valid("24727059608"));
    assert_int_equal(jk_code_resident_check("2472705960"), '8');
    assert_false(jk_code_resident_valid("24727059607"));
    assert_false(jk_code_resident_valid("2472705960"));
}

static void municipality_examples(void **state)
{
    (void)state;
    const char *ok[] = {"352012", "352021", "352039", "352047", "352063", "352071", "352080",
                        "352101", "352110", "352128", "352136", "352152", "352161", "353051",
                        "353213", "353418", "353434", "353442", "355020", "131016"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(jk_code_municipality_valid(ok[i]));
    assert_false(jk_code_municipality_valid("352013"));
    assert_false(jk_code_municipality_valid("35203"));
    assert_false(jk_code_municipality_valid("3520390"));
}

/* Every wrong check digit is refused, for each of the three codes. */
static void every_wrong_check_digit_is_refused(void **state)
{
    (void)state;
    const char *good[] = {"621498320257", "24727059608", "352039"};
    int (*valid[])(const char *) = {jk_code_my_number_valid, jk_code_resident_valid,
                                    jk_code_municipality_valid};
    for (int k = 0; k < 3; k++) {
        char s[16];
        size_t last = strlen(good[k]) - 1;
        int refused = 0;
        for (char d = '0'; d <= '9'; d++) {
            strcpy(s, good[k]);
            s[last] = d;
            if (!valid[k](s))
                refused++;
            else
                assert_int_equal(d, good[k][last]);
        }
        assert_int_equal(refused, 9);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(my_number_examples),
        cmocka_unit_test(resident_code_examples),
        cmocka_unit_test(municipality_examples),
        cmocka_unit_test(every_wrong_check_digit_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
