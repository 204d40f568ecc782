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
} from '@spindle/core';
import { dateArray, numberArray, textArray } from './array-literal.js';
import type { Ctx } from './context.js';
import { pgErrorCode, type Row } from './db.js';
import { jobEvent, TX_PREFIX } from './events.js';
import { rowToClaimedJob } from './rows.js';
import { clockCte, jobEventSql, msSql, notifyCtes, NOTIFIED, perSchema } from './sql.js';

/** Rounds of re-running items whose conflicting row was invisible to the first snapshot. */
const MAX_ROUNDS = 4;
const UNIQUE_VIOLATION = '23505';
/** Batches that skip the fast path after it met a duplicate id. */
const FAST_PATH_PAUSE = 8;

/**
 * CTE `input`: the batch's columns ($1..$15) as rows, with `ord` (input order). `sizeBlind` (the
 * dispatch statements) hides the first array behind a scalar subquery, so that the planner
 * estimates the batch at its default 10 rows whatever its size (the estimate is the largest of
 * the arrays'), in custom plans as in the generic one: their costs then agree and the plan cache
 * settles on the generic plan after its five custom ones instead of planning these larger
 * statements on every call (measured on the ON CONFLICT path: planning ~1.8 ms per call, which
 * made a dispatching insert slower than an insert plus a claim). A batch larger than 10 rows is
 * still estimated at its size by a custom plan; the generic plan serves every size (checked up
 * to 5,000 rows: linear).
 */
function inputCte(sizeBlind: boolean): string {
  return `input AS (
    SELECT * FROM unnest(${sizeBlind ? '(SELECT $1::text[])' : '$1::text[]'}, $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::float8[],
      $8::timestamptz[], $9::text[], $10::int[], $11::text[], $12::bigint[], $13::int[], $14::bigint[], $15::int[])
      WITH ORDINALITY AS t(id, queue, name, payload, priority, max_retries, delay_ms, run_at, unique_key,
        timeout_ms, backoff, completed_keep_ms, completed_keep_count, dead_keep_ms, dead_keep_count, ord)
  )`;
}

const INPUT = inputCte(false);

/** The due time of input row `i` at clock row `c`. */
const DUE = (i: string, c: string) => `coalesce(${i}.run_at, ${c}.now + ${msSql(`coalesce(${i}.delay_ms, 0)`)})`;

/** How a dispatch statement predicts that an input row is not a duplicate (see the header). */
type Prediction = 'exact' | 'snapshot';

/**
 * CTE `req`: the dispatch requests ($19..$22; one per queue, folded in JS) of queues that are not
 * paused, held or limited (a job inserted running would bypass a limit's count: queue-limits.ts). Size-blind like the input of a dispatch statement (see inputCte).
 */
const reqCte = (queues: string) => `req AS (
    SELECT r.* FROM unnest((SELECT $19::text[]), $20::text[], $21::float8[], $22::int[]) AS r(queue, worker_id, lease_ms, lim)
    WHERE NOT coalesce((SELECT q.paused OR q.concurrency_limit IS NOT NULL OR q.rate_max IS NOT NULL OR coalesce(q.held_until > now(), false)
      FROM ${queues} q WHERE q.name = r.queue), false)
  )`;

/**
 * The rows to insert with dispatch: every input column plus `now`, `due`, the request of the
 * row's queue (`worker_id`, `lease_ms`, `lim`; NULL for none), `eligible` (the row may take a
 * slot) and `rn` (its place among the eligible rows of its queue, in input order).
 * - `exact` (the fast path, which fails unless every row is new): eligible = a request names the
 *   queue and the row is due.
 * - `snapshot` (the ON CONFLICT path): also predicted new in the statement's snapshot: no job
 *   has its id; and with a unique key, no live job holds (queue, key) and no earlier row of the
 *   batch with that key has a new id (it takes the key). The earlier-row test is a window over
 *   (queue, key), not a per-row search of the batch (quadratic). The existence probes are scalar
 *   subqueries (primary-key / unique-index probes; see foundSql) behind CASEs, made only for rows
 *   of a requested queue that are due or carry a key (an undue row may still take a key). The
 *   `OFFSET 0` keeps the id probe's subquery from being pulled up, which would repeat the probe
 *   inside the window's argument.
 */
