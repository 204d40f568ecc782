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
 * - Removal on completion: a `complete` of a row with `completed_keep_ms = 0` deletes it in the
 *   same transaction, through the same FENCE: the completing UPDATE only matches other rows, a
 *   fenced DELETE only such rows, and an item goes to the second statement only when the first
 *   matched nothing (which one runs first is a cost hint, never an outcome). Outcome `ok`, event
 *   `completed` (state `completed`, with its data); a later write of that attempt: `not_found`.
 * - Flows: an attempt that finishes a child (completed, dead, cancelled; removed on completion
 *   counts as completed) settles its waiting parent in the same transaction (flows.ts).
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
  type RetentionParams,
} from './state-sql.js';
import { missOutcome } from './jobs-write.js';
import { childChange, settleChildren, type ChildChange } from './flows.js';
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

/** Rows kept after completion (`completed_keep_ms = 0` means removed: see REMOVE_COMPLETED). */
const KEPT = 'completed_keep_ms IS NOT 0';

const SQL: Record<FinalizeItem['kind'], string> = {
  complete:
    `UPDATE spindle_jobs SET state = 'completed', result = @result, finished_at = @now, expires_at = ${expiresAt(KEEP_COMPLETED)}, ` +
    `${CLEAR_LEASE} WHERE ${FENCE} AND ${KEPT} RETURNING ${EVENT_COLUMNS}`,
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
    AND +spindle_jobs.state = 'running' AND spindle_jobs.${KEPT}
  RETURNING spindle_jobs.id AS id, spindle_jobs.queue AS queue, spindle_jobs.name AS name, spindle_jobs.state AS state,
    spindle_jobs.attempt AS attempt, spindle_jobs.parent_id AS parentId`;

/**
 * Removal on completion: deletes, through the same fence, the rows of the given completions
 * whose `completed_keep_ms = 0` (bound as a JSON array of `[id, attempt, leaseToken]`, looked up
 * by id). RETURNING shows the row before the delete (`running`); the event says `completed`.
 */
const REMOVE_COMPLETED = `DELETE FROM spindle_jobs WHERE seq IN (
    SELECT job.seq FROM json_each(@items) AS item JOIN spindle_jobs AS job ON job.id = item.value ->> 0
    WHERE job.attempt = item.value ->> 1 AND job.lease_token = item.value ->> 2 AND +job.state = 'running'
      AND job.completed_keep_ms = 0)
  RETURNING ${EVENT_COLUMNS}`;

/** REMOVE_COMPLETED for one item. */
const REMOVE_COMPLETED_ONE = `DELETE FROM spindle_jobs WHERE ${FENCE} AND completed_keep_ms = 0 RETURNING ${EVENT_COLUMNS}`;

/** The completions of `items` (distinct ids) on kept rows, by id. */
function completeKept(store: Store, items: FinalizeItem[], retention: RetentionParams, now: number): Map<string, EventRow> {
  const bound = JSON.stringify(items.map((item) => [item.id, item.attempt, item.leaseToken, (item as FinalizeItem & { kind: 'complete' }).result]));
  const updated = store.conn.stmt(COMPLETE_MANY).all({ ...retention, items: bound, now }) as EventRow[];
  return new Map(updated.map((row) => [row.id, row]));
}

/** The completions of `items` (distinct ids) on rows removed on completion, by id. */
function removeCompleted(store: Store, items: FinalizeItem[]): Map<string, EventRow> {
  const bound = JSON.stringify(items.map((item) => [item.id, item.attempt, item.leaseToken]));
  const deleted = store.conn.stmt(REMOVE_COMPLETED).all({ items: bound }) as EventRow[];
  return new Map(deleted.map((row) => [row.id, { ...row, state: 'completed' }]));
}

/**
 * Which of the two complementary completion statements to try first: the one that matched most
 * rows of the store's previous batch (queues tend to keep or remove all their jobs alike). Only
 * the cost depends on it (a miss is one more id lookup), never an outcome: a row is either kept
 * (`completed_keep_ms IS NOT 0`, COMPLETE_MANY) or removed (`= 0`, REMOVE_COMPLETED), never both.
 */
const removedFirst = new WeakMap<Store, boolean>();

/** What one item did: the row it wrote (as its event shows it), or why it matched nothing. */
type Written = EventRow | Exclude<LeaseOutcome, 'ok'>;

/**
 * The outcome statements of a batch: the completions of jobs not named earlier in the batch as
 * one COMPLETE_MANY and one REMOVE_COMPLETED (when there are at least two; the second statement
 * only for the items the first did not match), then every other item on its own, in input
 * order. Equivalent to running all items one by one in input order: a finalize only touches the
 * row of its own id, every item whose id appeared earlier runs after that earlier item, and a
 * miss is explained (`missOutcome`) before any later item of its id runs — a removal on
 * completion may have deleted the row by then.
 */
function writeOutcomes(store: Store, params: FinalizeParams, now: number): Written[] {
  const { items } = params;
  const retention = retentionParams(params.retention);
  const written = new Array<Written>(items.length);
  const named = new Set<string>();
  const batch: number[] = [];
  const single: number[] = [];
  items.forEach((item, i) => {
    (item.kind === 'complete' && !named.has(item.id) ? batch : single).push(i);
    named.add(item.id);
  });
  if (batch.length >= 2) {
    const removeFirst = removedFirst.get(store) === true;
    const kept = (list: FinalizeItem[]) => completeKept(store, list, retention, now);
    const removed = (list: FinalizeItem[]) => removeCompleted(store, list);
    const [first, second] = removeFirst ? [removed, kept] : [kept, removed];
    const completes = batch.map((i) => items[i]!);
    const firstRows = first(completes);
    const unmatched = completes.filter((item) => !firstRows.has(item.id));
    const secondRows = unmatched.length > 0 ? second(unmatched) : new Map<string, EventRow>();
    for (const i of batch) {
      const { id } = items[i]!;
      written[i] = firstRows.get(id) ?? secondRows.get(id) ?? missOutcome(store, id);
    }
    const removedCount = removeFirst ? firstRows.size : secondRows.size;
    const keptCount = removeFirst ? secondRows.size : firstRows.size;
    removedFirst.set(store, removedCount > keptCount);
  } else {
    single.push(...batch);
    single.sort((a, b) => a - b);
  }
  for (const i of single) {
    const item = items[i]!;
    const fence = { id: item.id, attempt: item.attempt, leaseToken: item.leaseToken };
    const update = () => store.conn.stmt(SQL[item.kind]).get({ ...actionParams(item), ...retention, ...fence, now }) as EventRow | undefined;
    let row: EventRow | undefined;
    if (item.kind !== 'complete') row = update();
    else {
      const remove = () => {
        const removed = store.conn.stmt(REMOVE_COMPLETED_ONE).get(fence) as EventRow | undefined;
        return removed && { ...removed, state: 'completed' as const };
      };
      const removeFirst = removedFirst.get(store) === true;
      const removedRow = removeFirst ? remove() : undefined;
      const updatedRow = removedRow === undefined ? update() : undefined;
      row = removedRow ?? updatedRow ?? (removeFirst ? undefined : remove());
      if (row !== undefined) removedFirst.set(store, updatedRow === undefined);
    }
    written[i] = row ?? missOutcome(store, item.id);
  }
  return written;
}

export function finalizeJobs(store: Store, params: FinalizeParams): LeaseOutcome[] {
  const now = nowMs(params.now);
  return store.write((events) => {
    const written = writeOutcomes(store, params, now);
    let children: ChildChange[] | null = null;
    const outcomes = params.items.map((item, i): LeaseOutcome => {
      const row = written[i]!;
      if (typeof row === 'string') return row;
      if (row.state === 'cancelled') events.push(jobEvent('cancelled', row, now, undefined));
      else events.push(jobEvent(EVENT_TYPE[item.kind], row, now, actionEventData(item)));
      // Flows: a finished child settles its parent in this transaction (jobs outside flows: one null check).
      if (row.parentId != null) {
        const change = childChange(row, item.kind === 'dead' ? item.reason : null);
        if (change !== null) (children ??= []).push(change);
      }
      return 'ok';
    });
    if (children !== null) settleChildren(store, events, now, children);
    return outcomes;
  });
}
