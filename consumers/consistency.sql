-- consistency.sql: what the consistency consumer keeps between a CS's events (the exchange is
-- described in include/jukilog/consistency.h). Its offsets and chain heads are in
-- consumer_offsets and chain_heads under the consumer name 'consistency'.
--
-- consistency_submissions  one row per submission: what was asked, and where it stands
--                          (requested: waiting for the records; reported; superseded by a later
--                          submission of the same municipality before its records came).
-- consistency_chunks       the records received for a submission until its last chunk is in.
CREATE SCHEMA IF NOT EXISTS @SCHEMA@;

CREATE TABLE IF NOT EXISTS @SCHEMA@.consistency_submissions (
    submission   text        PRIMARY KEY, -- the consistency.submitted event's id
    municipality text        NOT NULL,
    source       text        NOT NULL,
    as_of        timestamptz NOT NULL,    -- the submission's broker time
    buckets      int         NOT NULL,
    records      bigint      NOT NULL,    -- the municipality's count
    prefecture_records bigint NOT NULL,   -- the prefecture's count as of as_of
    identity_seq bigint      NOT NULL,    -- the CS's last identity seq, as it said
    requested    text        NOT NULL,    -- JSON array of the buckets that differ
    state        text        NOT NULL,    -- requested | reported | superseded
    report_id    text
);

CREATE TABLE IF NOT EXISTS @SCHEMA@.consistency_chunks (
    submission text NOT NULL,
    chunk      int  NOT NULL,
    chunks     int  NOT NULL,
    records    text NOT NULL, -- JSON array of normalised records
    PRIMARY KEY (submission, chunk)
);
