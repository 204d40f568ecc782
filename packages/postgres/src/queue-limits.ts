/**
 * Queue limits on PostgreSQL (core backend/queue-limits.ts): the claim of a limited or held
 * queue, the writes that set limits and holds, and a short-lived cache of which queues are
 * limited.
 *
 * Invariants:
 * - The plain claim statement (jobs-lease.ts) takes nothing from a queue with limits or a hold:
 *   whatever this process believes, no claim bypasses a limit.
 * - A limited claim runs in its own transaction: it locks the queue's settings row (serialising
 *   the claims of that queue only), then — in later statements, whose READ COMMITTED snapshots
 *   see every claim that held the lock before — counts the queue's running jobs and its rate
 *   records, claims at most what is left, and records the claim for the rate window.
 * - Like every claim, a limited claim commits without waiting for the WAL flush (ADR 0007): lost
 *   in a crash, its jobs stay queued and its rate record is gone, which only lets the window
 *   admit them again.
 * - The cache only chooses which path to try first: a stale "unlimited" answer costs a claim
 *   that takes nothing (then the settings are read again); a stale "limited" answer takes the
 *   limited path, which reads the settings under the lock. Entries live one second.
 */
import { limitedAnswer, type ClaimAnswer, type ClaimedJob, type ClaimLimited, type ClaimParams, type HoldQueueParams, type SetQueueLimitsParams } from '@spindle/core';
import type pg from 'pg';
import { changeJobs, type Ctx } from './context.js';
import { groupRateWait } from './groups.js';
import { epochMsSql, notifyCtes, NOTIFIED, nowSql } from './sql.js';

/** How long a queue's "limited or not" answer is trusted by this process. */
const CACHE_MS = 1000;

export interface Settings {
  paused: boolean;
  grouped: boolean;
  groupConcurrency: number | null;
  groupRateMax: number | null;
  groupRateIntervalMs: number | null;
  fifo: boolean;
  concurrency: number | null;
  rateMax: number | null;
  rateIntervalMs: number | null;
  /** Hold end (epoch ms) if still in the future, else null. */
  heldUntil: number | null;
  /** The database clock (epoch ms). */
  now: number;
}

/**
 * Which claim a queue takes: `plain` (jobs-lease.ts), `grouped` (groups.ts, no limits: one
 * statement) or `limited` (limits, group limits or a hold: the serialised transaction below).
 */
export type ClaimMode = 'plain' | 'grouped' | 'limited';

const hasGroupLimits = (s: Settings) => s.fifo || s.groupConcurrency !== null || s.groupRateMax !== null;
const modeOf = (s: Settings | null): ClaimMode =>
  s === null ? 'plain'
  : s.concurrency !== null || s.rateMax !== null || s.heldUntil !== null || hasGroupLimits(s) ? 'limited'
  : s.grouped ? 'grouped' : 'plain';

/** Per backend instance: queue → its claim mode as last seen, until when that answer is trusted. */
export class LimitCache {
  private readonly entries = new Map<string, { mode: ClaimMode; until: number }>();

  /** The mode while fresh, undefined when unknown or stale. */
  get(queue: string): ClaimMode | undefined {
    const e = this.entries.get(queue);
    return e !== undefined && e.until > Date.now() ? e.mode : undefined;
  }

  set(queue: string, mode: ClaimMode): void {
    if (this.entries.size > 10_000) this.entries.clear();
    this.entries.set(queue, { mode, until: Date.now() + CACHE_MS });
  }

  forget(queue: string): void {
    this.entries.delete(queue);
  }
}

/**
 * A queue's settings; with `lock`, its row locked and the time read after the lock was granted
 * (clock_timestamp: `now()` is the transaction's start, before a wait for the lock), which the
 * limited claim then uses as its own time — for the rate records and the jobs' start times.
 */
