/**
 * Job options as callers write them (`queue.add(name, payload, opts)`), their validation, and
 * their translation into the backend's `JobInsert`. Names follow BullMQ where it is familiar
 * (`delay`, `priority`, `removeOnComplete`), milliseconds everywhere.
 */
import { newJobId } from './job-id.js';
import type { JobInsert, JobRetention } from '../backend/backend.js';
import { DEFAULT_PRIORITY, MAX_PRIORITY, MIN_PRIORITY, PRIORITY_LEVELS, type BackoffSpec, type PriorityName } from './types.js';
import { checkBackoff } from './backoff.js';
import { checkUnique, type UniqueOptions } from './unique.js';
import {
  checkDate,
  checkIdentifier,
  checkInt,
  checkJobId,
  checkKnownKeys,
  checkNumber,
  checkPlainObject,
  describe,
  isPlainObject,
  Issues,
  MAX_DELAY_MS,
  MAX_RETRIES_LIMIT,
  MAX_TIMEOUT_MS,
  serializeJson,
} from '../validate.js';

/** Keep rule for finished jobs: `true` remove, `false` keep forever, a number = keep the newest N. */
export type RemoveOption = boolean | number | { ageMs?: number; count?: number };

export interface JobOptions {
  /** Caller-chosen id; adding a job whose id exists is a no-op that returns the existing job. */
  id?: string;
  /** At most one live (not completed/dead/cancelled) job per key and queue; duplicates are no-ops. */
  uniqueKey?: string;
  /**
   * A unique key with its mode (exclusive with `uniqueKey`, which is `{ key }` with the
   * defaults): `while` it is held — `'queued'` (until the job starts), `'active'` (default: until
   * it finishes) or `{ forMs }` — and `onConflict`: `'keep'` (default) or `'replace'` (a waiting
   * holder takes the new payload and run time). ADR 0016.
   */
  unique?: UniqueOptions;
  /**
   * Tenant group (1..128 characters): claims rotate across a queue's groups, so one group's
   * burst does not delay another's jobs; the queue's group limits apply per group (ADR 0015).
   */
  group?: string;
  /** Run no earlier than this many ms from now (database clock). */
  delay?: number;
  /** Run no earlier than this instant. Exclusive with `delay`. */
  runAt?: Date | string;
  /** `critical` | `high` | `normal` (default) | `low`, or an integer 0..1000; lower runs first. */
  priority?: PriorityName | number;
  /** Retries after the first attempt (default 3, i.e. 4 attempts). 0 = never retry. */
  maxRetries?: number;
  /** Delay between attempts (default exponential from 1 s, ×2, ±10 % jitter, max 1 h). */
  backoff?: BackoffSpec;
  /** Per-attempt time limit; the handler's AbortSignal fires when it passes. */
  timeoutMs?: number;
  /** Retention once completed (default: the client's, 24 h). */
  removeOnComplete?: RemoveOption;
  /** Retention once dead (default: kept until purged). */
  removeOnFail?: RemoveOption;
  /**
   * PostgreSQL only: a `pg` client inside an open transaction. The job exists if and only if
   * that transaction commits.
   */
  transaction?: unknown;
}

export const JOB_OPTION_KEYS: readonly (keyof JobOptions)[] = [
  'id',
  'uniqueKey',
  'unique',
  'group',
  'delay',
  'runAt',
  'priority',
  'maxRetries',
  'backoff',
  'timeoutMs',
  'removeOnComplete',
  'removeOnFail',
  'transaction',
];

export const DEFAULT_MAX_RETRIES = 3;

export function resolvePriority(issues: Issues, path: string, value: unknown): number {
  if (value === undefined) return DEFAULT_PRIORITY;
  if (typeof value === 'string') {
    if (Object.hasOwn(PRIORITY_LEVELS, value)) return PRIORITY_LEVELS[value as PriorityName];
    issues.add(path, `must be one of ${Object.keys(PRIORITY_LEVELS).join(', ')} or an integer ${MIN_PRIORITY}..${MAX_PRIORITY} (got ${describe(value)})`);
    return DEFAULT_PRIORITY;
  }
  return checkInt(issues, path, value, MIN_PRIORITY, MAX_PRIORITY) ? value : DEFAULT_PRIORITY;
}

function resolveRemove(issues: Issues, path: string, value: unknown): { keepMs: number | null; keepCount: number | null } {
  if (value === undefined) return { keepMs: null, keepCount: null };
  if (value === true) return { keepMs: 0, keepCount: null };
  if (value === false) return { keepMs: -1, keepCount: null };
  if (typeof value === 'number') {
    return checkInt(issues, path, value, 0, 1_000_000_000) ? { keepMs: -1, keepCount: value } : { keepMs: null, keepCount: null };
  }
  if (!checkPlainObject(issues, path, value)) return { keepMs: null, keepCount: null };
  checkKnownKeys(issues, path, value, ['ageMs', 'count']);
  const ageOk = value.ageMs === undefined || checkNumber(issues, `${path}.ageMs`, value.ageMs, 0, MAX_DELAY_MS);
  const countOk = value.count === undefined || checkInt(issues, `${path}.count`, value.count, 0, 1_000_000_000);
  return {
    keepMs: ageOk && value.ageMs !== undefined ? Math.round(value.ageMs as number) : value.count !== undefined ? -1 : null,
    keepCount: countOk && value.count !== undefined ? (value.count as number) : null,
  };
}

