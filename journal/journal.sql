-- journal.sql: what every exactly-once consumer keeps in the tenant's schema.
-- A consumer stores the next offset of each partition it read in the same transaction as the
-- rows those events produced, and on start seeks there; Kafka's own committed offsets are only
-- informational. It keeps each source's chain head beside it, and the events it read ahead of a
-- missing predecessor (a gap), so that a restarted consumer still recognises a producer's resent
-- events as duplicates, links them when the gap fills, and orders what follows as a consumer that
-- never stopped would.
CREATE SCHEMA IF NOT EXISTS @SCHEMA@;

CREATE TABLE IF NOT EXISTS @SCHEMA@.consumer_offsets (
    consumer    text   NOT NULL,
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (consumer, topic, partition)
);

CREATE TABLE IF NOT EXISTS @SCHEMA@.chain_heads (
    consumer text   NOT NULL,
    source   text   NOT NULL,
    linked   bigint NOT NULL,
    head     text   NOT NULL,
    PRIMARY KEY (consumer, source)
);
-- The events waiting in a gap, in seq order: "seq:prev:hash" separated by spaces ('' for none).
ALTER TABLE @SCHEMA@.chain_heads ADD COLUMN IF NOT EXISTS waiting text NOT NULL DEFAULT '';
