/**
 * Retry delays: fixed and exponential backoff with jitter, and the validation of backoff specs.
 * The delay is computed once, when an attempt fails, and stored as the job's `runAt`.
 *
 * The seed's 10 s → 30 s → 90 s is `{ type: 'exponential', delayMs: 10_000, factor: 3 }`
 * (jitter ±10 % by default; add `jitter: 'none'` for the exact figures).
 */
import type { BackoffSpec, Jitter } from './types.js';
import { checkKnownKeys, checkNumber, checkPlainObject, describe, type Issues, MAX_DELAY_MS } from '../validate.js';

/** Default: exponential from 1 s, doubling, capped at 1 h, ±10 % jitter. */
export const DEFAULT_BACKOFF: BackoffSpec = {
  type: 'exponential',
  delayMs: 1000,
  factor: 2,
  maxDelayMs: 3_600_000,
  jitter: 0.1,
};

/** Base delay before jitter, for the attempt that just failed (1-based). */
export function baseDelay(spec: Exclude<BackoffSpec, { type: 'custom' }>, failedAttempt: number): number {
  if (spec.type === 'fixed') return spec.delayMs;
  const factor = spec.factor ?? 2;
  const raw = spec.delayMs * factor ** Math.max(0, failedAttempt - 1);
  const capped = Math.min(raw, spec.maxDelayMs ?? MAX_DELAY_MS);
  return Number.isFinite(capped) ? capped : spec.maxDelayMs ?? MAX_DELAY_MS;
}

/** Applies jitter to a delay. `random` is injectable for tests; returns whole milliseconds. */
export function applyJitter(delayMs: number, jitter: Jitter | undefined, random: () => number = Math.random): number {
  let value: number;
  if (jitter === undefined || jitter === 'none') value = delayMs;
  else if (jitter === 'full') value = random() * delayMs;
  else if (jitter === 'equal') value = delayMs / 2 + random() * (delayMs / 2);
  else value = delayMs * (1 - jitter + random() * 2 * jitter);
  return Math.max(0, Math.round(value));
}

/** The delay before the next attempt after `failedAttempt` failed, for a stored spec. */
export function computeBackoff(spec: BackoffSpec | null, failedAttempt: number, random?: () => number): number {
  const effective = spec === null || spec.type === 'custom' ? DEFAULT_BACKOFF : spec;
  if (effective.type === 'custom') return 0;
  return applyJitter(baseDelay(effective, failedAttempt), effective.jitter, random);
}

const JITTER_NAMES = ['none', 'full', 'equal'];

function checkJitter(issues: Issues, path: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value === 'string' && JITTER_NAMES.includes(value)) return;
  if (typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= 1) return;
  issues.add(path, `must be 'none', 'full', 'equal' or a ratio in (0, 1] (got ${describe(value)})`);
}

/** Validates a caller's backoff option; returns the spec to store, or null after recording issues. */
export function checkBackoff(issues: Issues, path: string, value: unknown): BackoffSpec | null {
  if (!checkPlainObject(issues, path, value)) return null;
  const before = issues.list.length;
  if (value.type === 'fixed') {
    checkKnownKeys(issues, path, value, ['type', 'delayMs', 'jitter']);
    checkNumber(issues, `${path}.delayMs`, value.delayMs, 0, MAX_DELAY_MS);
    checkJitter(issues, `${path}.jitter`, value.jitter);
  } else if (value.type === 'exponential') {
    checkKnownKeys(issues, path, value, ['type', 'delayMs', 'factor', 'maxDelayMs', 'jitter']);
    checkNumber(issues, `${path}.delayMs`, value.delayMs, 0, MAX_DELAY_MS);
    if (value.factor !== undefined) checkNumber(issues, `${path}.factor`, value.factor, 1, 100);
    if (value.maxDelayMs !== undefined) checkNumber(issues, `${path}.maxDelayMs`, value.maxDelayMs, 0, MAX_DELAY_MS);
    checkJitter(issues, `${path}.jitter`, value.jitter);
  } else if (value.type === 'custom') {
    checkKnownKeys(issues, path, value, ['type']);
  } else {
    issues.add(`${path}.type`, `must be 'fixed', 'exponential' or 'custom' (got ${describe(value.type)})`);
  }
  if (issues.list.length > before) return null;
  const spec = { ...value } as Record<string, unknown>;
  for (const key of Object.keys(spec)) if (spec[key] === undefined) delete spec[key];
  return spec as BackoffSpec;
}
