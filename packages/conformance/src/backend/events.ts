/**
 * Events (only for backends with `subscribe`): every state change is published after it commits,
 * with the job's id, queue, name, new state and attempt, and `data` when small (result, progress,
 * error summary). Delivery is awaited by polling with a timeout, never by fixed sleeps. A refused
 * (fenced) write publishes nothing: that is checked with a later event as a barrier, since events
 * of one process arrive in commit order.
 */
import assert from 'node:assert/strict';
import type { JobEvent, QueueEvent, SpindleEvent } from '@spindle/core';
import type { Suite, TestEnv } from '../suite.js';
import {
  EventLog,
  KEEP_FOREVER,
  QUEUE,
  RESCUE_SPREAD_MS,
  attemptError,
  claimOne,
  finalizeOne,
  insertAndClaim,
  insertOne,
  jobInsert,
  leaseOf,
  makeDead,
  rescueAndPromote,
  waitFor,
} from './fixtures.js';

export function isJobEvent(type: JobEvent['type'], jobId: string): (e: SpindleEvent) => e is JobEvent {
  return (e): e is JobEvent => e.type === type && 'jobId' in e && e.jobId === jobId;
}

function isQueueEvent(type: QueueEvent['type'], queue: string): (e: SpindleEvent) => e is QueueEvent {
  return (e): e is QueueEvent => e.type === type && !('jobId' in e) && e.queue === queue;
}

/** Runs `body` with an event log, or skips the test for a backend without `subscribe`. */
export function withEvents(body: (env: TestEnv, log: EventLog) => Promise<void>): (env: TestEnv) => Promise<void> {
  return async (env) => {
    if (!env.backend.subscribe) {
      env.t.skip('backend has no subscribe');
      return;
    }
    const log = new EventLog(env.backend);
    try {
      await body(env, log);
    } finally {
      log.stop();
    }
  };
}

export function expectFields(event: JobEvent, expected: Partial<JobEvent>): void {
  const picked = Object.fromEntries(Object.keys(expected).map((k) => [k, event[k as keyof JobEvent]]));
  assert.deepStrictEqual(picked, expected, `event ${event.type} of ${event.jobId}`);
  assert.equal(typeof event.at, 'number');
  assert.ok(Number.isFinite(event.at));
}

