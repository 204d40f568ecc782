/**
 * Reads: getJob, listJobs (filters + keyset paging), countJobs, listQueues, and the queue
 * pause switch (pauseQueue / resumeQueue).
 *
 * Invariants:
 * - Reads run outside write transactions (WAL: they never block writers and see the last
 *   committed state). Paging is keyset by `seq`, never OFFSET: cost is independent of depth.
 * - The cursor is opaque (encodeCursor/decodeCursor of core); a foreign cursor is a
 *   ValidationError.
 * - A paused queue keeps accepting jobs; only claims skip it (see jobs-write.ts).
 */
import {
  decodeCursor,
  encodeCursor,
  type JobPage,
  type JobRecord,
  type JobState,
  type ListJobsParams,
  type QueueInfo,
  type QueueStateCount,
} from '@spindle/core';
import { filterWhere, whereSql } from './filters.js';
import { JOB_COLUMNS, toJobRecord, type JobRow } from './rows.js';
import type { Store } from './tx.js';

const MAX_SEQ = 2n ** 63n - 1n;

export function getJob(store: Store, id: string): JobRecord | null {
  const row = store.conn.stmt(`SELECT ${JOB_COLUMNS} FROM spindle_jobs WHERE id = ?`).get(id) as JobRow | undefined;
  return row === undefined ? null : toJobRecord(row);
}

export function listJobs(store: Store, params: ListJobsParams): JobPage {
  const newest = (params.order ?? 'newest') === 'newest';
  const { clauses, params: bound } = filterWhere(params.filter);
  if (params.cursor != null) {
    clauses.push(newest ? 'seq < @cursor' : 'seq > @cursor');
    const seq = BigInt(decodeCursor(params.cursor));
    bound.cursor = seq > MAX_SEQ ? MAX_SEQ : seq; // beyond any rowid: same page as the maximum

  }
  const sql = `SELECT ${JOB_COLUMNS} FROM spindle_jobs ${whereSql(clauses)} ORDER BY seq ${newest ? 'DESC' : 'ASC'} LIMIT @limit`;
  const rows = store.conn.stmt(sql).all({ ...bound, limit: params.limit + 1 }) as JobRow[];
  const more = rows.length > params.limit;
  if (more) rows.length = params.limit;
  const last = rows[rows.length - 1];
  return { jobs: rows.map(toJobRecord), nextCursor: more && last !== undefined ? encodeCursor(last.seq) : null };
}

export function countJobs(store: Store, params?: { queue?: string }): QueueStateCount[] {
  const rows =
    params?.queue === undefined
      ? store.conn.stmt('SELECT queue, state, count(*) AS count FROM spindle_jobs GROUP BY queue, state ORDER BY queue, state').all()
      : store.conn
          .stmt('SELECT queue, state, count(*) AS count FROM spindle_jobs WHERE queue = ? GROUP BY queue, state ORDER BY state')
          .all(params.queue);
  return rows as Array<{ queue: string; state: JobState; count: number }>;
}

// Distinct queues of the jobs table by skip-scan over (queue, state, seq): one index probe per
// queue instead of a pass over every job.
const LIST_QUEUES = `WITH RECURSIVE job_queues(name) AS (
    SELECT min(queue) FROM spindle_jobs
    UNION ALL
    SELECT (SELECT min(queue) FROM spindle_jobs WHERE queue > job_queues.name) FROM job_queues WHERE name IS NOT NULL)
  SELECT name, max(paused) AS paused FROM (
    SELECT name, paused FROM spindle_queues
    UNION ALL
    SELECT name, 0 AS paused FROM job_queues WHERE name IS NOT NULL)
  GROUP BY name ORDER BY name`;

export function listQueues(store: Store): QueueInfo[] {
  const rows = store.conn.stmt(LIST_QUEUES).all() as Array<{ name: string; paused: number }>;
  return rows.map((r) => ({ name: r.name, paused: r.paused !== 0 }));
}

const SET_PAUSED = `INSERT INTO spindle_queues (name, paused, updated_at) VALUES (?, ?, ?)
  ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at`;

export function setQueuePaused(store: Store, queue: string, paused: boolean): void {
  const now = Date.now();
  store.write((events) => {
    store.conn.stmt(SET_PAUSED).run(queue, paused ? 1 : 0, now);
    events.push({ type: paused ? 'paused' : 'resumed', queue, at: now });
  });
}
