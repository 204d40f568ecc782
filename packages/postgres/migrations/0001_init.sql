-- Spindle on PostgreSQL, schema version 1. `{{schema}}` is replaced by the quoted schema name.
-- JSON values are text (stored as given: no re-serialisation on the hot path) except the error
-- history, which is jsonb so a failure can append to it in place.
-- The claim path reads only `queued` rows through jobs_claim_idx (FOR UPDATE SKIP LOCKED), so a
-- claim stays O(log n) however many scheduled, running, dead or completed rows the table holds.

CREATE TABLE {{schema}}.jobs (
  id                    text        PRIMARY KEY,
  seq                   bigint      GENERATED ALWAYS AS IDENTITY,
  queue                 text        NOT NULL,
  name                  text        NOT NULL,
  payload               text        NOT NULL,
  state                 text        NOT NULL,
  priority              integer     NOT NULL,
  attempt               integer     NOT NULL DEFAULT 0,
  max_retries           integer     NOT NULL,
  progress              text,
  result                text,
  errors                jsonb       NOT NULL DEFAULT '[]'::jsonb,
  unique_key            text,
  timeout_ms            integer,
  backoff               text,
  round                 integer     NOT NULL DEFAULT 0,
  created_at            timestamptz NOT NULL,
  run_at                timestamptz NOT NULL,
  started_at            timestamptz,
  finished_at           timestamptz,
  lease_token           text,
  lease_expires_at      timestamptz,
  worker_id             text,
  cancel_requested      boolean     NOT NULL DEFAULT false,
  failure_reason        text,
  first_failed_at       timestamptz,
  last_failed_at        timestamptz,
  resolution_note       text,
  resolved_at           timestamptz,
  expires_at            timestamptz,
  completed_keep_ms     bigint,
  completed_keep_count  integer,
  dead_keep_ms          bigint,
  dead_keep_count       integer
);

CREATE UNIQUE INDEX jobs_seq_idx ON {{schema}}.jobs (seq);
CREATE INDEX jobs_claim_idx ON {{schema}}.jobs (queue, priority, run_at, seq) WHERE state = 'queued';
CREATE INDEX jobs_due_idx ON {{schema}}.jobs (run_at) WHERE state IN ('scheduled', 'retrying');
CREATE INDEX jobs_lease_idx ON {{schema}}.jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_expires_idx ON {{schema}}.jobs (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX jobs_queue_state_idx ON {{schema}}.jobs (queue, state, seq);
CREATE INDEX jobs_state_idx ON {{schema}}.jobs (state, seq);
CREATE UNIQUE INDEX jobs_unique_idx ON {{schema}}.jobs (queue, unique_key)
  WHERE unique_key IS NOT NULL AND state NOT IN ('completed', 'dead', 'cancelled');

CREATE TABLE {{schema}}.queues (
  name        text        PRIMARY KEY,
  paused      boolean     NOT NULL DEFAULT false,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
