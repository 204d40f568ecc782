/**
 * Input checks of the store capabilities (stores.ts): the worker registry, idempotency keys and
 * throughput counters. Unlike the job operations, whose input the core validates before a
 * backend sees it, these methods are also called straight from the HTTP server, so the backends
 * run these checks themselves, first thing: a bad call is a ValidationError naming every
 * offending field and writes nothing. The client runs them too, before it touches a backend.
 *
 * Each check returns the params normalized for SQL: dates as epoch ms, stats minutes floored to
 * the minute, `meta` verified to be a JSON object of at most MAX_WORKER_META_BYTES.
 */
import { ValidationError } from '../errors.js';
import { checkDate, checkIdentifier, checkInt, checkKnownKeys, checkPlainObject, describe, isPlainObject, Issues } from '../validate.js';
import {
  STATS_FIELDS,
  WORKER_KINDS,
  type ClaimIdempotencyKeyParams,
  type ListWorkersParams,
  type PruneStoresParams,
  type ReadStatsParams,
  type RecordStatsParams,
  type StatsCounts,
  type UpsertWorkersParams,
  type WorkerKind,
} from './stores.js';

export const MINUTE_MS = 60_000;
const DAY_MS = 24 * 3600 * 1000;
export const MAX_WORKERS_PER_UPSERT = 1000;
export const MAX_WORKER_META_BYTES = 4096;
export const MAX_STATS_ROWS = 10_000;
/** Longest range of one `readStats` call. */
export const MAX_STATS_RANGE_MS = 31 * DAY_MS;
export const MAX_IDEMPOTENCY_TTL_MS = 365 * DAY_MS;
/** Largest count of one stats delta (a per-minute figure; anything larger is a bug). */
const MAX_COUNT = 1_000_000_000;

const PRINTABLE = /^[\x20-\x7e]+$/;
const VISIBLE = /^[\x21-\x7e]+$/;
const NO_CONTROL = /^[^\x00-\x1f\x7f]+$/;
/** Worker ids: any text but NUL (as WorkerOptions.workerId; PostgreSQL text cannot hold NUL). */
const ANY = /^[^\x00]+$/;

/** The start (epoch ms) of the UTC minute containing `ms`. */
export function minuteStart(ms: number): number {
  return Math.floor(ms / MINUTE_MS) * MINUTE_MS;
}

function checkText(issues: Issues, path: string, value: unknown, max: number, re: RegExp, what: string): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || !re.test(value)) {
    issues.add(path, `must be 1..${max} ${what} (got ${describe(value)})`);
    return false;
  }
  return true;
}

function checkNow(issues: Issues, params: Record<string, unknown>): number | null {
  if (params.now === undefined) return null;
  if (!(params.now instanceof Date) || Number.isNaN(params.now.getTime())) {
    issues.add('now', `must be a valid Date (got ${describe(params.now)})`);
    return null;
  }
  return params.now.getTime();
}

