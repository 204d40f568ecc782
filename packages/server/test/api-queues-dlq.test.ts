/**
 * Queue and DLQ routes on both backends: counts, DLQ depth, oldest job age, pause/resume; DLQ
 * list, groups, replay (by ids at once, by filter as a polled operation), purge and resolve,
 * each confined to the queue in the path.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { App } from '../src/index.js';
import { BACKENDS, call, waitFor, withServer } from './harness.js';

/** Enqueues `n` jobs in `queue` and kills each through the HTTP worker protocol. */
async function deadJobs(app: App, queue: string, n: number, message: (i: number) => string): Promise<string[]> {
  const { body } = await call(app, 'POST', `/api/v1/queues/${queue}/jobs/batch`, { jobs: Array.from({ length: n }, (_, i) => ({ name: 'job', payload: { i } })) });
  const claimed = (await call(app, 'POST', `/api/v1/queues/${queue}/claim`, { workerId: 'w', batch: n })).body.jobs;
  for (const [i, j] of claimed.entries()) {
    const res = await call(app, 'POST', `/api/v1/jobs/${j.id}/fail`, { attempt: j.attempt, leaseToken: j.leaseToken, error: { message: message(i), name: 'E' }, permanent: true });
    assert.equal(res.body.status, 'dead');
  }
  return body.jobs.map((j: { id: string }) => j.id);
}

