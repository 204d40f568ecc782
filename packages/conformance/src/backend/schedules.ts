/**
 * Schedules (core backend/schedules.ts): definitions (upsert keeps the next run of an unchanged
 * timing, bumps the version only when the definition changed), list/get/remove, pause/resume
 * (compare-and-set on the version), dueSchedules by the injected clock, and fireSchedule — the
 * compare-and-set that makes one job per tick: a second firing of the same tick, a stale
 * version, a paused schedule or a concurrent burst of firings writes nothing more.
 */
import assert from 'node:assert/strict';
import type { Backend, ScheduleDefinition, ScheduleRecord } from '@spindle/core';
import type { Suite } from '../suite.js';
import { jobInsert, mustGet } from './fixtures.js';

function definition(overrides: Partial<ScheduleDefinition> = {}): ScheduleDefinition {
  return {
    name: 'nightly',
    cron: null,
    everyMs: 60_000,
    timezone: 'UTC',
    queue: 'reports',
    jobName: 'build-report',
    payload: '{"kind":"daily"}',
    jobOptions: '{"priority":"high"}',
    backfill: 0,
    ...overrides,
  };
}

async function create(backend: Backend, overrides: Partial<ScheduleDefinition>, nextRunAt: Date | null, now?: Date): Promise<ScheduleRecord> {
  const { record } = await backend.upsertSchedule({ schedule: definition(overrides), paused: null, nextRunAt, ...(now ? { now } : {}) });
  return record;
}

/** The job a tick enqueues, as the core builds it (deterministic id, runAt = tick). */
function tickJob(name: string, tick: Date) {
  return jobInsert({ id: `schedule:${name}:${tick.toISOString()}`, queue: 'reports', name: 'build-report', runAt: tick });
}

