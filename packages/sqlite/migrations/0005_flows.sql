-- Spindle on SQLite, schema version 5: flows, parent/child jobs (docs/decisions/0012-flows.md).
-- A job with children is stored `waiting` with `pending_children` = its unfinished children and
-- its `on_child_failure` policy ('fail' | 'continue'); every child names its parent in
-- `parent_id`. All three are NULL for jobs outside flows, and no existing row changes: ADD
-- COLUMN with a NULL default only rewrites the schema, not the table.
-- The bookkeeping (a child finished → its parent counts one less) is done by the backend in the
-- transaction of the change (packages/sqlite/src/flows.ts), not by triggers: it also publishes
-- the parent's event.

ALTER TABLE spindle_jobs ADD COLUMN parent_id TEXT;
ALTER TABLE spindle_jobs ADD COLUMN pending_children INTEGER;
ALTER TABLE spindle_jobs ADD COLUMN on_child_failure TEXT;

-- A parent's children in insertion order (getChildren, the `parentId` filter). Partial: jobs
-- outside flows, the hot path, have no entry to maintain.
CREATE INDEX spindle_jobs_parent_idx ON spindle_jobs (parent_id, seq) WHERE parent_id IS NOT NULL;

-- The waiting parents, like the other states' partial indexes (state-index.ts): listing,
-- counting and queue discovery reach them without walking the table.
CREATE INDEX spindle_jobs_waiting_idx ON spindle_jobs (queue, seq) WHERE state = 'waiting';
