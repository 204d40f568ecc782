/**
 * Client-level fencing: when the database says an attempt lost its lease (the rescuer took the
 * job), the worker aborts that handler with LeaseLostError and writes nothing for it, while
 * the job's next attempt runs and completes normally.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseLostError } from '@spindle/core';
import { waitFor, withClient, type BackendFactory } from './harness.js';

export function fencingTests(factory: BackendFactory): void {
  describe(`${factory.name}: fencing through a worker`, () => {
    it('aborts a handler whose lease was taken and refuses its outcome; the next attempt completes', () =>
      withClient(factory, async (client, backend) => {
        const q = client.queue('fenced');
        const { id } = await q.add('work', {}, { maxRetries: 3 });
        const reasons = new Map<number, unknown>();
        q.process(
          async (job) => {
            if (job.attempt === 1) {
              await new Promise<void>((resolve) => job.signal.addEventListener('abort', () => {
                reasons.set(job.attempt, job.signal.reason);
                resolve();
              }));
              return 'stale result from attempt 1';
            }
            return `fresh result from attempt ${job.attempt}`;
          },
          { leaseMs: 2000, heartbeatMs: 50 },
        );
        await waitFor(async () => (await client.getJob(id))?.state === 'running', 'attempt 1 running');
        // Pretend the lease expired: rescue with a clock 10 s ahead. The row's token is cleared.
        const rescued = await backend.rescueExpiredLeases({ limit: 10, retention: client.retention, now: new Date(Date.now() + 10_000) });
        assert.deepEqual(rescued.requeued, [id]);
        const done = await waitFor(async () => {
          const j = await client.getJob(id);
          return j?.state === 'completed' ? j : null;
        }, 'attempt 2 completes');
        assert.equal(done.result, 'fresh result from attempt 2');
        assert.equal(done.attempt, 2);
        assert.deepEqual(done.errors.map((e) => e.kind), ['lease_expired']);
        await waitFor(() => reasons.has(1), 'attempt 1 aborted');
        assert.ok(reasons.get(1) instanceof LeaseLostError);
      }));
  });
}
