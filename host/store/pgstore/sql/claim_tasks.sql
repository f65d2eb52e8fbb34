-- $1 type, $2 now, $3 owner, $4 lease until, $5 limit. One statement:
-- first the processing tasks whose lease lapsed before now (their node
-- stopped renewing: killed, stopped, cut off), earliest lapse first (in
-- any order among those of one claim, which share their lease: the order
-- of tasks_lease, read without a sort),
-- then pending tasks that are due, in claim order, up to $5 in all. The
-- lapsed come first: they are the oldest work, and a backlog of pending
-- tasks must not hold them back. Either way the task becomes processing
-- under a new claim: attempts + 1 fences out the old owner of a lapsed
-- one. SKIP LOCKED passes over tasks another claimer holds, so
-- concurrent claimers (of any node) take disjoint sets. The outer SELECT
-- puts the claimed rows in that order (RETURNING has none) and says which
-- were reclaimed.
WITH lapsed AS (
    SELECT id, lease_until FROM tasks
    WHERE type = $1 AND status = 'processing' AND lease_until < $2
    ORDER BY lease_until
    LIMIT $5
    FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id, due, date_created FROM tasks
    WHERE type = $1 AND status = 'pending' AND due <= $2
    ORDER BY due, date_created, id
    LIMIT $5 - (SELECT count(*) FROM lapsed)
    FOR UPDATE SKIP LOCKED
), picked AS (
    SELECT id AS claim_id, true AS reclaimed, lease_until AS k1, NULL::timestamptz AS k2 FROM lapsed
    UNION ALL
    SELECT id, false, due, date_created FROM due
), claimed AS (
    UPDATE tasks
    SET status = 'processing', attempts = attempts + 1, date_modified = $2,
        lease_owner = $3, lease_until = $4
    FROM picked
    WHERE tasks.id = picked.claim_id
    RETURNING /*columns*/, picked.reclaimed, picked.k1, picked.k2
)
SELECT /*columns*/, reclaimed FROM claimed ORDER BY NOT reclaimed, k1, k2, id
