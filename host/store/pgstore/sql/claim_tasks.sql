-- $1 type, $2 now, $3 owner, $4 lease until, $5 limit. One statement:
-- SKIP LOCKED passes over tasks another claimer holds, so concurrent
-- claimers (of any node) take disjoint sets. The outer SELECT only puts
-- the claimed rows in claim order (RETURNING has none).
WITH claimed AS (
    UPDATE tasks
    SET status = 'processing', attempts = attempts + 1, date_modified = $2,
        lease_owner = $3, lease_until = $4
    WHERE id IN (
        SELECT id FROM tasks
        WHERE type = $1 AND status = 'pending' AND due <= $2
        ORDER BY due, date_created, id
        LIMIT $5
        FOR UPDATE SKIP LOCKED)
    RETURNING /*columns*/, due
)
SELECT /*columns*/ FROM claimed ORDER BY due, date_created, id
