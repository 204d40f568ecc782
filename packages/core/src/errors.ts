/**
 * Spindle's error classes: the typed errors public entry points throw, and the control-flow
 * errors a job handler throws (or returns) to steer what happens to its attempt.
 *
 * Invariants:
 * - Every error Spindle throws at a caller extends `SpindleError` and carries a stable `code`
 *   (the HTTP API maps codes to statuses; callers can switch on them).
 * - Driver errors never cross the Backend seam bare: a backend wraps them (`BackendError`) with
 *   the original as `cause`.
 * - Handler control-flow errors (`PermanentError`, `RetryAfterError`, `SnoozeError`) are not
 *   failures of Spindle; they only choose the next state of the job.
 */

/** Stable machine-readable codes. Adding one is fine; renaming one is a breaking change. */
export type SpindleErrorCode =
  | 'validation_failed'
  | 'not_found'
  | 'lease_lost'
  | 'conflict'
  | 'closed'
  | 'backend_error'
  | 'migration_required'
  | 'timeout'
  | 'cancelled'
  | 'permanent'
  | 'retry_after'
  | 'snooze'
  | 'offset_out_of_range';

/** Base class of every error Spindle raises. */
export class SpindleError extends Error {
  readonly code: SpindleErrorCode;
  constructor(code: SpindleErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** One problem found in caller input: where (`path`, e.g. `opts.maxRetries`) and what. */
export interface ValidationIssue {
  path: string;
  message: string;
}

/**
 * Bad input at a public entry point. Thrown before anything is written, so a caller that gets
 * it knows the call changed nothing. The message names every offending field.
 */
export class ValidationError extends SpindleError {
  readonly issues: ValidationIssue[];
  constructor(issues: ValidationIssue[]) {
    super('validation_failed', issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    this.issues = issues;
  }
}

/** A job (or other resource) that does not exist. */
export class NotFoundError extends SpindleError {
  constructor(message: string) {
    super('not_found', message);
  }
}

/**
 * A write was refused because it carried a stale lease: another attempt (or the rescuer) owns
 * the job now. The handler's AbortSignal fires with this error as its reason.
 */
export class LeaseLostError extends SpindleError {
  readonly jobId: string;
  readonly attempt: number;
  constructor(jobId: string, attempt: number) {
    super('lease_lost', `lease lost for job ${jobId} attempt ${attempt}: another attempt owns the job`);
    this.jobId = jobId;
    this.attempt = attempt;
  }
}

/** A topic that does not exist (topics: publish, fetch, groups). */
export class TopicNotFoundError extends NotFoundError {
  readonly topic: string;
  constructor(topic: string) {
    super(`no topic named "${topic}"`);
    this.topic = topic;
  }
}

/**
 * A read or seek of a partition at an offset outside [startOffset, highWater]: below, the
 * messages were deleted by retention (read from `startOffset`); above, they do not exist yet.
 */
export class OffsetOutOfRangeError extends SpindleError {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    readonly startOffset: number,
    readonly highWater: number,
  ) {
    super(
      'offset_out_of_range',
      `offset ${offset} of ${topic}[${partition}] is out of range: available offsets are ${startOffset}..${highWater}` +
        (offset < startOffset ? ` (older messages were deleted by retention; the earliest is ${startOffset})` : ''),
    );
  }
}

/** The operation conflicts with the job's current state (e.g. replaying a job that is not dead). */
export class ConflictError extends SpindleError {
  constructor(message: string) {
    super('conflict', message);
  }
}

/** The client, worker or backend was closed. */
export class ClosedError extends SpindleError {
  constructor(what: string) {
    super('closed', `${what} is closed`);
  }
}

/** A database/driver failure, wrapped so the driver's error travels only as `cause`. */
export class BackendError extends SpindleError {
  constructor(message: string, cause?: unknown) {
    super('backend_error', message, { cause });
  }
}

/** The database schema is older than this code needs; run migrations (`spindle migrate`). */
export class MigrationRequiredError extends SpindleError {
  constructor(message: string) {
    super('migration_required', message);
  }
}

// ---------------------------------------------------------------------------------------------
// Handler control flow

/** Throw from a handler to fail the job for good: no retry, straight to the DLQ. */
export class PermanentError extends SpindleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('permanent', message, options);
  }
}

/**
 * Throw from a handler when the failure says when to try again (HTTP 429/503 `Retry-After`).
 * It is a failed attempt (recorded, and it spends one), but the next attempt runs after
 * `retryAfterMs` instead of the backoff delay.
 */
export class RetryAfterError extends SpindleError {
  readonly retryAfterMs: number;
  constructor(retryAfterMs: number, message = `retry after ${retryAfterMs} ms`, options?: { cause?: unknown }) {
    super('retry_after', message, options);
    if (!Number.isFinite(retryAfterMs) || retryAfterMs < 0) {
      throw new ValidationError([{ path: 'retryAfterMs', message: 'must be a finite number >= 0' }]);
    }
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Reschedules the job after `delayMs` without spending an attempt and without recording an
 * error. Create it with `snooze(ms)` and either `throw` or `return` it from the handler.
 */
export class SnoozeError extends SpindleError {
  readonly delayMs: number;
  constructor(delayMs: number) {
    super('snooze', `snoozed for ${delayMs} ms`);
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new ValidationError([{ path: 'delayMs', message: 'must be a finite number >= 0' }]);
    }
    this.delayMs = delayMs;
  }
}

/**
 * Throw from a handler when the service it calls is rate limiting (HTTP 429 with Retry-After):
 * the job is snoozed for `retryAfterMs` without spending an attempt, and the whole queue is held
 * for that long in every process (claims skip it), so the other jobs do not hit the limit too.
 * At most one day.
 */
export class RateLimitedError extends SnoozeError {
  constructor(readonly retryAfterMs: number) {
    super(retryAfterMs);
    if (retryAfterMs > 24 * 3600 * 1000) throw new ValidationError([{ path: 'retryAfterMs', message: 'must be at most one day (86400000 ms)' }]);
    this.message = `rate limited: retry after ${retryAfterMs} ms`;
  }
}

/** `return snooze(60_000)` (or `throw snooze(...)`) from a handler: try again later, free of charge. */
export function snooze(delayMs: number): SnoozeError {
  return new SnoozeError(delayMs);
}

/** The attempt ran past the job's `timeoutMs`. Retryable. The AbortSignal's reason. */
export class TimeoutError extends SpindleError {
  constructor(timeoutMs: number) {
    super('timeout', `job attempt timed out after ${timeoutMs} ms`);
  }
}

/** The job was cancelled while running. The AbortSignal's reason. */
export class CancelledError extends SpindleError {
  constructor(message = 'job cancelled') {
    super('cancelled', message);
  }
}
