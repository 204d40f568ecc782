-- Spindle on PostgreSQL, schema version 9: unique jobs modes (docs/decisions/0016-unique-jobs.md).
-- `{{schema}}` is replaced by the quoted schema name.
--
-- `unique_key` keeps its meaning: the key a job holds in jobs_unique_idx (0001), i.e. while the
-- job is not finished. Jobs with a mode other than the default record it:
--   unique_scope   'queued' | 'active' | 'period' (NULL: no mode given, which is 'active')
--   unique_label   the key as given, kept for display whatever the job holds now
--   unique_for_ms  the period of a 'period' key
-- A 'queued' key leaves `unique_key` when the job is claimed (jobs-lease.ts: one CASE in the
-- claim's SET), so the index stops counting it and a new job may take the key while the first
-- runs. A 'period' key never enters `unique_key`: it is a row of unique_keys, written in the
-- insert's transaction (ON CONFLICT DO UPDATE only when the row expired or its job is gone),
-- held until expires_at while its job exists; the pruner deletes expired rows.
-- ADD COLUMN without defaults rewrites no rows; jobs of before keep NULLs.

ALTER TABLE {{schema}}.jobs
  ADD COLUMN unique_scope text,
  ADD COLUMN unique_label text COLLATE "C",
  ADD COLUMN unique_for_ms bigint;

CREATE TABLE {{schema}}.unique_keys (
  queue       text        COLLATE "C" NOT NULL,
  key         text        COLLATE "C" NOT NULL,
  job_id      text        COLLATE "C" NOT NULL,
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (queue, key)
);
CREATE INDEX unique_keys_expires_idx ON {{schema}}.unique_keys (expires_at);
