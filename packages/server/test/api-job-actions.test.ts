/**
 * Operator actions on jobs through the API, on both backends: retry a dead job (new round,
 * history kept), promote a delayed one, edit the payload of a queued one, delete; state guards
 * answer 409 and change nothing; bulk by ids answers per id; bulk by filter is an operation;
 * edit and retry of a finished job; exact counts of a filter; a DLQ group selected by its reason.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BACKENDS, call, waitFor, withServer } from './harness.js';

for (const maker of BACKENDS) {
  describe(`${maker.name}: job actions`, () => {
    test('retry a dead job, promote a delayed one, edit a queued payload, delete; wrong states are 409', () =>
      withServer(maker, async ({ app, client }) => {
        const { body: a } = await call(app, 'POST', '/api/v1/queues/ops/jobs', { name: 'a', payload: { v: 1 } });
        const c = (await call(app, 'POST', '/api/v1/queues/ops/claim', { workerId: 'w' })).body.jobs[0];
        await call(app, 'POST', `/api/v1/jobs/${c.id}/fail`, { attempt: 1, leaseToken: c.leaseToken, error: { message: 'boom' }, permanent: true });
        assert.equal((await client.getJob(a.id))?.state, 'dead');
        const retried = await call(app, 'POST', `/api/v1/jobs/${a.id}/retry`);
        assert.deepEqual(retried.body, { id: a.id, outcome: 'ok' });
        const again = await client.getJob(a.id);
        assert.equal(again?.state, 'queued');
        assert.equal(again?.round, 1);
        assert.equal(again?.errors.length, 1, 'history kept');
        const twice = await call(app, 'POST', `/api/v1/jobs/${a.id}/retry`);
        assert.equal(twice.status, 409);
        assert.equal(twice.body.code, 'wrong_state');

        const { body: later } = await call(app, 'POST', '/api/v1/queues/ops/jobs', { name: 'later', opts: { delay: 3_600_000 } });
        assert.equal((await call(app, 'POST', `/api/v1/jobs/${later.id}/promote`)).status, 200);
        assert.equal((await client.getJob(later.id))?.state, 'queued');
        assert.equal((await call(app, 'POST', `/api/v1/jobs/${later.id}/promote`)).status, 409);

        const edited = await call(app, 'PATCH', `/api/v1/jobs/${later.id}`, { payload: { v: 2 } });
        assert.equal(edited.status, 200);
        assert.deepEqual((await client.getJob(later.id))?.payload, { v: 2 });

        const running = (await call(app, 'POST', '/api/v1/queues/ops/claim', { workerId: 'w', batch: 5 })).body.jobs;
        assert.ok(running.length >= 1);
        const r = running[0];
        assert.equal((await call(app, 'PATCH', `/api/v1/jobs/${r.id}`, { payload: { v: 3 } })).status, 409, 'a running job is not edited');
        assert.equal((await call(app, 'DELETE', `/api/v1/jobs/${r.id}`)).status, 409, 'a running job is not deleted');
        assert.equal((await client.getJob(r.id))?.state, 'running');
        await call(app, 'POST', `/api/v1/jobs/${r.id}/complete`, { attempt: r.attempt, leaseToken: r.leaseToken });
        assert.equal((await call(app, 'DELETE', `/api/v1/jobs/${r.id}`)).status, 200);
        assert.equal(await client.getJob(r.id), null);
        assert.equal((await call(app, 'DELETE', `/api/v1/jobs/${r.id}`)).status, 404);
      }));

    test('bulk by ids answers per id; bulk by filter runs as an operation over every matching job', () =>
      withServer(maker, async ({ app, client }) => {
        const { body } = await call(app, 'POST', '/api/v1/queues/bulk/jobs/batch', { jobs: Array.from({ length: 7 }, (_, i) => ({ name: i < 5 ? 'old' : 'new', opts: { delay: 3_600_000 } })) });
        const ids: string[] = body.jobs.map((j: { id: string }) => j.id);
        const byIds = await call(app, 'POST', '/api/v1/jobs/promote', { ids: [ids[0], 'missing-id'] });
        assert.deepEqual(byIds.body.results, [{ id: ids[0], outcome: 'ok' }, { id: 'missing-id', outcome: 'not_found' }]);

        const started = await call(app, 'POST', '/api/v1/jobs/cancel', { filter: { queue: 'bulk', states: ['scheduled'], name: 'old' } });
        assert.equal(started.status, 202);
        const op = await waitFor(async () => {
          const r = await call(app, 'GET', `/api/v1/operations/${started.body.operationId}`);
          return r.body.status === 'succeeded' ? r.body : null;
        }, 'the bulk cancel');
        assert.deepEqual(op.result, { outcomes: { cancelled: 4 } });
        const states = await Promise.all(ids.map(async (id) => (await client.getJob(id))?.state));
        assert.deepEqual(states, ['queued', 'cancelled', 'cancelled', 'cancelled', 'cancelled', 'scheduled', 'scheduled']);

        const neither = await call(app, 'POST', '/api/v1/jobs/delete', {});
        assert.equal(neither.status, 400);
        const both = await call(app, 'POST', '/api/v1/jobs/delete', { ids: [ids[0]], filter: { queue: 'bulk' } });
        assert.equal(both.status, 400);
        assert.equal((await client.getJob(ids[0]!))?.state, 'queued', 'nothing changed');
      }));

    test("edit and retry a completed job; count a filter exactly; a group's reason selects exactly its jobs", () =>
      withServer(maker, async ({ app, client }) => {
        const { body: a } = await call(app, 'POST', '/api/v1/queues/edit/jobs', { name: 'a', payload: { to: 'ada' } });
        const c = (await call(app, 'POST', '/api/v1/queues/edit/claim', { workerId: 'w' })).body.jobs[0];
        await call(app, 'POST', `/api/v1/jobs/${c.id}/complete`, { attempt: c.attempt, leaseToken: c.leaseToken, result: 'sent' });
        const edited = await call(app, 'POST', `/api/v1/jobs/${a.id}/retry`, { payload: { to: 'grace' } });
        assert.deepEqual(edited.body, { id: a.id, outcome: 'ok' });
        const again = await client.getJob(a.id);
        assert.deepEqual([again?.state, again?.round, again?.payload, again?.result], ['queued', 1, { to: 'grace' }, null]);
        const refused = await call(app, 'POST', `/api/v1/jobs/${a.id}/retry`, { payload: { to: 'nobody' } });
        assert.equal(refused.status, 409, 'a queued job is not retried');
        assert.deepEqual((await client.getJob(a.id))?.payload, { to: 'grace' }, 'and its payload is left alone');
        assert.equal((await call(app, 'POST', `/api/v1/jobs/${a.id}/retry`, { payload: { to: 'x' }, queue: 'y' })).status, 400);

        await call(app, 'POST', '/api/v1/queues/edit/jobs/batch', { jobs: Array.from({ length: 12 }, (_, i) => ({ name: i % 4 === 0 ? 'rare' : 'common', payload: { i } })) });
        const count = async (query: string) => (await call(app, 'GET', `/api/v1/jobs/count?${query}`)).body;
        assert.deepEqual(await count('queue=edit'), { count: 13 });
        assert.deepEqual(await count('queue=edit&state=queued&name=rare'), { count: 3 });
        assert.deepEqual(await count('queue=edit&state=queued,completed&q=%22i%22%3A1'), { count: 3 }, 'payload text "i":1 matches i = 1, 10 and 11');
        assert.equal((await call(app, 'GET', '/api/v1/jobs/count?queue=edit&limit=5')).status, 400, 'paging is not a count parameter');

        for (const [i, reason] of ['disk full', 'disk full', 'disk full on /var'].entries()) {
          const { body: d } = await call(app, 'POST', '/api/v1/queues/grouped/jobs', { name: 'd', payload: { i } });
          const claimed = (await call(app, 'POST', '/api/v1/queues/grouped/claim', { workerId: 'w' })).body.jobs[0];
          await call(app, 'POST', `/api/v1/jobs/${claimed.id}/fail`, { attempt: 1, leaseToken: claimed.leaseToken, error: { message: reason }, permanent: true });
          assert.equal((await client.getJob(d.id))?.state, 'dead');
        }
        const resolved = await call(app, 'POST', '/api/v1/dlq/grouped/resolve', { filter: { reason: 'Error: disk full on /var' }, note: 'fixed' });
        assert.equal(resolved.status, 202);
        await waitFor(async () => (await call(app, 'GET', '/api/v1/dlq')).body.queues.find((q: { queue: string }) => q.queue === 'grouped')?.depth === 2, 'resolved');
        const open = await call(app, 'GET', '/api/v1/dlq/grouped/groups?resolved=false');
        assert.deepEqual(open.body.groups.map((g: { reason: string; count: number }) => [g.reason, g.count]), [['Error: disk full', 2]]);
        assert.equal((await call(app, 'GET', '/api/v1/dlq/grouped/groups')).body.groups.length, 2);
        assert.deepEqual(await count('queue=grouped&reason=Error%3A%20disk%20full'), { count: 2 });
      }));
  });
}
