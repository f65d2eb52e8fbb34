SELECT id, address, started, last_heartbeat, handlers, running FROM nodes ORDER BY id
