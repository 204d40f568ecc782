/**
 * Queue limits through the client and a real worker: a concurrency-limited queue drains at the
 * limit without waiting for polls (finishing jobs wake the worker), a handler's
 * RateLimitedError snoozes its job for free and holds the whole queue, and bad limits are
 * refused with nothing written.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimitedError, ValidationError } from '@spindle/core';
import { waitFor, withClient, type BackendFactory } from './harness.js';

export function limitClientTests(factory: BackendFactory): void {
  describe(`${factory.name}: queue limits through a worker`, () => {
    it('drains a concurrency-limited queue at the limit, woken by finishing jobs rather than polls', () =>
      withClient(factory, async (client) => {
        const q = client.queue('narrow');
        await q.setLimits({ concurrency: 2 });
        await q.addBulk(Array.from({ length: 20 }, (_, i) => ({ name: 'work', payload: { i } })));
        let running = 0;
        let most = 0;
        const t0 = Date.now();
        q.process(async () => {
          most = Math.max(most, ++running);
          await new Promise((r) => setTimeout(r, 20));
          running -= 1;
        }, { concurrency: 10, pollIntervalMs: 10_000 });
        await waitFor(async () => (await q.counts()).completed === 20, '20 jobs completed', 8000);
        assert.equal(most, 2);
        assert.ok(Date.now() - t0 < 5000, `drained in ${Date.now() - t0} ms (a poll is 10 s away)`);
      }));

    it('RateLimitedError snoozes the job without spending an attempt and holds the queue', () =>
      withClient(factory, async (client) => {
        const q = client.queue('metered-api');
        const starts: Array<{ n: number; at: number; attempt: number }> = [];
        let limitedOnce = false;
        q.process(async (job) => {
          const { n } = job.payload as { n: number };
          starts.push({ n, at: Date.now(), attempt: job.attempt });
          if (n === 0 && !limitedOnce) {
            limitedOnce = true;
            throw new RateLimitedError(400);
          }
        }, { concurrency: 1, pollIntervalMs: 50 });
        const first = await q.add('call', { n: 0 });
        await waitFor(() => limitedOnce, 'the first call was rate limited');
        const t = Date.now();
        await q.add('call', { n: 1 });
        const held = await waitFor(async () => (await client.listQueues()).find((x) => x.name === 'metered-api')?.heldUntil, 'the queue is held');
        assert.ok(held.getTime() > t);
        await waitFor(async () => (await q.counts()).completed === 2, 'both calls completed', 8000);
        const second = starts.find((s) => s.n === 1)!;
        assert.ok(second.at >= t + 250, `the other job waited for the hold (${second.at - t} ms)`);
        const done = await client.getJob(first.id);
        assert.equal(done?.attempt, 1, 'the rate-limited attempt was given back');
        assert.deepEqual(done?.errors, []);
      }));

    it('refuses bad limits with a ValidationError naming them, and writes nothing', () =>
      withClient(factory, async (client) => {
        const bad: unknown[] = [
          { concurrency: 0 },
          { concurrency: 1.5 },
          { rate: { max: 10 } },
          { rate: { max: 10, intervalMs: 5 } },
          { rate: { max: 0, intervalMs: 1000 } },
          { burst: 3 },
          null,
        ];
        for (const limits of bad) {
          await assert.rejects(client.setQueueLimits('guarded', limits as never), ValidationError, JSON.stringify(limits));
        }
        await assert.rejects(client.setQueueLimits('bad name!', { concurrency: 1 }), ValidationError);
        await assert.rejects(client.holdQueue('guarded', -1), ValidationError);
        assert.equal((await client.listQueues()).find((x) => x.name === 'guarded'), undefined, 'no settings row was written');
        assert.throws(() => new RateLimitedError(Number.NaN), ValidationError);
      }));
  });
}