function dispatchSource(jobs: string, prediction: Prediction): string {
  const base = `SELECT i.*, c.now, d.due, r.worker_id, r.lease_ms, r.lim, r.queue IS NOT NULL AS requested
        FROM input i CROSS JOIN clock c CROSS JOIN LATERAL (SELECT ${DUE('i', 'c')} AS due) d
        LEFT JOIN req r ON r.queue = i.queue`;
  const eligible =
    prediction === 'exact'
      ? `SELECT b.*, b.requested AND b.due <= b.now AS eligible FROM (${base}) b`
      : `SELECT k.*, CASE WHEN NOT k.requested OR k.due > k.now OR NOT k.id_new THEN false
            WHEN k.unique_key IS NULL THEN true
            WHEN k.key_taken THEN false
            ELSE (SELECT true FROM ${jobs} o WHERE o.queue = k.queue AND o.unique_key = k.unique_key
                  AND o.state NOT IN ('completed', 'dead', 'cancelled') LIMIT 1) IS NULL END AS eligible
        FROM (
          SELECT n.*, coalesce(bool_or(n.id_new) OVER (PARTITION BY n.queue, n.unique_key ORDER BY n.ord
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false) AS key_taken
          FROM (
            SELECT b.*, CASE WHEN b.requested AND (b.due <= b.now OR b.unique_key IS NOT NULL)
              THEN (SELECT true FROM ${jobs} e WHERE e.id = b.id) IS NULL ELSE false END AS id_new
            FROM (${base}) b
            OFFSET 0
          ) n
        ) k`;
  return `SELECT e.*, row_number() OVER (PARTITION BY e.queue, e.eligible ORDER BY e.ord) AS rn FROM (${eligible}) e`;
}

/**
 * The INSERT of every input row in input order (seq follows it); `conflict` is its ON CONFLICT
 * clause or ''. With `dispatch`, a row that is eligible and among the first `lim` eligible rows
 * of its queue goes in claimed, as claimJobs writes it (see dispatchSource).
 */
function insertInto(jobs: string, conflict: string, dispatch: Prediction | null = null): string {
  if (!dispatch) {
    return `INSERT INTO ${jobs} AS j (id, queue, name, payload, state, priority, max_retries, unique_key, timeout_ms,
      backoff, created_at, run_at, completed_keep_ms, completed_keep_count, dead_keep_ms, dead_keep_count)
    SELECT id, queue, name, payload, CASE WHEN due > now THEN 'scheduled' ELSE 'queued' END, priority,
      max_retries, unique_key, timeout_ms, backoff, now, due, completed_keep_ms, completed_keep_count,
      dead_keep_ms, dead_keep_count
    FROM (SELECT i.*, c.now, ${DUE('i', 'c')} AS due
          FROM input i CROSS JOIN clock c) p
    ORDER BY ord
    ${conflict}`;
  }
  const claimed = 'p.eligible AND p.rn <= p.lim';
  return `INSERT INTO ${jobs} AS j (id, queue, name, payload, state, priority, max_retries, unique_key, timeout_ms,
      backoff, created_at, run_at, completed_keep_ms, completed_keep_count, dead_keep_ms, dead_keep_count,
      attempt, lease_token, lease_expires_at, started_at, worker_id)
    SELECT p.id, p.queue, p.name, p.payload,
      CASE WHEN ${claimed} THEN 'running' WHEN p.due > p.now THEN 'scheduled' ELSE 'queued' END,
      p.priority, p.max_retries, p.unique_key, p.timeout_ms, p.backoff, p.now, p.due, p.completed_keep_ms,
      p.completed_keep_count, p.dead_keep_ms, p.dead_keep_count,
      CASE WHEN ${claimed} THEN 1 ELSE 0 END,
      CASE WHEN ${claimed} THEN replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '') END,
      CASE WHEN ${claimed} THEN p.now + ${msSql('p.lease_ms')} END,
      CASE WHEN ${claimed} THEN p.now END,
      CASE WHEN ${claimed} THEN p.worker_id END
    FROM (${dispatchSource(jobs, dispatch)}) p
    ORDER BY p.ord
    ${conflict}`;
}