function settingsSql(ctx: Ctx, lock: boolean): string {
  const clock = lock ? 'coalesce($2::timestamptz, clock_timestamp())' : nowSql('$2');
  return `SELECT q.paused, q.concurrency_limit, q.rate_max, q.rate_interval_ms, q.grouped, q.group_concurrency,
      q.group_rate_max, q.group_rate_interval_ms, q.fifo,
      CASE WHEN q.held_until > c.now THEN ${epochMsSql('q.held_until')} END AS held_until,
      extract(epoch FROM c.now) * 1000 AS now
    FROM ${ctx.names.queues} q, (SELECT ${clock} AS now) c WHERE q.name = $1${lock ? ' FOR UPDATE OF q' : ''}`;
}

function toSettings(row: Record<string, unknown> | undefined): Settings | null {
  if (!row) return null;
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    paused: row.paused === true,
    grouped: row.grouped === true,
    groupConcurrency: num(row.group_concurrency),
    groupRateMax: num(row.group_rate_max),
    groupRateIntervalMs: num(row.group_rate_interval_ms),
    fifo: row.fifo === true,
    concurrency: num(row.concurrency_limit),
    rateMax: num(row.rate_max),
    rateIntervalMs: num(row.rate_interval_ms),
    heldUntil: num(row.held_until),
    now: Number(row.now),
  };
}

/** The claim the queue takes now (and remembers the answer). */
export async function queueMode(ctx: Ctx, queue: string, now: Date | undefined): Promise<ClaimMode> {
  const rows = await ctx.db.query('claimJobs', { text: settingsSql(ctx, false), values: [queue, now ?? null] });
  const mode = modeOf(toSettings(rows[0]));
  ctx.limits.set(queue, mode);
  return mode;
}

/**
 * Runs the claim statement for at most `limit` jobs at time `now` on `client` (jobs-lease.ts
 * provides it): the plain one, or with `groups` the grouped one, whose answer may say a group
 * limit cut it short.
 */
export type ClaimRunner = (limit: number, client: pg.ClientBase, now: Date, groups: Settings | null) => Promise<ClaimAnswer<ClaimedJob>>;

