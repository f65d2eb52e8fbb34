-- $1: the statuses to count. The types are found by a loose index scan
-- (one index probe per type), and each (type, status) is counted on
-- tasks_type_status_created: the cost follows the tasks counted, not the
-- tasks stored, and every type with a task in any status is listed.
WITH RECURSIVE types AS (
    SELECT min(type) AS type FROM tasks
    UNION ALL
    SELECT (SELECT min(t.type) FROM tasks t WHERE t.type > types.type)
    FROM types WHERE types.type IS NOT NULL
)
SELECT types.type, s.status,
    (SELECT count(*) FROM tasks t WHERE t.type = types.type AND t.status = s.status)
FROM types CROSS JOIN unnest($1::text[]::task_status[]) AS s (status)
WHERE types.type IS NOT NULL
