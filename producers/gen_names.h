/* gen_names.h: the tables behind `jukilog gen` (private to producers/gen.c): surnames and given
 * names with their katakana readings, katakana-only names of foreign residents, Yamaguchi's
 * municipalities with population weights and a few town names each, and the age profiles
 * (population, mortality, mobility) that make the synthetic prefecture look like an ageing one.
 *
 * All of it is common vocabulary (frequent surnames, popular given names, town names); the
 * generator combines them at random with random numbers, so no record describes a real person. */
#ifndef JUKILOG_GEN_NAMES_H
#define JUKILOG_GEN_NAMES_H

typedef struct jk_gen_surname {
    const char *kanji;
    const char *kana;
    unsigned weight; /* relative frequency */
} jk_gen_surname_t;

/* Eras of given names: fashions change, so a name says roughly when its bearer was born. */
enum { JK_GEN_ERA_OLD, JK_GEN_ERA_MID, JK_GEN_ERA_NEW, JK_GEN_ERAS };

typedef struct jk_gen_given {
    const char *kanji; /* what is written */
    const char *kana;
    unsigned char sex; /* 1 male, 2 female */
    unsigned char era; /* JK_GEN_ERA_* (born up to 1955, up to 1990, later) */
} jk_gen_given_t;

typedef struct jk_gen_town {
    const char *name;
    unsigned char chome; /* number of 丁目 (address "二丁目3番4号"); 0: rural "123番地" */
} jk_gen_town_t;

typedef struct jk_gen_muni {
    const char *code; /* 6 digits with check digit */
    const char *name;
    unsigned population; /* weight of the initial load and of destinations */
    const jk_gen_town_t *towns;
    unsigned n_towns;
} jk_gen_muni_t;

extern const jk_gen_surname_t jk_gen_surnames[];
extern const unsigned jk_gen_n_surnames;
extern const jk_gen_given_t jk_gen_given_names[];
extern const unsigned jk_gen_n_given_names;
/* Foreign residents, registered under katakana-only names, family name first; family and
 * given name come from the same country. */
enum { JK_GEN_VN, JK_GEN_KR, JK_GEN_CN, JK_GEN_LATIN, JK_GEN_EN, JK_GEN_ORIGINS };

typedef struct jk_gen_foreign {
    const char *name;     /* katakana */
    unsigned char origin; /* JK_GEN_VN .. JK_GEN_EN */
    unsigned char sex;    /* given names: 1 male, 2 female; 0 for family names */
} jk_gen_foreign_t;

extern const jk_gen_foreign_t jk_gen_foreign_surnames[];
extern const unsigned jk_gen_n_foreign_surnames;
extern const jk_gen_foreign_t jk_gen_foreign_given[];
extern const unsigned jk_gen_n_foreign_given;

/* Yamaguchi (35), in ascending code order: the order the demo sends a period's files in. */
extern const jk_gen_muni_t jk_gen_yamaguchi[];
extern const unsigned jk_gen_n_yamaguchi;

/* Addresses in other prefectures (for the invalid_format fault "address of another prefecture"). */
extern const char *const jk_gen_other_addresses[];
extern const unsigned jk_gen_n_other_addresses;

/* Age profiles by 5-year band: [k] covers ages 5k..5k+4, the last band 100 and over. */
#define JK_GEN_BANDS 21
extern const unsigned jk_gen_pyramid[JK_GEN_BANDS];    /* residents, thousands (Yamaguchi ~2020) */
extern const unsigned jk_gen_mortality[JK_GEN_BANDS];  /* deaths per 10,000 a year */
extern const unsigned jk_gen_mobility[JK_GEN_BANDS];   /* relative propensity to move */
extern const unsigned jk_gen_female_pct[JK_GEN_BANDS]; /* share of women, percent */

#endif
