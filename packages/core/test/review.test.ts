// Regression tests from a correctness review: pure pieces the worker relies on to always
// produce an outcome (attempt error records, classifier answers, delays the backend can store),
// and runAt bounds.
import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import type { ClaimedJob } from '../src/backend/backend.js';
import { failureAction, toAttemptError } from '../src/job/outcome.js';
import { buildJobInsert } from '../src/job/options.js';
import { RetryAfterError, snooze } from '../src/errors.js';
import { Issues, MAX_DELAY_MS } from '../src/validate.js';
import { GroupCommit } from '../src/group-commit.js';
import { silentLogger } from '../src/logger.js';

function job(overrides: Partial<ClaimedJob> = {}): ClaimedJob {
  return {
    id: 'j1', queue: 'q', name: 'n', payload: {}, priority: 500, attempt: 1, maxRetries: 3, leaseToken: 't',
    leaseExpiresAt: new Date(), timeoutMs: null, backoff: { type: 'fixed', delayMs: 1000 }, round: 0, progress: null,
    createdAt: new Date(), runAt: new Date(), ...overrides,
  };
}
const base = { workerId: 'w1', cancelRequested: false };

describe('review: attempt error records never throw', () => {
  it('describes Errors with non-string names, messages and stacks', () => {
    const err = new Error('x');
    Object.assign(err, { name: 42, message: { detail: 'upstream said no' }, stack: { not: 'a string' } });
    const record = toAttemptError(err, 'error', { attempt: 1, round: 0 }, 'w');
    assert.equal(record.name, '42');
    assert.equal(record.message, '{"detail":"upstream said no"}');
    assert.equal(record.stack, undefined);
  });

  it('describes Errors whose properties are throwing getters', () => {
    const err = new Error('x');
    Object.defineProperty(err, 'message', { get() { throw new Error('getter'); } });
    Object.defineProperty(err, 'name', { get() { throw new Error('getter'); } });
    const record = toAttemptError(err, 'error', { attempt: 1, round: 0 }, 'w');
    assert.equal(record.name, 'Error');
    assert.equal(record.message, '');
  });

  it('describes thrown values that neither JSON nor String can convert', () => {
    const cyclic = Object.create(null) as Record<string, unknown>;
    cyclic.self = cyclic;
    const record = toAttemptError(cyclic, 'error', { attempt: 1, round: 0 }, 'w');
    assert.equal(record.name, 'NonErrorThrown');
    assert.equal(typeof record.message, 'string');
    assert.equal(toAttemptError(Symbol('s'), 'error', { attempt: 1, round: 0 }, 'w').message, 'Symbol(s)');
  });
});

describe('review: classifier answers and delays', () => {
  it('ignores a classifier answer that is not one of the documented shapes (default: retry with the backoff)', () => {
    for (const answer of [null, {}, { retryAfterMs: Number.NaN }, { retryAfterMs: -1 }, { snoozeMs: Number.NaN }, { snoozeMs: Infinity }, 'later', 7]) {
      const action = failureAction({ ...base, job: job(), error: new Error('e'), classifyError: () => answer as never });
      assert.equal(action.kind, 'retry', `answer ${JSON.stringify(answer)}`);
      assert.ok(action.kind === 'retry' && action.delayMs === 1000 && action.error.kind === 'error');
    }
  });

  it('only hands the backend whole, bounded delays', () => {
    const huge = failureAction({ ...base, job: job(), error: snooze(Number.MAX_VALUE) });
    assert.deepEqual(huge, { kind: 'snooze', delayMs: MAX_DELAY_MS });
    const fraction = failureAction({ ...base, job: job(), error: snooze(2.5) });
    assert.ok(fraction.kind === 'snooze' && Number.isInteger(fraction.delayMs));
    const retryAfter = failureAction({ ...base, job: job(), error: new RetryAfterError(1e300) });
    assert.ok(retryAfter.kind === 'retry' && retryAfter.delayMs === MAX_DELAY_MS);
    const classified = failureAction({ ...base, job: job(), error: new Error('e'), classifyError: () => ({ snoozeMs: 1e300 }) });
    assert.deepEqual(classified, { kind: 'snooze', delayMs: MAX_DELAY_MS });
  });
});

describe('review: cancel requests', () => {
  it('a cancel request wins over a snooze (a snoozed job would run again)', () => {
    const action = failureAction({ ...base, cancelRequested: true, job: job(), error: snooze(5000) });
    assert.equal(action.kind, 'cancel');
  });
});

describe('review: runAt bounds', () => {
  it('rejects a runAt no backend can store or beyond the longest delay', () => {
    for (const runAt of [new Date(-8.64e15), new Date(Date.now() + MAX_DELAY_MS + 60_000)]) {
      const issues = new Issues();
      assert.equal(buildJobInsert(issues, '', { queue: 'q', maxPayloadBytes: 1024, customBackoff: false }, 'n', 1, { runAt }), null);
      assert.deepEqual(issues.list.map((i) => i.path), ['opts.runAt']);
    }
    const ok = buildJobInsert(new Issues(), '', { queue: 'q', maxPayloadBytes: 1024, customBackoff: false }, 'n', 1, { runAt: new Date(0) });
    assert.equal(ok?.runAt?.getTime(), 0);
  });
});

describe('review: group commit on shutdown', () => {
  it('abandon() ends a pending retry sleep at once (no timer keeps a closed worker\'s process alive)', async () => {
    const turns = async (n: number) => {
      for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
    };
    mock.timers.enable({ apis: ['setTimeout'] }); // timers never fire unless ticked
    try {
      let writes = 0;
      const commit = new GroupCommit<number, string>({
        name: 'test',
        maxBatch: 10,
        onFailure: 'retry',
        logger: silentLogger,
        write: async () => {
          writes += 1;
          throw new Error('database down');
        },
      });
      const submitted = commit.submit(1).catch((err: unknown) => err);
      while (writes === 0) await turns(1); // the first write failed: drain sleeps before retrying
      await turns(5);
      commit.abandon(new Error('closed'));
      assert.match(String(await submitted), /closed/);
      const idle = await Promise.race([commit.idle().then(() => true), turns(50).then(() => false)]);
      assert.equal(idle, true, 'drain still sleeping on its retry timer after abandon()');
      assert.equal(writes, 1);
    } finally {
      mock.timers.reset();
    }
  });
});
