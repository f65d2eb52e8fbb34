-- $1 ids, $2 their attempts, $3 their progress. Records the progress of
-- the tasks still processing under those claims and returns their ids;
-- the others' is dropped (store.ProgressStore). Only progress changes:
-- no indexed column, so the update can stay on its page (HOT).
UPDATE tasks SET progress = p.progress
FROM unnest($1::text[], $2::integer[], $3::json[]) AS p(id, attempt, progress)
WHERE tasks.id = p.id AND tasks.status::text = 'processing' AND tasks.attempts = p.attempt
RETURNING tasks.id
