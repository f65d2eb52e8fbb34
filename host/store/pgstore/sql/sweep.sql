-- $1 now, $2 batch size. SKIP LOCKED: nodes sweeping at once take
-- disjoint batches, and a task another node deleted is simply not there.
WITH gone AS (
    DELETE FROM tasks
    WHERE id IN (
        SELECT id FROM tasks
        WHERE status IN ('success', 'failed', 'cancelled') AND date_retain_until < $1
        ORDER BY date_retain_until
        LIMIT $2
        FOR UPDATE SKIP LOCKED)
    RETURNING 1
)
SELECT count(*) FROM gone
