/**
 * insertJobs: initial state and stored fields, delayed and past run times, per-item outcomes,
 * and deduplication by id (any state) and by uniqueKey (live jobs of a queue only), including
 * duplicates within one batch. A duplicate never changes the existing job.
 */
import assert from 'node:assert/strict';
import type { Suite } from '../suite.js';
import {
  QUEUE,
  attemptError,
  claimOne,
  finalizeOne,
  insertAndClaim,
  insertOne,
  jobInsert,
  mustGet,
  uniqueId,
} from './fixtures.js';

export function insertTests(suite: Suite): void {
  suite.group('insertJobs', () => {
    suite.test('stores a new job as queued at now with attempt 0, round 0 and no history', async ({ backend, at }) => {
      const now = at(0);
      const job = jobInsert({
        name: 'resize',
        payload: JSON.stringify({ url: 'https://example.com/a.png', sizes: [1, 2] }),
        priority: 250,
        maxRetries: 5,
        uniqueKey: 'img-a',
        timeoutMs: 15_000,
        backoff: { type: 'exponential', delayMs: 1000, factor: 3, maxDelayMs: 90_000, jitter: 'full' },
      });
      const outcomes = await backend.insertJobs({ jobs: [job], now });
      assert.deepStrictEqual(outcomes, [{ id: job.id, inserted: true, state: 'queued' }]);
      const record = await mustGet(backend, job.id);
      assert.deepStrictEqual(record, {
        id: job.id,
        queue: QUEUE,
        name: 'resize',
        payload: { url: 'https://example.com/a.png', sizes: [1, 2] },
        state: 'queued',
        priority: 250,
        attempt: 0,
        maxRetries: 5,
        progress: null,
        result: null,
        errors: [],
        uniqueKey: 'img-a',
        unique: { key: 'img-a', while: 'active' },
        group: null,
        timeoutMs: 15_000,
        backoff: { type: 'exponential', delayMs: 1000, factor: 3, maxDelayMs: 90_000, jitter: 'full' },
        round: 0,
        createdAt: now,
        runAt: now,
        startedAt: null,
        finishedAt: null,
        leaseExpiresAt: null,
        workerId: null,
        cancelRequested: false,
        failureReason: null,
        firstFailedAt: null,
        lastFailedAt: null,
        resolution: null,
        expiresAt: null,
        parentId: null,
        pendingChildren: null,
        onChildFailure: null,
      });
    });

    suite.test('round-trips payloads with quotes, backslashes, unicode and nesting unchanged', async ({ backend, at }) => {
      const payload = {
        text: 'it\'s "quoted" \\ back\\slash % _ \n newline \t tab',
        unicode: 'héllo wörld ✓ 日本語 🎉',
        escaped: '\u0000 nul, \u2028 separator',
        nested: { list: [1, 2.5, -3, true, false, null, { deep: ['x'] }], empty: {}, none: [] },
        big: 9_007_199_254_740_991,
      };
      const id = await insertOne(backend, { payload: JSON.stringify(payload), backoff: { type: 'custom' } }, at(0));
      const record = await mustGet(backend, id);
      assert.deepStrictEqual(record.payload, payload);
      assert.deepStrictEqual(record.backoff, { type: 'custom' });
      assert.deepStrictEqual((await claimOne(backend, { now: at(1) })).payload, payload);
    });

    suite.test('never exposes the lease token in a job record', async ({ backend, at }) => {
      const claimed = await insertAndClaim(backend, {}, { now: at(0) });
      const record = await mustGet(backend, claimed.id);
      assert.ok(!('leaseToken' in record), 'JobRecord has a leaseToken field');
      assert.ok(!JSON.stringify(record).includes(claimed.leaseToken), 'the lease token appears in the record');
    });

    suite.test('schedules a job whose delayMs lies in the future', async ({ backend, at }) => {
      const job = jobInsert({ delayMs: 60_000 });
      const [outcome] = await backend.insertJobs({ jobs: [job], now: at(0) });
      assert.deepStrictEqual(outcome, { id: job.id, inserted: true, state: 'scheduled' });
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'scheduled');
      assert.deepStrictEqual(record.runAt, at(60_000));
      assert.deepStrictEqual(record.createdAt, at(0));
    });

    suite.test('schedules a job whose runAt lies in the future', async ({ backend, at }) => {
      const job = jobInsert({ runAt: at(3_600_000) });
      const [outcome] = await backend.insertJobs({ jobs: [job], now: at(0) });
      assert.equal(outcome?.state, 'scheduled');
      assert.deepStrictEqual((await mustGet(backend, job.id)).runAt, at(3_600_000));
    });

    suite.test('queues a job whose runAt is already past, keeping that runAt', async ({ backend, at }) => {
      const job = jobInsert({ runAt: at(-5_000) });
      const [outcome] = await backend.insertJobs({ jobs: [job], now: at(0) });
      assert.equal(outcome?.state, 'queued');
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'queued');
      assert.deepStrictEqual(record.runAt, at(-5_000));
    });

    suite.test('queues a job with delayMs 0 or a runAt equal to now', async ({ backend, at }) => {
      const a = jobInsert({ delayMs: 0 });
      const b = jobInsert({ runAt: at(0) });
      const outcomes = await backend.insertJobs({ jobs: [a, b], now: at(0) });
      assert.deepStrictEqual(outcomes.map((o) => o.state), ['queued', 'queued']);
      assert.deepStrictEqual((await mustGet(backend, a.id)).runAt, at(0));
      assert.deepStrictEqual((await mustGet(backend, b.id)).runAt, at(0));
    });

    suite.test('uses the database clock when no now is given', async ({ backend }) => {
      const before = await backend.now();
      const id = await insertOne(backend);
      const after = await backend.now();
      const record = await mustGet(backend, id);
      assert.ok(record.createdAt.getTime() >= before.getTime() - 1, 'createdAt before the call');
      assert.ok(record.createdAt.getTime() <= after.getTime() + 1, 'createdAt after the call');
      assert.equal(record.state, 'queued');
    });

    suite.test('answers a batch per item, in input order', async ({ backend, at }) => {
      const existing = await insertOne(backend, {}, at(0));
      const a = jobInsert();
      const b = jobInsert({ delayMs: 10_000 });
      const c = jobInsert({ id: existing });
      const d = jobInsert({ queue: 'other' });
      const outcomes = await backend.insertJobs({ jobs: [a, b, c, d], now: at(1) });
      assert.deepStrictEqual(outcomes, [
        { id: a.id, inserted: true, state: 'queued' },
        { id: b.id, inserted: true, state: 'scheduled' },
        { id: existing, inserted: false, state: 'queued' },
        { id: d.id, inserted: true, state: 'queued' },
      ]);
    });

    suite.test('handles a batch of 1000 jobs end to end, answering every item in order', async ({ backend, at }) => {
      const jobs = Array.from({ length: 1000 }, (_, i) => jobInsert({ payload: JSON.stringify({ i }) }));
      const withDuplicates = [...jobs.slice(0, 500), { ...jobs[10]!, id: jobs[10]!.id }, ...jobs.slice(500)];
      const outcomes = await backend.insertJobs({ jobs: withDuplicates, now: at(0) });
      assert.equal(outcomes.length, 1001);
      assert.deepStrictEqual(outcomes[500], { id: jobs[10]!.id, inserted: false, state: 'queued' });
      const fresh = [...outcomes.slice(0, 500), ...outcomes.slice(501)];
      assert.deepStrictEqual(fresh, jobs.map((j) => ({ id: j.id, inserted: true, state: 'queued' })));
      const claimed = await backend.claimJobs({ queue: QUEUE, workerId: 'w', limit: 1000, leaseMs: 60_000, now: at(1) });
      assert.deepStrictEqual(claimed.map((c) => c.id), jobs.map((j) => j.id), 'FIFO order lost in a large claim');
      const leases = claimed.map((c) => ({ id: c.id, attempt: c.attempt, leaseToken: c.leaseToken }));
      const beats = await backend.extendLeases({ leases: [...leases].reverse(), leaseMs: 60_000, now: at(2) });
      assert.ok(beats.every((b) => b.outcome === 'ok'));
      const items = leases.map((l, i) => ({ ...l, kind: 'complete' as const, result: String(i) }));
      items[3] = { ...items[3]!, leaseToken: 'e'.repeat(32) };
      const done = await backend.finalizeJobs({ items, retention: { completedMs: null, cancelledMs: null, deadMs: null }, now: at(3) });
      assert.deepStrictEqual(done, items.map((_, i) => (i === 3 ? 'lease_lost' : 'ok')));
      assert.equal((await mustGet(backend, jobs[999]!.id)).result, 999);
      assert.equal((await mustGet(backend, jobs[3]!.id)).state, 'running');
    }, { timeoutMs: 60_000 });

    suite.test('stores each job of a batch with its own options, whichever options the batch shares', async ({ backend, at }) => {
      // A backend may send a column shared by every job once (PostgreSQL does): a batch where
      // some options are shared and others differ in one job only must keep every job's own.
      const now = at(0);
      const shared = { name: 'mixed', priority: 100, maxRetries: 2, timeoutMs: 5_000, group: null };
      const jobs = [
        jobInsert({ ...shared, payload: '{"k":0}' }),
        jobInsert({ ...shared, payload: '{"k":1}', priority: 900, runAt: at(60_000) }),
        jobInsert({ ...shared, payload: '{"k":2}', queue: 'mixed-other', backoff: { type: 'fixed', delayMs: 7 } }),
        jobInsert({ ...shared, payload: '{"k":3}', uniqueKey: 'only-me', delayMs: 30_000 }),
      ];
      await backend.insertJobs({ jobs, now });
      const got = await Promise.all(jobs.map((j) => mustGet(backend, j.id)));
      assert.deepStrictEqual(
        got.map((r) => [r.queue, r.name, r.priority, r.maxRetries, r.timeoutMs, r.uniqueKey, r.state, r.runAt.getTime(), r.backoff]),
        [
          [QUEUE, 'mixed', 100, 2, 5_000, null, 'queued', now.getTime(), null],
          [QUEUE, 'mixed', 900, 2, 5_000, null, 'scheduled', now.getTime() + 60_000, null],
          ['mixed-other', 'mixed', 100, 2, 5_000, null, 'queued', now.getTime(), { type: 'fixed', delayMs: 7 }],
          [QUEUE, 'mixed', 100, 2, 5_000, 'only-me', 'scheduled', now.getTime() + 30_000, null],
        ],
      );
      const alone = jobInsert({ name: 'single', priority: 7 });
      await backend.insertJobs({ jobs: [alone], now });
      const one = await mustGet(backend, alone.id);
      assert.deepStrictEqual([one.name, one.priority], ['single', 7]);
    });

    suite.test('accepts an empty batch', async ({ backend }) => {
      assert.deepStrictEqual(await backend.insertJobs({ jobs: [] }), []);
    });

    suite.test('treats a known id as a duplicate in every state, leaving the existing job untouched', async ({ backend, at }) => {
      const now = at(0);
      const queued = await insertOne(backend, { queue: 'q-queued' }, now);
      const scheduled = await insertOne(backend, { queue: 'q-sched', delayMs: 60_000 }, now);
      const running = (await insertAndClaim(backend, { queue: 'q-run' }, { now })).id;
      const completedJob = await insertAndClaim(backend, { queue: 'q-done' }, { now });
      assert.equal(await finalizeOne(backend, completedJob, { kind: 'complete', result: '{"ok":true}' }, now), 'ok');
      const deadJob = await insertAndClaim(backend, { queue: 'q-dead' }, { now });
      assert.equal(
        await finalizeOne(backend, deadJob, { kind: 'dead', error: attemptError({ at: now.getTime() }), reason: 'boom' }, now),
        'ok',
      );
      const cases: Array<[string, string]> = [
        [queued, 'queued'],
        [scheduled, 'scheduled'],
        [running, 'running'],
        [completedJob.id, 'completed'],
        [deadJob.id, 'dead'],
      ];
      for (const [id, state] of cases) {
        const before = await mustGet(backend, id);
        const dup = jobInsert({ id, queue: 'elsewhere', name: 'other', payload: '{"dup":true}', priority: 1 });
        const [outcome] = await backend.insertJobs({ jobs: [dup], now: at(1000) });
        assert.deepStrictEqual(outcome, { id, inserted: false, state }, `duplicate of a ${state} job`);
        assert.deepStrictEqual(await backend.getJob(id), before, `the ${state} job changed`);
      }
    });

    suite.test('treats a uniqueKey held by a live job of the same queue as a duplicate', async ({ backend, at }) => {
      const first = await insertOne(backend, { uniqueKey: 'order-42' }, at(0));
      const before = await mustGet(backend, first);
      const second = jobInsert({ uniqueKey: 'order-42', payload: '{"second":true}' });
      const [outcome] = await backend.insertJobs({ jobs: [second], now: at(10) });
      assert.deepStrictEqual(outcome, { id: first, inserted: false, state: 'queued' });
      assert.equal(await backend.getJob(second.id), null);
      assert.deepStrictEqual(await backend.getJob(first), before);
    });

    suite.test('lets a running or scheduled job hold its uniqueKey', async ({ backend, at }) => {
      const running = await insertAndClaim(backend, { uniqueKey: 'k-run' }, { now: at(0) });
      const scheduled = await insertOne(backend, { uniqueKey: 'k-sched', delayMs: 60_000 }, at(0));
      const outcomes = await backend.insertJobs({
        jobs: [jobInsert({ uniqueKey: 'k-run' }), jobInsert({ uniqueKey: 'k-sched' })],
        now: at(1),
      });
      assert.deepStrictEqual(outcomes, [
        { id: running.id, inserted: false, state: 'running' },
        { id: scheduled, inserted: false, state: 'scheduled' },
      ]);
    });

    suite.test('scopes a uniqueKey to its queue', async ({ backend, at }) => {
      await insertOne(backend, { uniqueKey: 'shared', queue: 'a' }, at(0));
      const other = jobInsert({ uniqueKey: 'shared', queue: 'b' });
      const [outcome] = await backend.insertJobs({ jobs: [other], now: at(1) });
      assert.deepStrictEqual(outcome, { id: other.id, inserted: true, state: 'queued' });
    });

    suite.test('frees a uniqueKey once its holder completed, died or was cancelled', async ({ backend, at }) => {
      const now = at(0);
      const done = await insertAndClaim(backend, { uniqueKey: 'k1' }, { now });
      assert.equal(await finalizeOne(backend, done, { kind: 'complete', result: null }, now), 'ok');
      const dead = await insertAndClaim(backend, { uniqueKey: 'k2' }, { now });
      assert.equal(
        await finalizeOne(backend, dead, { kind: 'dead', error: attemptError({ at: now.getTime() }), reason: 'x' }, now),
        'ok',
      );
      const cancelled = await insertOne(backend, { uniqueKey: 'k3' }, now);
      assert.deepStrictEqual(await backend.cancelJobs({ ids: [cancelled], retention: { completedMs: null, cancelledMs: null, deadMs: null }, now }), ['cancelled']);
      const again = [jobInsert({ uniqueKey: 'k1' }), jobInsert({ uniqueKey: 'k2' }), jobInsert({ uniqueKey: 'k3' })];
      const outcomes = await backend.insertJobs({ jobs: again, now: at(1) });
      assert.deepStrictEqual(
        outcomes,
        again.map((j) => ({ id: j.id, inserted: true, state: 'queued' })),
      );
    });

    suite.test('dedups duplicates within one batch against the earlier item', async ({ backend, at }) => {
      const id = uniqueId();
      const first = jobInsert({ id, payload: '{"first":true}' });
      const sameId = jobInsert({ id, payload: '{"second":true}' });
      const keyed = jobInsert({ uniqueKey: 'batch-key', delayMs: 5_000 });
      const sameKey = jobInsert({ uniqueKey: 'batch-key' });
      const outcomes = await backend.insertJobs({ jobs: [first, sameId, keyed, sameKey], now: at(0) });
      assert.deepStrictEqual(outcomes, [
        { id, inserted: true, state: 'queued' },
        { id, inserted: false, state: 'queued' },
        { id: keyed.id, inserted: true, state: 'scheduled' },
        { id: keyed.id, inserted: false, state: 'scheduled' },
      ]);
      assert.deepStrictEqual((await mustGet(backend, id)).payload, { first: true });
      assert.equal(await backend.getJob(sameKey.id), null);
    });
  });
}
