/**
 * The HTTP worker protocol on both backends: claim (batch, long-poll woken by an enqueue),
 * heartbeat, progress, complete and fail — each fenced by attempt + lease token, so stale or
 * foreign tokens get 409 lease_lost and change nothing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BACKENDS, call, withServer } from './harness.js';

for (const maker of BACKENDS) {
  describe(`${maker.name}: HTTP worker protocol`, () => {
    test('claim a batch, heartbeat, progress, complete; the job is completed with its result', () =>
      withServer(maker, async ({ app, client }) => {
        await call(app, 'POST', '/api/v1/queues/w/jobs/batch', { jobs: [{ name: 'a', payload: { n: 1 } }, { name: 'b', payload: { n: 2 } }, { name: 'c' }] });
        const claim = await call(app, 'POST', '/api/v1/queues/w/claim', { workerId: 'py-1', batch: 2, leaseMs: 5000 });
        assert.equal(claim.status, 200);
        assert.equal(claim.body.jobs.length, 2);
        const [job] = claim.body.jobs;
        assert.equal(job.attempt, 1);
        assert.equal(job.maxAttempts, 4);
        assert.ok(job.leaseToken.length >= 16);
        assert.deepEqual(job.payload, { n: 1 });

        const fence = { attempt: job.attempt, leaseToken: job.leaseToken };
        const hb = await call(app, 'POST', `/api/v1/jobs/${job.id}/heartbeat`, { ...fence, leaseMs: 10_000 });
        assert.equal(hb.status, 200);
        assert.equal(hb.body.cancelRequested, false);
        const progress = await call(app, 'POST', `/api/v1/jobs/${job.id}/progress`, { ...fence, progress: { pct: 50 } });
        assert.equal(progress.status, 200);
        assert.deepEqual((await client.getJob(job.id))?.progress, { pct: 50 });
        const done = await call(app, 'POST', `/api/v1/jobs/${job.id}/complete`, { ...fence, result: { ok: true } });
        assert.equal(done.status, 200);
        const stored = await client.getJob(job.id);
        assert.equal(stored?.state, 'completed');
        assert.deepEqual(stored?.result, { ok: true });
        assert.equal(stored?.workerId, 'http:py-1');
      }));

    test('stale, foreign and repeated writes get 409 lease_lost and change nothing; unknown ids 404', () =>
      withServer(maker, async ({ app, client }) => {
        await call(app, 'POST', '/api/v1/queues/f/jobs/batch', { jobs: [{ name: 'a' }, { name: 'b' }] });
        const { body } = await call(app, 'POST', '/api/v1/queues/f/claim', { workerId: 'w', batch: 2 });
        const [a, b] = body.jobs;
        const wrongToken = await call(app, 'POST', `/api/v1/jobs/${a.id}/complete`, { attempt: a.attempt, leaseToken: b.leaseToken });
        assert.equal(wrongToken.status, 409);
        assert.equal(wrongToken.body.code, 'lease_lost');
        const wrongAttempt = await call(app, 'POST', `/api/v1/jobs/${a.id}/heartbeat`, { attempt: a.attempt + 1, leaseToken: a.leaseToken });
        assert.equal(wrongAttempt.status, 409);
        assert.equal((await client.getJob(a.id))?.state, 'running');

        assert.equal((await call(app, 'POST', `/api/v1/jobs/${a.id}/complete`, { attempt: a.attempt, leaseToken: a.leaseToken })).status, 200);
        const twice = await call(app, 'POST', `/api/v1/jobs/${a.id}/complete`, { attempt: a.attempt, leaseToken: a.leaseToken });
        assert.equal(twice.status, 409, 'the first completion won');
        const failAfter = await call(app, 'POST', `/api/v1/jobs/${a.id}/fail`, { attempt: a.attempt, leaseToken: a.leaseToken, error: { message: 'late' } });
        assert.equal(failAfter.status, 409);
        assert.equal((await client.getJob(a.id))?.state, 'completed');
        assert.deepEqual((await client.getJob(a.id))?.errors, []);

        const unknown = await call(app, 'POST', '/api/v1/jobs/no-such-job/complete', { attempt: 1, leaseToken: b.leaseToken });
        assert.equal(unknown.status, 404);
      }));

    test('fail: retried with the job backoff while attempts remain, dead when permanent or out of attempts', () =>
      withServer(maker, async ({ app, client }) => {
        const { body: added } = await call(app, 'POST', '/api/v1/queues/r/jobs', { name: 'flaky', opts: { maxRetries: 1, backoff: { type: 'fixed', delayMs: 0 } } });
        const c1 = (await call(app, 'POST', '/api/v1/queues/r/claim', { workerId: 'w' })).body.jobs[0];
        const f1 = await call(app, 'POST', `/api/v1/jobs/${c1.id}/fail`, { attempt: c1.attempt, leaseToken: c1.leaseToken, error: { message: 'boom', name: 'IOError', stack: 'at py' } });
        assert.equal(f1.status, 200);
        assert.equal(f1.body.status, 'queued');
        const c2 = (await call(app, 'POST', '/api/v1/queues/r/claim', { workerId: 'w' })).body.jobs[0];
        assert.equal(c2.id, added.id);
        assert.equal(c2.attempt, 2);
        const f2 = await call(app, 'POST', `/api/v1/jobs/${c2.id}/fail`, { attempt: 2, leaseToken: c2.leaseToken, error: { message: 'boom again', name: 'IOError' } });
        assert.equal(f2.body.status, 'dead');
        const dead = await client.getJob(added.id);
        assert.equal(dead?.state, 'dead');
        assert.equal(dead?.errors.length, 2);
        assert.equal(dead?.errors[0]?.name, 'IOError');
        assert.equal(dead?.errors[0]?.stack, 'at py');
        assert.equal(dead?.failureReason, 'IOError: boom again');

        const { body: p } = await call(app, 'POST', '/api/v1/queues/r/jobs', { name: 'bad-input', opts: { maxRetries: 5 } });
        const c3 = (await call(app, 'POST', '/api/v1/queues/r/claim', { workerId: 'w' })).body.jobs[0];
        assert.equal(c3.id, p.id);
        const f3 = await call(app, 'POST', `/api/v1/jobs/${c3.id}/fail`, { attempt: 1, leaseToken: c3.leaseToken, error: { message: 'invalid address' }, permanent: true });
        assert.equal(f3.body.status, 'dead');
        assert.equal((await client.getJob(p.id))?.errors[0]?.kind, 'permanent');

        const { body: later } = await call(app, 'POST', '/api/v1/queues/r/jobs', { name: 'rate-limited' });
        const c4 = (await call(app, 'POST', '/api/v1/queues/r/claim', { workerId: 'w' })).body.jobs[0];
        assert.equal(c4.id, later.id);
        const f4 = await call(app, 'POST', `/api/v1/jobs/${c4.id}/fail`, { attempt: 1, leaseToken: c4.leaseToken, error: { message: '429' }, retryAfterMs: 60_000 });
        assert.equal(f4.body.status, 'retrying');
        assert.equal(f4.body.retryInMs, 60_000);
        const stored = await client.getJob(later.id);
        assert.equal(stored?.state, 'retrying');
        assert.ok(stored!.runAt.getTime() > Date.now() + 50_000);
      }));

    test('a long-poll claim on an empty queue returns as soon as a job is enqueued, and empty at its deadline', () =>
      withServer(maker, async ({ app }) => {
        const started = Date.now();
        const empty = await call(app, 'POST', '/api/v1/queues/lp/claim', { workerId: 'w', waitMs: 300 });
        assert.equal(empty.status, 200);
        assert.deepEqual(empty.body.jobs, []);
        assert.ok(Date.now() - started >= 280, 'it waited for its deadline');

        const pending = call(app, 'POST', '/api/v1/queues/lp/claim', { workerId: 'w', waitMs: 15_000 });
        await new Promise((r) => setTimeout(r, 100));
        const t0 = Date.now();
        const { body: added } = await call(app, 'POST', '/api/v1/queues/lp/jobs', { name: 'wake' });
        const claimed = await pending;
        assert.equal(claimed.body.jobs.length, 1);
        assert.equal(claimed.body.jobs[0].id, added.id);
        assert.ok(Date.now() - t0 < 5000, 'woken by the enqueue, not by the 15 s deadline');
      }));

    test('a cancel request reaches the HTTP worker on heartbeat; its fail then cancels the job', () =>
      withServer(maker, async ({ app, client }) => {
        const { body: added } = await call(app, 'POST', '/api/v1/queues/cx/jobs', { name: 'long' });
        const c = (await call(app, 'POST', '/api/v1/queues/cx/claim', { workerId: 'w' })).body.jobs[0];
        assert.equal((await call(app, 'POST', `/api/v1/jobs/${added.id}/cancel`)).body.outcome, 'cancel_requested');
        const hb = await call(app, 'POST', `/api/v1/jobs/${c.id}/heartbeat`, { attempt: 1, leaseToken: c.leaseToken });
        assert.equal(hb.body.cancelRequested, true);
        const f = await call(app, 'POST', `/api/v1/jobs/${c.id}/fail`, { attempt: 1, leaseToken: c.leaseToken, error: { message: 'stopped' } });
        assert.equal(f.body.status, 'cancelled');
        assert.equal((await client.getJob(added.id))?.state, 'cancelled');
      }));
  });
}
