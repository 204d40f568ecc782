/**
 * Retention and pruneJobs: when a job finishes, `expiresAt` comes from the job's own rule or the
 * client's RetentionDefaults (-1/null = keep forever, 0 = prune at the next prune); pruneJobs
 * deletes expired finished jobs (at most `limit`), then trims per-queue keep-count rules keeping
 * the newest. Dead jobs are kept by default (nothing silently dropped); live jobs never pruned.
 * Removal on completion: a `complete` of a job whose own completedKeepMs is 0
 * (`removeOnComplete: true`) deletes it at once (outcome `ok`, event `completed` as usual);
 * every other rule, the defaults' 0 included, sets `expiresAt` for the pruner.
 */
import assert from 'node:assert/strict';
import type { ClaimedJob, JobEvent, JobRetention, RetentionDefaults } from '@spindle/core';
import type { Suite } from '../suite.js';
import {
  EventLog,
  KEEP_FOREVER,
  NO_JOB_RETENTION,
  QUEUE,
  RESCUE_SPREAD_MS,
  WORKER,
  attemptError,
  claimOne,
  finalizeOne,
  insertAndClaim,
  insertMany,
  insertOne,
  leaseOf,
  mustGet,
} from './fixtures.js';

const YEAR_MS = 365 * 24 * 3_600_000;

function retention(overrides: Partial<JobRetention>): JobRetention {
  return { ...NO_JOB_RETENTION, ...overrides };
}

