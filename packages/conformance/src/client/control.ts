/**
 * Client-level control tests: cancel (waiting and running jobs), pause/resume, delayed jobs,
 * priority order, dedup, the concurrency limit, retention, validation that writes nothing,
 * typed payloads through a Standard Schema (zod), and events seen by another client.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { CancelledError, NO_QUEUE_LIMITS, ValidationError } from '@spindle/core';
import { deferred, makeClient, waitFor, withClient, type BackendFactory } from './harness.js';

export function controlTests(factory: BackendFactory): void {
  describe(`${factory.name}: client control`, () => {
    it('cancels a queued job at once and a running job through its AbortSignal', () =>
      withClient(factory, async (client) => {
        const q = client.queue('cancellable');
        const waiting = await q.add('later', {}, { delay: 60_000 });
        assert.equal(await client.cancel(waiting.id), 'cancelled');
        assert.equal((await client.getJob(waiting.id))?.state, 'cancelled');
        assert.equal(await client.cancel(waiting.id), 'already_final');

        const running = await q.add('long', {});
        let reason: unknown;
        q.process(async (job) => {
          await new Promise((_, reject) => job.signal.addEventListener('abort', () => {
            reason = job.signal.reason;
            reject(job.signal.reason);
          }));
        });
        await waitFor(async () => (await client.getJob(running.id))?.state === 'running', 'running');
        assert.equal(await client.cancel(running.id), 'cancel_requested');
        const done = await waitFor(async () => {
          const j = await client.getJob(running.id);
          return j?.state === 'cancelled' ? j : null;
        }, 'cancelled');
        assert.ok(reason instanceof CancelledError);
        assert.equal(done.errors.at(-1)?.kind, 'cancelled');
        assert.equal(await client.cancel('no-such-job'), 'not_found');
      }));

    it('does not run jobs of a paused queue until it is resumed', () =>
      withClient(factory, async (client) => {
        const q = client.queue('pausable');
        await q.pause();
        const { id } = await q.add('x', {});
        q.process(async () => 'ok', { pollIntervalMs: 20 });
        await new Promise((r) => setTimeout(r, 150));
        assert.equal((await client.getJob(id))?.state, 'queued');
        assert.deepEqual(await client.listQueues(), [{ name: 'pausable', paused: true, limits: NO_QUEUE_LIMITS, heldUntil: null, grouped: false }]);
        await q.resume();
        await waitFor(async () => (await client.getJob(id))?.state === 'completed', 'completed after resume');
      }));

    it('runs a delayed job only once its delay has passed', () =>
      withClient(factory, async (client) => {
        const q = client.queue('delayed');
        const startedAt: number[] = [];
        q.process(async () => {
          startedAt.push(Date.now());
        });
        const before = Date.now();
        const { id, state } = await q.add('later', {}, { delay: 300 });
        assert.equal(state, 'scheduled');
        await waitFor(async () => (await client.getJob(id))?.state === 'completed', 'completed');
        assert.ok(startedAt[0]! - before >= 290, `started ${startedAt[0]! - before} ms after add`);
      }));

    it('runs higher-priority jobs first within a queue (lower number first, FIFO within a level)', () =>
      withClient(factory, async (client) => {
        const q = client.queue('prio');
        await q.add('a', { i: 1 }, { priority: 'low' });
        await q.add('b', { i: 2 }, { priority: 'normal' });
        await q.add('c', { i: 3 }, { priority: 'critical' });
        await q.add('d', { i: 4 }, { priority: 'normal' });
        await q.add('e', { i: 5 }, { priority: 10 });
        const order: string[] = [];
        q.process(async (job) => {
          order.push(job.name);
        }, { concurrency: 1 });
        await waitFor(() => order.length === 5, 'all five ran');
        assert.deepEqual(order, ['c', 'e', 'b', 'd', 'a']);
      }));

    it('deduplicates by caller id and by unique key', () =>
      withClient(factory, async (client) => {
        const q = client.queue('dedup');
        const first = await q.add('x', { v: 1 }, { id: 'order-42' });
        const again = await q.add('x', { v: 2 }, { id: 'order-42' });
        assert.deepEqual(again, { id: 'order-42', inserted: false, state: first.state });
        assert.deepEqual((await client.getJob('order-42'))?.payload, { v: 1 });
        const k1 = await q.add('x', {}, { uniqueKey: 'user-7' });
        const k2 = await q.add('x', {}, { uniqueKey: 'user-7' });
        assert.equal(k2.inserted, false);
        assert.equal(k2.id, k1.id);
      }));

    it('never runs more handlers at once than the concurrency limit', () =>
      withClient(factory, async (client) => {
        const q = client.queue('limited');
        await q.addBulk(Array.from({ length: 30 }, (_, i) => ({ name: 'w', payload: { i } })));
        let active = 0;
        let peak = 0;
        let done = 0;
        q.process(async () => {
          active += 1;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 5));
          active -= 1;
          done += 1;
        }, { concurrency: 4 });
        await waitFor(() => done === 30, 'all 30 done');
        assert.equal(peak, 4);
      }));

    it('resumes claiming as soon as held-back outcomes are written (backpressure never stalls a worker)', () =>
      withClient(factory, async (client, backend) => {
        // Outcomes are written slowly, so the worker hits its backpressure limit (4 × 100 + 500
        // pending outcomes). With a 60 s poll interval, only the completer's wake-up can resume it.
        const slow = new Proxy(backend, {
          get(target, prop, receiver) {
            const value = Reflect.get(target, prop, receiver);
            if (prop !== 'finalizeJobs') return typeof value === 'function' ? value.bind(target) : value;
            return async (params: Parameters<typeof backend.finalizeJobs>[0]) => {
              await new Promise((r) => setTimeout(r, 200));
              return target.finalizeJobs(params);
            };
          },
        });
        const slowClient = makeClient(slow, { maintenance: false });
        try {
          const q = slowClient.queue('backpressure');
          await q.addBulk(Array.from({ length: 3000 }, (_, i) => ({ name: 'w', payload: { i } })));
          q.process(async () => undefined, { concurrency: 100, pollIntervalMs: 60_000 });
          await waitFor(async () => (await client.counts({ queue: 'backpressure' })).backpressure?.completed === 3000, 'all 3000 completed', 30_000);
        } finally {
          await slowClient.close({ graceMs: 1000 });
        }
      }));

    it('prefetches claimed jobs into a local buffer, cancels them there, and releases them on close', () =>
      withClient(factory, async (client) => {
        const q = client.queue('prefetched');
        const ids = (await q.addBulk(Array.from({ length: 6 }, (_, i) => ({ name: 'w', payload: { i } })))).map((a) => a.id);
        const started: string[] = [];
        const worker = q.process(async (job) => {
          started.push(job.id);
          await new Promise((r) => setTimeout(r, 60_000).unref()); // holds the only slot
        }, { concurrency: 1, prefetch: 5, abortGraceMs: 50 });
        // The claim's commit can be visible to this query before the worker has handled the
        // claim's answer (PostgreSQL: two connections), so wait for the first start too.
        await waitFor(async () => started.length > 0 && (await client.counts({ queue: 'prefetched' })).prefetched?.running === 6, 'all six claimed (1 running, 5 buffered)');
        await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual(started, [ids[0]]);
        assert.equal(await client.cancel(ids[5]!), 'cancel_requested');
        await waitFor(async () => (await client.getJob(ids[5]!))?.state === 'cancelled', 'buffered job cancelled without running');
        await worker.close({ graceMs: 100 });
        for (const id of ids.slice(0, 5)) {
          const job = await client.getJob(id);
          assert.equal(job?.state, 'queued', `${id} released`);
          assert.equal(job?.attempt, 0, 'a released attempt is given back');
        }
        assert.deepEqual(started, [ids[0]], 'buffered jobs never started');
      }));

    it('removes completed jobs per removeOnComplete (true: at completion), keeps them per removeOnComplete: false', () =>
      withClient(factory, async (client) => {
        const q = client.queue('ephemeral');
        const gone = await q.add('x', {}, { removeOnComplete: true });
        const kept = await q.add('x', {}, { removeOnComplete: false });
        q.process(async () => 'ok');
        await waitFor(async () => (await client.getJob(kept.id))?.state === 'completed', 'kept completes');
        await waitFor(async () => (await client.getJob(gone.id)) === null, 'removed job gone');
        assert.equal((await client.getJob(kept.id))?.expiresAt, null);
      }));

    it('rejects bad input with a ValidationError naming the field, and writes nothing', () =>
      withClient(factory, async (client) => {
        const q = client.queue('strict', { schema: z.object({ email: z.string().email(), age: z.number().int() }) });
        const bad: Array<[() => Promise<unknown>, RegExp]> = [
          [() => q.add('signup', { email: 'nope', age: 3 }), /payload\.email/],
          [() => q.add('signup', { email: 'a@b.co', age: 1.5 }), /payload\.age/],
          [() => q.add('signup', { email: 'a@b.co', age: 1 }, { maxRetries: -1 }), /opts\.maxRetries/],
          [() => q.add('signup', { email: 'a@b.co', age: 1 }, { delay: NaN }), /opts\.delay/],
          [() => q.add('signup', { email: 'a@b.co', age: 1 }, { priority: 'asap' as never }), /opts\.priority/],
          [() => q.add('bad name', { email: 'a@b.co', age: 1 }), /^name/],
          [async () => client.queue('bad queue!').add('x', {}), /queue/],
          [() => q.addBulk([{ name: 'ok', payload: { email: 'a@b.co', age: 1 } }, { name: 'ok', payload: { email: 'x', age: 1 } }]), /jobs\[1\]\.payload\.email/],
        ];
        for (const [call, message] of bad) {
          await assert.rejects(call, (err: unknown) => err instanceof ValidationError && message.test(err.message));
        }
        const big = client.queue('big');
        await assert.rejects(() => big.add('x', { blob: 'x'.repeat(1024 * 1024) }), /over the 1048576-byte limit/);
        assert.deepEqual(await client.counts(), {});
        const ok = await q.add('signup', { email: 'a@b.co', age: 30 });
        assert.equal(ok.inserted, true);
        if (process.env.SPINDLE_TYPE_ONLY === 'never-set') {
          // Type-level checks (never run): the payload type is inferred from the schema.
          // @ts-expect-error age must be a number
          await q.add('signup', { email: 'a@b.co', age: '30' });
          q.process(async (job) => job.payload.email.toUpperCase());
        }
      }));

    it('delivers events committed through one backend instance to another instance on the same database', async (t) => {
      const { backend, cleanup, openAnother } = await factory.makeBackend();
      if (!openAnother) {
        t.skip('factory cannot open a second instance');
        await cleanup();
        return;
      }
      const other = await openAnother();
      const producer = makeClient(backend);
      const observer = makeClient(other, { maintenance: false });
      try {
        const seen: string[] = [];
        observer.on('completed', (e) => seen.push(e.jobId));
        await observer.start();
        const q = producer.queue('observed');
        const { id } = await q.add('x', {});
        q.process(async () => 'ok');
        await waitFor(() => seen.includes(id), 'completed event seen by the other instance');
      } finally {
        await producer.close({ graceMs: 100 });
        await observer.close();
        await other.close();
        await cleanup();
      }
    });

    it('finishes in-flight jobs on close within the grace period and releases the rest', () =>
      withClient(factory, async (client) => {
        const q = client.queue('shutdown');
        const quick = await q.add('quick', {});
        const stuck = await q.add('stuck', {});
        const started = deferred();
        let count = 0;
        const worker = q.process(async (job) => {
          if (++count === 2) started.resolve();
          if (job.name === 'quick') {
            await new Promise((r) => setTimeout(r, 100));
            return 'done';
          }
          await new Promise((r) => setTimeout(r, 60_000).unref()); // ignores its signal: released after the grace
        }, { concurrency: 2, abortGraceMs: 100 });
        await started.promise;
        await worker.close({ graceMs: 1500 });
        assert.equal((await client.getJob(quick.id))?.state, 'completed');
        const released = await client.getJob(stuck.id);
        assert.equal(released?.state, 'queued');
        assert.equal(released?.attempt, 0, 'a released attempt is given back');
        assert.equal(worker.running, 0);
      }));
  });
}
