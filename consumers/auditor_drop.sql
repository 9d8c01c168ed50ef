-- auditor_drop.sql: what `jukilog auditor --rebuild` removes before reading from offset 0.
DROP VIEW IF EXISTS @SCHEMA@.audit_stats;
DROP TABLE IF EXISTS @SCHEMA@.audit_events, @SCHEMA@.audit_admin, @SCHEMA@.audit_requests,
    @SCHEMA@.audit_records, @SCHEMA@.audit_actions, @SCHEMA@.audit_sample_items;
DELETE FROM @SCHEMA@.consumer_offsets WHERE consumer = 'auditor';
DELETE FROM @SCHEMA@.chain_heads WHERE consumer = 'auditor';