/**
 * RETURNING columns of a dispatch statement beyond the plain ones: what the ClaimedJob needs
 * that the batch does not hold (all NULL for a row not dispatched), and `ev`: `added`, then for
 * a dispatched row `started`, as one comma-joined text (two events of the wire format's list).
 */
const DISPATCH_RETURNING = `j.lease_token, j.lease_expires_at,
      CASE WHEN j.lease_token IS NOT NULL THEN j.created_at END AS created_at,
      CASE WHEN j.lease_token IS NOT NULL THEN j.run_at END AS run_at,
      CASE WHEN j.lease_token IS NULL THEN ${jobEventSql({ type: `'added'`, job: 'j' })}
        ELSE ${jobEventSql({ type: `'added'`, job: 'j' })} || ',' || ${jobEventSql({ type: `'started'`, job: 'j' })} END AS ev`;

/**
 * Fast path: every row is new, or the statement fails (unique_violation). One row comes back:
 * how many were inserted and each input row's state as one letter in input order (`q` queued,
 * `s` scheduled: decided by the same due-time expression as the INSERT), instead of a row per
 * job for the driver to parse.
 */
const plainInsertSql = perSchema(({ jobs }) => `WITH ${clockCte('$16')},
  ${INPUT}, ins AS (
    ${insertInto(jobs, '')}
    RETURNING j.seq AS ord, ${jobEventSql({ type: `'added'`, job: 'j' })} AS ev
  ), ${notifyCtes('ins', '$17', '$18', '(SELECT at FROM clock)')}
  SELECT (SELECT count(*)::int FROM ins) AS n,
    (SELECT string_agg(CASE WHEN ${DUE('i', 'c')} > c.now THEN 's' ELSE 'q' END, '' ORDER BY i.ord)
     FROM input i CROSS JOIN clock c) AS states,
    (SELECT at FROM clock)::float8 AS at, ${NOTIFIED} AS notified`);

/** The fast path with dispatch ($19..$22). */
const plainDispatchSql = perSchema(({ jobs, queues }) => `WITH ${clockCte('$16')},
  ${inputCte(true)}, ${reqCte(queues)}, ins AS (
    ${insertInto(jobs, '', 'exact')}
    RETURNING j.id, j.state, j.seq AS ord, ${DISPATCH_RETURNING}
  ), ${notifyCtes('ins', '$17', '$18', '(SELECT at FROM clock)')}
  SELECT id, state, lease_token, lease_expires_at, created_at, run_at, (SELECT at FROM clock)::float8 AS at,
    ${NOTIFIED} AS notified FROM ins`);

/**
 * General path: skips duplicates and names the job each skipped item ran into. Rows in input
 * order. With `dispatch`, also the columns of dispatched rows (see DISPATCH_RETURNING).
 */
