/**
 * insertJobs: one round trip for a whole batch (unnest arrays → INSERT), then the outcome of
 * every item, in input order, from the same statement.
 *
 * Invariants (docs/design/backend-semantics.md, insertJobs):
 * - `scheduled` when the due time (runAt, or now + delayMs) is later than now, else `queued`;
 *   `run_at` is the due time either way. `created_at = now`.
 * - Repeated ids within a batch are folded in JS before the statement: a later item with an
 *   id seen earlier gets the earlier item's job (`inserted: false`).
 * - Fast path: a batch without unique keys, outside a caller's transaction, is first tried as a
 *   plain INSERT (no ON CONFLICT: no speculative insertion, no per-item lookup of an existing
 *   job). A duplicate id (caller-chosen) makes it fail with unique_violation: it then inserted
 *   nothing and published nothing, and the batch goes the general way below. After such a
 *   failure the next FAST_PATH_PAUSE batches go the general way at once, so a caller that keeps
 *   re-adding known ids does not pay twice for every batch.
 * - General path: ON CONFLICT DO NOTHING (no target) covers both the id primary key and the
 *   partial unique index on (queue, unique_key) of live jobs. A skipped item reports the
 *   existing job: by id first, else the live holder of its unique key, either inserted earlier
 *   in this batch or already stored. Nothing about an existing job changes.
 * - A conflict with a row committed by another transaction after our snapshot is not visible
 *   to the lookup; such items are resolved by re-running the statement for them alone.
 * - With `transaction`, the statement runs on the caller's client inside its transaction
 *   (always the general path: a failed statement would abort the caller's transaction) with
 *   NOTIFY origin `tx` (every process, this one included, learns of the jobs on commit).
 * - A batch in which some job has a unique mode (`uniqueMode`, ADR 0016) is settled by
 *   unique-insert.ts in one transaction (its own or the caller's), which inserts its new jobs
 *   through the `transaction` path here; such a batch takes no direct dispatch.
 *
 * Direct dispatch (`dispatch`, never with `transaction`): still one statement, and the same
 * INSERT. Its SELECT decides per row whether the row goes in already claimed: the row is due
 * now, a request names its queue (the first request per queue wins, folded in JS), that queue is
 * not paused, and the row is among the first `limit` such rows of its queue in input order. Such
 * a row is written as claimJobs writes it (running, attempt 1, a lease token made the claim's
 * way, lease_expires_at = now + leaseMs, started_at = now, worker_id; cancel_requested keeps
 * its default, false); every other row as without dispatch. The claimed job is built in JS from
 * the batch and the returned token and timestamps (rowToClaimedJob, as a claim maps its rows),
 * so the payload does not travel back. Events per dispatched job: `added` (running, attempt 1)
 * then `started`, carried as one `ev` of two events so that NOTIFY and local delivery keep that
 * order. Batches with a request but no job that can be due now in a requested queue take the
 * statements without dispatch, which are unchanged.
 * - Dispatch on the fast path is exact: the statement either inserts every row or fails.
 * - Dispatch on the general path: the SELECT is evaluated before ON CONFLICT decides, so a row
 *   that turns out a duplicate must not hold a dispatch slot. Slots are therefore counted only
 *   over rows predicted new in the statement's snapshot: no job with its id, and (with a unique
 *   key) no live holder of (queue, unique_key) and no earlier row of the batch with that key
 *   and a new id (the earlier one takes the key). The prediction is exact unless a concurrent
 *   transaction inserts or removes a conflicting job after our snapshot; then a predicted-new
 *   row may be skipped (its slot goes unused) or a predicted duplicate inserted (queued, not
 *   dispatched). Either way fewer jobs are dispatched, never a duplicate nor more than `limit`;
 *   the rest stay queued for a normal claim. Items re-run in a later round get what is left of
 *   each request's limit. (The alternative, an UPDATE of the just-inserted rows in a
 *   transaction of our own, is exact but costs three more round trips on this path.)
 */
