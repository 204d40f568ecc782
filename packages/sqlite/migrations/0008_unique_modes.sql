-- Spindle on SQLite, schema version 8: unique jobs modes (docs/decisions/0016-unique-jobs.md).
--
-- `unique_key` keeps its meaning: the key a job holds in the partial unique index of 0001, i.e.
-- while the job is not finished. Jobs with a mode other than the default record it:
--   unique_scope   'queued' | 'active' | 'period' (NULL: no mode given, which is 'active')
--   unique_label   the key as given, kept for display whatever the job holds now
--   unique_for_ms  the period of a 'period' key
-- A 'queued' key leaves `unique_key` when the job is claimed (claim.ts: one CASE in the claim's
-- SET), so the index stops counting it and a new job may take the key while the first runs.
-- A 'period' key never enters `unique_key`: it is a row of spindle_unique_keys, held until
-- expires_at (created at the insert, + the period) while its job exists; the pruner deletes
-- expired rows. ADD COLUMN with NULL defaults rewrites no rows; jobs of before keep NULLs.

ALTER TABLE spindle_jobs ADD COLUMN unique_scope TEXT;
ALTER TABLE spindle_jobs ADD COLUMN unique_label TEXT;
ALTER TABLE spindle_jobs ADD COLUMN unique_for_ms INTEGER;

CREATE TABLE spindle_unique_keys (
  queue       TEXT    NOT NULL,
  key         TEXT    NOT NULL,
  job_id      TEXT    NOT NULL,
  expires_at  INTEGER NOT NULL,
  PRIMARY KEY (queue, key)
) WITHOUT ROWID;
CREATE INDEX spindle_unique_keys_expires_idx ON spindle_unique_keys (expires_at);