function paramsObject(issues: Issues, value: unknown, keys: readonly string[]): Record<string, unknown> {
  if (!checkPlainObject(issues, 'params', value)) throw new ValidationError(issues.list);
  checkKnownKeys(issues, 'params', value, keys);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Worker registry

export interface CheckedWorker {
  id: string;
  queue: string;
  host: string;
  pid: number | null;
  concurrency: number;
  busy: number;
  kind: WorkerKind;
  meta: string | null;
}

export function checkUpsertWorkers(params: UpsertWorkersParams): { workers: CheckedWorker[]; now: number | null } {
  const issues = new Issues();
  const p = paramsObject(issues, params, ['workers', 'now']);
  const now = checkNow(issues, p);
  const workers: CheckedWorker[] = [];
  if (!Array.isArray(p.workers) || p.workers.length === 0 || p.workers.length > MAX_WORKERS_PER_UPSERT) {
    issues.add('workers', `must be an array of 1..${MAX_WORKERS_PER_UPSERT} workers`);
  } else {
    const seen = new Set<string>();
    for (let i = 0; i < p.workers.length; i++) {
      const w: unknown = p.workers[i];
      const path = `workers[${i}]`;
      if (!checkPlainObject(issues, path, w)) continue;
      checkKnownKeys(issues, path, w, ['id', 'queue', 'host', 'pid', 'concurrency', 'busy', 'kind', 'meta']);
      const before = issues.list.length;
      if (checkText(issues, `${path}.id`, w.id, 200, ANY, 'characters other than NUL')) {
        if (seen.has(w.id)) issues.add(`${path}.id`, `${JSON.stringify(w.id)} appears twice`);
        seen.add(w.id);
      }
      checkIdentifier(issues, `${path}.queue`, w.queue);
      checkText(issues, `${path}.host`, w.host, 255, NO_CONTROL, 'characters without control characters');
      const pid = w.pid ?? null;
      if (pid !== null) checkInt(issues, `${path}.pid`, pid, 0, 2 ** 31 - 1);
      const concurrency = checkInt(issues, `${path}.concurrency`, w.concurrency, 1, 100_000);
      if (concurrency) checkInt(issues, `${path}.busy`, w.busy, 0, w.concurrency as number);
      if (!(WORKER_KINDS as readonly unknown[]).includes(w.kind)) issues.add(`${path}.kind`, `must be one of ${WORKER_KINDS.join(', ')} (got ${describe(w.kind)})`);
      const meta = w.meta ?? null;
      if (meta !== null) checkMeta(issues, `${path}.meta`, meta);
      if (issues.list.length === before) {
        const { id, queue, host, concurrency: c, busy, kind } = w as unknown as CheckedWorker;
        workers.push({ id, queue, host, pid: pid as number | null, concurrency: c, busy, kind, meta: meta as string | null });
      }
    }
  }
  issues.throwIfAny();
  return { workers, now };
}

function checkMeta(issues: Issues, path: string, meta: unknown): void {
  if (typeof meta !== 'string') {
    issues.add(path, `must be JSON text of an object, or null (got ${describe(meta)})`);
    return;
  }
  if (Buffer.byteLength(meta, 'utf8') > MAX_WORKER_META_BYTES) {
    issues.add(path, `is over the ${MAX_WORKER_META_BYTES}-byte limit`);
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(meta);
  } catch {
    issues.add(path, 'is not valid JSON text');
    return;
  }
  if (!isPlainObject(parsed)) issues.add(path, `must be JSON text of an object (got ${describe(parsed)})`);
}

export function checkRemoveWorkers(params: { ids: string[] }): { ids: string[] } {
  const issues = new Issues();
  const p = paramsObject(issues, params, ['ids']);
  if (!Array.isArray(p.ids) || p.ids.length === 0 || p.ids.length > MAX_WORKERS_PER_UPSERT) {
    issues.add('ids', `must be an array of 1..${MAX_WORKERS_PER_UPSERT} worker ids`);
  } else {
    for (let i = 0; i < p.ids.length; i++) checkText(issues, `ids[${i}]`, p.ids[i], 200, ANY, 'characters other than NUL');
  }
  issues.throwIfAny();
  return { ids: p.ids as string[] };
}

export function checkListWorkers(params: ListWorkersParams | undefined): { queue: string | null; seenWithinMs: number | null; now: number | null } {
  const issues = new Issues();
  const p = paramsObject(issues, params ?? {}, ['queue', 'seenWithinMs', 'now']);
  const now = checkNow(issues, p);
  if (p.queue !== undefined) checkIdentifier(issues, 'queue', p.queue);
  if (p.seenWithinMs !== undefined) checkInt(issues, 'seenWithinMs', p.seenWithinMs, 0, 365 * DAY_MS);
  issues.throwIfAny();
  return { queue: (p.queue as string | undefined) ?? null, seenWithinMs: (p.seenWithinMs as number | undefined) ?? null, now };
}

// ---------------------------------------------------------------------------------------------
// Idempotency keys

export function checkClaimIdempotencyKey(params: ClaimIdempotencyKeyParams): {
  scope: string;
  key: string;
  requestHash: string;
  ttlMs: number;
  now: number | null;
} {
  const issues = new Issues();
  const p = paramsObject(issues, params, ['scope', 'key', 'requestHash', 'ttlMs', 'now']);
  const now = checkNow(issues, p);
  checkText(issues, 'scope', p.scope, 200, PRINTABLE, 'printable ASCII characters');
  checkText(issues, 'key', p.key, 255, PRINTABLE, 'printable ASCII characters');
  checkText(issues, 'requestHash', p.requestHash, 200, VISIBLE, 'visible ASCII characters');
  checkInt(issues, 'ttlMs', p.ttlMs, 1, MAX_IDEMPOTENCY_TTL_MS);
  issues.throwIfAny();
  return { scope: p.scope as string, key: p.key as string, requestHash: p.requestHash as string, ttlMs: p.ttlMs as number, now };
}

// ---------------------------------------------------------------------------------------------
// Throughput counters

export interface CheckedStatsDelta extends StatsCounts {
  queue: string;
  /** Start of the minute (epoch ms), or null for the minute of `now`. */
  minute: number | null;
}

export function checkRecordStats(params: RecordStatsParams): { rows: CheckedStatsDelta[]; now: number | null } {
  const issues = new Issues();
  const p = paramsObject(issues, params, ['rows', 'now']);
  const now = checkNow(issues, p);
  const rows: CheckedStatsDelta[] = [];
  if (!Array.isArray(p.rows) || p.rows.length === 0 || p.rows.length > MAX_STATS_ROWS) {
    issues.add('rows', `must be an array of 1..${MAX_STATS_ROWS} rows`);
  } else {
    for (let i = 0; i < p.rows.length; i++) {
      const r: unknown = p.rows[i];
      const path = `rows[${i}]`;
      if (!checkPlainObject(issues, path, r)) continue;
      checkKnownKeys(issues, path, r, ['queue', 'minute', ...STATS_FIELDS]);
      const before = issues.list.length;
      checkIdentifier(issues, `${path}.queue`, r.queue);
      let minute: number | null = null;
      if (r.minute !== undefined) {
        if (r.minute instanceof Date && !Number.isNaN(r.minute.getTime())) minute = minuteStart(r.minute.getTime());
        else issues.add(`${path}.minute`, `must be a valid Date (got ${describe(r.minute)})`);
      }
      const counts = {} as StatsCounts;
      for (const field of STATS_FIELDS) {
        const value = r[field] ?? 0;
        if (checkInt(issues, `${path}.${field}`, value, 0, MAX_COUNT)) counts[field] = value;
      }
      if (issues.list.length === before) rows.push({ queue: r.queue as string, minute, ...counts });
    }
  }
  issues.throwIfAny();
  return { rows, now };
}

export function checkReadStats(params: ReadStatsParams): { queue: string | null; from: number; to: number } {
  const issues = new Issues();
  const p = paramsObject(issues, params, ['queue', 'from', 'to']);
  if (p.queue !== undefined) checkIdentifier(issues, 'queue', p.queue);
  const from = checkDate(issues, 'from', p.from);
  const to = checkDate(issues, 'to', p.to);
  if (from && to) {
    if (to.getTime() <= from.getTime()) issues.add('to', 'must be later than from');
    else if (to.getTime() - minuteStart(from.getTime()) > MAX_STATS_RANGE_MS) issues.add('to', `must be at most 31 days after from`);
  }
  issues.throwIfAny();
  return { queue: (p.queue as string | undefined) ?? null, from: minuteStart(from!.getTime()), to: to!.getTime() };
}

export function checkPruneStores(params: PruneStoresParams): { workerExpiryMs: number | null; statsRetentionMs: number | null; limit: number; now: number | null } {
  const issues = new Issues();
  const p = paramsObject(issues, params, ['workerExpiryMs', 'statsRetentionMs', 'limit', 'now']);
  const now = checkNow(issues, p);
  if (p.workerExpiryMs !== null) checkInt(issues, 'workerExpiryMs', p.workerExpiryMs, 0, 100 * 365 * DAY_MS);
  if (p.statsRetentionMs !== null) checkInt(issues, 'statsRetentionMs', p.statsRetentionMs, 0, 100 * 365 * DAY_MS);
  checkInt(issues, 'limit', p.limit, 1, 100_000);
  issues.throwIfAny();
  return {
    workerExpiryMs: p.workerExpiryMs as number | null,
    statsRetentionMs: p.statsRetentionMs as number | null,
    limit: p.limit as number,
    now,
  };
}
