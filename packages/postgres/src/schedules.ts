/**
 * Schedules on PostgreSQL (core backend/schedules.ts): the `<schema>.schedules` table of
 * migration 0005, its reads, the definition writes and the leader's firing of ticks.
 *
 * Invariants:
 * - Writes that decide on what they read lock the row first (`SELECT … FOR UPDATE` in one
 *   transaction): the upsert plan and the resume's version check cannot go stale. A new name
 *   inserted concurrently by two callers is settled by ON CONFLICT and a retry that then finds
 *   (and locks) the row.
 * - `fireSchedule` is one transaction: the compare-and-set UPDATE on (next_run_at, version,
 *   NOT paused) first — a concurrent firer blocks on the row lock and then matches nothing — and
 *   only if it matched, the tick jobs are inserted through insertJobs on the same client (ON
 *   CONFLICT DO NOTHING on their deterministic ids). Their `added` events are NOTIFYed with the
 *   transaction's commit (origin `tx`, so every listening process, this one included, hears them;
 *   a backend with `listen: false` has no local events for them).
 * - The clock is the database's (`now()`) unless `now` is injected.
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
import type pg from 'pg';
import type { Ctx } from './context.js';
import type { Row } from './db.js';
import { insertJobs } from './jobs-insert.js';
import { nowSql } from './sql.js';

const table = (ctx: Ctx): string => `${ctx.names.q}.schedules`;

const COLUMNS =
  's.name, s.cron, s.every_ms, s.timezone, s.queue, s.job_name, s.payload, s.job_options, s.backfill, s.paused, s.next_run_at, s.last_run_at, s.last_job_id, s.version, s.created_at, s.updated_at';

function toRecord(row: Row): ScheduleRecord {
  return {
    name: row.name as string,
    cron: row.cron as string | null,
    everyMs: row.every_ms === null ? null : Number(row.every_ms),
    timezone: row.timezone as string,
    queue: row.queue as string,
    jobName: row.job_name as string,
    payload: row.payload as string,
    jobOptions: row.job_options as string,
    backfill: row.backfill as number,
    paused: row.paused as boolean,
    nextRunAt: row.next_run_at as Date | null,
    lastRunAt: row.last_run_at as Date | null,
    lastJobId: row.last_job_id as string | null,
    version: row.version as number,
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
  };
}

export async function getSchedule(ctx: Ctx, name: string): Promise<ScheduleRecord | null> {
  const rows = await ctx.db.query('getSchedule', { text: `SELECT ${COLUMNS} FROM ${table(ctx)} s WHERE s.name = $1`, values: [name] });
  return rows[0] ? toRecord(rows[0]) : null;
}

export async function listSchedules(ctx: Ctx, params: ListSchedulesParams): Promise<ScheduleRecord[]> {
  const rows = await ctx.db.query('listSchedules', {
    text: `SELECT ${COLUMNS} FROM ${table(ctx)} s
      WHERE ($1::text IS NULL OR s.name > $1::text) AND ($2::text IS NULL OR s.queue = $2::text)
      ORDER BY s.name LIMIT $3`,
    values: [params.after ?? null, params.queue ?? null, params.limit],
  });
  return rows.map(toRecord);
}

async function lockedSchedule(client: pg.ClientBase, ctx: Ctx, name: string): Promise<ScheduleRecord | null> {
  const { rows } = await client.query(`SELECT ${COLUMNS} FROM ${table(ctx)} s WHERE s.name = $1 FOR UPDATE`, [name]);
  return rows[0] ? toRecord(rows[0] as Row) : null;
}

/** Upsert attempts: the second one finds the row a concurrent caller just inserted. */
const UPSERT_ATTEMPTS = 2;

export async function upsertSchedule(ctx: Ctx, params: UpsertScheduleParams): Promise<UpsertScheduleResult> {
  const def = params.schedule;
  for (let attempt = 1; ; attempt++) {
    const result = await ctx.db.transaction('upsertSchedule', async (client) => {
      const existing = await lockedSchedule(client, ctx, def.name);
      const plan = planScheduleUpsert(existing, params);
      if (plan.write === 'none') return { record: existing!, created: false, changed: false };
      const values = [def.name, def.cron, def.everyMs, def.timezone, def.queue, def.jobName, def.payload, def.jobOptions, def.backfill, plan.paused, plan.nextRunAt, plan.version, params.now ?? null];
      const text =
        plan.write === 'insert'
          ? `INSERT INTO ${table(ctx)} AS s (name, cron, every_ms, timezone, queue, job_name, payload, job_options, backfill, paused,
               next_run_at, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, ${nowSql('$13')}, ${nowSql('$13')})
             ON CONFLICT (name) DO NOTHING RETURNING ${COLUMNS}`
          : `UPDATE ${table(ctx)} s SET cron = $2, every_ms = $3, timezone = $4, queue = $5, job_name = $6, payload = $7,
               job_options = $8, backfill = $9, paused = $10, next_run_at = $11, version = $12, updated_at = ${nowSql('$13')}
             WHERE s.name = $1 RETURNING ${COLUMNS}`;
      const { rows } = await client.query(text, values);
      return rows[0] ? { record: toRecord(rows[0] as Row), created: plan.write === 'insert', changed: true } : null;
    });
    if (result) return result;
    if (attempt >= UPSERT_ATTEMPTS) throw new Error(`upsertSchedule: schedule ${def.name} was inserted and removed concurrently; try again`);
  }
}