export function retentionTests(suite: Suite): void {
  suite.group('retention and pruneJobs', () => {
    suite.test('removes a completed job with completedKeepMs 0 at completion, leaving nothing to prune', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, { retention: retention({ completedKeepMs: 0 }) }, { now: at(0) });
      const defaults: RetentionDefaults = { completedMs: YEAR_MS, cancelledMs: null, deadMs: null };
      assert.equal(await finalizeOne(backend, job, { kind: 'complete', result: null }, at(1_000), defaults), 'ok');
      assert.equal(await backend.getJob(job.id), null);
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(1_000) }), 0);
      assert.deepStrictEqual(await backend.countJobs(), []);
    });

    suite.test('removal on completion publishes completed with its result; later writes of that attempt find no job', async ({ backend, at }) => {
      const log = backend.subscribe ? new EventLog(backend) : null;
      try {
        const job = await insertAndClaim(backend, { name: 'ephemeral', retention: retention({ completedKeepMs: 0 }) }, { now: at(0) });
        assert.equal(await finalizeOne(backend, job, { kind: 'complete', result: '{"url":"x"}' }, at(1)), 'ok');
        assert.equal(await backend.getJob(job.id), null);
        if (log) {
          const event = await log.next('completed', (e) => e.type === 'completed' && 'jobId' in e && e.jobId === job.id);
          const { at: when, ...fields } = event as JobEvent;
          assert.deepStrictEqual(fields, {
            type: 'completed', jobId: job.id, queue: QUEUE, name: 'ephemeral', state: 'completed', attempt: 1, data: { url: 'x' },
          });
          assert.equal(typeof when, 'number');
        }
        assert.equal(await finalizeOne(backend, job, { kind: 'complete', result: null }, at(2)), 'not_found', 'a stale second complete');
        assert.deepStrictEqual(await backend.extendLeases({ leases: [leaseOf(job)], leaseMs: 1_000, now: at(2) }), [
          { outcome: 'not_found', cancelRequested: false },
        ]);
        assert.deepStrictEqual(await backend.updateProgress({ items: [{ ...leaseOf(job), progress: '1' }], now: at(2) }), ['not_found']);
      } finally {
        log?.stop();
      }
    });

    suite.test('removes on completion only completes of keep-0 jobs, within a mixed batch', async ({ backend, at }) => {
      const zero = retention({ completedKeepMs: 0 });
      const ids = await insertMany(backend, [{ retention: zero }, { retention: zero }, { retention: zero }, {}, { retention: zero }], at(0));
      const claimed = await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 5, leaseMs: 30_000, now: at(0) });
      assert.deepStrictEqual(claimed.map((c) => c.id), ids);
      const [removed, dead, retried, kept, stale] = claimed as [ClaimedJob, ClaimedJob, ClaimedJob, ClaimedJob, ClaimedJob];
      const error = attemptError({ at: at(1).getTime() });
      const outcomes = await backend.finalizeJobs({
        items: [
          { ...leaseOf(removed), kind: 'complete', result: '1' },
          { ...leaseOf(dead), kind: 'dead', error, reason: 'boom' },
          { ...leaseOf(retried), kind: 'retry', error, delayMs: 5_000 },
          { ...leaseOf(kept), kind: 'complete', result: '2' },
          { ...leaseOf(stale), leaseToken: 'f'.repeat(32), kind: 'complete', result: null },
        ],
        // The defaults' completedMs 0 is a retention for the pruner, not a removal.
        retention: { completedMs: 0, cancelledMs: null, deadMs: null },
        now: at(1),
      });
      assert.deepStrictEqual(outcomes, ['ok', 'ok', 'ok', 'ok', 'lease_lost']);
      assert.equal(await backend.getJob(removed.id), null);
      assert.equal((await mustGet(backend, dead.id)).state, 'dead');
      assert.equal((await mustGet(backend, retried.id)).state, 'retrying');
      const completed = await mustGet(backend, kept.id);
      assert.equal(completed.state, 'completed');
      assert.deepStrictEqual(completed.expiresAt, at(1));
      assert.equal((await mustGet(backend, stale.id)).state, 'running');
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(1) }), 1);
      assert.equal(await backend.getJob(kept.id), null);
    });

    suite.test('keeps a completed job with completedKeepMs -1 forever, whatever the defaults say', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, { retention: retention({ completedKeepMs: -1 }) }, { now: at(0) });
      await finalizeOne(backend, job, { kind: 'complete', result: null }, at(1), { completedMs: 0, cancelledMs: 0, deadMs: 0 });
      assert.equal((await mustGet(backend, job.id)).expiresAt, null);
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(10 * YEAR_MS) }), 0);
      assert.equal((await mustGet(backend, job.id)).state, 'completed');
    });

    suite.test('keeps a completed job for its own completedKeepMs after it finished', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, { retention: retention({ completedKeepMs: 60_000 }) }, { now: at(0) });
      await finalizeOne(backend, job, { kind: 'complete', result: null }, at(1_000), { completedMs: 5, cancelledMs: null, deadMs: null });
      assert.deepStrictEqual((await mustGet(backend, job.id)).expiresAt, at(61_000));
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(60_999) }), 0);
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(61_000) }), 1);
      assert.equal(await backend.getJob(job.id), null);
    });

    suite.test('falls back to RetentionDefaults.completedMs when the job has no rule', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      await finalizeOne(backend, job, { kind: 'complete', result: null }, at(2_000), { completedMs: 3_600_000, cancelledMs: null, deadMs: null });
      assert.deepStrictEqual((await mustGet(backend, job.id)).expiresAt, at(3_602_000));
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(3_601_999) }), 0);
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(3_602_000) }), 1);
    });

    suite.test('keeps dead jobs by default and prunes them only under an explicit rule', async ({ backend, at }) => {
      const kept = await insertAndClaim(backend, { queue: 'a' }, { now: at(0) });
      const dropped = await insertAndClaim(backend, { queue: 'b', retention: retention({ deadKeepMs: 0 }) }, { now: at(0) });
      const defaults: RetentionDefaults = { completedMs: 0, cancelledMs: 0, deadMs: null };
      for (const job of [kept, dropped]) {
        const error = attemptError({ at: at(1).getTime() });
        assert.equal(await finalizeOne(backend, job, { kind: 'dead', error, reason: 'boom' }, at(1), defaults), 'ok');
      }
      assert.equal((await mustGet(backend, kept.id)).expiresAt, null);
      assert.deepStrictEqual((await mustGet(backend, dropped.id)).expiresAt, at(1));
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(10 * YEAR_MS) }), 1);
      assert.equal((await mustGet(backend, kept.id)).state, 'dead');
      assert.equal(await backend.getJob(dropped.id), null);
    });

    suite.test('sets a dead job\'s expiresAt from RetentionDefaults.deadMs, also when the rescuer kills it', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, { maxRetries: 0 }, { now: at(0), leaseMs: 1_000 });
      const result = await backend.rescueExpiredLeases({ limit: 10, retention: { completedMs: null, cancelledMs: null, deadMs: 86_400_000 }, spreadMs: RESCUE_SPREAD_MS, now: at(2_000) });
      assert.deepStrictEqual(result.dead, [job.id]);
      assert.deepStrictEqual((await mustGet(backend, job.id)).expiresAt, at(86_402_000));
    });

    suite.test('sets expiresAt of a job the rescuer cancels from retention.cancelledMs', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0), leaseMs: 1_000 });
      await backend.cancelJobs({ ids: [job.id], retention: KEEP_FOREVER, now: at(1) });
      const result = await backend.rescueExpiredLeases({ limit: 10, retention: { completedMs: 1, cancelledMs: 7_000, deadMs: 2 }, spreadMs: RESCUE_SPREAD_MS, now: at(2_000) });
      assert.deepStrictEqual(result.cancelled, [job.id]);
      assert.deepStrictEqual((await mustGet(backend, job.id)).expiresAt, at(9_000));
    });

    suite.test('prunes a cancelled job by retention.cancelledMs', async ({ backend, at }) => {
      const id = await insertOne(backend, {}, at(0));
      await backend.cancelJobs({ ids: [id], retention: { completedMs: null, cancelledMs: 0, deadMs: null }, now: at(5) });
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(5) }), 1);
      assert.equal(await backend.getJob(id), null);
    });

    suite.test('keeps only the newest completedKeepCount completed jobs of a queue', async ({ backend, at }) => {
      const keep = retention({ completedKeepCount: 2 });
      const ids = await insertMany(backend, Array.from({ length: 5 }, () => ({ retention: keep })), at(0));
      const other = await insertAndClaim(backend, { queue: 'other' }, { now: at(0) });
      await finalizeOne(backend, other, { kind: 'complete', result: null }, at(1));
      for (let i = 0; i < 5; i++) {
        const job = await claimOne(backend, { now: at(1_000 * (i + 1)) });
        assert.equal(job.id, ids[i]);
        await finalizeOne(backend, job, { kind: 'complete', result: null }, at(1_000 * (i + 1) + 500));
      }
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(10_000) }), 3);
      const left = await backend.listJobs({ limit: 100, filter: { queue: 'conformance' }, order: 'oldest' });
      assert.deepStrictEqual(left.jobs.map((j) => j.id), [ids[3], ids[4]]);
      assert.equal((await mustGet(backend, other.id)).state, 'completed', 'another queue was trimmed');
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(20_000) }), 0);
    });

    suite.test('keeps only the newest deadKeepCount dead jobs of a queue', async ({ backend, at }) => {
      const keep = retention({ deadKeepCount: 1 });
      await insertMany(backend, [{ retention: keep }, { retention: keep }, { retention: keep }], at(0));
      const finished: string[] = [];
      for (let i = 0; i < 3; i++) {
        const job = await claimOne(backend, { now: at(100 * i) });
        const error = attemptError({ at: at(100 * i + 50).getTime() });
        await finalizeOne(backend, job, { kind: 'dead', error, reason: 'x' }, at(100 * i + 50));
        finished.push(job.id);
      }
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(1_000) }), 2);
      const left = await backend.listJobs({ limit: 10 });
      assert.deepStrictEqual(left.jobs.map((j) => j.id), [finished[2]]);
    });

    suite.test('never prunes scheduled, queued, running or retrying jobs', async ({ backend, at }) => {
      const zero = retention({ completedKeepMs: 0, deadKeepMs: 0, completedKeepCount: 0, deadKeepCount: 0 });
      await insertOne(backend, { retention: zero, delayMs: 10_000 }, at(0));
      await insertOne(backend, { retention: zero, queue: 'q' }, at(0));
      await insertAndClaim(backend, { retention: zero, queue: 'r' }, { now: at(0) });
      const failing = await insertAndClaim(backend, { retention: zero, queue: 's' }, { now: at(0) });
      await finalizeOne(backend, failing, { kind: 'retry', error: attemptError({ at: at(1).getTime() }), delayMs: 50_000 }, at(1));
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(5_000) }), 0);
      assert.equal((await backend.listJobs({ limit: 10 })).jobs.length, 4);
    });

    suite.test('deletes at most limit expired jobs per prune', async ({ backend, at }) => {
      await insertMany(backend, Array.from({ length: 5 }, () => ({})), at(0));
      const claimed = await backend.claimJobs({ queue: 'conformance', workerId: 'w', limit: 5, leaseMs: 1_000, now: at(0) });
      const outcomes = await backend.finalizeJobs({
        items: claimed.map((c) => ({ id: c.id, attempt: c.attempt, leaseToken: c.leaseToken, kind: 'complete' as const, result: null })),
        retention: { completedMs: 0, cancelledMs: null, deadMs: null },
        now: at(1),
      });
      assert.deepStrictEqual(outcomes, ['ok', 'ok', 'ok', 'ok', 'ok']);
      assert.equal(await backend.pruneJobs({ limit: 2, now: at(2) }), 2);
      assert.equal(await backend.pruneJobs({ limit: 2, now: at(2) }), 2);
      assert.equal(await backend.pruneJobs({ limit: 2, now: at(2) }), 1);
      assert.equal(await backend.pruneJobs({ limit: 2, now: at(2) }), 0);
    });

    suite.test('keeps everything when both the job and the defaults say keep forever', async ({ backend, at }) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      await finalizeOne(backend, job, { kind: 'complete', result: null }, at(1), KEEP_FOREVER);
      assert.equal((await mustGet(backend, job.id)).expiresAt, null);
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(10 * YEAR_MS) }), 0);
    });
  });
}
