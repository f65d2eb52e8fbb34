DELETE FROM schedule_triggers WHERE schedule_id = $1
