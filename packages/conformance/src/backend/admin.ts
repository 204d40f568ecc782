/**
 * Operator actions on given jobs (backend/job-actions.ts): retryJobs, promoteJobs, deleteJobs,
 * updateJobPayloads. Each outcome is proven on the stored rows: the allowed states move, every
 * other state answers `wrong_state` and its row stays byte for byte as it was; concurrent calls
 * (and a concurrent claim) move each job once and never delete or edit a running job; a retry is
 * a DLQ replay for any finished job (history kept, round + 1); events follow the commit.
 */
import assert from 'node:assert/strict';
import type { Backend, ClaimedJob, JobRecord, RetentionDefaults, SpindleEvent } from '@spindle/core';
import type { Suite } from '../suite.js';
import { expectFields, isJobEvent, withEvents } from './events.js';
import {
  LEASE_MS,
  QUEUE,
  WORKER,
  attemptError,
  claimOne,
  finalizeOne,
  insertAndClaim,
  insertMany,
  insertOne,
  makeDead,
  mustGet,
  waitFor,
} from './fixtures.js';

/** Finished jobs get an expiry, so that a retry visibly clears it. */
const KEEP_A_MINUTE: RetentionDefaults = Object.freeze({ completedMs: 60_000, cancelledMs: 60_000, deadMs: 60_000 });

/** One job in each state, each in the queue named after its state. */
interface EveryState {
  scheduled: string;
  queued: string;
  running: ClaimedJob;
  retrying: string;
  completed: string;
  dead: string;
  cancelled: string;
}

async function everyState(backend: Backend, at: (ms: number) => Date): Promise<EveryState> {
  const running = await insertAndClaim(backend, { queue: 'running' }, { now: at(0) });
  const retrying = await insertAndClaim(backend, { queue: 'retrying' }, { now: at(0) });
  const error = attemptError({ message: 'flaky', at: at(1).getTime() });
  assert.equal(await finalizeOne(backend, retrying, { kind: 'retry', error, delayMs: 60_000 }, at(1)), 'ok');
  const completed = await insertAndClaim(backend, { queue: 'completed' }, { now: at(0) });
  assert.equal(await finalizeOne(backend, completed, { kind: 'complete', result: '{"done":true}' }, at(1), KEEP_A_MINUTE), 'ok');
  const dead = await makeDead(backend, at(2), { queue: 'dead' }, 'broken');
  const cancelled = await insertOne(backend, { queue: 'cancelled' }, at(3));
  assert.deepStrictEqual(await backend.cancelJobs({ ids: [cancelled], retention: KEEP_A_MINUTE, now: at(3) }), ['cancelled']);
  const scheduled = await insertOne(backend, { queue: 'scheduled', delayMs: 60_000 }, at(4));
  const queued = await insertOne(backend, { queue: 'queued' }, at(4));
  return { scheduled, queued, running, retrying: retrying.id, completed: completed.id, dead, cancelled };
}

/** Every stored record of `ids`, to compare with after a refused action. */
function snapshot(backend: Backend, ids: string[]): Promise<JobRecord[]> {
  return Promise.all(ids.map((id) => mustGet(backend, id)));
}

async function assertUnchanged(backend: Backend, before: JobRecord[]): Promise<void> {
  for (const record of before) assert.deepStrictEqual(await backend.getJob(record.id), record, `job ${record.id} (${record.state}) changed`);
}

/** Asserts what a retry does to a finished job, against its record before. */
function assertRestarted(after: JobRecord, before: JobRecord, now: Date): void {
  assert.equal(after.state, 'queued');
  assert.equal(after.queue, before.queue);
  assert.equal(after.attempt, 0);
  assert.equal(after.round, before.round + 1);
  assert.deepStrictEqual(after.runAt, now);
  assert.deepStrictEqual(after.errors, before.errors, 'the error history was not kept');
  assert.deepStrictEqual(after.payload, before.payload);
  for (const field of ['finishedAt', 'expiresAt', 'result', 'failureReason', 'firstFailedAt', 'lastFailedAt', 'resolution', 'leaseExpiresAt'] as const) {
    assert.equal(after[field], null, `${field} was not cleared`);
  }
  assert.equal(after.cancelRequested, false);
}

