/**
 * claimJobs on SQLite, with the queue limits of queue-limits.ts (core), plus the writes that set
 * them (setQueueLimits, holdQueue).
 *
 * Invariants:
 * - A claim only takes rows that are `queued` at the moment of the write, of a queue that is not
 *   paused, in (priority, run_at, seq) order, with a fresh 128-bit random token each. A claimed
 *   job whose unique key is held `while: 'queued'` gives it up (RELEASE_QUEUED_KEY, ADR 0016).
 * - Every claim is one write transaction, and SQLite has one writer: a limited queue's running
 *   jobs and rate records are counted inside the claim's own transaction, so no other claim can
 *   take the same free slot. An unlimited queue pays one primary-key read of its settings row.
 * - A grouped queue's claim rotates across its groups under the group limits (groups.ts), after
 *   the queue's own limits gave it an allowance; group limits bind only grouped jobs.
 * - Claims are relaxed-durability writes (docs/decisions/0007): a lost claim leaves the job
 *   queued (and its rate record gone, which only lets the window admit it again).
 */
import {
  limitedAnswer,
  type ClaimAnswer,
  type ClaimedJob,
  type ClaimLimited,
  type ClaimParams,
  type HoldQueueParams,
  type SetQueueLimitsParams,
} from '@spindle/core';
import { claimGrouped, type GroupSettings } from './groups.js';
import { byClaimOrder, toClaimedJob, CLAIM_COLUMNS, type ClaimRow } from './rows.js';
import { nowMs, RELEASE_QUEUED_KEY } from './state-sql.js';
import type { Store } from './tx.js';

const CLAIM = `UPDATE spindle_jobs
  SET state = 'running', attempt = attempt + 1, lease_token = lower(hex(randomblob(16))),
      lease_expires_at = @leaseExpiresAt, started_at = @now, worker_id = @workerId, cancel_requested = 0,
      ${RELEASE_QUEUED_KEY}
  WHERE seq IN (
    SELECT seq FROM spindle_jobs
    WHERE queue = @queue AND state = 'queued'
      AND NOT EXISTS (SELECT 1 FROM spindle_queues WHERE name = @queue AND paused = 1)
    ORDER BY priority, run_at, seq
    LIMIT @limit + 0)
  AND state = 'queued'
  RETURNING ${CLAIM_COLUMNS}`;

const SETTINGS = `SELECT concurrency_limit AS concurrency, rate_max AS rateMax, rate_interval_ms AS rateIntervalMs,
  held_until AS heldUntil, paused, grouped, group_cursor AS cursor, group_concurrency AS groupConcurrency,
  group_rate_max AS groupRateMax, group_rate_interval_ms AS groupRateIntervalMs, fifo
  FROM spindle_queues WHERE name = ?`;
const RUNNING = `SELECT count(*) AS n FROM spindle_jobs WHERE state = 'running' AND queue = ?`;
const RATE_PRUNE = 'DELETE FROM spindle_queue_rate_log WHERE queue = ? AND at <= ?';
const RATE_USED = 'SELECT coalesce(sum(n), 0) AS used, min(at) AS oldest FROM spindle_queue_rate_log WHERE queue = ?';
const RATE_RECORD = 'INSERT INTO spindle_queue_rate_log (queue, at, n) VALUES (?, ?, ?)';

interface Settings extends Omit<GroupSettings, 'fifo'> {
  concurrency: number | null;
  rateMax: number | null;
  rateIntervalMs: number | null;
  heldUntil: number | null;
  paused: number;
  grouped: number;
  fifo: number;
}

/** How many of `want` jobs the queue's limits let this claim take now, and why fewer. */
function allowance(store: Store, queue: string, s: Settings, want: number, now: number): { allowed: number; limited?: ClaimLimited } {
  if (s.heldUntil !== null && s.heldUntil > now) return { allowed: 0, limited: { reason: 'held', retryAfterMs: s.heldUntil - now } };
  let allowed = want;
  let limited: ClaimLimited | undefined;
  if (s.concurrency !== null) {
    const { n } = store.conn.stmt(RUNNING).get(queue) as { n: number };
    const free = Math.max(0, s.concurrency - n);
    if (free < allowed) [allowed, limited] = [free, { reason: 'concurrency' }];
  }
  if (s.rateMax !== null && s.rateIntervalMs !== null) {
    store.conn.stmt(RATE_PRUNE).run(queue, now - s.rateIntervalMs);
    const { used, oldest } = store.conn.stmt(RATE_USED).get(queue) as { used: number; oldest: number | null };
    const left = Math.max(0, s.rateMax - used);
    if (left < allowed) [allowed, limited] = [left, { reason: 'rate', retryAfterMs: Math.max(1, (oldest ?? now) + s.rateIntervalMs - now) }];
  }
  return limited ? { allowed, limited } : { allowed };
}

