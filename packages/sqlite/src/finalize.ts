/**
 * finalizeJobs: the end of an attempt (complete, retry, dead, snooze, cancel, release), the
 * table of docs/design/backend-semantics.md turned into one fenced UPDATE per action.
 *
 * Invariants:
 * - Every statement's WHERE is FENCE (id, attempt, lease token, state = 'running'); the lease
 *   is cleared by the same statement, so a second finalize of the same attempt is `lease_lost`
 *   and a job reaches a terminal state at most once per round.
 * - The whole batch is one transaction; outcomes are per item, in input order, exactly as if the
 *   items ran one by one in input order. Completions (the common case) of distinct jobs run as
 *   one UPDATE … FROM json_each per batch; the other actions, one fenced UPDATE per item.
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

/** The action's own statement parameters. */
function actionParams(item: FinalizeItem): Record<string, unknown> {
  switch (item.kind) {
    case 'complete':
      return { result: item.result };
    case 'retry':
      return { error: JSON.stringify(item.error), delayMs: item.delayMs };
    case 'dead':
      return { error: JSON.stringify(item.error), reason: item.reason };
    case 'snooze':
      return { delayMs: item.delayMs };
    case 'cancel':
      return { error: item.error === null ? null : JSON.stringify(item.error) };
    case 'release':
      return {};
  }
}

/** The data of the action's event (only when small). */
function actionEventData(item: FinalizeItem): unknown {
  switch (item.kind) {
    case 'complete':
      return eventData(item.result);
    case 'retry':
    case 'dead':
      return errorEventData(item.error);
    default:
      return undefined;
  }
}

/**
 * Completes many attempts of distinct jobs in one statement: the items are bound as one JSON
 * array of `[id, attempt, leaseToken, result]`, looked up by id (json_each drives the id index;
 * `+state` keeps the planner off the state indexes). Same fence, same columns as `complete`.
 * RETURNING cannot name the FROM side, so callers never put two items of one id in a batch: the
 * returned `id` then identifies the item.
 */
const COMPLETE_MANY = `UPDATE spindle_jobs
  SET state = 'completed', result = item.result, finished_at = @now, expires_at = ${expiresAt(KEEP_COMPLETED)}, ${CLEAR_LEASE}
  FROM (SELECT value ->> 0 AS id, value ->> 1 AS attempt, value ->> 2 AS token, value ->> 3 AS result FROM json_each(@items)) AS item
  WHERE spindle_jobs.id = item.id AND spindle_jobs.attempt = item.attempt AND spindle_jobs.lease_token = item.token
    AND +spindle_jobs.state = 'running'
  RETURNING spindle_jobs.id AS id, spindle_jobs.queue AS queue, spindle_jobs.name AS name, spindle_jobs.state AS state,
    spindle_jobs.attempt AS attempt`;

/**
 * The outcome statements of a batch: the completions of jobs not named earlier in the batch as
 * one COMPLETE_MANY (when there are at least two), then every other item on its own, in input
 * order. Equivalent to running all items one by one in input order: a finalize only touches the
 * row of its own id, and every item whose id appeared earlier runs after that earlier item.
 */
function writeOutcomes(store: Store, params: FinalizeParams, now: number): Array<EventRow | undefined> {
  const { items } = params;
  const retention = retentionParams(params.retention);
  const rows = new Array<EventRow | undefined>(items.length);
  const named = new Set<string>();
  const batch: number[] = [];
  const single: number[] = [];
  items.forEach((item, i) => {
    (item.kind === 'complete' && !named.has(item.id) ? batch : single).push(i);
    named.add(item.id);
  });
  if (batch.length >= 2) {
    const bound = batch.map((i) => {
      const item = items[i] as FinalizeItem & { kind: 'complete' };
      return [item.id, item.attempt, item.leaseToken, item.result];
    });
    const updated = store.conn.stmt(COMPLETE_MANY).all({ ...retention, items: JSON.stringify(bound), now }) as EventRow[];
    const byId = new Map(updated.map((row) => [row.id, row]));
    for (const i of batch) rows[i] = byId.get(items[i]!.id);
  } else {
    single.push(...batch);
    single.sort((a, b) => a - b);
  }
  for (const i of single) {
    const item = items[i]!;
    rows[i] = store.conn.stmt(SQL[item.kind]).get({
      ...actionParams(item),
      ...retention,
      id: item.id,
      attempt: item.attempt,
      leaseToken: item.leaseToken,
      now,
    }) as EventRow | undefined;
  }
  return rows;
}

export function finalizeJobs(store: Store, params: FinalizeParams): LeaseOutcome[] {
  const now = nowMs(params.now);
  return store.write((events) => {
    const rows = writeOutcomes(store, params, now);
    return params.items.map((item, i): LeaseOutcome => {
      const row = rows[i];
      if (row === undefined) return missOutcome(store, item.id);
      if (row.state === 'cancelled') events.push(jobEvent('cancelled', row, now, undefined));
      else events.push(jobEvent(EVENT_TYPE[item.kind], row, now, actionEventData(item)));
      return 'ok';
    });
  });
}
