-- $1..$21 as insert_task, $22 the status the caller expects. From
-- processing, the stored attempts must also be the caller's ($19): a
-- claim increments them, so a node whose claim was superseded writes
-- nothing (store.Store.Update, store.CheckUpdate). The status is compared
-- as text, as in delete_claimed.sql: the task is found by its key.
UPDATE tasks SET
    type = $2, thread_id = $3, status = $4, date_created = $5, date_modified = $6,
    date_completed = $7, date_cancelled = $8, date_retain_until = $9, date_next_process = $10,
    retain_for = $11, retry_interval = $12, retries_remaining = $13,
    payload = $14, result = $15, error = $16, context_ids = $17, progress = $18,
    attempts = $19, lease_owner = $20, lease_until = $21
WHERE id = $1 AND status::text = $22 AND ($22 <> 'processing' OR attempts = $19)
