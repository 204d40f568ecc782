-- Spindle on PostgreSQL, schema version 6: flows, parent/child jobs (docs/decisions/0012-flows.md).
-- `{{schema}}` is replaced by the quoted schema name.
--
-- A job with children is stored `waiting` with `pending_children` = its unfinished children and
-- its `on_child_failure` policy ('fail' | 'continue'); every child names its parent in
-- `parent_id`. All three are NULL outside flows. ADD COLUMN without a default does not rewrite
-- the table.
ALTER TABLE {{schema}}.jobs
  ADD COLUMN parent_id text COLLATE "C",
  ADD COLUMN pending_children integer,
  ADD COLUMN on_child_failure text;

-- A parent's children in insertion order (getChildren, the `parentId` filter); partial, so jobs
-- outside flows (the hot path) have no entry to maintain.
CREATE INDEX jobs_parent_idx ON {{schema}}.jobs (parent_id, seq) WHERE parent_id IS NOT NULL;
-- Waiting parents, like the other states' partial indexes (listing, counts, queue discovery).
CREATE INDEX jobs_waiting_idx ON {{schema}}.jobs (queue, seq) WHERE state = 'waiting';

-- The parent bookkeeping, in the transaction of whatever statement changed the child: a child
-- that enters a finished state (completed, dead, cancelled) or is deleted unfinished (a delete of
-- a `running` row is a completion removed on the spot: removeOnComplete) makes its parent, if
-- still `waiting`, count one child less; a failed child (dead, cancelled, deleted) under `fail`
-- ends the parent `dead`, else at zero the parent becomes `queued` (`scheduled` while its own
-- run time is ahead). A child back from a finished state (retry, DLQ replay) is waited for
-- again. Every parent write is a compare-and-set on `state = 'waiting'`; concurrent children
-- finishing serialise on the parent's row lock, and READ COMMITTED re-evaluates the write on
-- its newest version, so the last of them — and only it — moves the parent. A parent that dies
-- fires this trigger for its own parent in turn.
-- Times are the database clock (`now()`, the transaction's start), not a statement's injected
-- `now`. The parent's event goes out as its own NOTIFY with origin "flow", which every process
-- (this one included) delivers: `promoted` (the parent is due) or `dead` (a child failed it).
-- Triggers rather than statements in each write: every path that finishes a child (finalize
-- and its removal on completion, cancel, rescue, delete, retry, DLQ replay) is covered by
-- construction, and a job outside flows costs only the WHEN test of its row.
CREATE FUNCTION {{schema}}.flow_child_changed() RETURNS trigger LANGUAGE plpgsql AS $flow$
DECLARE
  child record;
  outcome text;
  failed boolean;
  message text;
  parent record;
  event json;
BEGIN
  IF TG_OP = 'DELETE' THEN
    child := OLD;
    outcome := CASE WHEN OLD.state = 'running' THEN 'completed' ELSE 'deleted' END;
  ELSIF NEW.state NOT IN ('completed', 'dead', 'cancelled') THEN
    UPDATE {{schema}}.jobs SET pending_children = pending_children + 1
      WHERE id = NEW.parent_id AND state = 'waiting';
    RETURN NULL;
  ELSE
    child := NEW;
    outcome := NEW.state;
  END IF;
  failed := outcome <> 'completed';
  message := 'child ' || child.id || ' (' || child.queue || '/' || child.name || ') ' || outcome
    || coalesce(': ' || CASE WHEN outcome = 'dead' THEN child.failure_reason END, '');
  UPDATE {{schema}}.jobs j SET
    pending_children = j.pending_children - 1,
    state = CASE WHEN failed AND j.on_child_failure = 'fail' THEN 'dead'
                 WHEN j.pending_children > 1 THEN 'waiting'
                 WHEN j.run_at > now() THEN 'scheduled' ELSE 'queued' END,
    failure_reason = CASE WHEN failed AND j.on_child_failure = 'fail'
      THEN 'child ' || child.queue || '/' || child.name || ' ' || outcome ELSE j.failure_reason END,
    errors = CASE WHEN failed AND j.on_child_failure = 'fail' THEN
      (CASE WHEN jsonb_array_length(j.errors) >= 100 THEN j.errors - 0 ELSE j.errors END)
        || jsonb_build_array(jsonb_build_object('attempt', j.attempt, 'round', j.round, 'kind', 'permanent',
             'name', 'ChildFailed', 'message', message, 'at', floor(extract(epoch FROM now()) * 1000)::bigint))
      ELSE j.errors END,
    finished_at = CASE WHEN failed AND j.on_child_failure = 'fail' THEN now() ELSE j.finished_at END,
    first_failed_at = CASE WHEN failed AND j.on_child_failure = 'fail' THEN coalesce(j.first_failed_at, now()) ELSE j.first_failed_at END,
    last_failed_at = CASE WHEN failed AND j.on_child_failure = 'fail' THEN now() ELSE j.last_failed_at END,
    expires_at = CASE WHEN failed AND j.on_child_failure = 'fail' AND j.dead_keep_ms >= 0
      THEN now() + j.dead_keep_ms * interval '1 millisecond' ELSE j.expires_at END
  WHERE j.id = child.parent_id AND j.state = 'waiting'
  RETURNING j.id, j.queue, j.name, j.state, j.attempt INTO parent;
  IF FOUND AND parent.state <> 'waiting' THEN
    event := CASE WHEN parent.state = 'dead'
      THEN json_build_array('dead', parent.id, parent.queue, parent.name, parent.state, parent.attempt,
             json_build_object('message', message, 'kind', 'permanent'))
      ELSE json_build_array('promoted', parent.id, parent.queue, parent.name, parent.state, parent.attempt) END;
    PERFORM pg_notify('spindle:' || TG_TABLE_SCHEMA,
      json_build_object('o', 'flow', 't', floor(extract(epoch FROM now()) * 1000)::bigint, 'c', json_build_array(event))::text);
  END IF;
  RETURN NULL;
END
$flow$;

CREATE TRIGGER jobs_flow_finish AFTER UPDATE OF state ON {{schema}}.jobs
  FOR EACH ROW
  WHEN (NEW.parent_id IS NOT NULL
    AND (OLD.state IN ('completed', 'dead', 'cancelled')) <> (NEW.state IN ('completed', 'dead', 'cancelled')))
  EXECUTE FUNCTION {{schema}}.flow_child_changed();

CREATE TRIGGER jobs_flow_delete AFTER DELETE ON {{schema}}.jobs
  FOR EACH ROW
  WHEN (OLD.parent_id IS NOT NULL AND OLD.state NOT IN ('completed', 'dead', 'cancelled'))
  EXECUTE FUNCTION {{schema}}.flow_child_changed();
