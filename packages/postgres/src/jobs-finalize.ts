/**
 * The end of an attempt (finalizeJobs) and cancellation requests (cancelJobs), each one
 * statement for the whole batch.
 *
 * Invariants (docs/design/backend-semantics.md, finalizeJobs / cancelJobs):
 * - finalize is fenced on (id, attempt, lease_token, state = 'running') and clears the lease;
 *   each item's kind drives CASE expressions, so a mixed batch (and the all-`complete` hot
 *   path) is a single UPDATE … FROM unnest(…). Both the UPDATE and the DELETE below find their
 *   rows by `id = ANY($ids)` (primary-key probes, whatever the planner estimates; a fresh table
 *   without statistics was otherwise scanned whole and hash-joined).
 * - Removal on completion: a `complete` of a row with `completed_keep_ms = 0` is deleted by a
 *   DELETE next to the UPDATE in the same statement, fenced the same way; their rows are
 *   disjoint (the UPDATE skips exactly those rows). Outcome `ok`, event `completed` as usual.
 *   The DELETE probes only the `complete` items the UPDATE did not take, so a batch without
 *   such jobs pays nothing for it.
 * - If one lease appears twice in a batch, the first item wins and only it reaches the
 *   statement (folded in JS); a repeat answers as if it ran after the first: `lease_lost` when
 *   the first was `ok` (`not_found` when that removed the job), else the first's outcome — one
 *   terminal transition per attempt.
 * - Whether a failed item's job exists (`lease_lost` vs `not_found`) is looked up for failed
 *   items only: the all-ok hot path pays no extra probe per job.
 * - Errors are appended to the jsonb history keeping the newest MAX_ERRORS_KEPT.
 * - A retry, snooze or release of a job whose cancel was requested ends it `cancelled`.
 * - Local events are built from the returned columns (the item gives id and data, the row
 *   queue, name, state and attempt), equal to what the NOTIFY carries.
 * - cancel moves cancellable jobs to `cancelled` and flags running ones; a job whose state
 *   changed between our snapshot and the write is re-examined in a fresh statement.
 */
import {
  BackendError,
  CANCELLABLE_STATES,
  MAX_ERRORS_KEPT,
  type CancelJobsParams,
  type CancelOutcome,
  type FinalizeItem,
  type FinalizeParams,
  type JobEvent,
  type JobEventType,
  type JobState,
  type LeaseOutcome,
} from '@spindle/core';
import { changeJobs, type Ctx } from './context.js';
import { numberArray, textArray } from './array-literal.js';
import type { Row } from './db.js';
import { eventDataOf, jobEvent } from './events.js';
import { storedErrorJson, storedReason } from './rows.js';
import {
  appendErrorSql,
  clockCte,
  expiresSql,
  foundSql,
  jobEventSql,
  msSql,
  notifyCtes,
  NOTIFIED,
  perSchema,
  recheckStateSql,
} from './sql.js';

/**
 * The fence of a finalize item (alias `i`) against row `j`, the same for the UPDATE and the
 * DELETE; `ids` is the text[] expression of the ids whose rows the write probes.
 */
function fence(ids: string): string {
  return `j.id = ANY(${ids}) AND j.id = i.id AND j.attempt = i.attempt AND j.lease_token = i.token
      AND ${recheckStateSql('j.state', ['running'])}`;
}
/**
 * The rows a `complete` removes instead of updating (removeOnComplete); never NULL. Written as
 * one condition on both sides of the join so that no part of it filters `input` alone: with a
 * filtered `input` estimated at one row, the planner probed jobs_pkey with `id = i.id AND
 * id = ANY($2)` once per item, i.e. the whole id array per item (500 items: 48 ms).
 */
const REMOVED = `(CASE WHEN i.kind = 'complete' THEN j.completed_keep_ms IS NOT DISTINCT FROM 0 ELSE false END)`;

