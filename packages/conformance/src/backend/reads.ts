/**
 * Reads: getJob, listJobs (every JobFilter condition, newest/oldest order, keyset cursor paging
 * without duplicates or gaps, invalid cursor → ValidationError), countJobs per (queue, state),
 * listQueues with the paused flag, and migrate/checkSchema/now/close housekeeping.
 */
import assert from 'node:assert/strict';
import type { Backend, JobFilter, ListJobsParams } from '@spindle/core';
import { NO_QUEUE_LIMITS } from '@spindle/core';
import type { Suite } from '../suite.js';
import {
  KEEP_FOREVER,
  QUEUE,
  attemptError,
  finalizeOne,
  insertAndClaim,
  insertMany,
  insertOne,
  makeDead,
  waitFor,
} from './fixtures.js';

async function listIds(backend: Backend, filter: JobFilter, order: ListJobsParams['order'] = 'oldest'): Promise<string[]> {
  const page = await backend.listJobs({ filter, limit: 1000, order });
  return page.jobs.map((j) => j.id);
}

async function allPages(backend: Backend, params: Omit<ListJobsParams, 'cursor'>): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | null = null;
  do {
    const page = await backend.listJobs({ ...params, cursor });
    pages.push(page.jobs.map((j) => j.id));
    cursor = page.nextCursor;
    assert.ok(pages.length <= 100, 'paging does not end');
  } while (cursor !== null);
  return pages;
}

