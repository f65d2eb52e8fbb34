-- $1 id, $2 address, $3 started, $4 last heartbeat, $5 handlers, $6 running.
INSERT INTO nodes (id, address, started, last_heartbeat, handlers, running)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET
    address = excluded.address, started = excluded.started,
    last_heartbeat = excluded.last_heartbeat, handlers = excluded.handlers,
    running = excluded.running