const finalizeSql = perSchema(({ jobs }) => {
  // A cancel requested while the attempt ran wins over giving the job another run: retry,
  // snooze and release of a cancel-requested job end it as `cancel` would.
  const kind = `(CASE WHEN j.cancel_requested AND i.kind IN ('retry', 'snooze', 'release') THEN 'cancel' ELSE i.kind END)`;
  const stateCase = `CASE ${kind} WHEN 'complete' THEN 'completed'
      WHEN 'retry' THEN CASE WHEN i.delay_ms > 0 THEN 'retrying' ELSE 'queued' END
      WHEN 'dead' THEN 'dead' WHEN 'snooze' THEN 'scheduled' WHEN 'cancel' THEN 'cancelled'
      WHEN 'release' THEN 'queued' END`;
  const typeCase = `CASE ${kind} WHEN 'complete' THEN 'completed' WHEN 'retry' THEN 'retrying' WHEN 'dead' THEN 'dead'
      WHEN 'snooze' THEN 'snoozed' WHEN 'cancel' THEN 'cancelled' WHEN 'release' THEN 'released' END`;
  const failed = `${kind} IN ('retry', 'dead')`;
  return `WITH ${clockCte('$1')},
  input AS (
    SELECT * FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::float8[],
      $9::text[], $10::json[])
      WITH ORDINALITY AS t(id, attempt, token, kind, result, error, delay_ms, reason, data, ord)
  ), updated AS (
    UPDATE ${jobs} j SET
      state = ${stateCase},
      attempt = CASE WHEN ${kind} IN ('snooze', 'release') THEN j.attempt - 1 ELSE j.attempt END,
      lease_token = NULL,
      lease_expires_at = NULL,
      result = CASE WHEN ${kind} = 'complete' THEN i.result ELSE j.result END,
      run_at = CASE ${kind} WHEN 'retry' THEN c.now + ${msSql('greatest(i.delay_ms, 0)')}
        WHEN 'snooze' THEN c.now + ${msSql('i.delay_ms')} ELSE j.run_at END,
      errors = CASE WHEN i.error IS NULL THEN j.errors ELSE ${appendErrorSql('j.errors', 'i.error', '$14')} END,
      first_failed_at = CASE WHEN ${failed} THEN coalesce(j.first_failed_at, c.now) ELSE j.first_failed_at END,
      last_failed_at = CASE WHEN ${failed} THEN c.now ELSE j.last_failed_at END,
      failure_reason = CASE WHEN ${kind} = 'dead' THEN i.reason ELSE j.failure_reason END,
      finished_at = CASE WHEN ${kind} IN ('complete', 'dead', 'cancel') THEN c.now ELSE j.finished_at END,
      expires_at = CASE ${kind}
        WHEN 'complete' THEN ${expiresSql('c.now', 'coalesce(j.completed_keep_ms, $11::bigint)')}
        WHEN 'dead' THEN ${expiresSql('c.now', 'coalesce(j.dead_keep_ms, $13::bigint)')}
        WHEN 'cancel' THEN ${expiresSql('c.now', '$12::bigint')}
        ELSE j.expires_at END
    FROM input i, clock c
    WHERE ${fence('ARRAY(SELECT x.id FROM input x)')} AND NOT ${REMOVED}
    RETURNING i.ord, j.queue, j.name, j.state, j.attempt, false AS gone,
      ${jobEventSql({ type: typeCase, job: 'j', data: 'i.data' })} AS ev
  ), removed AS (
    DELETE FROM ${jobs} j USING input i
    WHERE ${fence(`ARRAY(SELECT x.id FROM input x WHERE x.kind = 'complete' AND x.ord NOT IN (SELECT ord FROM updated))`)}
      AND ${REMOVED}
    RETURNING i.ord, j.queue, j.name, 'completed'::text AS state, j.attempt, true AS gone,
      ${jobEventSql({ type: `'completed'`, job: 'j', state: `'completed'`, data: 'i.data' })} AS ev
  ), changed AS (
    SELECT * FROM updated UNION ALL SELECT * FROM removed
  ), ${notifyCtes('changed', '$15', '$16', '(SELECT at FROM clock)')}
  SELECT i.ord::int AS ord, ch.queue, ch.name, ch.state, ch.attempt, ch.gone,
    CASE WHEN ch.ord IS NULL THEN ${foundSql(jobs, 'i.id')} END AS found,
    (SELECT at FROM clock)::float8 AS at, ${NOTIFIED} AS notified
  FROM input i LEFT JOIN changed ch ON ch.ord = i.ord`;
});

