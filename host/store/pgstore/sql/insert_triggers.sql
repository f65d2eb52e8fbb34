-- $2, $3: next and last run of each rule, in rule order.
INSERT INTO schedule_triggers (schedule_id, idx, next_run, last_run)
SELECT $1, u.i - 1, u.next_run, u.last_run
FROM unnest($2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS u (next_run, last_run, i)
