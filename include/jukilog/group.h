/* group.h: membership of a Kafka consumer group, for a share of a topic's partitions.
 *
 * A member is told which partitions of the topic are its own through the group protocol
 * (subscribe, rebalance callback), and nothing else: it fetches nothing through its membership
 * (the partitions are paused once assigned) and commits no offsets. Callers keep their positions
 * in PostgreSQL with their rows (DESIGN.md "Consumers and their guarantees") and read with a
 * jk_consumer of their own. The rebalance callback runs only inside jk_group_poll, so a caller
 * that polls between batches never has its share change in the middle of one. */
#ifndef JUKILOG_GROUP_H
#define JUKILOG_GROUP_H

#include <stdint.h>

#include "jukilog/config.h"
#include "jukilog/err.h"

typedef struct jk_group jk_group_t;

/* Joins group_id as a member sharing topic (full name). The first share comes with a later
 * jk_group_poll. */
jk_group_t *jk_group_join(const jk_config_t *cfg, const char *group_id, const char *topic,
                          jk_err_t *err);
/* Leaves the group (the others share this member's partitions after their next rebalance). */
void jk_group_leave(jk_group_t *g);

/* Serves the group protocol for at most timeout_ms. Returns 0, or -1 on a fatal client error. */
int jk_group_poll(jk_group_t *g, int timeout_ms, jk_err_t *err);

/* Counts the changes of this member's share so far: a caller compares it with the value it last
 * acted on. */
uint64_t jk_group_generation(const jk_group_t *g);
/* The topic's partition count (as at the join), and whether partition is this member's now. */
int jk_group_partitions(const jk_group_t *g);
int jk_group_owns(const jk_group_t *g, int32_t partition);

/* The partition's low and high watermarks, from the broker. */
int jk_group_watermarks(jk_group_t *g, int32_t partition, int64_t *lo, int64_t *hi, jk_err_t *err);

#endif
