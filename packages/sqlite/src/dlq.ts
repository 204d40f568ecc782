/**
 * The dead-letter queue: depth, grouping by failure reason, replay, purge and resolve.
 *
 * Invariants:
 * - Every write is a compare-and-set on `state = 'dead'` inside one BEGIN IMMEDIATE
 *   transaction: two concurrent replays (or a replay and a purge) move each job once.
 * - Selection: `ids` when given (filter ignored), else the filter with state forced to dead;
 *   at most `limit` rows per call, oldest first (callers loop for more).
 * - Dead jobs are reached through `spindle_jobs_dead_idx (queue, seq) WHERE state = 'dead'`
 *   (the literal `state = 'dead'` in every query; state-index.ts), or by id when ids are given:
 *   depth, groups and selections never walk the whole jobs table.
 * - Replay starts a new round: attempt 0, round + 1, failure/resolution/finish fields cleared,
 *   error history kept. A job whose unique key is held by a live job of the target queue is
 *   skipped (`unique_conflict`), never forced past the unique index. `restartJob` is that write,
 *   shared with retryJobs (jobs-admin.ts), which restarts any finished job the same way.
 * - Flows: a replayed child whose parent still waits is waited for again (flows.ts); purging
 *   dead children changes nothing for their parents (a dead child was already counted).
 */
import type {
  DlqDepth,
  DlqGroup,
  DlqReplayParams,
  DlqReplayResult,
  DlqResolveParams,
  DlqSelectParams,
  JobFilter,
} from '@spindle/core';
import { dlqWhere, whereSql, withStates } from './filters.js';
import { jobEvent, type EventRow } from './rows.js';
import { selectSeqs } from './state-index.js';
import { CLEAR_LEASE, EVENT_COLUMNS, nowMs, TERMINAL_SQL } from './state-sql.js';
import type { Store } from './tx.js';
import { reopenChild } from './flows.js';

export function dlqDepth(store: Store, params?: { queue?: string }): DlqDepth[] {
  const base = "SELECT queue, count(*) AS depth FROM spindle_jobs WHERE state = 'dead' AND resolved_at IS NULL";
  const rows =
    params?.queue === undefined
      ? store.conn.stmt(`${base} GROUP BY queue ORDER BY queue`).all()
      : store.conn.stmt(`${base} AND queue = ? GROUP BY queue`).all(params.queue);
  return rows as DlqDepth[];
}

export function dlqGroups(store: Store, params?: { filter?: JobFilter; limit?: number }): DlqGroup[] {
  const where = dlqWhere(params?.filter === undefined ? {} : { filter: params.filter });
  const failedAt = 'coalesce(last_failed_at, finished_at, created_at)';
  const sql = `SELECT g.queue, g.reason, g.count, g.firstFailedAt, g.lastFailedAt, j.id AS sampleJobId
    FROM (SELECT queue, coalesce(failure_reason, '') AS reason, count(*) AS count,
            min(${failedAt}) AS firstFailedAt, max(${failedAt}) AS lastFailedAt, max(seq) AS sampleSeq
          FROM spindle_jobs ${whereSql(withStates(where))}
          GROUP BY queue, coalesce(failure_reason, '')) AS g
    JOIN spindle_jobs AS j ON j.seq = g.sampleSeq
    ORDER BY g.count DESC, g.lastFailedAt DESC, g.queue, g.reason
    LIMIT @limit + 0`;
  const rows = store.conn.stmt(sql).all({ ...where.params, limit: params?.limit ?? -1 }) as Array<
    Omit<DlqGroup, 'firstFailedAt' | 'lastFailedAt'> & { firstFailedAt: number; lastFailedAt: number }
  >;
  return rows.map((r) => ({ ...r, firstFailedAt: new Date(r.firstFailedAt), lastFailedAt: new Date(r.lastFailedAt) }));
}

/** `seq IN (…)` of the selected dead jobs, plus its parameters. */
function selected(params: DlqSelectParams): { sql: string; params: Record<string, unknown> } {
  const where = dlqWhere(params);
  return {
    sql: `seq IN (${selectSeqs(where, 'ASC')})`,
    params: { ...where.params, limit: params.limit },
  };
}

