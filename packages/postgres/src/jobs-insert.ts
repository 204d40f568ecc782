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
 */
import type pg from 'pg';
import {
  BackendError,
  ValidationError,
  type InsertJobsParams,
  type InsertOutcome,
  type JobInsert,
  type JobState,
} from '@spindle/core';
import type { Ctx } from './context.js';
import { pgErrorCode, type Row } from './db.js';
import { jobEvent, TX_PREFIX } from './events.js';
import { clockCte, jobEventSql, msSql, notifyCtes, NOTIFIED, perSchema } from './sql.js';

/** Rounds of re-running items whose conflicting row was invisible to the first snapshot. */
const MAX_ROUNDS = 4;
const UNIQUE_VIOLATION = '23505';
/** Batches that skip the fast path after it met a duplicate id. */
const FAST_PATH_PAUSE = 8;

const INPUT = `input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::float8[],
      $8::timestamptz[], $9::text[], $10::int[], $11::text[], $12::bigint[], $13::int[], $14::bigint[], $15::int[])
      WITH ORDINALITY AS t(id, queue, name, payload, priority, max_retries, delay_ms, run_at, unique_key,
        timeout_ms, backoff, completed_keep_ms, completed_keep_count, dead_keep_ms, dead_keep_count, ord)
  )`;

/** The INSERT of every input row in input order (seq follows it); `conflict` is its ON CONFLICT clause or ''. */
function insertInto(jobs: string, conflict: string): string {
  return `INSERT INTO ${jobs} AS j (id, queue, name, payload, state, priority, max_retries, unique_key, timeout_ms,
      backoff, created_at, run_at, completed_keep_ms, completed_keep_count, dead_keep_ms, dead_keep_count)
    SELECT id, queue, name, payload, CASE WHEN due > now THEN 'scheduled' ELSE 'queued' END, priority,
      max_retries, unique_key, timeout_ms, backoff, now, due, completed_keep_ms, completed_keep_count,
      dead_keep_ms, dead_keep_count
    FROM (SELECT i.*, c.now, coalesce(i.run_at, c.now + ${msSql('coalesce(i.delay_ms, 0)')}) AS due
          FROM input i CROSS JOIN clock c) p
    ORDER BY ord
    ${conflict}`;
}

/** Fast path: every row is new, or the statement fails (unique_violation). Rows in input order. */
const plainInsertSql = perSchema(({ jobs }) => `WITH ${clockCte('$16')},
  ${INPUT}, ins AS (
    ${insertInto(jobs, '')}
    RETURNING j.id, j.state, j.seq AS ord, ${jobEventSql({ type: `'added'`, job: 'j' })} AS ev
  ), ${notifyCtes('ins', '$17', '$18', '(SELECT at FROM clock)')}
  SELECT id, state, (SELECT at FROM clock) AS at, ${NOTIFIED} AS notified FROM ins`);

/** General path: skips duplicates and names the job each skipped item ran into. Rows in input order. */
const insertSql = perSchema(({ jobs }) => `WITH ${clockCte('$16')},
  ${INPUT}, ins AS (
    ${insertInto(jobs, 'ON CONFLICT DO NOTHING')}
    RETURNING j.id, j.queue, j.unique_key, j.state, j.seq AS ord, ${jobEventSql({ type: `'added'`, job: 'j' })} AS ev
  ), ${notifyCtes('ins', '$17', '$18', '(SELECT at FROM clock)')}
  SELECT ins.id IS NOT NULL AS inserted,
    coalesce(ins.id, ex.id, uk_new.id, uk_old.id) AS id,
    coalesce(ins.state, ex.state, uk_new.state, uk_old.state) AS state,
    (SELECT at FROM clock) AS at, ${NOTIFIED} AS notified
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
  ORDER BY p.ord`);

function insertValues(jobs: JobInsert[], now: Date | undefined, channel: string, prefix: string): unknown[] {
  const col = <T>(pick: (j: JobInsert) => T): T[] => jobs.map(pick);
  return [
    col((j) => j.id),
    col((j) => j.queue),
    col((j) => j.name),
    col((j) => j.payload),
    col((j) => j.priority),
    col((j) => j.maxRetries),
    col((j) => j.delayMs),
    col((j) => j.runAt),
    col((j) => j.uniqueKey),
    col((j) => j.timeoutMs),
    col((j) => (j.backoff == null ? null : JSON.stringify(j.backoff))),
    col((j) => j.retention.completedKeepMs),
    col((j) => j.retention.completedKeepCount),
    col((j) => j.retention.deadKeepMs),
    col((j) => j.retention.deadKeepCount),
    now ?? null,
    channel,
    prefix,
  ];
}

