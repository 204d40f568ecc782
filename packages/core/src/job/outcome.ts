/**
 * Decides what a failed attempt becomes (DESIGN §4): retry after a backoff, dead (the DLQ),
 * snoozed, or cancelled — from the thrown value, the queue's `classifyError` hook, the job's
 * remaining attempts and its backoff. Pure: no I/O, so it is unit-tested directly.
 *
 * Invariant: a job never gets more than `maxRetries + 1` attempts in a round — when none is
 * left every retryable outcome becomes `dead`.
 */
import type { ClaimedJob, FinalizeAction } from '../backend/backend.js';
import { MAX_REASON_CHARS, MAX_STACK_BYTES } from '../backend/helpers.js';
import { CancelledError, PermanentError, RetryAfterError, SnoozeError, TimeoutError } from '../errors.js';
import type { AttemptError, AttemptErrorKind } from './types.js';
import { computeBackoff } from './backoff.js';
import { MAX_DELAY_MS } from '../validate.js';

/** What `classifyError` may answer for a foreign error; `undefined` = default handling (retry). */
export type ErrorClassification = 'retry' | 'permanent' | { retryAfterMs: number } | { snoozeMs: number };

/** The part of a job that hooks may look at. */
export type JobInfo = Pick<ClaimedJob, 'id' | 'queue' | 'name' | 'payload' | 'attempt' | 'maxRetries' | 'round'>;

/** Maps errors the handler did not create (HTTP clients, drivers…) into Spindle's taxonomy. */
export type ErrorClassifier = (error: unknown, job: JobInfo) => ErrorClassification | undefined;

/** A queue's custom backoff: ms to wait after `attempt` (1-based) failed with `error`. */
export type BackoffFunction = (attempt: number, error: unknown, job: JobInfo) => number;

const MAX_MESSAGE_CHARS = 2000;

function capBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let cut = text.slice(0, maxBytes);
  while (Buffer.byteLength(cut, 'utf8') > maxBytes) cut = cut.slice(0, -1);
  return cut;
}

/** Text for any value; never throws (cycles, null-prototype objects, throwing toJSON/toString…). */
function describeValue(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json;
  } catch {
    // not JSON: fall through
  }
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Reads a property that may be a throwing getter. */
function readProperty(value: object, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** Describes any thrown value as an attempt error record. Never throws: a job's outcome depends on it. */
export function toAttemptError(error: unknown, kind: AttemptErrorKind, job: Pick<ClaimedJob, 'attempt' | 'round'>, workerId: string | null): AttemptError {
  let name = 'Error';
  let message: string;
  let stack: string | undefined;
  if (error instanceof Error) {
    const rawName = readProperty(error, 'name');
    const rawMessage = readProperty(error, 'message');
    const rawStack = readProperty(error, 'stack');
    name = rawName === undefined || rawName === '' ? 'Error' : describeValue(rawName);
    message = rawMessage === undefined ? '' : describeValue(rawMessage);
    stack = typeof rawStack === 'string' ? rawStack : undefined;
  } else {
    name = 'NonErrorThrown';
    message = describeValue(error);
  }
  const record: AttemptError = {
    attempt: job.attempt,
    round: job.round,
    kind,
    name: name.slice(0, 200),
    message: message.slice(0, MAX_MESSAGE_CHARS),
    workerId,
    at: Date.now(),
  };
  if (stack) record.stack = capBytes(stack, MAX_STACK_BYTES);
  return record;
}

/** The DLQ grouping key: `Name: first line of the message`, at most 200 characters. */
export function failureReason(error: AttemptError): string {
  const firstLine = error.message.split('\n', 1)[0] ?? '';
  return `${error.name}: ${firstLine}`.slice(0, MAX_REASON_CHARS);
}

export interface FailureContext {
  job: ClaimedJob;
  error: unknown;
  workerId: string | null;
  /** A cancel was requested and the handler was told to stop. */
  cancelRequested: boolean;
  classifyError?: ErrorClassifier | undefined;
  backoff?: BackoffFunction | undefined;
  random?: () => number;
}

/** A delay the backend can store: a whole number of ms in [0, MAX_DELAY_MS] (NaN → 0). */
export function clampDelay(ms: number): number {
  if (Number.isNaN(ms)) return 0;
  return Math.round(Math.max(0, Math.min(ms, MAX_DELAY_MS)));
}

function isDelay(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/** The classifier's answer if it is one of the documented shapes, else undefined (default handling). */
function validClassification(answer: unknown): ErrorClassification | undefined {
  if (answer === 'retry' || answer === 'permanent') return answer;
  if (typeof answer !== 'object' || answer === null) return undefined;
  if ('retryAfterMs' in answer && isDelay(answer.retryAfterMs)) return { retryAfterMs: answer.retryAfterMs };
  if ('snoozeMs' in answer && isDelay(answer.snoozeMs)) return { snoozeMs: answer.snoozeMs };
  return undefined;
}

function classify(ctx: FailureContext): ErrorClassification {
  const { error } = ctx;
  if (error instanceof PermanentError) return 'permanent';
  if (error instanceof RetryAfterError) return { retryAfterMs: error.retryAfterMs };
  if (error instanceof TimeoutError) return 'retry';
  if (ctx.classifyError) {
    try {
      // A broken classifier (one that throws, or answers null, NaN delays…) must not lose the
      // job: its answer is ignored and the default (retry) applies.
      const answer = validClassification(ctx.classifyError(error, ctx.job));
      if (answer !== undefined) return answer;
    } catch {
      // fall back to the default (retry)
    }
  }
  return 'retry';
}

function kindOf(ctx: FailureContext, classification: ErrorClassification): AttemptErrorKind {
  if (ctx.error instanceof TimeoutError) return 'timeout';
  if (classification === 'permanent') return 'permanent';
  if (typeof classification === 'object' && 'retryAfterMs' in classification) return 'retry_after';
  return 'error';
}

function retryDelay(ctx: FailureContext): number {
  const { job } = ctx;
  if (job.backoff?.type === 'custom' && ctx.backoff) {
    try {
      const ms = ctx.backoff(job.attempt, ctx.error, job);
      if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) return Math.min(Math.round(ms), MAX_DELAY_MS);
    } catch {
      // fall through to the default backoff
    }
  }
  return computeBackoff(job.backoff, job.attempt, ctx.random);
}

/** The finalize action for an attempt whose handler threw (or returned a snooze). */
export function failureAction(ctx: FailureContext): FinalizeAction {
  const { job, error } = ctx;
  // A cancel request wins over everything but a completion (decision 0003), a snooze included:
  // a snoozed job would run again.
  if (ctx.cancelRequested) {
    const cancelError = error instanceof CancelledError ? error : new CancelledError();
    return { kind: 'cancel', error: toAttemptError(cancelError, 'cancelled', job, ctx.workerId) };
  }
  if (error instanceof SnoozeError) return { kind: 'snooze', delayMs: clampDelay(error.delayMs) };
  const classification = classify(ctx);
  if (typeof classification === 'object' && 'snoozeMs' in classification) {
    return { kind: 'snooze', delayMs: clampDelay(classification.snoozeMs) };
  }
  const attemptError = toAttemptError(error, kindOf(ctx, classification), job, ctx.workerId);
  const attemptsLeft = job.attempt < job.maxRetries + 1;
  if (classification === 'permanent' || !attemptsLeft) {
    return { kind: 'dead', error: attemptError, reason: failureReason(attemptError) };
  }
  const delayMs = typeof classification === 'object' ? clampDelay(classification.retryAfterMs) : retryDelay(ctx);
  return { kind: 'retry', error: attemptError, delayMs };
}
