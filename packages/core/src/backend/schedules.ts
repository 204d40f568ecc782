/**
 * The schedules part of the Backend contract: stored cron/interval definitions that enqueue jobs
 * (docs/decisions/0011-schedules.md). Types and the documentation of each method; the methods
 * themselves are declared on `Backend` (backend.ts) and implemented by each backend package.
 *
 * Division of labour:
 * - The DATABASE is the source of truth: the definition, `nextRunAt` (the next tick to fire),
 *   `lastRunAt`/`lastJobId` (the newest tick fired) and `version`.
 * - The CORE computes times (croner for cron, arithmetic for `everyMs`) and validates input; a
 *   backend never parses a cron expression. It passes the times it computed to the backend.
 *
 * Invariants every implementation keeps:
 * - `fireSchedule` is ONE transaction: a compare-and-set on (`nextRunAt`, `version`, not paused)
 *   advances the schedule, and only if it matched are the tick jobs inserted (ON CONFLICT DO
 *   NOTHING on their deterministic ids). Two processes firing the same tick — a leader handover,
 *   a stalled old leader — therefore produce one job: the loser's compare-and-set matches nothing
 *   and it writes nothing.
 * - `version` increases with every change of the definition (`upsertSchedule` that changed
 *   something); pause/resume and fires do not change it.
 * - A paused schedule has `nextRunAt = null` and is never due; resuming sets the next tick the
 *   core computed from the resume time (ticks that fell while paused are skipped, never fired).
 * - Names are identifiers (IDENTIFIER_RE); `payload` and `jobOptions` are JSON text the core
 *   validated. Every value is bound as a parameter.
 */
import type { InsertOutcome, JobInsert } from './backend.js';

/** A schedule's definition: what the caller gives, validated and normalised by the core. */
export interface ScheduleDefinition {
  name: string;
  /** Exactly one of `cron` / `everyMs` is non-null. */
  cron: string | null;
  /** Interval in ms (>= 1000); ticks are the multiples of it since the Unix epoch. */
  everyMs: number | null;
  /** IANA time zone of `cron` (always 'UTC' for intervals). */
  timezone: string;
  /** Target queue and job name of the enqueued jobs. */
  queue: string;
  jobName: string;
  /** JSON text. */
  payload: string;
  /** JSON text of the job options (priority, maxRetries, backoff, timeoutMs, removeOn…). */
  jobOptions: string;
  /** How many missed ticks (older than the newest due one) to enqueue after downtime. */
  backfill: number;
}

/** A stored schedule. */
export interface ScheduleRecord extends ScheduleDefinition {
  paused: boolean;
  /** The next tick to fire; null while paused (or when the expression has no future tick). */
  nextRunAt: Date | null;
  /** The newest tick fired and the id of its job (null before the first tick). */
  lastRunAt: Date | null;
  lastJobId: string | null;
  /** Increases with every change of the definition: part of the firing compare-and-set. */
  version: number;
  createdAt: Date;
  /** Last change of the definition or of the paused flag. */
  updatedAt: Date;
}

export interface UpsertScheduleParams {
  schedule: ScheduleDefinition;
  /** true/false sets the flag; null keeps it (a new schedule starts active). */
  paused: boolean | null;
  /**
   * The first tick after now of the NEW timing (cron/everyMs/timezone), computed by the core.
   * Stored when the schedule is created, when its timing changed, or when it goes from paused
   * to active. Otherwise the stored `nextRunAt` is kept, so re-declaring an unchanged schedule
   * (every process does it at boot) never skips or repeats a tick.
   */
  nextRunAt: Date | null;
  now?: Date;
}

/**
 * `created`: there was no schedule of that name. `changed`: something was written (false when
 * the definition and the paused flag were already exactly these: nothing changed, no version
 * bump).
 */
export interface UpsertScheduleResult {
  record: ScheduleRecord;
  created: boolean;
  changed: boolean;
}

export interface ListSchedulesParams {
  /** 1..1000 */
  limit: number;
  /** Names strictly after this one (the cursor: schedules are listed by name). */
  after?: string;
  /** Only schedules that enqueue into this queue. */
  queue?: string;
}

export interface ResumeScheduleParams {
  name: string;
  /** The version the core computed `nextRunAt` from (compare-and-set). */
  version: number;
  /** The first tick after now, computed by the core from the stored definition. */
  nextRunAt: Date | null;
  now?: Date;
}

/**
 * - `resumed`: it was paused and is now active with the given `nextRunAt`;
 * - `not_paused`: it was already active, nothing changed;
 * - `conflict`: its version is no longer `version` (redefined meanwhile): nothing changed, the
 *   core re-reads it and tries again;
 * - `not_found`.
 */
export type ResumeScheduleOutcome = 'resumed' | 'not_paused' | 'conflict' | 'not_found';

export interface DueSchedulesParams {
  /** At most this many due schedules (earliest `nextRunAt` first). */
  limit: number;
  now?: Date;
}

export interface DueSchedules {
  /** The clock the selection was made with (the database's, or the injected `now`). */
  now: Date;
  /** Active schedules with `nextRunAt <= now`, earliest first. */
  due: ScheduleRecord[];
  /** The earliest `nextRunAt` after `now` of an active schedule, for the runner's sleep. */
  nextAt: Date | null;
}

export interface FireScheduleParams {
  name: string;
  /** Compare-and-set: the schedule is advanced only while it still has exactly these. */
  expectedNextRunAt: Date;
  expectedVersion: number;
  /** The next tick to fire after this call (the first tick after now); null: no more ticks. */
  nextRunAt: Date | null;
  /**
   * The jobs of the ticks fired, oldest first, each with its deterministic id (derived from the
   * schedule name and the tick time) and `runAt` = its tick. May be empty (ticks skipped).
   */
  jobs: JobInsert[];
  /** The newest tick fired (stored as `lastRunAt`, its job's id as `lastJobId`); null if none. */
  lastRunAt: Date | null;
  now?: Date;
}

/**
 * `fired: false`: the compare-and-set matched nothing (another process fired these ticks, or the
 * schedule was redefined, paused or removed): nothing was written. `fired: true`: the schedule
 * advanced and `inserted` answers per job, in input order, as insertJobs does (`inserted: false`
 * = a job with that id already existed and is unchanged).
 */
export interface FireScheduleResult {
  fired: boolean;
  inserted: InsertOutcome[];
}

/** The schedule methods of the Backend interface (merged into `Backend` in backend.ts). */
export interface ScheduleStore {
  /** Creates or redefines a schedule (see UpsertScheduleParams for what happens to nextRunAt). */
  upsertSchedule(params: UpsertScheduleParams): Promise<UpsertScheduleResult>;
  getSchedule(name: string): Promise<ScheduleRecord | null>;
  /** Schedules by name. */
  listSchedules(params: ListSchedulesParams): Promise<ScheduleRecord[]>;
  /** Deletes a schedule (its jobs stay); false when there was none. */
  removeSchedule(name: string): Promise<boolean>;
  /** Sets paused (and nextRunAt = null); null when there is no such schedule. Idempotent. */
  pauseSchedule(params: { name: string; now?: Date }): Promise<ScheduleRecord | null>;
  resumeSchedule(params: ResumeScheduleParams): Promise<ResumeScheduleOutcome>;
  /** Leader-only: the schedules due now and the next due time. */
  dueSchedules(params: DueSchedulesParams): Promise<DueSchedules>;
  /** Leader-only: fires ticks of one schedule in one transaction (see the header). */
  fireSchedule(params: FireScheduleParams): Promise<FireScheduleResult>;
}