export function scheduleTests(suite: Suite): void {
  suite.group('schedules: definitions', () => {
    suite.test('upsert creates a schedule that get and list return as stored', async ({ backend, at }) => {
      const result = await backend.upsertSchedule({ schedule: definition(), paused: null, nextRunAt: at(60_000), now: at(0) });
      assert.deepEqual([result.created, result.changed], [true, true]);
      const got = await backend.getSchedule('nightly');
      assert.deepEqual(got, result.record);
      assert.deepEqual(got, {
        ...definition(),
        paused: false,
        nextRunAt: at(60_000),
        lastRunAt: null,
        lastJobId: null,
        version: 1,
        createdAt: at(0),
        updatedAt: at(0),
      });
      const cron = await create(backend, { name: 'weekday', cron: '0 9 * * 1-5', everyMs: null, timezone: 'Europe/Berlin' }, at(5_000));
      assert.deepEqual([cron.cron, cron.everyMs, cron.timezone], ['0 9 * * 1-5', null, 'Europe/Berlin']);
      assert.equal(await backend.getSchedule('missing'), null);
    });

    suite.test('an unchanged upsert writes nothing; a changed one bumps the version and keeps the next run of the same timing', async ({ backend, at }) => {
      await create(backend, {}, at(60_000), at(0));
      const same = await backend.upsertSchedule({ schedule: definition(), paused: null, nextRunAt: at(120_000), now: at(1_000) });
      assert.deepEqual([same.created, same.changed, same.record.version, same.record.nextRunAt, same.record.updatedAt], [false, false, 1, at(60_000), at(0)]);
      const payload = await backend.upsertSchedule({ schedule: definition({ payload: '{"kind":"weekly"}' }), paused: null, nextRunAt: at(120_000), now: at(2_000) });
      assert.deepEqual([payload.changed, payload.record.version, payload.record.nextRunAt, payload.record.payload], [true, 2, at(60_000), '{"kind":"weekly"}']);
      assert.deepEqual([payload.record.createdAt, payload.record.updatedAt], [at(0), at(2_000)]);
      const timing = await backend.upsertSchedule({ schedule: definition({ everyMs: 30_000 }), paused: null, nextRunAt: at(30_000), now: at(3_000) });
      assert.deepEqual([timing.record.version, timing.record.nextRunAt, timing.record.everyMs], [3, at(30_000), 30_000]);
    });

    suite.test('paused upserts store no next run; paused: null keeps the flag; paused → active takes the new next run', async ({ backend, at }) => {
      const paused = await backend.upsertSchedule({ schedule: definition(), paused: true, nextRunAt: at(60_000), now: at(0) });
      assert.deepEqual([paused.record.paused, paused.record.nextRunAt], [true, null]);
      const kept = await backend.upsertSchedule({ schedule: definition({ backfill: 3 }), paused: null, nextRunAt: at(60_000), now: at(1) });
      assert.deepEqual([kept.record.paused, kept.record.nextRunAt, kept.record.backfill], [true, null, 3]);
      const active = await backend.upsertSchedule({ schedule: definition({ backfill: 3 }), paused: false, nextRunAt: at(120_000), now: at(2) });
      assert.deepEqual([active.changed, active.record.paused, active.record.nextRunAt, active.record.version], [true, false, at(120_000), 2]);
    });

    suite.test('list pages by name and filters by queue; remove deletes', async ({ backend, at }) => {
      for (const name of ['c', 'a', 'e', 'b', 'd']) await create(backend, { name, queue: name < 'c' ? 'q1' : 'q2' }, at(1_000));
      const names = (records: ScheduleRecord[]) => records.map((r) => r.name);
      assert.deepEqual(names(await backend.listSchedules({ limit: 100 })), ['a', 'b', 'c', 'd', 'e']);
      assert.deepEqual(names(await backend.listSchedules({ limit: 2 })), ['a', 'b']);
      assert.deepEqual(names(await backend.listSchedules({ limit: 2, after: 'b' })), ['c', 'd']);
      assert.deepEqual(names(await backend.listSchedules({ limit: 100, queue: 'q1' })), ['a', 'b']);
      assert.equal(await backend.removeSchedule('c'), true);
      assert.equal(await backend.removeSchedule('c'), false);
      assert.deepEqual(names(await backend.listSchedules({ limit: 100 })), ['a', 'b', 'd', 'e']);
    });
  });

  suite.group('schedules: pause and resume', () => {
    suite.test('pause clears the next run and is idempotent; an unknown name is null', async ({ backend, at }) => {
      await create(backend, {}, at(60_000), at(0));
      const paused = await backend.pauseSchedule({ name: 'nightly', now: at(1_000) });
      assert.deepEqual([paused?.paused, paused?.nextRunAt, paused?.updatedAt, paused?.version], [true, null, at(1_000), 1]);
      const again = await backend.pauseSchedule({ name: 'nightly', now: at(2_000) });
      assert.deepEqual([again?.paused, again?.updatedAt], [true, at(1_000)]);
      assert.equal(await backend.pauseSchedule({ name: 'missing' }), null);
      assert.deepEqual((await backend.dueSchedules({ limit: 10, now: at(3_600_000) })).due, []);
    });

    suite.test('resume is a compare-and-set on the version', async ({ backend, at }) => {
      await create(backend, {}, at(60_000), at(0));
      await backend.pauseSchedule({ name: 'nightly' });
      assert.equal(await backend.resumeSchedule({ name: 'nightly', version: 7, nextRunAt: at(1) }), 'conflict');
      assert.equal((await backend.getSchedule('nightly'))?.paused, true);
      assert.equal(await backend.resumeSchedule({ name: 'nightly', version: 1, nextRunAt: at(180_000), now: at(5) }), 'resumed');
      const resumed = await backend.getSchedule('nightly');
      assert.deepEqual([resumed?.paused, resumed?.nextRunAt, resumed?.updatedAt], [false, at(180_000), at(5)]);
      assert.equal(await backend.resumeSchedule({ name: 'nightly', version: 1, nextRunAt: at(1) }), 'not_paused');
      assert.equal((await backend.getSchedule('nightly'))?.nextRunAt?.getTime(), at(180_000).getTime());
      assert.equal(await backend.resumeSchedule({ name: 'missing', version: 1, nextRunAt: at(1) }), 'not_found');
    });
  });

  suite.group('schedules: due and fire', () => {
    suite.test('dueSchedules returns active schedules due by the given clock, earliest first, and the next due time', async ({ backend, at }) => {
      await create(backend, { name: 'late' }, at(3_000));
      await create(backend, { name: 'early' }, at(1_000));
      await create(backend, { name: 'future' }, at(10_000));
      await create(backend, { name: 'off' }, at(500));
      await backend.pauseSchedule({ name: 'off' });
      const none = await backend.dueSchedules({ limit: 10, now: at(0) });
      assert.deepEqual([none.now, none.due, none.nextAt], [at(0), [], at(1_000)]);
      const due = await backend.dueSchedules({ limit: 10, now: at(3_000) });
      assert.deepEqual(due.due.map((s) => s.name), ['early', 'late']);
      assert.deepEqual(due.nextAt, at(10_000));
      assert.deepEqual((await backend.dueSchedules({ limit: 1, now: at(5_000) })).due.map((s) => s.name), ['early']);
    });

    suite.test('fireSchedule inserts the tick jobs and advances the schedule in one step', async ({ backend, at }) => {
      const record = await create(backend, {}, at(60_000), at(0));
      const jobs = [tickJob('nightly', at(60_000)), tickJob('nightly', at(120_000))];
      const result = await backend.fireSchedule({
        name: 'nightly',
        expectedNextRunAt: at(60_000),
        expectedVersion: record.version,
        nextRunAt: at(180_000),
        jobs,
        lastRunAt: at(120_000),
        now: at(125_000),
      });
      assert.equal(result.fired, true);
      assert.deepEqual(result.inserted.map((o) => [o.id, o.inserted, o.state]), jobs.map((j) => [j.id, true, 'queued']));
      const after = await backend.getSchedule('nightly');
      assert.deepEqual([after?.nextRunAt, after?.lastRunAt, after?.lastJobId, after?.version], [at(180_000), at(120_000), jobs[1]!.id, 1]);
      const job = await mustGet(backend, jobs[0]!.id);
      assert.deepEqual([job.state, job.queue, job.runAt], ['queued', 'reports', at(60_000)]);
    });

    suite.test('firing the same tick again, with a stale version, or while paused writes nothing', async ({ backend, at }) => {
      const record = await create(backend, {}, at(60_000), at(0));
      const fire = (expectedNextRunAt: Date, expectedVersion: number) =>
        backend.fireSchedule({
          name: 'nightly',
          expectedNextRunAt,
          expectedVersion,
          nextRunAt: new Date(expectedNextRunAt.getTime() + 60_000),
          jobs: [tickJob('nightly', expectedNextRunAt)],
          lastRunAt: expectedNextRunAt,
          now: at(61_000),
        });
      assert.equal((await fire(at(60_000), record.version + 1)).fired, false);
      assert.equal((await fire(at(60_000), record.version)).fired, true);
      assert.deepEqual(await fire(at(60_000), record.version), { fired: false, inserted: [] });
      await backend.pauseSchedule({ name: 'nightly' });
      assert.equal((await fire(at(120_000), record.version)).fired, false);
      assert.deepEqual(await backend.countJobs({ queue: 'reports' }), [{ queue: 'reports', state: 'queued', count: 1 }]);
      assert.equal(await backend.getJob(`schedule:nightly:${at(120_000).toISOString()}`), null);
    });

    suite.test('a tick whose job already exists advances the schedule and inserts no second job', async ({ backend, at }) => {
      const record = await create(backend, {}, at(60_000), at(0));
      const job = tickJob('nightly', at(60_000));
      await backend.insertJobs({ jobs: [job], now: at(0) });
      const result = await backend.fireSchedule({
        name: 'nightly',
        expectedNextRunAt: at(60_000),
        expectedVersion: record.version,
        nextRunAt: at(120_000),
        jobs: [{ ...job, payload: '{"other":true}' }],
        lastRunAt: at(60_000),
        now: at(61_000),
      });
      assert.deepEqual([result.fired, result.inserted[0]?.inserted], [true, false]);
      assert.deepEqual((await mustGet(backend, job.id)).payload, JSON.parse(job.payload));
      assert.equal((await backend.getSchedule('nightly'))?.nextRunAt?.getTime(), at(120_000).getTime());
    });

    suite.test('of concurrent firings of one tick exactly one wins', async ({ backend, at }) => {
      const record = await create(backend, {}, at(60_000), at(0));
      const results = await Promise.all(
        Array.from({ length: 8 }, () =>
          backend.fireSchedule({
            name: 'nightly',
            expectedNextRunAt: at(60_000),
            expectedVersion: record.version,
            nextRunAt: at(120_000),
            jobs: [tickJob('nightly', at(60_000))],
            lastRunAt: at(60_000),
            now: at(61_000),
          }),
        ),
      );
      assert.equal(results.filter((r) => r.fired).length, 1);
      assert.deepEqual(await backend.countJobs({ queue: 'reports' }), [{ queue: 'reports', state: 'queued', count: 1 }]);
    });

    suite.test('a removed schedule cannot be fired', async ({ backend, at }) => {
      const record = await create(backend, {}, at(60_000), at(0));
      await backend.removeSchedule('nightly');
      const result = await backend.fireSchedule({
        name: 'nightly',
        expectedNextRunAt: at(60_000),
        expectedVersion: record.version,
        nextRunAt: at(120_000),
        jobs: [tickJob('nightly', at(60_000))],
        lastRunAt: at(60_000),
        now: at(61_000),
      });
      assert.equal(result.fired, false);
      assert.deepEqual(await backend.countJobs({ queue: 'reports' }), []);
    });
  });
}
