SELECT due FROM tasks
WHERE type = $1 AND status = 'pending'
ORDER BY due, date_created, id
LIMIT 1
