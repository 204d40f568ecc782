-- Spindle on SQLite, schema version 2 (docs/decisions/0007-hot-path-indexes-and-durability.md).
-- The two full indexes on state moved every job twice per transition (a delete and an insert in
-- each, far apart in the B-tree, at the claim and again at the completion). They give way to one
-- partial (queue, seq) index per finished state; together with claim_idx (queued), due_idx
-- (scheduled, retrying) and lease_idx (running) of 0001, a job now touches only the partial index
-- of the state it leaves and that of the state it enters. Queries name states as literals so the
-- planner can prove these predicates.

DROP INDEX spindle_jobs_queue_state_idx;
DROP INDEX spindle_jobs_state_idx;

CREATE INDEX spindle_jobs_completed_idx ON spindle_jobs (queue, seq) WHERE state = 'completed';
CREATE INDEX spindle_jobs_dead_idx ON spindle_jobs (queue, seq) WHERE state = 'dead';
CREATE INDEX spindle_jobs_cancelled_idx ON spindle_jobs (queue, seq) WHERE state = 'cancelled';
