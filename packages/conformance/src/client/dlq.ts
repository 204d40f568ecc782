/**
 * Client-level DLQ tests: `client.dlq` selections (ids, filter, all), replay to another queue
 * and with an edited payload, purge, resolve, grouping, and the validation of every selection.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PermanentError, ValidationError, type Client } from '@spindle/core';
import { waitFor, withClient, type BackendFactory } from './harness.js';

/** Adds `count` jobs to `queue` that fail permanently with `message`, and waits until all are dead. */
async function deadJobs(client: Client, queue: string, count: number, message: string): Promise<string[]> {
  const q = client.queue(queue);
  const added = await q.addBulk(Array.from({ length: count }, (_, i) => ({ name: 'job', payload: { i, message } })));
  const ids = added.map((a) => a.id);
  await waitFor(async () => {
    const page = await client.dlq.list({ filter: { queue }, limit: 1000 });
    return ids.every((id) => page.jobs.some((j) => j.id === id));
  }, `${count} dead jobs in ${queue}`);
  return ids;
}

export function dlqTests(factory: BackendFactory): void {
  describe(`${factory.name}: client.dlq`, () => {
    it('reports progress batch by batch when resolving and purging a large selection', { timeout: 120_000 }, () =>
      withClient(factory, async (client) => {
        client.queue('bulk-dead').process(async () => {
          throw new PermanentError('gone');
        }, { concurrency: 50 });
        await client.queue('bulk-dead').addBulk(Array.from({ length: 1_100 }, (_, i) => ({ name: 'job', payload: { i } })));
        await waitFor(async () => (await client.dlq.depth({ queue: 'bulk-dead' }))[0]?.depth === 1_100, '1,100 dead jobs', 60_000);
        const resolvedSteps: number[] = [];
        assert.equal(await client.dlq.resolve({ filter: { queue: 'bulk-dead' }, note: 'seen' }, (n) => resolvedSteps.push(n)), 1_100);
        assert.deepEqual(resolvedSteps.filter((n) => n > 0), [500, 500, 100]);
        const purgedSteps: number[] = [];
        assert.equal(await client.dlq.purge({ all: true }, (n) => purgedSteps.push(n)), 1_100);
        assert.deepEqual(purgedSteps.filter((n) => n > 0), [500, 500, 100]);
        await assert.rejects(client.dlq.purge({ all: true }, 'not a function' as never), (err) => err instanceof ValidationError && /onProgress/.test(err.message));
      }));

    it('groups dead jobs by reason, replays a filter into another queue, resolves and purges', () =>
      withClient(factory, async (client) => {
        const failing = client.queue('billing');
        failing.process(async (job) => {
          throw new PermanentError((job.payload as { message: string }).message);
        }, { concurrency: 5 });
        const declined = await deadJobs(client, 'billing', 4, 'card declined');
        const expired = await deadJobs(client, 'billing', 2, 'card expired');

        const groups = await client.dlq.groups();
        assert.deepEqual(groups.map((g) => [g.queue, g.reason, g.count]), [
          ['billing', 'PermanentError: card declined', 4],
          ['billing', 'PermanentError: card expired', 2],
        ]);
        assert.deepEqual(await client.dlq.depth(), [{ queue: 'billing', depth: 6 }]);

        // Replay the "expired" group into a queue with a working handler.
        const done: string[] = [];
        client.queue('billing-retry').process(async (job) => {
          done.push(job.id);
        });
        const replay = await client.dlq.replay({ filter: { queue: 'billing', errorContains: 'expired' }, toQueue: 'billing-retry' });
        assert.equal(replay.replayed, 2);
        assert.deepEqual(replay.ids.sort(), [...expired].sort());
        await waitFor(() => done.length === 2, 'replayed jobs ran in billing-retry');
        assert.equal((await client.getJob(expired[0]!))?.queue, 'billing-retry');

        // Resolve two, then purge everything left.
        assert.equal(await client.dlq.resolve({ ids: declined.slice(0, 2), note: 'refunded by hand' }), 2);
        assert.deepEqual(await client.dlq.depth(), [{ queue: 'billing', depth: 2 }]);
        const resolved = await client.dlq.get(declined[0]!);
        assert.equal(resolved?.resolution?.note, 'refunded by hand');
        assert.equal(await client.dlq.resolve({ filter: { queue: 'billing' }, note: 'bulk' }), 2);
        assert.deepEqual(await client.dlq.depth(), []);
        assert.equal(await client.dlq.purge({ all: true }), 4);
        assert.equal((await client.dlq.list()).jobs.length, 0);
      }));

    it('replays one job with an edited payload', () =>
      withClient(factory, async (client) => {
        const q = client.queue('emails');
        const seen: unknown[] = [];
        q.process(async (job) => {
          const payload = job.payload as { to: string };
          if (!payload.to.includes('@')) throw new PermanentError('invalid address');
          seen.push(payload);
        });
        const { id } = await q.add('send', { to: 'ada-at-example.com' });
        await waitFor(() => client.dlq.get(id), 'dead');
        const summary = await client.dlq.replay({ ids: [id], payload: { to: 'ada@example.com' } });
        assert.equal(summary.replayed, 1);
        await waitFor(async () => (await client.getJob(id))?.state === 'completed', 'completed after the fix');
        assert.deepEqual(seen, [{ to: 'ada@example.com' }]);
      }));

    it('rejects ambiguous or malformed selections and writes nothing', () =>
      withClient(factory, async (client) => {
        const q = client.queue('guarded');
        q.process(async () => {
          throw new PermanentError('no');
        });
        const { id } = await q.add('x', {});
        await waitFor(() => client.dlq.get(id), 'dead');
        const bad: Array<[() => Promise<unknown>, RegExp]> = [
          [() => client.dlq.purge({} as never), /exactly one of ids, filter or all/],
          [() => client.dlq.purge({ ids: [id], all: true }), /exactly one of ids, filter or all/],
          [() => client.dlq.purge({ all: false as never }), /all: must be true/],
          [() => client.dlq.replay({ ids: [] }), /ids/],
          [() => client.dlq.replay({ ids: ['bad id'] }), /ids\[0\]/],
          [() => client.dlq.replay({ all: true, payload: { x: 1 } }), /payload: can only be replaced when replaying exactly one job/],
          [() => client.dlq.replay({ ids: [id], toQueue: 'no spaces' }), /toQueue/],
          [() => client.dlq.replay({ filter: { states: ['queued'] } as never }), /filter\.states: is not a known option/],
          [() => client.dlq.resolve({ ids: [id], note: '' }), /note/],
          [() => client.dlq.list({ limit: 0 }), /limit/],
          [() => client.dlq.list({ cursor: 'garbage' }), /cursor/],
        ];
        for (const [call, message] of bad) {
          await assert.rejects(call, (err: unknown) => err instanceof ValidationError && message.test(err.message), String(message));
        }
        const still = await client.dlq.get(id);
        assert.equal(still?.state, 'dead');
        assert.equal(still?.resolution, null);
      }));
  });
}