export function claimJobs(store: Store, params: ClaimParams): ClaimAnswer<ClaimedJob> {
  const { queue } = params;
  return store.writeRelaxed((events) => {
    // Read inside the transaction: another process's claim may have held the write lock until now.
    const now = nowMs(params.now);
    const leaseExpiresAt = now + params.leaseMs;
    const settings = store.conn.stmt(SETTINGS).get(queue) as Settings | undefined;
    const { allowed, limited } = settings ? allowance(store, queue, settings, params.limit, now) : { allowed: params.limit, limited: undefined };
    let rows: ClaimRow[] = [];
    let groupLimited: ClaimLimited | undefined;
    // Group limits bind only grouped jobs: a queue that has none claims plainly.
    if (settings?.grouped === 1) {
      if (allowed > 0 && settings.paused === 0) {
        const groups = { ...settings, fifo: settings.fifo === 1 };
        ({ rows, limited: groupLimited } = claimGrouped(store, queue, groups, allowed, { now, leaseExpiresAt, workerId: params.workerId }));
      }
    } else if (allowed > 0) {
      rows = store.conn.rawStmt(CLAIM).all({ queue, workerId: params.workerId, limit: allowed, now, leaseExpiresAt }) as ClaimRow[];
    }
    if (settings?.rateMax != null && rows.length > 0) store.conn.stmt(RATE_RECORD).run(queue, now, rows.length);
    rows.sort(byClaimOrder);
    const jobs = rows.map((row) => {
      const job = toClaimedJob(row, queue, leaseExpiresAt);
      events.push({ type: 'started', jobId: job.id, queue, name: job.name, state: 'running', attempt: job.attempt, at: now });
      return job;
    });
    // Fewer rows than the limit allowed: the queue ran out, whatever the limit said (unless a group limit says why).
    if (groupLimited) return limitedAnswer(jobs, groupLimited);
    return limited && rows.length === allowed ? limitedAnswer(jobs, limited) : jobs;
  });
}

const SET_LIMITS = `INSERT INTO spindle_queues (name, paused, updated_at, concurrency_limit, rate_max, rate_interval_ms,
    group_concurrency, group_rate_max, group_rate_interval_ms, fifo)
  VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (name) DO UPDATE SET concurrency_limit = excluded.concurrency_limit, rate_max = excluded.rate_max,
    rate_interval_ms = excluded.rate_interval_ms, group_concurrency = excluded.group_concurrency,
    group_rate_max = excluded.group_rate_max, group_rate_interval_ms = excluded.group_rate_interval_ms,
    fifo = excluded.fifo, updated_at = excluded.updated_at`;

export function setQueueLimits(store: Store, params: SetQueueLimitsParams): void {
  const now = Date.now();
  const { concurrency, rate, groupConcurrency, groupRate, fifo } = params.limits;
  store.write((events) => {
    store.conn.stmt(SET_LIMITS).run(params.queue, now, concurrency, rate?.max ?? null, rate?.intervalMs ?? null,
      groupConcurrency, groupRate?.max ?? null, groupRate?.intervalMs ?? null, fifo ? 1 : 0);
    if (rate === null) store.conn.stmt('DELETE FROM spindle_queue_rate_log WHERE queue = ?').run(params.queue);
    if (groupRate === null) store.conn.stmt('DELETE FROM spindle_group_rate_log WHERE queue = ?').run(params.queue);
    events.push({ type: 'limits_changed', queue: params.queue, at: now });
  });
}

const HOLD = `INSERT INTO spindle_queues (name, paused, updated_at, held_until) VALUES (?, 0, ?, ?)
  ON CONFLICT (name) DO UPDATE SET held_until = CASE WHEN excluded.held_until IS NULL THEN NULL
    ELSE max(coalesce(held_until, 0), excluded.held_until) END, updated_at = excluded.updated_at`;

/** Holds a queue until now + delayMs (a longer hold already there is kept); 0 ends a hold. */
export function holdQueue(store: Store, params: HoldQueueParams): void {
  const now = nowMs(params.now);
  store.write((events) => {
    store.conn.stmt(HOLD).run(params.queue, Date.now(), params.delayMs > 0 ? now + params.delayMs : null);
    if (params.delayMs === 0) events.push({ type: 'limits_changed', queue: params.queue, at: now });
  });
}
