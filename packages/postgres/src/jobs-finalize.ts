/**
 * The end of an attempt (finalizeJobs) and cancellation requests (cancelJobs), each one
 * statement for the whole batch.
 *
 * Invariants (docs/design/backend-semantics.md, finalizeJobs / cancelJobs):
 * - finalize is fenced on (id, attempt, lease_token, state = 'running') and clears the lease;
 *   each item's kind drives CASE expressions, so a mixed batch (and the all-`complete` hot
 *   path) is a single UPDATE … FROM unnest(…). If one lease appears twice in a batch, the first
 *   item wins (`ok`: only the first of each lease reaches the UPDATE, whatever the join order);
 *   the other answers `lease_lost` — one terminal transition per attempt.
 * - Whether a failed item's job exists (`lease_lost` vs `not_found`) is looked up for failed
 *   items only: the all-ok hot path pays no extra probe per job.
 * - Errors are appended to the jsonb history keeping the newest MAX_ERRORS_KEPT.
 * - A retry, snooze or release of a job whose cancel was requested ends it `cancelled`.
 * - cancel moves cancellable jobs to `cancelled` and flags running ones; a job whose state
 *   changed between our snapshot and the write is re-examined in a fresh statement.
 */
import {
  BackendError,
  CANCELLABLE_STATES,
  eventData,
  MAX_ERRORS_KEPT,
  type CancelJobsParams,
  type CancelOutcome,
  type FinalizeItem,
  type FinalizeParams,
  type LeaseOutcome,
} from '@spindle/core';
import { changeJobs, type Ctx } from './context.js';
import { storedErrorJson, storedReason } from './rows.js';
import { appendErrorSql, expiresSql, foundSql, jobEventSql, msSql, notifyCtes, nowSql, NOTIFIED, perSchema, recheckStateSql } from './sql.js';

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
  return `WITH clock AS (SELECT ${nowSql('$1')} AS now),
  input AS (
    SELECT * FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::float8[],
      $9::text[], $10::jsonb[])
      WITH ORDINALITY AS t(id, attempt, token, kind, result, error, delay_ms, reason, data, ord)
  ), out AS (
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
    FROM (SELECT DISTINCT ON (id, attempt, token) * FROM input ORDER BY id, attempt, token, ord) i, clock c
    WHERE j.id = i.id AND j.attempt = i.attempt AND j.lease_token = i.token AND ${recheckStateSql('j.state', ['running'])}
    RETURNING i.ord, ${jobEventSql({ type: typeCase, job: 'j', at: 'c.now', data: 'i.data' })} AS ev
  ), ${notifyCtes('out', '$15', '$16')}
  SELECT i.ord, o.ord IS NOT NULL AS ok, CASE WHEN o.ord IS NULL THEN ${foundSql(jobs, 'i.id')} END AS found,
    o.ev, ${NOTIFIED} AS notified
  FROM input i LEFT JOIN out o ON o.ord = i.ord
  ORDER BY i.ord`;
});

/** The event `data` of a finalize item: the result, or `{message, kind}` of its error. */
function finalizeEventData(item: FinalizeItem): string | null {
  let text: string | null = null;
  if (item.kind === 'complete') text = item.result;
  else if (item.kind === 'retry' || item.kind === 'dead') {
    text = JSON.stringify({ message: item.error.message, kind: item.error.kind });
  }
  return eventData(text) === undefined ? null : text;
}

export async function finalizeJobs(ctx: Ctx, params: FinalizeParams): Promise<LeaseOutcome[]> {
  ctx.db.assertOpen();
  const items = params.items;
  if (items.length === 0) return [];
  const pick = <T>(fn: (item: FinalizeItem) => T): T[] => items.map(fn);
  const rows = await changeJobs(ctx, 'finalizeJobs', {
    name: ctx.names.statement('finalize'),
    text: finalizeSql(ctx.names),
    values: [
      params.now ?? null,
      pick((i) => i.id),
      pick((i) => i.attempt),
      pick((i) => i.leaseToken),
      pick((i) => i.kind),
      pick((i) => (i.kind === 'complete' ? i.result : null)),
      pick((i) => ('error' in i && i.error ? storedErrorJson(i.error) : null)),
      pick((i) => (i.kind === 'retry' || i.kind === 'snooze' ? i.delayMs : null)),
      pick((i) => (i.kind === 'dead' ? storedReason(i.reason) : null)),
      pick(finalizeEventData),
      params.retention.completedMs,
      params.retention.cancelledMs,
      params.retention.deadMs,
      MAX_ERRORS_KEPT,
      ctx.names.channel,
      ctx.events.origin,
    ],
  });
  return rows.map((r) => (r.ok ? 'ok' : r.found ? 'lease_lost' : 'not_found'));
}

/** Rounds of re-examining jobs whose state moved under a cancel. */
const MAX_CANCEL_ROUNDS = 5;

const cancelSql = perSchema(({ jobs }) => `WITH clock AS (SELECT ${nowSql('$1')} AS now),
  input AS (SELECT * FROM unnest($2::text[]) WITH ORDINALITY AS t(id, ord)),
  cancelled AS (
    UPDATE ${jobs} j SET state = 'cancelled', finished_at = c.now,
      expires_at = ${expiresSql('c.now', '$3::bigint')}
    FROM input i, clock c
    WHERE j.id = i.id AND ${recheckStateSql('j.state', CANCELLABLE_STATES)}
    RETURNING j.id, j.seq AS ord, ${jobEventSql({ type: `'cancelled'`, job: 'j', at: 'c.now' })} AS ev
  ), requested AS (
    UPDATE ${jobs} j SET cancel_requested = true
    FROM input i, clock c
    WHERE j.id = i.id AND ${recheckStateSql('j.state', ['running'])}
    RETURNING j.id, j.seq AS ord, ${jobEventSql({ type: `'cancel_requested'`, job: 'j', at: 'c.now' })} AS ev
  ), changed AS (
    SELECT id, ord, ev, 'cancelled' AS outcome FROM cancelled
    UNION ALL SELECT id, ord, ev, 'cancel_requested' FROM requested
  ), ${notifyCtes('changed', '$4', '$5')}
  SELECT i.ord,
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
        ctx.events.origin,
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
