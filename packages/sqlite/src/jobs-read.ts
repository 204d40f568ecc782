/**
 * Reads: getJob, listJobs (filters + keyset paging), countJobs, countMatchingJobs, listQueues, and the queue
 * pause switch (pauseQueue / resumeQueue).
 *
 * Invariants:
 * - Reads run outside write transactions (WAL: they never block writers and see the last
 *   committed state). Paging is keyset by `seq`, never OFFSET: cost is independent of depth.
 * - States are reached through their partial indexes (state-index.ts): a state filter lists a
 *   page from each state's index, counts add up per-index aggregates, and queue discovery
 *   skip-scans the queue-led indexes. None of them walks the whole jobs table. Two listings
 *   still page the table itself by `seq`, stopping at the page size: a filter without states
 *   (also with only a queue: all its states, newest first, need no index), and the `waiting`
 *   state, which has no index (state-index.ts).
 * - The cursor is opaque (encodeCursor/decodeCursor of core); a foreign cursor is a
 *   ValidationError.
 * - A paused queue keeps accepting jobs; only claims skip it (see jobs-write.ts).
 */
import {
  decodeCursor,
  encodeCursor,
  type JobFilter,
  type JobPage,
  type JobRecord,
  type JobState,
  type ListJobsParams,
  type QueueInfo,
  type QueueStateCount,
} from '@spindle/core';
import { filterWhere, whereSql, withStates } from './filters.js';
import { JOB_COLUMNS, toJobRecord, type JobRow } from './rows.js';
import { countSql, jobQueuesSql, selectSeqs } from './state-index.js';
import type { Store } from './tx.js';

const MAX_SEQ = 2n ** 63n - 1n;

export function getJob(store: Store, id: string): JobRecord | null {
  const row = store.conn.stmt(`SELECT ${JOB_COLUMNS} FROM spindle_jobs WHERE id = ?`).get(id) as JobRow | undefined;
  return row === undefined ? null : toJobRecord(row);
}

export function listJobs(store: Store, params: ListJobsParams): JobPage {
  const newest = (params.order ?? 'newest') === 'newest';
  const where = filterWhere(params.filter);
  const bound: Record<string, unknown> = { ...where.params, limit: params.limit + 1 };
  if (params.cursor != null) {
    where.clauses.push(newest ? 'seq < @cursor' : 'seq > @cursor');
    const seq = BigInt(decodeCursor(params.cursor));
    bound.cursor = seq > MAX_SEQ ? MAX_SEQ : seq; // beyond any rowid: same page as the maximum
  }
  const direction = newest ? 'DESC' : 'ASC';
  const sql = `SELECT ${JOB_COLUMNS} FROM spindle_jobs WHERE seq IN (${selectSeqs(where, direction)}) ORDER BY seq ${direction} LIMIT @limit + 0`;
  const rows = store.conn.stmt(sql).all(bound) as JobRow[];
  const more = rows.length > params.limit;
  if (more) rows.length = params.limit;
  const last = rows[rows.length - 1];
  return { jobs: rows.map(toJobRecord), nextCursor: more && last !== undefined ? encodeCursor(last.seq) : null };
}

const COUNT_ALL = countSql(false);
const COUNT_QUEUE = countSql(true);

export function countJobs(store: Store, params?: { queue?: string }): QueueStateCount[] {
  const rows =
    params?.queue === undefined ? store.conn.stmt(COUNT_ALL).all() : store.conn.stmt(COUNT_QUEUE).all({ queue: params.queue });
  return rows as Array<{ queue: string; state: JobState; count: number }>;
}

/**
 * The exact number of jobs `filter` selects: one aggregate with the state restriction as
 * literals (one state: its partial index; an id list: the id index). Linear in the rows that
 * pass the indexed conditions — text searches read each of those rows.
 */
export function countMatchingJobs(store: Store, params: { filter: JobFilter }): number {
  const where = filterWhere(params.filter);
  const row = store.conn.stmt(`SELECT count(*) AS n FROM spindle_jobs ${whereSql(withStates(where))}`).get(where.params) as { n: number };
  return row.n;
}

// Queues with jobs (skip-scans of the queue-led partial indexes, see state-index.ts) or a
// stored setting.
const JOB_QUEUES = jobQueuesSql();
const LIST_QUEUES = `WITH RECURSIVE ${JOB_QUEUES.ctes}
  SELECT a.name, max(a.paused) AS paused, s.concurrency_limit AS concurrency, s.rate_max AS rateMax,
    s.rate_interval_ms AS rateIntervalMs, s.held_until AS heldUntil, s.grouped, s.group_concurrency AS groupConcurrency,
    s.group_rate_max AS groupRateMax, s.group_rate_interval_ms AS groupRateIntervalMs, s.fifo FROM (
    SELECT name, paused FROM spindle_queues
    UNION ALL
    SELECT name, 0 AS paused FROM (${JOB_QUEUES.select})) a
  LEFT JOIN spindle_queues s ON s.name = a.name
  GROUP BY a.name ORDER BY a.name`;

interface QueueRow {
  name: string;
  paused: number;
  concurrency: number | null;
  rateMax: number | null;
  rateIntervalMs: number | null;
  heldUntil: number | null;
  grouped: number | null;
  groupConcurrency: number | null;
  groupRateMax: number | null;
  groupRateIntervalMs: number | null;
  fifo: number | null;
}

const rateOf = (max: number | null, intervalMs: number | null) => (max !== null && intervalMs !== null ? { max, intervalMs } : null);

export function listQueues(store: Store): QueueInfo[] {
  const now = Date.now();
  return (store.conn.stmt(LIST_QUEUES).all() as QueueRow[]).map((r) => ({
    name: r.name,
    paused: r.paused !== 0,
    limits: {
      concurrency: r.concurrency,
      rate: rateOf(r.rateMax, r.rateIntervalMs),
      groupConcurrency: r.groupConcurrency,
      groupRate: rateOf(r.groupRateMax, r.groupRateIntervalMs),
      fifo: r.fifo === 1,
    },
    heldUntil: r.heldUntil !== null && r.heldUntil > now ? new Date(r.heldUntil) : null,
    grouped: r.grouped === 1,
  }));
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

/** Each priority with queued jobs (a loose scan of the claim index), then its earliest run_at. */
const OLDEST_QUEUED = `WITH RECURSIVE p(priority) AS (
    SELECT (SELECT priority FROM spindle_jobs WHERE queue = @queue AND state = 'queued' ORDER BY priority LIMIT 1)
    UNION ALL
    SELECT (SELECT j.priority FROM spindle_jobs j WHERE j.queue = @queue AND j.state = 'queued' AND j.priority > p.priority
            ORDER BY j.priority LIMIT 1)
    FROM p WHERE p.priority IS NOT NULL)
  SELECT min((SELECT j.run_at FROM spindle_jobs j WHERE j.queue = @queue AND j.state = 'queued' AND j.priority = p.priority
              ORDER BY j.run_at LIMIT 1)) AS at
  FROM p WHERE p.priority IS NOT NULL`;

export function oldestQueuedAt(store: Store, queue: string): Date | null {
  const row = store.conn.stmt(OLDEST_QUEUED).get({ queue }) as { at: number | null };
  return row.at === null ? null : new Date(row.at);
}
