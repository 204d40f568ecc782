/**
 * Flows on SQLite (core backend/flows.ts, docs/decisions/0012-flows.md): inserting a job tree,
 * reading a parent's children, and the parent bookkeeping every write that finishes (or
 * un-finishes) a child calls inside its own transaction (`settleChildren`).
 *
 * Invariants:
 * - insertFlow is one BEGIN IMMEDIATE transaction. The root goes in with ON CONFLICT DO NOTHING
 *   (dedup on its id or live unique key: then nothing else is written); every other node with a
 *   plain INSERT (fresh ids: a collision aborts the whole flow). Nodes with children are
 *   `waiting` with `pending_children` = their child count; leaves `queued` / `scheduled`. A root
 *   with a unique mode is settled first by unique.ts (its key held: nothing is written).
 * - settleChildren runs inside the caller's write transaction, for the rows that write changed
 *   and that have a `parent_id` (callers test that column of their RETURNING rows, so jobs
 *   outside flows cost one null check). Every parent write is a compare-and-set on
 *   `state = 'waiting'`: a parent that already left it (ran, died, was cancelled) is never
 *   moved again. A parent that dies under `fail` settles its own parent in turn (iteratively).
 * - The parent's events go into the caller's event list: `promoted` when it became due
 *   (`queued`, or `scheduled` when its own run time is still ahead), `dead` when a child failed it.
 */
import { childFailureReason, type InsertFlowParams, type InsertFlowResult, type JobRecord, type JobState, type SpindleEvent } from '@spindle/core';
import { GroupResolver } from './groups.js';
import { errorEventData, JOB_COLUMNS, jobEvent, toJobRecord, type EventRow, type JobRow } from './rows.js';
import { errorsAppended, expiresAt, nowMs, TERMINAL_SQL } from './state-sql.js';
import type { Store } from './tx.js';
import { UniqueResolver } from './unique.js';

const INSERT_NODE = (conflict: string) => `INSERT INTO spindle_jobs (id, queue, name, payload, state, priority, max_retries, unique_key,
    timeout_ms, backoff, created_at, run_at, completed_keep_ms, completed_keep_count, dead_keep_ms, dead_keep_count,
    parent_id, pending_children, on_child_failure, group_key)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)${conflict}`;
const INSERT_ROOT = INSERT_NODE(' ON CONFLICT DO NOTHING');
const INSERT_CHILD = INSERT_NODE('');
const FIND_BY_ID = 'SELECT id, state FROM spindle_jobs WHERE id = ?';
const FIND_LIVE_UNIQUE = `SELECT id, state FROM spindle_jobs
  WHERE queue = ? AND unique_key = ? AND unique_key IS NOT NULL AND state NOT IN ${TERMINAL_SQL}`;

export function insertFlow(store: Store, params: InsertFlowParams): InsertFlowResult {
  const now = nowMs(params.now);
  return store.write((events) => {
    const { conn } = store;
    const states: JobState[] = [];
    const groups = new GroupResolver(store, now);
    const nodes = params.nodes;
    for (let k = 0; k < nodes.length; k++) {
      let node = nodes[k]!;
      // The root's unique mode (unique.ts): a held key answers with its holder (a root only keeps).
      if (k === 0 && node.uniqueMode) {
        const decided = new UniqueResolver(store, events, now).resolve(node);
        if ('outcome' in decided) return { inserted: false, id: decided.outcome.id, state: decided.outcome.state, states: [] };
        node = decided.insert;
      }
      const requested = node.runAt !== null ? node.runAt.getTime() : node.delayMs !== null ? now + node.delayMs : now;
      const state: JobState = node.childCount > 0 ? 'waiting' : requested > now ? 'scheduled' : 'queued';
      const runAt = state === 'queued' && node.runAt === null ? now : requested;
      const { retention } = node;
      const parent = node.parentIndex === null ? null : nodes[node.parentIndex]!.id;
      const { changes } = conn.stmt(k === 0 ? INSERT_ROOT : INSERT_CHILD).run(
        node.id,
        node.queue,
        node.name,
        node.payload,
        state,
        node.priority,
        node.maxRetries,
        node.uniqueKey,
        node.timeoutMs,
        node.backoff === null ? null : JSON.stringify(node.backoff),
        now,
        runAt,
        retention.completedKeepMs,
        retention.completedKeepCount,
        retention.deadKeepMs,
        retention.deadKeepCount,
        parent,
        node.childCount > 0 ? node.childCount : null,
        node.childCount > 0 ? node.onChildFailure : null,
        groups.keyOf(node),
      );
      if (changes === 0) {
        // Only the root can be a duplicate (the others would have thrown): nothing was written.
        const existing = (conn.stmt(FIND_BY_ID).get(node.id) ??
          (node.uniqueKey === null ? undefined : conn.stmt(FIND_LIVE_UNIQUE).get(node.queue, node.uniqueKey))) as
          | { id: string; state: JobState }
          | undefined;
        if (existing === undefined) throw new Error(`flow root ${node.id} conflicted with neither its id nor its unique key`);
        return { inserted: false, id: existing.id, state: existing.state, states: [] };
      }
      if (k === 0 && nodes[0]!.uniqueMode) new UniqueResolver(store, events, now).mark(nodes[0]!);
      states.push(state);
      events.push({ type: 'added', jobId: node.id, queue: node.queue, name: node.name, state, attempt: 0, at: now });
    }
    return { inserted: true, id: nodes[0]!.id, state: states[0]!, states };
  });
}

