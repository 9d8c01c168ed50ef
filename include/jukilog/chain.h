/* chain.h: following every source's hash chain as its events are read.
 *
 * A source's events may arrive out of order when they are spread over partitions, and may
 * arrive twice when a producer resends its spool. The tracker links each source's events by
 * seq and prev: an event whose seq is already linked (or already waiting) is a duplicate; one
 * whose prev does not match its predecessor's hash is a fork; seqs that never arrive are gaps.
 * Memory is one small entry per source plus the events waiting for a missing predecessor. */
#ifndef JUKILOG_CHAIN_H
#define JUKILOG_CHAIN_H

#include <stdint.h>

typedef enum jk_chain_status {
    JK_CHAIN_LINKED,    /* next in line; it (and any waiting successors) are now linked */
    JK_CHAIN_WAITING,   /* ahead of a missing predecessor; held until it arrives */
    JK_CHAIN_DUPLICATE, /* this seq was seen before with the same hash */
    JK_CHAIN_FORK,      /* prev does not match the predecessor's hash, or a seen seq with
                           another hash */
} jk_chain_status_t;

typedef struct jk_chain jk_chain_t;

jk_chain_t *jk_chain_new(void);
void jk_chain_free(jk_chain_t *ch);

/* Observes one event of source with its seq, prev and own hash (64 hex each). A fork does not
 * advance the chain: the first event seen for a seq stays the one linked. */
jk_chain_status_t jk_chain_observe(jk_chain_t *ch, const char *source, int64_t seq,
                                   const char *prev, const char *hash);

/* How far source's chain is linked: seqs 1..n with no gap (0 for a source not seen yet). */
int64_t jk_chain_linked(const jk_chain_t *ch, const char *source);

/* Per-source summary, in source order. */
typedef struct jk_chain_summary {
    const char *source;
    int64_t linked;   /* seqs 1..linked are linked with no gap */
    const char *head; /* hash of event `linked` (64 zeros if none) */
    int64_t waiting;  /* events held for a missing predecessor */
    int64_t
        first_waiting; /* lowest waiting seq (0 if none): linked+1 .. first_waiting-1 is a gap */
    int64_t duplicates;
    int64_t forks;
} jk_chain_summary_t;
typedef void (*jk_chain_fn)(void *ctx, const jk_chain_summary_t *s);
void jk_chain_foreach(const jk_chain_t *ch, jk_chain_fn fn, void *ctx);

/* Calls fn for each event of source held for a missing predecessor, in seq order (so that a
 * position can be stored whole, and restored by jk_chain_restore and then jk_chain_observe of
 * each). */
typedef void (*jk_chain_wait_fn)(void *ctx, int64_t seq, const char *prev, const char *hash);
void jk_chain_foreach_waiting(const jk_chain_t *ch, const char *source, jk_chain_wait_fn fn,
                              void *ctx);

/* Sets where a source's chain stands (for a consumer that stored it with its offsets):
 * seqs up to `linked` are taken as linked, with head as the last hash. */
int jk_chain_restore(jk_chain_t *ch, const char *source, int64_t linked, const char *head);

/* The events of source held for a missing predecessor as one line of text, for a position
 * stored in a table: "seq:prev:hash" in seq order, separated by one space ("" when none).
 * malloc'd; NULL when out of memory. */
char *jk_chain_waiting_text(const jk_chain_t *ch, const char *source);
/* Observes each event of such a text again (after jk_chain_restore of the source). Returns -1,
 * observing nothing, when the text is not that form. */
int jk_chain_restore_waiting(jk_chain_t *ch, const char *source, const char *text);

#endif
