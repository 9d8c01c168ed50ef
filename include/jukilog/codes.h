/* codes.h: the check digits of the registry's three codes (DOMAIN.md "Check digits").
 *
 * The resident code's check digit is defined by a ministry notice whose formula is not confirmed
 * here; it is computed by jk_code_resident_check alone, so that it can be swapped in one place. */
#ifndef JUKILOG_CODES_H
#define JUKILOG_CODES_H

/* Check digit ('0'..'9') of the first 11 digits of a my number; -1 if they are not digits. */
int jk_code_my_number_check(const char *d11);
/* Check digit of the first 10 digits of a resident code; -1 if they are not digits. */
int jk_code_resident_check(const char *d10);
/* Check digit of the first 5 digits of a municipality code; -1 if they are not digits. */
int jk_code_municipality_check(const char *d5);

/* True when s is exactly 12 / 11 / 6 digits with the right check digit. */
int jk_code_my_number_valid(const char *s);
int jk_code_resident_valid(const char *s);
int jk_code_municipality_valid(const char *s);

#endif