import type pg from 'pg';
import {
  BackendError,
  ValidationError,
  type DispatchRequest,
  type InsertJobsParams,
  type InsertOutcome,
  type JobInsert,
  type JobState,
  type JobEvent,
  type SpindleEvent,
} from '@spindle/core';
import type { Ctx } from './context.js';
import { pgErrorCode, type Row } from './db.js';
import { jobEvent, TX_PREFIX } from './events.js';
import { rowToClaimedJob } from './rows.js';
import { dispatchValues, insertDispatchSql, insertSql, insertValues, plainDispatchSql, plainInsertSql } from './insert-sql.js';
import { markGroupedQueues } from './groups.js';
import { insertWithUniqueModes } from './unique-insert.js';

/** Rounds of re-running items whose conflicting row was invisible to the first snapshot. */
const MAX_ROUNDS = 4;
const UNIQUE_VIOLATION = '23505';
/** Batches that skip the fast path after it met a duplicate id. */
const FAST_PATH_PAUSE = 8;

/**
 * The requests that can take something from `jobs`: the first per queue, with a positive limit,
 * for a queue of which some job may be due now (not delayed; a runAt not later than `now`, when
 * given: without it the database clock decides). Null when none: the batch is a plain insert.
 */
function dispatchRequests(params: InsertJobsParams, jobs: JobInsert[]): DispatchRequest[] | null {
  if (!params.dispatch || params.dispatch.length === 0 || params.transaction !== undefined) return null;
  const now = params.now?.getTime();
  const candidates = new Set<string>();
  for (const job of jobs) {
    if (job.delayMs != null && job.delayMs > 0) continue;
    if (job.runAt != null && now !== undefined && job.runAt.getTime() > now) continue;
    candidates.add(job.queue);
  }
  const byQueue = new Map<string, DispatchRequest>();
  for (const request of params.dispatch) {
    if (byQueue.has(request.queue)) continue;
    byQueue.set(request.queue, request);
  }
  const requests = [...byQueue.values()].filter((r) => r.limit >= 1 && candidates.has(r.queue));
  return requests.length > 0 ? requests : null;
}

function callerClient(transaction: unknown): pg.ClientBase {
  if (transaction === null || typeof (transaction as { query?: unknown }).query !== 'function') {
    throw new ValidationError([{ path: 'transaction', message: 'must be a pg client (ClientBase) inside an open transaction' }]);
  }
  return transaction as pg.ClientBase;
}

/** Per backend: how many more batches skip the fast path (after it met a duplicate id). */
const fastPathPause = new WeakMap<Ctx, number>();

/**
 * The `added` events of the inserted jobs (the job from the batch, the state from its row), and
 * right after each dispatched job's `added` its `started` (the order of the NOTIFY).
 */
function publishAdded(ctx: Ctx, jobs: JobInsert[], rows: Row[], inserted: (row: Row) => boolean): void {
  if (!ctx.events.hasListeners) return;
  ctx.events.publishLocal(addedEvents(jobs, rows, inserted));
}

/** The `added` (and for a dispatched row `started`) events of inserted rows, built from their columns. */
function addedEvents(jobs: JobInsert[], rows: Row[], inserted: (row: Row) => boolean): JobEvent[] {
  const events: JobEvent[] = [];
  for (let k = 0; k < rows.length; k++) {
    const row = rows[k]!;
    if (!inserted(row)) continue;
    const job = jobs[k]!;
    const at = Number(row.at);
    if (row.lease_token == null) {
      events.push(jobEvent('added', job.id, job.queue, job.name, row.state as JobState, 0, at));
    } else {
      events.push(jobEvent('added', job.id, job.queue, job.name, 'running', 1, at));
      events.push(jobEvent('started', job.id, job.queue, job.name, 'running', 1, at));
    }
  }
  return events;
}

