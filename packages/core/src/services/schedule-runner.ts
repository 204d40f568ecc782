/**
 * The schedule runner: the leader-only service that fires due schedules
 * (docs/decisions/0011-schedules.md). Started and stopped with maintenance leadership, like the
 * promoter, rescuer and pruner.
 *
 * Each round asks the backend for the schedules due by the database clock, computes each one's
 * ticks (timing.ts `dueTicks`: every tick that came due while this runner ran, however late —
 * a busy machine delays ticks but never drops them; of the ticks missed before it started, the
 * newest and up to `backfill` older ones; and the next tick after now) and fires them with `fireSchedule`: one transaction that advances the schedule by a
 * compare-and-set on its (nextRunAt, version) and inserts the tick jobs under deterministic ids.
 * Then it sleeps until the earliest next run, at most `intervalMs` (schedules defined by other
 * processes are seen within that bound); local schedule changes wake it at once.
 *
 * Invariants:
 * - Exactly one job per tick across any number of processes, even when the leader changes
 *   mid-way: a second runner (an old leader that has not noticed its demotion, or the new one)
 *   computing the same ticks loses the compare-and-set and writes nothing; and a tick's job id is
 *   `schedule:<name>:<tick>`, so even a repeated insert of a tick would be a no-op.
 * - Ticks are judged by the database clock (`dueSchedules().now`), never by this host's.
 * - One bad schedule (e.g. options that no longer validate) is logged and skipped; it never stops
 *   the others.
 */
import type { Backend } from '../backend/backend.js';
import type { Logger } from '../logger.js';
import { scheduleJob } from '../schedule/spec.js';
import { dueTicks, timingOf } from '../schedule/timing.js';
import { Loop, RESUME_RETRY_CAP_MS, type Service } from './loop.js';

export interface ScheduleRunnerOptions {
  backend: Backend;
  logger: Logger;
  /** Longest sleep between checks (it wakes earlier for due schedules). */
  intervalMs: number;
}

/** Due schedules fetched per round; a full batch means another round at once. */
const BATCH = 100;

export class ScheduleRunner implements Service {
  private readonly loop: Loop;
  /** When this runner started (database clock of its first round): ticks due since are its own. */
  private since = Infinity;

  constructor(private readonly options: ScheduleRunnerOptions) {
    this.loop = new Loop({ name: 'schedule runner', intervalMs: options.intervalMs, maxBackoffMs: Math.max(options.intervalMs, RESUME_RETRY_CAP_MS), logger: options.logger, tick: () => this.tick() });
  }

  start(): void {
    if (this.loop.started) return;
    this.since = Infinity; // set by the first round: a new tenure
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** A schedule changed in this process: re-plan now (a no-op when not running). */
  wake(): void {
    if (this.loop.started) this.loop.wake();
  }

  private async tick(): Promise<number> {
    const { backend, logger, intervalMs } = this.options;
    const { now, due, nextAt } = await backend.dueSchedules({ limit: BATCH });
    if (this.since === Infinity) this.since = now.getTime();
    let fired = 0;
    // The earliest next run: of the schedules not due, and of those fired now (their new one).
    let earliest = nextAt?.getTime() ?? Infinity;
    for (const record of due) {
      try {
        if (record.nextRunAt === null) continue;
        const { fire, next } = dueTicks(timingOf(record), record.nextRunAt.getTime(), now.getTime(), record.backfill, this.since);
        const jobs = fire.map((tick) => scheduleJob(record, tick));
        const result = await backend.fireSchedule({
          name: record.name,
          expectedNextRunAt: record.nextRunAt,
          expectedVersion: record.version,
          nextRunAt: next === null ? null : new Date(next),
          jobs,
          lastRunAt: fire.length === 0 ? null : new Date(fire[fire.length - 1]!),
        });
        if (result.fired) fired += 1;
        if (result.fired && next !== null) earliest = Math.min(earliest, next);
        const oldest = fire[0];
        if (result.fired && oldest !== undefined && oldest > record.nextRunAt.getTime()) {
          logger.warn(
            { schedule: record.name, missedFrom: record.nextRunAt.toISOString(), firedFrom: new Date(oldest).toISOString(), backfill: record.backfill },
            'spindle: a schedule missed ticks (downtime?): those beyond its backfill were skipped',
          );
        }
      } catch (err) {
        logger.warn({ err, schedule: record.name }, 'spindle: firing a schedule failed');
      }
    }
    if (due.length === BATCH && fired > 0) return 0;
    return Math.max(0, Math.min(intervalMs, earliest - now.getTime()));
  }
}
