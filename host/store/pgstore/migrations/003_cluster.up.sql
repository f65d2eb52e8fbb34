-- Cluster mode: reclaiming the tasks of a node whose leases lapsed, and
-- the nodes' heartbeats.

-- Claim (reclaim) and NextDue: the processing tasks of a type by the end
-- of their lease.
CREATE INDEX tasks_lease ON tasks (type, lease_until) WHERE status = 'processing';

-- One row per node sharing the store, replaced at each heartbeat.
CREATE TABLE nodes (
    id             text COLLATE "C" PRIMARY KEY,
    address        text NOT NULL,
    started        timestamptz NOT NULL,
    last_heartbeat timestamptz NOT NULL,
    handlers       text[] NOT NULL,
    running        integer NOT NULL
);
