/**
 * Validation of job filters and list parameters (job search and the DLQ), shared by every
 * listing entry point so they accept and reject exactly the same input.
 */
import type { JobFilter, ListJobsParams } from './backend/backend.js';
import { MAX_REASON_CHARS } from './backend/helpers.js';
import { JOB_STATES, type JobState } from './job/types.js';
import { checkDate, checkIdentifier, checkInt, checkJobId, checkKnownKeys, checkPlainObject, describe, Issues } from './validate.js';

export interface ListParams<F = JobFilter> {
  filter?: F;
  /** 1..1000, default 50. */
  limit?: number;
  cursor?: string | null;
  order?: 'newest' | 'oldest';
}

const FILTER_KEYS = ['queue', 'states', 'name', 'ids', 'createdAfter', 'createdBefore', 'payloadContains', 'errorContains', 'reason', 'resolved', 'failedAfter', 'failedBefore', 'parentId'];
const MAX_TEXT = 500;

/** Validates a filter; `allowStates` is false for DLQ filters (state is implied). */
export function checkFilter(issues: Issues, path: string, value: unknown, allowStates: boolean): JobFilter | null {
  if (!checkPlainObject(issues, path, value)) return null;
  const before = issues.list.length;
  checkKnownKeys(issues, path, value, allowStates ? FILTER_KEYS : FILTER_KEYS.filter((k) => k !== 'states'));
  const f: JobFilter = {};
  if (value.queue !== undefined && checkIdentifier(issues, `${path}.queue`, value.queue)) f.queue = value.queue;
  if (value.name !== undefined && checkIdentifier(issues, `${path}.name`, value.name)) f.name = value.name;
  if (value.states !== undefined) {
    if (!Array.isArray(value.states) || value.states.length === 0) issues.add(`${path}.states`, 'must be a non-empty array of states');
    else {
      // Index loops, not forEach: forEach skips the holes of sparse arrays.
      for (let i = 0; i < value.states.length; i++) {
        const s: unknown = value.states[i];
        if (!JOB_STATES.includes(s as JobState)) issues.add(`${path}.states[${i}]`, `must be one of ${JOB_STATES.join(', ')} (got ${describe(s)})`);
      }
      f.states = value.states as JobState[];
    }
  }
  if (value.ids !== undefined) {
    if (!Array.isArray(value.ids) || value.ids.length === 0 || value.ids.length > 1000) issues.add(`${path}.ids`, 'must be an array of 1..1000 job ids');
    else {
      for (let i = 0; i < value.ids.length; i++) checkJobId(issues, `${path}.ids[${i}]`, value.ids[i]);
      f.ids = value.ids as string[];
    }
  }
  for (const key of ['createdAfter', 'createdBefore', 'failedAfter', 'failedBefore'] as const) {
    if (value[key] === undefined) continue;
    const date = checkDate(issues, `${path}.${key}`, value[key]);
    if (date) f[key] = date;
  }
  for (const key of ['payloadContains', 'errorContains'] as const) {
    const text = value[key];
    if (text === undefined) continue;
    if (typeof text !== 'string' || text.length === 0 || text.length > MAX_TEXT) issues.add(`${path}.${key}`, `must be a string of 1..${MAX_TEXT} characters`);
    else f[key] = text;
  }
  if (value.reason !== undefined) {
    if (typeof value.reason !== 'string' || value.reason.length > MAX_REASON_CHARS) issues.add(`${path}.reason`, `must be a string of at most ${MAX_REASON_CHARS} characters ('' = no reason)`);
    else f.reason = value.reason;
  }
  if (value.parentId !== undefined && checkJobId(issues, `${path}.parentId`, value.parentId)) f.parentId = value.parentId;
  if (value.resolved !== undefined) {
    if (typeof value.resolved !== 'boolean') issues.add(`${path}.resolved`, 'must be a boolean');
    else f.resolved = value.resolved;
  }
  return issues.list.length > before ? null : f;
}

/** Validates list parameters and fills the defaults. Throws ValidationError. */
export function checkListParams(params: unknown, path: string, allowStates = false): ListJobsParams {
  const issues = new Issues();
  const p: Record<string, unknown> = checkPlainObject(issues, path, params) ? params : {};
  checkKnownKeys(issues, path, p, ['filter', 'limit', 'cursor', 'order']);
  const filter = p.filter === undefined ? {} : checkFilter(issues, 'filter', p.filter, allowStates);
  const limit = (p.limit ?? 50) as number;
  checkInt(issues, 'limit', limit, 1, 1000);
  if (p.cursor !== undefined && p.cursor !== null && (typeof p.cursor !== 'string' || p.cursor.length > 200)) issues.add('cursor', 'must be a cursor string from a previous page');
  if (p.order !== undefined && p.order !== 'newest' && p.order !== 'oldest') issues.add('order', "must be 'newest' or 'oldest'");
  issues.throwIfAny();
  return {
    filter: filter ?? {},
    limit,
    cursor: (p.cursor as string | null | undefined) ?? null,
    order: (p.order as 'newest' | 'oldest' | undefined) ?? 'newest',
  };
}

/** Validates `{ queue? }` parameters (counts, DLQ depth); returns the queue. Throws ValidationError. */
export function checkQueueParams(params: unknown, path: string): string | undefined {
  const issues = new Issues();
  if (!checkPlainObject(issues, path, params)) issues.throwIfAny();
  const p = params as Record<string, unknown>;
  checkKnownKeys(issues, path, p, ['queue']);
  if (p.queue !== undefined) checkIdentifier(issues, 'queue', p.queue);
  issues.throwIfAny();
  return p.queue as string | undefined;
}
