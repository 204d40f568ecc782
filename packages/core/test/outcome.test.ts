import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClaimedJob } from '../src/backend/backend.js';
import { failureAction, failureReason, toAttemptError } from '../src/job/outcome.js';
import { CancelledError, PermanentError, RetryAfterError, snooze, TimeoutError } from '../src/errors.js';

function job(overrides: Partial<ClaimedJob> = {}): ClaimedJob {
  return {
    id: 'j1', queue: 'q', name: 'n', payload: {}, priority: 500, attempt: 1, maxRetries: 3, leaseToken: 't',
    leaseExpiresAt: new Date(), timeoutMs: null, backoff: { type: 'fixed', delayMs: 1000 }, round: 0, progress: null,
    createdAt: new Date(), runAt: new Date(), ...overrides,
  };
}
const base = { workerId: 'w1', cancelRequested: false };

describe('failure outcome', () => {
  it('retries an ordinary error with the backoff while attempts remain', () => {
    const action = failureAction({ ...base, job: job({ attempt: 2 }), error: new TypeError('boom') });
    assert.equal(action.kind, 'retry');
    assert.ok(action.kind === 'retry' && action.delayMs === 1000 && action.error.kind === 'error' && action.error.name === 'TypeError');
  });

  it('sends the job to the DLQ when the last attempt fails (maxRetries + 1 attempts)', () => {
    const action = failureAction({ ...base, job: job({ attempt: 4, maxRetries: 3 }), error: new Error('still broken') });
    assert.equal(action.kind, 'dead');
    assert.ok(action.kind === 'dead' && action.reason === 'Error: still broken');
  });

  it('never retries a PermanentError', () => {
    const action = failureAction({ ...base, job: job({ attempt: 1 }), error: new PermanentError('corrupt file') });
    assert.ok(action.kind === 'dead' && action.error.kind === 'permanent' && action.reason === 'PermanentError: corrupt file');
  });

  it('uses the RetryAfterError delay instead of the backoff and spends an attempt', () => {
    const action = failureAction({ ...base, job: job(), error: new RetryAfterError(7000) });
    assert.ok(action.kind === 'retry' && action.delayMs === 7000 && action.error.kind === 'retry_after');
    const last = failureAction({ ...base, job: job({ attempt: 4 }), error: new RetryAfterError(7000) });
    assert.equal(last.kind, 'dead');
  });

  it('snoozes without an error record, even on the last attempt', () => {
    const action = failureAction({ ...base, job: job({ attempt: 4 }), error: snooze(5000) });
    assert.deepEqual(action, { kind: 'snooze', delayMs: 5000 });
  });

  it('records a timeout as a retryable attempt of kind timeout', () => {
    const action = failureAction({ ...base, job: job(), error: new TimeoutError(100) });
    assert.ok(action.kind === 'retry' && action.error.kind === 'timeout');
  });

  it('turns any failure into a cancellation once a cancel was requested', () => {
    const action = failureAction({ ...base, cancelRequested: true, job: job(), error: new Error('aborted') });
    assert.ok(action.kind === 'cancel' && action.error?.kind === 'cancelled');
    assert.ok(failureAction({ ...base, cancelRequested: true, job: job(), error: new CancelledError() }).kind === 'cancel');
  });

  it('lets classifyError map foreign errors (4xx permanent, 429 retry-after, snooze)', () => {
    class HttpError extends Error {
      constructor(readonly status: number) { super(`HTTP ${status}`); }
    }
    const classifyError = (e: unknown) => {
      if (!(e instanceof HttpError)) return undefined;
      if (e.status === 429) return { retryAfterMs: 30_000 };
      if (e.status === 423) return { snoozeMs: 1000 };
      return e.status < 500 ? 'permanent' as const : 'retry' as const;
    };
    assert.equal(failureAction({ ...base, job: job(), error: new HttpError(404), classifyError }).kind, 'dead');
    const limited = failureAction({ ...base, job: job(), error: new HttpError(429), classifyError });
    assert.ok(limited.kind === 'retry' && limited.delayMs === 30_000);
    assert.deepEqual(failureAction({ ...base, job: job(), error: new HttpError(423), classifyError }), { kind: 'snooze', delayMs: 1000 });
    assert.equal(failureAction({ ...base, job: job(), error: new HttpError(503), classifyError }).kind, 'retry');
    const throwing = () => { throw new Error('classifier bug'); };
    assert.equal(failureAction({ ...base, job: job(), error: new HttpError(404), classifyError: throwing }).kind, 'retry');
  });

  it('asks the queue backoff function for custom specs and falls back on bad answers', () => {
    const custom = job({ backoff: { type: 'custom' }, attempt: 2 });
    const a = failureAction({ ...base, job: custom, error: new Error('x'), backoff: (attempt) => attempt * 111 });
    assert.ok(a.kind === 'retry' && a.delayMs === 222);
    const b = failureAction({ ...base, job: custom, error: new Error('x'), backoff: () => NaN, random: () => 0.5 });
    assert.ok(b.kind === 'retry' && b.delayMs === 2000);
  });

  it('describes non-Error throws and caps stacks at 4 KiB', () => {
    const e = toAttemptError('plain string', 'error', job(), 'w');
    assert.equal(e.name, 'NonErrorThrown');
    assert.equal(e.message, 'plain string');
    const big = new Error('big');
    big.stack = 'x'.repeat(10_000);
    assert.equal(Buffer.byteLength(toAttemptError(big, 'error', job(), 'w').stack!), 4096);
    assert.equal(failureReason({ ...e, name: 'E', message: 'line one\nline two' }), 'E: line one');
  });
});
