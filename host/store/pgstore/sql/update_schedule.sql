UPDATE schedules SET times = $2 WHERE id = $1
