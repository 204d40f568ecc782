/**
 * insertJobs with `dispatch` (direct dispatch to an idle local worker): the jobs a request takes
 * are written exactly as a claim would write them (running, attempt 1, fresh token, lease until
 * now + leaseMs, started now, the worker) and come back with the ClaimedJob a claim returns; a
 * later claim never hands them out again and their lease fences as usual. A request takes, in
 * input order, at most `limit` jobs of its queue that this call inserted and that are due now,
 * and nothing from a paused queue; delayed jobs, duplicates and other queues' jobs stay as a
 * plain insert leaves them. The first request naming a queue wins. Events: `added` (running)
 * then `started`.
 */
import assert from 'node:assert/strict';
import type { ClaimedJob, DispatchRequest, InsertOutcome, JobEvent, JobInsert, SpindleEvent } from '@spindle/core';
import type { Suite } from '../suite.js';
import {
  EventLog,
  KEEP_FOREVER,
  QUEUE,
  WORKER,
  claimOne,
  finalizeOne,
  insertOne,
  jobInsert,
  leaseOf,
  mustGet,
  rescueAndPromote,
  waitFor,
} from './fixtures.js';

function request(overrides: Partial<DispatchRequest> = {}): DispatchRequest {
  return { queue: QUEUE, workerId: WORKER, leaseMs: 30_000, limit: 10, ...overrides };
}

/** The outcome's ClaimedJob, failing the test unless the job was dispatched. */
function claimedOf(outcome: InsertOutcome | undefined, what = 'job'): ClaimedJob {
  assert.ok(outcome, `no outcome for ${what}`);
  assert.equal(outcome.inserted, true, `${what} was not inserted`);
  assert.equal(outcome.state, 'running', `${what} was not dispatched`);
  assert.ok(outcome.claimed, `${what} has no claimed`);
  assert.equal(outcome.claimed.id, outcome.id);
  return outcome.claimed;
}

/** A plain insert's outcome: no `claimed` at all. */
function assertNotDispatched(outcome: InsertOutcome | undefined, expected: Omit<InsertOutcome, 'claimed'>): void {
  assert.deepStrictEqual(outcome, expected);
}

