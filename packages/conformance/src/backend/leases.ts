/**
 * Leases and fencing (DESIGN §3.2): heartbeats (extendLeases) and progress for the live attempt,
 * and the fence on every write made for an attempt. After the rescuer took a job away and
 * another worker re-claimed it, the stale holder's complete, retry, dead, snooze, cancel,
 * release, heartbeat and progress all answer `lease_lost` and change nothing (the full record is
 * compared before and after). Wrong attempt or token → lease_lost; unknown id → not_found. An
 * expired lease that nobody rescued still finishes. Batches answer per item, in order.
 */
import assert from 'node:assert/strict';
import type { Backend, ClaimedJob, FinalizeAction, LeaseRef } from '@spindle/core';
import type { Suite, TestEnv } from '../suite.js';
import {
  KEEP_FOREVER,
  RESCUE_SPREAD_MS,
  attemptError,
  claimOne,
  finalizeOne,
  insertAndClaim,
  leaseOf,
  mustGet,
  rescueAndPromote,
} from './fixtures.js';

/** A job claimed, rescued after its lease expired, and re-claimed: `stale` is the first attempt. */
async function staleAfterRescue(backend: Backend, at: TestEnv['at']): Promise<{ stale: ClaimedJob; fresh: ClaimedJob }> {
  const stale = await insertAndClaim(backend, { maxRetries: 3 }, { now: at(0), leaseMs: 10_000 });
  const rescued = await rescueAndPromote(backend, at(11_000));
  assert.deepStrictEqual(rescued.requeued, [stale.id]);
  const fresh = await claimOne(backend, { now: at(12_000), workerId: 'worker-2' });
  assert.equal(fresh.id, stale.id);
  assert.equal(fresh.attempt, 2);
  assert.notEqual(fresh.leaseToken, stale.leaseToken);
  return { stale, fresh };
}

