/**
 * Unique jobs over HTTP (docs/decisions/0016-unique-jobs.md), on SQLite and PostgreSQL:
 * `opts.unique` on enqueue (single, batch) and on a flow root; `replaced: true` when a waiting
 * holder took the new payload; the key and mode in the job view; bad options are 400 problems
 * that write nothing; the OpenAPI document describes `unique`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BACKENDS, call, withServer } from './harness.js';

for (const maker of BACKENDS) {
  describe(`${maker.name}: unique jobs over HTTP`, () => {
    test("enqueue with onConflict 'replace': 201, then 200 duplicate and replaced; the view shows the key and mode", () =>
      withServer(maker, async ({ app, client }) => {
        const opts = { delay: 60_000, unique: { key: 'doc-1', while: 'queued', onConflict: 'replace' } };
        const first = await call(app, 'POST', '/api/v1/queues/docs/jobs', { name: 'index', payload: { rev: 1 }, opts });
        assert.equal(first.status, 201);
        assert.deepEqual(first.body, { id: first.body.id, status: 'scheduled', duplicate: false });
        const second = await call(app, 'POST', '/api/v1/queues/docs/jobs', { name: 'index', payload: { rev: 2 }, opts });
        assert.equal(second.status, 200);
        assert.deepEqual(second.body, { id: first.body.id, status: 'scheduled', duplicate: true, replaced: true });
        const kept = await call(app, 'POST', '/api/v1/queues/docs/jobs/batch', { jobs: [{ name: 'index', payload: { rev: 3 }, opts: { unique: { key: 'doc-1' } } }] });
        assert.deepEqual(kept.body.jobs, [{ id: first.body.id, status: 'scheduled', duplicate: true }]);
        const view = await call(app, 'GET', `/api/v1/jobs/${first.body.id}`);
        assert.deepEqual([view.body.payload, view.body.uniqueKey, view.body.unique], [{ rev: 2 }, 'doc-1', { key: 'doc-1', while: 'queued' }]);
        const period = await call(app, 'POST', '/api/v1/queues/docs/jobs', { name: 'digest', opts: { unique: { key: 'u-1', while: { forMs: 3_600_000 } } } });
        assert.deepEqual((await client.getJob(period.body.id))?.unique, { key: 'u-1', while: { forMs: 3_600_000 } });
        const flow = await call(app, 'POST', '/api/v1/flows', { queue: 'docs', name: 'build', opts: { unique: { key: 'build-1' } }, children: [{ queue: 'docs', name: 'step' }] });
        assert.equal(flow.status, 201);
        const again = await call(app, 'POST', '/api/v1/flows', { queue: 'docs', name: 'build', opts: { unique: { key: 'build-1' } }, children: [{ queue: 'docs', name: 'step' }] });
        assert.deepEqual([again.status, again.body.id, again.body.duplicate], [200, flow.body.id, true]);
      }));

    test('bad unique options: 400 naming the field, nothing written', () =>
      withServer(maker, async ({ app, client }) => {
        const bad: Array<[unknown, string]> = [
          [{ unique: { key: '' } }, 'unique'],
          [{ unique: { key: 'k', while: 'forever' } }, 'while'],
          [{ unique: { key: 'k', while: { forMs: 0 } } }, 'forMs'],
          [{ unique: { key: 'k', onConflict: 'merge' } }, 'onConflict'],
          [{ unique: { key: 'k', ttl: 1 } }, 'ttl'],
          [{ uniqueKey: 'k', unique: { key: 'k' } }, 'unique'],
        ];
        for (const [opts, field] of bad) {
          const res = await call(app, 'POST', '/api/v1/queues/strict/jobs', { name: 'n', opts });
          assert.equal(res.status, 400, JSON.stringify(opts));
          assert.equal(res.body.code, 'validation_failed');
          assert.ok(JSON.stringify(res.body.issues).includes(field), `${JSON.stringify(opts)}: ${JSON.stringify(res.body.issues)}`);
        }
        const child = await call(app, 'POST', '/api/v1/flows', { queue: 'strict', name: 'p', children: [{ queue: 'strict', name: 'c', opts: { unique: { key: 'k' } } }] });
        assert.equal(child.status, 400);
        assert.deepEqual((await client.listJobs({})).jobs, []);
      }));
  });
}

describe('unique in the API description', () => {
  test('/openapi.json describes opts.unique, the replaced answer and the job view', () =>
    withServer(BACKENDS[0]!, async ({ app }) => {
      const spec = await call(app, 'GET', '/openapi.json');
      const text = JSON.stringify(spec.body);
      for (const needle of ['"unique"', '"onConflict"', '"forMs"', '"replaced"']) assert.ok(text.includes(needle), needle);
    }));
});
