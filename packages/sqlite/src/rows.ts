/**
 * The seam between stored rows and the core's types: column lists, row shapes, and their
 * mapping to JobRecord / ClaimedJob / JobEvent.
 *
 * Invariants:
 * - Times are INTEGER epoch milliseconds in the database and Date objects outside it; the
 *   conversion happens here and nowhere else.
 * - JSON columns are TEXT, parsed once here (`payload`, `progress`, `result`, `errors`,
 *   `backoff`). The lease token never appears in a JobRecord.
 */
import {
  MAX_EVENT_DATA_BYTES,
  parseStoredJson,
  uniqueOf,
  type AttemptError,
  type BackoffSpec,
  type ChildFailurePolicy,
  type ClaimedJob,
  type JobEvent,
  type JobEventType,
  type JobRecord,
  type JobState,
} from '@spindle/core';

/** Every column a JobRecord needs (not the lease token, not the retention rules). */
export const JOB_COLUMNS =
  'seq, id, queue, name, payload, state, priority, attempt, max_retries, progress, result, errors, unique_key, group_key, ' +
  'timeout_ms, backoff, round, created_at, run_at, started_at, finished_at, lease_expires_at, worker_id, ' +
  'cancel_requested, failure_reason, first_failed_at, last_failed_at, resolution_note, resolved_at, expires_at, ' +
  'parent_id, pending_children, on_child_failure, unique_scope, unique_label, unique_for_ms';

export interface JobRow {
  seq: number;
  id: string;
  queue: string;
  name: string;
  payload: string;
  state: JobState;
  priority: number;
  attempt: number;
  max_retries: number;
  progress: string | null;
  result: string | null;
  errors: string;
  unique_key: string | null;
  group_key: string | null;
  timeout_ms: number | null;
  backoff: string | null;
  round: number;
  created_at: number;
  run_at: number;
  started_at: number | null;
  finished_at: number | null;
  lease_expires_at: number | null;
  worker_id: string | null;
  cancel_requested: number;
  failure_reason: string | null;
  first_failed_at: number | null;
  last_failed_at: number | null;
  resolution_note: string | null;
  resolved_at: number | null;
  expires_at: number | null;
  parent_id: string | null;
  pending_children: number | null;
  on_child_failure: ChildFailurePolicy | null;
  /** Unique mode (ADR 0016): NULL for jobs without one. `unique_label` is the key as given. */
  unique_scope: string | null;
  unique_label: string | null;
  unique_for_ms: number | null;
}

/**
 * What a claim's UPDATE … RETURNING yields, read in raw mode (one array per row, no per-row
 * object): `ClaimRow` names the columns by position. The queue and the lease expiry are the
 * claim's own parameters, so they are not returned.
 */
export const CLAIM_COLUMNS =
  'seq, id, name, payload, priority, attempt, max_retries, lease_token, timeout_ms, backoff, round, progress, created_at, run_at';

export type ClaimRow = [
  seq: number,
  id: string,
  name: string,
  payload: string,
  priority: number,
  attempt: number,
  maxRetries: number,
  leaseToken: string,
  timeoutMs: number | null,
  backoff: string | null,
  round: number,
  progress: string | null,
  createdAt: number,
  runAt: number,
];

/** The columns an event is built from (what writes RETURN), and the parent of a flow child. */
export interface EventRow {
  id: string;
  queue: string;
  name: string;
  state: JobState;
  attempt: number;
  /** Flows: the row's parent (null outside flows; absent where a statement does not return it). */
  parentId?: string | null;
}

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

export function toJobRecord(row: JobRow): JobRecord {
  return {
    id: row.id,
    queue: row.queue,
    name: row.name,
    payload: JSON.parse(row.payload),
    state: row.state,
    priority: row.priority,
    attempt: row.attempt,
    maxRetries: row.max_retries,
    progress: parseStoredJson(row.progress),
    result: parseStoredJson(row.result),
    errors: JSON.parse(row.errors) as AttemptError[],
    uniqueKey: row.unique_label ?? row.unique_key,
    unique: uniqueOf(row.unique_label ?? row.unique_key, row.unique_scope, row.unique_for_ms),
    group: row.group_key || null, // '' marks an ungrouped job of a grouped queue (groups.ts)
    timeoutMs: row.timeout_ms,
    backoff: parseStoredJson(row.backoff) as BackoffSpec | null,
    round: row.round,
    createdAt: new Date(row.created_at),
    runAt: new Date(row.run_at),
    startedAt: date(row.started_at),
    finishedAt: date(row.finished_at),
    leaseExpiresAt: date(row.lease_expires_at),
    workerId: row.worker_id,
    cancelRequested: row.cancel_requested !== 0,
    failureReason: row.failure_reason,
    firstFailedAt: date(row.first_failed_at),
    lastFailedAt: date(row.last_failed_at),
    resolution: row.resolved_at === null ? null : { note: row.resolution_note ?? '', at: new Date(row.resolved_at) },
    expiresAt: date(row.expires_at),
    parentId: row.parent_id,
    pendingChildren: row.pending_children,
    onChildFailure: row.on_child_failure,
  };
}

export function toClaimedJob(row: ClaimRow, queue: string, leaseExpiresAt: number): ClaimedJob {
  const [, id, name, payload, priority, attempt, maxRetries, leaseToken, timeoutMs, backoff, round, progress, createdAt, runAt] = row;
  return {
    id,
    attempt,
    leaseToken,
    queue,
    name,
    payload: JSON.parse(payload),
    priority,
    maxRetries,
    leaseExpiresAt: new Date(leaseExpiresAt),
    timeoutMs,
    backoff: parseStoredJson(backoff) as BackoffSpec | null,
    round,
    progress: parseStoredJson(progress),
    createdAt: new Date(createdAt),
    runAt: new Date(runAt),
  };
}

/** Claim order (priority, run_at, seq) of ClaimRows: RETURNING's own order is unspecified. */
export function byClaimOrder(a: ClaimRow, b: ClaimRow): number {
  return a[4] - b[4] || a[13] - b[13] || a[0] - b[0];
}

/** A job event for the row's state after the change; `data` only when given (already small). */
export function jobEvent(type: JobEventType, row: EventRow, at: number, data?: unknown): JobEvent {
  const event: JobEvent = { type, jobId: row.id, queue: row.queue, name: row.name, state: row.state, attempt: row.attempt, at };
  if (data !== undefined) event.data = data;
  return event;
}

/** `{ message, kind }` of an attempt error, when its JSON is small enough for an event. */
export function errorEventData(error: Pick<AttemptError, 'message' | 'kind'>): unknown {
  const data = { message: error.message, kind: error.kind };
  return JSON.stringify(data).length <= MAX_EVENT_DATA_BYTES ? data : undefined;
}
