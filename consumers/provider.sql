-- provider.sql: what the provider keeps beside the identity file (consumers/provider.c).
--
-- provider_records    one row per record the provider appended (a provision or a refusal, with
--                     its reason), written in the same transaction as the provider's position,
--                     so it is exactly the provider's decisions on the log; rebuilt from offset 0
--                     by `jukilog provider --rebuild`.
-- provider_residents  the persons each record touched: what a disclosure lists.
--
-- The lookups by the 4 information compare name and address after NFKC normalisation with the
-- spaces removed (full-width digits, letters and spaces, half-width katakana all match their
-- usual forms); the expression indexes below serve them. They are made here, not in
-- identity.sql, so that the projector's rebuild does not pay for them; a provider re-creates
-- them when it starts after a rebuild dropped the table.
CREATE SCHEMA IF NOT EXISTS @SCHEMA@;

CREATE TABLE IF NOT EXISTS @SCHEMA@.provider_records (
    record_id    text        PRIMARY KEY, -- jk_operations_record_id(request_id)
    request_id   text        NOT NULL,
    request_type text        NOT NULL,    -- inquiry | disclosure | bulk
    outcome      text        NOT NULL,    -- provision | refusal
    operator     text        NOT NULL,
    department   text,
    purpose      text,
    category     text,
    reason       text,                    -- refusal reason
    detail       text,
    national     boolean     NOT NULL,    -- answered from the national projection
    request_time timestamptz NOT NULL,    -- the request's broker time
    items        text[],
    count        bigint      NOT NULL     -- persons provided (or touched, for a refusal)
);

CREATE TABLE IF NOT EXISTS @SCHEMA@.provider_residents (
    resident_code text NOT NULL,
    record_id     text NOT NULL,
    PRIMARY KEY (resident_code, record_id)
);

CREATE INDEX IF NOT EXISTS identity_name_norm
    ON @SCHEMA@.identity ((replace(normalize(name, NFKC), ' ', '')), birth_date);
CREATE INDEX IF NOT EXISTS identity_address_norm
    ON @SCHEMA@.identity ((replace(normalize(address, NFKC), ' ', '')));
