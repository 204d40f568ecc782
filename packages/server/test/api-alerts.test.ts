/**
 * `GET /api/v1/alerts` (alert rules, their state per queue and the recent transitions this
 * server saw; alerts/engine.ts), on both backends: the built-in `dlq-not-empty` fires when a
 * queue's DLQ fills and resolves when it is purged, the history lists both transitions newest
 * first; a configured failure_rate rule fires after failures and resolves when successes bring
 * the rate down, with `alert.firing` / `alert.resolved` on the SSE stream; access is that of
 * `GET /dlq` (read on every queue).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateApiKey } from '../src/auth/api-keys.js';
import { BACKENDS, call, waitFor, withServer } from './harness.js';
import { SseStream } from './sse-client.js';

const BUILTIN = { id: 'dlq-not-empty', description: 'DLQ depth > 0', kind: 'dlq_depth', queue: '*', threshold: 0, forMs: 0, windowMs: null, source: 'builtin' };

for (const maker of BACKENDS) {
  describe(`${maker.name}: GET /alerts`, () => {
    test('reports the DLQ rule firing per queue, then cleared, with its history', () =>
      withServer(maker, async ({ app, client }) => {
        const empty = await call(app, 'GET', '/api/v1/alerts');
        assert.equal(empty.status, 200, empty.raw);
        assert.deepEqual(empty.body.rules, [BUILTIN]);
        assert.deepEqual(empty.body.queues, []);
        assert.deepEqual(empty.body.history, []);
        assert.ok(empty.body.checkedAt);

        const q = client.queue('alerting');
        const jobs = [await q.add('a', {}, { maxRetries: 0 }), await q.add('b', {}, { maxRetries: 0 })];
        const worker = q.process(async () => {
          throw new Error('boom');
        }, { pollIntervalMs: 10 });
        await waitFor(async () => (await client.dlq.depth()).find((d) => d.queue === 'alerting')?.depth === 2, 'two dead jobs');
        await worker.close();

        const firing = await call(app, 'GET', '/api/v1/alerts');
        assert.equal(firing.status, 200);
        assert.deepEqual(
          firing.body.queues.map((x: { queue: string; state: string; depth: number; rule: string }) => [x.queue, x.rule, x.state, x.depth]),
          [['alerting', 'dlq-not-empty', 'firing', 2]],
        );
        assert.equal(firing.body.queues[0].value, 2);
        assert.equal(firing.body.history[0].type, 'alert.firing');
        assert.equal(firing.body.history[0].rule, 'dlq-not-empty');
        assert.equal(firing.body.history[0].queue, 'alerting');
        assert.ok(firing.body.history[0].depth >= 1);
        assert.equal(firing.body.queues[0].since, firing.body.history[0].at);

        const purged = await call(app, 'POST', '/api/v1/dlq/alerting/purge', { ids: jobs.map((j) => j.id) });
        assert.equal(purged.status, 200, purged.raw);
        const cleared = await call(app, 'GET', '/api/v1/alerts');
        assert.deepEqual(
          cleared.body.queues.map((x: { queue: string; state: string; depth: number }) => [x.queue, x.state, x.depth]),
          [['alerting', 'ok', 0]],
        );
        assert.deepEqual(
          cleared.body.history.map((h: { type: string; queue: string; depth: number }) => [h.type, h.queue]),
          [
            ['alert.resolved', 'alerting'],
            ['alert.firing', 'alerting'],
          ],
        );
        assert.equal(cleared.body.history[0].depth, 0);
        // Each transition is published once: reading again adds nothing.
        assert.equal((await call(app, 'GET', '/api/v1/alerts')).body.history.length, 2);
      }));

    test('a configured failure_rate rule fires after failures and resolves when they stop, on the SSE stream too', () =>
      withServer(
        maker,
        async ({ server, client, app }) => {
          const base = await server.start();
          const stream = new SseStream(`${base}/api/v1/events?queue=flaky`);
          await stream.until((s) => s.status === 200, 'the stream');
          const rules = (await call(app, 'GET', '/api/v1/alerts')).body.rules;
          assert.deepEqual(rules, [{ id: 'failing', description: 'failure rate > 50 % over 1 min', kind: 'failure_rate', queue: 'flaky', threshold: 0.5, forMs: 0, windowMs: 60_000, source: 'config' }]);

          const q = client.queue('flaky');
          const worker = q.process(async (job) => {
            if ((job.payload as { fail: boolean }).fail) throw new Error('boom');
            return 'ok';
          }, { pollIntervalMs: 10, concurrency: 4 });
          try {
            for (let i = 0; i < 3; i++) await q.add('f', { fail: true }, { maxRetries: 0 });
            const firing = await waitFor(async () => {
              const b = (await call(app, 'GET', '/api/v1/alerts')).body;
              return b.queues.find((x: { rule: string; queue: string; state: string }) => x.rule === 'failing' && x.queue === 'flaky' && x.state === 'firing') ?? null;
            }, 'the failure-rate alert');
            assert.equal(firing.kind, 'failure_rate');
            assert.ok(firing.value > 0.5 && firing.value <= 1, String(firing.value));
            assert.equal(firing.threshold, 0.5);
            await stream.until((s) => s.events.some((e) => e.event === 'alert.firing'), 'alert.firing on the stream');
            const event = stream.events.find((e) => e.event === 'alert.firing')!;
            assert.equal(event.data.queue, 'flaky');
            assert.equal(event.data.data.rule, 'failing');
            assert.equal(event.data.data.kind, 'failure_rate');
            assert.equal(event.data.data.threshold, 0.5);
            assert.equal(event.data.data.windowMs, 60_000);
            assert.ok(!stream.events.some((e) => e.event === 'dlq.alert.fired'), 'the built-in rule is off: no dlq.alert.*');

            for (let i = 0; i < 10; i++) await q.add('s', { fail: false });
            await stream.until((s) => s.events.some((e) => e.event === 'alert.resolved'), 'alert.resolved on the stream');
            const after = (await call(app, 'GET', '/api/v1/alerts')).body;
            const state = after.queues.find((x: { rule: string; queue: string }) => x.rule === 'failing' && x.queue === 'flaky');
            assert.equal(state.state, 'ok');
            assert.ok(state.value <= 0.5, String(state.value));
            assert.deepEqual(
              after.history.filter((h: { queue: string }) => h.queue === 'flaky').map((h: { type: string; rule: string }) => `${h.type} ${h.rule}`),
              ['alert.resolved failing', 'alert.firing failing'],
            );
          } finally {
            await worker.close();
            await stream.close();
          }
        },
        { alerts: { builtin: false, intervalMs: 50, rules: [{ name: 'failing', kind: 'failure_rate', queue: 'flaky', threshold: 0.5, windowMs: 60_000 }] } },
      ));

    test('needs read on every queue, like GET /dlq', () => {
      const reader = generateApiKey('reader', [{ queues: ['*'], actions: ['read'] }]);
      const onlyA = generateApiKey('only-a', [{ queues: ['a'], actions: ['read'] }]);
      const worker = generateApiKey('worker', [{ queues: ['*'], actions: ['work'] }]);
      return withServer(
        maker,
        async ({ app }) => {
          const bearer = (k: string) => ({ authorization: `Bearer ${k}` });
          assert.equal((await call(app, 'GET', '/api/v1/alerts')).status, 401);
          assert.equal((await call(app, 'GET', '/api/v1/alerts', undefined, bearer(reader.key))).status, 200);
          assert.equal((await call(app, 'GET', '/api/v1/alerts', undefined, bearer(onlyA.key))).status, 403);
          assert.equal((await call(app, 'GET', '/api/v1/alerts', undefined, bearer(worker.key))).status, 403);
        },
        { auth: { keys: [reader.record, onlyA.record, worker.record] } },
      );
    });
  });
}
