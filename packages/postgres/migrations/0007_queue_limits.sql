-- Spindle on PostgreSQL, schema version 7: queue limits across processes
-- (docs/decisions/0014-queue-limits.md). A queue's settings row gains its limits (NULL: none)
-- and a hold (a handler's RateLimitedError: claims skip the queue until `held_until`). Claims
-- of a rate-limited queue record when they took how many jobs, so the sliding window can be
-- counted; records older than the window are deleted by the claims themselves. ADD COLUMN with
-- NULL defaults rewrites no rows.

ALTER TABLE {{schema}}.queues
  ADD COLUMN concurrency_limit integer,
  ADD COLUMN rate_max integer,
  ADD COLUMN rate_interval_ms integer,
  ADD COLUMN held_until timestamptz;

CREATE TABLE {{schema}}.queue_rate_log (
  queue  text        COLLATE "C" NOT NULL,
  at     timestamptz NOT NULL,
  n      integer     NOT NULL
);
CREATE INDEX queue_rate_log_idx ON {{schema}}.queue_rate_log (queue, at);
