/**
 * `GET /api/v1/alerts` (the built-in rule "DLQ depth > 0" per queue, its state and the recent
 * transitions this server saw; push/dlq-alerts.ts), on both backends: a queue fires when its DLQ
 * fills and clears when it is purged, the history lists both transitions newest first, and access
 * is that of `GET /dlq` (read on every queue).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateApiKey } from '../src/auth/api-keys.js';
import { BACKENDS, call, waitFor, withServer } from './harness.js';

for (const maker of BACKENDS) {
  describe(`${maker.name}: GET /alerts`, () => {
    test('reports the DLQ rule firing per queue, then cleared, with its history', () =>
      withServer(maker, async ({ app, client }) => {
        const empty = await call(app, 'GET', '/api/v1/alerts');
        assert.equal(empty.status, 200, empty.raw);
        assert.deepEqual(empty.body.rules, [{ id: 'dlq-depth', description: 'DLQ depth > 0 (unresolved dead jobs in a queue)', threshold: 0 }]);
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
          [['alerting', 'dlq-depth', 'firing', 2]],
        );
        assert.equal(firing.body.history[0].type, 'dlq.alert.fired');
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
            ['dlq.alert.cleared', 'alerting'],
            ['dlq.alert.fired', 'alerting'],
          ],
        );
        assert.equal(cleared.body.history[0].depth, 0);
        // Each transition is published once: reading again adds nothing.
        assert.equal((await call(app, 'GET', '/api/v1/alerts')).body.history.length, 2);
      }));

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