function callerClient(transaction: unknown): pg.ClientBase {
  if (transaction === null || typeof (transaction as { query?: unknown }).query !== 'function') {
    throw new ValidationError([{ path: 'transaction', message: 'must be a pg client (ClientBase) inside an open transaction' }]);
  }
  return transaction as pg.ClientBase;
}

/** Per backend: how many more batches skip the fast path (after it met a duplicate id). */
const fastPathPause = new WeakMap<Ctx, number>();

/** The `added` events of the inserted jobs: the job from the batch, the state from its row. */
function publishAdded(ctx: Ctx, jobs: JobInsert[], rows: Row[], inserted: (row: Row) => boolean): void {
  if (!ctx.events.hasListeners) return;
  const events = [];
  for (let k = 0; k < rows.length; k++) {
    const row = rows[k]!;
    if (!inserted(row)) continue;
    const job = jobs[k]!;
    events.push(jobEvent('added', job.id, job.queue, job.name, row.state as JobState, 0, Number(row.at)));
  }
  ctx.events.publishLocal(events);
}

/**
 * The fast path for `jobs` (distinct ids, no unique keys): their outcomes, or null when an id
 * already exists (nothing was inserted; the caller takes the general path).
 */
async function insertPlain(ctx: Ctx, jobs: JobInsert[], now: Date | undefined): Promise<InsertOutcome[] | null> {
  let rows: Row[];
  try {
    rows = await ctx.db.query('insertJobs', {
      name: ctx.names.statement('insert_plain'),
      text: plainInsertSql(ctx.names),
      values: insertValues(jobs, now, ctx.names.channel, ctx.events.prefix),
    });
  } catch (err) {
    if (pgErrorCode(err) !== UNIQUE_VIOLATION) throw err;
    fastPathPause.set(ctx, FAST_PATH_PAUSE);
    return null;
  }
  if (rows.length !== jobs.length) throw new BackendError(`postgres: insertJobs inserted ${rows.length} of ${jobs.length} jobs`);
  // RETURNING yields the rows in insertion order, which is input order (ORDER BY ord); checked,
  // and mapped by id should that ever not hold.
  if (!rows.every((row, k) => row.id === jobs[k]!.id)) {
    const byId = new Map(rows.map((row) => [row.id as string, row]));
    rows = jobs.map((job) => byId.get(job.id)!);
  }
  publishAdded(ctx, jobs, rows, () => true);
  return rows.map((row) => ({ id: row.id as string, inserted: true, state: row.state as JobState }));
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

  let resolved: Array<InsertOutcome | undefined> | null = null;
  if (!client && distinct.every((job) => job.uniqueKey == null)) {
    const pause = fastPathPause.get(ctx) ?? 0;
    if (pause > 0) fastPathPause.set(ctx, pause - 1);
    else resolved = await insertPlain(ctx, distinct, params.now);
  }
  resolved ??= await insertGeneral(ctx, distinct, params.now, client);

  return params.jobs.map((_, i) => {
    const outcome = resolved[slotOf[i]!]!;
    // A repeated id within the batch: the job of its first occurrence, not inserted again.
    return firstOccurrence.has(i) ? outcome : { ...outcome, inserted: false };
  });
}

/** The general path (ON CONFLICT DO NOTHING), re-running items that met a just-committed row. */
async function insertGeneral(ctx: Ctx, distinct: JobInsert[], now: Date | undefined, client: pg.ClientBase | undefined): Promise<InsertOutcome[]> {
  const resolved: Array<InsertOutcome | undefined> = new Array(distinct.length);
  let pending = distinct.map((_, i) => i);
  for (let round = 0; round < MAX_ROUNDS && pending.length > 0; round++) {
    const batch = pending.map((i) => distinct[i]!);
    const rows = await ctx.db.query(
      'insertJobs',
      {
        // The caller's client gets an unnamed statement: we leave nothing prepared on it.
        name: client ? undefined : ctx.names.statement('insert'),
        text: insertSql(ctx.names),
        values: insertValues(batch, now, ctx.names.channel, client ? TX_PREFIX : ctx.events.prefix),
      },
      { client },
    );
    // Events of a caller's transaction are delivered from its NOTIFY, only if it commits.
    if (!client) publishAdded(ctx, batch, rows, (row) => row.inserted === true);
    const unresolved: number[] = [];
    rows.forEach((row, k) => {
      const index = pending[k]!;
      if (row.id == null) unresolved.push(index);
      else resolved[index] = { id: row.id as string, inserted: row.inserted === true, state: row.state as JobState };
    });
    pending = unresolved;
  }
  if (pending.length > 0) {
    throw new BackendError(`postgres: insertJobs could not settle ${pending.length} conflicting job(s); retry the call`);
  }
  return resolved as InsertOutcome[];
}
