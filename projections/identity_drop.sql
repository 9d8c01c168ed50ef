-- identity_drop.sql: what `jukilog projector --rebuild` removes before reading from offset 0.
DROP VIEW IF EXISTS @SCHEMA@.rejections;
DROP VIEW IF EXISTS @SCHEMA@.history_v;
DROP TABLE IF EXISTS @SCHEMA@.identity, @SCHEMA@.history, @SCHEMA@.events, @SCHEMA@.aliases;
DELETE FROM @SCHEMA@.consumer_offsets WHERE consumer = 'projector';
DELETE FROM @SCHEMA@.chain_heads WHERE consumer = 'projector';
DROP TABLE IF EXISTS @SCHEMA@.projector_segments, @SCHEMA@.projector_cuts, @SCHEMA@.projector_notices;
