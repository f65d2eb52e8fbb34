-- Why claim_trigger changed nothing: is the schedule there, and the rule?
SELECT EXISTS (SELECT FROM schedules WHERE id = $1),
    EXISTS (SELECT FROM schedule_triggers WHERE schedule_id = $1 AND idx = $2)
