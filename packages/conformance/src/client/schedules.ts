/**
 * Client-level schedules (`client.schedules`): validation that changes nothing, the leader's
 * runner firing one job per tick under deterministic ids, pause (ticks skipped for good) and
 * resume, runNow (not a tick), remove, backfill after downtime, and nextRuns in a time zone.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NotFoundError, ValidationError, type Client, type JobRecord } from '@spindle/core';
import { makeClient, waitFor, withClient, type BackendFactory } from './harness.js';

const SECOND = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Jobs of a queue, oldest first. */
async function jobsOf(client: Client, queue: string): Promise<JobRecord[]> {
  return (await client.listJobs({ filter: { queue }, limit: 1000, order: 'oldest' })).jobs;
}

/** Tick times (ms) of the schedule's tick jobs, ascending. */
function ticksOf(jobs: JobRecord[], schedule: string): number[] {
  const prefix = `schedule:${schedule}:`;
  return jobs.filter((j) => j.id.startsWith(prefix)).map((j) => Date.parse(j.id.slice(prefix.length))).sort((a, b) => a - b);
}

export function scheduleClientTests(factory: BackendFactory): void {
  describe(`${factory.name}: client schedules`, () => {
    it('validates every call and changes nothing on bad input', () =>
      withClient(
        factory,
        async (client) => {
          const bad: Array<[string, unknown]> = [
            ['s', { cron: 'not cron', queue: 'q' }],
            ['s', { cron: '* * * * *', timezone: 'Nowhere/Land', queue: 'q' }],
            ['s', { cron: '* * * * *', everyMs: 5000, queue: 'q' }],
            ['s', { queue: 'q' }],
            ['s', { everyMs: 999, queue: 'q' }],
            ['s', { everyMs: 1000, queue: 'q', bogus: true }],
            ['s', { everyMs: 1000, queue: 'q', jobOptions: { uniqueKey: 'k' } }],
            ['s', { everyMs: 1000, queue: 'bad queue' }],
            ['bad name', { everyMs: 1000, queue: 'q' }],
          ];
          for (const [name, spec] of bad) {
            await assert.rejects(client.schedules.upsert(name, spec as never), ValidationError, JSON.stringify(spec));
          }
          assert.deepEqual(await client.schedules.list(), []);
          for (const call of [
            () => client.schedules.get('bad name'),
            () => client.schedules.pause(''),
            () => client.schedules.resume('x/y'),
            () => client.schedules.runNow(42 as never),
            () => client.schedules.remove('a b'),
            () => client.schedules.nextRuns('ok', 0),
            () => client.schedules.nextRuns('ok', 101),
            () => client.schedules.list({ limit: 0 }),
            () => client.schedules.list({ nope: 1 } as never),
          ]) {
            await assert.rejects(call(), ValidationError);
          }
          assert.equal(await client.schedules.get('missing'), null);
          assert.equal(await client.schedules.remove('missing'), false);
          for (const call of [() => client.schedules.pause('missing'), () => client.schedules.resume('missing'), () => client.schedules.runNow('missing'), () => client.schedules.nextRuns('missing')]) {
            await assert.rejects(call(), NotFoundError);
          }
          assert.deepEqual(await client.listJobs(), { jobs: [], nextCursor: null });
        },
        { maintenance: false },
      ));

    it('the leader fires an interval schedule once per tick, with deterministic ids, payload and options', () =>
      withClient(factory, async (client) => {
        const { schedule, created } = await client.schedules.upsert('every-second', {
          everyMs: SECOND,
          queue: 'ticks',
          jobName: 'beat',
          payload: { n: 1 },
          jobOptions: { priority: 'high', maxRetries: 0 },
        });
        assert.equal(created, true);
        assert.equal(schedule.nextRunAt!.getTime() % SECOND, 0);
        const jobs = await waitFor(async () => {
          const list = await jobsOf(client, 'ticks');
          return list.length >= 3 ? list : null;
        }, 'three ticks', 15_000);
        const ticks = ticksOf(jobs, 'every-second');
        assert.equal(ticks.length, jobs.length, 'every job is a tick job');
        for (let i = 1; i < ticks.length; i++) assert.equal(ticks[i]! - ticks[i - 1]!, SECOND, 'consecutive ticks, none skipped or repeated');
        for (const job of jobs) {
          assert.deepEqual([job.name, job.payload, job.priority, job.maxRetries], ['beat', { n: 1 }, 250, 0]);
          assert.equal(job.runAt.getTime(), Date.parse(job.id.slice('schedule:every-second:'.length)));
        }
        const stored = await client.schedules.get('every-second');
        assert.ok(stored!.lastRunAt!.getTime() >= ticks[2]!);
        assert.match(stored!.lastJobId!, /^schedule:every-second:/);
        assert.ok(stored!.nextRunAt!.getTime() > stored!.lastRunAt!.getTime());
      }));

    it('pause skips ticks for good, resume goes on from the next tick, runNow is not a tick, remove stops it', () =>
      withClient(factory, async (client) => {
        await client.schedules.upsert('pausable', { everyMs: SECOND, queue: 'pp' });
        await waitFor(async () => (await jobsOf(client, 'pp')).length >= 1, 'a first tick', 15_000);
        const paused = await client.schedules.pause('pausable');
        assert.deepEqual([paused.paused, paused.nextRunAt], [true, null]);
        const pausedAt = Date.now();
        const before = (await jobsOf(client, 'pp')).length;

        const manual = await client.schedules.runNow('pausable');
        assert.equal(manual.inserted, true);
        assert.doesNotMatch(manual.id, /^schedule:/);
        const unchanged = await client.schedules.get('pausable');
        assert.deepEqual([unchanged?.paused, unchanged?.lastRunAt, unchanged?.nextRunAt], [true, paused.lastRunAt, null]);

        await sleep(2_500);
        assert.equal(ticksOf(await jobsOf(client, 'pp'), 'pausable').length, before, 'no tick while paused');
        const resumed = await client.schedules.resume('pausable');
        const resumedAt = Date.now();
        assert.equal(resumed.paused, false);
        assert.ok(resumed.nextRunAt!.getTime() > resumedAt - 50);
        assert.equal((await client.schedules.resume('pausable')).nextRunAt?.getTime(), resumed.nextRunAt!.getTime(), 'resuming an active schedule changes nothing');
        const ticks = await waitFor(async () => {
          const t = ticksOf(await jobsOf(client, 'pp'), 'pausable');
          return t.length > before ? t : null;
        }, 'a tick after resume', 15_000);
        const skipped = ticks.filter((t) => t > pausedAt + 50 && t < resumedAt - 50);
        assert.deepEqual(skipped, [], 'ticks that fell while paused are never fired');

        assert.equal(await client.schedules.remove('pausable'), true);
        const count = (await jobsOf(client, 'pp')).length;
        await sleep(1_500);
        assert.equal((await jobsOf(client, 'pp')).length, count, 'a removed schedule fires nothing');
      }));

    it('after downtime the newest due tick fires with up to `backfill` older ones', async () => {
      const { backend, cleanup } = await factory.makeBackend();
      const producer = makeClient(backend, { maintenance: false });
      const leader = makeClient(backend);
      try {
        const { schedule } = await producer.schedules.upsert('catch-up', { everyMs: SECOND, queue: 'cu', backfill: 2 });
        const first = schedule.nextRunAt!.getTime();
        await sleep(4_300); // no leader: ticks pile up
        await leader.start();
        const ticks = await waitFor(async () => {
          const t = ticksOf(await jobsOf(producer, 'cu'), 'catch-up');
          return t.length >= 3 ? t : null;
        }, 'the catch-up ticks', 15_000);
        const firstBatch = ticks.slice(0, 3);
        assert.deepEqual([firstBatch[1]! - firstBatch[0]!, firstBatch[2]! - firstBatch[1]!], [SECOND, SECOND]);
        assert.ok(firstBatch[0]! > first, `the oldest missed ticks were skipped (first ${first}, fired ${firstBatch[0]})`);
      } finally {
        await leader.close({ graceMs: 200 });
        await producer.close({ graceMs: 200 });
        await cleanup();
      }
    });

    it('nextRuns previews cron ticks in the schedule time zone; re-declaring keeps the next run', () =>
      withClient(
        factory,
        async (client) => {
          const spec = { cron: '0 9 * * *', timezone: 'Europe/Berlin', queue: 'daily' };
          const { schedule } = await client.schedules.upsert('morning', spec);
          const runs = await client.schedules.nextRuns('morning', 3);
          assert.equal(runs.length, 3);
          assert.equal(runs[0]!.getTime(), schedule.nextRunAt!.getTime());
          for (const run of runs) assert.ok([7, 8].includes(run.getUTCHours()) && run.getUTCMinutes() === 0, run.toISOString());
          const again = await client.schedules.upsert('morning', spec);
          assert.deepEqual([again.created, again.changed, again.schedule.version], [false, false, 1]);
          await client.schedules.pause('morning');
          assert.equal((await client.schedules.nextRuns('morning', 2)).length, 2, 'a paused schedule previews as if resumed now');
          const listed = await client.schedules.list({ queue: 'daily' });
          assert.deepEqual(listed.map((s) => [s.name, s.cron, s.timezone, s.paused]), [['morning', '0 9 * * *', 'Europe/Berlin', true]]);
        },
        { maintenance: false },
      ));
  });
}