export async function removeSchedule(ctx: Ctx, name: string): Promise<boolean> {
  const rows = await ctx.db.query('removeSchedule', { text: `DELETE FROM ${table(ctx)} s WHERE s.name = $1 RETURNING 1 AS gone`, values: [name] });
  return rows.length > 0;
}

export async function pauseSchedule(ctx: Ctx, params: { name: string; now?: Date }): Promise<ScheduleRecord | null> {
  const rows = await ctx.db.query('pauseSchedule', {
    text: `UPDATE ${table(ctx)} s SET paused = true, next_run_at = NULL,
        updated_at = CASE WHEN s.paused THEN s.updated_at ELSE ${nowSql('$2')} END
      WHERE s.name = $1 RETURNING ${COLUMNS}`,
    values: [params.name, params.now ?? null],
  });
  return rows[0] ? toRecord(rows[0]) : null;
}

export async function resumeSchedule(ctx: Ctx, params: ResumeScheduleParams): Promise<ResumeScheduleOutcome> {
  return ctx.db.transaction('resumeSchedule', async (client) => {
    const existing = await lockedSchedule(client, ctx, params.name);
    if (existing === null) return 'not_found';
    if (!existing.paused) return 'not_paused';
    if (existing.version !== params.version) return 'conflict';
    await client.query(`UPDATE ${table(ctx)} s SET paused = false, next_run_at = $2, updated_at = ${nowSql('$3')} WHERE s.name = $1`, [
      params.name,
      params.nextRunAt,
      params.now ?? null,
    ]);
    return 'resumed';
  });
}

export async function dueSchedules(ctx: Ctx, params: DueSchedulesParams): Promise<DueSchedules> {
  const t = table(ctx);
  const active = 'NOT x.paused AND x.next_run_at IS NOT NULL';
  const rows = await ctx.db.query('dueSchedules', {
    name: ctx.names.statement('schedules_due'),
    text: `WITH clock AS (SELECT ${nowSql('$1')} AS now)
      SELECT c.now AS clock_now,
        (SELECT min(x.next_run_at) FROM ${t} x WHERE ${active} AND x.next_run_at > c.now) AS next_at,
        d.*
      FROM clock c LEFT JOIN LATERAL (
        SELECT ${COLUMNS} FROM ${t} s
        WHERE NOT s.paused AND s.next_run_at IS NOT NULL AND s.next_run_at <= c.now
        ORDER BY s.next_run_at LIMIT $2
      ) d ON true`,
    values: [params.now ?? null, params.limit],
  });
  const first = rows[0]!;
  return {
    now: first.clock_now as Date,
    due: rows.filter((r) => r.name !== null).map(toRecord),
    nextAt: (first.next_at as Date | null) ?? null,
  };
}

export async function fireSchedule(ctx: Ctx, params: FireScheduleParams): Promise<FireScheduleResult> {
  const lastJob = params.jobs[params.jobs.length - 1];
  return ctx.db.transaction('fireSchedule', async (client) => {
    const { rowCount } = await client.query({
      name: ctx.names.statement('schedules_fire'),
      text: `UPDATE ${table(ctx)} s
        SET next_run_at = $4, last_run_at = coalesce($5, s.last_run_at), last_job_id = coalesce($6, s.last_job_id)
        WHERE s.name = $1 AND s.next_run_at = $2 AND s.version = $3 AND NOT s.paused`,
      values: [params.name, params.expectedNextRunAt, params.expectedVersion, params.nextRunAt, params.lastRunAt, lastJob?.id ?? null],
    });
    if (rowCount === 0) return { fired: false, inserted: [] };
    const inserted = params.jobs.length === 0 ? [] : await insertJobs(ctx, { jobs: params.jobs, transaction: client, ...(params.now ? { now: params.now } : {}) });
    return { fired: true, inserted };
  });
}
