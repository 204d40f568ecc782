/**
 * The producer and worker hot path: insertJobs, claimJobs, extendLeases, updateProgress and
 * cancelJobs (finalizeJobs lives in finalize.ts).
 *
 * Invariants:
 * - Each call is one BEGIN IMMEDIATE transaction (store.write); batches answer per item, in
 *   input order. SQL texts are constants, prepared once per connection.
 * - Dedup: an existing id (any state) or a live (queue, unique_key) means "not inserted", and
 *   the existing job is untouched; later items of a batch dedup against earlier ones. A job with
 *   a unique mode (`uniqueMode`, ADR 0016) is settled by unique.ts before its INSERT (keep,
 *   replace a waiting holder, or go in), in the same transaction and input order.
 * - A claim only takes rows that are `queued` at the moment of the write, of a queue that is
 *   not paused, in (priority, run_at, seq) order, with a fresh 128-bit random token each.
 * - Post-claim writes (extend, progress) apply only through FENCE; a miss is `lease_lost` when
 *   the job exists and `not_found` when it does not.
 * - Durability (ADR 0007): inserts and cancels commit at the configured `synchronous` level
 *   (FULL by default: `add` resolving means the job survives power loss). Claims, heartbeats and
 *   progress commit relaxed (`store.writeRelaxed`: `synchronous = NORMAL` for that transaction
 *   only, FULL restored right after): losing one to a power failure is a case the design already
 *   handles — a lost claim leaves the job queued and the worker's later writes fail their fence,
 *   a lost heartbeat makes the lease look older, a lost progress value is cosmetic.
 * - Direct dispatch (`insertJobs({ dispatch })`, the embedded latency path): the jobs a request
 *   takes are inserted already running, written as a claim writes them, in the insert's own
 *   transaction and at its durability (one commit instead of an insert's and a claim's). A call
 *   without `dispatch` takes the plain insert path, untouched.
 */
import { randomFillSync } from 'node:crypto';
import {
  eventData,
  parseStoredJson,
  type BackoffSpec,
  type CancelJobsParams,
  type CancelOutcome,
  type ClaimedJob,
  type ClaimParams,
  type DispatchRequest,
  type ExtendLeasesParams,
  type ExtendOutcome,
  type InsertJobsParams,
  type InsertOutcome,
  type JobInsert,
  type JobState,
  type LeaseOutcome,
  type ProgressParams,
} from '@spindle/core';
import { byClaimOrder, jobEvent, toClaimedJob, CLAIM_COLUMNS, type ClaimRow, type EventRow } from './rows.js';
import { CANCELLABLE_SQL, CLEAR_LEASE, EVENT_COLUMNS, expiresAt, FENCE, KEEP_CANCELLED, nowMs, TERMINAL_SQL } from './state-sql.js';
import type { Store } from './tx.js';
import { childChange, settleChildren } from './flows.js';
import { GroupResolver } from './groups.js';
import { UniqueResolver } from './unique.js';

/**
 * One row per job, bound positionally (named parameters cost a property lookup per value and
 * RETURNING an extra result row: together they were a third of a bulk insert's time). Whether the
 * row went in is `changes` (ON CONFLICT DO NOTHING: 0 on a duplicate).
 */
const INSERT_JOB = `INSERT INTO spindle_jobs (id, queue, name, payload, state, priority, max_retries, unique_key, timeout_ms,
    backoff, created_at, run_at, completed_keep_ms, completed_keep_count, dead_keep_ms, dead_keep_count, group_key)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT DO NOTHING`;
const FIND_BY_ID = 'SELECT id, state FROM spindle_jobs WHERE id = ?';
const FIND_LIVE_UNIQUE = `SELECT id, state FROM spindle_jobs
  WHERE queue = ? AND unique_key = ? AND unique_key IS NOT NULL AND state NOT IN ${TERMINAL_SQL}`;
const EXISTS = 'SELECT 1 FROM spindle_jobs WHERE id = ?';

