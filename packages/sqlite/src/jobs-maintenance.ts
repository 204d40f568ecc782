/**
 * Leader-only maintenance: promoting due jobs, rescuing expired leases, pruning finished jobs
 * (and the event outbox), and the leader row itself.
 *
 * Invariants:
 * - Every move is a compare-and-set evaluated at the moment of the write (the WHERE of the
 *   UPDATE/DELETE repeats the selection's condition), inside one BEGIN IMMEDIATE transaction:
 *   running concurrently with workers or another maintainer can never move a job twice.
 * - The rescuer clears the lease token of every job it moves, fencing the old holder out, and
 *   counts the expiry as a spent attempt (error kind `lease_expired`). A job that will run again
 *   goes to `retrying` with its own random due time in [now, now + spread) (ADR 0019: the jobs
 *   of one crashed worker come due apart), or to `queued` at now when the spread is 0.
 * - Selections walk the partial indexes of the schema (INDEXED BY: the planner, without
 *   statistics, might otherwise walk the table), so their cost follows the number of due /
 *   expired / finished rows, not the table size.
 * - Pruning also deletes expired period keys of unique jobs (spindle_unique_keys), within the
 *   same row budget per call.
 * - Leadership is one `spindle_leader` row (role `maintenance`) taken when free or expired and
 *   renewed only by its holder.
 */
import { rescueSpreadMs, type PromoteResult, type PruneParams, type RescueParams, type RescueResult, type LeadershipParams } from '@spindle/core';
import { pruneOutbox } from './events.js';
import { errorEventData, jobEvent, type EventRow } from './rows.js';
import {
  CLEAR_LEASE,
  errorsAppended,
  EVENT_COLUMNS,
  expiresAt,
  KEEP_CANCELLED,
  KEEP_DEAD,
  nowMs,
  retentionParams,
} from './state-sql.js';
import { stateAccess } from './state-index.js';
import type { Store } from './tx.js';
import { childChange, settleChildren } from './flows.js';
import { pruneUniqueKeys } from './unique.js';

const DUE = "state IN ('scheduled', 'retrying')";

const PROMOTE = `UPDATE spindle_jobs SET state = 'queued'
  WHERE seq IN (SELECT seq FROM spindle_jobs INDEXED BY spindle_jobs_due_idx
                WHERE ${DUE} AND run_at <= @now ORDER BY run_at LIMIT @limit + 0)
    AND ${DUE} AND run_at <= @now
  RETURNING ${EVENT_COLUMNS}`;

export function promoteDueJobs(store: Store, params: { limit: number; now?: Date }): PromoteResult {
  const now = nowMs(params.now);
  return store.write((events) => {
    const rows = store.conn.stmt(PROMOTE).all({ now, limit: params.limit }) as EventRow[];
    const queues = new Set<string>();
    for (const row of rows) {
      queues.add(row.queue);
      events.push(jobEvent('promoted', row, now));
    }
    return { promoted: rows.length, queues: [...queues].sort() };
  });
}

export function nextDueAt(store: Store): Date | null {
  const row = store.conn.stmt(`SELECT min(run_at) AS at FROM spindle_jobs INDEXED BY spindle_jobs_due_idx WHERE ${DUE}`).get() as { at: number | null };
  return row.at === null ? null : new Date(row.at);
}

const CANCELLED = 'cancel_requested <> 0';
const EXHAUSTED = 'cancel_requested = 0 AND attempt >= max_retries + 1';
const REQUEUED = 'cancel_requested = 0 AND attempt < max_retries + 1';
const LEASE_ERROR =
  "json_object('attempt', attempt, 'round', round, 'kind', 'lease_expired', 'name', 'LeaseExpired', " +
  "'message', 'lease expired: worker ' || coalesce(worker_id, 'unknown') || ' stopped renewing it', " +
  "'workerId', worker_id, 'at', @now)";
const EXPIRED = "state = 'running' AND lease_expires_at < @now";

// A job's own random delay in [0, @spread): random() is evaluated per row; `random() % s` lies in
// (-s, s), so adding s and taking % s again gives [0, s) without abs()'s overflow on the smallest
// 64-bit integer. Only used when @spread > 0 (% 0 is NULL in SQLite).
const SPREAD_DELAY = '((random() % @spread + @spread) % @spread)';

