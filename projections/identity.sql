-- identity.sql: the prefecture's identity file (都道府県知事保存本人確認情報ファイル), built by
-- the projector from the identity topic, and rebuilt from offset 0 at any time.
--
-- identity   one row per person: the current record, its status, the last accepted change.
-- history    every accepted version of every record, from its broker time on; a version is
--            superseded (valid_to) when the next one is accepted. Superseded versions are the
--            "pre-modification information" that retention erases. Rows follow the person to a
--            new resident code; version_code keeps the code the version was recorded under.
-- events     every identity event the projector processed, with its outcome: so a resent event
--            is recognised by its id after any restart, and rejections are kept with reasons.
-- aliases    resident codes replaced by resident_code_change, and their successors.
CREATE SCHEMA IF NOT EXISTS @SCHEMA@;

CREATE TABLE IF NOT EXISTS @SCHEMA@.identity (
    resident_code         text        PRIMARY KEY,
    my_number             text        NOT NULL,
    name                  text        NOT NULL,
    name_kana             text,
    birth_date            text        NOT NULL,
    sex                   text        NOT NULL,
    address               text        NOT NULL,
    municipality_code     text        NOT NULL,
    status                text        NOT NULL,
    reason                text        NOT NULL,
    effective_date        text        NOT NULL,
    previous_municipality text        NOT NULL,
    version               bigint      NOT NULL,
    event_id              text        NOT NULL,
    broker_time           timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS identity_my_number ON @SCHEMA@.identity (my_number);

CREATE TABLE IF NOT EXISTS @SCHEMA@.history (
    resident_code     text        NOT NULL, -- the person's code now (follows resident_code_change)
    version           bigint      NOT NULL,
    version_code      text        NOT NULL, -- the person's code in this version
    my_number         text        NOT NULL,
    name              text        NOT NULL,
    name_kana         text,
    birth_date        text        NOT NULL,
    sex               text        NOT NULL,
    address           text        NOT NULL,
    municipality_code text        NOT NULL,
    status            text        NOT NULL,
    reason            text        NOT NULL,
    effective_date    text        NOT NULL,
    event_id          text        NOT NULL,
    source            text        NOT NULL,
    valid_from        timestamptz NOT NULL, -- log time (consumer.h) of the change
    PRIMARY KEY (resident_code, version)
);

CREATE TABLE IF NOT EXISTS @SCHEMA@.events (
    event_id      text        PRIMARY KEY,
    n             bigint      NOT NULL, -- 1, 2, ...: the order the projector processed them in
    source        text        NOT NULL,
    seq           bigint      NOT NULL,
    resident_code text,
    reason        text,
    outcome       text        NOT NULL, -- applied | superseded | rejected
    code          text,                 -- rejection code
    detail        text,
    broker_time   timestamptz NOT NULL, -- the broker's append time of this event
    log_time      timestamptz NOT NULL, -- the log clock at it (consumer.h): history's time axis
    partition     int         NOT NULL,
    "offset"      bigint      NOT NULL
);

CREATE UNIQUE INDEX IF NOT EXISTS events_n ON @SCHEMA@.events (n);
CREATE INDEX IF NOT EXISTS history_event ON @SCHEMA@.history (event_id);

CREATE TABLE IF NOT EXISTS @SCHEMA@.aliases (
    old_code    text        PRIMARY KEY,
    new_code    text        NOT NULL,
    event_id    text        NOT NULL,
    broker_time timestamptz NOT NULL
);

CREATE OR REPLACE VIEW @SCHEMA@.history_v AS
    SELECT h.*, lead(valid_from) OVER (PARTITION BY resident_code ORDER BY version) AS valid_to
    FROM @SCHEMA@.history h;

CREATE OR REPLACE VIEW @SCHEMA@.rejections AS
    SELECT event_id, source, resident_code, code, detail, broker_time
    FROM @SCHEMA@.events WHERE outcome = 'rejected';
