/**
 * The dead-letter queue (DESIGN §6): the failure record a dead job keeps, depth per queue,
 * groups by failure reason, resolve (leaves the depth, stays dead), purge (dead jobs only, a
 * compare-and-set), and replay by ids, by filter, to another queue or with an edited payload
 * (attempt reset, round + 1, history kept). Two concurrent replays move each job exactly once.
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
  makeDead,
  mustGet,
} from './fixtures.js';

export function dlqTests(suite: Suite): void {
  suite.group('dead-letter queue', () => {
    suite.test('keeps the original job and the full failure record of a dead job', async ({ backend, at }) => {
      const job = await insertAndClaim(
        backend,
        { name: 'charge', payload: '{"amount":42}', maxRetries: 1, priority: 10, uniqueKey: 'u1' },
        { now: at(0), workerId: 'w-a' },
      );
      const e1 = attemptError({ attempt: 1, message: 'timeout talking to bank', workerId: 'w-a', at: at(1_000).getTime() });
      await finalizeOne(backend, job, { kind: 'retry', error: e1, delayMs: 0 }, at(1_000));
      const second = await claimOne(backend, { now: at(2_000), workerId: 'w-b' });
      const e2 = attemptError({
        attempt: 2,
        kind: 'permanent',
        name: 'PermanentError',
        message: 'card declined',
        stack: 'PermanentError: card declined\n    at charge (charge.ts:9:3)',
        workerId: 'w-b',
        at: at(3_000).getTime(),
      });
      await finalizeOne(backend, second, { kind: 'dead', error: e2, reason: 'card declined' }, at(3_000));
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'dead');
      assert.equal(record.queue, QUEUE);
      assert.equal(record.name, 'charge');
      assert.deepStrictEqual(record.payload, { amount: 42 });
      assert.equal(record.priority, 10);
      assert.equal(record.maxRetries, 1);
      assert.equal(record.uniqueKey, 'u1');
      assert.equal(record.attempt, 2);
      assert.equal(record.failureReason, 'card declined');
      assert.deepStrictEqual(record.firstFailedAt, at(1_000));
      assert.deepStrictEqual(record.lastFailedAt, at(3_000));
      assert.deepStrictEqual(record.finishedAt, at(3_000));
      assert.deepStrictEqual(record.errors, [e1, e2]);
      assert.equal(record.resolution, null);
    });

    suite.test('reports DLQ depth per queue, only queues with unresolved dead jobs', async ({ backend, at }) => {
      assert.deepStrictEqual(await backend.dlqDepth(), []);
      await makeDead(backend, at(0), { queue: 'a' });
      await makeDead(backend, at(1), { queue: 'a' });
      const b = await makeDead(backend, at(2), { queue: 'b' });
      await insertOne(backend, { queue: 'c' }, at(3));
      const sorted = (await backend.dlqDepth()).sort((x, y) => x.queue.localeCompare(y.queue));
      assert.deepStrictEqual(sorted, [
        { queue: 'a', depth: 2 },
        { queue: 'b', depth: 1 },
      ]);
      assert.deepStrictEqual(await backend.dlqDepth({ queue: 'a' }), [{ queue: 'a', depth: 2 }]);
      assert.equal(await backend.dlqResolve({ ids: [b], note: 'known issue', limit: 10, now: at(4) }), 1);
      assert.deepStrictEqual(await backend.dlqDepth(), [{ queue: 'a', depth: 2 }]);
    });

    suite.test('groups dead jobs by queue and failure reason, largest first, with first/last failure and a sample', async ({ backend, at }) => {
      const timeouts = [
        await makeDead(backend, at(1_000), {}, 'upstream timeout'),
        await makeDead(backend, at(5_000), {}, 'upstream timeout'),
        await makeDead(backend, at(3_000), {}, 'upstream timeout'),
      ];
      const invalid = await makeDead(backend, at(2_000), {}, 'invalid payload');
      await makeDead(backend, at(4_000), { queue: 'other' }, 'upstream timeout');
      const groups = await backend.dlqGroups({ filter: { queue: QUEUE } });
      assert.equal(groups.length, 2);
      const [first, second] = groups as [(typeof groups)[0], (typeof groups)[0]];
      assert.deepStrictEqual({ ...first, sampleJobId: '-' }, {
        queue: QUEUE,
        reason: 'upstream timeout',
        count: 3,
        firstFailedAt: at(1_000),
        lastFailedAt: at(5_000),
        sampleJobId: '-',
      });
      assert.ok(timeouts.includes(first.sampleJobId), 'sample is not a member of its group');
      assert.deepStrictEqual(second, {
        queue: QUEUE,
        reason: 'invalid payload',
        count: 1,
        firstFailedAt: at(2_000),
        lastFailedAt: at(2_000),
        sampleJobId: invalid,
      });
      const all = await backend.dlqGroups();
      assert.equal(all.length, 3);
      assert.deepStrictEqual(all.map((g) => g.count), [3, 1, 1]);
      assert.deepStrictEqual((await backend.dlqGroups({ limit: 1 })).map((g) => [g.reason, g.count]), [['upstream timeout', 3]]);
      const filtered = await backend.dlqGroups({ filter: { errorContains: 'PAYLOAD' } });
      assert.deepStrictEqual(filtered.map((g) => g.reason), ['invalid payload']);
    });

    suite.test('resolves dead jobs: note and time recorded, still dead and listed, out of the depth', async ({ backend, at }) => {
      const a = await makeDead(backend, at(0));
      const b = await makeDead(backend, at(1));
      const live = await insertOne(backend, {}, at(2));
      assert.equal(await backend.dlqResolve({ ids: [a, live, 'missing', a], note: 'fixed upstream', limit: 10, now: at(10) }), 1);
      const record = await mustGet(backend, a);
      assert.equal(record.state, 'dead');
      assert.deepStrictEqual(record.resolution, { note: 'fixed upstream', at: at(10) });
      assert.equal((await mustGet(backend, live)).resolution, null);
      assert.deepStrictEqual(await backend.dlqDepth(), [{ queue: QUEUE, depth: 1 }]);
      const resolved = await backend.listJobs({ limit: 10, filter: { states: ['dead'], resolved: true } });
      assert.deepStrictEqual(resolved.jobs.map((j) => j.id), [a]);
      const open = await backend.listJobs({ limit: 10, filter: { states: ['dead'], resolved: false } });
      assert.deepStrictEqual(open.jobs.map((j) => j.id), [b]);
    });

    suite.test('resolves by filter, at most limit per call', async ({ backend, at }) => {
      for (let i = 0; i < 3; i++) await makeDead(backend, at(i), {}, 'disk full');
      await makeDead(backend, at(5), {}, 'other');
      assert.equal(await backend.dlqResolve({ filter: { errorContains: 'disk' }, note: 'n', limit: 2, now: at(10) }), 2);
      assert.equal(await backend.dlqResolve({ filter: { errorContains: 'disk', resolved: false }, note: 'n', limit: 10, now: at(11) }), 1);
      assert.deepStrictEqual(await backend.dlqDepth(), [{ queue: QUEUE, depth: 1 }]);
    });

    suite.test('purges only dead jobs, by ids or by filter', async ({ backend, at }) => {
      const dead1 = await makeDead(backend, at(0), { queue: 'a' });
      const dead2 = await makeDead(backend, at(1), { queue: 'b' });
      const dead3 = await makeDead(backend, at(2), { queue: 'b' });
      const queued = await insertOne(backend, { queue: 'a' }, at(3));
      const queuedB = await insertOne(backend, { queue: 'b' }, at(3));
      assert.equal(await backend.dlqPurge({ ids: [dead1, queued, 'missing', dead1], limit: 10 }), 1);
      assert.equal(await backend.getJob(dead1), null);
      assert.equal((await mustGet(backend, queued)).state, 'queued');
      assert.equal(await backend.dlqPurge({ filter: { queue: 'b' }, limit: 1 }), 1, 'purge ignored its limit');
      assert.equal(await backend.dlqPurge({ filter: { queue: 'b' }, limit: 10 }), 1);
      assert.equal((await mustGet(backend, queuedB)).state, 'queued', 'purge by filter deleted a live job');
      assert.equal(await backend.getJob(dead2), null);
      assert.equal(await backend.getJob(dead3), null);
      assert.deepStrictEqual(await backend.dlqDepth(), []);
    });

    suite.test('replays a dead job: queued now, attempt 0, round 1, failure fields cleared, history kept', async ({ backend, at }) => {
      const id = await makeDead(backend, at(0), { maxRetries: 0 }, 'boom');
      await backend.dlqResolve({ ids: [id], note: 'try again', limit: 1, now: at(50) });
      const before = await mustGet(backend, id);
      const result = await backend.dlqReplay({ ids: [id], limit: 10, now: at(100) });
      assert.deepStrictEqual(result, { replayed: [id], skipped: [] });
      const record = await mustGet(backend, id);
      assert.equal(record.state, 'queued');
      assert.equal(record.attempt, 0);
      assert.equal(record.round, 1);
      assert.deepStrictEqual(record.runAt, at(100));
      assert.equal(record.failureReason, null);
      assert.equal(record.firstFailedAt, null);
      assert.equal(record.lastFailedAt, null);
      assert.equal(record.resolution, null);
      assert.equal(record.finishedAt, null);
      assert.equal(record.expiresAt, null);
      assert.equal(record.result, null);
      assert.equal(record.leaseExpiresAt, null);
      assert.equal(record.cancelRequested, false);
      assert.deepStrictEqual(record.errors, before.errors);
      assert.deepStrictEqual(record.payload, before.payload);
      assert.deepStrictEqual(await backend.dlqDepth(), []);
      const again = await claimOne(backend, { now: at(200) });
      assert.equal(again.attempt, 1);
      assert.equal(again.round, 1);
      const e = attemptError({ attempt: 1, round: 1, message: 'again', at: at(300).getTime() });
      await finalizeOne(backend, again, { kind: 'dead', error: e, reason: 'again' }, at(300));
      const dead = await mustGet(backend, id);
      assert.deepStrictEqual(dead.errors, [...before.errors, e], 'the history of round 0 was lost');
      assert.deepStrictEqual(dead.firstFailedAt, at(300));
    });

    suite.test('replays by filter, at most limit per call, only dead jobs', async ({ backend, at }) => {
      const a = await makeDead(backend, at(0), {}, 'disk full');
      const b = await makeDead(backend, at(1), {}, 'disk full');
      const c = await makeDead(backend, at(2), {}, 'bad input');
      const first = await backend.dlqReplay({ filter: { queue: QUEUE, errorContains: 'DISK' }, limit: 1, now: at(10) });
      assert.equal(first.replayed.length, 1);
      const second = await backend.dlqReplay({ filter: { queue: QUEUE, errorContains: 'disk' }, limit: 10, now: at(11) });
      assert.deepStrictEqual([...first.replayed, ...second.replayed].sort(), [a, b].sort());
      assert.equal((await mustGet(backend, c)).state, 'dead');
      const third = await backend.dlqReplay({ filter: { queue: QUEUE, errorContains: 'disk' }, limit: 10, now: at(12) });
      assert.deepStrictEqual(third, { replayed: [], skipped: [] });
    });

    suite.test('replays only dead jobs among the given ids, each once, ignoring the filter', async ({ backend, at }) => {
      const dead = await makeDead(backend, at(0), { queue: 'a' }, 'x');
      const done = await insertAndClaim(backend, { queue: 'b' }, { now: at(1) });
      await finalizeOne(backend, done, { kind: 'complete', result: null }, at(2));
      const doneBefore = await mustGet(backend, done.id);
      const result = await backend.dlqReplay({ ids: [dead, done.id, 'missing', dead], filter: { queue: 'zzz' }, limit: 10, now: at(3) });
      assert.deepStrictEqual(result, { replayed: [dead], skipped: [] });
      assert.deepStrictEqual(await backend.getJob(done.id), doneBefore);
    });

    suite.test('replays to another queue and with an edited payload', async ({ backend, at }) => {
      const moved = await makeDead(backend, at(0), { queue: 'orig' });
      const edited = await makeDead(backend, at(1), { queue: 'orig', payload: '{"v":1}' });
      assert.deepStrictEqual(await backend.dlqReplay({ ids: [moved], toQueue: 'repair', limit: 1, now: at(5) }), { replayed: [moved], skipped: [] });
      assert.equal((await mustGet(backend, moved)).queue, 'repair');
      assert.equal((await claimOne(backend, { queue: 'repair', now: at(6) })).id, moved);
      assert.deepStrictEqual(await backend.dlqReplay({ ids: [edited], payload: '{"v":2,"fixed":true}', limit: 1, now: at(7) }), {
        replayed: [edited],
        skipped: [],
      });
      const record = await mustGet(backend, edited);
      assert.deepStrictEqual(record.payload, { v: 2, fixed: true });
      assert.equal(record.queue, 'orig');
      assert.deepStrictEqual((await claimOne(backend, { queue: 'orig', now: at(8) })).payload, { v: 2, fixed: true });
    });

    suite.test('skips a replay whose uniqueKey is held by a live job of the target queue', async ({ backend, at }) => {
      const dead = await makeDead(backend, at(0), { uniqueKey: 'invoice-7' });
      const holder = await insertOne(backend, { uniqueKey: 'invoice-7' }, at(1));
      const before = await mustGet(backend, dead);
      const result = await backend.dlqReplay({ ids: [dead], limit: 10, now: at(2) });
      assert.deepStrictEqual(result, { replayed: [], skipped: [{ id: dead, reason: 'unique_conflict' }] });
      assert.deepStrictEqual(await backend.getJob(dead), before);
      assert.equal((await mustGet(backend, holder)).state, 'queued');
      const elsewhere = await backend.dlqReplay({ ids: [dead], toQueue: 'other', limit: 10, now: at(3) });
      assert.deepStrictEqual(elsewhere, { replayed: [dead], skipped: [] });
    });

    suite.test('replays only the first of two dead jobs sharing a uniqueKey, skipping the other', async ({ backend, at }) => {
      const first = await makeDead(backend, at(0), { uniqueKey: 'report-1' });
      const second = await makeDead(backend, at(1), { uniqueKey: 'report-1' });
      const result = await backend.dlqReplay({ ids: [first, second], limit: 10, now: at(2) });
      assert.deepStrictEqual(result, { replayed: [first], skipped: [{ id: second, reason: 'unique_conflict' }] });
      assert.equal((await mustGet(backend, second)).state, 'dead');
    });

    suite.test('moves each job once when two replays of the whole DLQ run concurrently', async ({ backend, at }) => {
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) ids.push(await makeDead(backend, at(i)));
      const [a, b] = await Promise.all([
        backend.dlqReplay({ filter: { queue: QUEUE }, limit: 100, now: at(1_000) }),
        backend.dlqReplay({ filter: { queue: QUEUE }, limit: 100, now: at(1_000) }),
      ]);
      const union = new Set([...a.replayed, ...b.replayed]);
      const both = a.replayed.filter((id) => b.replayed.includes(id));
      assert.deepStrictEqual(both, [], 'a job was replayed twice');
      assert.equal(a.replayed.length + b.replayed.length, 50);
      assert.deepStrictEqual([...union].sort(), [...ids].sort());
      for (const id of ids) {
        const record = await mustGet(backend, id);
        assert.equal(record.state, 'queued');
        assert.equal(record.round, 1);
        assert.equal(record.attempt, 0);
        assert.equal(record.errors.length, 1);
      }
    });

    suite.test('moves each job once when two replays by ids run concurrently', async ({ backend, at }) => {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push(await makeDead(backend, at(i)));
      const results = await Promise.all([0, 1, 2].map(() => backend.dlqReplay({ ids, limit: 100, now: at(1_000) })));
      const all = results.flatMap((r) => r.replayed);
      assert.equal(all.length, 20);
      assert.deepStrictEqual([...all].sort(), [...ids].sort());
      for (const id of ids) assert.equal((await mustGet(backend, id)).round, 1);
    });
  });
}
