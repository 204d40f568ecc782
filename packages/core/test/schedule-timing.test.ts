/**
 * Schedule timing (schedule/timing.ts) and spec validation (schedule/spec.ts), pure: interval
 * ticks on epoch multiples, cron ticks in a time zone with optional seconds, DST as croner
 * defines it, which ticks fire after downtime (the newest due one plus `backfill` older ones),
 * deterministic tick ids, and the validation messages of bad specs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Issues, JOB_ID_RE } from '../src/index.js';
import { checkScheduleSpec, scheduleJob } from '../src/schedule/spec.js';
import { dueTicks, tickJobId, timingOf, upcomingTicks } from '../src/schedule/timing.js';
import { planScheduleUpsert } from '../src/backend/schedule-plan.js';

const t = (iso: string) => Date.parse(iso);
const iso = (ms: number[]) => ms.map((m) => new Date(m).toISOString());
const every = (ms: number) => timingOf({ cron: null, everyMs: ms, timezone: 'UTC' });
const cron = (expr: string, timezone = 'UTC') => timingOf({ cron: expr, everyMs: null, timezone });

describe('schedule timing', () => {
  it('interval ticks are the multiples of everyMs since the epoch, strictly after the given time', () => {
    const minute = every(60_000);
    assert.equal(minute.nextAfter(t('2026-01-01T10:00:30Z')), t('2026-01-01T10:01:00Z'));
    assert.equal(minute.nextAfter(t('2026-01-01T10:01:00Z')), t('2026-01-01T10:02:00Z'));
    assert.deepEqual(iso(upcomingTicks(every(1000), t('2026-01-01T00:00:00.400Z'), 3)), ['2026-01-01T00:00:01.000Z', '2026-01-01T00:00:02.000Z', '2026-01-01T00:00:03.000Z']);
  });

  it('cron ticks honour the time zone and optional seconds', () => {
    assert.deepEqual(iso(upcomingTicks(cron('0 9 * * *', 'Europe/Berlin'), t('2026-01-10T12:00:00Z'), 2)), ['2026-01-11T08:00:00.000Z', '2026-01-12T08:00:00.000Z']);
    assert.deepEqual(iso(upcomingTicks(cron('0 9 * * *', 'Europe/Berlin'), t('2026-07-10T12:00:00Z'), 1)), ['2026-07-11T07:00:00.000Z']);
    assert.deepEqual(iso(upcomingTicks(cron('*/15 * * * * *'), t('2026-01-01T00:00:01Z'), 3)), ['2026-01-01T00:00:15.000Z', '2026-01-01T00:00:30.000Z', '2026-01-01T00:00:45.000Z']);
    assert.deepEqual(iso(upcomingTicks(cron('@daily'), t('2026-01-01T05:00:00Z'), 1)), ['2026-01-02T00:00:00.000Z']);
  });

  it('DST: a fixed-time job in the spring gap runs after the gap, once on the doubled autumn hour; interval patterns skip / repeat', () => {
    // Europe/Berlin: 2026-03-29 02:00 → 03:00 (CET → CEST); 2026-10-25 03:00 → 02:00 (CEST → CET).
    const fixed = cron('30 2 * * *', 'Europe/Berlin');
    assert.deepEqual(iso(upcomingTicks(fixed, t('2026-03-28T12:00:00Z'), 2)), ['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    assert.deepEqual(iso(upcomingTicks(fixed, t('2026-10-24T12:00:00Z'), 2)), ['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    const half = cron('*/30 * * * *', 'Europe/Berlin');
    // The repeated hour 02:00-03:00 fires on both occurrences (00:00Z, 00:30Z CEST; 01:00Z, 01:30Z CET).
    assert.deepEqual(iso(upcomingTicks(half, t('2026-10-24T23:45:00Z'), 4)), ['2026-10-25T00:00:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-25T01:00:00.000Z', '2026-10-25T01:30:00.000Z']);
  });

  it('after downtime the newest due tick fires, with up to `backfill` older ones; the next is the first tick after now', () => {
    const now = t('2026-01-01T00:00:10.500Z');
    const first = t('2026-01-01T00:00:03Z');
    const none = dueTicks(every(1000), first, now, 0);
    assert.deepEqual(iso(none.fire), ['2026-01-01T00:00:10.000Z']);
    assert.equal(none.next, t('2026-01-01T00:00:11Z'));
    assert.deepEqual(iso(dueTicks(every(1000), first, now, 2).fire), ['2026-01-01T00:00:08.000Z', '2026-01-01T00:00:09.000Z', '2026-01-01T00:00:10.000Z']);
    assert.equal(dueTicks(every(1000), first, now, 1000).fire.length, 8, 'never older than the stored next run');
    const c = dueTicks(cron('* * * * * *'), first, now, 2);
    assert.deepEqual(iso(c.fire), ['2026-01-01T00:00:08.000Z', '2026-01-01T00:00:09.000Z', '2026-01-01T00:00:10.000Z']);
    assert.equal(c.next, t('2026-01-01T00:00:11Z'));
    // On time: exactly the stored tick.
    assert.deepEqual(iso(dueTicks(cron('0 * * * *'), t('2026-01-01T05:00:00Z'), t('2026-01-01T05:00:00.020Z'), 5).fire), ['2026-01-01T05:00:00.000Z']);
    // A tick exactly at now is due.
    assert.deepEqual(iso(dueTicks(every(1000), first, t('2026-01-01T00:00:03Z'), 0).fire), ['2026-01-01T00:00:03.000Z']);
    // More due ticks than asked for: the newest ones (cron searches back from now).
    assert.deepEqual(iso(dueTicks(cron('* * * * * *'), t('2026-01-01T00:00:00Z'), t('2026-01-02T00:00:00.300Z'), 1).fire), ['2026-01-01T23:59:59.000Z', '2026-01-02T00:00:00.000Z']);
  });

  it('a running runner fires every tick that came due while it ran, however late; only ticks from before it started are missed', () => {
    const since = t('2026-01-01T00:00:07.400Z');
    // Stored next run 00:03; the runner started at 07.4 and looks again at 10.5 (late: a busy machine).
    for (const timing of [every(1000), cron('* * * * * *')]) {
      const late = dueTicks(timing, t('2026-01-01T00:00:03Z'), t('2026-01-01T00:00:10.500Z'), 0, since);
      assert.deepEqual(iso(late.fire), ['2026-01-01T00:00:08.000Z', '2026-01-01T00:00:09.000Z', '2026-01-01T00:00:10.000Z'], 'its own ticks; the missed ones (3..7) skipped');
      const backfilled = dueTicks(timing, t('2026-01-01T00:00:03Z'), t('2026-01-01T00:00:10.500Z'), 2, since);
      assert.deepEqual(iso(backfilled.fire), ['2026-01-01T00:00:06.000Z', '2026-01-01T00:00:07.000Z', '2026-01-01T00:00:08.000Z', '2026-01-01T00:00:09.000Z', '2026-01-01T00:00:10.000Z']);
      const onTime = dueTicks(timing, t('2026-01-01T00:00:12Z'), t('2026-01-01T00:00:12.010Z'), 5, since);
      assert.deepEqual(iso(onTime.fire), ['2026-01-01T00:00:12.000Z']);
      // The runner's first round (since = now): everything due is from before it started.
      const first = dueTicks(timing, t('2026-01-01T00:00:03Z'), since, 1, since);
      assert.deepEqual(iso(first.fire), ['2026-01-01T00:00:06.000Z', '2026-01-01T00:00:07.000Z']);
    }
  });

  it('tick ids are deterministic and valid job ids', () => {
    const id = tickJobId('nightly.report_v2-x', t('2026-01-01T03:00:00Z'));
    assert.equal(id, 'schedule:nightly.report_v2-x:2026-01-01T03:00:00.000Z');
    assert.match(id, JOB_ID_RE);
    assert.match(tickJobId('a'.repeat(128), Date.now()), JOB_ID_RE);
  });
});