/** The outcome of an inserted row; with `claimed` when it was dispatched (a row with a token). */
function insertedOutcome(job: JobInsert, row: Row): InsertOutcome {
  if (row.lease_token == null) return { id: job.id, inserted: true, state: row.state as JobState };
  // The ClaimedJob a claim would map from this row: the batch holds what the row was written from.
  const claimed = rowToClaimedJob({
    id: job.id,
    attempt: 1,
    lease_token: row.lease_token,
    queue: job.queue,
    name: job.name,
    payload: job.payload,
    priority: job.priority,
    max_retries: job.maxRetries,
    lease_expires_at: row.lease_expires_at,
    timeout_ms: job.timeoutMs,
    backoff: job.backoff == null ? null : JSON.stringify(job.backoff),
    round: 0,
    progress: null,
    created_at: row.created_at,
    run_at: row.run_at,
  });
  return { id: job.id, inserted: true, state: 'running', claimed };
}

/**
 * The fast path for `jobs` (distinct ids, no unique keys): their outcomes, or null when an id
 * already exists (nothing was inserted; the caller takes the general path).
 */
async function insertPlain(
  ctx: Ctx,
  jobs: JobInsert[],
  now: Date | undefined,
  dispatch: DispatchRequest[] | null,
): Promise<InsertOutcome[] | null> {
  let rows: Row[];
  try {
    const values = insertValues(jobs, now, ctx.names.channel, ctx.events.prefix);
    rows = await ctx.db.query(
      'insertJobs',
      dispatch
        ? { name: ctx.names.statement('insert_plain_dispatch'), text: plainDispatchSql(ctx.names), values: [...values, ...dispatchValues(dispatch)] }
        : { name: ctx.names.statement('insert_plain'), text: plainInsertSql(ctx.names), values },
    );
  } catch (err) {
    if (pgErrorCode(err) !== UNIQUE_VIOLATION) throw err;
    fastPathPause.set(ctx, FAST_PATH_PAUSE);
    return null;
  }
  if (!dispatch) {
    const { n, states, at } = rows[0]!;
    if (n !== jobs.length || typeof states !== 'string' || states.length !== jobs.length) {
      throw new BackendError(`postgres: insertJobs inserted ${String(n)} of ${jobs.length} jobs`);
    }
    const outcomes = jobs.map((job, k): InsertOutcome => ({ id: job.id, inserted: true, state: states[k] === 's' ? 'scheduled' : 'queued' }));
    if (ctx.events.hasListeners) {
      const time = Number(at);
      ctx.events.publishLocal(outcomes.map((o, k) => jobEvent('added', o.id, jobs[k]!.queue, jobs[k]!.name, o.state, 0, time)));
    }
    return outcomes;
  }
  if (rows.length !== jobs.length) throw new BackendError(`postgres: insertJobs inserted ${rows.length} of ${jobs.length} jobs`);
  // RETURNING yields the rows in insertion order, which is input order (ORDER BY ord); checked,
  // and mapped by id should that ever not hold.
  if (!rows.every((row, k) => row.id === jobs[k]!.id)) {
    const byId = new Map(rows.map((row) => [row.id as string, row]));
    rows = jobs.map((job) => byId.get(job.id)!);
  }
  publishAdded(ctx, jobs, rows, () => true);
  return rows.map((row, k) => insertedOutcome(jobs[k]!, row));
}

/**
 * `local` (internal: unique-insert.ts, in a transaction of ours passed as `transaction`): the
 * events carry this process's origin and are collected there for delivery after the commit.
 */
