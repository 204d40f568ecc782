/**
 * What an `upsertSchedule` writes, decided once for every backend (they run it inside their own
 * transaction, on the row they read there): insert, update or nothing, and the stored
 * `paused`, `nextRunAt` and `version`. Pure; kept beside the contract so SQLite and PostgreSQL
 * cannot drift apart.
 *
 * Invariants (backend/schedules.ts):
 * - `version` increases only when the definition changed.
 * - The stored next run is kept while the schedule stays active with the same timing (cron,
 *   everyMs, timezone): re-declaring a schedule never skips nor repeats a tick. A new schedule,
 *   a changed timing, or paused → active takes the caller's `nextRunAt`; paused stores null.
 * - Nothing is written when the definition and the paused flag are already exactly these.
 */
import type { ScheduleDefinition, ScheduleRecord, UpsertScheduleParams } from './schedules.js';

export interface ScheduleUpsertPlan {
  write: 'insert' | 'update' | 'none';
  paused: boolean;
  nextRunAt: Date | null;
  version: number;
}

const DEFINITION_KEYS = ['cron', 'everyMs', 'timezone', 'queue', 'jobName', 'payload', 'jobOptions', 'backfill'] as const satisfies ReadonlyArray<keyof ScheduleDefinition>;

export function planScheduleUpsert(existing: ScheduleRecord | null, params: UpsertScheduleParams): ScheduleUpsertPlan {
  const def = params.schedule;
  if (existing === null) {
    const paused = params.paused ?? false;
    return { write: 'insert', paused, nextRunAt: paused ? null : params.nextRunAt, version: 1 };
  }
  const paused = params.paused ?? existing.paused;
  const sameDefinition = DEFINITION_KEYS.every((key) => existing[key] === def[key]);
  const sameTiming = existing.cron === def.cron && existing.everyMs === def.everyMs && existing.timezone === def.timezone;
  const keepNext = !paused && !existing.paused && sameTiming && existing.nextRunAt !== null;
  const nextRunAt = paused ? null : keepNext ? existing.nextRunAt : params.nextRunAt;
  const unchanged = sameDefinition && paused === existing.paused && (paused || keepNext);
  return {
    write: unchanged ? 'none' : 'update',
    paused,
    nextRunAt,
    version: sameDefinition ? existing.version : existing.version + 1,
  };
}
