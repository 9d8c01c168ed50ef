/* strmap.c: string-keyed hash map (see strmap.h). FNV-1a hashing, linear probing, deletion by
 * backward shift so that no tombstones pile up. */
#include "jukilog/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    char *key; /* NULL: empty */
    void *value;
    uint64_t hash;
};

struct jk_strmap {
    struct slot *slots;
    size_t cap; /* power of two */
    size_t count;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

jk_strmap_t *jk_strmap_new(void)
{
    jk_strmap_t *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cap = 64;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void jk_strmap_clear(jk_strmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].key);
        m->slots[i].key = NULL;
    }
    m->count = 0;
}

void jk_strmap_free(jk_strmap_t *m)
{
    if (!m) return;
    jk_strmap_clear(m);
    free(m->slots);
    free(m);
}

static size_t find(const jk_strmap_t *m, const char *key, uint64_t h)
{
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key && (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
        i = (i + 1) & (m->cap - 1);
    return i;
}

void *jk_strmap_get(const jk_strmap_t *m, const char *key)
{
    size_t i = find(m, key, hash(key));
    return m->slots[i].key ? m->slots[i].value : NULL;
}

static int grow(jk_strmap_t *m)
{
    size_t cap = m->cap * 2;
    struct slot *ns = calloc(cap, sizeof *ns);
    if (!ns) return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key) continue;
        size_t j = m->slots[i].hash & (cap - 1);
        while (ns[j].key)
            j = (j + 1) & (cap - 1);
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = cap;
    return 0;
}

int jk_strmap_put(jk_strmap_t *m, const char *key, void *value)
{
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m)) return -1;
    uint64_t h = hash(key);
    size_t i = find(m, key, h);
    if (!m->slots[i].key) {
        char *k = strdup(key);
        if (!k) return -1;
        m->slots[i].key = k;
        m->slots[i].hash = h;
        m->count++;
    }
    m->slots[i].value = value;
    return 0;
}

void *jk_strmap_del(jk_strmap_t *m, const char *key)
{
    size_t i = find(m, key, hash(key));
    if (!m->slots[i].key) return NULL;
    void *v = m->slots[i].value;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->count--;
    /* Shift back the entries after i whose probe sequence passes through i. */
    for (size_t j = (i + 1) & (m->cap - 1); m->slots[j].key; j = (j + 1) & (m->cap - 1)) {
        size_t home = m->slots[j].hash & (m->cap - 1);
        int between = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (between) continue;
        m->slots[i] = m->slots[j];
        m->slots[j].key = NULL;
        i = j;
    }
    return v;
}

size_t jk_strmap_count(const jk_strmap_t *m)
{
    return m->count;
}

void jk_strmap_foreach(const jk_strmap_t *m, void (*fn)(void *ctx, const char *key, void *value),
                       void *ctx)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key) fn(ctx, m->slots[i].key, m->slots[i].value);
}
