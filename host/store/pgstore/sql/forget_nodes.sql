-- $1 since. Forgets the nodes silent since before it.
DELETE FROM nodes WHERE last_heartbeat < $1
