-- Inserts the schedule unless its id is stored: a concurrent insert of
-- the same id waits for the other to commit, then does nothing.
INSERT INTO schedules (id, times) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING
