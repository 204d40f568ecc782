/**
 * Client-level telemetry: library workers in the worker registry (registered on start, busy
 * slots on a heartbeat that is ONE statement per client per tick, removed on close), the
 * per-minute throughput counters of what a client committed (enqueues, finalized attempts,
 * rescued leases; never what other clients did), pruning by the maintenance leader, the
 * idempotency-key default, and validation at these entry points.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { Client, PermanentError, ValidationError, type Backend, type StatsRow, type UpsertWorkersParams } from '@spindle/core';
import { deferred, makeClient, waitFor, withClient, type BackendFactory } from './harness.js';

const MINUTE = 60_000;

/** `backend` with upsertWorkers / recordStats calls recorded. */
function spy(backend: Backend): { backend: Backend; upserts: UpsertWorkersParams[]; statsCalls: () => number } {
  const upserts: UpsertWorkersParams[] = [];
  let statsCalls = 0;
  const wrapped = new Proxy(backend, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'upsertWorkers') {
        return (p: UpsertWorkersParams) => {
          upserts.push(p);
          return target.upsertWorkers(p);
        };
      }
      if (prop === 'recordStats') {
        return (p: Parameters<Backend['recordStats']>[0]) => {
          statsCalls += 1;
          return target.recordStats(p);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { backend: wrapped, upserts, statsCalls: () => statsCalls };
}

/** The counters of `queue` summed over the minutes around now. */
async function totals(client: Client, queue: string): Promise<Omit<StatsRow, 'queue' | 'minute'>> {
  const now = Date.now();
  const rows = await client.readStats({ queue, from: new Date(now - 10 * MINUTE), to: new Date(now + MINUTE) });
  const sum = { enqueued: 0, completed: 0, retried: 0, dead: 0, cancelled: 0 };
  for (const r of rows) for (const k of Object.keys(sum) as Array<keyof typeof sum>) sum[k] += r[k];
  return sum;
}

/**
 * Flushes and reads until the totals are `expected` (a count is added right after its write
 * resolves, which may be a moment after the job's new state is visible), then asserts them.
 */
async function expectTotals(client: Client, queue: string, expected: Omit<StatsRow, 'queue' | 'minute'>): Promise<void> {
  let last: unknown;
  await waitFor(async () => {
    await client.flushTelemetry();
    last = await totals(client, queue);
    return JSON.stringify(last) === JSON.stringify(expected);
  }, `totals of ${queue}`, 5_000).catch(() => undefined);
  assert.deepStrictEqual(last, expected);
}

export function telemetryTests(factory: BackendFactory): void {
  describe(`${factory.name}: worker registry and throughput counters`, () => {
    it('registers a worker on start, reports its busy slots, and removes it on close', () =>
      withClient(
        factory,
        async (client) => {
          const q = client.queue('registry');
          const gate = deferred();
          const worker = q.process(async () => gate.promise, { concurrency: 3, workerId: 'reg-worker-1' });
          const registered = await waitFor(async () => (await client.listWorkers())[0], 'worker registered');
          assert.equal(registered.id, 'reg-worker-1');
          assert.deepStrictEqual(
            { queue: registered.queue, host: registered.host, pid: registered.pid, kind: registered.kind, concurrency: registered.concurrency, meta: registered.meta },
            { queue: 'registry', host: hostname().slice(0, 255), pid: process.pid, kind: 'library', concurrency: 3, meta: null },
          );
          await q.addBulk([{ name: 'a', payload: {} }, { name: 'b', payload: {} }]);
          await waitFor(async () => (await client.listWorkers({ queue: 'registry' }))[0]?.busy === 2, 'busy 2 reported');
          const busy = (await client.listWorkers())[0]!;
          assert.ok(busy.lastSeenAt.getTime() > registered.lastSeenAt.getTime(), 'lastSeenAt moves');
          assert.deepStrictEqual(busy.startedAt, registered.startedAt, 'startedAt stays');
          gate.resolve();
          await waitFor(async () => (await client.listWorkers())[0]?.busy === 0, 'busy 0 reported');
          await worker.close();
          assert.deepStrictEqual(await client.listWorkers(), [], 'gone as soon as close() resolved');
        },
        { telemetry: { heartbeatMs: 20 } },
      ));

    it('heartbeats all workers of a client in one statement per tick', async () => {
      const { backend: raw, cleanup } = await factory.makeBackend();
      const s = spy(raw);
      const client = makeClient(s.backend, { telemetry: { heartbeatMs: 50 } });
      try {
        await client.start();
        for (const name of ['hb-a', 'hb-b', 'hb-c']) client.queue(name).process(async () => undefined);
        await waitFor(async () => (await client.listWorkers()).length === 3, 'three workers registered');
        const before = s.upserts.length;
        const started = Date.now();
        await new Promise((r) => setTimeout(r, 500));
        const ticks = s.upserts.slice(before);
        const elapsed = Date.now() - started;
        assert.ok(ticks.length >= 3, `heartbeats seen: ${ticks.length}`);
        assert.ok(ticks.length <= Math.ceil(elapsed / 50) + 2, `${ticks.length} statements in ${elapsed} ms: more than one per tick`);
        for (const tick of ticks) assert.equal(tick.workers.length, 3);
      } finally {
        await client.close({ graceMs: 200 });
        await cleanup();
      }
    });

    it('counts what it enqueued and finalized per minute, kept after the jobs are gone', () =>
      withClient(
        factory,
        async (client) => {
          const q = client.queue<{ mode: string }>('counted', { defaultJobOptions: { backoff: { type: 'fixed', delayMs: 10 } } });
          const modes = ['ok', 'ok', 'retry-once', 'permanent', 'cancel'];
          const added = await q.addBulk(modes.map((mode) => ({ name: 'job', payload: { mode }, opts: { removeOnComplete: true } })));
          const dup = await q.add('job', { mode: 'ok' }, { id: added[0]!.id });
          assert.equal(dup.inserted, false);
          const cancelId = added[4]!.id;
          q.process(async (job) => {
            if (job.payload.mode === 'retry-once' && job.attempt === 1) throw new Error('flaky');
            if (job.payload.mode === 'permanent') throw new PermanentError('bad input');
            if (job.payload.mode === 'cancel') {
              await new Promise((_, reject) => job.signal.addEventListener('abort', () => reject(job.signal.reason)));
            }
            return 'ok';
          }, { concurrency: 5 });
          await waitFor(async () => (await client.getJob(cancelId))?.state === 'running', 'cancellable job running');
          await client.cancel(cancelId);
          await waitFor(async () => {
            const c = await client.counts({ queue: 'counted' });
            return (c.counted?.dead ?? 0) === 1 && (c.counted?.cancelled ?? 0) === 1 && (c.counted?.completed ?? 0) === 0 && (c.counted?.queued ?? 0) === 0 && (c.counted?.running ?? 0) === 0 && (c.counted?.retrying ?? 0) === 0;
          }, 'completed jobs removed, one dead, one cancelled');
          await client.dlq.purge({ filter: { queue: 'counted' } });
          await expectTotals(client, 'counted', { enqueued: 5, completed: 3, retried: 1, dead: 1, cancelled: 1 });
        },
        { telemetry: { statsFlushMs: 60_000 } },
      ));

    it('counts a lease its rescuer expired as a retry (as maintenance leader)', () =>
      withClient(
        factory,
        async (client, backend) => {
          await waitFor(() => client.isLeader, 'leader');
          const [job] = await client.queue('rescued').addBulk([{ name: 'crashy', payload: {} }]);
          const claimed = await backend.claimJobs({ queue: 'rescued', workerId: 'crashed', limit: 1, leaseMs: 100 });
          assert.deepStrictEqual(claimed.map((c) => c.id), [job!.id]);
          const waiting = ['retrying', 'queued'];
          await waitFor(async () => waiting.includes((await client.getJob(job!.id))?.state ?? ''), 'rescued (retrying, then queued)');
          await expectTotals(client, 'rescued', { enqueued: 1, completed: 0, retried: 1, dead: 0, cancelled: 0 });
        },
        { telemetry: { statsFlushMs: 60_000 } },
      ));

    it('never counts what other clients committed (events seen are not counted)', async () => {
      const { backend: raw, cleanup } = await factory.makeBackend();
      const watcher = spy(raw);
      const producer = makeClient(raw, { maintenance: false });
      const observer = makeClient(watcher.backend, { maintenance: false });
      try {
        await observer.start();
        let seen = 0;
        observer.on('completed', () => (seen += 1));
        const q = producer.queue('elsewhere');
        await q.addBulk(Array.from({ length: 4 }, () => ({ name: 'x', payload: {} })));
        q.process(async () => 'ok');
        await waitFor(() => seen === 4, 'the observer saw the completions');
        await expectTotals(producer, 'elsewhere', { enqueued: 4, completed: 4, retried: 0, dead: 0, cancelled: 0 });
        await observer.flushTelemetry();
        assert.equal(watcher.statsCalls(), 0, 'the observer wrote no counters');
      } finally {
        await producer.close({ graceMs: 200 });
        await observer.close({ graceMs: 200 });
        await cleanup();
      }
    });

    it('with telemetry: false writes no heartbeat and no counters', async () => {
      const { backend: raw, cleanup } = await factory.makeBackend();
      const s = spy(raw);
      const client = makeClient(s.backend, { telemetry: false });
      try {
        const q = client.queue('silent');
        const { id } = await q.add('x', {});
        q.process(async () => 'ok');
        await waitFor(async () => (await client.getJob(id))?.state === 'completed', 'completed');
        await client.flushTelemetry();
        assert.deepStrictEqual([s.upserts.length, s.statsCalls()], [0, 0]);
        assert.deepStrictEqual(await client.listWorkers(), []);
      } finally {
        await client.close({ graceMs: 200 });
        await cleanup();
      }
    });

    it('the maintenance leader prunes stale workers, expired keys and old counters', () =>
      withClient(
        factory,
        async (client, backend) => {
          const now = await client.now();
          const ago = (ms: number) => new Date(now.getTime() - ms);
          const row = { queue: 'q', host: 'h', pid: 1, concurrency: 1, busy: 0, kind: 'http' as const, meta: null };
          await backend.upsertWorkers({ workers: [{ ...row, id: 'stale' }], now: ago(10 * MINUTE) });
          await backend.upsertWorkers({ workers: [{ ...row, id: 'live' }] });
          await backend.claimIdempotencyKey({ scope: 's', key: 'expired', requestHash: 'h', ttlMs: 1000, now: ago(MINUTE) });
          await backend.recordStats({ rows: [{ queue: 'q', minute: ago(3 * 3600_000), completed: 1 }, { queue: 'q', minute: now, completed: 2 }] });
          await waitFor(async () => (await client.listWorkers()).map((w) => w.id).join() === 'live', 'stale worker pruned');
          await waitFor(async () => (await client.readStats({ queue: 'q', from: ago(4 * 3600_000), to: new Date(now.getTime() + MINUTE) })).length === 1, 'old counters pruned');
          const key = await client.claimIdempotencyKey({ scope: 's', key: 'expired', requestHash: 'new' });
          assert.equal(key.claimed, true);
          assert.equal(key.expiresAt.getTime() - key.createdAt.getTime(), 24 * 3600_000, 'default ttl 24 h');
        },
        { telemetry: { workerExpiryMs: 5 * MINUTE, statsRetentionMs: 3600_000 } },
      ));

    it('rejects bad input at these entry points with a ValidationError, writing nothing', () =>
      withClient(factory, async (client) => {
        const bad: Array<[() => Promise<unknown>, RegExp]> = [
          [() => client.listWorkers({ queue: 'a b' }), /queue/],
          [() => client.listWorkers({ now: new Date() } as never), /params\.now/],
          [() => client.readStats({ from: 'garbage', to: new Date() }), /from/],
          [() => client.readStats({ from: new Date(), to: new Date(Date.now() - 1) }), /to/],
          [() => client.claimIdempotencyKey({ scope: '', key: 'k', requestHash: 'h' }), /scope/],
          [() => client.claimIdempotencyKey({ scope: 's', key: 'k', requestHash: 'h', ttlMs: -5 }), /ttlMs/],
        ];
        for (const [call, message] of bad) {
          await assert.rejects(call, (err: unknown) => err instanceof ValidationError && message.test(err.message), String(message));
        }
        const fresh = await client.claimIdempotencyKey({ scope: 's', key: 'k', requestHash: 'h' });
        assert.equal(fresh.claimed, true, 'the rejected claims wrote nothing');
        const { backend } = client;
        for (const telemetry of [{ heartbeatMs: 0 }, { statsFlushMs: 1.5 }, { workerExpiryMs: 10 }, { colour: 'red' }, 'yes']) {
          assert.throws(() => new Client({ backend, telemetry } as never), (err: unknown) => err instanceof ValidationError && /telemetry/.test(err.message));
        }
      }));
  });
}
