-- relay.sql: where the national relay stands: the processing number (events.n) of the last
-- accepted change it forwarded to the national server.
CREATE SCHEMA IF NOT EXISTS @SCHEMA@;

CREATE TABLE IF NOT EXISTS @SCHEMA@.relay_position (
    one    boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_n bigint  NOT NULL
);
