-- national.sql: the national server's projection (DOMAIN.md duty 4, 機構への照会), in schema
-- <ns>_national, built by `jukilog national` from every prefecture's national topic.
--
-- persons     one row per (resident_code, prefecture): the last notice that prefecture's relay
--             forwarded about that code. A row only moves forward: a notice whose version is not
--             greater than the row's is a re-forwarded copy or stale, and changes nothing. A
--             person who moved between prefectures has a removed row under the old one and a
--             resident row under the new one. After a resident_code_change the old code's row is
--             removed with reason resident_code_change and new_resident_code naming the
--             successor, so that a lookup by the old code finds no stale resident.
-- rejections  notices that were not applied: bad_signature (no key of that prefecture's
--             registry verifies it), wrong_source (signed, but not by relay:<pref> of the topic's
--             prefecture), invalid_format (not a well-formed national.notified).
-- The positions are the journal's consumer_offsets and chain_heads (journal.sql), consumer
-- "national:<pref>", written in the same transaction as the rows.
CREATE SCHEMA IF NOT EXISTS @SCHEMA@;

CREATE TABLE IF NOT EXISTS @SCHEMA@.persons (
    resident_code     text        NOT NULL,
    prefecture        text        NOT NULL, -- whose relay notified it (2 digits)
    status            text        NOT NULL, -- resident | removed
    my_number         text        NOT NULL,
    name              text        NOT NULL,
    name_kana         text,
    birth_date        text        NOT NULL,
    sex               text        NOT NULL,
    address           text        NOT NULL,
    municipality_code text        NOT NULL,
    reason            text        NOT NULL,
    effective_date    text        NOT NULL,
    version           bigint      NOT NULL, -- the prefecture's version of the record
    change_id         text        NOT NULL, -- the identity event the notice forwards
    broker_time       timestamptz NOT NULL, -- when the prefecture's log accepted the change
    new_resident_code text,                 -- set on a code retired by resident_code_change
    PRIMARY KEY (resident_code, prefecture)
);
CREATE INDEX IF NOT EXISTS persons_my_number ON @SCHEMA@.persons (my_number);
-- The 4 information, normalised: NFKC folds full-width letters and digits and the ideographic
-- space into their plain forms, and spaces are dropped. A lookup must use the same expressions.
CREATE INDEX IF NOT EXISTS persons_four ON @SCHEMA@.persons (
    (replace(normalize(name, NFKC), ' ', '')), birth_date, sex,
    (replace(normalize(address, NFKC), ' ', '')));

CREATE TABLE IF NOT EXISTS @SCHEMA@.rejections (
    topic       text        NOT NULL,
    partition   int         NOT NULL,
    "offset"    bigint      NOT NULL,
    event_id    text        NOT NULL, -- "p<partition>o<offset>" when the event has none
    source      text,
    code        text        NOT NULL, -- bad_signature | wrong_source | invalid_format
    detail      text        NOT NULL,
    broker_time timestamptz NOT NULL, -- on the national topic
    PRIMARY KEY (topic, partition, "offset")
);
