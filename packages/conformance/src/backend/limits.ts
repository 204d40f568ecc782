/**
 * Queue limits (core backend/queue-limits.ts) at the backend level, with injected time: a
 * concurrency limit counts running jobs; a rate limit is a sliding window of claims; a hold
 * skips the queue until it ends; a cut-short claim says why (and when to look again); limits
 * are listed, cleared, and keep direct dispatch off.
 */
import assert from 'node:assert/strict';
import type { Suite } from '../suite.js';
import { NO_QUEUE_LIMITS } from '@spindle/core';
import { KEEP_FOREVER, LEASE_MS, QUEUE, WORKER, finalizeOne, insertMany, jobInsert, leaseOf } from './fixtures.js';

const claim = (backend: Parameters<Parameters<Suite['test']>[1]>[0]['backend'], limit: number, now: Date) =>
  backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit, leaseMs: LEASE_MS, now });

export function limitTests(suite: Suite): void {
  suite.group('queue limits', () => {
    suite.test('a concurrency limit counts running jobs: claims take only the free slots and say so', async ({ backend, at }) => {
      await insertMany(backend, Array.from({ length: 10 }, () => ({})), at(0));
      await backend.setQueueLimits({ queue: QUEUE, limits: { ...NO_QUEUE_LIMITS, concurrency: 3, rate: null } });
      const first = await claim(backend, 10, at(1));
      assert.equal(first.length, 3);
      assert.deepEqual(first.limited, { reason: 'concurrency' });
      const none = await claim(backend, 10, at(2));
      assert.equal(none.length, 0);
      assert.deepEqual(none.limited, { reason: 'concurrency' });
      await finalizeOne(backend, first[0]!, { kind: 'complete', result: null }, at(3));
      const one = await claim(backend, 10, at(4));
      assert.equal(one.length, 1, 'one slot freed');
      assert.equal(one.limited?.reason, 'concurrency');
      // Fewer queued jobs than free slots: the queue ran out, no limit to report.
      await backend.setQueueLimits({ queue: QUEUE, limits: { ...NO_QUEUE_LIMITS, concurrency: 100, rate: null } });
      const rest = await claim(backend, 10, at(5));
      assert.equal(rest.length, 6);
      assert.equal(rest.limited, undefined);
    });

    suite.test('a rate limit is a sliding window of claims, and names when it lets more through', async ({ backend, at }) => {
      await insertMany(backend, Array.from({ length: 12 }, () => ({})), at(0));
      await backend.setQueueLimits({ queue: QUEUE, limits: { ...NO_QUEUE_LIMITS, concurrency: null, rate: { max: 4, intervalMs: 1000 } } });
      const a = await claim(backend, 3, at(100));
      assert.equal(a.length, 3);
      assert.equal(a.limited, undefined, 'within the rate');
      const b = await claim(backend, 3, at(600));
      assert.equal(b.length, 1, '4 per second: one left in the window');
      assert.deepEqual(b.limited, { reason: 'rate', retryAfterMs: 500 });
      const c = await claim(backend, 3, at(1099));
      assert.equal(c.length, 0);
      assert.deepEqual(c.limited, { reason: 'rate', retryAfterMs: 1 });
      const d = await claim(backend, 10, at(1101));
      assert.equal(d.length, 3, 'the first three left the window; the one at 600 ms is still in it');
      assert.equal(d.limited?.reason, 'rate');
      const e = await claim(backend, 10, at(2200));
      assert.equal(e.length, 4);
      assert.equal(e.limited?.reason, 'rate');
    });

    suite.test('a hold skips the queue until it ends (or is ended), and is listed with the limits', async ({ backend, at }) => {
      await insertMany(backend, [{}, {}], at(0));
      await backend.holdQueue({ queue: QUEUE, delayMs: 5000, now: at(0) });
      const held = await claim(backend, 5, at(1000));
      assert.equal(held.length, 0);
      assert.deepEqual(held.limited, { reason: 'held', retryAfterMs: 4000 });
      await backend.holdQueue({ queue: QUEUE, delayMs: 1000, now: at(1000) }); // shorter: the longer hold stays
      assert.equal((await claim(backend, 5, at(3000))).limited?.reason, 'held');
      assert.equal((await claim(backend, 1, at(5001))).length, 1, 'the hold ended by itself');
      await backend.holdQueue({ queue: QUEUE, delayMs: 60 * 60_000 });
      await backend.setQueueLimits({ queue: QUEUE, limits: { ...NO_QUEUE_LIMITS, concurrency: 7, rate: { max: 50, intervalMs: 60_000 } } });
      const listed = (await backend.listQueues()).find((q) => q.name === QUEUE)!;
      assert.deepEqual(listed.limits, { ...NO_QUEUE_LIMITS, concurrency: 7, rate: { max: 50, intervalMs: 60_000 } });
      assert.ok(listed.heldUntil instanceof Date && listed.heldUntil.getTime() > Date.now() + 50 * 60_000);
      await backend.holdQueue({ queue: QUEUE, delayMs: 0 });
      await backend.setQueueLimits({ queue: QUEUE, limits: { ...NO_QUEUE_LIMITS, concurrency: null, rate: null } });
      const cleared = (await backend.listQueues()).find((q) => q.name === QUEUE)!;
      assert.deepEqual(cleared.limits, NO_QUEUE_LIMITS);
      assert.equal(cleared.heldUntil, null);
      const free = await claim(backend, 5, new Date());
      assert.equal(free.length, 1);
      assert.equal(free.limited, undefined);
    });

    suite.test('a limited queue gets no direct dispatch: its new jobs are queued and claimed', async ({ backend }) => {
      await backend.setQueueLimits({ queue: QUEUE, limits: { ...NO_QUEUE_LIMITS, concurrency: 5, rate: null } });
      const [outcome] = await backend.insertJobs({
        jobs: [jobInsert()],
        dispatch: [{ queue: QUEUE, workerId: WORKER, leaseMs: LEASE_MS, limit: 1 }],
      });
      assert.equal(outcome!.state, 'queued');
      assert.equal(outcome!.claimed, undefined);
      const claimed = await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 5, leaseMs: LEASE_MS });
      assert.equal(claimed.length, 1);
      await backend.finalizeJobs({ items: [{ ...leaseOf(claimed[0]!), kind: 'complete', result: null }], retention: KEEP_FOREVER });
    });
  });
}
