-- $1 id, $2 attempt. Removes the task only under the claim that attempt
-- names (store.Store.DeleteClaimed).
DELETE FROM tasks WHERE id = $1 AND status = 'processing' AND attempts = $2
