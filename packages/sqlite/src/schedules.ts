/**
 * Schedules on SQLite (core backend/schedules.ts): the `spindle_schedules` table of migration
 * 0004, its reads, the definition writes and the leader's firing of ticks.
 *
 * Invariants:
 * - Every write is one BEGIN IMMEDIATE transaction (store.write): the read it decides on (the
 *   upsert plan, the resume's version check) cannot go stale before its write.
 * - `fireSchedule` advances the schedule by a compare-and-set on (next_run_at, version,
 *   paused = 0) and inserts the tick jobs in the SAME transaction (insertJobs nested: a
 *   savepoint), only when the compare-and-set matched. Job ids are deterministic, so a
 *   repeated tick is an ON CONFLICT no-op as well. Their `added` events go out after the commit.
 * - Times are epoch ms in the table and Dates outside; `nowMs` (host clock or the injected time)
 *   is the clock, as everywhere in this backend.
 */
import {
  planScheduleUpsert,
  type DueSchedules,
  type DueSchedulesParams,
  type FireScheduleParams,
  type FireScheduleResult,
  type ListSchedulesParams,
  type ResumeScheduleOutcome,
  type ResumeScheduleParams,
  type ScheduleRecord,
  type UpsertScheduleParams,
  type UpsertScheduleResult,
} from '@spindle/core';
import { insertJobs } from './jobs-write.js';
import { nowMs } from './state-sql.js';
import type { Store } from './tx.js';

interface ScheduleRow {
  name: string;
  cron: string | null;
  every_ms: number | null;
  timezone: string;
  queue: string;
  job_name: string;
  payload: string;
  job_options: string;
  backfill: number;
  paused: number;
  next_run_at: number | null;
  last_run_at: number | null;
  last_job_id: string | null;
  version: number;
  created_at: number;
  updated_at: number;
}

const COLUMNS =
  'name, cron, every_ms, timezone, queue, job_name, payload, job_options, backfill, paused, next_run_at, last_run_at, last_job_id, version, created_at, updated_at';

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

function toRecord(row: ScheduleRow): ScheduleRecord {
  return {
    name: row.name,
    cron: row.cron,
    everyMs: row.every_ms,
    timezone: row.timezone,
    queue: row.queue,
    jobName: row.job_name,
    payload: row.payload,
    jobOptions: row.job_options,
    backfill: row.backfill,
    paused: row.paused !== 0,
    nextRunAt: date(row.next_run_at),
    lastRunAt: date(row.last_run_at),
    lastJobId: row.last_job_id,
    version: row.version,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

const GET = `SELECT ${COLUMNS} FROM spindle_schedules WHERE name = ?`;

export function getSchedule(store: Store, name: string): ScheduleRecord | null {
  const row = store.conn.stmt(GET).get(name) as ScheduleRow | undefined;
  return row ? toRecord(row) : null;
}

const LIST = `SELECT ${COLUMNS} FROM spindle_schedules
  WHERE (@after IS NULL OR name > @after) AND (@queue IS NULL OR queue = @queue)
  ORDER BY name LIMIT @limit`;

export function listSchedules(store: Store, params: ListSchedulesParams): ScheduleRecord[] {
  const rows = store.conn.stmt(LIST).all({ after: params.after ?? null, queue: params.queue ?? null, limit: params.limit }) as ScheduleRow[];
  return rows.map(toRecord);
}

const INSERT = `INSERT INTO spindle_schedules (${COLUMNS})
  VALUES (@name, @cron, @everyMs, @timezone, @queue, @jobName, @payload, @jobOptions, @backfill, @paused, @nextRunAt, NULL, NULL, @version, @now, @now)`;
const UPDATE = `UPDATE spindle_schedules SET cron = @cron, every_ms = @everyMs, timezone = @timezone, queue = @queue,
    job_name = @jobName, payload = @payload, job_options = @jobOptions, backfill = @backfill, paused = @paused,
    next_run_at = @nextRunAt, version = @version, updated_at = @now
  WHERE name = @name`;

export function upsertSchedule(store: Store, params: UpsertScheduleParams): UpsertScheduleResult {
  const now = nowMs(params.now);
  return store.write(() => {
    const existing = getSchedule(store, params.schedule.name);
    const plan = planScheduleUpsert(existing, params);
    if (plan.write === 'none') return { record: existing!, created: false, changed: false };
    const values = {
      ...params.schedule,
      paused: plan.paused ? 1 : 0,
      nextRunAt: plan.nextRunAt?.getTime() ?? null,
      version: plan.version,
      now,
    };
    store.conn.stmt(plan.write === 'insert' ? INSERT : UPDATE).run(values);
    return { record: getSchedule(store, params.schedule.name)!, created: plan.write === 'insert', changed: true };
  });
}

export function removeSchedule(store: Store, name: string): boolean {
  return store.write(() => store.conn.stmt('DELETE FROM spindle_schedules WHERE name = ?').run(name).changes > 0);
}

const PAUSE = `UPDATE spindle_schedules
  SET paused = 1, next_run_at = NULL, updated_at = CASE WHEN paused = 0 THEN @now ELSE updated_at END
  WHERE name = @name`;

export function pauseSchedule(store: Store, params: { name: string; now?: Date }): ScheduleRecord | null {
  const now = nowMs(params.now);
  return store.write(() => {
    store.conn.stmt(PAUSE).run({ name: params.name, now });
    return getSchedule(store, params.name);
  });
}

const RESUME = `UPDATE spindle_schedules SET paused = 0, next_run_at = @nextRunAt, updated_at = @now
  WHERE name = @name AND paused = 1 AND version = @version`;

export function resumeSchedule(store: Store, params: ResumeScheduleParams): ResumeScheduleOutcome {
  const now = nowMs(params.now);
  return store.write(() => {
    const existing = getSchedule(store, params.name);
    if (existing === null) return 'not_found';
    if (!existing.paused) return 'not_paused';
    if (existing.version !== params.version) return 'conflict';
    store.conn.stmt(RESUME).run({ name: params.name, version: params.version, nextRunAt: params.nextRunAt?.getTime() ?? null, now });
    return 'resumed';
  });
}

const ACTIVE = 'paused = 0 AND next_run_at IS NOT NULL';
const DUE = `SELECT ${COLUMNS} FROM spindle_schedules INDEXED BY spindle_schedules_due_idx
  WHERE ${ACTIVE} AND next_run_at <= @now ORDER BY next_run_at LIMIT @limit`;
const NEXT_AT = `SELECT min(next_run_at) AS at FROM spindle_schedules INDEXED BY spindle_schedules_due_idx
  WHERE ${ACTIVE} AND next_run_at > @now`;

export function dueSchedules(store: Store, params: DueSchedulesParams): DueSchedules {
  const now = nowMs(params.now);
  const { conn } = store;
  const due = (conn.stmt(DUE).all({ now, limit: params.limit }) as ScheduleRow[]).map(toRecord);
  const next = conn.stmt(NEXT_AT).get({ now }) as { at: number | null };
  return { now: new Date(now), due, nextAt: date(next.at) };
}

const ADVANCE = `UPDATE spindle_schedules
  SET next_run_at = @nextRunAt, last_run_at = coalesce(@lastRunAt, last_run_at), last_job_id = coalesce(@lastJobId, last_job_id)
  WHERE name = @name AND next_run_at = @expectedNextRunAt AND version = @expectedVersion AND paused = 0`;

export function fireSchedule(store: Store, params: FireScheduleParams): FireScheduleResult {
  return store.write(() => {
    const lastJob = params.jobs[params.jobs.length - 1];
    const { changes } = store.conn.stmt(ADVANCE).run({
      name: params.name,
      nextRunAt: params.nextRunAt?.getTime() ?? null,
      lastRunAt: params.lastRunAt?.getTime() ?? null,
      lastJobId: lastJob?.id ?? null,
      expectedNextRunAt: params.expectedNextRunAt.getTime(),
      expectedVersion: params.expectedVersion,
    });
    if (changes === 0) return { fired: false, inserted: [] };
    // Nested in this transaction (a savepoint): the jobs exist if and only if the schedule moved.
    const inserted = params.jobs.length === 0 ? [] : insertJobs(store, { jobs: params.jobs, ...(params.now ? { now: params.now } : {}) });
    return { fired: true, inserted };
  });
}
