/* gen.h: the synthetic prefecture behind `jukilog gen`.
 *
 * Writes what the municipal CSs of one prefecture would read from their registries over some
 * years: an initial load of every resident, then one directory of change records per quarter,
 * one JSON Lines file per municipality (DESIGN.md "External interface": the change record), a
 * sprinkling of deliberately faulty records, and the answer key: manifest.json (options,
 * periods, counts, the outcome counts the prefecture must report) and expected.jsonl (the
 * identity file after everything has been sent in order and applied).
 *
 * Everything is drawn from one seeded generator, so the same options give byte-identical files.
 * Every person is synthetic: names from tables of common names, codes from random digits. */
#ifndef JUKILOG_GEN_H
#define JUKILOG_GEN_H

#include <stdint.h>

#include "jukilog/err.h"

typedef struct jk_gen_opts {
    const char *prefecture; /* 2 digits; only "35" (Yamaguchi) has municipality data */
    long residents;         /* residents of the initial load, >= 1 */
    int years;              /* 4 quarters each, 0..100 */
    uint64_t seed;          /* 0 .. 2^63-1 (written to the manifest as a JSON integer) */
    double faults;          /* deliberate faults as a share of each quarter's records, 0..0.5 */
    const char *start;      /* YYYY-MM-DD: the initial load's notification date, quarters after */
    const char *out;        /* directory; created, and must be empty if it exists */
    /* Called after every 100,000 records written (NULL: silent); the library never prints. */
    void (*progress)(void *arg, uint64_t records, const char *period);
    void *progress_arg;
} jk_gen_opts_t;

/* The defaults of `jukilog gen`: 35, 100000 residents, 3 years, seed 1, faults 0.01,
 * start 2023-04-01, no out, no progress. */
void jk_gen_opts_init(jk_gen_opts_t *opts);

/* Generates the prefecture into opts->out. Returns 0, or -1 with err naming what failed
 * (bad option, unsupported prefecture, a file that could not be written, memory). */
int jk_gen_run(const jk_gen_opts_t *opts, jk_err_t *err);

#endif