describe('schedule specs', () => {
  const check = (name: unknown, spec: unknown) => {
    const issues = new Issues();
    const result = checkScheduleSpec(issues, name, spec, 1024);
    return { result, paths: issues.list.map((i) => i.path), messages: issues.list.map((i) => `${i.path}: ${i.message}`).join('\n') };
  };

  it('accepts and normalises a valid spec', () => {
    const { result, messages } = check('nightly', { cron: '0  3 * * *', timezone: 'europe/berlin', queue: 'reports', payload: { a: 1 }, jobOptions: { priority: 'high', maxRetries: 1 }, backfill: 2 });
    assert.equal(messages, '');
    assert.deepEqual(result?.definition, {
      name: 'nightly',
      cron: '0 3 * * *',
      everyMs: null,
      timezone: 'Europe/Berlin',
      queue: 'reports',
      jobName: 'nightly',
      payload: '{"a":1}',
      jobOptions: '{"priority":"high","maxRetries":1}',
      backfill: 2,
    });
    assert.equal(result?.paused, null);
    const undefinedOptions = check('s', { everyMs: 1000, queue: 'q', timezone: undefined, jobOptions: { priority: undefined, maxRetries: 2 } });
    assert.equal(undefinedOptions.messages, '');
    assert.equal(undefinedOptions.result?.definition.jobOptions, '{"maxRetries":2}');
  });

  it('rejects bad specs naming each field', () => {
    const cases: Array<[unknown, unknown, string[]]> = [
      ['bad name!', { everyMs: 1000, queue: 'q' }, ['name']],
      ['s', { queue: 'q' }, ['spec']],
      ['s', { cron: '* * * * *', everyMs: 1000, queue: 'q' }, ['spec']],
      ['s', { cron: 'every day', queue: 'q' }, ['spec.cron']],
      ['s', { cron: '61 * * * *', queue: 'q' }, ['spec.cron']],
      ['s', { cron: '2027-01-01T00:00:00', queue: 'q' }, ['spec.cron']],
      ['s', { cron: '0 0 30 2 *', queue: 'q' }, ['spec.cron']],
      ['s', { cron: '* * * * * * *', queue: 'q' }, ['spec.cron']],
      ['s', { cron: '* * * * *', timezone: 'Mars/Olympus', queue: 'q' }, ['spec.timezone']],
      ['s', { everyMs: 999, queue: 'q' }, ['spec.everyMs']],
      ['s', { everyMs: 1500.5, queue: 'q' }, ['spec.everyMs']],
      ['s', { everyMs: 1000, timezone: 'UTC', queue: 'q' }, ['spec.timezone']],
      ['s', { everyMs: 1000 }, ['spec.queue']],
      ['s', { everyMs: 1000, queue: 'q', jobName: 'a b' }, ['spec.jobName']],
      ['s', { everyMs: 1000, queue: 'q', every: 5 }, ['spec.every']],
      ['s', { everyMs: 1000, queue: 'q', jobOptions: { id: 'x' } }, ['spec.jobOptions.id']],
      ['s', { everyMs: 1000, queue: 'q', jobOptions: { priority: 'urgent', maxRetries: -1 } }, ['spec.jobOptions.priority', 'spec.jobOptions.maxRetries']],
      ['s', { everyMs: 1000, queue: 'q', backfill: 1001 }, ['spec.backfill']],
      ['s', { everyMs: 1000, queue: 'q', paused: 'yes' }, ['spec.paused']],
      ['s', { everyMs: 1000, queue: 'q', payload: 'x'.repeat(2000) }, ['spec.payload']],
      ['s', { everyMs: 1000, queue: 'q', payload: { f: () => 1 } }, ['spec.payload.f']],
      ['s', null, ['spec']],
    ];
    for (const [name, spec, paths] of cases) {
      const { result, paths: got, messages } = check(name, spec);
      assert.equal(result, null, `${JSON.stringify(spec)} should be rejected`);
      assert.deepEqual(got, paths, `${JSON.stringify(spec)}:\n${messages}`);
    }
  });

  it('builds the tick job with the deterministic id, runAt = tick and the stored payload and options', () => {
    const { result } = check('nightly', { everyMs: 60_000, queue: 'reports', jobName: 'build', payload: { a: 1 }, jobOptions: { priority: 'low', timeoutMs: 5000 } });
    const record = { ...result!.definition, paused: false, nextRunAt: null, lastRunAt: null, lastJobId: null, version: 1, createdAt: new Date(), updatedAt: new Date() };
    const job = scheduleJob(record, t('2026-01-01T00:01:00Z'));
    assert.deepEqual(
      [job.id, job.queue, job.name, job.payload, job.priority, job.timeoutMs, job.maxRetries, job.runAt?.toISOString()],
      ['schedule:nightly:2026-01-01T00:01:00.000Z', 'reports', 'build', '{"a":1}', 750, 5000, 3, '2026-01-01T00:01:00.000Z'],
    );
    const now = scheduleJob(record, null);
    assert.notEqual(now.id, job.id);
    assert.equal(now.runAt, null);
  });

  it('upsert plans keep the next run of an unchanged timing and bump the version only on a new definition', () => {
    const def = check('s', { everyMs: 1000, queue: 'q' }).result!.definition;
    const stored = { ...def, paused: false, nextRunAt: new Date(5000), lastRunAt: null, lastJobId: null, version: 4, createdAt: new Date(0), updatedAt: new Date(0) };
    const at = new Date(9000);
    assert.deepEqual(planScheduleUpsert(null, { schedule: def, paused: null, nextRunAt: at }), { write: 'insert', paused: false, nextRunAt: at, version: 1 });
    assert.deepEqual(planScheduleUpsert(stored, { schedule: def, paused: null, nextRunAt: at }), { write: 'none', paused: false, nextRunAt: new Date(5000), version: 4 });
    assert.deepEqual(planScheduleUpsert(stored, { schedule: { ...def, backfill: 1 }, paused: null, nextRunAt: at }), { write: 'update', paused: false, nextRunAt: new Date(5000), version: 5 });
    assert.deepEqual(planScheduleUpsert(stored, { schedule: { ...def, everyMs: 2000 }, paused: null, nextRunAt: at }), { write: 'update', paused: false, nextRunAt: at, version: 5 });
    assert.deepEqual(planScheduleUpsert(stored, { schedule: def, paused: true, nextRunAt: at }), { write: 'update', paused: true, nextRunAt: null, version: 4 });
    assert.deepEqual(planScheduleUpsert({ ...stored, paused: true, nextRunAt: null }, { schedule: def, paused: false, nextRunAt: at }), { write: 'update', paused: false, nextRunAt: at, version: 4 });
  });
});
