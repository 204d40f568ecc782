/**
 * Schedules as callers write them (`client.schedules.upsert(name, spec)`), their validation, the
 * public `Schedule` shape, and the job each tick enqueues.
 *
 * Invariants:
 * - A spec that fails validation records every problem in `issues` and yields nothing: the
 *   caller throws before anything is written (DESIGN §3.6).
 * - Exactly one of `cron` / `everyMs`; `everyMs` >= 1000; `timezone` only with `cron` (stored
 *   canonical, default UTC); a cron expression must have a future tick.
 * - Job options reuse the core's job-option validation (buildJobInsert); options that make no
 *   sense per tick (`id`, `uniqueKey`, `delay`, `runAt`, `transaction`) are refused: a tick's id
 *   is derived from the schedule and its tick time, and it is due at its tick.
 */
import type { JobInsert } from '../backend/backend.js';
import type { ScheduleDefinition, ScheduleRecord } from '../backend/schedules.js';
import { buildJobInsert, type JobOptions } from '../job/options.js';
import { checkIdentifier, checkInt, checkKnownKeys, checkPlainObject, describe, Issues, MAX_DELAY_MS, serializeJson } from '../validate.js';
import { canonicalTimezone, MAX_CRON_CHARS, parseCron, tickJobId } from './timing.js';

/** The job options a schedule may set for the jobs it enqueues (same meaning as in queue.add). */
export type ScheduleJobOptions = Pick<JobOptions, 'priority' | 'maxRetries' | 'backoff' | 'timeoutMs' | 'removeOnComplete' | 'removeOnFail'>;

export const SCHEDULE_JOB_OPTION_KEYS = ['priority', 'maxRetries', 'backoff', 'timeoutMs', 'removeOnComplete', 'removeOnFail'] as const;

export interface ScheduleSpec {
  /**
   * A cron expression: 5 fields (`0 9 * * 1-5`), 6 with seconds first (`*\/10 * * * * *`), or a
   * nickname (`@daily`, `@hourly`…). Give either `cron` or `everyMs`.
   */
  cron?: string;
  /** A fixed interval in ms (>= 1000): ticks at the multiples of it since the Unix epoch. */
  everyMs?: number;
  /** IANA time zone the cron expression is read in (default UTC). Only with `cron`. */
  timezone?: string;
  /** The queue the jobs go to. */
  queue: string;
  /** The jobs' name (their type); default: the schedule's name. */
  jobName?: string;
  /** The jobs' payload (JSON); default null. */
  payload?: unknown;
  jobOptions?: ScheduleJobOptions;
  /**
   * After downtime, how many missed ticks (older than the newest due one, which always fires)
   * to enqueue as well; 0..1000, default 0: they are skipped.
   */
  backfill?: number;
  /** Set the paused flag; omitted: a new schedule is active, an existing one keeps its flag. */
  paused?: boolean;
}

export const SCHEDULE_SPEC_KEYS = ['cron', 'everyMs', 'timezone', 'queue', 'jobName', 'payload', 'jobOptions', 'backfill', 'paused'] as const;

export const MAX_BACKFILL = 1000;
export const MIN_EVERY_MS = 1000;

/** A stored schedule as the library returns it: the record, with its payload and job options parsed. */
export type Schedule = Omit<ScheduleRecord, 'payload' | 'jobOptions'> & { payload: unknown; jobOptions: ScheduleJobOptions };

/** Job options of a schedule, validated by the core's job-option rules (buildJobInsert). */
function checkJobOptions(issues: Issues, path: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (!checkPlainObject(issues, path, value)) return {};
  checkKnownKeys(issues, path, value, SCHEDULE_JOB_OPTION_KEYS);
  const local = new Issues();
  buildJobInsert(local, '', { queue: 'schedule-queue', maxPayloadBytes: Number.MAX_SAFE_INTEGER, customBackoff: false }, 'schedule-job', null, value);
  for (const issue of local.list) {
    // buildJobInsert names option paths `opts.*`; unknown keys were reported above already.
    if (issue.message.startsWith('is not a known option')) continue;
    issues.add(issue.path.replace(/^opts/, path), issue.message);
  }
  // An option given as undefined is an option not given (as in queue.add): not stored.
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}

/**
 * Validates `upsert(name, spec)`; returns the definition to store and the paused flag to set
 * (null: keep), or null with `issues` filled.
 */