export function insertJobs(store: Store, params: InsertJobsParams): InsertOutcome[] {
  if (params.dispatch !== undefined && params.dispatch.length > 0) return insertDispatching(store, params, params.dispatch);
  const now = nowMs(params.now);
  return store.write((events) => {
    const { conn } = store;
    const insert = conn.stmt(INSERT_JOB);
    const groups = new GroupResolver(store, now);
    let unique: UniqueResolver | undefined;
    const { jobs } = params;
    const outcomes = new Array<InsertOutcome>(jobs.length);
    for (let i = 0; i < jobs.length; i++) {
      const given = jobs[i]!;
      // A unique mode (unique.ts): a duplicate is settled there; a new job goes in as any job.
      const decided = given.uniqueMode ? (unique ??= new UniqueResolver(store, events, now)).resolve(given) : null;
      if (decided !== null && 'outcome' in decided) {
        outcomes[i] = decided.outcome;
        continue;
      }
      const job = decided?.insert ?? given;
      // `scheduled` when the requested time is in the future, else `queued` now (or at the past runAt).
      const requested = job.runAt !== null ? job.runAt.getTime() : job.delayMs !== null ? now + job.delayMs : now;
      const state: JobState = requested > now ? 'scheduled' : 'queued';
      const { retention } = job;
      const { changes } = insert.run(
        job.id,
        job.queue,
        job.name,
        job.payload,
        state,
        job.priority,
        job.maxRetries,
        job.uniqueKey,
        job.timeoutMs,
        job.backoff === null ? null : JSON.stringify(job.backoff),
        now,
        state === 'scheduled' || job.runAt !== null ? requested : now,
        retention.completedKeepMs,
        retention.completedKeepCount,
        retention.deadKeepMs,
        retention.deadKeepCount,
        groups.keyOf(job),
      );
      if (changes > 0) {
        if (decided !== null) unique!.mark(given);
        events.push({ type: 'added', jobId: job.id, queue: job.queue, name: job.name, state, attempt: 0, at: now });
        outcomes[i] = { id: job.id, inserted: true, state };
        continue;
      }
      outcomes[i] = duplicateOutcome(store, job);
    }
    unique?.finish(outcomes);
    return outcomes;
  });
}

/** A duplicate (the rare path): the outcome naming the job it collided with, by id first. */
function duplicateOutcome(store: Store, job: JobInsert): InsertOutcome {
  const { conn } = store;
  const existing = (conn.stmt(FIND_BY_ID).get(job.id) ??
    (job.uniqueKey === null ? undefined : conn.stmt(FIND_LIVE_UNIQUE).get(job.queue, job.uniqueKey))) as
    | { id: string; state: JobState }
    | undefined;
  if (existing === undefined) throw new Error(`insert of job ${job.id} conflicted with neither its id nor its unique key`);
  return { id: existing.id, inserted: false, state: existing.state };
}

/**
 * A due job inserted already claimed (direct dispatch), as claimJobs would leave it: running,
 * attempt 1, a fresh token, lease until now + leaseMs, started now, the worker, no cancel request.
 * One INSERT rather than a queued INSERT plus an UPDATE by seq: measured cheaper for a 1-job batch
 * (in memory ~25 µs vs ~33 µs per call), and the row is written once.
 */
const INSERT_RUNNING_JOB = `INSERT INTO spindle_jobs (id, queue, name, payload, state, priority, max_retries, unique_key, timeout_ms,
    backoff, created_at, run_at, completed_keep_ms, completed_keep_count, dead_keep_ms, dead_keep_count,
    attempt, lease_token, lease_expires_at, started_at, worker_id)
  VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)
  ON CONFLICT DO NOTHING`;
/** The queue takes no direct dispatch: paused, limited across processes, held (queue-limits.ts) or grouped (groups.ts). */
const QUEUE_PAUSED = `SELECT 1 FROM spindle_queues WHERE name = ? AND (paused = 1 OR concurrency_limit IS NOT NULL
  OR rate_max IS NOT NULL OR coalesce(held_until, 0) > ? OR grouped = 1 OR fifo = 1 OR group_concurrency IS NOT NULL
  OR group_rate_max IS NOT NULL)`;

/**
 * A fresh lease token, as a claim makes it (`lower(hex(randomblob(16)))`: 128 random bits, hex),
 * drawn in JS because the ClaimedJob needs it without reading the row back. Taken from a pool
 * refilled from the CSPRNG 256 tokens at a time: `randomBytes(16)` per token cost ~6 µs here,
 * a quarter of a whole 1-job dispatching insert (the pool: ~0.4 µs).
 */
const TOKEN_BYTES = 16;
const tokenPool = Buffer.alloc(TOKEN_BYTES * 256);
let tokenOffset = tokenPool.length;

function newLeaseToken(): string {
  if (tokenOffset === tokenPool.length) {
    randomFillSync(tokenPool);
    tokenOffset = 0;
  }
  const token = tokenPool.toString('hex', tokenOffset, tokenOffset + TOKEN_BYTES);
  tokenOffset += TOKEN_BYTES;
  return token;
}

/** A dispatch request's budget within one insertJobs call. */
interface DispatchSlot {
  request: DispatchRequest;
  /** Jobs it may still take. */
  left: number;
  /** Read once, at the first job that could be dispatched: the queue is paused. */
  paused: boolean | undefined;
  leaseExpiresAt: number;
}