export function getChildren(store: Store, parentId: string): JobRecord[] {
  const rows = store.conn.stmt(`SELECT ${JOB_COLUMNS} FROM spindle_jobs WHERE parent_id = ? ORDER BY seq`).all(parentId) as JobRow[];
  return rows.map(toJobRecord);
}

/** How a child with a parent changed: finished (with its outcome), or back from a finished state. */
export type ChildOutcome = 'completed' | 'dead' | 'cancelled' | 'deleted' | 'reopened';

export interface ChildChange {
  parentId: string;
  id: string;
  queue: string;
  name: string;
  outcome: ChildOutcome;
  /** The child's failure reason, when it died. */
  reason: string | null;
}

/** The change of a written row (EVENT_COLUMNS), when it concerns its parent; `state` is its new state. */
export function childChange(row: EventRow, reason: string | null = null): ChildChange | null {
  if (row.parentId == null) return null;
  const { state } = row;
  if (state !== 'completed' && state !== 'dead' && state !== 'cancelled') return null;
  return { parentId: row.parentId, id: row.id, queue: row.queue, name: row.name, outcome: state, reason };
}

/** The parent ends `dead` (policy `fail` and a failed child). */
const FAILS = "(@failed = 1 AND on_child_failure = 'fail')";
const FLOW_ERROR =
  "json_object('attempt', attempt, 'round', round, 'kind', 'permanent', 'name', 'ChildFailed', 'message', @message, 'at', @now)";

const SETTLE = `UPDATE spindle_jobs SET
    pending_children = pending_children - 1,
    state = CASE WHEN ${FAILS} THEN 'dead' WHEN pending_children > 1 THEN 'waiting'
                 WHEN run_at > @now THEN 'scheduled' ELSE 'queued' END,
    failure_reason = CASE WHEN ${FAILS} THEN @reason ELSE failure_reason END,
    errors = CASE WHEN ${FAILS} THEN ${errorsAppended(FLOW_ERROR)} ELSE errors END,
    finished_at = CASE WHEN ${FAILS} THEN @now ELSE finished_at END,
    first_failed_at = CASE WHEN ${FAILS} THEN coalesce(first_failed_at, @now) ELSE first_failed_at END,
    last_failed_at = CASE WHEN ${FAILS} THEN @now ELSE last_failed_at END,
    expires_at = CASE WHEN ${FAILS} THEN ${expiresAt('dead_keep_ms')} ELSE expires_at END
  WHERE id = @parentId AND state = 'waiting'
  RETURNING id, queue, name, state, attempt, parent_id AS parentId, failure_reason AS reason`;

const REOPEN = "UPDATE spindle_jobs SET pending_children = pending_children + 1 WHERE id = ? AND state = 'waiting'";

/**
 * Applies child changes to their waiting parents, inside the caller's write transaction, in
 * order; a parent failed by its child is applied to its own parent next.
 */
export function settleChildren(store: Store, events: SpindleEvent[], now: number, changes: ChildChange[]): void {
  const { conn } = store;
  const pending = [...changes];
  for (let i = 0; i < pending.length; i++) {
    const change = pending[i]!;
    if (change.outcome === 'reopened') {
      conn.stmt(REOPEN).run(change.parentId);
      continue;
    }
    const failed = change.outcome !== 'completed';
    const message = `child ${change.id} (${change.queue}/${change.name}) ${change.outcome}${change.reason ? `: ${change.reason}` : ''}`;
    const row = conn.stmt(SETTLE).get({
      parentId: change.parentId,
      failed: failed ? 1 : 0,
      reason: failed ? childFailureReason(change.queue, change.name, change.outcome as 'dead' | 'cancelled' | 'deleted') : null,
      message,
      now,
    }) as (EventRow & { reason: string | null }) | undefined;
    if (row === undefined || row.state === 'waiting') continue;
    if (row.state === 'dead') {
      events.push(jobEvent('dead', row, now, errorEventData({ message, kind: 'permanent' })));
      if (row.parentId != null) pending.push({ parentId: row.parentId, id: row.id, queue: row.queue, name: row.name, outcome: 'dead', reason: row.reason });
    } else {
      events.push(jobEvent('promoted', row, now));
    }
  }
}

/** A row just restarted (retry, DLQ replay: it left a finished state): its waiting parent counts it again. */
export function reopenChild(store: Store, events: SpindleEvent[], now: number, row: EventRow): void {
  if (row.parentId == null) return;
  settleChildren(store, events, now, [{ parentId: row.parentId, id: row.id, queue: row.queue, name: row.name, outcome: 'reopened', reason: null }]);
}
