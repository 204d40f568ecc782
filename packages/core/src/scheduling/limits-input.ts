/**
 * Validation of queue limits and holds given at public entry points (client, HTTP, CLI): a bad
 * value is a ValidationError naming it, and nothing is written.
 *
 *   { concurrency: 5 }                              at most 5 running, across processes
 *   { rate: { max: 100, intervalMs: 60_000 } }      at most 100 started per sliding minute
 *   { groupConcurrency: 2 }                         at most 2 running per group
 *   { groupRate: { max: 10, intervalMs: 1000 } }    at most 10 started per group per second
 *   { fifo: true }                                  one job per group in flight, in order
 *   { concurrency: null, rate: null }               no limits
 *
 * The limits given replace the queue's limits: an omitted one is removed.
 */
import { MAX_HOLD_MS, MAX_QUEUE_LIMIT, MAX_RATE_INTERVAL_MS, MIN_RATE_INTERVAL_MS, NO_QUEUE_LIMITS, type QueueLimits } from '../backend/queue-limits.js';
import { checkIdentifier, checkInt, checkKnownKeys, checkPlainObject, describe, Issues } from '../validate.js';

export interface QueueLimitsInput {
  concurrency?: number | null;
  rate?: { max: number; intervalMs: number } | null;
  groupConcurrency?: number | null;
  groupRate?: { max: number; intervalMs: number } | null;
  fifo?: boolean;
}

function checkRate(issues: Issues, path: string, value: unknown): QueueLimits['rate'] {
  if (value === undefined || value === null || !checkPlainObject(issues, path, value)) return null;
  const r = value as Record<string, unknown>;
  checkKnownKeys(issues, path, r, ['max', 'intervalMs']);
  const okMax = checkInt(issues, `${path}.max`, r.max, 1, MAX_QUEUE_LIMIT);
  const okInterval = checkInt(issues, `${path}.intervalMs`, r.intervalMs, MIN_RATE_INTERVAL_MS, MAX_RATE_INTERVAL_MS);
  return okMax && okInterval ? { max: r.max as number, intervalMs: r.intervalMs as number } : null;
}

export function checkQueueLimits(queue: unknown, input: unknown): { queue: string; limits: QueueLimits } {
  const issues = new Issues();
  checkIdentifier(issues, 'queue', queue);
  const limits: QueueLimits = { ...NO_QUEUE_LIMITS };
  if (checkPlainObject(issues, 'limits', input)) {
    const o = input as Record<string, unknown>;
    checkKnownKeys(issues, 'limits', o, ['concurrency', 'rate', 'groupConcurrency', 'groupRate', 'fifo']);
    if (o.concurrency !== undefined && o.concurrency !== null) {
      if (checkInt(issues, 'limits.concurrency', o.concurrency, 1, MAX_QUEUE_LIMIT)) limits.concurrency = o.concurrency as number;
    }
    limits.rate = checkRate(issues, 'limits.rate', o.rate);
    if (o.groupConcurrency !== undefined && o.groupConcurrency !== null) {
      if (checkInt(issues, 'limits.groupConcurrency', o.groupConcurrency, 1, MAX_QUEUE_LIMIT)) limits.groupConcurrency = o.groupConcurrency as number;
    }
    limits.groupRate = checkRate(issues, 'limits.groupRate', o.groupRate);
    if (o.fifo !== undefined && typeof o.fifo !== 'boolean') issues.add('limits.fifo', `must be a boolean (got ${describe(o.fifo)})`);
    else limits.fifo = o.fifo === true;
    if (limits.fifo && limits.groupConcurrency !== null && limits.groupConcurrency !== 1) {
      issues.add('limits.groupConcurrency', 'must be 1 or absent with fifo (fifo is one job per group in flight)');
    }
  }
  issues.throwIfAny();
  return { queue: queue as string, limits };
}

export function checkHold(queue: unknown, delayMs: unknown): { queue: string; delayMs: number } {
  const issues = new Issues();
  checkIdentifier(issues, 'queue', queue);
  checkInt(issues, 'delayMs', delayMs, 0, MAX_HOLD_MS);
  issues.throwIfAny();
  return { queue: queue as string, delayMs: delayMs as number };
}
