/**
 * insertJobs: one round trip for a whole batch (unnest arrays → INSERT … ON CONFLICT DO
 * NOTHING), then the outcome of every item, in input order, from the same statement.
 *
 * Invariants (docs/design/backend-semantics.md, insertJobs):
 * - `scheduled` when the due time (runAt, or now + delayMs) is later than now, else `queued`;
 *   `run_at` is the due time either way. `created_at = now`.
 * - ON CONFLICT DO NOTHING (no target) covers both the id primary key and the partial unique
 *   index on (queue, unique_key) of live jobs. A skipped item reports the existing job: by id
 *   first, else the live holder of its unique key, either inserted earlier in this batch or
 *   already stored. Nothing about an existing job changes.
 * - Repeated ids within a batch are folded in JS before the statement: a later item with an
 *   id seen earlier gets the earlier item's job (`inserted: false`).
 * - A conflict with a row committed by another transaction after our snapshot is not visible
 *   to the lookup; such items are resolved by re-running the statement for them alone.
 * - With `transaction`, the statement runs on the caller's client inside its transaction with
 *   NOTIFY origin `tx` (every process, this one included, learns of the jobs on commit).
 */
import type pg from 'pg';
import { BackendError, ValidationError, type InsertJobsParams, type InsertOutcome, type JobInsert, type JobState } from '@spindle/core';
import { changeJobs, type Ctx } from './context.js';
import { TX_ORIGIN } from './events.js';
import { jobEventSql, msSql, notifyCtes, nowSql, NOTIFIED, perSchema } from './sql.js';

/** Rounds of re-running items whose conflicting row was invisible to the first snapshot. */
const MAX_ROUNDS = 4;

const insertSql = perSchema(({ jobs }) => `WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::float8[],
      $8::timestamptz[], $9::text[], $10::int[], $11::text[], $12::bigint[], $13::int[], $14::bigint[], $15::int[])
      WITH ORDINALITY AS t(id, queue, name, payload, priority, max_retries, delay_ms, run_at, unique_key,
        timeout_ms, backoff, completed_keep_ms, completed_keep_count, dead_keep_ms, dead_keep_count, ord)
  ), prepared AS (
    SELECT i.*, c.now, coalesce(i.run_at, c.now + ${msSql('coalesce(i.delay_ms, 0)')}) AS due
    FROM input i CROSS JOIN (SELECT ${nowSql('$16')} AS now) c
  ), ins AS (
    INSERT INTO ${jobs} AS j (id, queue, name, payload, state, priority, max_retries, unique_key, timeout_ms,
      backoff, created_at, run_at, completed_keep_ms, completed_keep_count, dead_keep_ms, dead_keep_count)
    SELECT id, queue, name, payload, CASE WHEN due > now THEN 'scheduled' ELSE 'queued' END, priority,
      max_retries, unique_key, timeout_ms, backoff, now, due, completed_keep_ms, completed_keep_count,
      dead_keep_ms, dead_keep_count
    FROM prepared ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING j.id, j.queue, j.unique_key, j.state, j.seq AS ord,
      ${jobEventSql({ type: `'added'`, job: 'j', at: 'j.created_at' })} AS ev
  ), ${notifyCtes('ins', '$17', '$18')}
  SELECT p.ord, ins.id IS NOT NULL AS inserted,
    coalesce(ins.id, ex.id, uk_new.id, uk_old.id) AS id,
    coalesce(ins.state, ex.state, uk_new.state, uk_old.state) AS state,
    ins.ev, ${NOTIFIED} AS notified
  FROM input p
  LEFT JOIN ins ON ins.id = p.id
  LEFT JOIN ${jobs} ex ON ins.id IS NULL AND ex.id = p.id
  LEFT JOIN LATERAL (
    SELECT n.id, n.state FROM ins n
    WHERE ins.id IS NULL AND n.queue = p.queue AND n.unique_key = p.unique_key LIMIT 1
  ) uk_new ON true
  LEFT JOIN LATERAL (
    SELECT o.id, o.state FROM ${jobs} o
    WHERE ins.id IS NULL AND o.queue = p.queue AND o.unique_key = p.unique_key
      AND o.state NOT IN ('completed', 'dead', 'cancelled') LIMIT 1
  ) uk_old ON true
  ORDER BY p.ord`);

function insertValues(jobs: JobInsert[], now: Date | undefined, channel: string, origin: string): unknown[] {
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
    origin,
  ];
}

function callerClient(transaction: unknown): pg.ClientBase {
  if (transaction === null || typeof (transaction as { query?: unknown }).query !== 'function') {
    throw new ValidationError([{ path: 'transaction', message: 'must be a pg client (ClientBase) inside an open transaction' }]);
  }
  return transaction as pg.ClientBase;
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

  const resolved: Array<InsertOutcome | undefined> = new Array(distinct.length);
  let pending = distinct.map((_, i) => i);
  for (let round = 0; round < MAX_ROUNDS && pending.length > 0; round++) {
    const batch = pending.map((i) => distinct[i]!);
    const rows = await changeJobs(
      ctx,
      'insertJobs',
      {
        // The caller's client gets an unnamed statement: we leave nothing prepared on it.
        name: client ? undefined : ctx.names.statement('insert'),
        text: insertSql(ctx.names),
        values: insertValues(batch, params.now, ctx.names.channel, client ? TX_ORIGIN : ctx.events.origin),
      },
      { client },
    );
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

  return params.jobs.map((_, i) => {
    const outcome = resolved[slotOf[i]!]!;
    // A repeated id within the batch: the job of its first occurrence, not inserted again.
    return firstOccurrence.has(i) ? outcome : { ...outcome, inserted: false };
  });
}
