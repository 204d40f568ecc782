/**
 * `Idempotency-Key` on enqueue, on both backends (reliability H20): the same key and body give the
 * same job (no second insert, `Idempotent-Replayed`), another body is 422, batches too; keys are
 * scoped per queue; a malformed key is 400; nothing is written by a refused request.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createHash } from 'node:crypto';
import { ABANDONED_AFTER_MS } from '../src/http/idempotency.js';
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

    test('a key whose first request died before writing its job is taken over after a while; a removed job is not brought back', () =>
      withServer(maker, async ({ app, client, backend }) => {
        const body = { name: 'charge', payload: { cents: 700 } };
        const hash = createHash('sha256').update(JSON.stringify(body), 'utf8').digest('hex');
        // What a server SIGKILLed between the key claim and the insert leaves behind (chaos C9).
        const claim = (key: string, ageMs: number) =>
          backend.claimIdempotencyKey({ scope: 'enqueue:open:stuck', key, requestHash: hash, ttlMs: 86_400_000, now: new Date(Date.now() - ageMs) });
        await claim('fresh', 1_000);
        const pending = await call(app, 'POST', '/api/v1/queues/stuck/jobs', body, { 'idempotency-key': 'fresh' });
        assert.equal(pending.status, 409, 'a young claim may belong to a request still running');
        assert.equal(pending.body.code, 'idempotency_pending');
        assert.equal((await client.counts({ queue: 'stuck' })).stuck, undefined, 'nothing written');

        await claim('abandoned', ABANDONED_AFTER_MS + 1_000);
        const taken = await call(app, 'POST', '/api/v1/queues/stuck/jobs', body, { 'idempotency-key': 'abandoned' });
        assert.equal(taken.status, 201, JSON.stringify(taken.body));
        const again = await call(app, 'POST', '/api/v1/queues/stuck/jobs', body, { 'idempotency-key': 'abandoned' });
        assert.deepEqual([again.status, again.body.id, again.headers['idempotent-replayed']], [200, taken.body.id, 'true']);
        assert.equal((await client.counts({ queue: 'stuck' })).stuck?.queued, 1, 'one job');

        // Written, then removed: a young key answers 409; an old key whose `#written` marker is
        // there (its jobs were written) does not write them again either.
        const first = await call(app, 'POST', '/api/v1/queues/gone/jobs', body, { 'idempotency-key': 'removed' });
        assert.equal(first.status, 201);
        assert.deepEqual(await client.jobs.delete([first.body.id]), ['ok']);
        assert.equal((await call(app, 'POST', '/api/v1/queues/gone/jobs', body, { 'idempotency-key': 'removed' })).status, 409);
        const old = new Date(Date.now() - ABANDONED_AFTER_MS - 1_000);
        for (const scope of ['enqueue:open:gone', 'enqueue:open:gone#written']) {
          await backend.claimIdempotencyKey({ scope, key: 'removed-long-ago', requestHash: hash, ttlMs: 86_400_000, now: old });
        }
        const replay = await call(app, 'POST', '/api/v1/queues/gone/jobs', body, { 'idempotency-key': 'removed-long-ago' });
        assert.equal(replay.status, 409);
        assert.equal(await client.getJob(first.body.id), null, 'the removed job stays removed');
        assert.equal((await client.counts({ queue: 'gone' })).gone, undefined, 'nothing written');
      }));
  });
}
