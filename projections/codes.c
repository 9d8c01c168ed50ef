/* codes.c: check digits of my numbers, resident codes and municipality codes (see codes.h). */
#include "jukilog/codes.h"

#include <string.h>

static int digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* The mod-11 form shared by my number and (provisionally) resident code: r = sum(w*d) mod 11,
 * check = 0 when r <= 1, else 11 - r. */
static int mod11(const char *d, const int *w, size_t n)
{
    if (!digits(d, n)) return -1;
    int sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += w[i] * (d[i] - '0');
    int r = sum % 11;
    return '0' + (r <= 1 ? 0 : 11 - r);
}

int jk_code_my_number_check(const char *d11)
{
    static const int w[11] = {6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2};
    return mod11(d11, w, 11);
}

int jk_code_resident_check(const char *d10)
{
    static const int w[10] = {6, 5, 4, 3, 2, 7, 6, 5, 4, 3};
    return mod11(d10, w, 10);
}

int jk_code_municipality_check(const char *d5)
{
    if (!digits(d5, 5)) return -1;
    static const int w[5] = {6, 5, 4, 3, 2};
    int sum = 0;
    for (int i = 0; i < 5; i++)
        sum += w[i] * (d5[i] - '0');
    return '0' + (11 - sum % 11) % 10;
}

static int valid(const char *s, size_t n, int (*check)(const char *))
{
    return s && strlen(s) == n && digits(s, n) && check(s) == s[n - 1];
}

int jk_code_my_number_valid(const char *s)
{
    return valid(s, 12, jk_code_my_number_check);
}

int jk_code_resident_valid(const char *s)
{
    return valid(s, 11, jk_code_resident_check);
}

int jk_code_municipality_valid(const char *s)
{
    return valid(s, 6, jk_code_municipality_check);
}