/**
 * insertJobs with `dispatch` (the path of a process whose worker is idle; the plain path above
 * stays as it is for bulk inserts). In the same transaction, a job that is due now, new, of a
 * queue with a request that has budget left and is not paused, is inserted directly as running
 * (INSERT_RUNNING_JOB) with its ClaimedJob built from the insert itself; every other job goes in
 * exactly as on the plain path. The first request naming a queue wins. Durability is the insert's
 * (FULL when configured): the dispatched jobs are new jobs first of all.
 */
function insertDispatching(store: Store, params: InsertJobsParams, requests: DispatchRequest[]): InsertOutcome[] {
  const now = nowMs(params.now);
  const slots = new Map<string, DispatchSlot>();
  for (const request of requests) {
    if (!slots.has(request.queue)) {
      slots.set(request.queue, { request, left: request.limit, paused: undefined, leaseExpiresAt: now + request.leaseMs });
    }
  }
  return store.write((events) => {
    const { conn } = store;
    const { jobs } = params;
    const groups = new GroupResolver(store, now);
    let unique: UniqueResolver | undefined;
    const outcomes = new Array<InsertOutcome>(jobs.length);
    for (let i = 0; i < jobs.length; i++) {
      const given = jobs[i]!;
      const decided = given.uniqueMode ? (unique ??= new UniqueResolver(store, events, now)).resolve(given) : null;
      if (decided !== null && 'outcome' in decided) {
        outcomes[i] = decided.outcome;
        continue;
      }
      const job = decided?.insert ?? given;
      const group = groups.keyOf(job);
      const requested = job.runAt !== null ? job.runAt.getTime() : job.delayMs !== null ? now + job.delayMs : now;
      const state: JobState = requested > now ? 'scheduled' : 'queued';
      const runAt = state === 'scheduled' || job.runAt !== null ? requested : now;
      const backoff = job.backoff === null ? null : JSON.stringify(job.backoff);
      const { retention } = job;
      const slot = state === 'queued' ? slots.get(job.queue) : undefined;
      if (slot !== undefined && slot.left > 0 && group === null) {
        slot.paused ??= conn.stmt(QUEUE_PAUSED).get(job.queue, now) !== undefined;
        if (!slot.paused) {
          const { workerId } = slot.request;
          const leaseToken = newLeaseToken();
          const { changes } = conn.stmt(INSERT_RUNNING_JOB).run(
            job.id,
            job.queue,
            job.name,
            job.payload,
            job.priority,
            job.maxRetries,
            job.uniqueKey,
            job.timeoutMs,
            backoff,
            now,
            runAt,
            retention.completedKeepMs,
            retention.completedKeepCount,
            retention.deadKeepMs,
            retention.deadKeepCount,
            leaseToken,
            slot.leaseExpiresAt,
            now,
            workerId,
          );
          if (changes === 0) {
            outcomes[i] = duplicateOutcome(store, job);
            continue;
          }
          // Inserted running: a key held `while: 'queued'` is released at once, as a claim does.
          if (decided !== null) unique!.mark(given);
          slot.left -= 1;
          const claimed: ClaimedJob = {
            id: job.id,
            attempt: 1,
            leaseToken,
            queue: job.queue,
            name: job.name,
            payload: JSON.parse(job.payload),
            priority: job.priority,
            maxRetries: job.maxRetries,
            leaseExpiresAt: new Date(slot.leaseExpiresAt),
            timeoutMs: job.timeoutMs,
            backoff: parseStoredJson(backoff) as BackoffSpec | null,
            round: 0,
            progress: null,
            createdAt: new Date(now),
            runAt: new Date(runAt),
          };
          events.push(
            { type: 'added', jobId: job.id, queue: job.queue, name: job.name, state: 'running', attempt: 1, at: now },
            { type: 'started', jobId: job.id, queue: job.queue, name: job.name, state: 'running', attempt: 1, at: now },
          );
          outcomes[i] = { id: job.id, inserted: true, state: 'running', claimed };
          continue;
        }
      }
      const { changes } = conn.stmt(INSERT_JOB).run(
        job.id,
        job.queue,
        job.name,
        job.payload,
        state,
        job.priority,
        job.maxRetries,
        job.uniqueKey,
        job.timeoutMs,
        backoff,
        now,
        runAt,
        retention.completedKeepMs,
        retention.completedKeepCount,
        retention.deadKeepMs,
        retention.deadKeepCount,
        group,
      );
      if (changes > 0) {
        if (decided !== null) unique!.mark(given);
        events.push({ type: 'added', jobId: job.id, queue: job.queue, name: job.name, state, attempt: 0, at: now });
        outcomes[i] = { id: job.id, inserted: true, state };
      } else {
        outcomes[i] = duplicateOutcome(store, job);
      }
    }
    unique?.finish(outcomes);
    return outcomes;
  });
}

