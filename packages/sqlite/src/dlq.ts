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
 *   skipped (`unique_conflict`), never forced past the unique index.
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
const REPLAY = `UPDATE spindle_jobs SET
    state = 'queued', queue = @queue, run_at = @now, attempt = 0, round = round + 1, ${CLEAR_LEASE},
    failure_reason = NULL, first_failed_at = NULL, last_failed_at = NULL, resolution_note = NULL, resolved_at = NULL,
    finished_at = NULL, expires_at = NULL, result = NULL, cancel_requested = 0, payload = coalesce(@payload, payload)
  WHERE seq = @seq AND state = 'dead'
  RETURNING ${EVENT_COLUMNS}`;

export function dlqReplay(store: Store, params: DlqReplayParams): DlqReplayResult {
  const now = nowMs(params.now);
  return store.write((events) => {
    const { conn } = store;
    const selection = selected(params);
    const candidates = conn.stmt(`SELECT seq, id, queue, unique_key FROM spindle_jobs WHERE ${selection.sql} ORDER BY seq`).all(selection.params) as Array<{
      seq: number;
      id: string;
      queue: string;
      unique_key: string | null;
    }>;
    const result: DlqReplayResult = { replayed: [], skipped: [] };
    for (const job of candidates) {
      const queue = params.toQueue ?? job.queue;
      if (job.unique_key !== null && conn.stmt(LIVE_UNIQUE).get(queue, job.unique_key) !== undefined) {
        result.skipped.push({ id: job.id, reason: 'unique_conflict' });
        continue;
      }
      const row = conn.stmt(REPLAY).get({ seq: job.seq, queue, now, payload: params.payload ?? null }) as EventRow | undefined;
      if (row === undefined) continue;
      result.replayed.push(row.id);
      events.push(jobEvent('replayed', row, now));
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
