-- projector_group.sql: what the members of a group of projectors (`jukilog projector --group`)
-- share besides consumer_offsets, where each partition's next offset is stored by the member
-- that applies it. See projector_group.c for the design.
--
-- projector_segments  the order's segments: segment k ends, in partition p, at ends[p + 1].
--                     Every member merges a segment's records as a single projector merges a
--                     log that ends there, so the members agree on one order while the log grows.
-- projector_cuts      positions in that order, one per partition, stored by the member that
--                     applies the partition with each of its commits (partition -1: where the
--                     group started): the next offset of every partition, the processing number
--                     and the log clock there, each source's chain (JSON: [source, linked, head,
--                     [[seq, prev, hash] waiting...]]) and the segment. Members (re)start at the
--                     earliest.
-- projector_notices   the processing number up to which the notices to the CSs have been sent.
CREATE TABLE IF NOT EXISTS @SCHEMA@.projector_segments (
    k    bigint   PRIMARY KEY,
    ends bigint[] NOT NULL
);

CREATE TABLE IF NOT EXISTS @SCHEMA@.projector_cuts (
    partition int      PRIMARY KEY,
    segment   bigint   NOT NULL,
    n         bigint   NOT NULL,
    log_ms    bigint   NOT NULL,
    offsets   bigint[] NOT NULL,
    chains    text     NOT NULL
);

CREATE TABLE IF NOT EXISTS @SCHEMA@.projector_notices (
    one    int    PRIMARY KEY CHECK (one = 1),
    next_n bigint NOT NULL
);
