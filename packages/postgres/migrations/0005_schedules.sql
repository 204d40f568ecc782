-- Spindle on PostgreSQL, schema version 5: schedules (docs/decisions/0011-schedules.md).
-- `{{schema}}` is replaced by the quoted schema name. payload and job_options are JSON text
-- validated by the core. The leader fires a tick by a compare-and-set on (next_run_at, version)
-- in the same transaction that inserts the tick's job (id `schedule:<name>:<tick>`): one job per
-- tick across processes, whichever of them leads.

CREATE TABLE {{schema}}.schedules (
  name          text        COLLATE "C" PRIMARY KEY,
  cron          text,
  every_ms      bigint,
  timezone      text        NOT NULL,
  queue         text        COLLATE "C" NOT NULL,
  job_name      text        NOT NULL,
  payload       text        NOT NULL,
  job_options   text        NOT NULL,
  backfill      integer     NOT NULL DEFAULT 0,
  paused        boolean     NOT NULL DEFAULT false,
  next_run_at   timestamptz,              -- the next tick to fire; NULL while paused
  last_run_at   timestamptz,              -- the newest tick fired
  last_job_id   text,
  version       integer     NOT NULL,     -- +1 per redefinition: part of the firing compare-and-set
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  CHECK ((cron IS NULL) <> (every_ms IS NULL))
);

-- The runner's question "which active schedules are due, and when is the next one".
CREATE INDEX schedules_due_idx ON {{schema}}.schedules (next_run_at) WHERE NOT paused AND next_run_at IS NOT NULL;
CREATE INDEX schedules_queue_idx ON {{schema}}.schedules (queue, name);
