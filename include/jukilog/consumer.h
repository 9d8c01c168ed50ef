/* consumer.h: reading the log, verified.
 *
 * A consumer is assigned partitions at offsets the caller supplies (the exactly-once pattern:
 * the caller keeps its offsets in PostgreSQL with the rows they produced), reads in batches,
 * parses each event, checks its signature against the key registry built from the admin topic
 * as of the event's broker time, follows each source's chain, and drops duplicates. */
#ifndef JUKILOG_CONSUMER_H
#define JUKILOG_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include "jukilog/chain.h"
#include "jukilog/config.h"
#include "jukilog/envelope.h"
#include "jukilog/err.h"
#include "jukilog/keyreg.h"

#define JK_OFFSET_BEGINNING (-2)
#define JK_OFFSET_END (-1) /* where the partition ends when it is assigned */

typedef enum jk_record_status {
    JK_REC_OK,            /* parsed, signature holds, first time seen */
    JK_REC_INVALID,       /* not a well-formed event: error says which field */
    JK_REC_BAD_SIGNATURE, /* no key for the source at that time, or the signature fails */
    JK_REC_FORK,          /* signature holds but prev contradicts the source's chain */
    JK_REC_SKIPPED,       /* not wanted (jk_consumer_only): never returned */
} jk_record_status_t;

typedef struct jk_record {
    jk_record_status_t status;
    jk_envelope_t *ev; /* NULL when INVALID */
    char hash[65];     /* of ev; empty when INVALID */
    char topic[128];
    int32_t partition;
    int64_t offset;
    int64_t broker_ms; /* LogAppendTime */
    /* The log's clock at this record: the largest broker time read so far in the consumer's
     * order. A source's events come in seq order, and one producer's events may land on two
     * partitions with the later one a millisecond earlier; the log clock never goes back, so
     * "as of time T" is always a prefix of the order. */
    int64_t log_ms;
    char error[512]; /* why, when status is not OK */
} jk_record_t;

typedef struct jk_batch {
    jk_record_t *recs;
    size_t n, cap;
    size_t duplicates; /* dropped from this batch */
} jk_batch_t;
void jk_batch_clear(jk_batch_t *b);
void jk_batch_free(jk_batch_t *b);

typedef struct jk_consumer jk_consumer_t;

/* The one order (consumer.c): a source's event that is its next in seq goes before an earlier
 * event waiting for its predecessor when it is at most JK_ORDER_WINDOW_MS later in broker time;
 * a waiting event is taken once nothing can still come before it, which a reader at the log's
 * end knows JK_ORDER_SETTLE_MS of wall clock after that window (broker and host clocks are
 * taken to agree within that). So a reader at the end and a replay order the same log alike,
 * even when a lost event comes long after its successors. */
#define JK_ORDER_WINDOW_MS 250
#define JK_ORDER_SETTLE_MS 1000

/* Opens a consumer and loads the key registry from the tenant's admin topic up to its current
 * end, trusting the admin public key in $JUKILOG_HOME/keys when it is there. */
jk_consumer_t *jk_consumer_open(const jk_config_t *cfg, jk_err_t *err);

/* The same for the tenant of another prefecture of cfg's namespace (the national server reads
 * every prefecture's national topic, each checked against its own prefecture's keys): the key
 * registry comes from <ns>.<prefecture>.admin, and its anchor is
 *   - $JUKILOG_HOME/keys/admin.pub when prefecture is cfg's own (as jk_consumer_open),
 *   - $JUKILOG_HOME/keys/anchors/<prefecture>.pub for another prefecture, when that file is
 *     there (the other prefecture's admin public key, one base64 line like admin.pub),
 *   - otherwise the topic's first admin self-registration.
 * The home admin key is never pinned for another prefecture: it would refuse that prefecture's
 * own admin. prefecture NULL means cfg's own. cfg must outlive the consumer. */
jk_consumer_t *jk_consumer_open_prefecture(const jk_config_t *cfg, const char *prefecture,
                                           jk_err_t *err);
void jk_consumer_close(jk_consumer_t *c);

/* The same, telling fn of every event read from the admin topic (parsed, in the topic's order,
 * after the key registry took it; its signature not checked: fn can ask jk_consumer_keys), for
 * consumers that keep another projection of the admin topic, such as the operator registry. */
typedef void (*jk_admin_fn)(jk_consumer_t *c, const jk_envelope_t *ev, int64_t broker_ms,
                            void *ctx);
jk_consumer_t *jk_consumer_open_admin(const jk_config_t *cfg, jk_admin_fn fn, void *ctx,
                                      jk_err_t *err);

/* Reads the admin topic up to its current end. *as_of (may be NULL) is set to a wall-clock time
 * taken before the end was asked for: every admin event appended before it has now been read,
 * so a decision about an event appended before as_of sees every admin event before it
 * (DESIGN.md: "reads that topic up to its high-water mark before it decides"). */
