/**
 * The worker registry (stores.ts): upsertWorkers registers or heartbeats many workers in one
 * call (lastSeenAt moves, startedAt stays), listWorkers orders by (queue, id) and filters by
 * queue and recency, removeWorkers deletes by id, pruneStores deletes workers not seen for
 * `workerExpiryMs` (at most `limit` per call). Bad input is a ValidationError and writes nothing.
 */
import assert from 'node:assert/strict';
import type { Backend, WorkerInfo, WorkerUpsert } from '@spindle/core';
import type { Suite } from '../suite.js';
import { uniqueId } from './fixtures.js';

export function worker(overrides: Partial<WorkerUpsert> = {}): WorkerUpsert {
  return {
    id: uniqueId('worker'),
    queue: 'emails',
    host: 'host-a',
    pid: 4242,
    concurrency: 8,
    busy: 0,
    kind: 'library',
    meta: null,
    ...overrides,
  };
}

/** What listWorkers should answer for `w` upserted first at `startedAt`, last at `lastSeenAt`. */
function expected(w: WorkerUpsert, startedAt: Date, lastSeenAt: Date): WorkerInfo {
  return {
    id: w.id,
    queue: w.queue,
    host: w.host,
    pid: w.pid ?? null,
    concurrency: w.concurrency,
    busy: w.busy,
    kind: w.kind,
    meta: w.meta == null ? null : JSON.parse(w.meta),
    startedAt,
    lastSeenAt,
  };
}

const ids = async (backend: Backend, params?: Parameters<Backend['listWorkers']>[0]) => (await backend.listWorkers(params)).map((w) => w.id);

