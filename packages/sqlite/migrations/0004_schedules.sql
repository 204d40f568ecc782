-- Spindle on SQLite, schema version 4: schedules (docs/decisions/0011-schedules.md). Times are
-- INTEGER epoch milliseconds; payload and job_options are JSON text validated by the core.
-- The leader fires a tick by a compare-and-set on (next_run_at, version) in the same transaction
-- that inserts the tick's job (id `schedule:<name>:<tick>`): one job per tick across processes.

CREATE TABLE spindle_schedules (
  name          TEXT    PRIMARY KEY,
  cron          TEXT,
  every_ms      INTEGER,
  timezone      TEXT    NOT NULL,
  queue         TEXT    NOT NULL,
  job_name      TEXT    NOT NULL,
  payload       TEXT    NOT NULL,
  job_options   TEXT    NOT NULL,
  backfill      INTEGER NOT NULL DEFAULT 0,
  paused        INTEGER NOT NULL DEFAULT 0,
  next_run_at   INTEGER,                -- the next tick to fire; NULL while paused
  last_run_at   INTEGER,                -- the newest tick fired
  last_job_id   TEXT,
  version       INTEGER NOT NULL,       -- +1 per redefinition: part of the firing compare-and-set
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  CHECK ((cron IS NULL) <> (every_ms IS NULL))
);

-- The runner's question "which active schedules are due, and when is the next one".
CREATE INDEX spindle_schedules_due_idx ON spindle_schedules (next_run_at) WHERE paused = 0 AND next_run_at IS NOT NULL;
CREATE INDEX spindle_schedules_queue_idx ON spindle_schedules (queue, name);
