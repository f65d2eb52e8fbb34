SELECT times FROM schedules WHERE id = $1 FOR UPDATE
