/* strmap.h: a hash map from strings to pointers (open addressing, linear probing).
 *
 * Keys are copied; values belong to the caller. Used for the states of a projector batch and
 * for replay's whole identity file, so it grows without bound but never shrinks. */
#ifndef JUKILOG_STRMAP_H
#define JUKILOG_STRMAP_H

#include <stddef.h>

typedef struct jk_strmap jk_strmap_t;

jk_strmap_t *jk_strmap_new(void);
/* Frees the map and its keys; values are the caller's (free them first, e.g. with foreach). */
void jk_strmap_free(jk_strmap_t *m);

void *jk_strmap_get(const jk_strmap_t *m, const char *key);
/* Sets key to value (replacing any earlier value). Returns 0, or -1 when memory runs out. */
int jk_strmap_put(jk_strmap_t *m, const char *key, void *value);
/* Removes key; returns its value or NULL. */
void *jk_strmap_del(jk_strmap_t *m, const char *key);
size_t jk_strmap_count(const jk_strmap_t *m);
/* Empties the map (keys freed; values are the caller's). */
void jk_strmap_clear(jk_strmap_t *m);

/* Calls fn for every entry, in no particular order. */
void jk_strmap_foreach(const jk_strmap_t *m, void (*fn)(void *ctx, const char *key, void *value),
                       void *ctx);

#endif
