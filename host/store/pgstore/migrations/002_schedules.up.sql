-- Schedules of host/scheduler: the rules as added (shared.ScheduledTaskTime
-- JSON, trigger times in milliseconds), and where each rule stands.
CREATE TABLE schedules (
    id    text COLLATE "C" PRIMARY KEY,
    times json NOT NULL
);

-- One row per rule, idx its place in times. ClaimTrigger is a
-- compare-and-set on next_run.
CREATE TABLE schedule_triggers (
    schedule_id text COLLATE "C" NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    idx         integer NOT NULL,
    next_run    timestamptz,
    last_run    timestamptz,
    PRIMARY KEY (schedule_id, idx)
);
