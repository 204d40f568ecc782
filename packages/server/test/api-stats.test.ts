/**
 * `GET /api/v1/stats` (throughput over a window for the dashboard's charts), on both backends:
 * buckets without gaps, sums across queues, the queue filter, step sizes, limits and access.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateApiKey } from '../src/auth/api-keys.js';
import { BACKENDS, call, waitFor, withServer } from './harness.js';

const MINUTE = 60_000;

for (const maker of BACKENDS) {
  describe(`${maker.name}: GET /stats`, () => {
    test('sums the per-minute counters into zero-filled buckets, overall and per queue', () =>
      withServer(maker, async ({ app, client }) => {
        const now = (await client.now()).getTime();
        const base = Math.floor(now / MINUTE) * MINUTE - 30 * MINUTE;
        await client.backend.recordStats({
          rows: [
            { queue: 'a', minute: new Date(base), enqueued: 5, completed: 3, retried: 1 },
            { queue: 'b', minute: new Date(base), completed: 2, dead: 1 },
            { queue: 'a', minute: new Date(base + 7 * MINUTE), completed: 4, cancelled: 2 },
            { queue: 'a', minute: new Date(base - 3 * 3_600_000), completed: 100 }, // outside the window
          ],
        });
        const from = new Date(base - 10 * MINUTE).toISOString();
        const to = new Date(base + 20 * MINUTE).toISOString();
        const res = await call(app, 'GET', `/api/v1/stats?from=${from}&to=${to}`);
        assert.equal(res.status, 200, res.raw);
        assert.equal(res.body.stepSeconds, 60);
        assert.equal(res.body.buckets.length, 30);
        assert.deepEqual(res.body.totals, { enqueued: 5, completed: 9, retried: 1, dead: 1, cancelled: 2 });
        const at = (ms: number) => res.body.buckets.find((b: { at: string }) => Date.parse(b.at) === ms);
        assert.deepEqual(at(base), { at: new Date(base).toISOString(), enqueued: 5, completed: 5, retried: 1, dead: 1, cancelled: 0, waitP95Ms: null, runP95Ms: null });
        assert.equal(at(base + MINUTE).completed, 0);
        assert.deepEqual(
          res.body.queues.map((q: { queue: string; completed: number }) => [q.queue, q.completed]),
          [
            ['a', 7],
            ['b', 2],
          ],
        );

        const onlyB = await call(app, 'GET', `/api/v1/stats?from=${from}&to=${to}&queue=b`);
        assert.deepEqual(onlyB.body.totals, { enqueued: 0, completed: 2, retried: 0, dead: 1, cancelled: 0 });
        const both = await call(app, 'GET', `/api/v1/stats?from=${from}&to=${to}&queue=a,b`);
        assert.equal(both.body.totals.completed, 9);

        const coarse = await call(app, 'GET', `/api/v1/stats?from=${from}&to=${to}&stepSeconds=600`);
        assert.equal(coarse.body.buckets.length, 3);
        assert.equal(coarse.body.buckets[1].completed, 9);

        // The default window is the last hour in 1-minute buckets; long windows get coarser steps.
        const def = await call(app, 'GET', '/api/v1/stats');
        assert.ok(def.body.buckets.length >= 60 && def.body.buckets.length <= 61, String(def.body.buckets.length));
        const month = await call(app, 'GET', `/api/v1/stats?from=${new Date(now - 30 * 24 * 3_600_000).toISOString()}`);
        assert.equal(month.status, 200);
        assert.ok(month.body.buckets.length <= 1500);
      }));

    test('reports wait and run-time percentiles of the window, overall, per bucket and per queue', () =>
      withServer(maker, async ({ app, client }) => {
        const worker = client.worker('lat', async () => {
          await new Promise((r) => setTimeout(r, 40));
        });
        for (let i = 0; i < 10; i++) await client.queue('lat').add('x', { i });
        const res = await waitFor(async () => {
          const r = await call(app, 'GET', '/api/v1/stats?queue=lat');
          // Events are best effort and may arrive out of order (PostgreSQL NOTIFY): a start seen
          // before its enqueue has no wait, so only the run times are counted exactly.
          return r.body.latency.run.count >= 10 && r.body.latency.wait.count >= 1 ? r : null;
        }, 'ten jobs observed', 30_000);
        await worker.close();
        const run = res.body.latency.run;
        // A 40 ms handler: at least ~40 ms less the window's ±19 % accuracy; no upper bound beyond units
        // (a loaded machine stretches timers), but milliseconds, not µs.
        assert.ok(run.p50 >= 30 && run.p50 < 5_000, `p50 ${run.p50}`);
        assert.ok(run.p95 >= run.p50 && run.p99 >= run.p95);
        assert.ok(res.body.buckets.some((b: { runP95Ms: number | null }) => b.runP95Ms !== null));
        assert.ok(res.body.queues.find((q: { queue: string; runP95Ms: number | null }) => q.queue === 'lat')?.runP95Ms);
        const all = await call(app, 'GET', '/api/v1/stats');
        assert.ok(all.body.latency.run.count >= 10);
        const other = await call(app, 'GET', '/api/v1/stats?queue=other');
        assert.equal(other.body.latency.run.count, 0);
        assert.equal(other.body.latency.run.p95, null);
      }));

    test('refuses bad windows and enforces access', () => {
      const admin = generateApiKey('admin', [{ queues: ['*'], actions: ['read'] }]);
      const onlyA = generateApiKey('only-a', [{ queues: ['a'], actions: ['read'] }]);
      return withServer(
        maker,
        async ({ app }) => {
          const bearer = (k: string) => ({ authorization: `Bearer ${k}` });
          assert.equal((await call(app, 'GET', '/api/v1/stats')).status, 401);
          assert.equal((await call(app, 'GET', '/api/v1/stats', undefined, bearer(admin.key))).status, 200);
          assert.equal((await call(app, 'GET', '/api/v1/stats', undefined, bearer(onlyA.key))).status, 403);
          assert.equal((await call(app, 'GET', '/api/v1/stats?queue=a', undefined, bearer(onlyA.key))).status, 200);
          assert.equal((await call(app, 'GET', '/api/v1/stats?queue=b', undefined, bearer(onlyA.key))).status, 404);
          const h = bearer(admin.key);
          assert.equal((await call(app, 'GET', '/api/v1/stats?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', undefined, h)).status, 400);
          assert.equal((await call(app, 'GET', '/api/v1/stats?from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', undefined, h)).status, 400);
          assert.equal((await call(app, 'GET', '/api/v1/stats?stepSeconds=61', undefined, h)).status, 400);
          assert.equal((await call(app, 'GET', '/api/v1/stats?from=yesterday', undefined, h)).status, 400);
        },
        { auth: { keys: [admin.record, onlyA.record] } },
      );
    });
  });
}
