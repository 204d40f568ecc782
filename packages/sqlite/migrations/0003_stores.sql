-- Spindle on SQLite, schema version 3: the stores beside the jobs table (core backend/stores.ts,
-- docs/design/backend-semantics.md "Stores"). Times are INTEGER epoch milliseconds.

-- Live worker instances: one row per worker, upserted by its owner's heartbeat (all workers of a
-- client in one statement), deleted on close, pruned by the leader when not seen for a while.
CREATE TABLE spindle_workers (
  id            TEXT    PRIMARY KEY,
  queue         TEXT    NOT NULL,
  host          TEXT    NOT NULL,
  pid           INTEGER,
  concurrency   INTEGER NOT NULL,
  busy          INTEGER NOT NULL,
  kind          TEXT    NOT NULL,
  meta          TEXT,
  started_at    INTEGER NOT NULL,
  last_seen_at  INTEGER NOT NULL
);
CREATE INDEX spindle_workers_seen_idx ON spindle_workers (last_seen_at);

-- Idempotency keys of the HTTP API: the first request's hash per (scope, key) until expires_at.
CREATE TABLE spindle_idempotency_keys (
  scope         TEXT    NOT NULL,
  key           TEXT    NOT NULL,
  request_hash  TEXT    NOT NULL,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX spindle_idempotency_keys_expires_idx ON spindle_idempotency_keys (expires_at);

-- Per-minute throughput counters per queue (`minute`: epoch ms of the minute's start, UTC).
-- Clients add what they committed every few seconds; the rows outlive the jobs they count.
CREATE TABLE spindle_stats (
  queue      TEXT    NOT NULL,
  minute     INTEGER NOT NULL,
  enqueued   INTEGER NOT NULL DEFAULT 0,
  completed  INTEGER NOT NULL DEFAULT 0,
  retried    INTEGER NOT NULL DEFAULT 0,
  dead       INTEGER NOT NULL DEFAULT 0,
  cancelled  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (queue, minute)
) WITHOUT ROWID;
CREATE INDEX spindle_stats_minute_idx ON spindle_stats (minute);