export function dispatchTests(suite: Suite): void {
  suite.group('insertJobs dispatch', () => {
    suite.test('inserts a due job already claimed: running, attempt 1, lease until now + leaseMs, the fields a claim returns', async ({ backend, at }) => {
      const job = jobInsert({
        name: 'encode',
        payload: '{"video":"v1","n":[1,2,3]}',
        priority: 100,
        maxRetries: 2,
        timeoutMs: 5_000,
        backoff: { type: 'fixed', delayMs: 250 },
      });
      const outcomes = await backend.insertJobs({
        jobs: [job],
        dispatch: [request({ workerId: 'w-7', leaseMs: 20_000, limit: 1 })],
        now: at(1_000),
      });
      assert.equal(outcomes.length, 1);
      assert.equal(outcomes[0]!.id, job.id);
      const claimed = claimedOf(outcomes[0]);
      assert.match(claimed.leaseToken, /^[0-9a-f]{32,}$/i, 'token is not >= 128 bits of hex');
      assert.deepStrictEqual(
        { ...outcomes[0], claimed: { ...claimed, leaseToken: '<token>' } },
        {
          id: job.id,
          inserted: true,
          state: 'running',
          claimed: {
            id: job.id,
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
            createdAt: at(1_000),
            runAt: at(1_000),
          },
        },
      );
      const record = await mustGet(backend, job.id);
      assert.equal(record.state, 'running');
      assert.equal(record.attempt, 1);
      assert.deepStrictEqual(record.startedAt, at(1_000));
      assert.deepStrictEqual(record.leaseExpiresAt, at(21_000));
      assert.equal(record.workerId, 'w-7');
      assert.equal(record.cancelRequested, false);
      assert.deepStrictEqual(await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 10, leaseMs: 1_000, now: at(1_001) }), []);
    });

    suite.test('writes the same row and returns the same ClaimedJob as an insert followed by a claim', async ({ backend, at }) => {
      const fields: Partial<JobInsert> = {
        name: 'same',
        payload: '{"a":1}',
        priority: 42,
        maxRetries: 7,
        uniqueKey: null,
        timeoutMs: 9_000,
        backoff: { type: 'exponential', delayMs: 100, factor: 2, maxDelayMs: 5_000, jitter: 'full' },
        retention: { completedKeepMs: 60_000, completedKeepCount: 10, deadKeepMs: -1, deadKeepCount: null },
      };
      const dispatchedJob = jobInsert(fields);
      const [outcome] = await backend.insertJobs({
        jobs: [dispatchedJob],
        dispatch: [request({ workerId: 'w-x', leaseMs: 15_000, limit: 1 })],
        now: at(500),
      });
      const viaDispatch = claimedOf(outcome);
      const plainId = await insertOne(backend, fields, at(500));
      const viaClaim = await claimOne(backend, { workerId: 'w-x', leaseMs: 15_000, now: at(500) });
      assert.equal(viaClaim.id, plainId);
      assert.notEqual(viaDispatch.leaseToken, viaClaim.leaseToken);
      assert.deepStrictEqual(
        { ...viaDispatch, id: '<id>', leaseToken: '<token>' },
        { ...viaClaim, id: '<id>', leaseToken: '<token>' },
      );
      const dispatchedRecord = await mustGet(backend, dispatchedJob.id);
      const claimedRecord = await mustGet(backend, plainId);
      assert.deepStrictEqual({ ...dispatchedRecord, id: '<id>' }, { ...claimedRecord, id: '<id>' });
    });

    suite.test('a dispatched job is never claimed again; its lease fences, extends, is rescued on expiry and completes', async ({ backend, at }) => {
      const outcomes = await backend.insertJobs({
        jobs: [jobInsert(), jobInsert()],
        dispatch: [request({ leaseMs: 10_000 })],
        now: at(0),
      });
      const a = claimedOf(outcomes[0], 'a');
      const b = claimedOf(outcomes[1], 'b');
      assert.notEqual(a.leaseToken, b.leaseToken, 'two dispatched jobs got the same token');
      assert.deepStrictEqual(await backend.claimJobs({ queue: QUEUE, workerId: 'other', limit: 10, leaseMs: 1_000, now: at(1) }), []);

      // The fence: a wrong token or attempt changes nothing.
      const before = await mustGet(backend, a.id);
      assert.deepStrictEqual(
        await backend.finalizeJobs({
          items: [
            { ...leaseOf(a), leaseToken: 'f'.repeat(32), kind: 'complete', result: null },
            { ...leaseOf(a), attempt: 2, kind: 'complete', result: null },
          ],
          retention: KEEP_FOREVER,
          now: at(2),
        }),
        ['lease_lost', 'lease_lost'],
      );
      assert.deepStrictEqual(await mustGet(backend, a.id), before);

      // Heartbeat and progress through the dispatched lease.
      assert.deepStrictEqual(await backend.extendLeases({ leases: [leaseOf(a)], leaseMs: 30_000, now: at(5_000) }), [
        { outcome: 'ok', cancelRequested: false },
      ]);
      assert.deepStrictEqual((await mustGet(backend, a.id)).leaseExpiresAt, at(35_000));
      assert.deepStrictEqual(await backend.updateProgress({ items: [{ ...leaseOf(a), progress: '{"pct":10}' }], now: at(5_001) }), ['ok']);

      // b was not extended: its lease (now + 10 s) expires and the rescuer takes it back.
      const { promotedAt, ...rescued } = await rescueAndPromote(backend, at(11_000));
      assert.deepStrictEqual(rescued, { requeued: [b.id], dead: [], cancelled: [] });
      assert.equal(await finalizeOne(backend, b, { kind: 'complete', result: null }, at(11_001)), 'lease_lost');
      const again = await claimOne(backend, { now: promotedAt, workerId: 'worker-2' });
      assert.equal(again.id, b.id);
      assert.equal(again.attempt, 2);

      assert.equal(await finalizeOne(backend, a, { kind: 'complete', result: '{"ok":true}' }, at(12_000)), 'ok');
      const done = await mustGet(backend, a.id);
      assert.equal(done.state, 'completed');
      assert.deepStrictEqual(done.result, { ok: true });
      assert.deepStrictEqual(done.finishedAt, at(12_000));
    });

    suite.test('takes at most limit jobs, in input order (not priority order); the rest stay queued and claimable', async ({ backend, at }) => {
      const jobs = [{ priority: 750 }, { priority: 500 }, { priority: 0 }, { priority: 250 }, { priority: 500 }].map((o) => jobInsert(o));
      const outcomes = await backend.insertJobs({ jobs, dispatch: [request({ limit: 2 })], now: at(0) });
      assert.equal(outcomes.length, 5);
      assert.equal(claimedOf(outcomes[0], 'job 0').id, jobs[0]!.id);
      assert.equal(claimedOf(outcomes[1], 'job 1').id, jobs[1]!.id);
      for (let i = 2; i < 5; i++) {
        assertNotDispatched(outcomes[i], { id: jobs[i]!.id, inserted: true, state: 'queued' });
        const record = await mustGet(backend, jobs[i]!.id);
        assert.equal(record.state, 'queued');
        assert.equal(record.attempt, 0);
        assert.equal(record.workerId, null);
        assert.equal(record.leaseExpiresAt, null);
      }
      const rest = await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 10, leaseMs: 1_000, now: at(1) });
      assert.deepStrictEqual(rest.map((c) => c.id), [jobs[2]!.id, jobs[3]!.id, jobs[4]!.id]);
    });

    suite.test('never dispatches a delayed job; a due past runAt or delayMs 0 is dispatched', async ({ backend, at }) => {
      const delayed = jobInsert({ delayMs: 5_000 });
      const future = jobInsert({ runAt: at(60_000) });
      const past = jobInsert({ runAt: at(-10_000) });
      const zero = jobInsert({ delayMs: 0 });
      const plain = jobInsert();
      const outcomes = await backend.insertJobs({
        jobs: [delayed, future, past, zero, plain],
        dispatch: [request({ limit: 2 })],
        now: at(0),
      });
      assertNotDispatched(outcomes[0], { id: delayed.id, inserted: true, state: 'scheduled' });
      assertNotDispatched(outcomes[1], { id: future.id, inserted: true, state: 'scheduled' });
      const pastClaimed = claimedOf(outcomes[2], 'past runAt');
      assert.deepStrictEqual(pastClaimed.runAt, at(-10_000));
      claimedOf(outcomes[3], 'delayMs 0');
      // Delayed jobs do not use up the limit, but the limit (2) is reached before `plain`.
      assertNotDispatched(outcomes[4], { id: plain.id, inserted: true, state: 'queued' });
      for (const job of [delayed, future]) {
        const record = await mustGet(backend, job.id);
        assert.equal(record.state, 'scheduled');
        assert.equal(record.attempt, 0);
        assert.equal(record.workerId, null);
      }
      assert.equal((await mustGet(backend, past.id)).state, 'running');
      assert.equal((await claimOne(backend, { now: at(1) })).id, plain.id);
    });

    suite.test('never dispatches a duplicate (by id, unique key or within the batch); the existing job keeps its outcome and is untouched', async ({ backend, at }) => {
      const existingId = await insertOne(backend, {}, at(0));
      const holder = await insertOne(backend, { uniqueKey: 'k-1' }, at(0));
      const existingBefore = await mustGet(backend, existingId);
      const holderBefore = await mustGet(backend, holder);
      const fresh = jobInsert();
      const next = jobInsert();
      const outcomes = await backend.insertJobs({
        jobs: [
          jobInsert({ id: existingId }),
          jobInsert({ uniqueKey: 'k-1' }),
          fresh,
          jobInsert({ id: fresh.id }),
          next,
        ],
        dispatch: [request({ limit: 2 })],
        now: at(1),
      });
      assertNotDispatched(outcomes[0], { id: existingId, inserted: false, state: 'queued' });
      assertNotDispatched(outcomes[1], { id: holder, inserted: false, state: 'queued' });
      claimedOf(outcomes[2], 'fresh');
      // The in-batch duplicate names the job it collided with and is not dispatched a second time.
      assert.equal(outcomes[3]?.id, fresh.id);
      assert.equal(outcomes[3]?.inserted, false);
      assert.equal(outcomes[3]?.claimed, undefined);
      // Duplicates do not use up the limit.
      claimedOf(outcomes[4], 'next');
      assert.deepStrictEqual(await mustGet(backend, existingId), existingBefore);
      assert.deepStrictEqual(await mustGet(backend, holder), holderBefore);
      const claimed = await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 10, leaseMs: 1_000, now: at(2) });
      assert.deepStrictEqual(claimed.map((c) => c.id), [existingId, holder]);
    });

    suite.test('a duplicate of a running job reports running without claimed and leaves its lease alone', async ({ backend, at }) => {
      const [first] = await backend.insertJobs({ jobs: [jobInsert({ uniqueKey: 'only-one' })], dispatch: [request()], now: at(0) });
      const running = claimedOf(first);
      const before = await mustGet(backend, running.id);
      const outcomes = await backend.insertJobs({
        jobs: [jobInsert({ id: running.id }), jobInsert({ uniqueKey: 'only-one' })],
        dispatch: [request({ workerId: 'w-2' })],
        now: at(1),
      });
      assert.deepStrictEqual(outcomes, [
        { id: running.id, inserted: false, state: 'running' },
        { id: running.id, inserted: false, state: 'running' },
      ]);
      assert.deepStrictEqual(await mustGet(backend, running.id), before);
      assert.equal(await finalizeOne(backend, running, { kind: 'complete', result: null }, at(2)), 'ok');
    });

    suite.test('dispatches only the queues that have a request; the first request for a queue wins', async ({ backend, at }) => {
      const a1 = jobInsert({ queue: 'qa' });
      const b1 = jobInsert({ queue: 'qb' });
      const a2 = jobInsert({ queue: 'qa' });
      const c1 = jobInsert({ queue: 'qc' });
      const a3 = jobInsert({ queue: 'qa' });
      const outcomes = await backend.insertJobs({
        jobs: [a1, b1, a2, c1, a3],
        dispatch: [
          request({ queue: 'qa', workerId: 'w-first', leaseMs: 10_000, limit: 2 }),
          request({ queue: 'qc', workerId: 'w-c', leaseMs: 5_000, limit: 1 }),
          request({ queue: 'qa', workerId: 'w-second', leaseMs: 99_000, limit: 10 }),
          request({ queue: 'nothing-here', workerId: 'w-n', limit: 10 }),
        ],
        now: at(0),
      });
      const first = claimedOf(outcomes[0], 'a1');
      assertNotDispatched(outcomes[1], { id: b1.id, inserted: true, state: 'queued' });
      const second = claimedOf(outcomes[2], 'a2');
      const c = claimedOf(outcomes[3], 'c1');
      assertNotDispatched(outcomes[4], { id: a3.id, inserted: true, state: 'queued' });
      for (const job of [first, second]) {
        assert.deepStrictEqual(job.leaseExpiresAt, at(10_000));
        assert.equal((await mustGet(backend, job.id)).workerId, 'w-first');
      }
      assert.equal(c.queue, 'qc');
      assert.deepStrictEqual(c.leaseExpiresAt, at(5_000));
      assert.equal((await mustGet(backend, c.id)).workerId, 'w-c');
      assert.equal((await claimOne(backend, { queue: 'qb', now: at(1) })).id, b1.id);
      assert.equal((await claimOne(backend, { queue: 'qa', now: at(1) })).id, a3.id);
    });

    suite.test('dispatches nothing from a paused queue: its jobs are queued and claimable after resume', async ({ backend, at }) => {
      await backend.pauseQueue(QUEUE);
      const paused = [jobInsert(), jobInsert()];
      const other = jobInsert({ queue: 'unpaused' });
      const outcomes = await backend.insertJobs({
        jobs: [...paused, other],
        dispatch: [request(), request({ queue: 'unpaused' })],
        now: at(0),
      });
      assertNotDispatched(outcomes[0], { id: paused[0]!.id, inserted: true, state: 'queued' });
      assertNotDispatched(outcomes[1], { id: paused[1]!.id, inserted: true, state: 'queued' });
      claimedOf(outcomes[2], 'job of the unpaused queue');
      for (const job of paused) {
        const record = await mustGet(backend, job.id);
        assert.equal(record.state, 'queued');
        assert.equal(record.attempt, 0);
      }
      await backend.resumeQueue(QUEUE);
      const claimed = await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 10, leaseMs: 1_000, now: at(1) });
      assert.deepStrictEqual(claimed.map((c) => c.id), paused.map((j) => j.id));
    });

    suite.test('an empty dispatch list or a request matching nothing is a plain insert', async ({ backend, at }) => {
      const job = jobInsert();
      assert.deepStrictEqual(await backend.insertJobs({ jobs: [job], dispatch: [], now: at(0) }), [
        { id: job.id, inserted: true, state: 'queued' },
      ]);
      const other = jobInsert();
      assert.deepStrictEqual(await backend.insertJobs({ jobs: [other], dispatch: [request({ queue: 'elsewhere' })], now: at(0) }), [
        { id: other.id, inserted: true, state: 'queued' },
      ]);
      const claimed = await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 10, leaseMs: 1_000, now: at(1) });
      assert.deepStrictEqual(claimed.map((c) => c.id), [job.id, other.id]);
    });

    suite.test('hands each job out once when dispatching inserts race with claimers', async ({ backend, at }) => {
      const handedOut: string[] = [];
      const inserts: JobInsert[] = [];
      const calls: Array<Promise<void>> = [];
      for (let round = 0; round < 5; round++) {
        const jobs = [jobInsert(), jobInsert(), jobInsert()];
        inserts.push(...jobs);
        calls.push(
          backend.insertJobs({ jobs, dispatch: [request({ workerId: `d-${round}`, limit: 2 })], now: at(0) }).then((outcomes) => {
            for (const o of outcomes) if (o.claimed) handedOut.push(o.claimed.id);
          }),
          backend.claimJobs({ queue: QUEUE, workerId: `c-${round}`, limit: 2, leaseMs: 30_000, now: at(0) }).then((claimed) => {
            for (const c of claimed) handedOut.push(c.id);
          }),
        );
      }
      await Promise.all(calls);
      const rest = await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 100, leaseMs: 30_000, now: at(1) });
      handedOut.push(...rest.map((c) => c.id));
      assert.equal(new Set(handedOut).size, handedOut.length, 'a job was handed out twice');
      assert.deepStrictEqual([...handedOut].sort(), inserts.map((j) => j.id).sort());
      for (const id of handedOut) assert.equal((await mustGet(backend, id)).attempt, 1);
    });

    suite.test('publishes added (running) then started for each dispatched job, added (queued) for the others', async ({ backend, at, t }) => {
      if (!backend.subscribe) {
        t.skip('backend has no subscribe');
        return;
      }
      const log = new EventLog(backend);
      try {
        const dispatched = jobInsert({ name: 'hot' });
        const queued = jobInsert({ name: 'cold' });
        const outcomes = await backend.insertJobs({ jobs: [dispatched, queued], dispatch: [request({ limit: 1 })], now: at(0) });
        claimedOf(outcomes[0]);
        const of = (id: string) => (e: SpindleEvent): e is JobEvent => 'jobId' in e && e.jobId === id;
        await waitFor(() => log.events.filter(of(dispatched.id)).length >= 2 && log.events.some(of(queued.id)), 'events of the insert');
        const hot = log.events.filter(of(dispatched.id));
        assert.deepStrictEqual(
          hot.map((e) => [e.type, e.state]),
          [
            ['added', 'running'],
            ['started', 'running'],
          ],
        );
        const started = hot[1]!;
        assert.equal(started.queue, QUEUE);
        assert.equal(started.name, 'hot');
        assert.equal(started.attempt, 1);
        assert.equal(hot[0]!.queue, QUEUE);
        assert.equal(hot[0]!.name, 'hot');
        for (const e of hot) assert.equal(typeof e.at, 'number');
        // A later event is the barrier: no further event arrives for the queued job.
        const barrier = await insertOne(backend, {}, at(1));
        await log.next('barrier', (e) => 'jobId' in e && e.jobId === barrier);
        assert.deepStrictEqual(
          log.events.filter(of(queued.id)).map((e) => [e.type, e.state, e.attempt]),
          [['added', 'queued', 0]],
        );
        assert.equal(log.events.filter(of(dispatched.id)).length, 2);
      } finally {
        log.stop();
      }
    });
  });
}
