/* chain.c: following every source's hash chain as its events are read (see chain.h).
 *
 * Sources live in a jk_strmap keyed by name. Each source keeps only the head of its linked
 * chain, counters, and the events
 * that arrived ahead of a missing predecessor, in an array sorted by seq. Events mostly arrive
 * in increasing order, so an insert is usually an append, and the next one to link is always
 * the first; the array is consumed from the front through an offset, not by moving it. */
#include "jukilog/chain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/envelope.h"
#include "jukilog/strmap.h"

typedef struct chain_wait {
    int64_t seq;
    char prev[65];
    char hash[65];
} chain_wait_t;

typedef struct chain_src {
    char *name;
    int64_t linked;
    char head[65];
    int64_t duplicates, forks;
    chain_wait_t *w; /* w[off .. off+n) sorted by seq, every seq > linked + 1 */
    size_t off, n, cap;
} chain_src_t;

struct jk_chain {
    jk_strmap_t *sources; /* name -> chain_src_t* */
};

/* Copies a hash given by the caller; anything not 64 characters is kept as given, up to 64,
 * and so can only compare unequal to a real hash. */
static void hash_copy(char dst[65], const char *src)
{
    size_t n = strnlen(src, 64);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

jk_chain_t *jk_chain_new(void)
{
    jk_chain_t *ch = calloc(1, sizeof *ch);
    if (ch == NULL) return NULL;
    if ((ch->sources = jk_strmap_new()) == NULL) {
        free(ch);
        return NULL;
    }
    return ch;
}

static void free_src(void *ctx, const char *key, void *value)
{
    (void)ctx;
    (void)key;
    chain_src_t *s = value;
    free(s->name);
    free(s->w);
    free(s);
}

void jk_chain_free(jk_chain_t *ch)
{
    if (ch == NULL) return;
    jk_strmap_foreach(ch->sources, free_src, NULL);
    jk_strmap_free(ch->sources);
    free(ch);
}

static chain_src_t *src_find(const jk_chain_t *ch, const char *name)
{
    return jk_strmap_get(ch->sources, name);
}

int64_t jk_chain_linked(const jk_chain_t *ch, const char *source)
{
    const chain_src_t *s = src_find(ch, source);
    return s ? s->linked : 0;
}

/* The source's entry, created when new; NULL only when out of memory. */
static chain_src_t *src_get(jk_chain_t *ch, const char *name)
{
    chain_src_t *s = src_find(ch, name);
    if (s != NULL) return s;
    s = calloc(1, sizeof *s);
    if (s == NULL || (s->name = strdup(name)) == NULL || jk_strmap_put(ch->sources, name, s)) {
        if (s) free(s->name);
        free(s);
        return NULL;
    }
    memcpy(s->head, JK_ZERO_HASH, sizeof s->head);
    return s;
}

/* Index in w[off .. off+n) of the first entry with seq >= seq. */
static size_t wait_lower(const chain_src_t *s, int64_t seq)
{
    size_t lo = s->off, hi = s->off + s->n;
    if (s->n > 0 && s->w[hi - 1].seq < seq) return hi; /* the usual case: a new highest seq */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->w[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int wait_insert(chain_src_t *s, size_t at, int64_t seq, const char *prev, const char *hash)
{
    if (s->off + s->n == s->cap) {
        if (s->off > 0) { /* room at the front: slide down instead of growing */
            memmove(s->w, s->w + s->off, s->n * sizeof *s->w);
            at -= s->off;
            s->off = 0;
        } else {
            size_t cap = s->cap ? s->cap * 2 : 8;
            chain_wait_t *w = realloc(s->w, cap * sizeof *w);
            if (w == NULL) return -1;
            s->w = w;
            s->cap = cap;
        }
    }
    memmove(s->w + at + 1, s->w + at, (s->off + s->n - at) * sizeof *s->w);
    s->w[at].seq = seq;
    hash_copy(s->w[at].prev, prev);
    hash_copy(s->w[at].hash, hash);
    s->n++;
    return 0;
}

static void wait_pop_front(chain_src_t *s)
{
    s->off++;
    if (--s->n == 0) s->off = 0;
}

/* Links the waiting events that now follow the head, one after the other. */
static void drain(chain_src_t *s)
{
    while (s->n > 0 && s->w[s->off].seq == s->linked + 1) {
        chain_wait_t *e = &s->w[s->off];
        if (strcmp(e->prev, s->head) != 0) {
            /* Its predecessor turned out to be another event: a fork, which cannot link. */
            s->forks++;
            wait_pop_front(s);
            return;
        }
        s->linked = e->seq;
        memcpy(s->head, e->hash, sizeof s->head);
        wait_pop_front(s);
    }
}

jk_chain_status_t jk_chain_observe(jk_chain_t *ch, const char *source, int64_t seq,
                                   const char *prev, const char *hash)
{
    chain_src_t *s = src_get(ch, source);
    /* Out of memory: the event cannot be held, and is left as if still to come. */
    if (s == NULL) return JK_CHAIN_WAITING;

    if (seq < 1) { /* no event has such a seq: it cannot be a copy of one */
        s->forks++;
        return JK_CHAIN_FORK;
    }
    if (seq <= s->linked) {
        /* Only the head's hash is kept, so earlier seqs are taken as copies. */
        if (seq == s->linked && strncmp(hash, s->head, 65) != 0) {
            s->forks++;
            return JK_CHAIN_FORK;
        }
        s->duplicates++;
        return JK_CHAIN_DUPLICATE;
    }
    if (seq == s->linked + 1) {
        if (strncmp(prev, s->head, 65) != 0) {
            s->forks++;
            return JK_CHAIN_FORK;
        }
        s->linked = seq;
        hash_copy(s->head, hash);
        drain(s);
        return JK_CHAIN_LINKED;
    }
    size_t at = wait_lower(s, seq);
    if (at < s->off + s->n && s->w[at].seq == seq) {
        if (strncmp(hash, s->w[at].hash, 65) == 0) {
            s->duplicates++;
            return JK_CHAIN_DUPLICATE;
        }
        s->forks++;
        return JK_CHAIN_FORK;
    }
    /* Out of memory, the event is not held: its seq will show as a gap, never as linked. */
    (void)wait_insert(s, at, seq, prev, hash);
    return JK_CHAIN_WAITING;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(chain_src_t *const *)a)->name, (*(chain_src_t *const *)b)->name);
}

static void report(const chain_src_t *s, jk_chain_fn fn, void *ctx)
{
    jk_chain_summary_t sum = {
        .source = s->name,
        .linked = s->linked,
        .head = s->head,
        .waiting = (int64_t)s->n,
        .first_waiting = s->n > 0 ? s->w[s->off].seq : 0,
        .duplicates = s->duplicates,
        .forks = s->forks,
    };
    fn(ctx, &sum);
}

struct collect {
    chain_src_t **v;
    size_t n;
};

static void collect_src(void *ctx, const char *key, void *value)
{
    (void)key;
    struct collect *c = ctx;
    c->v[c->n++] = value;
}

struct report_ctx {
    jk_chain_fn fn;
    void *ctx;
};

static void report_src(void *ctx, const char *key, void *value)
{
    (void)key;
    const struct report_ctx *r = ctx;
    report(value, r->fn, r->ctx);
}

void jk_chain_foreach(const jk_chain_t *ch, jk_chain_fn fn, void *ctx)
{
    size_t total = jk_strmap_count(ch->sources);
    struct collect c = {malloc((total ? total : 1) * sizeof *c.v), 0};
    if (c.v == NULL) { /* out of memory: every source still reported, in table order */
        struct report_ctx r = {fn, ctx};
        jk_strmap_foreach(ch->sources, report_src, &r);
        return;
    }
    jk_strmap_foreach(ch->sources, collect_src, &c);
    qsort(c.v, c.n, sizeof *c.v, by_name);
    for (size_t i = 0; i < c.n; i++)
        report(c.v[i], fn, ctx);
    free(c.v);
}

void jk_chain_foreach_waiting(const jk_chain_t *ch, const char *source, jk_chain_wait_fn fn,
                              void *ctx)
{
    const chain_src_t *s = src_find(ch, source);
    for (size_t i = 0; s && i < s->n; i++) {
        const chain_wait_t *w = &s->w[s->off + i];
        fn(ctx, w->seq, w->prev, w->hash);
    }
}

int jk_chain_restore(jk_chain_t *ch, const char *source, int64_t linked, const char *head)
{
    if (linked < 0 || strnlen(head, 65) != 64 || (linked == 0 && strcmp(head, JK_ZERO_HASH) != 0))
        return -1;
    chain_src_t *s = src_find(ch, source);
    if (s != NULL && (s->linked > linked || (s->linked == linked && strcmp(s->head, head) != 0)))
        return -1; /* would unlink events already linked, or contradict the head */
    if (s == NULL && (s = src_get(ch, source)) == NULL) return -1;
    s->linked = linked;
    memcpy(s->head, head, sizeof s->head);
    /* Waiting events at or below the restored position are behind us now. */
    while (s->n > 0 && s->w[s->off].seq <= linked)
        wait_pop_front(s);
    drain(s);
    return 0;
}

/* One waiting event as text: at most 20 digits, ':', 64 hex, ':', 64 hex, and a separator. */
#define WAIT_TEXT (20 + 1 + 64 + 1 + 64 + 1)

char *jk_chain_waiting_text(const jk_chain_t *ch, const char *source)
{
    const chain_src_t *s = src_find(ch, source);
    size_t n = s ? s->n : 0, len = 0;
    char *text = malloc(n * WAIT_TEXT + 1);
    if (text == NULL) return NULL;
    text[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const chain_wait_t *w = &s->w[s->off + i];
        len += (size_t)snprintf(text + len, n * WAIT_TEXT + 1 - len, "%s%lld:%.64s:%.64s",
                                i ? " " : "", (long long)w->seq, w->prev, w->hash);
    }
    return text;
}

/* Reads one "seq:prev:hash" at *p (64 lowercase hex each), moving *p past it. */
static int waiting_item(const char **p, int64_t *seq, char prev[65], char hash[65])
{
    char *end;
    long long v = strtoll(*p, &end, 10);
    if (end == *p || *end != ':' || v < 1) return -1;
    const char *q = end + 1;
    char *dst[2] = {prev, hash};
    for (int k = 0; k < 2; k++) {
        size_t len = strspn(q, "0123456789abcdef");
        if (len != 64 || (k == 0 ? q[64] != ':' : (q[64] != ' ' && q[64] != '\0'))) return -1;
        memcpy(dst[k], q, 64);
        dst[k][64] = '\0';
        q += 65;
    }
    *seq = v;
    *p = q[-1] == ' ' ? q : q - 1;
    return 0;
}

int jk_chain_restore_waiting(jk_chain_t *ch, const char *source, const char *text)
{
    /* Checked whole before anything is observed. */
    for (const char *p = text; *p;) {
        int64_t seq;
        char prev[65], hash[65];
        if (waiting_item(&p, &seq, prev, hash)) return -1;
    }
    for (const char *p = text; *p;) {
        int64_t seq;
        char prev[65], hash[65];
        waiting_item(&p, &seq, prev, hash);
        jk_chain_observe(ch, source, seq, prev, hash);
    }
    return 0;
}
