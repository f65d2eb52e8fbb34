-- Serialises migrations of one schema across nodes until the
-- transaction ends. $1: the schema; the key is a stable hash of it.
SELECT pg_advisory_xact_lock(hashtextextended('taskhost migrations ' || $1, 0))
