/**
 * Mapping between stored rows and the core's shapes: JobRecord, ClaimedJob, and the attempt
 * error as stored in the `errors` jsonb history.
 *
 * Invariants:
 * - JSON columns (payload, progress, result, backoff) hold the text the core gave us and are
 *   parsed here; `errors` is jsonb and arrives parsed.
 * - The lease token never appears in a JobRecord (JOB_COLUMNS does not select it).
 * - `seq` (bigint) arrives as a decimal string and is compared as such.
 */
import {
  MAX_REASON_CHARS,
  MAX_STACK_BYTES,
  parseStoredJson,
  uniqueOf,
  type AttemptError,
  type BackoffSpec,
  type ChildFailurePolicy,
  type ClaimedJob,
  type JobRecord,
  type JobState,
} from '@spindle/core';
import type { Row } from './db.js';

const RECORD_COLUMNS = [
  'id', 'seq', 'queue', 'name', 'payload', 'state', 'priority', 'attempt', 'max_retries', 'progress',
  'result', 'errors', 'unique_key', 'group_key', 'timeout_ms', 'backoff', 'round', 'created_at', 'run_at',
  'started_at', 'finished_at', 'lease_expires_at', 'worker_id', 'cancel_requested', 'failure_reason',
  'first_failed_at', 'last_failed_at', 'resolution_note', 'resolved_at', 'expires_at',
  'parent_id', 'pending_children', 'on_child_failure', 'unique_scope', 'unique_label', 'unique_for_ms',
];

/** The columns `rowToJobRecord` needs, qualified by `alias` when given. */
export function jobColumns(alias?: string): string {
  return alias ? RECORD_COLUMNS.map((c) => `${alias}.${c}`).join(', ') : RECORD_COLUMNS.join(', ');
}

const CLAIM_COLUMNS = ['id', 'attempt', 'lease_token', 'queue', 'name', 'payload', 'priority', 'max_retries',
  'timeout_ms', 'backoff', 'round', 'progress'];
/** Timestamps a claim returns as epoch milliseconds (float8): a number parses far faster than a
 *  timestamptz string (postgres-date was ~4 µs per claimed job), and gives the same Date. */
const CLAIM_TIME_COLUMNS = ['lease_expires_at', 'created_at', 'run_at'];

/** The columns `rowToClaimedJob` needs: with `alias`, the expressions over that row (timestamps
 *  as epoch ms under their own names); without, the names of those output columns. */
export function claimColumns(alias?: string): string {
  if (!alias) return [...CLAIM_COLUMNS, ...CLAIM_TIME_COLUMNS].join(', ');
  return [
    ...CLAIM_COLUMNS.map((c) => `${alias}.${c}`),
    ...CLAIM_TIME_COLUMNS.map((c) => `date_part('epoch', ${alias}.${c}) * 1000 AS ${c}`),
  ].join(', ');
}

/** A timestamp column read as a Date, or as epoch milliseconds (claimColumns). */
function instant(value: unknown): Date {
  return value instanceof Date ? value : new Date(value as number);
}

function str(value: unknown): string | null {
  return value == null ? null : String(value);
}

function date(value: unknown): Date | null {
  return value == null ? null : (value as Date);
}

export function rowToJobRecord(row: Row): JobRecord {
  const resolvedAt = date(row.resolved_at);
  return {
    id: row.id as string,
    queue: row.queue as string,
    name: row.name as string,
    payload: parseStoredJson(row.payload as string),
    state: row.state as JobState,
    priority: row.priority as number,
    attempt: row.attempt as number,
    maxRetries: row.max_retries as number,
    progress: parseStoredJson(str(row.progress)),
    result: parseStoredJson(str(row.result)),
    errors: (row.errors ?? []) as AttemptError[],
    // Unique mode (ADR 0016): `unique_label` is the key as given, `unique_key` the key held.
    uniqueKey: str(row.unique_label ?? row.unique_key),
    unique: uniqueOf(str(row.unique_label ?? row.unique_key), str(row.unique_scope), row.unique_for_ms == null ? null : Number(row.unique_for_ms)),
    group: str(row.group_key) || null, // '' marks an ungrouped job of a grouped queue (groups.ts)
    timeoutMs: (row.timeout_ms as number | null) ?? null,
    backoff: parseStoredJson(str(row.backoff)) as BackoffSpec | null,
    round: row.round as number,
    createdAt: row.created_at as Date,
    runAt: row.run_at as Date,
    startedAt: date(row.started_at),
    finishedAt: date(row.finished_at),
    leaseExpiresAt: date(row.lease_expires_at),
    workerId: str(row.worker_id),
    cancelRequested: row.cancel_requested === true,
    failureReason: str(row.failure_reason),
    firstFailedAt: date(row.first_failed_at),
    lastFailedAt: date(row.last_failed_at),
    resolution: resolvedAt ? { note: str(row.resolution_note) ?? '', at: resolvedAt } : null,
    expiresAt: date(row.expires_at),
    parentId: str(row.parent_id),
    pendingChildren: (row.pending_children as number | null) ?? null,
    onChildFailure: (row.on_child_failure as ChildFailurePolicy | null) ?? null,
  };
}

export function rowToClaimedJob(row: Row): ClaimedJob {
  return {
    id: row.id as string,
    attempt: row.attempt as number,
    leaseToken: row.lease_token as string,
    queue: row.queue as string,
    name: row.name as string,
    payload: parseStoredJson(row.payload as string),
    priority: row.priority as number,
    maxRetries: row.max_retries as number,
    leaseExpiresAt: instant(row.lease_expires_at),
    timeoutMs: (row.timeout_ms as number | null) ?? null,
    backoff: parseStoredJson(str(row.backoff)) as BackoffSpec | null,
    round: row.round as number,
    progress: parseStoredJson(str(row.progress)),
    createdAt: instant(row.created_at),
    runAt: instant(row.run_at),
  };
}

/** Cuts a string to at most `maxBytes` UTF-8 bytes without splitting a character. */
export function cutUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end);
}

/** The JSON text of an attempt error as stored: the stack capped at MAX_STACK_BYTES. */
export function storedErrorJson(error: AttemptError): string {
  const stored = error.stack === undefined ? error : { ...error, stack: cutUtf8(error.stack, MAX_STACK_BYTES) };
  return JSON.stringify(stored);
}

/** A failure reason as stored: at most MAX_REASON_CHARS characters. */
export function storedReason(reason: string): string {
  return reason.length <= MAX_REASON_CHARS ? reason : reason.slice(0, MAX_REASON_CHARS);
}