int jk_consumer_admin_refresh(jk_consumer_t *c, int64_t *as_of, jk_err_t *err);
/* Asks for the admin topic's end in the background and returns at once; the next
 * jk_consumer_admin_refresh waits for that answer instead of asking (its as_of is then the time
 * of this call), so the round trip to the broker overlaps the caller's other work. */
int jk_consumer_admin_ask(jk_consumer_t *c, jk_err_t *err);

/* Opens a consumer and assigns every partition of each of the tenant's topics named (short
 * names: "identity", "admin", ...) from the beginning. */
jk_consumer_t *jk_consumer_open_topics(const jk_config_t *cfg, const char *const *names, size_t n,
                                       jk_err_t *err);

/* Assigns every partition of topic (full name). offsets[i] is where partition i starts
 * (JK_OFFSET_BEGINNING and JK_OFFSET_END allowed); offsets NULL means all from the beginning.
 * n_offsets must equal the partition count when offsets is given. Can be called for several topics.
 */
int jk_consumer_assign(jk_consumer_t *c, const char *topic, const int64_t *offsets, int n_offsets,
                       jk_err_t *err);

/* Verifies only chain heads (for rebuilds and replays, DESIGN.md "Verification cost"): each batch
 * checks the signature of each source's last event in it, and every earlier event of the batch
 * that the hash chain binds to an authentic successor is authentic too. If any event of a batch
 * is not, the batch is read again with every signature checked, so the records are exactly those
 * of a consumer that checks every signature. Off by default: live consumers check every event
 * once, when it first arrives. */
void jk_consumer_verify_heads(jk_consumer_t *c, int on);

/* Checks the own signature of every accepted event of b (OK or FORK) against the key its source
 * had at its broker time, on `threads` threads (this one among them): what --verify adds to a
 * consumer that verifies chain heads only. Sets bad[i] (b->n of them, zeroed by the caller) for
 * each that fails and returns how many. Reads the registry only: call it between polls. */
size_t jk_batch_check_signatures(const jk_keyreg_t *keys, const jk_batch_t *b, int threads,
                                 unsigned char *bad);

/* Returns only the events wanted says it wants; the others are read past (their offsets count
 * as read) without checking their signatures or following their chains, which is what makes a
 * reader of a busy topic that wants a few of its events cheap: a provider that reads requests but
 * not the records it wrote itself, a terminal that reads only the provider's records. Events
 * that are not well formed are always returned. */
void jk_consumer_only(jk_consumer_t *c, int (*wanted)(const jk_envelope_t *ev, void *ctx),
                      void *ctx);

/* Sets the log clock (for a consumer resuming where a stored position left off). */
void jk_consumer_set_clock(jk_consumer_t *c, int64_t log_ms);
/* The log clock: the largest broker time taken so far. */
int64_t jk_consumer_clock(const jk_consumer_t *c);

/* Ends the merge at limits[i] in assigned partition i (assignment order; n must be the number
 * of partitions assigned; limits NULL or -1 means no limit). The merge then treats a partition
 * read up to its limit as it treats one read to its end, and waits for one that is not, even at
 * its end. So several consumers given the same limits (offsets that exist) take exactly the same
 * records in exactly the same order, however the broker's appends and deliveries interleave. */
int jk_consumer_limit(jk_consumer_t *c, const int64_t *limits, size_t n, jk_err_t *err);
/* True when every assigned partition has been read up to its limit. */
int jk_consumer_at_limits(const jk_consumer_t *c);

/* Asks fn about each record just before the merge takes it (after the order is decided, before
 * the chain follows it); when fn returns nonzero the batch ends there, and the record stays
 * first in line for the next poll, which may end at once if fn holds it again. */
typedef int (*jk_hold_fn)(jk_consumer_t *c, const jk_record_t *r, void *ctx);
void jk_consumer_hold(jk_consumer_t *c, jk_hold_fn fn, void *ctx);

/* The number of partitions of topic (full name), or -1. */
int jk_consumer_partitions(jk_consumer_t *c, const char *topic, jk_err_t *err);

/* Reads up to max records into b (cleared first), waiting at most timeout_ms for the first.
 * Duplicates are dropped (and counted in b->duplicates). Returns 0, or -1 on a client error. */
int jk_consumer_poll(jk_consumer_t *c, jk_batch_t *b, size_t max, int timeout_ms, jk_err_t *err);

/* True once every assigned partition has been read up to the end it had when assigned. */
int jk_consumer_caught_up(const jk_consumer_t *c);

/* Where the consumer stands in each assigned partition, in assignment order: i from 0 to
 * jk_consumer_nparts()-1. next is the offset after the last event returned. */
size_t jk_consumer_nparts(const jk_consumer_t *c);
void jk_consumer_part(const jk_consumer_t *c, size_t i, const char **topic, int32_t *partition,
                      int64_t *next);

/* The registry and chain tracker the consumer keeps (owned by it). */
jk_keyreg_t *jk_consumer_keys(jk_consumer_t *c);
jk_chain_t *jk_consumer_chain(jk_consumer_t *c);

#endif
