SELECT s.times,
    coalesce((SELECT array_agg(t.next_run ORDER BY t.idx) FROM schedule_triggers t WHERE t.schedule_id = s.id), '{}'),
    coalesce((SELECT array_agg(t.last_run ORDER BY t.idx) FROM schedule_triggers t WHERE t.schedule_id = s.id), '{}')
FROM schedules s WHERE s.id = $1