/** The claim of a queue with limits or a hold: one transaction, serialised per queue. */
export async function claimLimited(ctx: Ctx, params: ClaimParams, runClaim: ClaimRunner): Promise<ClaimAnswer<ClaimedJob>> {
  const { queue } = params;
  const rateLog = `${ctx.names.q}.queue_rate_log`;
  return ctx.db.transaction('claimJobs', async (client) => {
    const s = toSettings((await client.query(settingsSql(ctx, true), [queue, params.now ?? null])).rows[0]);
    ctx.limits.set(queue, modeOf(s));
    if (s === null || s.paused) return [];
    if (s.heldUntil !== null) return limitedAnswer([], { reason: 'held', retryAfterMs: Math.max(1, s.heldUntil - s.now) });
    let allowed = params.limit;
    let limited: ClaimLimited | undefined;
    if (s.concurrency !== null) {
      const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${ctx.names.jobs} WHERE state = 'running' AND queue = $1`, [queue]);
      const free = Math.max(0, s.concurrency - (rows[0].n as number));
      if (free < allowed) [allowed, limited] = [free, { reason: 'concurrency' }];
    }
    if (s.rateMax !== null && s.rateIntervalMs !== null) {
      const { rows } = await client.query(
        `WITH pruned AS (DELETE FROM ${rateLog} WHERE queue = $1 AND at <= to_timestamp($2::float8 / 1000))
         SELECT coalesce(sum(n), 0)::int AS used, ${epochMsSql('min(at)')} AS oldest FROM ${rateLog} WHERE queue = $1 AND at > to_timestamp($2::float8 / 1000)`,
        [queue, s.now - s.rateIntervalMs],
      );
      const left = Math.max(0, s.rateMax - (rows[0].used as number));
      const oldest = rows[0].oldest === null ? s.now : Number(rows[0].oldest);
      if (left < allowed) [allowed, limited] = [left, { reason: 'rate', retryAfterMs: Math.max(1, oldest + s.rateIntervalMs - s.now) }];
    }
    const grouped = s.grouped || hasGroupLimits(s) ? s : null;
    const jobs = allowed > 0 ? await runClaim(allowed, client, new Date(s.now), grouped) : [];
    if (s.rateMax !== null && jobs.length > 0) {
      await client.query(`INSERT INTO ${rateLog} (queue, at, n) VALUES ($1, to_timestamp($2::float8 / 1000), $3)`, [queue, s.now, jobs.length]);
    }
    if (limited && jobs.length === allowed) return limitedAnswer(jobs, limited);
    if (jobs.limited?.reason === 'rate' && s.groupRateMax !== null && s.groupRateIntervalMs !== null) {
      // Nothing taken because every group with queued jobs is at its rate: wait for the earliest window.
      const wait = await groupRateWait(client, ctx, queue, s.groupRateMax, s.groupRateIntervalMs, s.now);
      return limitedAnswer(jobs, wait === undefined ? { reason: 'concurrency' } : { reason: 'rate', retryAfterMs: wait });
    }
    return jobs;
  }, { relaxed: true });
}

function limitsEventSql(ctx: Ctx, write: string): string {
  return `WITH out AS (${write}
      RETURNING 1 AS ord, json_build_array('limits_changed', q.name)::text AS ev, ${epochMsSql('q.updated_at')} AS at
    ), ${notifyCtes('out', '$2', '$3', '(SELECT at FROM out)')}
    SELECT ev, at, ${NOTIFIED} AS notified FROM out`;
}

export async function setQueueLimits(ctx: Ctx, params: SetQueueLimitsParams): Promise<void> {
  const { concurrency, rate, groupConcurrency, groupRate, fifo } = params.limits;
  const { queues } = ctx.names;
  await changeJobs(ctx, 'setQueueLimits', {
    text: limitsEventSql(ctx, `INSERT INTO ${queues} AS q (name, paused, updated_at, concurrency_limit, rate_max, rate_interval_ms,
        group_concurrency, group_rate_max, group_rate_interval_ms, fifo)
      VALUES ($1, false, now(), $4, $5, $6, $7, $8, $9, $10)
      ON CONFLICT (name) DO UPDATE SET concurrency_limit = EXCLUDED.concurrency_limit, rate_max = EXCLUDED.rate_max,
        rate_interval_ms = EXCLUDED.rate_interval_ms, group_concurrency = EXCLUDED.group_concurrency,
        group_rate_max = EXCLUDED.group_rate_max, group_rate_interval_ms = EXCLUDED.group_rate_interval_ms,
        fifo = EXCLUDED.fifo, updated_at = EXCLUDED.updated_at`),
    values: [params.queue, ctx.names.channel, ctx.events.prefix, concurrency, rate?.max ?? null, rate?.intervalMs ?? null,
      groupConcurrency, groupRate?.max ?? null, groupRate?.intervalMs ?? null, fifo],
  });
  if (rate === null) await ctx.db.query('setQueueLimits', { text: `DELETE FROM ${ctx.names.q}.queue_rate_log WHERE queue = $1`, values: [params.queue] });
  if (groupRate === null) await ctx.db.query('setQueueLimits', { text: `DELETE FROM ${ctx.names.q}.group_rate_log WHERE queue = $1`, values: [params.queue] });
  ctx.limits.forget(params.queue);
}

export async function holdQueue(ctx: Ctx, params: HoldQueueParams): Promise<void> {
  const { queues } = ctx.names;
  if (params.delayMs > 0) {
    // A hold starting is no news to anyone (claims see it); only its early end wakes workers.
    await ctx.db.query('holdQueue', {
      text: `INSERT INTO ${queues} AS q (name, paused, updated_at, held_until)
        VALUES ($1, false, now(), ${nowSql('$3')} + ($2::float8 * interval '1 millisecond'))
        ON CONFLICT (name) DO UPDATE SET updated_at = EXCLUDED.updated_at, held_until = greatest(q.held_until, EXCLUDED.held_until)`,
      values: [params.queue, params.delayMs, params.now ?? null],
    });
  } else {
    await changeJobs(ctx, 'holdQueue', {
      text: limitsEventSql(ctx, `UPDATE ${queues} q SET held_until = NULL, updated_at = now() WHERE q.name = $1`),
      values: [params.queue, ctx.names.channel, ctx.events.prefix],
    });
  }
  ctx.limits.forget(params.queue);
}
