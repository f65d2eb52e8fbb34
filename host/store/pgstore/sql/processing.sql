SELECT /*columns*/ FROM tasks
WHERE status = 'processing' AND lease_owner = $1
ORDER BY lease_owner, id
