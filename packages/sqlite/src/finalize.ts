/**
 * finalizeJobs: the end of an attempt (complete, retry, dead, snooze, cancel, release), the
 * table of docs/design/backend-semantics.md turned into one fenced UPDATE per action.
 *
 * Invariants:
 * - Every statement's WHERE is FENCE (id, attempt, lease token, state = 'running'); the lease
 *   is cleared by the same statement, so a second finalize of the same attempt is `lease_lost`
 *   and a job reaches a terminal state at most once per round.
 * - The whole batch is one transaction; outcomes are per item, in input order.
 * - Snooze and release give the attempt back (`attempt - 1`); release keeps `run_at`.
 * - Retry, snooze and release of a job whose cancel was requested end it `cancelled`.
 */
import {
  eventData,
  type FinalizeItem,
  type FinalizeParams,
  type JobEventType,
  type LeaseOutcome,
} from '@spindle/core';
import { errorEventData, jobEvent, type EventRow } from './rows.js';
import {
  APPEND_ERROR,
  CLEAR_LEASE,
  ERRORS_APPENDED,
  EVENT_COLUMNS,
  expiresAt,
  FAILURE_TIMES,
  FENCE,
  KEEP_CANCELLED,
  KEEP_COMPLETED,
  KEEP_DEAD,
  nowMs,
  retentionParams,
} from './state-sql.js';
import { missOutcome } from './jobs-write.js';
import type { Store } from './tx.js';

const fenced = (set: string): string => `UPDATE spindle_jobs SET ${set}, ${CLEAR_LEASE} WHERE ${FENCE} RETURNING ${EVENT_COLUMNS}`;

/**
 * Retry, snooze and release give the job another run — unless a cancel was requested while the
 * attempt ran: then the job ends `cancelled` (the request wins), keeping its attempt count.
 */
const unlessCancelRequested = (state: string, runAt: string, attempt: string): string =>
  `state = CASE WHEN cancel_requested THEN 'cancelled' ELSE ${state} END, ` +
  `run_at = CASE WHEN cancel_requested THEN run_at ELSE ${runAt} END, ` +
  `attempt = CASE WHEN cancel_requested THEN attempt ELSE ${attempt} END, ` +
  `finished_at = CASE WHEN cancel_requested THEN @now ELSE finished_at END, ` +
  `expires_at = CASE WHEN cancel_requested THEN ${expiresAt(KEEP_CANCELLED)} ELSE expires_at END`;

const SQL: Record<FinalizeItem['kind'], string> = {
  complete: fenced(`state = 'completed', result = @result, finished_at = @now, expires_at = ${expiresAt(KEEP_COMPLETED)}`),
  retry: fenced(
    unlessCancelRequested(
      "CASE WHEN @delayMs <= 0 THEN 'queued' ELSE 'retrying' END",
      'CASE WHEN @delayMs <= 0 THEN @now ELSE @now + @delayMs END',
      'attempt',
    ) + `, ${APPEND_ERROR}, ${FAILURE_TIMES}`,
  ),
  dead: fenced(
    `state = 'dead', ${APPEND_ERROR}, ${FAILURE_TIMES}, failure_reason = @reason, finished_at = @now, ` +
      `expires_at = ${expiresAt(KEEP_DEAD)}`,
  ),
  snooze: fenced(unlessCancelRequested("'scheduled'", '@now + @delayMs', 'attempt - 1')),
  cancel: fenced(
    `state = 'cancelled', errors = CASE WHEN @error IS NULL THEN errors ELSE ${ERRORS_APPENDED} END, ` +
      `finished_at = @now, expires_at = ${expiresAt(KEEP_CANCELLED)}`,
  ),
  release: fenced(unlessCancelRequested("'queued'", 'run_at', 'attempt - 1')),
};

const EVENT_TYPE: Record<FinalizeItem['kind'], JobEventType> = {
  complete: 'completed',
  retry: 'retrying',
  dead: 'dead',
  snooze: 'snoozed',
  cancel: 'cancelled',
  release: 'released',
};

/** The action's own parameters and its event's data. */
function actionParams(item: FinalizeItem): { params: Record<string, unknown>; data: unknown } {
  switch (item.kind) {
    case 'complete':
      return { params: { result: item.result }, data: eventData(item.result) };
    case 'retry':
      return { params: { error: JSON.stringify(item.error), delayMs: item.delayMs }, data: errorEventData(item.error) };
    case 'dead':
      return { params: { error: JSON.stringify(item.error), reason: item.reason }, data: errorEventData(item.error) };
    case 'snooze':
      return { params: { delayMs: item.delayMs }, data: undefined };
    case 'cancel':
      return { params: { error: item.error === null ? null : JSON.stringify(item.error) }, data: undefined };
    case 'release':
      return { params: {}, data: undefined };
  }
}

export function finalizeJobs(store: Store, params: FinalizeParams): LeaseOutcome[] {
  const now = nowMs(params.now);
  const retention = retentionParams(params.retention);
  return store.write((events) =>
    params.items.map((item): LeaseOutcome => {
      const { params: own, data } = actionParams(item);
      const row = store.conn.stmt(SQL[item.kind]).get({
        ...own,
        ...retention,
        id: item.id,
        attempt: item.attempt,
        leaseToken: item.leaseToken,
        now,
      }) as EventRow | undefined;
      if (row === undefined) return missOutcome(store, item.id);
      events.push(row.state === 'cancelled' ? jobEvent('cancelled', row, now, undefined) : jobEvent(EVENT_TYPE[item.kind], row, now, data));
      return 'ok';
    }),
  );
}