/** Earliest accepted `runAt` (0001-01-01): every backend can store it; anything earlier is a bug. */
const MIN_RUN_AT_MS = Date.parse('0001-01-01T00:00:00Z');

/** A valid date no earlier than year 1 and no later than the longest delay from now. */
function checkRunAt(issues: Issues, path: string, value: unknown): Date | null {
  const date = checkDate(issues, path, value);
  if (date === null) return null;
  const ms = date.getTime();
  if (ms < MIN_RUN_AT_MS || ms > Date.now() + MAX_DELAY_MS) {
    issues.add(path, `must be between 0001-01-01 and ${MAX_DELAY_MS / (365 * 24 * 3600 * 1000)} years from now (got ${date.toISOString()})`);
    return null;
  }
  return date;
}

/** What `buildJobInsert` needs from the queue and client. */
export interface InsertContext {
  queue: string;
  maxPayloadBytes: number;
  /** The queue definition has a custom backoff function: jobs store `{ type: 'custom' }`. */
  customBackoff: boolean;
}

/**
 * Validates one job and returns the row to insert, or records issues (prefixed by `path`).
 * `payload` must already have passed the queue's schema.
 */
export function buildJobInsert(issues: Issues, path: string, ctx: InsertContext, name: unknown, payload: unknown, opts: unknown): JobInsert | null {
  const before = issues.list.length;
  checkIdentifier(issues, `${path}name`, name);
  const payloadText = serializeJson(issues, `${path}payload`, payload, ctx.maxPayloadBytes);
  const o: Record<string, unknown> = opts === undefined ? {} : checkPlainObject(issues, `${path}opts`, opts) ? opts : {};
  checkKnownKeys(issues, `${path}opts`, o, JOB_OPTION_KEYS);

  if (o.id !== undefined) checkJobId(issues, `${path}opts.id`, o.id);
  const unique = checkUnique(issues, `${path}opts`, o.uniqueKey, o.unique);
  if (o.group !== undefined) checkGroup(issues, `${path}opts.group`, o.group);
  let delayMs: number | null = null;
  let runAt: Date | null = null;
  if (o.delay !== undefined && o.runAt !== undefined) issues.add(`${path}opts`, 'give either delay or runAt, not both');
  if (o.delay !== undefined && checkNumber(issues, `${path}opts.delay`, o.delay, 0, MAX_DELAY_MS)) delayMs = Math.round(o.delay);
  if (o.runAt !== undefined) runAt = checkRunAt(issues, `${path}opts.runAt`, o.runAt);
  const priority = resolvePriority(issues, `${path}opts.priority`, o.priority);
  const maxRetries = o.maxRetries === undefined ? DEFAULT_MAX_RETRIES : o.maxRetries;
  checkInt(issues, `${path}opts.maxRetries`, maxRetries, 0, MAX_RETRIES_LIMIT);
  let backoff: BackoffSpec | null = ctx.customBackoff ? { type: 'custom' } : null;
  if (o.backoff !== undefined) backoff = checkBackoff(issues, `${path}opts.backoff`, o.backoff);
  if (o.timeoutMs !== undefined) checkInt(issues, `${path}opts.timeoutMs`, o.timeoutMs, 1, MAX_TIMEOUT_MS);
  const completed = resolveRemove(issues, `${path}opts.removeOnComplete`, o.removeOnComplete);
  const dead = resolveRemove(issues, `${path}opts.removeOnFail`, o.removeOnFail);

  if (issues.list.length > before) return null;
  const retention: JobRetention = {
    completedKeepMs: completed.keepMs,
    completedKeepCount: completed.keepCount,
    deadKeepMs: dead.keepMs,
    deadKeepCount: dead.keepCount,
  };
  return {
    id: (o.id as string | undefined) ?? newJobId(),
    queue: ctx.queue,
    name: name as string,
    payload: payloadText!,
    priority,
    maxRetries: maxRetries as number,
    delayMs,
    runAt,
    uniqueKey: unique?.key ?? null,
    ...(unique?.mode ? { uniqueMode: unique.mode } : {}),
    group: (o.group as string | undefined) ?? null,
    timeoutMs: (o.timeoutMs as number | undefined) ?? null,
    backoff,
    retention,
  };
}

/** Longest group key. */
export const MAX_GROUP_CHARS = 128;

/** A group key: a string of 1..MAX_GROUP_CHARS characters. */
export function checkGroup(issues: Issues, path: string, value: unknown): boolean {
  if (typeof value === 'string' && value.length > 0 && value.length <= MAX_GROUP_CHARS) return true;
  issues.add(path, `must be a string of 1..${MAX_GROUP_CHARS} characters (got ${describe(value)})`);
  return false;
}

/** Merges queue defaults under per-job options (per-job wins; `id`/`uniqueKey`/`unique` are never defaulted). */
export function mergeOptions(defaults: JobOptions | undefined, opts: JobOptions | undefined): JobOptions | undefined {
  if (!defaults || (opts !== undefined && !isPlainObject(opts))) return opts;
  const { id: _id, uniqueKey: _key, unique: _unique, transaction: _tx, ...inheritable } = defaults;
  return { ...inheritable, ...(opts ?? {}) };
}