/** Event type of each finalize kind (a cancel that won over retry/snooze/release: `cancelled`). */
const EVENT_OF_KIND: Record<FinalizeItem['kind'], JobEventType> = {
  complete: 'completed',
  retry: 'retrying',
  dead: 'dead',
  snooze: 'snoozed',
  cancel: 'cancelled',
  release: 'released',
};

/** The JSON text of a finalize item's event `data`: the result, or `{message, kind}` of its error. */
function finalizeEventData(item: FinalizeItem): string | null {
  if (item.kind === 'complete') return item.result;
  if (item.kind === 'retry' || item.kind === 'dead') return JSON.stringify({ message: item.error.message, kind: item.error.kind });
  return null;
}

/**
 * `items` without repeated leases, and for each input index the index of its lease's first
 * occurrence in the result; `firstOf` is null when no lease repeats (the usual case, found by
 * looking at the ids alone).
 */
function foldRepeatedLeases<T extends { id: string; attempt: number; leaseToken: string }>(
  items: T[],
): { unique: T[]; firstOf: number[] | null } {
  if (items.length < 2) return { unique: items, firstOf: null };
  const ids = new Set<string>();
  for (const item of items) ids.add(item.id);
  if (ids.size === items.length) return { unique: items, firstOf: null };
  const unique: T[] = [];
  const index = new Map<string, number>();
  const firstOf = items.map((item) => {
    const key = `${item.attempt}:${item.leaseToken}:${item.id}`;
    let at = index.get(key);
    if (at === undefined) {
      at = unique.length;
      index.set(key, at);
      unique.push(item);
    }
    return at;
  });
  return unique.length === items.length ? { unique: items, firstOf: null } : { unique, firstOf };
}

export async function finalizeJobs(ctx: Ctx, params: FinalizeParams): Promise<LeaseOutcome[]> {
  ctx.db.assertOpen();
  if (params.items.length === 0) return [];
  const { unique: items, firstOf } = foldRepeatedLeases(params.items);
  const data = eventDataOf(items.map(finalizeEventData));
  const texts = (fn: (item: FinalizeItem) => string | null): string => textArray(items.map(fn));
  const rows = await ctx.db.query('finalizeJobs', {
    name: ctx.names.statement('finalize'),
    text: finalizeSql(ctx.names),
    values: [
      params.now ?? null,
      texts((i) => i.id),
      numberArray(items.map((i) => i.attempt)),
      texts((i) => i.leaseToken),
      texts((i) => i.kind),
      texts((i) => (i.kind === 'complete' ? i.result : null)),
      texts((i) => ('error' in i && i.error ? storedErrorJson(i.error) : null)),
      numberArray(items.map((i) => (i.kind === 'retry' || i.kind === 'snooze' ? i.delayMs : null))),
      texts((i) => (i.kind === 'dead' ? storedReason(i.reason) : null)),
      textArray(data.texts),
      params.retention.completedMs,
      params.retention.cancelledMs,
      params.retention.deadMs,
      MAX_ERRORS_KEPT,
      ctx.names.channel,
      ctx.events.prefix,
    ],
  });
  const outcomes = new Array<LeaseOutcome>(items.length);
  const changed = new Array<Row | undefined>(items.length);
  let at = 0;
  for (const row of rows) {
    const k = (row.ord as number) - 1;
    if (row.state != null) {
      outcomes[k] = 'ok';
      changed[k] = row;
      at = Number(row.at);
    } else outcomes[k] = row.found ? 'lease_lost' : 'not_found';
  }
  if (ctx.events.hasListeners) {
    const events: JobEvent[] = [];
    items.forEach((item, k) => {
      const row = changed[k];
      if (!row) return;
      const state = row.state as JobState;
      events.push(jobEvent(
        state === 'cancelled' ? 'cancelled' : EVENT_OF_KIND[item.kind],
        item.id,
        row.queue as string,
        row.name as string,
        state,
        row.attempt as number,
        at,
        data.values[k],
      ));
    });
    ctx.events.publishLocal(events);
  }
  if (!firstOf) return outcomes;
  const answered = new Set<number>();
  return firstOf.map((first) => {
    const outcome = outcomes[first]!;
    if (!answered.has(first)) {
      answered.add(first);
      return outcome;
    }
    // A repeat of a lease finds what its first item left: the attempt ended (or the job removed).
    if (outcome !== 'ok') return outcome;
    return changed[first]!.gone === true ? 'not_found' : 'lease_lost';
  });
}