const LIVE_UNIQUE = `SELECT 1 FROM spindle_jobs WHERE queue = ? AND unique_key = ? AND unique_key IS NOT NULL AND state NOT IN ${TERMINAL_SQL}`;
/** Starts the next round of a job whose state meets `stateCondition`; binds @seq, @queue, @now, @payload. */
const restartSql = (stateCondition: string): string => `UPDATE spindle_jobs SET
    state = 'queued', queue = @queue, run_at = @now, attempt = 0, round = round + 1, ${CLEAR_LEASE},
    failure_reason = NULL, first_failed_at = NULL, last_failed_at = NULL, resolution_note = NULL, resolved_at = NULL,
    finished_at = NULL, expires_at = NULL, result = NULL, cancel_requested = 0, payload = coalesce(@payload, payload)
  WHERE seq = @seq AND ${stateCondition}
  RETURNING ${EVENT_COLUMNS}`;
const REPLAY = restartSql("state = 'dead'");
const RESTART_FINISHED = restartSql(`state IN ${TERMINAL_SQL}`);

/** A finished job about to start its next round. */
export interface RestartCandidate {
  seq: number;
  queue: string;
  unique_key: string | null;
}

/**
 * Inside a write transaction: starts the next round of `job` in `queue` (see the invariants
 * above), from `dead` only (`from: 'dead'`, the DLQ) or from any terminal state (`'finished'`,
 * retryJobs). Returns the changed row, `unique_conflict` when a live job of `queue` holds the
 * job's unique key (nothing written), or undefined when the job is not in a `from` state.
 */
export function restartJob(
  store: Store,
  job: RestartCandidate,
  options: { from: 'dead' | 'finished'; queue: string; payload: string | null; now: number },
): EventRow | 'unique_conflict' | undefined {
  const { conn } = store;
  if (job.unique_key !== null && conn.stmt(LIVE_UNIQUE).get(options.queue, job.unique_key) !== undefined) return 'unique_conflict';
  const sql = options.from === 'dead' ? REPLAY : RESTART_FINISHED;
  return conn.stmt(sql).get({ seq: job.seq, queue: options.queue, now: options.now, payload: options.payload }) as EventRow | undefined;
}

export function dlqReplay(store: Store, params: DlqReplayParams): DlqReplayResult {
  const now = nowMs(params.now);
  return store.write((events) => {
    const selection = selected(params);
    const candidates = store.conn
      .stmt(`SELECT seq, id, queue, unique_key FROM spindle_jobs WHERE ${selection.sql} ORDER BY seq`)
      .all(selection.params) as Array<RestartCandidate & { id: string }>;
    const result: DlqReplayResult = { replayed: [], skipped: [] };
    for (const job of candidates) {
      const queue = params.toQueue ?? job.queue;
      const row = restartJob(store, job, { from: 'dead', queue, payload: params.payload ?? null, now });
      if (row === 'unique_conflict') {
        result.skipped.push({ id: job.id, reason: 'unique_conflict' });
        continue;
      }
      if (row === undefined) continue;
      result.replayed.push(row.id);
      events.push(jobEvent('replayed', row, now));
      reopenChild(store, events, now, row);
    }
    return result;
  });
}

export function dlqPurge(store: Store, params: DlqSelectParams): number {
  return store.write(() => {
    const selection = selected(params);
    return store.conn.stmt(`DELETE FROM spindle_jobs WHERE ${selection.sql} AND state = 'dead'`).run(selection.params).changes;
  });
}

export function dlqResolve(store: Store, params: DlqResolveParams): number {
  const now = nowMs(params.now);
  return store.write(() => {
    const selection = selected(params);
    const sql = `UPDATE spindle_jobs SET resolution_note = @note, resolved_at = @now WHERE ${selection.sql} AND state = 'dead'`;
    return store.conn.stmt(sql).run({ ...selection.params, note: params.note, now }).changes;
  });
}
