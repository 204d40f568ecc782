/**
 * Exact filtered counts and the exact failure-reason filter: `countMatchingJobs(filter)` equals
 * the number of jobs `listJobs` pages through with the same filter — for every kind of JobFilter
 * field, one and several states, the dead-only fields — and `reason` selects exactly a DLQ
 * group's jobs (`''`: jobs without a reason), also for the DLQ operations.
 */
import assert from 'node:assert/strict';
import type { Backend, JobFilter } from '@spindle/core';
import type { Suite } from '../suite.js';
import { finalizeOne, insertAndClaim, insertMany, makeDead, uniqueId } from './fixtures.js';

/** Every id `listJobs` returns for `filter`, all pages. */
async function listedCount(backend: Backend, filter: JobFilter): Promise<number> {
  let n = 0;
  let cursor: string | null = null;
  do {
    const page = await backend.listJobs({ filter, limit: 7, cursor });
    n += page.jobs.length;
    cursor = page.nextCursor;
  } while (cursor !== null);
  return n;
}

export function countTests(suite: Suite): void {
  suite.group('filtered counts and the reason filter', () => {
    suite.test('countMatchingJobs equals what listJobs pages through, for every kind of filter', async ({ backend, at }) => {
      const queued = await insertMany(backend, Array.from({ length: 12 }, (_, i) => ({ queue: 'count-a', name: i % 2 ? 'odd' : 'even', payload: JSON.stringify({ n: i, tag: i < 5 ? 'Needle' : 'hay' }) })), at(0));
      await insertMany(backend, Array.from({ length: 4 }, () => ({ queue: 'count-b' })), at(10));
      const done = await insertAndClaim(backend, { queue: 'count-c' }, { now: at(20), queue: 'count-c' });
      assert.equal(await finalizeOne(backend, done, { kind: 'complete', result: null }, at(21)), 'ok');
      const dead = [
        await makeDead(backend, at(30), { queue: 'count-d' }, 'timeout talking to smtp'),
        await makeDead(backend, at(31), { queue: 'count-d' }, 'timeout talking to smtp'),
        await makeDead(backend, at(32), { queue: 'count-d' }, 'bad address'),
      ];
      await backend.dlqResolve({ ids: [dead[2]!], note: 'ok', limit: 1, now: at(40) });
      const filters: JobFilter[] = [
        {},
        { queue: 'count-a' },
        { queue: 'count-a', states: ['queued'] },
        { states: ['queued', 'completed', 'dead'] },
        { queue: 'count-a', name: 'odd' },
        { payloadContains: 'needle' },
        { queue: 'count-a', states: ['queued'], payloadContains: 'NEEDLE', name: 'even' },
        { errorContains: 'smtp' },
        { reason: 'bad address' },
        { resolved: false },
        { queue: 'count-d', resolved: true },
        { ids: [queued[0]!, queued[1]!, dead[0]!, 'no-such-job'] },
        { createdAfter: at(10), createdBefore: at(31) },
        { queue: 'nobody' },
      ];
      for (const filter of filters) {
        assert.equal(await backend.countMatchingJobs({ filter }), await listedCount(backend, filter), `count of ${JSON.stringify(filter)}`);
      }
      assert.equal(await backend.countMatchingJobs({ filter: { queue: 'count-a', states: ['queued'] } }), 12);
      assert.equal(await backend.countMatchingJobs({ filter: { payloadContains: 'needle' } }), 5);
      assert.equal(await backend.countMatchingJobs({ filter: { resolved: false } }), 2);
    });

    suite.test('reason selects a DLQ group exactly, not by substring; the empty reason matches jobs without one', async ({ backend, at }) => {
      const queue = uniqueId('reasons');
      const exact = await makeDead(backend, at(0), { queue }, 'disk full');
      await makeDead(backend, at(1), { queue }, 'disk full on /var');
      const none = await makeDead(backend, at(2), { queue }, '');
      const groups = await backend.dlqGroups({ filter: { queue } });
      assert.deepStrictEqual(Object.fromEntries(groups.map((g) => [g.reason, g.count])), { '': 1, 'disk full': 1, 'disk full on /var': 1 });
      assert.deepStrictEqual((await backend.listJobs({ filter: { queue, reason: 'disk full' }, limit: 10 })).jobs.map((j) => j.id), [exact]);
      assert.deepStrictEqual((await backend.listJobs({ filter: { queue, reason: '' }, limit: 10 })).jobs.map((j) => j.id), [none]);
      assert.equal(await backend.countMatchingJobs({ filter: { queue, errorContains: 'disk full' } }), 2, 'errorContains is the substring match');
      // A group's action by its reason moves exactly its jobs.
      assert.equal(await backend.dlqPurge({ filter: { queue, reason: 'disk full' }, limit: 100 }), 1);
      assert.equal(await backend.getJob(exact), null);
      assert.equal(await backend.countMatchingJobs({ filter: { queue, states: ['dead'] } }), 2);
    });
  });
}