// SET expressions all read the row as it was before this UPDATE.
const RESCUE = `UPDATE spindle_jobs SET
    state = CASE WHEN ${CANCELLED} THEN 'cancelled' WHEN ${EXHAUSTED} THEN 'dead'
                 WHEN @spread > 0 THEN 'retrying' ELSE 'queued' END,
    errors = ${errorsAppended(LEASE_ERROR)},
    run_at = CASE WHEN NOT (${REQUEUED}) THEN run_at WHEN @spread > 0 THEN @now + ${SPREAD_DELAY} ELSE @now END,
    finished_at = CASE WHEN ${REQUEUED} THEN finished_at ELSE @now END,
    failure_reason = CASE WHEN ${EXHAUSTED} THEN 'lease expired' ELSE failure_reason END,
    last_failed_at = CASE WHEN ${CANCELLED} THEN last_failed_at ELSE @now END,
    first_failed_at = CASE WHEN ${CANCELLED} THEN first_failed_at ELSE coalesce(first_failed_at, @now) END,
    expires_at = CASE WHEN ${CANCELLED} THEN ${expiresAt(KEEP_CANCELLED)}
                      WHEN ${EXHAUSTED} THEN ${expiresAt(KEEP_DEAD)} ELSE expires_at END,
    ${CLEAR_LEASE}
  WHERE seq IN (SELECT seq FROM spindle_jobs INDEXED BY spindle_jobs_lease_idx
                WHERE ${EXPIRED} ORDER BY lease_expires_at LIMIT @limit + 0)
    AND ${EXPIRED}
  RETURNING ${EVENT_COLUMNS}, worker_id AS workerId`;

export function rescueExpiredLeases(store: Store, params: RescueParams): RescueResult {
  const now = nowMs(params.now);
  const spread = rescueSpreadMs(params.spreadMs);
  return store.write((events) => {
    const rows = store.conn
      .stmt(RESCUE)
      .all({ now, limit: params.limit, spread, ...retentionParams(params.retention) }) as Array<EventRow & { workerId: string | null }>;
    const result: RescueResult = { requeued: [], dead: [], cancelled: [] };
    for (const row of rows) {
      if (row.state === 'dead') result.dead.push(row.id);
      else if (row.state === 'cancelled') result.cancelled.push(row.id);
      else result.requeued.push(row.id);
      const message = `lease expired: worker ${row.workerId ?? 'unknown'} stopped renewing it`;
      events.push(jobEvent('rescued', row, now, errorEventData({ message, kind: 'lease_expired' })));
      // Flows: a child that ended dead or cancelled here settles its waiting parent (flows.ts).
      const change = childChange(row, row.state === 'dead' ? 'lease expired' : null);
      if (change !== null) settleChildren(store, events, now, [change]);
    }
    return result;
  });
}

const PRUNE_EXPIRED = `DELETE FROM spindle_jobs WHERE seq IN (
  SELECT seq FROM spindle_jobs WHERE expires_at IS NOT NULL AND expires_at <= @now ORDER BY expires_at LIMIT @limit + 0)`;

// Per (queue, state): rank finished jobs newest first (finished_at, then seq) and delete those
// ranked beyond their keep count. Only queues that have a count rule are ranked. One branch per
// state, each reading only that state's partial index (its literal state condition proves it).
const rankedBeyondKeep = (state: 'completed' | 'dead'): string => {
  const { where, index } = stateAccess(state);
  const table = `spindle_jobs INDEXED BY ${index!.name}`;
  return `SELECT seq FROM (
      SELECT seq, ${state}_keep_count AS keep,
        row_number() OVER (PARTITION BY queue ORDER BY finished_at DESC, seq DESC) AS rank
      FROM ${table}
      WHERE ${where} AND queue IN (SELECT queue FROM ${table} WHERE ${where} AND ${state}_keep_count IS NOT NULL))
    WHERE rank > keep`;
};
const PRUNE_BY_COUNT = `DELETE FROM spindle_jobs WHERE seq IN (
  ${rankedBeyondKeep('completed')}
  UNION ALL
  ${rankedBeyondKeep('dead')}
  LIMIT @limit + 0)`;

export function pruneJobs(store: Store, params: PruneParams): number {
  const now = nowMs(params.now);
  return store.write(() => {
    const { conn } = store;
    let deleted = conn.stmt(PRUNE_EXPIRED).run({ now, limit: params.limit }).changes;
    if (deleted < params.limit) deleted += conn.stmt(PRUNE_BY_COUNT).run({ limit: params.limit - deleted }).changes;
    // Expired period keys (unique.ts) share the call's row budget.
    deleted += pruneUniqueKeys(store, now, params.limit - deleted);
    pruneOutbox(conn);
    return deleted;
  });
}

const ACQUIRE = `INSERT INTO spindle_leader (role, holder_id, expires_at) VALUES ('maintenance', @holderId, @expiresAt)
  ON CONFLICT (role) DO UPDATE SET holder_id = excluded.holder_id, expires_at = excluded.expires_at
  WHERE spindle_leader.holder_id = excluded.holder_id OR spindle_leader.expires_at < @now
  RETURNING holder_id`;

export function tryAcquireLeadership(store: Store, params: LeadershipParams): boolean {
  const now = nowMs(params.now);
  return store.write(
    () => store.conn.stmt(ACQUIRE).get({ holderId: params.holderId, expiresAt: now + params.ttlMs, now }) !== undefined,
  );
}

export function releaseLeadership(store: Store, holderId: string): void {
  store.write(() => {
    store.conn.stmt("DELETE FROM spindle_leader WHERE role = 'maintenance' AND holder_id = ?").run(holderId);
  });
}
