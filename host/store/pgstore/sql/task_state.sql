-- Why a conditional write changed nothing: the task's status and attempts.
SELECT status, attempts FROM tasks WHERE id = $1
