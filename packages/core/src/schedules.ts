/**
 * `client.schedules`: cron and fixed-interval schedules stored in the database
 * (docs/decisions/0011-schedules.md) — define (`upsert`), read (`get`, `list`, `nextRuns`),
 * `pause`/`resume`, `runNow` and `remove`. The leader's ScheduleRunner
 * (services/schedule-runner.ts) fires them.
 *
 * Invariants:
 * - Every method validates its input first and throws ValidationError before anything is
 *   written; a name that matches no schedule is NotFoundError (`get` answers null instead).
 * - Times are computed here (croner / interval arithmetic) from the database clock and passed to
 *   the backend; the database stays the source of truth. `resume` computes from the definition
 *   it read and applies it by compare-and-set on its version, re-reading after a conflict.
 * - `runNow` enqueues one job with a fresh id, due now; it is not a tick: the schedule's next
 *   run, last run and backfill are untouched.
 * - Local changes wake this process's runner at once; other processes' changes are seen at its
 *   next poll (at most `scheduleIntervalMs` later).
 */
import type { ScheduleRecord } from './backend/schedules.js';
import type { Client } from './client.js';
import { ConflictError, NotFoundError } from './errors.js';
import type { AddResult } from './queue.js';
import { checkScheduleSpec, scheduleJob, toSchedule, type Schedule, type ScheduleSpec } from './schedule/spec.js';
import { timingOf, upcomingTicks } from './schedule/timing.js';
import { checkIdentifier, checkInt, checkKnownKeys, checkPlainObject, Issues } from './validate.js';

export interface UpsertScheduleOutcome {
  schedule: Schedule;
  /** There was no schedule of that name. */
  created: boolean;
  /** Something was written (false: the stored schedule was already exactly this). */
  changed: boolean;
}

export interface ListSchedulesOptions {
  /** Only schedules enqueuing into this queue. */
  queue?: string;
  /** 1..1000, default 1000. */
  limit?: number;
  /** Names after this one (listing is by name): the last name of the previous page. */
  after?: string;
}

/** Attempts of `resume` against concurrent redefinitions before giving up. */
const RESUME_ATTEMPTS = 5;
export const MAX_NEXT_RUNS = 100;

function checkName(name: unknown): string {
  const issues = new Issues();
  checkIdentifier(issues, 'name', name);
  issues.throwIfAny();
  return name as string;
}

export class Schedules {
  constructor(private readonly client: Client) {}

  /**
   * Creates or redefines the schedule `name`. Redefining replaces every field of the spec
   * (omitted ones take their defaults) except `paused`, kept unless given. When the timing
   * (cron, everyMs, timezone) is unchanged the next run is kept, so every process may declare
   * its schedules at boot without moving them.
   */
  async upsert(name: string, spec: ScheduleSpec): Promise<UpsertScheduleOutcome> {
    const issues = new Issues();
    const checked = checkScheduleSpec(issues, name, spec, this.client.maxPayloadBytes);
    issues.throwIfAny();
    const { definition, paused } = checked!;
    const result = await this.client.run(async (b) => {
      const now = await b.now();
      const next = paused === true ? null : timingOf(definition).nextAfter(now.getTime());
      return b.upsertSchedule({ schedule: definition, paused, nextRunAt: next === null ? null : new Date(next) });
    });
    if (result.changed) this.client.wakeScheduleRunner();
    return { schedule: toSchedule(result.record), created: result.created, changed: result.changed };
  }

  /** The schedule, or null. */
  async get(name: string): Promise<Schedule | null> {
    const record = await this.record(checkName(name));
    return record && toSchedule(record);
  }

  /** Schedules by name (with their next run times). */
  async list(options: ListSchedulesOptions = {}): Promise<Schedule[]> {
    const issues = new Issues();
    if (!checkPlainObject(issues, 'options', options)) issues.throwIfAny();
    checkKnownKeys(issues, 'options', options as Record<string, unknown>, ['queue', 'limit', 'after']);
    if (options.queue !== undefined) checkIdentifier(issues, 'options.queue', options.queue);
    if (options.after !== undefined) checkIdentifier(issues, 'options.after', options.after);
    const limit = options.limit ?? 1000;
    checkInt(issues, 'options.limit', limit, 1, 1000);
    issues.throwIfAny();
    const records = await this.client.run((b) =>
      b.listSchedules({ limit, ...(options.queue !== undefined ? { queue: options.queue } : {}), ...(options.after !== undefined ? { after: options.after } : {}) }),
    );
    return records.map(toSchedule);
  }

  /**
   * The next `count` (1..100, default 5) times the schedule will enqueue a job: from its stored
   * next run; for a paused schedule, the ticks it would fire if resumed now.
   */
  async nextRuns(name: string, count = 5): Promise<Date[]> {
    const issues = new Issues();
    checkIdentifier(issues, 'name', name);
    checkInt(issues, 'count', count, 1, MAX_NEXT_RUNS);
    issues.throwIfAny();
    const record = await this.require(name);
    const timing = timingOf(record);
    if (record.nextRunAt !== null) {
      const first = record.nextRunAt.getTime();
      return [first, ...upcomingTicks(timing, first, count - 1)].map((t) => new Date(t));
    }
    const now = await this.client.now();
    return upcomingTicks(timing, now.getTime(), count).map((t) => new Date(t));
  }

  /** Stops firing: ticks that fall while paused are skipped for good (never backfilled). */
  async pause(name: string): Promise<Schedule> {
    const checked = checkName(name);
    const record = await this.client.run((b) => b.pauseSchedule({ name: checked }));
    if (!record) throw new NotFoundError(`no schedule ${checked}`);
    return toSchedule(record);
  }

  /** Fires again from the first tick after now. Resuming an active schedule changes nothing. */
  async resume(name: string): Promise<Schedule> {
    const checked = checkName(name);
    for (let attempt = 1; attempt <= RESUME_ATTEMPTS; attempt++) {
      const record = await this.require(checked);
      if (!record.paused) return toSchedule(record);
      const outcome = await this.client.run(async (b) => {
        const now = await b.now();
        const next = timingOf(record).nextAfter(now.getTime());
        return b.resumeSchedule({ name: checked, version: record.version, nextRunAt: next === null ? null : new Date(next) });
      });
      if (outcome === 'not_found') break;
      if (outcome === 'conflict') continue;
      if (outcome === 'resumed') this.client.wakeScheduleRunner();
      return toSchedule(await this.require(checked));
    }
    const exists = await this.record(checked);
    if (!exists) throw new NotFoundError(`no schedule ${checked}`);
    throw new ConflictError(`schedule ${checked} kept changing while being resumed; try again`);
  }

  /** Enqueues one job of the schedule now (a fresh id; not a tick: the schedule is unchanged). */
  async runNow(name: string): Promise<AddResult> {
    const record = await this.require(checkName(name));
    const [result] = await this.client.insert([scheduleJob(record, null)], undefined);
    return result!;
  }

  /** Deletes the schedule (jobs it enqueued stay). false when there was none. */
  async remove(name: string): Promise<boolean> {
    const checked = checkName(name);
    const removed = await this.client.run((b) => b.removeSchedule(checked));
    if (removed) this.client.wakeScheduleRunner();
    return removed;
  }

  private record(name: string): Promise<ScheduleRecord | null> {
    return this.client.run((b) => b.getSchedule(name));
  }

  private async require(name: string): Promise<ScheduleRecord> {
    const record = await this.record(name);
    if (!record) throw new NotFoundError(`no schedule ${name}`);
    return record;
  }
}
