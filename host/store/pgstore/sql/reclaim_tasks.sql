-- $1 type, $2 now, $3 owner, $4 lease until, $5 limit. Takes over the
-- processing tasks whose lease lapsed before now (their node stopped
-- renewing: killed, stopped, cut off), earliest lapse first. Each is a
-- new claim: attempts + 1 fences the old owner out. Like claim_tasks,
-- SKIP LOCKED keeps concurrent claimers apart.
WITH claimed AS (
    UPDATE tasks
    SET attempts = attempts + 1, date_modified = $2, lease_owner = $3, lease_until = $4
    WHERE id IN (
        SELECT id FROM tasks
        WHERE type = $1 AND status = 'processing' AND lease_until < $2
        ORDER BY lease_until, id
        LIMIT $5
        FOR UPDATE SKIP LOCKED)
    RETURNING /*columns*/
)
SELECT /*columns*/ FROM claimed ORDER BY lease_until, id
