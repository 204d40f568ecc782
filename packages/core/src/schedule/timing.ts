/**
 * When a schedule's ticks fall: cron expressions through croner (time zones, optional seconds,
 * DST as croner defines it) and fixed intervals by arithmetic. Pure computation: nothing here
 * reads a clock, stores anything or schedules a timer (croner is only asked for dates).
 *
 * Invariants:
 * - A tick is a whole millisecond instant. `nextAfter(t)` is the first tick strictly after `t`;
 *   `latestAtOrBefore` / `ticksUpTo` never return a tick after their `now`.
 * - Interval ticks are the multiples of `everyMs` since the Unix epoch, so every process computes
 *   the same ticks without any shared state (every 60000 → on each UTC minute).
 * - Tick job ids are `schedule:<name>:<ISO 8601 tick>`: deterministic per (schedule, tick), so a
 *   second insert of the same tick is a no-op (docs/decisions/0011-schedules.md). They match
 *   JOB_ID_RE because schedule names are identifiers and ISO instants use only [0-9TZ:.-].
 */
import { Cron } from 'croner';

/** How a schedule's ticks are computed. */
export interface Timing {
  /** The first tick strictly after `ms`, or null when there is none. */
  nextAfter(ms: number): number | null;
  /** The newest `count` ticks `t` with `from <= t <= now`, oldest first. */
  ticksUpTo(from: number, now: number, count: number): number[];
}

/** Cron patterns: 5 fields (minutes) or 6 (seconds first), or a croner nickname (`@daily`). */
const CRON_SHAPE = /^(@[a-z]+|\S+(\s+\S+){4,5})$/i;

export const MAX_CRON_CHARS = 256;

/** The croner instance of a pattern, or the message of why it is not one. */
export function parseCron(pattern: string, timezone: string): Cron | string {
  if (!CRON_SHAPE.test(pattern.trim())) return 'must be a cron expression of 5 fields (minute hour day month weekday), 6 fields (seconds first) or a nickname such as @daily';
  try {
    // paused + no function: croner only computes, it never starts a timer.
    return new Cron(pattern.trim(), { paused: true, timezone, mode: '5-or-6-parts' });
  } catch (err) {
    return `is not a valid cron expression: ${err instanceof Error ? err.message.replace(/^CronPattern: /, '') : String(err)}`;
  }
}

/** The canonical name of an IANA time zone (`europe/berlin` → `Europe/Berlin`), or null. */
export function canonicalTimezone(name: string): string | null {
  if (name.length === 0 || name.length > 64) return null;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

class CronTiming implements Timing {
  constructor(private readonly cron: Cron) {}

  nextAfter(ms: number): number | null {
    return this.cron.nextRun(new Date(ms))?.getTime() ?? null;
  }

  ticksUpTo(from: number, now: number, count: number): number[] {
    if (count <= 0 || from > now) return [];
    // Forward from `from` (the usual case: one or a few due ticks), at most count + 1 steps.
    const ticks: number[] = [];
    for (let t = this.nextAfter(from - 1); t !== null && t <= now; t = this.nextAfter(t)) {
      ticks.push(t);
      if (ticks.length > count) break;
    }
    if (ticks.length <= count) return ticks;
    // More than `count` are due (long downtime): the newest ones, searching back from now.
    // croner's previousRuns excludes a run exactly at its reference: look from 1 ms later.
    return this.cron
      .previousRuns(count, new Date(now + 1))
      .map((d) => d.getTime())
      .filter((t) => t >= from && t <= now)
      .reverse();
  }
}

class IntervalTiming implements Timing {
  constructor(private readonly everyMs: number) {}

  nextAfter(ms: number): number {
    return (Math.floor(ms / this.everyMs) + 1) * this.everyMs;
  }

  ticksUpTo(from: number, now: number, count: number): number[] {
    if (count <= 0 || from > now) return [];
    const latest = Math.floor(now / this.everyMs) * this.everyMs;
    const ticks: number[] = [];
    for (let t = latest; ticks.length < count && t >= from; t -= this.everyMs) ticks.push(t);
    return ticks.reverse();
  }
}

const cache = new Map<string, Timing>();
const CACHE_LIMIT = 500;

/** The timing of a (validated) definition; cron instances are cached by pattern and zone. */
export function timingOf(def: { cron: string | null; everyMs: number | null; timezone: string }): Timing {
  if (def.everyMs !== null) return new IntervalTiming(def.everyMs);
  const key = `${def.timezone}\u0000${def.cron}`;
  let timing = cache.get(key);
  if (timing === undefined) {
    const cron = parseCron(def.cron ?? '', def.timezone);
    if (typeof cron === 'string') throw new Error(`schedule cron ${JSON.stringify(def.cron)} ${cron}`);
    timing = new CronTiming(cron);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
    cache.set(key, timing);
  }
  return timing;
}

/** Most ticks a runner fires for the time it has been running, in one go (a stalled runner). */
export const MAX_RUNNING_TICKS = 1000;

/**
 * What firing a due schedule means at `now` (docs/decisions/0011): `first` is its stored next
 * run (a tick, <= now); `since` is when the firing runner started (its first look at the
 * database clock). Ticks that came due while the runner ran are fired, however late (at most
 * MAX_RUNNING_TICKS). Ticks that came due before — while no runner ran — were *missed*: the
 * newest due tick always fires, up to `backfill` older missed ones fire with it, the rest are
 * skipped. `next` is the first tick after now.
 */
export function dueTicks(timing: Timing, first: number, now: number, backfill: number, since = Infinity): { fire: number[]; next: number | null } {
  const runningFrom = Math.max(first, since);
  const running = runningFrom <= now ? timing.ticksUpTo(runningFrom, now, MAX_RUNNING_TICKS) : [];
  const missed = running.length === 0 ? timing.ticksUpTo(first, now, backfill + 1) : timing.ticksUpTo(first, running[0]! - 1, backfill);
  const fire = [...missed, ...running];
  // `first` is itself a due tick: never fire nothing for a due schedule.
  return { fire: fire.length === 0 ? [first] : fire, next: timing.nextAfter(now) };
}

/** The next `count` ticks strictly after `ms`. */
export function upcomingTicks(timing: Timing, ms: number, count: number): number[] {
  const ticks: number[] = [];
  let t: number | null = ms;
  while (ticks.length < count && t !== null) {
    t = timing.nextAfter(t);
    if (t !== null) ticks.push(t);
  }
  return ticks;
}

/** The deterministic job id of one tick of a schedule. */
export function tickJobId(schedule: string, tickMs: number): string {
  return `schedule:${schedule}:${new Date(tickMs).toISOString()}`;
}
