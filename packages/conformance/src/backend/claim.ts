/**
 * claimJobs: what a claim writes (running, attempt + 1, fresh token, lease expiry, start time,
 * worker), what it returns, and which jobs it takes: only `queued` jobs of the named, unpaused
 * queue, in (priority, runAt, insertion) order, at most `limit`, each exactly once even under
 * concurrent claimers. Delayed jobs are never claimed early.
 */
import assert from 'node:assert/strict';
import type { Suite } from '../suite.js';
import {
  KEEP_FOREVER,
  QUEUE,
  WORKER,
  attemptError,
  claimOne,
  finalizeOne,
  insertMany,
  insertOne,
  jobInsert,
  leaseOf,
  mustGet,
  rescueAndPromote,
} from './fixtures.js';

export function claimTests(suite: Suite): void {
  suite.group('claimJobs', () => {
    suite.test('claims a queued job: running, attempt 1, lease until now + leaseMs, started now', async ({ backend, at }) => {
      const id = await insertOne(
        backend,
        {
          name: 'encode',
          payload: '{"video":"v1","n":[1,2,3]}',
          priority: 100,
          maxRetries: 2,
          timeoutMs: 5_000,
          backoff: { type: 'fixed', delayMs: 250 },
        },
        at(0),
      );
      const claimed = await backend.claimJobs({ queue: QUEUE, workerId: 'w-7', limit: 1, leaseMs: 20_000, now: at(1_000) });
      assert.equal(claimed.length, 1);
      const job = claimed[0]!;
      assert.equal(typeof job.leaseToken, 'string');
      assert.deepStrictEqual(
        { ...job, leaseToken: '<token>' },
        {
          id,
          attempt: 1,
          leaseToken: '<token>',
          queue: QUEUE,
          name: 'encode',
          payload: { video: 'v1', n: [1, 2, 3] },
          priority: 100,
          maxRetries: 2,
          leaseExpiresAt: at(21_000),
          timeoutMs: 5_000,
          backoff: { type: 'fixed', delayMs: 250 },
          round: 0,
          progress: null,
          createdAt: at(0),
          runAt: at(0),
        },
      );
      const record = await mustGet(backend, id);
      assert.equal(record.state, 'running');
      assert.equal(record.attempt, 1);
      assert.deepStrictEqual(record.startedAt, at(1_000));
      assert.deepStrictEqual(record.leaseExpiresAt, at(21_000));
      assert.equal(record.workerId, 'w-7');
      assert.equal(record.cancelRequested, false);
    });

    suite.test('issues a fresh random token of at least 128 bits (hex) on every claim', async ({ backend, at }) => {
      await insertOne(backend, {}, at(0));
      const tokens = new Set<string>();
      for (let i = 0; i < 5; i++) {
        const job = await claimOne(backend, { now: at(i * 10) });
        assert.match(job.leaseToken, /^[0-9a-f]{32,}$/i, 'token is not >= 128 bits of hex');
        assert.ok(!tokens.has(job.leaseToken), 'a token was issued twice');
        tokens.add(job.leaseToken);
        assert.equal(await finalizeOne(backend, job, { kind: 'release' }, at(i * 10 + 1)), 'ok');
      }
    });

    suite.test('returns an empty list when nothing is queued', async ({ backend, at }) => {
      assert.deepStrictEqual(await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 10, leaseMs: 1000, now: at(0) }), []);
    });

    suite.test('never claims a delayed job early, nor before the promoter queued it', async ({ backend, at }) => {
      const id = await insertOne(backend, { delayMs: 60_000 }, at(0));
      for (const offset of [0, 59_000, 61_000]) {
        const claimed = await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 5, leaseMs: 1000, now: at(offset) });
        assert.deepStrictEqual(claimed, [], `claimed a scheduled job at +${offset} ms`);
      }
      assert.equal((await mustGet(backend, id)).state, 'scheduled');
      await backend.promoteDueJobs({ limit: 10, now: at(61_000) });
      assert.equal((await claimOne(backend, { now: at(61_001) })).id, id);
    });

    suite.test('claims lower priority numbers first', async ({ backend, at }) => {
      const ids = await insertMany(backend, [{ priority: 750 }, { priority: 0 }, { priority: 500 }, { priority: 250 }], at(0));
      const claimed = await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 4, leaseMs: 1000, now: at(1) });
      assert.deepStrictEqual(
        claimed.map((c) => c.id),
        [ids[1], ids[3], ids[2], ids[0]],
      );
    });

    suite.test('claims first in, first out within a priority', async ({ backend, at }) => {
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push(await insertOne(backend, {}, at(0)));
      const order: string[] = [];
      for (let i = 0; i < 6; i++) order.push((await claimOne(backend, { now: at(1) })).id);
      assert.deepStrictEqual(order, ids);
    });

    suite.test('orders by runAt before insertion within a priority, and by priority before runAt', async ({ backend, at }) => {
      const late = await insertOne(backend, {}, at(0));
      const early = await insertOne(backend, { runAt: at(-10_000) }, at(1));
      const urgent = await insertOne(backend, { priority: 0 }, at(2));
      const claimed = await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 3, leaseMs: 1000, now: at(3) });
      assert.deepStrictEqual(claimed.map((c) => c.id), [urgent, early, late]);
    });

    suite.test('hands a re-claimed job the progress its previous attempt reported', async ({ backend, at }) => {
      await insertOne(backend, {}, at(0));
      const first = await claimOne(backend, { now: at(0), leaseMs: 1_000 });
      assert.equal(first.progress, null);
      await backend.updateProgress({ items: [{ ...leaseOf(first), progress: '{"done":7}' }], now: at(500) });
      await rescueAndPromote(backend, at(2_000));
      const second = await claimOne(backend, { now: at(3_000) });
      assert.deepStrictEqual(second.progress, { done: 7 });
    });

    suite.test('claims at most limit jobs', async ({ backend, at }) => {
      await insertMany(backend, [{}, {}, {}, {}, {}], at(0));
      const first = await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 2, leaseMs: 1000, now: at(1) });
      assert.equal(first.length, 2);
      const rest = await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 10, leaseMs: 1000, now: at(2) });
      assert.equal(rest.length, 3);
      assert.equal(new Set([...first, ...rest].map((c) => c.id)).size, 5);
    });

    suite.test('claims only from the named queue and leaves other queues untouched', async ({ backend, at }) => {
      const mine = await insertOne(backend, { queue: 'mine' }, at(0));
      const other = await insertOne(backend, { queue: 'other' }, at(0));
      const otherBefore = await mustGet(backend, other);
      const claimed = await backend.claimJobs({ queue: 'mine', workerId: WORKER, limit: 10, leaseMs: 1000, now: at(1) });
      assert.deepStrictEqual(claimed.map((c) => c.id), [mine]);
      assert.deepStrictEqual(await backend.getJob(other), otherBefore);
    });

    suite.test('skips a paused queue, which still accepts inserts, and claims again after resume', async ({ backend, at }) => {
      await backend.pauseQueue(QUEUE);
      const [outcome] = await backend.insertJobs({ jobs: [jobInsert()], now: at(0) });
      assert.equal(outcome?.inserted, true);
      assert.equal(outcome?.state, 'queued');
      assert.deepStrictEqual(await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 10, leaseMs: 1000, now: at(1) }), []);
      const otherQueue = await insertOne(backend, { queue: 'unpaused' }, at(0));
      assert.equal((await claimOne(backend, { queue: 'unpaused', now: at(1) })).id, otherQueue);
      await backend.resumeQueue(QUEUE);
      assert.equal((await claimOne(backend, { now: at(2) })).id, outcome?.id);
    });

    suite.test('never claims running, retrying, completed, dead or cancelled jobs', async ({ backend, at }) => {
      const now = at(0);
      const ids = await insertMany(backend, [{}, {}, {}, {}, {}], now);
      const claimed = await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 4, leaseMs: 60_000, now });
      const err = attemptError({ at: now.getTime() });
      const outcomes = await backend.finalizeJobs({
        items: [
          { ...leaseOf(claimed[1]!), kind: 'retry', error: err, delayMs: 60_000 },
          { ...leaseOf(claimed[2]!), kind: 'complete', result: null },
          { ...leaseOf(claimed[3]!), kind: 'dead', error: err, reason: 'x' },
        ],
        retention: KEEP_FOREVER,
        now,
      });
      assert.deepStrictEqual(outcomes, ['ok', 'ok', 'ok']);
      assert.deepStrictEqual(await backend.cancelJobs({ ids: [ids[4]!], retention: KEEP_FOREVER, now }), ['cancelled']);
      assert.deepStrictEqual(await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 10, leaseMs: 1000, now: at(1) }), []);
    });

    suite.test('either cancels a job or hands it to a claimer when both race, never both (20 rounds)', async ({ backend, at }) => {
      for (let round = 0; round < 20; round++) {
        const id = await insertOne(backend, {}, at(round));
        const [claimed, [outcome]] = await Promise.all([
          backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 1, leaseMs: 60_000, now: at(round) }),
          backend.cancelJobs({ ids: [id], retention: KEEP_FOREVER, now: at(round) }),
        ]);
        const record = await mustGet(backend, id);
        if (outcome === 'cancelled') {
          assert.deepStrictEqual(claimed, [], 'a cancelled job was claimed');
          assert.equal(record.state, 'cancelled');
        } else {
          assert.equal(outcome, 'cancel_requested');
          assert.deepStrictEqual(claimed.map((c) => c.id), [id]);
          assert.equal(record.state, 'running');
          assert.equal(record.cancelRequested, true);
          assert.equal(await finalizeOne(backend, claimed[0]!, { kind: 'cancel', error: null }, at(round)), 'ok');
        }
      }
    });

    suite.test('hands each job to exactly one of several concurrent claimers', async ({ backend, at }) => {
      const ids = await insertMany(backend, Array.from({ length: 30 }, () => ({})), at(0));
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          backend.claimJobs({ queue: QUEUE, workerId: `w-${i}`, limit: 10, leaseMs: 10_000, now: at(1) }),
        ),
      );
      const claimedIds = results.flat().map((c) => c.id);
      assert.equal(claimedIds.length, 30, 'not every job was claimed');
      assert.equal(new Set(claimedIds).size, 30, 'a job was claimed twice');
      assert.deepStrictEqual([...claimedIds].sort(), [...ids].sort());
      for (const c of results.flat()) assert.equal(c.attempt, 1);
    });
  });
}
