/**
 * Validation of queue limits and holds given at public entry points (client, HTTP, CLI): a bad
 * value is a ValidationError naming it, and nothing is written.
 *
 *   { concurrency: 5 }                              at most 5 running, across processes
 *   { rate: { max: 100, intervalMs: 60_000 } }      at most 100 started per sliding minute
 *   { concurrency: null, rate: null }               no limits
 *
 * The limits given replace the queue's limits: an omitted one is removed.
 */
import { MAX_HOLD_MS, MAX_QUEUE_LIMIT, MAX_RATE_INTERVAL_MS, MIN_RATE_INTERVAL_MS, type QueueLimits } from '../backend/queue-limits.js';
import { checkIdentifier, checkInt, checkKnownKeys, checkPlainObject, Issues } from '../validate.js';

export interface QueueLimitsInput {
  concurrency?: number | null;
  rate?: { max: number; intervalMs: number } | null;
}

export function checkQueueLimits(queue: unknown, input: unknown): { queue: string; limits: QueueLimits } {
  const issues = new Issues();
  checkIdentifier(issues, 'queue', queue);
  const limits: QueueLimits = { concurrency: null, rate: null };
  if (checkPlainObject(issues, 'limits', input)) {
    const o = input as Record<string, unknown>;
    checkKnownKeys(issues, 'limits', o, ['concurrency', 'rate']);
    if (o.concurrency !== undefined && o.concurrency !== null) {
      if (checkInt(issues, 'limits.concurrency', o.concurrency, 1, MAX_QUEUE_LIMIT)) limits.concurrency = o.concurrency as number;
    }
    if (o.rate !== undefined && o.rate !== null) {
      if (checkPlainObject(issues, 'limits.rate', o.rate)) {
        const r = o.rate as Record<string, unknown>;
        checkKnownKeys(issues, 'limits.rate', r, ['max', 'intervalMs']);
        const okMax = checkInt(issues, 'limits.rate.max', r.max, 1, MAX_QUEUE_LIMIT);
        const okInterval = checkInt(issues, 'limits.rate.intervalMs', r.intervalMs, MIN_RATE_INTERVAL_MS, MAX_RATE_INTERVAL_MS);
        if (okMax && okInterval) limits.rate = { max: r.max as number, intervalMs: r.intervalMs as number };
      }
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