export function eventTests(suite: Suite): void {
  suite.group('events', () => {
    suite.test('publishes added for queued and scheduled inserts, not for duplicates', withEvents(async ({ backend, at }, log) => {
      const queued = await insertOne(backend, { name: 'n1' }, at(0));
      const scheduled = await insertOne(backend, { name: 'n2', delayMs: 5_000 }, at(0));
      expectFields(await log.next('added (queued)', isJobEvent('added', queued)), {
        type: 'added', jobId: queued, queue: QUEUE, name: 'n1', state: 'queued', attempt: 0,
      });
      expectFields(await log.next('added (scheduled)', isJobEvent('added', scheduled)), { state: 'scheduled', name: 'n2' });
      await backend.insertJobs({ jobs: [jobInsert({ id: queued })], now: at(1) });
      const barrier = await insertOne(backend, {}, at(2));
      await log.next('barrier', isJobEvent('added', barrier));
      assert.equal(log.events.filter(isJobEvent('added', queued)).length, 1, 'a duplicate insert published added');
    }));

    suite.test('publishes started, progress and completed with their data', withEvents(async ({ backend, at }, log) => {
      const job = await insertAndClaim(backend, { name: 'thumb' }, { now: at(0) });
      expectFields(await log.next('started', isJobEvent('started', job.id)), {
        queue: QUEUE, name: 'thumb', state: 'running', attempt: 1,
      });
      await backend.updateProgress({ items: [{ ...leaseOf(job), progress: '{"pct":40}' }], now: at(1) });
      expectFields(await log.next('progress', isJobEvent('progress', job.id)), { state: 'running', attempt: 1, data: { pct: 40 } });
      await finalizeOne(backend, job, { kind: 'complete', result: '{"url":"x"}' }, at(2));
      expectFields(await log.next('completed', isJobEvent('completed', job.id)), {
        state: 'completed', attempt: 1, data: { url: 'x' },
      });
    }));

    suite.test('publishes an event only once its change is visible to readers', withEvents(async ({ backend, at }) => {
      const seen: Array<Promise<string | undefined>> = [];
      const unsubscribe = backend.subscribe!((events) => {
        for (const e of events) {
          if (e.type === 'completed' && 'jobId' in e) seen.push(backend.getJob(e.jobId).then((j) => j?.state));
        }
      });
      try {
        const job = await insertAndClaim(backend, {}, { now: at(0) });
        await finalizeOne(backend, job, { kind: 'complete', result: null }, at(1));
        await waitFor(() => seen.length > 0, 'completed event');
        assert.deepStrictEqual(await Promise.all(seen), ['completed']);
      } finally {
        unsubscribe();
      }
    }));

    suite.test('omits event data larger than 1 KiB', withEvents(async ({ backend, at }, log) => {
      const job = await insertAndClaim(backend, {}, { now: at(0) });
      await finalizeOne(backend, job, { kind: 'complete', result: JSON.stringify('x'.repeat(2_000)) }, at(1));
      const event = await log.next('completed', isJobEvent('completed', job.id));
      assert.equal(event.data, undefined);
    }));

    suite.test('publishes retrying and dead with the error summary', withEvents(async ({ backend, at }, log) => {
      const job = await insertAndClaim(backend, { maxRetries: 1 }, { now: at(0) });
      await finalizeOne(backend, job, { kind: 'retry', error: attemptError({ message: 'flaky', at: at(1).getTime() }), delayMs: 5_000 }, at(1));
      expectFields(await log.next('retrying', isJobEvent('retrying', job.id)), {
        state: 'retrying', attempt: 1, data: { message: 'flaky', kind: 'error' },
      });
      await backend.promoteDueJobs({ limit: 10, now: at(5_001) });
      expectFields(await log.next('promoted', isJobEvent('promoted', job.id)), { state: 'queued' });
      const second = await claimOne(backend, { now: at(5_002) });
      const error = attemptError({ attempt: 2, kind: 'permanent', name: 'PermanentError', message: 'broken', at: at(5_003).getTime() });
      await finalizeOne(backend, second, { kind: 'dead', error, reason: 'broken' }, at(5_003));
      expectFields(await log.next('dead', isJobEvent('dead', job.id)), {
        state: 'dead', attempt: 2, data: { message: 'broken', kind: 'permanent' },
      });
    }));

    suite.test('publishes cancel_requested for a running job and cancelled for a waiting one', withEvents(async ({ backend, at }, log) => {
      const running = await insertAndClaim(backend, {}, { now: at(0) });
      const queued = await insertOne(backend, {}, at(0));
      await backend.cancelJobs({ ids: [running.id, queued], retention: KEEP_FOREVER, now: at(1) });
      expectFields(await log.next('cancel_requested', isJobEvent('cancel_requested', running.id)), { state: 'running', attempt: 1 });
      expectFields(await log.next('cancelled', isJobEvent('cancelled', queued)), { state: 'cancelled' });
      await finalizeOne(backend, running, { kind: 'cancel', error: null }, at(2));
      expectFields(await log.next('cancelled (acknowledged)', isJobEvent('cancelled', running.id)), { state: 'cancelled' });
    }));

    suite.test('publishes snoozed, released, rescued and replayed', withEvents(async ({ backend, at }, log) => {
      const snoozed = await insertAndClaim(backend, {}, { now: at(0) });
      await finalizeOne(backend, snoozed, { kind: 'snooze', delayMs: 60_000 }, at(1));
      expectFields(await log.next('snoozed', isJobEvent('snoozed', snoozed.id)), { state: 'scheduled' });
      const released = await insertAndClaim(backend, {}, { now: at(2) });
      await finalizeOne(backend, released, { kind: 'release' }, at(3));
      expectFields(await log.next('released', isJobEvent('released', released.id)), { state: 'queued' });
      const expired = await claimOne(backend, { now: at(4), leaseMs: 1_000 });
      await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(2_000) });
      const rescued = await log.next('rescued', isJobEvent('rescued', expired.id));
      expectFields(rescued, { state: 'retrying', attempt: 1 });
      assert.equal((rescued.data as { kind?: string } | undefined)?.kind, 'lease_expired');
      await backend.promoteDueJobs({ limit: 10, now: at(2_000 + RESCUE_SPREAD_MS) });
      expectFields(await log.next('promoted after the rescue', isJobEvent('promoted', expired.id)), { state: 'queued', attempt: 1 });
      const dead = await makeDead(backend, at(3_000), { queue: 'dlq' });
      await backend.dlqReplay({ ids: [dead], limit: 1, now: at(4_000) });
      expectFields(await log.next('replayed', isJobEvent('replayed', dead)), { state: 'queued', queue: 'dlq', attempt: 0 });
    }));

    suite.test('publishes paused and resumed queue events', withEvents(async ({ backend }, log) => {
      await backend.pauseQueue('emails');
      const paused = await log.next('paused', isQueueEvent('paused', 'emails'));
      assert.equal(typeof paused.at, 'number');
      await backend.resumeQueue('emails');
      await log.next('resumed', isQueueEvent('resumed', 'emails'));
    }));

    suite.test('publishes nothing for a refused stale write', withEvents(async ({ backend, at }, log) => {
      const stale = await insertAndClaim(backend, {}, { now: at(0), leaseMs: 1_000 });
      await rescueAndPromote(backend, at(2_000));
      const fresh = await claimOne(backend, { now: at(3_000) });
      assert.equal(await finalizeOne(backend, stale, { kind: 'complete', result: null }, at(4_000)), 'lease_lost');
      await backend.updateProgress({ items: [{ ...leaseOf(stale), progress: '5' }], now: at(4_000) });
      await backend.updateProgress({ items: [{ ...leaseOf(fresh), progress: '6' }], now: at(4_001) });
      await log.next('barrier progress', (e) => e.type === 'progress' && 'jobId' in e && e.data === 6);
      const leaked = log.events.filter(
        (e) => 'jobId' in e && e.jobId === stale.id && (e.type === 'completed' || (e.type === 'progress' && e.data === 5)),
      );
      assert.deepStrictEqual(leaked, [], 'a refused write published an event');
    }));

    suite.test('stops delivering after unsubscribe', withEvents(async ({ backend, at }, log) => {
      const other = new EventLog(backend);
      const first = await insertOne(backend, {}, at(0));
      await other.next('added', isJobEvent('added', first));
      other.stop();
      const second = await insertOne(backend, {}, at(1));
      await log.next('added (still subscribed)', isJobEvent('added', second));
      assert.equal(other.events.filter(isJobEvent('added', second)).length, 0);
    }));
  });
}