/** One statement for the whole batch: the leases are bound as one JSON array. */
const EXTEND = `UPDATE spindle_jobs SET lease_expires_at = @leaseExpiresAt
  FROM (SELECT value ->> '$.id' AS id, value ->> '$.attempt' AS attempt, value ->> '$.leaseToken' AS token
        FROM json_each(@leases)) AS lease
  WHERE spindle_jobs.id = lease.id AND spindle_jobs.attempt = lease.attempt
    AND spindle_jobs.lease_token = lease.token AND +spindle_jobs.state = 'running'
  RETURNING spindle_jobs.id AS id, spindle_jobs.attempt AS attempt, spindle_jobs.lease_token AS token,
    spindle_jobs.cancel_requested AS cancelRequested`;

export function extendLeases(store: Store, params: ExtendLeasesParams): ExtendOutcome[] {
  const now = nowMs(params.now);
  return store.writeRelaxed(() => {
    const leases = params.leases.map((l) => ({ id: l.id, attempt: l.attempt, leaseToken: l.leaseToken }));
    const rows = store.conn.stmt(EXTEND).all({ leaseExpiresAt: now + params.leaseMs, leases: JSON.stringify(leases) }) as Array<{
      id: string;
      attempt: number;
      token: string;
      cancelRequested: number;
    }>;
    const extended = new Map(rows.map((r) => [`${r.attempt}:${r.token}:${r.id}`, r.cancelRequested !== 0]));
    return leases.map((lease): ExtendOutcome => {
      const cancelRequested = extended.get(`${lease.attempt}:${lease.leaseToken}:${lease.id}`);
      if (cancelRequested !== undefined) return { outcome: 'ok', cancelRequested };
      return { outcome: missOutcome(store, lease.id), cancelRequested: false };
    });
  });
}

/** Why a fenced write matched nothing. */
export function missOutcome(store: Store, id: string): Exclude<LeaseOutcome, 'ok'> {
  return store.conn.stmt(EXISTS).get(id) === undefined ? 'not_found' : 'lease_lost';
}

const PROGRESS = `UPDATE spindle_jobs SET progress = @progress WHERE ${FENCE} RETURNING ${EVENT_COLUMNS}`;

export function updateProgress(store: Store, params: ProgressParams): LeaseOutcome[] {
  const now = nowMs(params.now);
  return store.writeRelaxed((events) => {
    const update = store.conn.stmt(PROGRESS);
    return params.items.map((item): LeaseOutcome => {
      const row = update.get({ id: item.id, attempt: item.attempt, leaseToken: item.leaseToken, progress: item.progress }) as
        | EventRow
        | undefined;
      if (row === undefined) return missOutcome(store, item.id);
      events.push(jobEvent('progress', row, now, eventData(item.progress)));
      return 'ok';
    });
  });
}

const FIND_FOR_CANCEL = 'SELECT seq, state FROM spindle_jobs WHERE id = ?';
const REQUEST_CANCEL = `UPDATE spindle_jobs SET cancel_requested = 1 WHERE seq = ? AND state = 'running' RETURNING ${EVENT_COLUMNS}`;
const CANCEL = `UPDATE spindle_jobs
  SET state = 'cancelled', finished_at = @now, expires_at = ${expiresAt(KEEP_CANCELLED)}, ${CLEAR_LEASE}
  WHERE seq = @seq AND state IN ${CANCELLABLE_SQL}
  RETURNING ${EVENT_COLUMNS}`;

export function cancelJobs(store: Store, params: CancelJobsParams): CancelOutcome[] {
  const now = nowMs(params.now);
  return store.write((events) => {
    const { conn } = store;
    return params.ids.map((id): CancelOutcome => {
      const found = conn.stmt(FIND_FOR_CANCEL).get(id) as { seq: number; state: JobState } | undefined;
      if (found === undefined) return 'not_found';
      if (found.state === 'running') {
        const row = conn.stmt(REQUEST_CANCEL).get(found.seq) as EventRow;
        events.push(jobEvent('cancel_requested', row, now));
        return 'cancel_requested';
      }
      const row = conn.stmt(CANCEL).get({ seq: found.seq, now, cancelledMs: params.retention.cancelledMs }) as EventRow | undefined;
      if (row === undefined) return 'already_final';
      events.push(jobEvent('cancelled', row, now));
      // Flows: a cancelled child settles its waiting parent now (before the next id is looked at).
      const change = childChange(row);
      if (change !== null) settleChildren(store, events, now, [change]);
      return 'cancelled';
    });
  });
}