for (const maker of BACKENDS) {
  describe(`${maker.name}: queue and DLQ routes`, () => {
    test('queues list counts by state, DLQ depth and the oldest queued age; unknown queue 404; pause and resume', () =>
      withServer(maker, async ({ app }) => {
        await call(app, 'POST', '/api/v1/queues/alpha/jobs/batch', { jobs: [{ name: 'a' }, { name: 'b' }, { name: 'c', opts: { delay: 60_000 } }] });
        await deadJobs(app, 'beta', 2, () => 'broken');
        await new Promise((r) => setTimeout(r, 30));
        const list = await call(app, 'GET', '/api/v1/queues');
        assert.equal(list.status, 200);
        const alpha = list.body.queues.find((q: { name: string }) => q.name === 'alpha');
        const beta = list.body.queues.find((q: { name: string }) => q.name === 'beta');
        assert.equal(alpha.counts.queued, 2);
        assert.equal(alpha.counts.scheduled, 1);
        assert.ok(alpha.oldestQueuedAgeMs >= 0);
        assert.equal(beta.dlqDepth, 2);
        assert.equal(beta.counts.dead, 2);

        assert.equal((await call(app, 'GET', '/api/v1/queues/nope')).status, 404);
        const paused = await call(app, 'POST', '/api/v1/queues/alpha/pause');
        assert.deepEqual(paused.body, { name: 'alpha', paused: true });
        assert.equal((await call(app, 'GET', '/api/v1/queues/alpha')).body.paused, true);
        const claim = await call(app, 'POST', '/api/v1/queues/alpha/claim', { workerId: 'w' });
        assert.deepEqual(claim.body.jobs, [], 'a paused queue hands out nothing');
        await call(app, 'POST', '/api/v1/queues/alpha/resume');
        assert.equal((await call(app, 'POST', '/api/v1/queues/alpha/claim', { workerId: 'w' })).body.jobs.length, 1);
      }));

    test('queues list with maxAgeMs answers from a recent read (asOf), without it reads now; a bad maxAgeMs is a 400', () =>
      withServer(maker, async ({ app }) => {
        await call(app, 'POST', '/api/v1/queues/snap/jobs/batch', { jobs: [{ name: 'a' }] });
        const first = await call(app, 'GET', '/api/v1/queues?maxAgeMs=60000');
        assert.equal(first.status, 200);
        const queuedIn = (body: { queues: Array<{ name: string; counts: Record<string, number> }> }) => body.queues.find((q) => q.name === 'snap')?.counts.queued;
        assert.equal(queuedIn(first.body), 1);
        assert.ok(Date.parse(first.body.asOf) <= Date.now());
        await call(app, 'POST', '/api/v1/queues/snap/jobs/batch', { jobs: [{ name: 'b' }] });
        const cached = await call(app, 'GET', '/api/v1/queues?maxAgeMs=60000');
        assert.equal(queuedIn(cached.body), 1, 'answered from the earlier read');
        assert.equal(cached.body.asOf, first.body.asOf);
        const fresh = await call(app, 'GET', '/api/v1/queues');
        assert.equal(queuedIn(fresh.body), 2, 'no maxAgeMs: read now');
        assert.ok(fresh.body.asOf >= first.body.asOf);
        const afterFresh = await call(app, 'GET', '/api/v1/queues?maxAgeMs=60000');
        assert.equal(queuedIn(afterFresh.body), 2, 'the newest read is the one kept');
        for (const bad of ['-1', '60001', 'soon']) assert.equal((await call(app, 'GET', `/api/v1/queues?maxAgeMs=${bad}`)).status, 400, bad);
      }));

    test('queue limits: PUT replaces them, the queue view shows them, claims respect them; bad bodies change nothing', () =>
      withServer(maker, async ({ app }) => {
        await call(app, 'POST', '/api/v1/queues/gamma/jobs/batch', { jobs: Array.from({ length: 5 }, (_, i) => ({ name: 'g', payload: { i } })) });
        const set = await call(app, 'PUT', '/api/v1/queues/gamma/limits', { concurrency: 2, rate: { max: 100, intervalMs: 60_000 }, groupConcurrency: 1, fifo: true });
        assert.equal(set.status, 200);
        const gammaLimits = { concurrency: 2, rate: { max: 100, intervalMs: 60_000 }, groupConcurrency: 1, groupRate: null, fifo: true };
        assert.deepEqual(set.body, { name: 'gamma', limits: gammaLimits });
        const view = (await call(app, 'GET', '/api/v1/queues/gamma')).body;
        assert.deepEqual(view.limits, gammaLimits);
        assert.equal(view.heldUntil, null);
        const claim = await call(app, 'POST', '/api/v1/queues/gamma/claim', { workerId: 'w', batch: 5 });
        assert.equal(claim.body.jobs.length, 2, 'two at a time across every worker');
        assert.deepEqual(claim.body.limited, { reason: 'concurrency' }, 'the answer says a limit cut it short');
        // A long-poll on the full queue is answered when a running job finishes (a slot frees).
        const waiting = call(app, 'POST', '/api/v1/queues/gamma/claim', { workerId: 'w2', batch: 5, waitMs: 10_000 });
        await new Promise((r) => setTimeout(r, 100));
        const [first] = claim.body.jobs;
        await call(app, 'POST', `/api/v1/jobs/${first.id}/complete`, { attempt: first.attempt, leaseToken: first.leaseToken, result: null });
        const t0 = Date.now();
        const woken = await waiting;
        assert.equal(woken.body.jobs.length, 1, 'one slot freed');
        assert.ok(Date.now() - t0 < 2000);
        const [second] = claim.body.jobs.slice(1);
        await call(app, 'POST', `/api/v1/jobs/${second.id}/complete`, { attempt: second.attempt, leaseToken: second.leaseToken, result: null });
        await call(app, 'POST', `/api/v1/jobs/${woken.body.jobs[0].id}/complete`, { attempt: woken.body.jobs[0].attempt, leaseToken: woken.body.jobs[0].leaseToken, result: null });
        for (const body of [{ concurrency: 0 }, { rate: { max: 5 } }, { concurrency: 'many' }, { speed: 1 }]) {
          const bad = await call(app, 'PUT', '/api/v1/queues/gamma/limits', body);
          assert.equal(bad.status, 400, JSON.stringify(body));
        }
        assert.deepEqual((await call(app, 'GET', '/api/v1/queues/gamma')).body.limits.concurrency, 2, 'unchanged');
        const cleared = await call(app, 'PUT', '/api/v1/queues/gamma/limits', {});
        assert.deepEqual(cleared.body.limits, { concurrency: null, rate: null, groupConcurrency: null, groupRate: null, fifo: false });
        assert.equal((await call(app, 'POST', '/api/v1/queues/gamma/claim', { workerId: 'w', batch: 5 })).body.jobs.length, 2, 'the two left');
      }));

    test('DLQ: list, groups by reason, replay by ids (confined to the queue), resolve and purge', () =>
      withServer(maker, async ({ app, client }) => {
        const ids = await deadJobs(app, 'mail', 4, (i) => (i < 3 ? 'SMTP timeout' : 'bad address'));
        const [other] = await deadJobs(app, 'sms', 1, () => 'carrier down');

        const depth = await call(app, 'GET', '/api/v1/dlq');
        assert.deepEqual(depth.body.queues.sort((a: { queue: string }, b: { queue: string }) => a.queue.localeCompare(b.queue)), [
          { queue: 'mail', depth: 4 },
          { queue: 'sms', depth: 1 },
        ]);
        const listed = await call(app, 'GET', '/api/v1/dlq/mail/jobs?error=smtp');
        assert.equal(listed.body.jobs.length, 3);
        const groups = await call(app, 'GET', '/api/v1/dlq/mail/groups');
        assert.deepEqual(groups.body.groups.map((g: { reason: string; count: number }) => [g.reason, g.count]).sort(), [['E: SMTP timeout', 3], ['E: bad address', 1]]);

        const replay = await call(app, 'POST', '/api/v1/dlq/mail/replay', { ids: [ids[0], other] });
        assert.equal(replay.status, 200);
        assert.deepEqual(replay.body.ids, [ids[0]], 'a job of another queue is not touched');
        assert.equal((await client.getJob(ids[0]!))?.state, 'queued');
        assert.equal((await client.getJob(other!))?.state, 'dead');

        const resolved = await call(app, 'POST', '/api/v1/dlq/mail/resolve', { ids: [ids[3]], note: 'address fixed by hand' });
        assert.deepEqual(resolved.body, { resolved: 1 });
        assert.equal((await call(app, 'GET', '/api/v1/dlq')).body.queues.find((q: { queue: string }) => q.queue === 'mail').depth, 2);
        const purged = await call(app, 'POST', '/api/v1/dlq/mail/purge', { ids: [ids[1]] });
        assert.deepEqual(purged.body, { purged: 1 });
        assert.equal(await client.getJob(ids[1]!), null);
      }));

    test('DLQ: replay by filter runs as an operation (202) that is polled to completion', () =>
      withServer(maker, async ({ app, client }) => {
        const ids = await deadJobs(app, 'bulk', 5, (i) => (i % 2 ? 'odd failure' : 'even failure'));
        const started = await call(app, 'POST', '/api/v1/dlq/bulk/replay', { filter: { errorContains: 'even' } });
        assert.equal(started.status, 202);
        const op = await waitFor(async () => {
          const r = await call(app, 'GET', `/api/v1/operations/${started.body.operationId}`);
          return r.body.status === 'succeeded' ? r.body : null;
        }, 'the replay operation');
        assert.equal(op.result.replayed, 3);
        assert.equal(op.processed, 3);
        const states = await Promise.all(ids.map(async (id) => (await client.getJob(id))?.state));
        assert.deepEqual(states, ['queued', 'dead', 'queued', 'dead', 'queued']);

        const bad = await call(app, 'POST', '/api/v1/dlq/bulk/purge', { ids: [ids[1]], all: true });
        assert.equal(bad.status, 400);
        assert.equal(bad.body.code, 'validation_failed');
        const unknownOp = await call(app, 'GET', '/api/v1/operations/00000000-0000-4000-8000-000000000000');
        assert.equal(unknownOp.status, 404);
      }));
  });
}
