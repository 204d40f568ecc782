/**
 * finalizeJobs, one action at a time (backend-semantics.md, the finalize table): complete,
 * retry (delayed → retrying, then promoted; delay <= 0 → queued at once), dead, snooze and
 * release (both give the attempt back), cancel (with and without an error). Each clears the
 * lease; errors are appended in order and only the newest MAX_ERRORS_KEPT are kept.
 */
import assert from 'node:assert/strict';
import { MAX_ERRORS_KEPT } from '@spindle/core';
import type { Suite } from '../suite.js';
import {
  KEEP_FOREVER,
  attemptError,
  claimOne,
  finalizeOne,
  insertAndClaim,
  insertOne,
  leaseOf,
  mustGet,
} from './fixtures.js';

export function finalizeTests(suite: Suite): void {
  suite.group('finalizeJobs', () => {
    suite.test('completes a running job: result stored, finishedAt = now, lease cleared, no error', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      assert.equal(await finalizeOne(backend, job, { kind: 'complete', result: '{"thumbs":3}' }, at(2_000)), 'ok');
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'completed');
      assert.deepStrictEqual(record.result, { thumbs: 3 });
      assert.deepStrictEqual(record.finishedAt, at(2_000));
      assert.equal(record.leaseExpiresAt, null);
      assert.equal(record.attempt, 1);
      assert.deepStrictEqual(record.errors, []);
      assert.equal(record.failureReason, null);
      assert.equal(record.expiresAt, null);
    });

    suite.test('completes with a null result', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      assert.equal(await finalizeOne(backend, job, { kind: 'complete', result: null }, at(1)), 'ok');
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'completed');
      assert.equal(record.result, null);
    });

    suite.test('moves a failed attempt to retrying at now + delayMs, appending the error and failure times', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      const error = attemptError({ message: 'connection reset', at: at(1_000).getTime() });
      assert.equal(await finalizeOne(backend, job, { kind: 'retry', error, delayMs: 10_000 }, at(1_000)), 'ok');
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'retrying');
      assert.deepStrictEqual(record.runAt, at(11_000));
      assert.deepStrictEqual(record.errors, [error]);
      assert.deepStrictEqual(record.firstFailedAt, at(1_000));
      assert.deepStrictEqual(record.lastFailedAt, at(1_000));
      assert.equal(record.leaseExpiresAt, null);
      assert.equal(record.attempt, 1);
      assert.equal(record.finishedAt, null);
      assert.equal(record.failureReason, null);
    });

    suite.test('stores an attempt error without stack and with a null workerId exactly as given', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      const error = { attempt: 1, round: 0, kind: 'timeout' as const, name: 'TimeoutError', message: 'took too long', workerId: null, at: at(1).getTime() };
      assert.equal(await finalizeOne(backend, job, { kind: 'retry', error, delayMs: 1_000 }, at(1)), 'ok');
      assert.deepStrictEqual((await mustGet(backend, job.id)).errors, [error]);
    });

    suite.test('queues a retry with delayMs <= 0 at once, runAt = now', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      const error = attemptError({ at: at(500).getTime() });
      assert.equal(await finalizeOne(backend, job, { kind: 'retry', error, delayMs: 0 }, at(500)), 'ok');
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'queued');
      assert.deepStrictEqual(record.runAt, at(500));
      const again = await claimOne(backend, { now: at(501) });
      assert.equal(again.attempt, 2);
    });

    suite.test('runs a retrying job again after its backoff: promoted, claimed as attempt 2, first failure kept', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      const e1 = attemptError({ message: 'first', at: at(1_000).getTime() });
      await finalizeOne(backend, job, { kind: 'retry', error: e1, delayMs: 10_000 }, at(1_000));
      assert.deepStrictEqual(await backend.claimJobs({ queue: job.queue, workerId: 'w', limit: 1, leaseMs: 1000, now: at(20_000) }), []);
      const early = await backend.promoteDueJobs({ limit: 10, now: at(10_999) });
      assert.equal(early.promoted, 0);
      const promoted = await backend.promoteDueJobs({ limit: 10, now: at(11_000) });
      assert.equal(promoted.promoted, 1);
      assert.equal((await mustGet(backend, job.id)).state, 'queued');
      const second = await claimOne(backend, { now: at(12_000) });
      assert.equal(second.attempt, 2);
      const e2 = attemptError({ attempt: 2, message: 'second', at: at(13_000).getTime() });
      await finalizeOne(backend, second, { kind: 'retry', error: e2, delayMs: 5_000 }, at(13_000));
      const record = await mustGet(backend, job.id);
      assert.deepStrictEqual(record.errors, [e1, e2]);
      assert.deepStrictEqual(record.firstFailedAt, at(1_000));
      assert.deepStrictEqual(record.lastFailedAt, at(13_000));
    });

    suite.test('moves a job to dead with its failure reason, error, finishedAt and failure times', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      const error = attemptError({ kind: 'permanent', name: 'PermanentError', message: 'bad input', at: at(700).getTime() });
      assert.equal(await finalizeOne(backend, job, { kind: 'dead', error, reason: 'bad input' }, at(700)), 'ok');
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'dead');
      assert.equal(record.failureReason, 'bad input');
      assert.deepStrictEqual(record.errors, [error]);
      assert.deepStrictEqual(record.finishedAt, at(700));
      assert.deepStrictEqual(record.firstFailedAt, at(700));
      assert.deepStrictEqual(record.lastFailedAt, at(700));
      assert.equal(record.leaseExpiresAt, null);
      assert.equal(record.expiresAt, null);
    });

    suite.test('snoozes: scheduled at now + delayMs, the attempt given back, no error recorded', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      assert.equal(await finalizeOne(backend, job, { kind: 'snooze', delayMs: 60_000 }, at(1_000)), 'ok');
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'scheduled');
      assert.deepStrictEqual(record.runAt, at(61_000));
      assert.equal(record.attempt, 0);
      assert.deepStrictEqual(record.errors, []);
      assert.equal(record.leaseExpiresAt, null);
      assert.equal(record.firstFailedAt, null);
      await backend.promoteDueJobs({ limit: 10, now: at(61_000) });
      const again = await claimOne(backend, { now: at(61_001) });
      assert.equal(again.attempt, 1, 'a snooze spent an attempt');
    });

    suite.test('releases: queued at once, runAt unchanged, the attempt given back, its place kept', async ({ backend, at }) => {
      const first = await insertOne(backend, {}, at(0));
      const second = await insertOne(backend, {}, at(1));
      const claimed = await claimOne(backend, { now: at(2) });
      assert.equal(claimed.id, first);
      assert.equal(await finalizeOne(backend, claimed, { kind: 'release' }, at(3)), 'ok');
      const record = await mustGet(backend, first);
      assert.equal(record.state, 'queued');
      assert.equal(record.attempt, 0);
      assert.deepStrictEqual(record.runAt, at(0));
      assert.equal(record.leaseExpiresAt, null);
      assert.deepStrictEqual(record.errors, []);
      const next = await claimOne(backend, { now: at(4) });
      assert.equal(next.id, first, 'the released job lost its place to a younger one');
      assert.equal(next.attempt, 1);
      assert.equal((await mustGet(backend, second)).state, 'queued');
    });

    suite.test('finalizes a cancel acknowledgement: cancelled, finishedAt = now, error appended when given', async ({ backend, at }) => {
      const withError = await insertAndClaim(backend, {}, { now: at(0) });
      const without = await insertAndClaim(backend, {}, { now: at(0) });
      const error = attemptError({ kind: 'cancelled', name: 'CancelledError', message: 'job cancelled', at: at(5).getTime() });
      const outcomes = await backend.finalizeJobs({
        items: [
          { ...leaseOf(withError), kind: 'cancel', error },
          { ...leaseOf(without), kind: 'cancel', error: null },
        ],
        retention: KEEP_FOREVER,
        now: at(5),
      });
      assert.deepStrictEqual(outcomes, ['ok', 'ok']);
      const a = await mustGet(backend, withError.id);
      const b = await mustGet(backend, without.id);
      assert.equal(a.state, 'cancelled');
      assert.equal(b.state, 'cancelled');
      assert.deepStrictEqual(a.errors, [error]);
      assert.deepStrictEqual(b.errors, []);
      assert.deepStrictEqual(a.finishedAt, at(5));
      assert.deepStrictEqual(b.finishedAt, at(5));
      assert.equal(a.leaseExpiresAt, null);
    });

    suite.test('keeps the attempt counter across retries and a final completion', async ({ backend, at }) => {
      await insertOne(backend, { maxRetries: 2 }, at(0));
      let now = 0;
      for (let attempt = 1; attempt <= 2; attempt++) {
        const job = await claimOne(backend, { now: at(++now) });
        assert.equal(job.attempt, attempt);
        await finalizeOne(backend, job, { kind: 'retry', error: attemptError({ attempt, at: at(now).getTime() }), delayMs: 0 }, at(++now));
      }
      const last = await claimOne(backend, { now: at(++now) });
      assert.equal(last.attempt, 3);
      assert.equal(await finalizeOne(backend, last, { kind: 'complete', result: null }, at(++now)), 'ok');
      const record = await mustGet(backend, last.id);
      assert.equal(record.attempt, 3);
      assert.equal(record.errors.length, 2);
      assert.equal(record.state, 'completed');
    });

    suite.test(`keeps only the newest ${MAX_ERRORS_KEPT} attempt errors`, async ({ backend, at }) => {
      const total = MAX_ERRORS_KEPT + 3;
      await insertOne(backend, { maxRetries: total + 1 }, at(0));
      let now = 0;
      for (let attempt = 1; attempt <= total; attempt++) {
        const job = await claimOne(backend, { now: at(++now) });
        const error = attemptError({ attempt, message: `failure ${attempt}`, at: at(now).getTime() });
        assert.equal(await finalizeOne(backend, job, { kind: 'retry', error, delayMs: 0 }, at(now)), 'ok');
      }
      const job = await claimOne(backend, { now: at(++now) });
      const record = await mustGet(backend, job.id);
      assert.equal(record.errors.length, MAX_ERRORS_KEPT);
      assert.equal(record.errors[0]!.message, `failure ${total - MAX_ERRORS_KEPT + 1}`);
      assert.equal(record.errors[MAX_ERRORS_KEPT - 1]!.message, `failure ${total}`);
      assert.deepStrictEqual(record.firstFailedAt, at(1), 'firstFailedAt must not move when old errors are dropped');
    }, { timeoutMs: 60_000 });
  });
}