export function leaseTests(suite: Suite): void {
  suite.group('extendLeases and updateProgress', () => {
    suite.test('extends a live lease to now + leaseMs and reports no cancel request', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0), leaseMs: 10_000 });
      const outcomes = await backend.extendLeases({ leases: [leaseOf(job)], leaseMs: 30_000, now: at(5_000) });
      assert.deepStrictEqual(outcomes, [{ outcome: 'ok', cancelRequested: false }]);
      const record = await mustGet(backend, job.id);
      assert.deepStrictEqual(record.leaseExpiresAt, at(35_000));
      assert.equal(record.state, 'running');
      assert.equal(record.attempt, 1);
    });

    suite.test('an extended lease is not rescued at its original expiry', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0), leaseMs: 10_000 });
      await backend.extendLeases({ leases: [leaseOf(job)], leaseMs: 30_000, now: at(5_000) });
      const rescued = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(20_000) });
      assert.deepStrictEqual(rescued, { requeued: [], dead: [], cancelled: [] });
      assert.equal((await mustGet(backend, job.id)).state, 'running');
    });

    suite.test('answers a heartbeat batch per lease, in order: ok, lease_lost (token, attempt), not_found', async ({ backend, at }) => {
      const a = await insertAndClaim(backend, {}, { now: at(0), leaseMs: 10_000 });
      const b = await insertAndClaim(backend, {}, { now: at(0), leaseMs: 10_000 });
      const bBefore = await mustGet(backend, b.id);
      const outcomes = await backend.extendLeases({
        leases: [
          { id: b.id, attempt: b.attempt, leaseToken: 'f'.repeat(32) },
          leaseOf(a),
          { id: 'no-such-job', attempt: 1, leaseToken: a.leaseToken },
          { id: b.id, attempt: b.attempt + 1, leaseToken: b.leaseToken },
        ],
        leaseMs: 60_000,
        now: at(1_000),
      });
      assert.deepStrictEqual(
        outcomes.map((o) => o.outcome),
        ['lease_lost', 'ok', 'not_found', 'lease_lost'],
      );
      assert.equal(outcomes[1]!.cancelRequested, false);
      assert.deepStrictEqual((await mustGet(backend, a.id)).leaseExpiresAt, at(61_000));
      assert.deepStrictEqual(await backend.getJob(b.id), bBefore, 'a refused heartbeat changed the job');
    });

    suite.test('stores progress for the live attempt, numbers and JSON objects alike', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      assert.deepStrictEqual(await backend.updateProgress({ items: [{ ...leaseOf(job), progress: '42' }], now: at(1) }), ['ok']);
      assert.equal((await mustGet(backend, job.id)).progress, 42);
      const detail = { pct: 50, stage: 'upload', files: ['a', 'b'] };
      const outcomes = await backend.updateProgress({ items: [{ ...leaseOf(job), progress: JSON.stringify(detail) }], now: at(2) });
      assert.deepStrictEqual(outcomes, ['ok']);
      assert.deepStrictEqual((await mustGet(backend, job.id)).progress, detail);
    });

    suite.test('answers a progress batch per item, in order, writing only the live attempt', async ({ backend, at }) => {
      const a = await insertAndClaim(backend, {}, { now: at(0) });
      const b = await insertAndClaim(backend, {}, { now: at(0) });
      const bBefore = await mustGet(backend, b.id);
      const outcomes = await backend.updateProgress({
        items: [
          { id: 'missing', attempt: 1, leaseToken: a.leaseToken, progress: '1' },
          { id: b.id, attempt: 2, leaseToken: b.leaseToken, progress: '2' },
          { ...leaseOf(a), progress: '3' },
          { id: b.id, attempt: 1, leaseToken: a.leaseToken, progress: '4' },
        ],
        now: at(1),
      });
      assert.deepStrictEqual(outcomes, ['not_found', 'lease_lost', 'ok', 'lease_lost']);
      assert.equal((await mustGet(backend, a.id)).progress, 3);
      assert.deepStrictEqual(await backend.getJob(b.id), bBefore);
    });
  });

  suite.group('fencing', () => {
    const staleActions: Array<[string, (now: Date) => FinalizeAction]> = [
      ['completion', () => ({ kind: 'complete', result: '"stale"' })],
      ['retry', (now) => ({ kind: 'retry', error: attemptError({ at: now.getTime() }), delayMs: 1_000 })],
      ['dead-letter', (now) => ({ kind: 'dead', error: attemptError({ at: now.getTime() }), reason: 'stale' })],
      ['snooze', () => ({ kind: 'snooze', delayMs: 5_000 })],
      ['cancel acknowledgement', (now) => ({ kind: 'cancel', error: attemptError({ kind: 'cancelled', at: now.getTime() }) })],
      ['release', () => ({ kind: 'release' })],
    ];
    for (const [label, action] of staleActions) {
      suite.test(`refuses a stale ${label} after rescue and re-claim, changing nothing`, async ({ backend, at }) => {
        const { stale, fresh } = await staleAfterRescue(backend, at);
        const before = await mustGet(backend, stale.id);
        assert.equal(await finalizeOne(backend, stale, action(at(13_000)), at(13_000)), 'lease_lost');
        assert.deepStrictEqual(await backend.getJob(stale.id), before, `the stale ${label} changed the job`);
        // The new holder still owns the job.
        assert.equal(await finalizeOne(backend, fresh, { kind: 'complete', result: '"fresh"' }, at(14_000)), 'ok');
        const after = await mustGet(backend, stale.id);
        assert.equal(after.state, 'completed');
        assert.equal(after.result, 'fresh');
      });
    }

    suite.test('refuses a stale heartbeat after rescue and re-claim, changing nothing', async ({ backend, at }) => {
      const { stale } = await staleAfterRescue(backend, at);
      const before = await mustGet(backend, stale.id);
      const outcomes = await backend.extendLeases({ leases: [leaseOf(stale)], leaseMs: 600_000, now: at(13_000) });
      assert.equal(outcomes[0]?.outcome, 'lease_lost');
      assert.deepStrictEqual(await backend.getJob(stale.id), before);
    });

    suite.test('refuses stale progress after rescue and re-claim, changing nothing', async ({ backend, at }) => {
      const { stale } = await staleAfterRescue(backend, at);
      const before = await mustGet(backend, stale.id);
      assert.deepStrictEqual(await backend.updateProgress({ items: [{ ...leaseOf(stale), progress: '99' }], now: at(13_000) }), ['lease_lost']);
      assert.deepStrictEqual(await backend.getJob(stale.id), before);
    });

    suite.test('refuses writes from a rescued attempt while the job waits to run again (retrying, then queued)', async ({ backend, at }) => {
      const stale = await insertAndClaim(backend, {}, { now: at(0), leaseMs: 1_000 });
      await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(2_000) });
      for (const [state, now] of [['retrying', at(2_001)], ['queued', at(3_001)]] as const) {
        if (state === 'queued') await backend.promoteDueJobs({ limit: 10, now: at(2_000 + RESCUE_SPREAD_MS) });
        const before = await mustGet(backend, stale.id);
        assert.equal(before.state, state);
        assert.equal(await finalizeOne(backend, stale, { kind: 'complete', result: null }, now), 'lease_lost');
        assert.equal(await finalizeOne(backend, stale, { kind: 'retry', error: attemptError({ at: now.getTime() }), delayMs: 0 }, now), 'lease_lost');
        assert.equal((await backend.extendLeases({ leases: [leaseOf(stale)], leaseMs: 1_000, now }))[0]?.outcome, 'lease_lost');
        assert.deepStrictEqual(await backend.getJob(stale.id), before);
      }
    });

    suite.test('fences by token: a released and re-claimed job refuses the old lease with the same attempt number', async ({ backend, at }) => {
      const first = await insertAndClaim(backend, {}, { now: at(0) });
      assert.equal(await finalizeOne(backend, first, { kind: 'release' }, at(1)), 'ok');
      const second = await claimOne(backend, { now: at(2) });
      assert.equal(second.attempt, first.attempt, 'release gave the attempt back');
      const before = await mustGet(backend, first.id);
      assert.equal(await finalizeOne(backend, first, { kind: 'complete', result: null }, at(3)), 'lease_lost');
      assert.deepStrictEqual(await backend.getJob(first.id), before);
    });

    suite.test('refuses a lease of an earlier round after a DLQ replay and re-claim with the same attempt number', async ({ backend, at }) => {
      const first = await insertAndClaim(backend, { maxRetries: 0 }, { now: at(0), leaseMs: 1_000 });
      assert.deepStrictEqual((await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(2_000) })).dead, [first.id]);
      await backend.dlqReplay({ ids: [first.id], limit: 1, now: at(3_000) });
      const second = await claimOne(backend, { now: at(4_000) });
      assert.equal(second.attempt, first.attempt);
      assert.equal(second.round, 1);
      const before = await mustGet(backend, first.id);
      assert.equal(await finalizeOne(backend, first, { kind: 'complete', result: null }, at(5_000)), 'lease_lost');
      assert.equal((await backend.extendLeases({ leases: [leaseOf(first)], leaseMs: 1_000, now: at(5_000) }))[0]?.outcome, 'lease_lost');
      assert.deepStrictEqual(await backend.getJob(first.id), before);
    });

    suite.test('answers lease_lost to the second of two finalizes of one attempt in a batch', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      const error = attemptError({ at: at(1).getTime() });
      const outcomes = await backend.finalizeJobs({
        items: [
          { ...leaseOf(job), kind: 'complete', result: '"first"' },
          { ...leaseOf(job), kind: 'retry', error, delayMs: 0 },
        ],
        retention: KEEP_FOREVER,
        now: at(1),
      });
      assert.deepStrictEqual(outcomes, ['ok', 'lease_lost']);
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'completed');
      assert.equal(record.result, 'first');
      assert.deepStrictEqual(record.errors, []);
    });

    suite.test('accepts exactly one of two concurrent finalizes of the same attempt (20 rounds)', async ({ backend, at }) => {
      for (let round = 0; round < 20; round++) {
        const job = await insertAndClaim(backend, {}, { now: at(round * 10) });
        const now = at(round * 10 + 1);
        const error = attemptError({ at: now.getTime() });
        const outcomes = await Promise.all([
          finalizeOne(backend, job, { kind: 'complete', result: '"a"' }, now),
          finalizeOne(backend, job, { kind: 'dead', error, reason: 'b' }, now),
        ]);
        assert.deepStrictEqual([...outcomes].sort(), ['lease_lost', 'ok']);
        const record = await mustGet(backend, job.id);
        if (outcomes[0] === 'ok') {
          assert.equal(record.state, 'completed');
          assert.deepStrictEqual(record.errors, []);
        } else {
          assert.equal(record.state, 'dead');
          assert.equal(record.result, null);
        }
      }
    });

    suite.test('either keeps a late heartbeat or rescues the job when both race at expiry, never both (20 rounds)', async ({ backend, at }) => {
      for (let round = 0; round < 20; round++) {
        const base = round * 100_000;
        const job = await insertAndClaim(backend, { maxRetries: 5 }, { now: at(base), leaseMs: 1_000 });
        const now = at(base + 2_000);
        const [[beat], rescue] = await Promise.all([
          backend.extendLeases({ leases: [leaseOf(job)], leaseMs: 30_000, now }),
          backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now }),
        ]);
        const record = await mustGet(backend, job.id);
        if (beat?.outcome === 'ok') {
          assert.deepStrictEqual(rescue.requeued, [], 'a rescued job also accepted a heartbeat');
          assert.equal(record.state, 'running');
          assert.deepStrictEqual(record.leaseExpiresAt, at(base + 32_000));
          assert.equal(await finalizeOne(backend, job, { kind: 'complete', result: null }, now), 'ok');
        } else {
          assert.equal(beat?.outcome, 'lease_lost');
          assert.deepStrictEqual(rescue.requeued, [job.id]);
          assert.equal(record.state, 'retrying');
          const promotedAt = at(base + 2_000 + RESCUE_SPREAD_MS);
          await backend.promoteDueJobs({ limit: 10, now: promotedAt });
          const again = await claimOne(backend, { now: promotedAt });
          assert.equal(await finalizeOne(backend, again, { kind: 'complete', result: null }, promotedAt), 'ok');
        }
      }
    });

    suite.test('refuses every write after the attempt was finalized', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      assert.equal(await finalizeOne(backend, job, { kind: 'complete', result: '1' }, at(1)), 'ok');
      const before = await mustGet(backend, job.id);
      assert.equal(await finalizeOne(backend, job, { kind: 'complete', result: '2' }, at(2)), 'lease_lost');
      assert.equal(
        await finalizeOne(backend, job, { kind: 'dead', error: attemptError({ at: at(2).getTime() }), reason: 'r' }, at(2)),
        'lease_lost',
      );
      assert.equal((await backend.extendLeases({ leases: [leaseOf(job)], leaseMs: 1000, now: at(2) }))[0]?.outcome, 'lease_lost');
      assert.deepStrictEqual(await backend.updateProgress({ items: [{ ...leaseOf(job), progress: '1' }], now: at(2) }), ['lease_lost']);
      assert.deepStrictEqual(await backend.getJob(job.id), before);
    });

    suite.test('refuses a wrong token or a wrong attempt, and answers not_found for an unknown id', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      const before = await mustGet(backend, job.id);
      const wrongToken: LeaseRef = { id: job.id, attempt: job.attempt, leaseToken: '0'.repeat(32) };
      const wrongAttempt: LeaseRef = { id: job.id, attempt: job.attempt + 1, leaseToken: job.leaseToken };
      const unknown: LeaseRef = { id: 'never-inserted', attempt: 1, leaseToken: job.leaseToken };
      assert.equal(await finalizeOne(backend, wrongToken, { kind: 'complete', result: null }, at(1)), 'lease_lost');
      assert.equal(await finalizeOne(backend, wrongAttempt, { kind: 'complete', result: null }, at(1)), 'lease_lost');
      assert.equal(await finalizeOne(backend, unknown, { kind: 'complete', result: null }, at(1)), 'not_found');
      assert.deepStrictEqual(await backend.getJob(job.id), before);
    });

    suite.test('lets a worker whose lease expired but was not rescued still heartbeat and complete', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0), leaseMs: 1_000 });
      const beat = await backend.extendLeases({ leases: [leaseOf(job)], leaseMs: 1_000, now: at(5_000) });
      assert.deepStrictEqual(beat, [{ outcome: 'ok', cancelRequested: false }]);
      assert.equal(await finalizeOne(backend, job, { kind: 'complete', result: '"late"' }, at(60_000)), 'ok');
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'completed');
      assert.equal(record.result, 'late');
    });

    suite.test('answers a mixed finalize batch per item, in order (ok, lease_lost, not_found)', async ({ backend, at }) => {
      const { stale, fresh } = await staleAfterRescue(backend, at);
      const other = await insertAndClaim(backend, {}, { now: at(12_500) });
      const outcomes = await backend.finalizeJobs({
        items: [
          { ...leaseOf(stale), kind: 'complete', result: '"stale"' },
          { id: 'ghost', attempt: 1, leaseToken: 'a'.repeat(32), kind: 'release' },
          { ...leaseOf(other), kind: 'retry', error: attemptError({ at: at(13_000).getTime() }), delayMs: 0 },
          { ...leaseOf(fresh), kind: 'complete', result: '"fresh"' },
        ],
        retention: KEEP_FOREVER,
        now: at(13_000),
      });
      assert.deepStrictEqual(outcomes, ['lease_lost', 'not_found', 'ok', 'ok']);
      assert.equal((await mustGet(backend, fresh.id)).result, 'fresh');
      assert.equal((await mustGet(backend, other.id)).state, 'queued');
    });
  });
}
