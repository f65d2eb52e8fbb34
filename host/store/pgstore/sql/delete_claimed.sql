-- $1 id, $2 attempt. Removes the task only under the claim that attempt
-- names (store.Store.DeleteClaimed). The status is compared as text: the
-- partial indexes of processing tasks (tasks_lease, tasks_processing)
-- cannot serve that, so the task is found by its primary key whatever
-- the statistics say. Compared as an enum, a fresh schema's statistics
-- (those indexes empty) had every delete scan one of them instead.
DELETE FROM tasks WHERE id = $1 AND status::text = 'processing' AND attempts = $2
