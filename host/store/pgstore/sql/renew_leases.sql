-- $1 owner, $2 lease until, $3 ids, $4 their attempts. Extends the
-- leases that owner still holds (the task processing under that claim)
-- and returns their ids; the others are lost.
UPDATE tasks SET lease_until = $2
FROM unnest($3::text[], $4::integer[]) AS l(id, attempt)
WHERE tasks.id = l.id AND tasks.status = 'processing'
    AND tasks.lease_owner = $1 AND tasks.attempts = l.attempt
RETURNING tasks.id
