/**
 * Leader-only maintenance: promoteDueJobs and nextDueAt (delayed and retrying jobs become
 * queued only once their runAt is reached by the database clock), rescueExpiredLeases (a
 * compare-and-set: an expired lease counts as an attempt, ending retrying — each job of a
 * rescued batch due at its own moment within the spread (ADR 0019), queued at once with spread
 * 0 — dead or cancelled; it races a completion and other rescuers without ever recording two
 * outcomes), and leadership (one holder at a time). Retention and pruning live in retention.ts.
 */
import assert from 'node:assert/strict';
import type { Suite } from '../suite.js';
import { MAX_RESCUE_SPREAD_MS, ValidationError } from '@spindle/core';
import {
  KEEP_FOREVER,
  QUEUE,
  RESCUE_SPREAD_MS,
  WORKER,
  attemptError,
  claimOne,
  finalizeOne,
  insertAndClaim,
  insertMany,
  insertOne,
  mustGet,
  rescueAndPromote,
} from './fixtures.js';

export function maintenanceTests(suite: Suite): void {
  suite.group('promoteDueJobs and nextDueAt', () => {
    suite.test('queues a delayed job only once its runAt is reached', async ({ backend, at }) => {
      const id = await insertOne(backend, { delayMs: 60_000 }, at(0));
      assert.deepStrictEqual(await backend.promoteDueJobs({ limit: 10, now: at(59_000) }), { promoted: 0, queues: [] });
      assert.equal((await mustGet(backend, id)).state, 'scheduled');
      assert.deepStrictEqual(await backend.promoteDueJobs({ limit: 10, now: at(61_000) }), { promoted: 1, queues: [QUEUE] });
      const record = await mustGet(backend, id);
      assert.equal(record.state, 'queued');
      assert.equal(record.attempt, 0);
      assert.deepStrictEqual(await backend.promoteDueJobs({ limit: 10, now: at(62_000) }), { promoted: 0, queues: [] });
    });

    suite.test('promotes a job whose runAt equals now', async ({ backend, at }) => {
      const id = await insertOne(backend, { delayMs: 5_000 }, at(0));
      assert.equal((await backend.promoteDueJobs({ limit: 10, now: at(5_000) })).promoted, 1);
      assert.equal((await mustGet(backend, id)).state, 'queued');
    });

    suite.test('promotes due retrying jobs and leaves the others', async ({ backend, at }) => {
      const soon = await insertAndClaim(backend, { queue: 'a' }, { now: at(0) });
      const later = await insertAndClaim(backend, { queue: 'b' }, { now: at(0) });
      await finalizeOne(backend, soon, { kind: 'retry', error: attemptError({ at: at(1).getTime() }), delayMs: 1_000 }, at(1));
      await finalizeOne(backend, later, { kind: 'retry', error: attemptError({ at: at(1).getTime() }), delayMs: 100_000 }, at(1));
      assert.deepStrictEqual(await backend.promoteDueJobs({ limit: 10, now: at(2_000) }), { promoted: 1, queues: ['a'] });
      assert.equal((await mustGet(backend, soon.id)).state, 'queued');
      assert.equal((await mustGet(backend, later.id)).state, 'retrying');
    });

    suite.test('promotes at most limit jobs per call and reports their distinct queues', async ({ backend, at }) => {
      await insertMany(backend, [{ queue: 'x', delayMs: 10 }, { queue: 'y', delayMs: 10 }, { queue: 'x', delayMs: 10 }], at(0));
      await insertMany(backend, [{ queue: 'z', delayMs: 10 }, { queue: 'z', delayMs: 10 }], at(0));
      const first = await backend.promoteDueJobs({ limit: 3, now: at(1_000) });
      assert.equal(first.promoted, 3);
      const second = await backend.promoteDueJobs({ limit: 3, now: at(1_000) });
      assert.equal(second.promoted, 2);
      assert.deepStrictEqual(new Set([...first.queues, ...second.queues]), new Set(['x', 'y', 'z']));
      assert.equal(new Set(first.queues).size, first.queues.length, 'queues listed twice');
      const counts = await backend.countJobs();
      assert.ok(counts.every((c) => c.state === 'queued'));
    });

    suite.test('reports the earliest runAt among scheduled and retrying jobs as nextDueAt', async ({ backend, at }) => {
      assert.equal(await backend.nextDueAt(), null);
      await insertOne(backend, {}, at(0));
      await insertAndClaim(backend, { queue: 'running' }, { now: at(0) });
      assert.equal(await backend.nextDueAt(), null, 'queued or running jobs are not due');
      await insertOne(backend, { delayMs: 90_000 }, at(0));
      assert.deepStrictEqual(await backend.nextDueAt(), at(90_000));
      const failing = await insertAndClaim(backend, { queue: 'fail' }, { now: at(0) });
      await finalizeOne(backend, failing, { kind: 'retry', error: attemptError({ at: at(0).getTime() }), delayMs: 30_000 }, at(0));
      assert.deepStrictEqual(await backend.nextDueAt(), at(30_000));
      await backend.promoteDueJobs({ limit: 10, now: at(30_000) });
      assert.deepStrictEqual(await backend.nextDueAt(), at(90_000));
    });
  });

  suite.group('rescueExpiredLeases', () => {
    suite.test('sends a job whose lease expired to retrying within the spread, counting the attempt and recording why', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, { maxRetries: 3 }, { now: at(0), leaseMs: 10_000, workerId: 'crashed-7' });
      const result = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(10_001) });
      assert.deepStrictEqual(result, { requeued: [job.id], dead: [], cancelled: [] });
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'retrying');
      assert.equal(record.attempt, 1, 'the expired attempt stays counted');
      const delay = record.runAt.getTime() - at(10_001).getTime();
      assert.ok(delay >= 0 && delay < RESCUE_SPREAD_MS, `runAt ${delay} ms after the rescue, not within [0, ${RESCUE_SPREAD_MS})`);
      assert.equal(record.leaseExpiresAt, null);
      assert.equal(record.finishedAt, null);
      assert.deepStrictEqual(record.errors, [
        {
          kind: 'lease_expired',
          name: 'LeaseExpired',
          message: 'lease expired: worker crashed-7 stopped renewing it',
          workerId: 'crashed-7',
          attempt: 1,
          round: 0,
          at: at(10_001).getTime(),
        },
      ]);
      assert.deepStrictEqual(record.firstFailedAt, at(10_001));
      assert.deepStrictEqual(record.lastFailedAt, at(10_001));
      assert.equal(record.failureReason, null);
      assert.deepStrictEqual(await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 10, leaseMs: 1_000, now: at(10_002) }), [], 'claimable before it was promoted');
      assert.deepStrictEqual(await backend.nextDueAt(), record.runAt);
      assert.equal((await backend.promoteDueJobs({ limit: 10, now: at(10_001 + RESCUE_SPREAD_MS) })).promoted, 1);
      const again = await claimOne(backend, { now: at(10_002 + RESCUE_SPREAD_MS) });
      assert.equal(again.id, job.id);
      assert.equal(again.attempt, 2);
    });

    suite.test('spreads a batch rescued together: each job its own due time within the spread, claimable once promoted', async ({ backend, at }) => {
      const n = 8;
      const ids = await insertMany(backend, Array.from({ length: n }, () => ({ maxRetries: 3 })), at(0));
      const batch = await backend.claimJobs({ queue: QUEUE, workerId: 'crashed', limit: n, leaseMs: 1_000, now: at(1) });
      assert.equal(batch.length, n, 'one worker took the whole batch');
      const spreadMs = 600_000; // wide, so that n distinct due times are all but certain (a tie: < 0.005 %)
      const result = await backend.rescueExpiredLeases({ limit: 100, retention: KEEP_FOREVER, spreadMs, now: at(2_000) });
      assert.deepStrictEqual([...result.requeued].sort(), [...ids].sort());
      const records = await Promise.all(ids.map((id) => mustGet(backend, id)));
      for (const r of records) {
        assert.equal(r.state, 'retrying');
        assert.equal(r.attempt, 1, 'the crash counts as an attempt');
        assert.deepStrictEqual(r.errors.map((e) => e.kind), ['lease_expired']);
        const delay = r.runAt.getTime() - at(2_000).getTime();
        assert.ok(delay >= 0 && delay < spreadMs, `runAt ${delay} ms after the rescue, not within [0, ${spreadMs})`);
      }
      const dueTimes = records.map((r) => r.runAt.getTime()).sort((a, b) => a - b);
      assert.equal(new Set(dueTimes).size, n, `the batch came due at ${n} distinct moments (got +${dueTimes.map((t) => t - at(2_000).getTime()).join(', +')} ms)`);
      // Promoted one moment at a time, each job is claimed on its own by a worker with room for all.
      const claimedAlone: string[] = [];
      for (const due of dueTimes) {
        assert.equal((await backend.promoteDueJobs({ limit: 100, now: new Date(due) })).promoted, 1);
        const claimed = await backend.claimJobs({ queue: QUEUE, workerId: 'next', limit: n, leaseMs: 1_000, now: new Date(due) });
        assert.equal(claimed.length, 1, 'a claim took more than the one job that came due');
        assert.equal(claimed[0]!.attempt, 2);
        claimedAlone.push(claimed[0]!.id);
      }
      assert.deepStrictEqual(claimedAlone.sort(), [...ids].sort());
    });

    suite.test('with spread 0 (or none given) requeues at once: queued with runAt = now', async ({ backend, at }) => {
      for (const [i, spreadMs] of [0, undefined].entries()) {
        const queue = `spread-${i}`;
        const base = i * 100_000;
        const ids = await insertMany(backend, [{ queue }, { queue }, { queue }], at(base));
        await backend.claimJobs({ queue, workerId: 'crashed', limit: 3, leaseMs: 1_000, now: at(base + 1) });
        const result = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, ...(spreadMs === undefined ? {} : { spreadMs }), now: at(base + 2_000) });
        assert.deepStrictEqual([...result.requeued].sort(), [...ids].sort());
        for (const id of ids) {
          const r = await mustGet(backend, id);
          assert.equal(r.state, 'queued');
          assert.deepStrictEqual(r.runAt, at(base + 2_000));
          assert.equal(r.attempt, 1);
        }
        const again = await backend.claimJobs({ queue, workerId: 'next', limit: 10, leaseMs: 1_000, now: at(base + 2_001) });
        assert.deepStrictEqual(again.map((j) => j.id).sort(), [...ids].sort());
        for (const job of again) assert.equal(await finalizeOne(backend, job, { kind: 'complete', result: null }, at(base + 2_002)), 'ok');
      }
    });

    suite.test('refuses a spread that is not an integer from 0 to MAX_RESCUE_SPREAD_MS, changing nothing', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0), leaseMs: 1_000 });
      const before = await mustGet(backend, job.id);
      for (const spreadMs of [-1, 1.5, Number.NaN, MAX_RESCUE_SPREAD_MS + 1]) {
        await assert.rejects(backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs, now: at(2_000) }), ValidationError, `spreadMs ${spreadMs}`);
      }
      assert.deepStrictEqual(await backend.getJob(job.id), before);
      const ok = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: MAX_RESCUE_SPREAD_MS, now: at(2_000) });
      assert.deepStrictEqual(ok.requeued, [job.id]);
    });

    suite.test('leaves a lease alone until it has expired', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0), leaseMs: 10_000 });
      const before = await mustGet(backend, job.id);
      for (const offset of [9_999, 10_000]) {
        const result = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, now: at(offset) });
        assert.deepStrictEqual(result, { requeued: [], dead: [], cancelled: [] }, `rescued at +${offset} ms`);
      }
      assert.deepStrictEqual(await backend.getJob(job.id), before);
    });

    suite.test('moves a job whose last attempt expired to dead with failureReason "lease expired"', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, { maxRetries: 0 }, { now: at(0), leaseMs: 1_000 });
      const result = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(5_000) });
      assert.deepStrictEqual(result, { requeued: [], dead: [job.id], cancelled: [] });
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'dead');
      assert.equal(record.failureReason, 'lease expired');
      assert.deepStrictEqual(record.finishedAt, at(5_000));
      assert.deepStrictEqual(record.firstFailedAt, at(5_000));
      assert.deepStrictEqual(record.lastFailedAt, at(5_000));
      assert.equal(record.errors.length, 1);
      assert.equal(record.errors[0]!.kind, 'lease_expired');
      assert.equal(record.attempt, 1);
      assert.equal(record.leaseExpiresAt, null);
    });

    suite.test('ends a crash-looping job in the DLQ after maxRetries + 1 expired attempts', async ({ backend, at }) => {
      await insertOne(backend, { maxRetries: 2 }, at(0));
      let t = 0;
      for (let attempt = 1; attempt <= 3; attempt++) {
        const job = await claimOne(backend, { now: at(t), leaseMs: 1_000 });
        assert.equal(job.attempt, attempt);
        t += 2_000;
        if (attempt < 3) {
          const result = await rescueAndPromote(backend, at(t));
          assert.deepStrictEqual(result.requeued, [job.id]);
          t += RESCUE_SPREAD_MS;
        } else {
          const result = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(t) });
          assert.deepStrictEqual(result.dead, [job.id]);
        }
      }
      const ids = (await backend.listJobs({ limit: 10 })).jobs;
      assert.equal(ids.length, 1);
      const record = ids[0]!;
      assert.equal(record.state, 'dead');
      assert.equal(record.attempt, 3);
      assert.deepStrictEqual(record.errors.map((e) => [e.attempt, e.kind]), [
        [1, 'lease_expired'],
        [2, 'lease_expired'],
        [3, 'lease_expired'],
      ]);
      assert.deepStrictEqual(record.firstFailedAt, at(2_000));
      assert.deepStrictEqual(record.lastFailedAt, at(6_000 + 2 * RESCUE_SPREAD_MS));
    });

    suite.test('rescues at most limit jobs per call', async ({ backend, at }) => {
      await insertMany(backend, [{}, {}, {}, {}, {}], at(0));
      await backend.claimJobs({ queue: QUEUE, workerId: 'w', limit: 5, leaseMs: 1_000, now: at(0) });
      const first = await backend.rescueExpiredLeases({ limit: 2, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(2_000) });
      assert.equal(first.requeued.length, 2);
      const second = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(2_000) });
      assert.equal(second.requeued.length, 3);
      assert.equal(new Set([...first.requeued, ...second.requeued]).size, 5);
    });

    suite.test('leaves queued, retrying and finished jobs alone', async ({ backend, at }) => {
      const done = await insertAndClaim(backend, { queue: 'a' }, { now: at(0), leaseMs: 1_000 });
      await finalizeOne(backend, done, { kind: 'complete', result: null }, at(500));
      const retrying = await insertAndClaim(backend, { queue: 'b' }, { now: at(0), leaseMs: 1_000 });
      await finalizeOne(backend, retrying, { kind: 'retry', error: attemptError({ at: at(500).getTime() }), delayMs: 1_000_000 }, at(500));
      const queued = await insertOne(backend, {}, at(0));
      const ids = [done.id, retrying.id, queued];
      const before = await Promise.all(ids.map((id) => mustGet(backend, id)));
      const result = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(3_600_000) });
      assert.deepStrictEqual(result, { requeued: [], dead: [], cancelled: [] });
      assert.deepStrictEqual(await Promise.all(ids.map((id) => backend.getJob(id))), before);
    });

    suite.test('never records two outcomes when a completion races the rescuer (20 rounds)', async ({ backend, at }) => {
      const tally = { completed: 0, rescued: 0 };
      for (let round = 0; round < 20; round++) {
        const base = round * 100_000;
        const job = await insertAndClaim(backend, { maxRetries: 3 }, { now: at(base), leaseMs: 1_000 });
        const now = at(base + 2_000);
        const [complete, rescueA, rescueB] = await Promise.all([
          finalizeOne(backend, job, { kind: 'complete', result: '"won"' }, now),
          backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now }),
          backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now }),
        ]);
        const rescuedBy = [rescueA, rescueB].filter((r) => r.requeued.includes(job.id)).length;
        for (const r of [rescueA, rescueB]) {
          assert.deepStrictEqual(r.dead, []);
          assert.deepStrictEqual(r.cancelled, []);
        }
        const record = await mustGet(backend, job.id);
        if (complete === 'ok') {
          tally.completed++;
          assert.equal(rescuedBy, 0, 'the rescuer also moved a job whose completion was accepted');
          assert.equal(record.state, 'completed');
          assert.deepStrictEqual(record.errors, []);
          assert.equal(record.result, 'won');
        } else {
          tally.rescued++;
          assert.equal(complete, 'lease_lost');
          assert.equal(rescuedBy, 1, 'a refused completion must mean exactly one rescuer moved the job');
          assert.equal(record.state, 'retrying');
          assert.equal(record.errors.length, 1, 'two error entries for one expiry');
          assert.equal(record.result, null);
          // Drain it so the next round's claim takes the new job.
          await backend.promoteDueJobs({ limit: 10, now: at(base + 2_000 + RESCUE_SPREAD_MS) });
          const again = await claimOne(backend, { now: at(base + 3_000) });
          assert.equal(await finalizeOne(backend, again, { kind: 'complete', result: null }, at(base + 3_001)), 'ok');
        }
      }
      assert.equal(tally.completed + tally.rescued, 20);
    });

    suite.test('never rescues one expiry twice under concurrent rescuers', async ({ backend, at }) => {
      const ids = await insertMany(backend, Array.from({ length: 20 }, () => ({ maxRetries: 1 })), at(0));
      await backend.claimJobs({ queue: QUEUE, workerId: 'w', limit: 20, leaseMs: 1_000, now: at(0) });
      const results = await Promise.all(
        Array.from({ length: 4 }, () => backend.rescueExpiredLeases({ limit: 100, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(2_000) })),
      );
      const all = results.flatMap((r) => [...r.requeued, ...r.dead, ...r.cancelled]);
      assert.equal(all.length, 20, 'each expired job is reported by exactly one rescuer');
      assert.deepStrictEqual([...all].sort(), [...ids].sort());
      for (const id of ids) {
        const record = await mustGet(backend, id);
        assert.equal(record.state, 'retrying');
        assert.equal(record.errors.length, 1);
      }
    });
  });

  suite.group('leadership', () => {
    suite.test('lets one holder lead at a time: renew true, rival false, rival after release true', async ({ backend, at }) => {
      const ttlMs = 30_000;
      assert.equal(await backend.tryAcquireLeadership({ holderId: 'holder-a', ttlMs, now: at(0) }), true);
      assert.equal(await backend.tryAcquireLeadership({ holderId: 'holder-a', ttlMs, now: at(1_000) }), true, 'renewal refused');
      assert.equal(await backend.tryAcquireLeadership({ holderId: 'holder-b', ttlMs, now: at(2_000) }), false, 'two leaders');
      assert.equal(await backend.tryAcquireLeadership({ holderId: 'holder-a', ttlMs, now: at(3_000) }), true, 'the rival took it');
      await backend.releaseLeadership('holder-a');
      assert.equal(await backend.tryAcquireLeadership({ holderId: 'holder-b', ttlMs, now: at(4_000) }), true, 'not free after release');
      assert.equal(await backend.tryAcquireLeadership({ holderId: 'holder-a', ttlMs, now: at(5_000) }), false, 'two leaders');
      await backend.releaseLeadership('holder-b');
    });

    suite.test('ignores a release by a holder that does not lead', async ({ backend, at }) => {
      assert.equal(await backend.tryAcquireLeadership({ holderId: 'holder-a', ttlMs: 30_000, now: at(0) }), true);
      await backend.releaseLeadership('holder-b');
      assert.equal(await backend.tryAcquireLeadership({ holderId: 'holder-b', ttlMs: 30_000, now: at(1_000) }), false);
      assert.equal(await backend.tryAcquireLeadership({ holderId: 'holder-a', ttlMs: 30_000, now: at(2_000) }), true);
      await backend.releaseLeadership('holder-a');
    });
  });

}
