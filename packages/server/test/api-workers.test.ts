/**
 * `GET /workers` (library and HTTP workers in the shared registry) and `GET /queues/:q/stats`
 * (per-minute throughput counters), on both backends.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BACKENDS, call, waitFor, withServer } from './harness.js';

for (const maker of BACKENDS) {
  describe(`${maker.name}: workers and stats`, () => {
    test('library and HTTP workers are listed with their queue, concurrency and last heartbeat', () =>
      withServer(maker, async ({ app, client }) => {
        const worker = client.queue('lib').process(async () => {}, { concurrency: 3 });
        await call(app, 'POST', '/api/v1/queues/remote/claim', { workerId: 'py-7', batch: 4 });
        const listed = await waitFor(async () => {
          const res = await call(app, 'GET', '/api/v1/workers');
          const kinds = res.body.workers.map((w: { kind: string }) => w.kind).sort();
          return kinds.includes('library') && kinds.includes('http') ? res.body.workers : null;
        }, 'both workers registered');
        const lib = listed.find((w: { kind: string }) => w.kind === 'library');
        const http = listed.find((w: { kind: string }) => w.kind === 'http');
        assert.equal(lib.queue, 'lib');
        assert.equal(lib.concurrency, 3);
        assert.equal(lib.pid, process.pid);
        assert.equal(http.queue, 'remote');
        assert.equal(http.concurrency, 4);
        assert.ok(Date.now() - Date.parse(http.lastSeenAt) < 60_000);
        const filtered = await call(app, 'GET', '/api/v1/workers?queue=remote');
        assert.deepEqual(filtered.body.workers.map((w: { kind: string }) => w.kind), ['http']);
        await worker.close();
      }));

    test('per-minute stats count enqueued and completed jobs of a queue', () =>
      withServer(maker, async ({ app, client }) => {
        await call(app, 'POST', '/api/v1/queues/st/jobs/batch', { jobs: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
        const worker = client.queue('st').process(async () => {});
        const minutes = await waitFor(async () => {
          const res = await call(app, 'GET', '/api/v1/queues/st/stats');
          const total = res.body.minutes.reduce((sum: number, m: { completed: number }) => sum + m.completed, 0);
          return total === 3 ? res.body.minutes : null;
        }, 'three completions counted');
        assert.equal(minutes.reduce((sum: number, m: { enqueued: number }) => sum + m.enqueued, 0), 3);
        assert.match(minutes[0].minute, /:00\.000Z$/);
        await worker.close();
        const bad = await call(app, 'GET', '/api/v1/queues/st/stats?from=2026-01-01');
        assert.equal(bad.status, 400);
      }));
  });
}
