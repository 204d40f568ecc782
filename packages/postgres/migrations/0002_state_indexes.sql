-- Spindle on PostgreSQL, schema version 2 (docs/decisions/0007): one partial index per finished
-- state instead of two indexes on `state`. Every state change used to move the row's entries in
-- both (queue, state, seq) and (state, seq); now a transition touches only the partial index of
-- the state it enters (the one it leaves keeps a dead entry until vacuum, as every index does).
-- Queries that filter on a state name it as a literal, so the planner can prove these predicates
-- (also with generic plans of prepared statements); see filters.ts and jobs-read.ts.
-- Runs inside the migration transaction: the CREATE INDEX statements lock writes to the table
-- while they build (one pass over the table each).

DROP INDEX {{schema}}.jobs_queue_state_idx;
DROP INDEX {{schema}}.jobs_state_idx;

CREATE INDEX jobs_completed_idx ON {{schema}}.jobs (queue, seq) WHERE state = 'completed';
CREATE INDEX jobs_dead_idx ON {{schema}}.jobs (queue, seq) WHERE state = 'dead';
CREATE INDEX jobs_cancelled_idx ON {{schema}}.jobs (queue, seq) WHERE state = 'cancelled';
