-- $2: the statuses the task may be in; empty for any.
DELETE FROM tasks
WHERE id = $1 AND (cardinality($2::text[]) = 0 OR status = ANY ($2::text[]::task_status[]))
