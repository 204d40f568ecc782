-- Spindle on PostgreSQL, schema version 3: the stores beside the jobs table (core
-- backend/stores.ts, docs/design/backend-semantics.md "Stores"). `{{schema}}` is replaced by the
-- quoted schema name.

-- Live worker instances: one row per worker, upserted by its owner's heartbeat (all workers of a
-- client in one statement), deleted on close, pruned by the leader when not seen for a while.
CREATE TABLE {{schema}}.workers (
  id            text        PRIMARY KEY,
  queue         text        NOT NULL,
  host          text        NOT NULL,
  pid           integer,
  concurrency   integer     NOT NULL,
  busy          integer     NOT NULL,
  kind          text        NOT NULL,
  meta          text,
  started_at    timestamptz NOT NULL,
  last_seen_at  timestamptz NOT NULL
);
CREATE INDEX workers_seen_idx ON {{schema}}.workers (last_seen_at);

-- Idempotency keys of the HTTP API: the first request's hash per (scope, key) until expires_at.
CREATE TABLE {{schema}}.idempotency_keys (
  scope         text        NOT NULL,
  key           text        NOT NULL,
  request_hash  text        NOT NULL,
  created_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires_idx ON {{schema}}.idempotency_keys (expires_at);

-- Per-minute throughput counters per queue (`minute`: the minute's start). Clients add what they
-- committed every few seconds; the rows outlive the jobs they count.
CREATE TABLE {{schema}}.stats (
  queue      text        NOT NULL,
  minute     timestamptz NOT NULL,
  enqueued   bigint      NOT NULL DEFAULT 0,
  completed  bigint      NOT NULL DEFAULT 0,
  retried    bigint      NOT NULL DEFAULT 0,
  dead       bigint      NOT NULL DEFAULT 0,
  cancelled  bigint      NOT NULL DEFAULT 0,
  PRIMARY KEY (queue, minute)
);
CREATE INDEX stats_minute_idx ON {{schema}}.stats (minute);
