-- auditor.sql: the audit views (DOMAIN.md "Controls": every use recorded, also refused ones),
-- built by `jukilog auditor` from the operations and admin topics, exactly once, and rebuilt
-- from offset 0 at any time. Rows are only ever added: the first event with an id wins.
--
-- audit_events          every event the auditor processed, with what it made of it: so a copy
--                       of an id (a provider's record decided again after a crash) is dropped
-- audit_admin           the operator events of the admin topic, replayed into the operator
--                       registry when the auditor starts again (requests carry no department)
-- audit_requests        every request, with its operator's department at the request's time
-- audit_records         every provision and refusal, with the fiscal year, JST date and hour of
--                       its request's broker time and the category it is counted under
-- audit_actions         the auditor's own operations: views read, samples drawn, verdicts
-- audit_sample_items    the records of each drawn sample and their reviewers
CREATE SCHEMA IF NOT EXISTS @SCHEMA@;

CREATE TABLE IF NOT EXISTS @SCHEMA@.audit_events (
    event_id    text        PRIMARY KEY,
    n           bigint      NOT NULL, -- 1, 2, ...: the order the auditor processed them in
    topic       text        NOT NULL,
    type        text,
    source      text,
    outcome     text        NOT NULL, -- request | provision | refusal | audit | admin | ignored | unverified
    detail      text,
    broker_time timestamptz NOT NULL,
    log_time    timestamptz NOT NULL,
    partition   int         NOT NULL,
    "offset"    bigint      NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS audit_events_n ON @SCHEMA@.audit_events (n);

CREATE TABLE IF NOT EXISTS @SCHEMA@.audit_admin (
    n        bigint      PRIMARY KEY,
    event_id text        NOT NULL,
    type     text        NOT NULL,
    source   text        NOT NULL,
    data     text        NOT NULL, -- the event's data, as JSON
    log_time timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS @SCHEMA@.audit_requests (
    event_id     text        PRIMARY KEY,
    n            bigint      NOT NULL,
    request_type text        NOT NULL, -- inquiry | disclosure | bulk | what the type said
    operator     text        NOT NULL, -- the signer (source op:<id>)
    department   text,                 -- the operator's at the request's time; NULL: not registered
    purpose      text,
    category     text,                 -- the purpose's, from the catalogue
    broker_time  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_requests_operator ON @SCHEMA@.audit_requests (operator);
CREATE INDEX IF NOT EXISTS audit_requests_department ON @SCHEMA@.audit_requests (department);

CREATE TABLE IF NOT EXISTS @SCHEMA@.audit_records (
    record_id      text        PRIMARY KEY,
    n              bigint      NOT NULL,
    kind           text        NOT NULL, -- provision | refusal
    type           text        NOT NULL,
    request_id     text        NOT NULL,
    request_type   text        NOT NULL,
    operator       text        NOT NULL,
    department     text,
    purpose        text,
    category       text,
    stats_category text        NOT NULL, -- betsu5 | betsu6 | ordinance | disclosure | statistics | national | bulk | unknown
    national       boolean     NOT NULL,
    reason         text,                 -- refusals
    detail         text,
    residents      text[]      NOT NULL,
    persons        bigint,               -- provisions: count
    matched        bigint,               -- bulk provisions
    unmatched      bigint,
    request_time   timestamptz NOT NULL,
    fiscal_year    int         NOT NULL, -- April to March, JST
    jst_date       date        NOT NULL,
    jst_hour       int         NOT NULL,
    off_hours      boolean     NOT NULL, -- outside 08:00-20:00 JST
    broker_time    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_residents ON @SCHEMA@.audit_records USING gin (residents);
CREATE INDEX IF NOT EXISTS audit_records_operator ON @SCHEMA@.audit_records (operator);
CREATE INDEX IF NOT EXISTS audit_records_department ON @SCHEMA@.audit_records (department);
CREATE INDEX IF NOT EXISTS audit_records_year ON @SCHEMA@.audit_records (fiscal_year, kind);

CREATE TABLE IF NOT EXISTS @SCHEMA@.audit_actions (
    event_id    text        PRIMARY KEY,
    n           bigint      NOT NULL,
    type        text        NOT NULL, -- audit.viewed | audit.sample_drawn | audit.reviewed
    actor       text        NOT NULL,
    fiscal_year int,
    record_id   text,                 -- audit.reviewed
    reviewer    text,
    verdict     text,
    note        text,
    data        text        NOT NULL, -- the event's data, as JSON
    broker_time timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS @SCHEMA@.audit_sample_items (
    draw_id     text NOT NULL, -- the audit.sample_drawn event
    fiscal_year int  NOT NULL,
    record_id   text NOT NULL,
    reviewer    text NOT NULL,
    PRIMARY KEY (draw_id, record_id)
);

-- Uses per fiscal year and category, the way prefectures report them each year.
CREATE OR REPLACE VIEW @SCHEMA@.audit_stats AS
    SELECT fiscal_year, stats_category,
           count(*) FILTER (WHERE kind = 'provision') AS provisions,
           coalesce(sum(persons) FILTER (WHERE kind = 'provision'), 0) AS persons,
           count(*) FILTER (WHERE kind = 'refusal') AS refusals
    FROM @SCHEMA@.audit_records GROUP BY fiscal_year, stats_category;
