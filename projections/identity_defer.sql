-- identity_defer.sql: the indexes that a rebuild (`jukilog projector --rebuild`) builds once
-- after its load instead of maintaining them row by row during it. None of them serves the
-- projector's own reads (those use the primary keys); identity.sql creates them again when the
-- rebuild has caught up, and at the start of every program that opens the identity file, so a
-- rebuild that is stopped half-way leaves them missing only until the next start.
DROP INDEX IF EXISTS @SCHEMA@.identity_my_number;
DROP INDEX IF EXISTS @SCHEMA@.history_event;
DROP INDEX IF EXISTS @SCHEMA@.events_n;
