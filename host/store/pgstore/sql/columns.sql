-- The columns of a store.Record, in the order of recordArgs and
-- scanRecord (record.go); the other statements say /*columns*/ for it.
id, type, thread_id, status, date_created, date_modified,
date_completed, date_cancelled, date_retain_until, date_next_process,
retain_for, retry_interval, retries_remaining,
payload, result, error, context_ids, progress,
attempts, lease_owner, lease_until
