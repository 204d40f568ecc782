-- Spindle on PostgreSQL, schema version 8: tenant groups (docs/decisions/0015-groups.md).
-- A job may carry a group key; claims of a grouped queue rotate across its groups. Only
-- grouped jobs pay for the two new partial indexes: one to find each group's next queued job
-- (and, by its prefix, the groups that have queued jobs), one to count a group's jobs in flight.
-- A queue's settings row records that it is grouped, where the rotation stands, and its
-- per-group limits; claims of a group-rate-limited queue record per group when they took how
-- many. ADD COLUMN with constant defaults rewrites no rows.

ALTER TABLE {{schema}}.jobs ADD COLUMN group_key text COLLATE "C";

ALTER TABLE {{schema}}.queues
  ADD COLUMN grouped boolean NOT NULL DEFAULT false,
  ADD COLUMN group_cursor text COLLATE "C",
  ADD COLUMN group_concurrency integer,
  ADD COLUMN group_rate_max integer,
  ADD COLUMN group_rate_interval_ms integer,
  ADD COLUMN fifo boolean NOT NULL DEFAULT false;

CREATE INDEX jobs_group_claim_idx ON {{schema}}.jobs (queue, group_key, priority, seq)
  WHERE state = 'queued' AND group_key IS NOT NULL;
CREATE INDEX jobs_group_active_idx ON {{schema}}.jobs (queue, group_key, state)
  WHERE state IN ('running', 'retrying') AND group_key IS NOT NULL;

CREATE TABLE {{schema}}.group_rate_log (
  queue      text        COLLATE "C" NOT NULL,
  group_key  text        COLLATE "C" NOT NULL,
  at         timestamptz NOT NULL,
  n          integer     NOT NULL
);
CREATE INDEX group_rate_log_idx ON {{schema}}.group_rate_log (queue, group_key, at);
