-- Spindle on SQLite, schema version 6: queue limits across processes (docs/decisions/0014-queue-limits.md).
-- A queue's settings row gains its limits (NULL: none) and a hold (a handler's RateLimitedError:
-- claims skip the queue until `held_until`, epoch ms). Claims of a rate-limited queue record
-- when they took how many jobs, so the sliding window can be counted; records older than the
-- window are deleted by the claims themselves.

ALTER TABLE spindle_queues ADD COLUMN concurrency_limit INTEGER;
ALTER TABLE spindle_queues ADD COLUMN rate_max INTEGER;
ALTER TABLE spindle_queues ADD COLUMN rate_interval_ms INTEGER;
ALTER TABLE spindle_queues ADD COLUMN held_until INTEGER;

CREATE TABLE spindle_queue_rate_log (
  queue  TEXT    NOT NULL,
  at     INTEGER NOT NULL,
  n      INTEGER NOT NULL
);
CREATE INDEX spindle_queue_rate_log_idx ON spindle_queue_rate_log (queue, at);