export function checkScheduleSpec(
  issues: Issues,
  name: unknown,
  spec: unknown,
  maxPayloadBytes: number,
): { definition: ScheduleDefinition; paused: boolean | null } | null {
  const before = issues.list.length;
  checkIdentifier(issues, 'name', name);
  if (!checkPlainObject(issues, 'spec', spec)) return null;
  checkKnownKeys(issues, 'spec', spec, SCHEDULE_SPEC_KEYS);

  const hasCron = spec.cron !== undefined;
  const hasEvery = spec.everyMs !== undefined;
  if (hasCron === hasEvery) issues.add('spec', 'give exactly one of cron or everyMs');
  let timezone = 'UTC';
  if (spec.timezone !== undefined) {
    const canonical = typeof spec.timezone === 'string' ? canonicalTimezone(spec.timezone) : null;
    if (canonical === null) issues.add('spec.timezone', `must be an IANA time zone such as Europe/Berlin (got ${describe(spec.timezone)})`);
    else timezone = canonical;
    if (hasEvery) issues.add('spec.timezone', 'applies to cron only (everyMs ticks are multiples of the interval since the Unix epoch)');
  }
  let cron: string | null = null;
  if (hasCron) {
    if (typeof spec.cron !== 'string' || spec.cron.length === 0 || spec.cron.length > MAX_CRON_CHARS) {
      issues.add('spec.cron', `must be a cron expression of 1..${MAX_CRON_CHARS} characters (got ${describe(spec.cron)})`);
    } else {
      const parsed = parseCron(spec.cron, timezone);
      if (typeof parsed === 'string') issues.add('spec.cron', parsed);
      else if (parsed.nextRun(new Date()) === null) issues.add('spec.cron', 'never fires (no date matches it)');
      else cron = spec.cron.trim().replace(/\s+/g, ' ');
    }
  }
  if (hasEvery) checkInt(issues, 'spec.everyMs', spec.everyMs, MIN_EVERY_MS, MAX_DELAY_MS);
  checkIdentifier(issues, 'spec.queue', spec.queue);
  const jobName = spec.jobName === undefined ? name : spec.jobName;
  if (spec.jobName !== undefined) checkIdentifier(issues, 'spec.jobName', spec.jobName);
  const payload = serializeJson(issues, 'spec.payload', spec.payload === undefined ? null : spec.payload, maxPayloadBytes);
  const options = checkJobOptions(issues, 'spec.jobOptions', spec.jobOptions);
  const jobOptions = serializeJson(issues, 'spec.jobOptions', options, 64 * 1024);
  const backfill = spec.backfill === undefined ? 0 : spec.backfill;
  checkInt(issues, 'spec.backfill', backfill, 0, MAX_BACKFILL);
  if (spec.paused !== undefined && typeof spec.paused !== 'boolean') issues.add('spec.paused', `must be a boolean (got ${describe(spec.paused)})`);

  if (issues.list.length > before) return null;
  return {
    definition: {
      name: name as string,
      cron,
      everyMs: hasEvery ? (spec.everyMs as number) : null,
      timezone,
      queue: spec.queue as string,
      jobName: jobName as string,
      payload: payload!,
      jobOptions: jobOptions!,
      backfill: backfill as number,
    },
    paused: spec.paused === undefined ? null : (spec.paused as boolean),
  };
}

/** The public view of a stored schedule. */
export function toSchedule(record: ScheduleRecord): Schedule {
  return {
    name: record.name,
    cron: record.cron,
    everyMs: record.everyMs,
    timezone: record.timezone,
    queue: record.queue,
    jobName: record.jobName,
    payload: JSON.parse(record.payload) as unknown,
    jobOptions: JSON.parse(record.jobOptions) as ScheduleJobOptions,
    backfill: record.backfill,
    paused: record.paused,
    nextRunAt: record.nextRunAt,
    lastRunAt: record.lastRunAt,
    lastJobId: record.lastJobId,
    version: record.version,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/**
 * The job a schedule enqueues: for a tick, with the tick's deterministic id and `runAt` = the
 * tick; for `runNow` (`tickMs` null), with a fresh id, due now. Throws ValidationError if the
 * stored options no longer validate (they were validated when stored).
 */
export function scheduleJob(record: ScheduleRecord, tickMs: number | null): JobInsert {
  const issues = new Issues();
  const options = JSON.parse(record.jobOptions) as Record<string, unknown>;
  const opts = tickMs === null ? options : { ...options, id: tickJobId(record.name, tickMs), runAt: new Date(tickMs) };
  const insert = buildJobInsert(issues, '', { queue: record.queue, maxPayloadBytes: Number.MAX_SAFE_INTEGER, customBackoff: false }, record.jobName, null, opts);
  issues.throwIfAny();
  return { ...insert!, payload: record.payload };
}
