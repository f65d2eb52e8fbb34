-- $1 schedule, $2 rule, $3 the due time the claimer saw, $4 the next.
UPDATE schedule_triggers SET next_run = $4, last_run = $3
WHERE schedule_id = $1 AND idx = $2 AND next_run = $3
