/**
 * Job routes through `inject`, on SQLite and PostgreSQL: enqueue one and many, read, search with
 * filters and cursor paging, cancel; problem+json for what is missing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BACKENDS, call, withServer } from './harness.js';

for (const maker of BACKENDS) {
  describe(`${maker.name}: job routes`, () => {
    test('enqueue one: 201 {id, status}; the job reads back with its payload, options and counts', () =>
      withServer(maker, async ({ app, client }) => {
        const res = await call(app, 'POST', '/api/v1/queues/emails/jobs', { name: 'welcome', payload: { to: 'ada@example.com' }, opts: { priority: 'high', maxRetries: 5 } });
        assert.equal(res.status, 201);
        assert.equal(res.body.status, 'queued');
        assert.equal(res.body.duplicate, false);
        const stored = await client.getJob(res.body.id);
        assert.deepEqual(stored?.payload, { to: 'ada@example.com' });
        assert.equal(stored?.priority, 250);
        assert.equal(stored?.maxRetries, 5);

        const got = await call(app, 'GET', `/api/v1/jobs/${res.body.id}`);
        assert.equal(got.status, 200);
        assert.equal(got.body.status, 'queued');
        assert.equal(got.body.queue, 'emails');
        assert.equal(got.body.maxAttempts, 6);
        assert.deepEqual(got.body.payload, { to: 'ada@example.com' });
        assert.deepEqual(got.body.errors, []);
        assert.match(got.body.createdAt, /Z$/);
      }));

    test('enqueue with a caller id twice: 201 then 200 duplicate, same job; delayed jobs are scheduled', () =>
      withServer(maker, async ({ app }) => {
        const first = await call(app, 'POST', '/api/v1/queues/q/jobs', { name: 'n', payload: 1, opts: { id: 'order-42' } });
        const second = await call(app, 'POST', '/api/v1/queues/q/jobs', { name: 'n', payload: 2, opts: { id: 'order-42' } });
        assert.equal(first.status, 201);
        assert.equal(second.status, 200);
        assert.equal(second.body.duplicate, true);
        assert.equal(second.body.id, 'order-42');
        const job = await call(app, 'GET', '/api/v1/jobs/order-42');
        assert.equal(job.body.payload, 1, 'the duplicate changed nothing');

        const delayed = await call(app, 'POST', '/api/v1/queues/q/jobs', { name: 'later', opts: { delay: 60_000 } });
        assert.equal(delayed.body.status, 'scheduled');
        const at = await call(app, 'POST', '/api/v1/queues/q/jobs', { name: 'later', opts: { runAt: new Date(Date.now() + 3_600_000).toISOString() } });
        assert.equal(at.body.status, 'scheduled');
      }));

    test('enqueue a batch: all jobs in order; one bad item rejects the whole batch and writes nothing', async () =>
      withServer(maker, async ({ app, client }) => {
        const ok = await call(app, 'POST', '/api/v1/queues/b/jobs/batch', { jobs: [{ name: 'a', payload: 1 }, { name: 'b', payload: 2 }, { name: 'c' }] });
        assert.equal(ok.status, 201);
        assert.equal(ok.body.jobs.length, 3);
        const names = await Promise.all(ok.body.jobs.map(async (j: { id: string }) => (await client.getJob(j.id))?.name));
        assert.deepEqual(names, ['a', 'b', 'c']);

        const bad = await call(app, 'POST', '/api/v1/queues/b2/jobs/batch', { jobs: [{ name: 'a' }, { name: 'b', opts: { maxRetries: -1 } }] });
        assert.equal(bad.status, 400);
        assert.equal(bad.body.code, 'validation_failed');
        assert.match(bad.headers['content-type'] as string, /application\/problem\+json/);
        assert.ok(bad.body.issues.some((i: { path: string }) => i.path.includes('jobs[1].opts.maxRetries')), JSON.stringify(bad.body.issues));
        assert.deepEqual(await client.counts({ queue: 'b2' }), {});
      }));

    test('GET /jobs filters by queue, state, name, payload text and time, and pages with a cursor', () =>
      withServer(maker, async ({ app }) => {
        for (let i = 0; i < 5; i++) await call(app, 'POST', '/api/v1/queues/s1/jobs', { name: i % 2 ? 'odd' : 'even', payload: { n: i, tag: i === 3 ? 'needle' : 'hay' } });
        await call(app, 'POST', '/api/v1/queues/s2/jobs', { name: 'even', payload: {} });
        await call(app, 'POST', '/api/v1/queues/s1/jobs', { name: 'even', opts: { delay: 60_000 } });

        const all = await call(app, 'GET', '/api/v1/jobs?queue=s1');
        assert.equal(all.body.jobs.length, 6);
        const queued = await call(app, 'GET', '/api/v1/jobs?queue=s1&state=queued');
        assert.equal(queued.body.jobs.length, 5);
        const scheduledOrQueued = await call(app, 'GET', '/api/v1/jobs?queue=s1&state=queued,scheduled&name=even');
        assert.equal(scheduledOrQueued.body.jobs.length, 4);
        const needle = await call(app, 'GET', '/api/v1/jobs?q=NEEDLE');
        assert.equal(needle.body.jobs.length, 1);
        assert.equal(needle.body.jobs[0].payload.n, 3);
        const future = await call(app, 'GET', `/api/v1/jobs?from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
        assert.equal(future.body.jobs.length, 0);

        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page: any = await call(app, 'GET', `/api/v1/jobs?queue=s1&limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
          assert.equal(page.status, 200);
          assert.ok(page.body.jobs.length <= 4);
          seen.push(...page.body.jobs.map((j: { id: string }) => j.id));
          cursor = page.body.nextCursor;
        } while (cursor);
        assert.equal(seen.length, 6);
        assert.equal(new Set(seen).size, 6);
      }));

    test('cancel: a queued job is cancelled, a second cancel is 409 already_final, unknown is 404; bulk cancel answers per id', () =>
      withServer(maker, async ({ app }) => {
        const { body } = await call(app, 'POST', '/api/v1/queues/c/jobs', { name: 'x' });
        const cancelled = await call(app, 'POST', `/api/v1/jobs/${body.id}/cancel`);
        assert.equal(cancelled.status, 200);
        assert.equal(cancelled.body.outcome, 'cancelled');
        assert.equal((await call(app, 'GET', `/api/v1/jobs/${body.id}`)).body.status, 'cancelled');
        const again = await call(app, 'POST', `/api/v1/jobs/${body.id}/cancel`);
        assert.equal(again.status, 409);
        assert.equal(again.body.code, 'already_final');
        const missing = await call(app, 'POST', '/api/v1/jobs/nope/cancel');
        assert.equal(missing.status, 404);
        assert.equal(missing.body.code, 'not_found');

        const other = await call(app, 'POST', '/api/v1/queues/c/jobs', { name: 'y' });
        const bulk = await call(app, 'POST', '/api/v1/jobs/cancel', { ids: [other.body.id, 'nope', body.id] });
        assert.equal(bulk.status, 200);
        assert.deepEqual(bulk.body.results.map((r: { outcome: string }) => r.outcome), ['cancelled', 'not_found', 'already_final']);
      }));

    test('an unknown job is 404 problem+json; health, readiness and info answer', () =>
      withServer(maker, async ({ app }) => {
        const missing = await call(app, 'GET', '/api/v1/jobs/does-not-exist');
        assert.equal(missing.status, 404);
        assert.equal(missing.body.code, 'not_found');
        assert.equal(missing.body.type, 'urn:spindle:problem:not_found');
        assert.equal((await call(app, 'GET', '/healthz')).body.status, 'ok');
        const ready = await call(app, 'GET', '/readyz');
        assert.equal(ready.status, 200);
        assert.ok(Math.abs(Date.parse(ready.body.databaseTime) - Date.now()) < 60_000);
        const info = await call(app, 'GET', '/api/v1/info');
        assert.equal(info.body.backend, maker.name);
      }));
  });
}