export async function insertJobs(ctx: Ctx, params: InsertJobsParams, local: SpindleEvent[] | null = null): Promise<InsertOutcome[]> {
  ctx.db.assertOpen();
  if (params.jobs.length === 0) return [];
  const client = params.transaction === undefined ? undefined : callerClient(params.transaction);
  // Unique modes (ADR 0016): such a batch is settled by unique-insert.ts in one transaction, which
  // inserts its new jobs through this function on that transaction (without their modes).
  if (params.jobs.some((job) => job.uniqueMode)) {
    const now = params.now;
    return insertWithUniqueModes(ctx, params.jobs, now, client, (jobs, tx, local) => insertJobs(ctx, { jobs, transaction: tx, ...(now ? { now } : {}) }, local));
  }

  // Fold repeated ids: each distinct id goes to the database once, in first-seen order.
  const firstIndex = new Map<string, number>();
  const distinct: JobInsert[] = [];
  const firstOccurrence = new Set<number>();
  const slotOf = params.jobs.map((job, i) => {
    let slot = firstIndex.get(job.id);
    if (slot === undefined) {
      slot = distinct.length;
      firstIndex.set(job.id, slot);
      distinct.push(job);
      firstOccurrence.add(i);
    }
    return slot;
  });
  const dispatch = dispatchRequests(params, distinct);
  await markGroupedQueues(ctx, distinct);

  let resolved: Array<InsertOutcome | undefined> | null = null;
  if (!client && distinct.every((job) => job.uniqueKey == null)) {
    const pause = fastPathPause.get(ctx) ?? 0;
    if (pause > 0) fastPathPause.set(ctx, pause - 1);
    else resolved = await insertPlain(ctx, distinct, params.now, dispatch);
  }
  resolved ??= await insertGeneral(ctx, distinct, params.now, client, dispatch, local);

  return params.jobs.map((_, i) => {
    const outcome = resolved[slotOf[i]!]!;
    if (firstOccurrence.has(i)) return outcome;
    // A repeated id within the batch: the job of its first occurrence, not inserted (nor claimed) again.
    return { id: outcome.id, inserted: false, state: outcome.state };
  });
}

/** The general path (ON CONFLICT DO NOTHING), re-running items that met a just-committed row. */
async function insertGeneral(
  ctx: Ctx,
  distinct: JobInsert[],
  now: Date | undefined,
  client: pg.ClientBase | undefined,
  dispatch: DispatchRequest[] | null,
  local: SpindleEvent[] | null = null,
): Promise<InsertOutcome[]> {
  const resolved: Array<InsertOutcome | undefined> = new Array(distinct.length);
  let pending = distinct.map((_, i) => i);
  let requests = dispatch;
  for (let round = 0; round < MAX_ROUNDS && pending.length > 0; round++) {
    const batch = pending.map((i) => distinct[i]!);
    const values = insertValues(batch, now, ctx.names.channel, client && !local ? TX_PREFIX : ctx.events.prefix);
    const rows = await ctx.db.query(
      'insertJobs',
      requests
        ? { name: ctx.names.statement('insert_dispatch'), text: insertDispatchSql(ctx.names), values: [...values, ...dispatchValues(requests)] }
        : {
            // The caller's client gets an unnamed statement: we leave nothing prepared on it.
            name: client ? undefined : ctx.names.statement('insert'),
            text: insertSql(ctx.names),
            values,
          },
      { client },
    );
    // Events of a caller's transaction are delivered from its NOTIFY, only if it commits; those
    // of our own transaction (local) after its commit.
    if (!client) publishAdded(ctx, batch, rows, (row) => row.inserted === true);
    else if (local) local.push(...addedEvents(batch, rows, (row) => row.inserted === true));
    const unresolved: number[] = [];
    const taken = new Map<string, number>();
    rows.forEach((row, k) => {
      const index = pending[k]!;
      if (row.id == null) unresolved.push(index);
      else if (row.inserted !== true) resolved[index] = { id: row.id as string, inserted: false, state: row.state as JobState };
      else {
        const outcome = insertedOutcome(batch[k]!, row);
        if (outcome.claimed) taken.set(outcome.claimed.queue, (taken.get(outcome.claimed.queue) ?? 0) + 1);
        resolved[index] = outcome;
      }
    });
    pending = unresolved;
    // A later round dispatches what is left of each request's limit.
    if (requests && taken.size > 0) {
      requests = requests.map((r) => ({ ...r, limit: r.limit - (taken.get(r.queue) ?? 0) })).filter((r) => r.limit >= 1);
      if (requests.length === 0) requests = null;
    }
  }
  if (pending.length > 0) {
    throw new BackendError(`postgres: insertJobs could not settle ${pending.length} conflicting job(s); retry the call`);
  }
  return resolved as InsertOutcome[];
}