function generalSql(jobs: string, queues: string, dispatch: boolean): string {
  const returning = dispatch
    ? `j.id, j.queue, j.unique_key, j.state, j.seq AS ord, ${DISPATCH_RETURNING}`
    : `j.id, j.queue, j.unique_key, j.state, j.seq AS ord, ${jobEventSql({ type: `'added'`, job: 'j' })} AS ev`;
  return `WITH ${clockCte('$16')},
  ${dispatch ? `${inputCte(true)}, ${reqCte(queues)}` : INPUT}, ins AS (
    ${insertInto(jobs, 'ON CONFLICT DO NOTHING', dispatch ? 'snapshot' : null)}
    RETURNING ${returning}
  ), ${notifyCtes('ins', '$17', '$18', '(SELECT at FROM clock)')}
  SELECT ins.id IS NOT NULL AS inserted,
    coalesce(ins.id, ex.id, uk_new.id, uk_old.id) AS id,
    coalesce(ins.state, ex.state, uk_new.state, uk_old.state) AS state,${dispatch ? '\n    ins.lease_token, ins.lease_expires_at, ins.created_at, ins.run_at,' : ''}
    (SELECT at FROM clock)::float8 AS at, ${NOTIFIED} AS notified
  FROM input p
  LEFT JOIN ins ON ins.id = p.id
  LEFT JOIN LATERAL (SELECT e.id, e.state FROM ${jobs} e WHERE ins.id IS NULL AND e.id = p.id) ex ON true
  LEFT JOIN LATERAL (
    SELECT n.id, n.state FROM ins n
    WHERE ins.id IS NULL AND ex.id IS NULL AND n.queue = p.queue AND n.unique_key = p.unique_key LIMIT 1
  ) uk_new ON true
  LEFT JOIN LATERAL (
    SELECT o.id, o.state FROM ${jobs} o
    WHERE ins.id IS NULL AND ex.id IS NULL AND o.queue = p.queue AND o.unique_key = p.unique_key
      AND o.state NOT IN ('completed', 'dead', 'cancelled') LIMIT 1
  ) uk_old ON true
  ORDER BY p.ord`;
}

const insertSql = perSchema(({ jobs, queues }) => generalSql(jobs, queues, false));
const insertDispatchSql = perSchema(({ jobs, queues }) => generalSql(jobs, queues, true));

function insertValues(jobs: JobInsert[], now: Date | undefined, channel: string, prefix: string): unknown[] {
  const texts = (pick: (j: JobInsert) => string | null): string => textArray(jobs.map(pick));
  const numbers = (pick: (j: JobInsert) => number | null): string => numberArray(jobs.map(pick));
  return [
    texts((j) => j.id),
    texts((j) => j.queue),
    texts((j) => j.name),
    texts((j) => j.payload),
    numbers((j) => j.priority),
    numbers((j) => j.maxRetries),
    numbers((j) => j.delayMs),
    dateArray(jobs.map((j) => j.runAt)),
    texts((j) => j.uniqueKey),
    numbers((j) => j.timeoutMs),
    texts((j) => (j.backoff == null ? null : JSON.stringify(j.backoff))),
    numbers((j) => j.retention.completedKeepMs),
    numbers((j) => j.retention.completedKeepCount),
    numbers((j) => j.retention.deadKeepMs),
    numbers((j) => j.retention.deadKeepCount),
    now ?? null,
    channel,
    prefix,
  ];
}

/** Values $19..$22 of a dispatch statement. */
function dispatchValues(requests: DispatchRequest[]): unknown[] {
  return [requests.map((r) => r.queue), requests.map((r) => r.workerId), requests.map((r) => r.leaseMs), requests.map((r) => r.limit)];
}

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
  const events = [];
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
  ctx.events.publishLocal(events);
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

export async function insertJobs(ctx: Ctx, params: InsertJobsParams): Promise<InsertOutcome[]> {
  ctx.db.assertOpen();
  if (params.jobs.length === 0) return [];
  const client = params.transaction === undefined ? undefined : callerClient(params.transaction);

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

  let resolved: Array<InsertOutcome | undefined> | null = null;
  if (!client && distinct.every((job) => job.uniqueKey == null)) {
    const pause = fastPathPause.get(ctx) ?? 0;
    if (pause > 0) fastPathPause.set(ctx, pause - 1);
    else resolved = await insertPlain(ctx, distinct, params.now, dispatch);
  }
  resolved ??= await insertGeneral(ctx, distinct, params.now, client, dispatch);

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
): Promise<InsertOutcome[]> {
  const resolved: Array<InsertOutcome | undefined> = new Array(distinct.length);
  let pending = distinct.map((_, i) => i);
  let requests = dispatch;
  for (let round = 0; round < MAX_ROUNDS && pending.length > 0; round++) {
    const batch = pending.map((i) => distinct[i]!);
    const values = insertValues(batch, now, ctx.names.channel, client ? TX_PREFIX : ctx.events.prefix);
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
    // Events of a caller's transaction are delivered from its NOTIFY, only if it commits.
    if (!client) publishAdded(ctx, batch, rows, (row) => row.inserted === true);
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
