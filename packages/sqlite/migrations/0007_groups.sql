-- Spindle on SQLite, schema version 7: tenant groups (docs/decisions/0015-groups.md).
-- A job may carry a group key; claims of a grouped queue rotate across its groups. Only
-- grouped jobs pay for the two new partial indexes: one to find each group's next queued job
-- (and, by its prefix, the groups that have queued jobs), one to count a group's jobs in flight.
-- A queue's settings row records that it is grouped, where the rotation stands, and its
-- per-group limits; claims of a group-rate-limited queue record per group when they took how many.

ALTER TABLE spindle_jobs ADD COLUMN group_key TEXT;

ALTER TABLE spindle_queues ADD COLUMN grouped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE spindle_queues ADD COLUMN group_cursor TEXT;
ALTER TABLE spindle_queues ADD COLUMN group_concurrency INTEGER;
ALTER TABLE spindle_queues ADD COLUMN group_rate_max INTEGER;
ALTER TABLE spindle_queues ADD COLUMN group_rate_interval_ms INTEGER;
ALTER TABLE spindle_queues ADD COLUMN fifo INTEGER NOT NULL DEFAULT 0;

CREATE INDEX spindle_jobs_group_claim_idx ON spindle_jobs (queue, group_key, priority, seq)
  WHERE state = 'queued' AND group_key IS NOT NULL;
CREATE INDEX spindle_jobs_group_active_idx ON spindle_jobs (queue, group_key, state)
  WHERE state IN ('running', 'retrying') AND group_key IS NOT NULL;

CREATE TABLE spindle_group_rate_log (
  queue      TEXT    NOT NULL,
  group_key  TEXT    NOT NULL,
  at         INTEGER NOT NULL,
  n          INTEGER NOT NULL
);
CREATE INDEX spindle_group_rate_log_idx ON spindle_group_rate_log (queue, group_key, at);