/** Rounds of re-examining jobs whose state moved under a cancel. */
const MAX_CANCEL_ROUNDS = 5;

const cancelSql = perSchema(({ jobs }) => `WITH ${clockCte('$1')},
  input AS (SELECT * FROM unnest($2::text[]) WITH ORDINALITY AS t(id, ord)),
  cancelled AS (
    UPDATE ${jobs} j SET state = 'cancelled', finished_at = c.now,
      expires_at = ${expiresSql('c.now', '$3::bigint')}
    FROM input i, clock c
    WHERE j.id = i.id AND ${recheckStateSql('j.state', CANCELLABLE_STATES)}
    RETURNING j.id, j.seq AS ord, ${jobEventSql({ type: `'cancelled'`, job: 'j' })} AS ev
  ), requested AS (
    UPDATE ${jobs} j SET cancel_requested = true
    FROM input i, clock c
    WHERE j.id = i.id AND ${recheckStateSql('j.state', ['running'])}
    RETURNING j.id, j.seq AS ord, ${jobEventSql({ type: `'cancel_requested'`, job: 'j' })} AS ev
  ), changed AS (
    SELECT id, ord, ev, 'cancelled' AS outcome FROM cancelled
    UNION ALL SELECT id, ord, ev, 'cancel_requested' FROM requested
  ), ${notifyCtes('changed', '$4', '$5', '(SELECT at FROM clock)')}
  SELECT i.ord, (SELECT at FROM clock)::float8 AS at,
    coalesce(ch.outcome, CASE WHEN e.id IS NULL THEN 'not_found'
      WHEN e.state IN ('completed', 'dead', 'cancelled') THEN 'already_final' ELSE 'moved' END) AS outcome,
    CASE WHEN row_number() OVER (PARTITION BY i.id ORDER BY i.ord) = 1 THEN ch.ev END AS ev,
    ${NOTIFIED} AS notified
  FROM input i
  LEFT JOIN changed ch ON ch.id = i.id
  LEFT JOIN ${jobs} e ON e.id = i.id
  ORDER BY i.ord`);

export async function cancelJobs(ctx: Ctx, params: CancelJobsParams): Promise<CancelOutcome[]> {
  ctx.db.assertOpen();
  const outcomes: Array<CancelOutcome | undefined> = new Array(params.ids.length);
  let pending = params.ids.map((_, i) => i);
  for (let round = 0; round < MAX_CANCEL_ROUNDS && pending.length > 0; round++) {
    const rows = await changeJobs(ctx, 'cancelJobs', {
      name: ctx.names.statement('cancel'),
      text: cancelSql(ctx.names),
      values: [
        params.now ?? null,
        pending.map((i) => params.ids[i]),
        params.retention.cancelledMs,
        ctx.names.channel,
        ctx.events.prefix,
      ],
    });
    const moved: number[] = [];
    rows.forEach((row, k) => {
      const index = pending[k]!;
      if (row.outcome === 'moved') moved.push(index);
      else outcomes[index] = row.outcome as CancelOutcome;
    });
    pending = moved;
  }
  if (pending.length > 0) throw new BackendError(`postgres: cancelJobs could not settle ${pending.length} job(s); retry the call`);
  // The statement judges every input row against the state before it ran; a repeated id must be
  // answered from the state its first occurrence left: the job was cancelled once, so later
  // copies of that id are `already_final` (a cancel request stays a cancel request).
  const seen = new Set<string>();
  params.ids.forEach((id, i) => {
    if (seen.has(id) && outcomes[i] === 'cancelled') outcomes[i] = 'already_final';
    seen.add(id);
  });
  return outcomes as CancelOutcome[];
}