export function readTests(suite: Suite): void {
  suite.group('reads', () => {
    suite.test('getJob answers null for an unknown id', async ({ backend }) => {
      assert.equal(await backend.getJob('no-such-job'), null);
    });

    suite.test('lists newest first by default, oldest first on request', async ({ backend, at }) => {
      const ids = await insertMany(backend, [{}, {}, {}], at(0));
      const newest = await backend.listJobs({ limit: 10 });
      assert.deepStrictEqual(newest.jobs.map((j) => j.id), [...ids].reverse());
      assert.equal(newest.nextCursor, null);
      assert.deepStrictEqual(await listIds(backend, {}, 'oldest'), ids);
      assert.deepStrictEqual(newest.jobs[0], await backend.getJob(ids[2]!), 'listJobs and getJob disagree');
    });

    for (const order of ['newest', 'oldest'] as const) {
      suite.test(`pages ${order} first with a cursor, without duplicates or gaps`, async ({ backend, at }) => {
        const ids: string[] = [];
        for (let i = 0; i < 4; i++) ids.push(...(await insertMany(backend, Array.from({ length: 5 }, () => ({})), at(i))));
        ids.push(await insertOne(backend, { queue: 'other' }, at(10)));
        const pages = await allPages(backend, { limit: 7, order });
        assert.deepStrictEqual(pages.map((p) => p.length), [7, 7, 7]);
        assert.deepStrictEqual(pages.flat(), order === 'newest' ? [...ids].reverse() : ids);
        const filtered = await allPages(backend, { limit: 3, order, filter: { queue: QUEUE } });
        assert.equal(filtered.flat().length, 20);
        assert.equal(new Set(filtered.flat()).size, 20);
        assert.ok(!filtered.flat().includes(ids[20]!));
      });
    }

    suite.test('keeps paging stable while new jobs arrive', async ({ backend, at }) => {
      const ids = await insertMany(backend, Array.from({ length: 6 }, () => ({})), at(0));
      const first = await backend.listJobs({ limit: 3, order: 'newest' });
      await insertMany(backend, [{}, {}], at(1));
      assert.ok(first.nextCursor);
      const second = await backend.listJobs({ limit: 3, order: 'newest', cursor: first.nextCursor });
      assert.deepStrictEqual([...first.jobs, ...second.jobs].map((j) => j.id), [...ids].reverse());
      assert.equal(second.nextCursor, null);
    });

    suite.test('rejects a cursor it did not issue with a ValidationError', async ({ backend, at }) => {
      await insertOne(backend, {}, at(0));
      for (const cursor of ['not-a-cursor', Buffer.from('s:abc').toString('base64url'), Buffer.from('x:12').toString('base64url')]) {
        await assert.rejects(
          backend.listJobs({ limit: 10, cursor }),
          (err: unknown) => (err as { code?: string }).code === 'validation_failed' && (err as Error).name === 'ValidationError',
          `cursor ${cursor} accepted`,
        );
      }
    });

    suite.test('filters by queue, states, name and ids', async ({ backend, at }) => {
      const [a1, a2] = await insertMany(backend, [{ queue: 'a', name: 'email' }, { queue: 'a', name: 'sms' }], at(0));
      const b1 = await insertOne(backend, { queue: 'b', name: 'email', delayMs: 60_000 }, at(0));
      const running = await insertAndClaim(backend, { queue: 'c', name: 'email' }, { now: at(0) });
      assert.deepStrictEqual(await listIds(backend, { queue: 'a' }), [a1, a2]);
      assert.deepStrictEqual(await listIds(backend, { states: ['scheduled', 'running'] }), [b1, running.id]);
      assert.deepStrictEqual(await listIds(backend, { name: 'email' }), [a1, b1, running.id]);
      assert.deepStrictEqual(await listIds(backend, { ids: [a2!, b1, 'missing'] }), [a2, b1]);
      assert.deepStrictEqual(await listIds(backend, { queue: 'a', name: 'email', states: ['queued'] }), [a1]);
      assert.deepStrictEqual(await listIds(backend, { queue: 'a', states: ['dead'] }), []);
    });

    suite.test('filters by creation time', async ({ backend, at }) => {
      const early = await insertOne(backend, {}, at(0));
      const middle = await insertOne(backend, {}, at(10_000));
      const late = await insertOne(backend, {}, at(20_000));
      assert.deepStrictEqual(await listIds(backend, { createdAfter: at(5_000) }), [middle, late]);
      assert.deepStrictEqual(await listIds(backend, { createdBefore: at(15_000) }), [early, middle]);
      assert.deepStrictEqual(await listIds(backend, { createdAfter: at(5_000), createdBefore: at(15_000) }), [middle]);
    });

    suite.test('matches payload text case-insensitively, taking % and _ literally', async ({ backend, at }) => {
      const [percent, plain, underscore, letter] = await insertMany(
        backend,
        [
          { payload: JSON.stringify({ note: '50% OFF today' }) },
          { payload: JSON.stringify({ note: '50 and more off' }) },
          { payload: JSON.stringify({ key: 'a_b' }) },
          { payload: JSON.stringify({ key: 'axb' }) },
        ],
        at(0),
      );
      assert.deepStrictEqual(await listIds(backend, { payloadContains: '50% off' }), [percent]);
      assert.deepStrictEqual(await listIds(backend, { payloadContains: '%' }), [percent]);
      assert.deepStrictEqual(await listIds(backend, { payloadContains: 'A_B' }), [underscore]);
      assert.deepStrictEqual(await listIds(backend, { payloadContains: '_' }), [underscore]);
      assert.deepStrictEqual(await listIds(backend, { payloadContains: 'OFF' }), [percent, plain]);
      assert.deepStrictEqual(await listIds(backend, { payloadContains: '\\' }), []);
      assert.deepStrictEqual(await listIds(backend, { payloadContains: 'AXB' }), [letter]);
    });

    suite.test('matches errorContains against the failure reason or any attempt error, case-insensitively', async ({ backend, at }) => {
      const dead = await makeDead(backend, at(0), { queue: 'd' }, 'Quota Exceeded', 'quota exceeded for tenant 7');
      const retrying = await insertAndClaim(backend, { queue: 'r' }, { now: at(1) });
      const error = attemptError({ message: 'Socket hang up (quota_proxy)', at: at(2).getTime() });
      await finalizeOne(backend, retrying, { kind: 'retry', error, delayMs: 60_000 }, at(2));
      const byMessage = await makeDead(backend, at(3), { queue: 'm' }, 'generic', 'TENANT 9 failed');
      await insertOne(backend, { payload: '{"quota":true}' }, at(4));
      assert.deepStrictEqual(await listIds(backend, { errorContains: 'QUOTA' }), [dead, retrying.id]);
      assert.deepStrictEqual(await listIds(backend, { errorContains: 'tenant' }), [dead, byMessage]);
      assert.deepStrictEqual(await listIds(backend, { errorContains: 'quota_' }), [retrying.id]);
      assert.deepStrictEqual(await listIds(backend, { errorContains: 'nothing like this' }), []);
    });

    suite.test('filters dead jobs by failure time and resolution', async ({ backend, at }) => {
      const first = await makeDead(backend, at(1_000));
      const second = await makeDead(backend, at(20_000));
      await backend.dlqResolve({ ids: [second], note: 'ok', limit: 1, now: at(30_000) });
      assert.deepStrictEqual(await listIds(backend, { failedAfter: at(10_000) }), [second]);
      assert.deepStrictEqual(await listIds(backend, { failedBefore: at(10_000) }), [first]);
      assert.deepStrictEqual(await listIds(backend, { failedAfter: at(20_000) }), [second], 'failedAfter is "at or after"');
      assert.deepStrictEqual(await listIds(backend, { failedBefore: at(20_000) }), [first], 'failedBefore is "before"');
      assert.deepStrictEqual(await listIds(backend, { resolved: true }), [second]);
      assert.deepStrictEqual(await listIds(backend, { resolved: false }), [first]);
    });

    suite.test('counts jobs per queue and state, omitting zero counts', async ({ backend, at }) => {
      await insertMany(backend, [{ queue: 'a' }, { queue: 'a' }, { queue: 'a', delayMs: 10_000 }, { queue: 'b' }], at(0));
      await makeDead(backend, at(1), { queue: 'c' });
      const key = (rows: Array<{ queue: string; state: string; count: number }>) =>
        rows.map((r) => `${r.queue}/${r.state}=${r.count}`).sort();
      assert.deepStrictEqual(key(await backend.countJobs()), ['a/queued=2', 'a/scheduled=1', 'b/queued=1', 'c/dead=1']);
      assert.deepStrictEqual(key(await backend.countJobs({ queue: 'a' })), ['a/queued=2', 'a/scheduled=1']);
      assert.deepStrictEqual(await backend.countJobs({ queue: 'empty' }), []);
    });

    suite.test('oldestQueuedAt: the earliest runAt among queued jobs, whatever their insertion order and priority', async ({ backend, at }) => {
      assert.equal(await backend.oldestQueuedAt(QUEUE), null);
      await insertOne(backend, { delayMs: 60_000 }, at(0)); // inserted first, due last
      await insertOne(backend, {}, at(10_000));
      await insertOne(backend, { priority: 100 }, at(20_000));
      await insertOne(backend, { queue: 'elsewhere' }, at(1_000));
      await backend.promoteDueJobs({ limit: 10, now: at(60_000) });
      assert.equal((await backend.oldestQueuedAt(QUEUE))?.getTime(), at(10_000).getTime());
      const [urgent] = await backend.claimJobs({ queue: QUEUE, workerId: 'w', limit: 1, leaseMs: 30_000, now: at(61_000) });
      assert.equal(urgent?.priority, 100);
      assert.equal((await backend.oldestQueuedAt(QUEUE))?.getTime(), at(10_000).getTime());
      await backend.claimJobs({ queue: QUEUE, workerId: 'w', limit: 1, leaseMs: 30_000, now: at(62_000) });
      assert.equal((await backend.oldestQueuedAt(QUEUE))?.getTime(), at(60_000).getTime(), 'the promoted job waits since it became due');
      await backend.claimJobs({ queue: QUEUE, workerId: 'w', limit: 1, leaseMs: 30_000, now: at(63_000) });
      assert.equal(await backend.oldestQueuedAt(QUEUE), null);
      assert.equal((await backend.oldestQueuedAt('elsewhere'))?.getTime(), at(1_000).getTime());
    });

    suite.test('lists every queue that has jobs or a setting, with its paused flag', async ({ backend, at }) => {
      assert.deepStrictEqual(await backend.listQueues(), []);
      await insertOne(backend, { queue: 'with-jobs' }, at(0));
      await backend.pauseQueue('paused-empty');
      await backend.pauseQueue('resumed-later');
      await backend.resumeQueue('resumed-later');
      const queues = (await backend.listQueues()).sort((x, y) => x.name.localeCompare(y.name));
      const none = { limits: NO_QUEUE_LIMITS, heldUntil: null, grouped: false };
      assert.deepStrictEqual(queues, [
        { name: 'paused-empty', paused: true, ...none },
        { name: 'resumed-later', paused: false, ...none },
        { name: 'with-jobs', paused: false, ...none },
      ]);
      await backend.pauseQueue('with-jobs');
      await backend.pauseQueue('with-jobs');
      const again = (await backend.listQueues()).find((q) => q.name === 'with-jobs');
      assert.deepStrictEqual(again, { name: 'with-jobs', paused: true, ...none });
    });
  });

  suite.group('housekeeping', () => {
    suite.test('migrate on a current schema applies nothing; checkSchema passes', async ({ backend }) => {
      const result = await backend.migrate();
      assert.deepStrictEqual(result.applied, []);
      assert.ok(result.version >= 1);
      await backend.checkSchema();
    });

    suite.test('reads the database clock as a Date close to the host clock', async ({ backend }) => {
      const now = await backend.now();
      assert.ok(now instanceof Date);
      assert.ok(Math.abs(now.getTime() - Date.now()) < 60_000, 'database clock is far from the host clock');
    });

    suite.test('declares its kind and capabilities', async ({ backend }) => {
      assert.equal(typeof backend.kind, 'string');
      assert.ok(backend.kind.length > 0);
      for (const flag of ['multiProcess', 'crossProcessEvents', 'transactionalEnqueue'] as const) {
        assert.equal(typeof backend.capabilities[flag], 'boolean', flag);
      }
    });

    suite.test('close is idempotent', async ({ backend }) => {
      await backend.close();
      await backend.close();
    });

    suite.test('judges due times and leases by the database clock when no now is given', async ({ backend }) => {
      const delayed = await insertOne(backend, { delayMs: 60_000 });
      assert.equal((await backend.getJob(delayed))?.state, 'scheduled');
      assert.deepStrictEqual(await backend.promoteDueJobs({ limit: 10 }), { promoted: 0, queues: [] });
      const due = await backend.nextDueAt();
      assert.ok(due && Math.abs(due.getTime() - (await backend.now()).getTime() - 60_000) < 10_000, 'nextDueAt is not about a minute away');
      const long = await insertOne(backend, { queue: 'long' });
      const short = await insertOne(backend, { queue: 'short' });
      await backend.claimJobs({ queue: 'long', workerId: 'w', limit: 1, leaseMs: 600_000 });
      await backend.claimJobs({ queue: 'short', workerId: 'w', limit: 1, leaseMs: 1 });
      const rescued = await waitFor(async () => {
        const result = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER });
        return result.requeued.length > 0 ? result : undefined;
      }, 'the 1 ms lease to be rescued');
      assert.deepStrictEqual(rescued.requeued, [short]);
      assert.equal((await backend.getJob(long))?.state, 'running');
    });

    suite.test('finishes a job end to end with the database clock when no now is given', async ({ backend }) => {
      const id = await insertOne(backend);
      const [job] = await backend.claimJobs({ queue: QUEUE, workerId: 'w', limit: 1, leaseMs: 60_000 });
      assert.equal(job?.id, id);
      const beat = await backend.extendLeases({ leases: [{ id, attempt: 1, leaseToken: job!.leaseToken }], leaseMs: 60_000 });
      assert.equal(beat[0]?.outcome, 'ok');
      const outcomes = await backend.finalizeJobs({
        items: [{ id, attempt: 1, leaseToken: job!.leaseToken, kind: 'complete', result: '1' }],
        retention: KEEP_FOREVER,
      });
      assert.deepStrictEqual(outcomes, ['ok']);
      assert.deepStrictEqual(await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER }), { requeued: [], dead: [], cancelled: [] });
      assert.deepStrictEqual(await backend.promoteDueJobs({ limit: 10 }), { promoted: 0, queues: [] });
    });
  });
}
