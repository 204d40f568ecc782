/**
 * Multi-queue workers on a real backend (DESIGN §5, issue 6 part 1): weighted shares under
 * saturation, work conservation, strict priority, per-job priority inside a queue, wake-ups, each
 * job's own queue hooks, and the registry listing per queue. Shares are counted from handler
 * starts, so they measure what the worker did, not what the planner meant to do.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '@spindle/core';
import { deferred, makeClient, waitFor, withClient, type BackendFactory } from './harness.js';

/** Adds `count` no-op jobs to `queue` in bulk chunks. */
async function fill(client: Client, queue: string, count: number, priority?: number): Promise<void> {
  const q = client.queue(queue);
  for (let i = 0; i < count; i += 1000) {
    const n = Math.min(1000, count - i);
    await q.addBulk(Array.from({ length: n }, (_, k) => ({ name: 'job', payload: { i: i + k }, ...(priority === undefined ? {} : { opts: { priority } }) })));
  }
}

/** Runs a worker on `spec` until `n` handlers started; returns the queues of those starts, in order. */
async function startsOf(client: Client, spec: Parameters<Client['worker']>[0], n: number, options: { concurrency: number; prefetch?: number }): Promise<string[]> {
  const starts: string[] = [];
  const enough = deferred();
  const worker = client.worker(spec, async (job) => {
    if (starts.length < n) starts.push(job.queue);
    if (starts.length === n) enough.resolve();
  }, { ...options, pollIntervalMs: 50 });
  await enough.promise;
  await worker.close({ graceMs: 1000 });
  return starts;
}

function shares(starts: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const q of starts) out[q] = (out[q] ?? 0) + 1 / starts.length;
  return out;
}

function assertShares(actual: Record<string, number>, expected: Record<string, number>, tolerance: number): void {
  for (const [queue, share] of Object.entries(expected)) {
    const got = actual[queue] ?? 0;
    assert.ok(Math.abs(got - share) <= tolerance, `${queue}: share ${(got * 100).toFixed(2)} % vs ${(share * 100).toFixed(0)} % ± ${(tolerance * 100).toFixed(0)}`);
  }
}

export function schedulingTests(factory: BackendFactory): void {
  describe(`${factory.name}: multi-queue workers (strict and weighted)`, () => {
    it('weighted 6/3/1 under saturation: shares of 10,000 started jobs within ±2 %', () =>
      withClient(factory, async (client) => {
        for (const q of ['high', 'medium', 'low']) await fill(client, q, 10_000);
        const starts = await startsOf(client, { weighted: { high: 6, medium: 3, low: 1 } }, 10_000, { concurrency: 10, prefetch: 90 });
        assertShares(shares(starts), { high: 0.6, medium: 0.3, low: 0.1 }, 0.02);
      }));

    it('weighted is work-conserving: a quiet queue\'s share goes to the others, in their ratio', () =>
      withClient(factory, async (client) => {
        await fill(client, 'medium', 4000);
        await fill(client, 'low', 4000);
        const starts = await startsOf(client, { weighted: { high: 6, medium: 3, low: 1 } }, 4000, { concurrency: 10, prefetch: 40 });
        assertShares(shares(starts), { high: 0, medium: 0.75, low: 0.25 }, 0.02);
      }));

    it('strict: the lower queue waits while the higher has work, then gets every slot', () =>
      withClient(factory, async (client) => {
        await fill(client, 'urgent', 1500);
        await fill(client, 'bulk', 1500);
        const starts = await startsOf(client, ['urgent', 'bulk'], 3000, { concurrency: 5 });
        assert.equal(starts.indexOf('bulk'), 1500, 'no bulk job started before every urgent one had');
        assert.equal(starts.filter((q) => q === 'bulk').length, 1500);
      }));

    it('keeps per-job priority inside each queue under the weighted strategy', () =>
      withClient(factory, async (client) => {
        await fill(client, 'a', 20, 100); // low priority first…
        await fill(client, 'a', 5, 0); // …then urgent ones: they must run first in `a`
        await fill(client, 'b', 25);
        const order: Array<[string, number]> = [];
        const done = deferred();
        const worker = client.worker({ weighted: { a: 1, b: 1 } }, async (job) => {
          order.push([job.queue, job.priority]);
          if (order.length === 50) done.resolve();
        }, { concurrency: 1 });
        await done.promise;
        await worker.close();
        const inA = order.filter(([q]) => q === 'a').map(([, p]) => p);
        assert.deepEqual(inA.slice(0, 5), [0, 0, 0, 0, 0]);
        assert.equal(order.slice(0, 10).filter(([q]) => q === 'b').length, 5, 'equal weights alternate');
      }));

    it('wakes on an event for any served queue, lists itself per queue, and runs each job with its own queue\'s hooks', () =>
      withClient(factory, async (client, backend) => {
        client.queue('strict-hooks', { classifyError: () => 'permanent' });
        client.queue('lenient-hooks');
        const ran: string[] = [];
        const worker = client.worker(['strict-hooks', 'lenient-hooks'], async (job) => {
          ran.push(job.queue);
          throw new Error(`boom in ${job.queue}`);
        }, { concurrency: 2, pollIntervalMs: 60_000 });
        await client.start();
        // Idle on both queues (first claims came back empty); the poll is a minute away.
        await waitFor(() => worker.dispatchSlots('lenient-hooks') > 0, 'the worker is idle');
        // A producer without workers (as another process would be): no direct dispatch, so only
        // the 'added' events can wake the worker before its poll.
        const producer = makeClient(backend, { maintenance: false });
        const t0 = Date.now();
        const lenient = await producer.queue('lenient-hooks').add('x', {}, { maxRetries: 3, backoff: { type: 'fixed', delayMs: 60_000 } });
        const strict = await producer.queue('strict-hooks').add('x', {}, { maxRetries: 3 });
        await producer.close();
        await waitFor(async () => (await client.getJob(lenient.id))?.state === 'retrying', 'lenient job retrying');
        await waitFor(async () => (await client.getJob(strict.id))?.state === 'dead', 'strict job dead (its queue classifies every error as permanent)');
        assert.ok(Date.now() - t0 < 5000, 'started without waiting for the poll');
        assert.deepEqual(ran.sort(), ['lenient-hooks', 'strict-hooks']);
        const listed = await waitFor(async () => {
          const rows = (await client.listWorkers()).filter((w) => w.id.startsWith(worker.id));
          return rows.length === 2 ? rows : null;
        }, 'two registry rows');
        assert.deepEqual(listed.map((w) => w.queue).sort(), ['lenient-hooks', 'strict-hooks']);
        await worker.close();
      }));
  });
}
