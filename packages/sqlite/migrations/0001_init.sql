-- Spindle on SQLite, schema version 1.
-- Times are INTEGER epoch milliseconds. JSON values are TEXT.
-- The claim path reads only `queued` rows through jobs_claim_idx, so a claim stays O(log n)
-- however many scheduled, running, dead or completed rows the table holds.

CREATE TABLE spindle_jobs (
  seq                   INTEGER PRIMARY KEY,            -- insertion order (rowid): FIFO tie-break, list cursor
  id                    TEXT    NOT NULL UNIQUE,
  queue                 TEXT    NOT NULL,
  name                  TEXT    NOT NULL,
  payload               TEXT    NOT NULL,
  state                 TEXT    NOT NULL,
  priority              INTEGER NOT NULL,
  attempt               INTEGER NOT NULL DEFAULT 0,
  max_retries           INTEGER NOT NULL,
  progress              TEXT,
  result                TEXT,
  errors                TEXT    NOT NULL DEFAULT '[]',
  unique_key            TEXT,
  timeout_ms            INTEGER,
  backoff               TEXT,
  round                 INTEGER NOT NULL DEFAULT 0,
  created_at            INTEGER NOT NULL,
  run_at                INTEGER NOT NULL,
  started_at            INTEGER,
  finished_at           INTEGER,
  lease_token           TEXT,
  lease_expires_at      INTEGER,
  worker_id             TEXT,
  cancel_requested      INTEGER NOT NULL DEFAULT 0,
  failure_reason        TEXT,
  first_failed_at       INTEGER,
  last_failed_at        INTEGER,
  resolution_note       TEXT,
  resolved_at           INTEGER,
  expires_at            INTEGER,
  completed_keep_ms     INTEGER,
  completed_keep_count  INTEGER,
  dead_keep_ms          INTEGER,
  dead_keep_count       INTEGER
);

CREATE INDEX spindle_jobs_claim_idx ON spindle_jobs (queue, priority, run_at, seq) WHERE state = 'queued';
CREATE INDEX spindle_jobs_due_idx ON spindle_jobs (run_at) WHERE state IN ('scheduled', 'retrying');
CREATE INDEX spindle_jobs_lease_idx ON spindle_jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX spindle_jobs_expires_idx ON spindle_jobs (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX spindle_jobs_queue_state_idx ON spindle_jobs (queue, state, seq);
CREATE INDEX spindle_jobs_state_idx ON spindle_jobs (state, seq);
CREATE UNIQUE INDEX spindle_jobs_unique_idx ON spindle_jobs (queue, unique_key)
  WHERE unique_key IS NOT NULL AND state NOT IN ('completed', 'dead', 'cancelled');

CREATE TABLE spindle_queues (
  name        TEXT PRIMARY KEY,
  paused      INTEGER NOT NULL DEFAULT 0,
  updated_at  INTEGER NOT NULL
);

-- Leader election for maintenance: one row per role, held until expires_at unless renewed.
CREATE TABLE spindle_leader (
  role        TEXT PRIMARY KEY,
  holder_id   TEXT NOT NULL,
  expires_at  INTEGER NOT NULL
);

-- Event outbox for other processes sharing the file: one row per committed write transaction,
-- `body` a JSON array of events. SQLite serialises writers, so seq order is commit order and
-- readers can safely page by seq. Pruned after a minute.
CREATE TABLE spindle_events (
  seq     INTEGER PRIMARY KEY,
  origin  TEXT    NOT NULL,
  at      INTEGER NOT NULL,
  body    TEXT    NOT NULL
);
