/* purposes.h: the catalogue of lawful purposes (DOMAIN.md "Lawful purposes").
 *
 * Every inquiry cites one purpose, and an operator may only cite purposes their department is
 * authorised for. The catalogue is configuration shipped in ops/purposes.json, not an event: it
 * says which purposes exist (別表第五, 別表第六, 条例, disclosure to the resident, statistics),
 * what each is for, and which departments may cite it. Who is granted what, and when, is on the
 * admin topic (operators.h); the catalogue is what grants and requests are checked against.
 *
 *   {"version":1,
 *    "departments":[{"code":"kenko_fukushi","name_ja":"健康福祉部"}, ...],
 *    "purposes":[{"code":"ord.nursing_loan","category":"ordinance","title_ja":"...",
 *                 "description":"...","departments":["kenko_fukushi"],"bulk":false}, ...]} */
#ifndef JUKILOG_PURPOSES_H
#define JUKILOG_PURPOSES_H

#include <stddef.h>

#include "jukilog/err.h"

#define JK_CATALOGUE_VERSION 1

typedef struct jk_department {
    char *code;    /* "kenko_fukushi": [a-z0-9_]+ */
    char *name_ja; /* "健康福祉部" */
} jk_department_t;

typedef struct jk_purpose {
    char *code;           /* "b5.passport": [a-z0-9_.]+ */
    const char *category; /* "betsu5" | "betsu6" | "ordinance" | "disclosure" | "statistics" */
    char *title_ja;       /* "旅券の発給" */
    char *description;    /* one English sentence */
    char **departments;   /* codes of the departments that may cite it, each in the catalogue */
    size_t n_departments;
    int bulk; /* a bulk request (一括提供) may cite it */
} jk_purpose_t;

typedef struct jk_catalogue jk_catalogue_t;

/* Reads and validates the catalogue file; the error names the file, the entry and the field. */
jk_catalogue_t *jk_catalogue_load(const char *path, jk_err_t *err);
/* The same from a buffer: version 1; department codes unique, [a-z0-9_]+, with a name; purpose
 * codes unique and [a-z0-9_.]+, a known category, non-empty title and description, at least one
 * department and each of them in "departments", bulk a boolean; no unknown fields anywhere. */
jk_catalogue_t *jk_catalogue_parse(const char *json, size_t len, jk_err_t *err);
void jk_catalogue_free(jk_catalogue_t *cat);
/* The catalogue in force: the file named by JUKILOG_PURPOSES if set, else ops/purposes.json as
 * built into the program. */
jk_catalogue_t *jk_catalogue_default(jk_err_t *err);

/* The purpose with that code, or NULL. Owned by the catalogue. */
const jk_purpose_t *jk_catalogue_find(const jk_catalogue_t *cat, const char *code);
/* True when the department is listed in the catalogue. */
int jk_catalogue_department_exists(const jk_catalogue_t *cat, const char *department);
/* True when the purpose exists and lists the department among those that may cite it. */
int jk_catalogue_may_cite(const jk_catalogue_t *cat, const char *purpose, const char *department);

/* Iteration in file order: i from 0 to count - 1. */
size_t jk_catalogue_count(const jk_catalogue_t *cat);
const jk_purpose_t *jk_catalogue_at(const jk_catalogue_t *cat, size_t i);
size_t jk_catalogue_department_count(const jk_catalogue_t *cat);
const jk_department_t *jk_catalogue_department_at(const jk_catalogue_t *cat, size_t i);

#endif