export function workerTests(suite: Suite): void {
  suite.group('worker registry', () => {
    suite.test('registers many workers in one call and lists them by queue, then id', async ({ backend, at }) => {
      const a = worker({ id: 'w-b', queue: 'emails', busy: 3, meta: JSON.stringify({ version: '1.2.3' }) });
      const b = worker({ id: 'w-a', queue: 'emails', kind: 'http', pid: null, host: 'remote.example' });
      const c = worker({ id: 'w-0', queue: 'billing', concurrency: 1, busy: 1 });
      await backend.upsertWorkers({ workers: [a, b, c], now: at(0) });
      assert.deepStrictEqual(await backend.listWorkers(), [expected(c, at(0), at(0)), expected(b, at(0), at(0)), expected(a, at(0), at(0))]);
    });

    suite.test('a heartbeat updates busy slots and lastSeenAt and keeps startedAt', async ({ backend, at }) => {
      const w = worker({ busy: 0 });
      await backend.upsertWorkers({ workers: [w], now: at(0) });
      const beat = { ...w, busy: 5, concurrency: 10, meta: JSON.stringify({ note: 'busy' }) };
      await backend.upsertWorkers({ workers: [beat], now: at(5_000) });
      assert.deepStrictEqual(await backend.listWorkers(), [expected(beat, at(0), at(5_000))]);
    });

    suite.test('filters by queue and by seenWithinMs of now', async ({ backend, at }) => {
      const old = worker({ id: 'old', queue: 'a' });
      const fresh = worker({ id: 'fresh', queue: 'a' });
      const other = worker({ id: 'other', queue: 'b' });
      await backend.upsertWorkers({ workers: [old], now: at(0) });
      await backend.upsertWorkers({ workers: [fresh, other], now: at(10_000) });
      assert.deepStrictEqual(await ids(backend, { queue: 'a' }), ['fresh', 'old']);
      assert.deepStrictEqual(await ids(backend, { seenWithinMs: 5_000, now: at(12_000) }), ['fresh', 'other']);
      assert.deepStrictEqual(await ids(backend, { queue: 'a', seenWithinMs: 12_000, now: at(12_000) }), ['fresh', 'old']);
      assert.deepStrictEqual(await ids(backend, { queue: 'nobody' }), []);
    });

    suite.test('removeWorkers deletes by id and answers how many existed', async ({ backend, at }) => {
      const [x, y, z] = [worker(), worker(), worker()];
      await backend.upsertWorkers({ workers: [x!, y!, z!], now: at(0) });
      assert.equal(await backend.removeWorkers({ ids: [x!.id, z!.id, 'never-registered'] }), 2);
      assert.deepStrictEqual(await ids(backend), [y!.id]);
      assert.equal(await backend.removeWorkers({ ids: [x!.id] }), 0);
    });

    suite.test('a removed worker that heartbeats again is registered anew', async ({ backend, at }) => {
      const w = worker();
      await backend.upsertWorkers({ workers: [w], now: at(0) });
      await backend.removeWorkers({ ids: [w.id] });
      await backend.upsertWorkers({ workers: [w], now: at(7_000) });
      assert.deepStrictEqual(await backend.listWorkers(), [expected(w, at(7_000), at(7_000))]);
    });

    suite.test('pruneStores deletes workers not seen for workerExpiryMs, at most limit per call', async ({ backend, at }) => {
      const stale = [worker({ id: 's1' }), worker({ id: 's2' }), worker({ id: 's3' })];
      await backend.upsertWorkers({ workers: stale, now: at(0) });
      await backend.upsertWorkers({ workers: [worker({ id: 'live' })], now: at(55_000) });
      const keep = { workerExpiryMs: null, statsRetentionMs: null, limit: 100, now: at(120_000) };
      assert.equal((await backend.pruneStores(keep)).workers, 0, 'workerExpiryMs null keeps every worker');
      const prune = { workerExpiryMs: 60_000, statsRetentionMs: null, limit: 2, now: at(61_000) };
      assert.deepStrictEqual(await backend.pruneStores(prune), { workers: 2, idempotencyKeys: 0, stats: 0 });
      assert.deepStrictEqual(await backend.pruneStores(prune), { workers: 1, idempotencyKeys: 0, stats: 0 });
      assert.deepStrictEqual(await ids(backend), ['live']);
      assert.equal((await backend.pruneStores({ ...prune, now: at(115_000) })).workers, 0, 'seen exactly workerExpiryMs ago is kept');
      assert.equal((await backend.pruneStores({ ...prune, now: at(115_001) })).workers, 1);
    });

    suite.test('rejects bad input with a ValidationError and writes nothing', async ({ backend, at }) => {
      const good = worker();
      const bad: Array<[string, () => Promise<unknown>]> = [
        ['no workers', () => backend.upsertWorkers({ workers: [], now: at(0) })],
        ['busy above concurrency', () => backend.upsertWorkers({ workers: [good, worker({ busy: 9, concurrency: 8 })] })],
        ['unknown kind', () => backend.upsertWorkers({ workers: [good, worker({ kind: 'thread' as never })] })],
        ['bad queue name', () => backend.upsertWorkers({ workers: [good, worker({ queue: 'no spaces' })] })],
        ['meta not JSON', () => backend.upsertWorkers({ workers: [good, worker({ meta: '{nope' })] })],
        ['meta not an object', () => backend.upsertWorkers({ workers: [good, worker({ meta: '[1]' })] })],
        ['meta too large', () => backend.upsertWorkers({ workers: [good, worker({ meta: JSON.stringify({ x: 'y'.repeat(5000) }) })] })],
        ['duplicate ids', () => backend.upsertWorkers({ workers: [good, { ...good }] })],
        ['empty id', () => backend.upsertWorkers({ workers: [good, worker({ id: '' })] })],
        ['negative pid', () => backend.upsertWorkers({ workers: [good, worker({ pid: -1 })] })],
        ['unknown field', () => backend.upsertWorkers({ workers: [good, { ...worker(), colour: 'red' } as never] })],
        ['bad now', () => backend.upsertWorkers({ workers: [good], now: new Date(Number.NaN) })],
        ['no ids', () => backend.removeWorkers({ ids: [] })],
        ['bad listing queue', () => backend.listWorkers({ queue: '../etc' })],
        ['negative seenWithinMs', () => backend.listWorkers({ seenWithinMs: -1 })],
      ];
      for (const [what, call] of bad) {
        await assert.rejects(call, (err: unknown) => (err as Error).name === 'ValidationError', what);
      }
      assert.deepStrictEqual(await backend.listWorkers(), [], 'nothing was written');
    });
  });
}
