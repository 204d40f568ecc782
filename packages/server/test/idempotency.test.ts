/**
 * `Idempotency-Key` on enqueue, on both backends (reliability H20): the same key and body give the
 * same job (no second insert, `Idempotent-Replayed`), another body is 422, batches too; keys are
 * scoped per queue; a malformed key is 400; nothing is written by a refused request.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BACKENDS, call, withServer } from './harness.js';

for (const maker of BACKENDS) {
  describe(`${maker.name}: Idempotency-Key`, () => {
    test('same key + same body → the same job; another body → 422; per queue; batches', () =>
      withServer(maker, async ({ app, client }) => {
        const body = { name: 'charge', payload: { cents: 500 } };
        const key = { 'idempotency-key': 'order-7-charge' };
        const first = await call(app, 'POST', '/api/v1/queues/pay/jobs', body, key);
        assert.equal(first.status, 201);
        const second = await call(app, 'POST', '/api/v1/queues/pay/jobs', body, key);
        assert.equal(second.status, 200);
        assert.equal(second.body.id, first.body.id);
        assert.equal(second.headers['idempotent-replayed'], 'true');
        const conflicting = await call(app, 'POST', '/api/v1/queues/pay/jobs', { ...body, payload: { cents: 900 } }, key);
        assert.equal(conflicting.status, 422);
        assert.equal(conflicting.body.code, 'idempotency_key_reused');
        assert.equal((await client.counts({ queue: 'pay' })).pay?.queued, 1, 'one job only');

        const otherQueue = await call(app, 'POST', '/api/v1/queues/pay2/jobs', body, key);
        assert.equal(otherQueue.status, 201, 'keys are scoped per queue');
        assert.notEqual(otherQueue.body.id, first.body.id);

        const batch = { jobs: [{ name: 'a' }, { name: 'b', opts: { id: 'mine-1' } }] };
        const b1 = await call(app, 'POST', '/api/v1/queues/pay/jobs/batch', batch, { 'idempotency-key': 'batch-1' });
        const b2 = await call(app, 'POST', '/api/v1/queues/pay/jobs/batch', batch, { 'idempotency-key': 'batch-1' });
        assert.equal(b1.status, 201);
        assert.deepEqual(b2.body.jobs.map((j: { id: string }) => j.id), b1.body.jobs.map((j: { id: string }) => j.id));
        assert.equal(b1.body.jobs[1].id, 'mine-1');
        assert.equal((await client.counts({ queue: 'pay' })).pay?.queued, 3);

        const bad = await call(app, 'POST', '/api/v1/queues/pay/jobs', body, { 'idempotency-key': 'has space' });
        assert.equal(bad.status, 400);
        assert.equal((await client.counts({ queue: 'pay' })).pay?.queued, 3, 'nothing written');
      }));
  });
}
