/**
 * Client-level direct dispatch: a worker idle on an empty queue takes the jobs its own process
 * adds without a claim round trip, never ahead of jobs queued before it, and never delayed jobs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '@spindle/core';
import { makeClient, waitFor, withClient, type BackendFactory } from './harness.js';

/** `backend` with claimJobs counted and dispatch requests recorded. */
function spy(backend: Backend): { backend: Backend; claims: () => number; dispatched: () => number } {
  let claims = 0;
  let dispatched = 0;
  const wrapped = new Proxy(backend, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'claimJobs') {
        return (p: Parameters<Backend['claimJobs']>[0]) => {
          claims += 1;
          return target.claimJobs(p);
        };
      }
      if (prop === 'insertJobs') {
        return async (p: Parameters<Backend['insertJobs']>[0]) => {
          const outcomes = await target.insertJobs(p);
          dispatched += outcomes.filter((o) => o.claimed).length;
          return outcomes;
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { backend: wrapped, claims: () => claims, dispatched: () => dispatched };
}

export function dispatchTests(factory: BackendFactory): void {
  describe(`${factory.name}: direct dispatch to an idle local worker`, () => {
    it('starts jobs added by the same process without claiming them, and respects delays and order', () =>
      withClient(factory, async (_unused, raw) => {
        const s = spy(raw);
        const client = makeClient(s.backend);
        try {
          const q = client.queue('direct');
          const ran: string[] = [];
          const worker = q.process(async (job) => {
            ran.push(job.name);
          }, { concurrency: 2, pollIntervalMs: 60_000 });
          await client.start();
          await waitFor(() => worker.dispatchSlots('direct') > 0, 'the worker claimed once and found the queue empty');
          const claimsWhenIdle = s.claims();
          for (const name of ['a', 'b', 'c']) {
            const { id } = await q.add(name, {});
            await waitFor(async () => (await client.getJob(id))?.state === 'completed', `${name} completed`);
            assert.equal((await client.getJob(id))?.attempt, 1);
          }
          assert.deepEqual(ran, ['a', 'b', 'c']);
          assert.equal(s.claims(), claimsWhenIdle, 'no claim round trip was needed');
          assert.equal(s.dispatched(), 3);

          // A delayed job is never dispatched: it waits for its time, then is claimed.
          const later = await q.add('later', {}, { delay: 200 });
          assert.equal(later.state, 'scheduled');
          await waitFor(async () => (await client.getJob(later.id))?.state === 'completed', 'delayed job completed');
          assert.equal(s.dispatched(), 3);
        } finally {
          await client.close({ graceMs: 100 });
        }
      }));

    it('does not dispatch into a paused queue', () =>
      withClient(factory, async (client) => {
        const q = client.queue('ordered');
        await q.pause();
        const worker = q.process(async () => undefined, { concurrency: 1, pollIntervalMs: 60_000 });
        await waitFor(() => worker.dispatchSlots('ordered') > 0, 'the worker is idle (its claim on the paused queue came back empty)');
        const first = await q.add('first', {});
        assert.equal(first.state, 'queued', 'the backend dispatches nothing into a paused queue');
        await q.resume();
        await waitFor(async () => (await client.getJob(first.id))?.state === 'completed', 'first completed after resume');
      }));
  });
}
