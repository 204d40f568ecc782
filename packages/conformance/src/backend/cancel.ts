/**
 * cancelJobs: scheduled/queued/retrying jobs are cancelled at once; a running job is asked to
 * stop (cancel_requested, seen on its next heartbeat) and ends `cancelled` when its worker
 * acknowledges or when the rescuer finds its lease expired; finished jobs answer
 * `already_final` and unknown ids `not_found`, per item, in order, changing nothing.
 */
import assert from 'node:assert/strict';
import type { Suite } from '../suite.js';
import {
  KEEP_FOREVER,
  RESCUE_SPREAD_MS,
  attemptError,
  finalizeOne,
  insertAndClaim,
  insertOne,
  leaseOf,
  makeDead,
  mustGet,
} from './fixtures.js';

export function cancelTests(suite: Suite): void {
  suite.group('cancelJobs', () => {
    suite.test('cancels scheduled, queued and retrying jobs at once, finishedAt = now', async ({ backend, at }) => {
      const scheduled = await insertOne(backend, { delayMs: 60_000 }, at(0));
      const queued = await insertOne(backend, { queue: 'q2' }, at(0));
      const failing = await insertAndClaim(backend, { queue: 'q3' }, { now: at(0) });
      await finalizeOne(backend, failing, { kind: 'retry', error: attemptError({ at: at(1).getTime() }), delayMs: 30_000 }, at(1));
      assert.equal((await mustGet(backend, failing.id)).state, 'retrying');
      const outcomes = await backend.cancelJobs({ ids: [scheduled, queued, failing.id], retention: KEEP_FOREVER, now: at(10) });
      assert.deepStrictEqual(outcomes, ['cancelled', 'cancelled', 'cancelled']);
      for (const id of [scheduled, queued, failing.id]) {
        const record = await mustGet(backend, id);
        assert.equal(record.state, 'cancelled');
        assert.deepStrictEqual(record.finishedAt, at(10));
        assert.equal(record.expiresAt, null);
      }
    });

    suite.test('never claims or promotes a cancelled job', async ({ backend, at }) => {
      const queued = await insertOne(backend, {}, at(0));
      const scheduled = await insertOne(backend, { delayMs: 1_000 }, at(0));
      await backend.cancelJobs({ ids: [queued, scheduled], retention: KEEP_FOREVER, now: at(1) });
      const promoted = await backend.promoteDueJobs({ limit: 10, now: at(5_000) });
      assert.equal(promoted.promoted, 0);
      assert.deepStrictEqual(await backend.claimJobs({ queue: 'conformance', workerId: 'w', limit: 10, leaseMs: 1000, now: at(5_001) }), []);
    });

    suite.test('asks a running job to stop: cancel_requested, still running, flag seen on its heartbeat', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      assert.deepStrictEqual(await backend.cancelJobs({ ids: [job.id], retention: KEEP_FOREVER, now: at(1) }), ['cancel_requested']);
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'running');
      assert.equal(record.cancelRequested, true);
      assert.equal(record.finishedAt, null);
      const beat = await backend.extendLeases({ leases: [leaseOf(job)], leaseMs: 10_000, now: at(2) });
      assert.deepStrictEqual(beat, [{ outcome: 'ok', cancelRequested: true }]);
      assert.deepStrictEqual(await backend.cancelJobs({ ids: [job.id], retention: KEEP_FOREVER, now: at(3) }), ['cancel_requested']);
    });

    suite.test('ends a cancel-requested job as cancelled when its worker acknowledges', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      await backend.cancelJobs({ ids: [job.id], retention: KEEP_FOREVER, now: at(1) });
      const error = attemptError({ kind: 'cancelled', name: 'CancelledError', message: 'job cancelled', at: at(2).getTime() });
      assert.equal(await finalizeOne(backend, job, { kind: 'cancel', error }, at(2)), 'ok');
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'cancelled');
      assert.deepStrictEqual(record.finishedAt, at(2));
      assert.deepStrictEqual(record.errors, [error]);
      assert.equal(record.leaseExpiresAt, null);
    });

    suite.test('ends a cancel-requested job as cancelled when its worker writes a retry, snooze or release instead', async ({ backend, at }) => {
      const actions = [
        { kind: 'retry', error: attemptError({ at: at(2).getTime() }), delayMs: 1_000 },
        { kind: 'snooze', delayMs: 1_000 },
        { kind: 'release' },
      ] as const;
      for (const [i, action] of actions.entries()) {
        const job = await insertAndClaim(backend, { queue: `cr${i}`, maxRetries: 5 }, { now: at(0) });
        await backend.cancelJobs({ ids: [job.id], retention: KEEP_FOREVER, now: at(1) });
        assert.equal(await finalizeOne(backend, job, action, at(2)), 'ok');
        const record = await mustGet(backend, job.id);
        assert.equal(record.state, 'cancelled', `${action.kind} of a cancel-requested job`);
        assert.deepStrictEqual(record.finishedAt, at(2));
        assert.equal(record.attempt, 1, 'the attempt is not given back');
        assert.equal(record.leaseExpiresAt, null);
        assert.deepStrictEqual(await backend.claimJobs({ queue: `cr${i}`, workerId: 'w', limit: 1, leaseMs: 1000, now: at(5_000) }), []);
      }
    });

    suite.test('ends a cancel-requested job as cancelled when the rescuer finds its lease expired', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, { maxRetries: 5 }, { now: at(0), leaseMs: 1_000 });
      await backend.cancelJobs({ ids: [job.id], retention: KEEP_FOREVER, now: at(10) });
      const rescued = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(2_000) });
      assert.deepStrictEqual(rescued, { requeued: [], dead: [], cancelled: [job.id] });
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'cancelled');
      assert.deepStrictEqual(record.finishedAt, at(2_000));
      assert.equal(record.leaseExpiresAt, null);
      assert.equal(record.errors.length, 1);
      assert.equal(record.errors[0]!.kind, 'lease_expired');
      assert.equal(await finalizeOne(backend, job, { kind: 'cancel', error: null }, at(2_001)), 'lease_lost');
    });

    suite.test('cancels rather than kills a cancel-requested job whose last attempt expired', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, { maxRetries: 0 }, { now: at(0), leaseMs: 1_000 });
      await backend.cancelJobs({ ids: [job.id], retention: KEEP_FOREVER, now: at(1) });
      const rescued = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(2_000) });
      assert.deepStrictEqual(rescued, { requeued: [], dead: [], cancelled: [job.id] });
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'cancelled');
      assert.equal(record.failureReason, null);
    });

    suite.test('answers the second cancel of one job in a batch from the state the first left', async ({ backend, at }) => {
      const queued = await insertOne(backend, {}, at(0));
      const outcomes = await backend.cancelJobs({ ids: [queued, queued], retention: KEEP_FOREVER, now: at(1) });
      assert.deepStrictEqual(outcomes, ['cancelled', 'already_final']);
    });

    suite.test('lets a cancel-requested job still complete when its handler finished first', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      await backend.cancelJobs({ ids: [job.id], retention: KEEP_FOREVER, now: at(1) });
      assert.equal(await finalizeOne(backend, job, { kind: 'complete', result: '"done"' }, at(2)), 'ok');
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'completed');
      assert.equal(record.result, 'done');
    });

    suite.test('answers already_final for completed, dead and cancelled jobs and changes nothing', async ({ backend, at }) => {
      const done = await insertAndClaim(backend, { queue: 'a' }, { now: at(0) });
      await finalizeOne(backend, done, { kind: 'complete', result: null }, at(1));
      const dead = await makeDead(backend, at(2), { queue: 'b' });
      const cancelled = await insertOne(backend, {}, at(3));
      await backend.cancelJobs({ ids: [cancelled], retention: KEEP_FOREVER, now: at(4) });
      const ids = [done.id, dead, cancelled];
      const before = await Promise.all(ids.map((id) => mustGet(backend, id)));
      const outcomes = await backend.cancelJobs({ ids, retention: { completedMs: 0, cancelledMs: 0, deadMs: 0 }, now: at(100) });
      assert.deepStrictEqual(outcomes, ['already_final', 'already_final', 'already_final']);
      assert.deepStrictEqual(await Promise.all(ids.map((id) => backend.getJob(id))), before);
    });

    suite.test('answers a mixed batch per id, in order', async ({ backend, at }) => {
      const running = await insertAndClaim(backend, { queue: 'r' }, { now: at(0) });
      const queued = await insertOne(backend, {}, at(0));
      const dead = await makeDead(backend, at(1), { queue: 'd' });
      const outcomes = await backend.cancelJobs({ ids: [dead, 'missing-id', running.id, queued], retention: KEEP_FOREVER, now: at(2) });
      assert.deepStrictEqual(outcomes, ['already_final', 'not_found', 'cancel_requested', 'cancelled']);
    });

    suite.test('answers not_found for unknown ids', async ({ backend, at }) => {
      assert.deepStrictEqual(await backend.cancelJobs({ ids: ['nope-1', 'nope-2'], retention: KEEP_FOREVER, now: at(0) }), [
        'not_found',
        'not_found',
      ]);
    });

    suite.test('sets expiresAt of a cancelled job from retention.cancelledMs only', async ({ backend, at }) => {
      const id = await insertOne(
        backend,
        { retention: { completedKeepMs: 1, completedKeepCount: null, deadKeepMs: 1, deadKeepCount: null } },
        at(0),
      );
      await backend.cancelJobs({ ids: [id], retention: { completedMs: 5, cancelledMs: 60_000, deadMs: 7 }, now: at(10) });
      assert.deepStrictEqual((await mustGet(backend, id)).expiresAt, at(60_010));
    });
  });
}
