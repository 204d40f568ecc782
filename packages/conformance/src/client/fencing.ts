/**
 * Client-level fencing: when the database says an attempt lost its lease (the rescuer took the
 * job), the worker aborts that handler with LeaseLostError and writes nothing for it, while
 * the job's next attempt runs and completes normally. The client's rescuer spreads the jobs of
 * a crashed worker (`maintenance.rescueSpreadMs`, ADR 0019): each is `retrying`, due at its own
 * moment within the spread.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseLostError } from '@spindle/core';
import { FAST_MAINTENANCE, waitFor, withClient, type BackendFactory } from './harness.js';

export function fencingTests(factory: BackendFactory): void {
  describe(`${factory.name}: fencing through a worker`, () => {
    it("spreads a crashed worker's batch: the client's rescuer makes each job retrying, due at its own moment within rescueSpreadMs", () => {
      const spreadMs = 600_000; // so wide that no job comes due while the test looks
      return withClient(
        factory,
        async (client, backend) => {
          await waitFor(() => client.isLeader, 'leader');
          const jobs = await client.queue('crashed').addBulk(Array.from({ length: 4 }, () => ({ name: 'work', payload: {} })));
          const claimed = await backend.claimJobs({ queue: 'crashed', workerId: 'crashed-worker', limit: 4, leaseMs: 100 });
          assert.equal(claimed.length, 4, 'one worker took the whole batch');
          const records = await waitFor(async () => {
            const all = await Promise.all(jobs.map((j) => client.getJob(j.id)));
            return all.every((r) => r?.errors.length === 1) ? all.map((r) => r!) : null;
          }, 'the rescuer to take the batch back');
          for (const r of records) {
            assert.equal(r.errors[0]!.kind, 'lease_expired');
            assert.equal(r.attempt, 1, 'the crash counts as an attempt');
            const delay = r.runAt.getTime() - r.errors[0]!.at;
            assert.ok(delay >= 0 && delay < spreadMs, `due ${delay} ms after the rescue, not within [0, ${spreadMs})`);
            if (r.runAt.getTime() > Date.now()) assert.equal(r.state, 'retrying');
          }
          assert.equal(new Set(records.map((r) => r.runAt.getTime())).size, 4, 'the batch came due at one moment');
        },
        { maintenance: { ...FAST_MAINTENANCE, rescueSpreadMs: spreadMs } },
      );
    });

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