export function adminTests(suite: Suite): void {
  suite.group('operator actions: retry and promote', () => {
    suite.test('retries a dead job like a DLQ replay: queued now, attempt 0, round + 1, history kept', async ({ backend, at }) => {
      const id = await makeDead(backend, at(0), { maxRetries: 0 }, 'boom');
      await backend.dlqResolve({ ids: [id], note: 'looked at it', limit: 1, now: at(10) });
      const before = await mustGet(backend, id);
      assert.equal(before.errors.length, 1);
      assert.deepStrictEqual(await backend.retryJobs({ ids: [id], now: at(100) }), ['ok']);
      assertRestarted(await mustGet(backend, id), before, at(100));
      assert.deepStrictEqual(await backend.dlqDepth(), []);
      const again = await claimOne(backend, { now: at(200) });
      assert.deepStrictEqual([again.id, again.attempt, again.round], [id, 1, 1]);
      const e = attemptError({ attempt: 1, round: 1, message: 'again', at: at(300).getTime() });
      assert.equal(await finalizeOne(backend, again, { kind: 'dead', error: e, reason: 'again' }, at(300)), 'ok');
      assert.deepStrictEqual((await mustGet(backend, id)).errors, [...before.errors, e], 'the history of round 0 was lost');
    });

    suite.test('retries completed and cancelled jobs, clearing result and expiry', async ({ backend, at }) => {
      const jobs = await everyState(backend, at);
      const before = await snapshot(backend, [jobs.completed, jobs.cancelled]);
      assert.ok(before.every((r) => r.expiresAt !== null && r.finishedAt !== null), 'fixture: finished jobs have an expiry');
      assert.deepStrictEqual(await backend.retryJobs({ ids: [jobs.completed, jobs.cancelled], now: at(500) }), ['ok', 'ok']);
      for (const record of before) assertRestarted(await mustGet(backend, record.id), record, at(500));
      assert.equal((await claimOne(backend, { queue: 'completed', now: at(600) })).id, jobs.completed);
    });

    suite.test('edit and retry: a payload given with the retry is stored by the same restart', async ({ backend, at }) => {
      const jobs = await everyState(backend, at);
      const before = await snapshot(backend, [jobs.completed, jobs.cancelled, jobs.dead]);
      const payload = JSON.stringify({ edited: true });
      for (const record of before) {
        assert.deepStrictEqual(await backend.retryJobs({ ids: [record.id], payload, now: at(500) }), ['ok']);
        const after = await mustGet(backend, record.id);
        assertRestarted({ ...after, payload: record.payload }, record, at(500));
        assert.deepStrictEqual(after.payload, { edited: true });
      }
      // A refused retry changes nothing, the payload included.
      const live = await snapshot(backend, [jobs.queued]);
      assert.deepStrictEqual(await backend.retryJobs({ ids: [jobs.queued], payload, now: at(600) }), ['wrong_state']);
      await assertUnchanged(backend, live);
    });

    suite.test('refuses to retry a job that is not finished and answers not_found for an unknown id', async ({ backend, at }) => {
      const jobs = await everyState(backend, at);
      const live = [jobs.scheduled, jobs.queued, jobs.running.id, jobs.retrying];
      const before = await snapshot(backend, live);
      const outcomes = await backend.retryJobs({ ids: [...live, 'no-such-job', jobs.dead], now: at(100) });
      assert.deepStrictEqual(outcomes, ['wrong_state', 'wrong_state', 'wrong_state', 'wrong_state', 'not_found', 'ok']);
      await assertUnchanged(backend, before);
      assert.equal(await finalizeOne(backend, jobs.running, { kind: 'complete', result: null }, at(200)), 'ok', 'the running attempt lost its lease');
    });

    suite.test('answers unique_conflict when a live job holds the unique key, also within one batch', async ({ backend, at }) => {
      const held = await makeDead(backend, at(0), { uniqueKey: 'invoice-7' });
      const first = await makeDead(backend, at(2), { uniqueKey: 'report-1' });
      const second = await makeDead(backend, at(3), { uniqueKey: 'report-1' });
      const holder = await insertOne(backend, { uniqueKey: 'invoice-7' }, at(4));
      const before = await snapshot(backend, [held, first]);
      assert.deepStrictEqual(await backend.retryJobs({ ids: [held, second, first], now: at(10) }), ['unique_conflict', 'ok', 'unique_conflict']);
      await assertUnchanged(backend, before);
      assert.equal((await mustGet(backend, holder)).state, 'queued');
      assert.equal((await mustGet(backend, second)).state, 'queued', 'the first of the batch holding the key should win');
    });

    suite.test('a repeated id is retried once', async ({ backend, at }) => {
      const id = await makeDead(backend, at(0));
      assert.deepStrictEqual(await backend.retryJobs({ ids: [id, id], now: at(10) }), ['ok', 'wrong_state']);
      assert.equal((await mustGet(backend, id)).round, 1);
    });

    suite.test('concurrent retries of the same jobs move each job once', async ({ backend, at }) => {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push(await makeDead(backend, at(i)));
      const results = await Promise.all([0, 1, 2].map(() => backend.retryJobs({ ids, now: at(1_000) })));
      ids.forEach((id, i) => {
        const answers = results.map((r) => r[i]).sort();
        assert.deepStrictEqual(answers, ['ok', 'wrong_state', 'wrong_state'], `job ${id} answered ${answers.join(', ')}`);
      });
      for (const id of ids) {
        const record = await mustGet(backend, id);
        assert.deepStrictEqual([record.state, record.round, record.attempt], ['queued', 1, 0], `job ${id} moved twice`);
      }
    });

    suite.test('promotes scheduled and retrying jobs to queued now, keeping their attempt', async ({ backend, at }) => {
      const jobs = await everyState(backend, at);
      const others = [jobs.queued, jobs.running.id, jobs.completed, jobs.dead, jobs.cancelled];
      const before = await snapshot(backend, others);
      const retryingBefore = await mustGet(backend, jobs.retrying);
      const outcomes = await backend.promoteJobs({ ids: [jobs.scheduled, jobs.retrying, ...others, 'no-such-job'], now: at(50) });
      assert.deepStrictEqual(outcomes, ['ok', 'ok', 'wrong_state', 'wrong_state', 'wrong_state', 'wrong_state', 'wrong_state', 'not_found']);
      await assertUnchanged(backend, before);
      const promoted = await mustGet(backend, jobs.retrying);
      assert.deepStrictEqual(promoted, { ...retryingBefore, state: 'queued', runAt: at(50) });
      assert.deepStrictEqual((await mustGet(backend, jobs.scheduled)).runAt, at(50));
      assert.equal((await claimOne(backend, { queue: 'scheduled', now: at(60) })).id, jobs.scheduled);
      assert.deepStrictEqual(await backend.promoteJobs({ ids: [jobs.retrying, jobs.retrying], now: at(70) }), ['wrong_state', 'wrong_state']);
    });

    suite.test('concurrent promotes move each job once', async ({ backend, at }) => {
      const ids = await insertMany(backend, Array.from({ length: 20 }, () => ({ delayMs: 60_000 })), at(0));
      const results = await Promise.all([0, 1].map(() => backend.promoteJobs({ ids, now: at(10) })));
      ids.forEach((_, i) => assert.deepStrictEqual(results.map((r) => r[i]).sort(), ['ok', 'wrong_state']));
      for (const id of ids) assert.equal((await mustGet(backend, id)).state, 'queued');
    });
  });

  suite.group('operator actions: delete and edit', () => {
    suite.test('deletes jobs in every state but running', async ({ backend, at }) => {
      const jobs = await everyState(backend, at);
      const gone = [jobs.scheduled, jobs.queued, jobs.retrying, jobs.completed, jobs.dead, jobs.cancelled];
      const before = await snapshot(backend, [jobs.running.id]);
      const outcomes = await backend.deleteJobs({ ids: [...gone, jobs.running.id, 'no-such-job', jobs.queued] });
      assert.deepStrictEqual(outcomes, [...gone.map(() => 'ok'), 'wrong_state', 'not_found', 'not_found']);
      for (const id of gone) assert.equal(await backend.getJob(id), null, `job ${id} was not deleted`);
      await assertUnchanged(backend, before);
      assert.equal(await finalizeOne(backend, jobs.running, { kind: 'complete', result: null }, at(100)), 'ok');
      assert.deepStrictEqual(await backend.dlqDepth(), []);
    });

    suite.test('a delete racing a claim never deletes a claimed job', async ({ backend, at }) => {
      const ids = await insertMany(backend, Array.from({ length: 40 }, () => ({})), at(0));
      const [claimed, outcomes] = await Promise.all([
        backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 40, leaseMs: LEASE_MS, now: at(1) }),
        backend.deleteJobs({ ids }),
      ]);
      const claimedIds = new Set(claimed.map((c) => c.id));
      for (const [i, id] of ids.entries()) {
        const record = await backend.getJob(id);
        if (claimedIds.has(id)) {
          assert.equal(outcomes[i], 'wrong_state', `claimed job ${id} answered ${outcomes[i]}`);
          assert.equal(record?.state, 'running', `claimed job ${id} was deleted`);
        } else {
          assert.equal(outcomes[i], 'ok');
          assert.equal(record, null);
        }
      }
    });

    suite.test('replaces the payload of jobs that have not started, and of no other', async ({ backend, at }) => {
      const jobs = await everyState(backend, at);
      const editable = [jobs.scheduled, jobs.queued, jobs.retrying];
      const others = [jobs.running.id, jobs.completed, jobs.dead, jobs.cancelled];
      const editableBefore = await snapshot(backend, editable);
      const othersBefore = await snapshot(backend, others);
      const items = [...editable, ...others, 'no-such-job'].map((id) => ({ id, payload: '{"edited":true}' }));
      const outcomes = await backend.updateJobPayloads({ items, now: at(10) });
      assert.deepStrictEqual(outcomes, ['ok', 'ok', 'ok', 'wrong_state', 'wrong_state', 'wrong_state', 'wrong_state', 'not_found']);
      for (const record of editableBefore) assert.deepStrictEqual(await mustGet(backend, record.id), { ...record, payload: { edited: true } });
      await assertUnchanged(backend, othersBefore);
      assert.deepStrictEqual((await claimOne(backend, { queue: 'queued', now: at(20) })).payload, { edited: true });
    });

    suite.test('a repeated id ends with the last payload given', async ({ backend, at }) => {
      const id = await insertOne(backend, {}, at(0));
      const outcomes = await backend.updateJobPayloads({ items: [{ id, payload: '{"v":1}' }, { id, payload: '{"v":2}' }], now: at(1) });
      assert.deepStrictEqual(outcomes, ['ok', 'ok']);
      assert.deepStrictEqual((await mustGet(backend, id)).payload, { v: 2 });
    });

    suite.test('an edit racing a claim never changes the payload of a running job', async ({ backend, at }) => {
      const ids = await insertMany(backend, Array.from({ length: 40 }, () => ({ payload: '{"v":1}' })), at(0));
      const [claimed, outcomes] = await Promise.all([
        backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 40, leaseMs: LEASE_MS, now: at(1) }),
        backend.updateJobPayloads({ items: ids.map((id) => ({ id, payload: '{"v":2}' })), now: at(1) }),
      ]);
      const byId = new Map(claimed.map((c) => [c.id, c]));
      for (const [i, id] of ids.entries()) {
        const stored = await mustGet(backend, id);
        const claim = byId.get(id);
        if (claim) assert.deepStrictEqual(stored.payload, claim.payload, `job ${id}: the worker runs another payload than the stored one`);
        assert.equal(outcomes[i], (stored.payload as { v: number }).v === 2 ? 'ok' : 'wrong_state', `job ${id}`);
        if (!claim) assert.equal(outcomes[i], 'ok');
      }
    });
  });

  suite.group('operator actions: events', () => {
    suite.test('publishes retried, promoted, removed and updated once the change is visible', withEvents(async ({ backend, at }, log) => {
      const dead = await makeDead(backend, at(0), { queue: 'a', name: 'resize' });
      const scheduled = await insertOne(backend, { queue: 'a', delayMs: 60_000 }, at(1));
      const queued = await insertOne(backend, { queue: 'b' }, at(1));
      const doomed = await makeDead(backend, at(2), { queue: 'c' });
      const seen: Array<Promise<string>> = [];
      const unsubscribe = backend.subscribe!((events: SpindleEvent[]) => {
        for (const e of events) {
          if (!('jobId' in e) || !['retried', 'promoted', 'removed', 'updated'].includes(e.type)) continue;
          seen.push(backend.getJob(e.jobId).then((j) => `${e.type}:${j === null ? 'gone' : `${j.state}:${JSON.stringify(j.payload)}`}`));
        }
      });
      try {
        assert.deepStrictEqual(await backend.retryJobs({ ids: [dead], now: at(10) }), ['ok']);
        assert.deepStrictEqual(await backend.promoteJobs({ ids: [scheduled], now: at(11) }), ['ok']);
        assert.deepStrictEqual(await backend.updateJobPayloads({ items: [{ id: queued, payload: '{"v":9}' }], now: at(12) }), ['ok']);
        assert.deepStrictEqual(await backend.deleteJobs({ ids: [doomed] }), ['ok']);
        expectFields(await log.next('retried', isJobEvent('retried', dead)), {
          queue: 'a', name: 'resize', state: 'queued', attempt: 0, at: at(10).getTime(),
        });
        expectFields(await log.next('promoted', isJobEvent('promoted', scheduled)), { queue: 'a', state: 'queued', attempt: 0, at: at(11).getTime() });
        expectFields(await log.next('updated', isJobEvent('updated', queued)), { queue: 'b', state: 'queued', at: at(12).getTime() });
        expectFields(await log.next('removed', isJobEvent('removed', doomed)), { queue: 'c', state: 'dead', attempt: 1 });
        await waitFor(() => seen.length === 4, 'four events seen by the listener');
        const states = await Promise.all(seen);
        assert.ok(states.includes('retried:queued:' + JSON.stringify((await mustGet(backend, dead)).payload)), states.join(' '));
        assert.ok(states.includes('promoted:queued:' + JSON.stringify((await mustGet(backend, scheduled)).payload)), states.join(' '));
        assert.ok(states.includes('updated:queued:{"v":9}'), states.join(' '));
        assert.ok(states.includes('removed:gone'), states.join(' '));
      } finally {
        unsubscribe();
      }
    }));

    suite.test('publishes nothing for refused actions', withEvents(async ({ backend, at }, log) => {
      const running = await insertAndClaim(backend, {}, { now: at(0) });
      const queued = await insertOne(backend, { queue: 'other' }, at(0));
      await backend.retryJobs({ ids: [running.id, queued], now: at(1) });
      await backend.promoteJobs({ ids: [running.id, queued], now: at(1) });
      await backend.deleteJobs({ ids: [running.id] });
      await backend.updateJobPayloads({ items: [{ id: running.id, payload: '{}' }], now: at(1) });
      const barrier = await insertOne(backend, {}, at(2));
      await log.next('barrier', isJobEvent('added', barrier));
      const leaked = log.events.filter((e) => 'jobId' in e && ['retried', 'promoted', 'removed', 'updated'].includes(e.type));
      assert.deepStrictEqual(leaked, [], 'a refused action published an event');
    }));
  });
}
