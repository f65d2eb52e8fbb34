-- Tasks: one row per task (store.Record). Every statement runs with
-- search_path set to the store's schema (see doc.go), so names are bare.

-- Enum values sort in declaration order: life-cycle order, the order of
-- shared.Statuses, which is what a query sorted by status needs.
CREATE TYPE task_status AS ENUM ('pending', 'processing', 'success', 'failed', 'cancelled');

-- Text that is compared or sorted is COLLATE "C": byte order, as Go
-- compares strings (the id tie-break), whatever the database's locale.
-- The JSON columns are json, not jsonb: jsonb refuses the escape \u0000,
-- which is valid JSON a payload may hold (and a plugin's error message
-- after json.Marshal); json keeps the text as written. See doc.go.
CREATE TABLE tasks (
    id                text COLLATE "C" PRIMARY KEY,
    type              text COLLATE "C" NOT NULL,
    thread_id         text NOT NULL,
    status            task_status NOT NULL,
    date_created      timestamptz NOT NULL,
    date_modified     timestamptz NOT NULL,
    date_completed    timestamptz,
    date_cancelled    timestamptz,
    date_retain_until timestamptz,
    date_next_process timestamptz,
    retain_for        bigint,
    retry_interval    bigint,
    retries_remaining bigint,
    payload           json,
    result            json,
    error             json,
    context_ids       json,
    progress          json,
    attempts          integer NOT NULL,
    lease_owner       text COLLATE "C" NOT NULL,
    lease_until       timestamptz,
    -- Sort keys the indexes need as plain columns. due: when a pending
    -- task may run (store.Record.Due). completed_key: a missing
    -- dateCompleted sorts after every date, and keyset comparisons need
    -- no NULL.
    due               timestamptz NOT NULL GENERATED ALWAYS AS (coalesce(date_next_process, date_created)) STORED,
    completed_key     timestamptz NOT NULL GENERATED ALWAYS AS (coalesce(date_completed, 'infinity')) STORED
);

-- Claim and NextDue: the pending tasks of a type in claim order.
CREATE INDEX tasks_claim ON tasks (type, due, date_created, id) WHERE status = 'pending';
-- Processing(owner).
CREATE INDEX tasks_processing ON tasks (lease_owner, id) WHERE status = 'processing';
-- Sweep: terminal tasks with a retention end.
CREATE INDEX tasks_retention ON tasks (date_retain_until)
    WHERE status IN ('success', 'failed', 'cancelled') AND date_retain_until IS NOT NULL;

-- Query: one index per sort and filter, so that a page is one range of
-- one index, read forwards (asc) or backwards (desc). Sorting by status
-- is (status, date_created, id): the *_status_created indexes.
CREATE INDEX tasks_created             ON tasks (date_created, id);
CREATE INDEX tasks_type_created        ON tasks (type, date_created, id);
CREATE INDEX tasks_status_created      ON tasks (status, date_created, id);
CREATE INDEX tasks_type_status_created ON tasks (type, status, date_created, id);

CREATE INDEX tasks_modified             ON tasks (date_modified, id);
CREATE INDEX tasks_type_modified        ON tasks (type, date_modified, id);
CREATE INDEX tasks_status_modified      ON tasks (status, date_modified, id);
CREATE INDEX tasks_type_status_modified ON tasks (type, status, date_modified, id);

CREATE INDEX tasks_completed             ON tasks (completed_key, id);
CREATE INDEX tasks_type_completed        ON tasks (type, completed_key, id);
CREATE INDEX tasks_status_completed      ON tasks (status, completed_key, id);
CREATE INDEX tasks_type_status_completed ON tasks (type, status, completed_key, id);
