/**
 * The dead-letter queue: depth, groups by failure reason, replay, purge and resolve.
 *
 * Invariants (docs/design/backend-semantics.md, DLQ):
 * - Selection: `ids` when given (the filter is then ignored), else the filter; always only
 *   `state = 'dead'`, at most `limit` rows, oldest first (by seq).
 * - Replay, purge and resolve lock their selection with FOR UPDATE SKIP LOCKED and re-check
 *   `state = 'dead'` at the write (compare-and-set): concurrent replays move each job once.
 *   The write finds the selected rows by `id = ANY(ARRAY(…))`: primary-key probes, whatever the
 *   planner guesses for `LIMIT $n` (see recheckStateSql for the recheck's form).
 * - Replay skips a job whose unique key is held by a live job of the target queue, or by an
 *   earlier job of the same replay; if a concurrent insert takes the key meanwhile (unique
 *   violation), the statement is re-run and that job is then reported as skipped.
 * - The restart itself (`restartSetSql`, `movableCtes`, `retryOnUniqueViolation`) is shared with
 *   retryJobs (jobs-admin.ts), which restarts any finished job the same way.
 */
import {
  BackendError,
  type DlqDepth,
  type DlqGroup,
  type DlqReplayParams,
  type DlqReplayResult,
  type DlqResolveParams,
  type DlqSelectParams,
  type JobFilter,
} from '@spindle/core';
import { changeJobs, type Ctx } from './context.js';
import { pgErrorCode } from './db.js';
import { filterConditions, whereClause } from './filters.js';
import { clockCte, jobEventSql, notifyCtes, nowSql, NOTIFIED, Params, recheckStateSql } from './sql.js';

const UNIQUE_VIOLATION = '23505';
/** The compare-and-set recheck of replay, purge and resolve (see recheckStateSql). */
const DEAD = recheckStateSql('j.state', ['dead']);
const MAX_REPLAY_ROUNDS = 3;

/** WHERE conditions selecting dead jobs by ids or filter (alias `j`). */
function selection(params: { ids?: string[]; filter?: JobFilter }, p: Params): string {
  const where = params.ids !== undefined ? [`j.id = ANY(${p.add(params.ids)}::text[])`] : filterConditions(params.filter, p);
  where.push(`j.state = 'dead'`);
  return whereClause(where);
}

export async function dlqDepth(ctx: Ctx, params: { queue?: string } = {}): Promise<DlqDepth[]> {
  const p = new Params();
  const byQueue = params.queue !== undefined ? `AND queue = ${p.add(params.queue)}` : '';
  const rows = await ctx.db.query('dlqDepth', {
    text: `SELECT queue, count(*)::int AS depth FROM ${ctx.names.jobs}
      WHERE state = 'dead' AND resolved_at IS NULL ${byQueue} GROUP BY queue ORDER BY queue`,
    values: p.values,
  });
  return rows.map((r) => ({ queue: r.queue as string, depth: r.depth as number }));
}

export async function dlqGroups(ctx: Ctx, params: { filter?: JobFilter; limit?: number } = {}): Promise<DlqGroup[]> {
  const p = new Params();
  const where = selection({ filter: params.filter }, p);
  const rows = await ctx.db.query('dlqGroups', {
    text: `SELECT j.queue, coalesce(j.failure_reason, '') AS reason, count(*)::int AS count,
        min(j.last_failed_at) AS first_failed_at, max(j.last_failed_at) AS last_failed_at,
        (array_agg(j.id ORDER BY j.seq DESC))[1] AS sample_job_id
      FROM ${ctx.names.jobs} j ${where}
      GROUP BY j.queue, coalesce(j.failure_reason, '')
      ORDER BY count DESC, j.queue, reason
      LIMIT ${p.add(params.limit ?? 100)}`,
    values: p.values,
  });
  return rows.map((r) => ({
    queue: r.queue as string,
    reason: r.reason as string,
    count: r.count as number,
    firstFailedAt: r.first_failed_at as Date,
    lastFailedAt: r.last_failed_at as Date,
    sampleJobId: r.sample_job_id as string,
  }));
}

/**
 * The SET list that starts a finished job's next round (DLQ replay, retryJobs in jobs-admin.ts):
 * `queued` in `queue` at the clock's `now`, attempt 0, round + 1; lease, failure fields,
 * resolution, finish, expiry, result and cancel request cleared; error history kept; the payload
 * replaced by `payload` unless that is NULL. SQL expressions over row `j` and clock `c`.
 */
export function restartSetSql(queue: string, payload: string): string {
  return `state = 'queued', queue = ${queue},
      payload = coalesce(${payload}::text, j.payload), run_at = c.now, attempt = 0, round = j.round + 1,
      lease_token = NULL, lease_expires_at = NULL, failure_reason = NULL, first_failed_at = NULL,
      last_failed_at = NULL, resolution_note = NULL, resolved_at = NULL, finished_at = NULL,
      expires_at = NULL, result = NULL, cancel_requested = false`;
}

/**
 * CTEs `ranked` and `movable` over a CTE `selected` (columns `id`, `unique_key`, `target`: the
 * queue the job would restart in, and the column `order`): `movable` holds the ids that may
 * restart — no unique key, or a key that no live job of the target queue holds and that no
 * earlier (by `order`) job of the selection takes first.
 */
export function movableCtes(jobs: string, order: string): string {
  return `ranked AS (
    SELECT s.*, row_number() OVER (PARTITION BY s.target, s.unique_key ORDER BY s.${order}) AS rank FROM selected s
  ), movable AS (
    SELECT r.id FROM ranked r
    WHERE r.unique_key IS NULL OR (r.rank = 1 AND NOT EXISTS (
      SELECT 1 FROM ${jobs} x WHERE x.queue = r.target AND x.unique_key = r.unique_key
        AND x.state NOT IN ('completed', 'dead', 'cancelled')))
  )`;
}

/**
 * Runs a restarting statement, re-running it when a concurrent insert took a unique key it
 * judged free (unique violation: the statement changed nothing); the re-run sees that job and
 * reports the conflict.
 */
export async function retryOnUniqueViolation<T>(operation: string, run: () => Promise<T>): Promise<T> {
  for (let round = 1; ; round++) {
    try {
      return await run();
    } catch (err) {
      if (pgErrorCode(err) !== UNIQUE_VIOLATION) throw err;
      if (round >= MAX_REPLAY_ROUNDS) throw new BackendError(`postgres: ${operation} kept colliding with concurrent inserts; retry the call`, err);
    }
  }
}

function replaySql(ctx: Ctx, params: DlqReplayParams, p: Params): string {
  const { jobs } = ctx.names;
  const clock = clockCte(p.add(params.now ?? null));
  const where = selection(params, p);
  const toQueue = p.add(params.toQueue ?? null);
  const payload = p.add(params.payload ?? null);
  return `WITH ${clock},
  selected AS MATERIALIZED (
    SELECT j.id, j.seq, j.unique_key, coalesce(${toQueue}::text, j.queue) AS target
    FROM ${jobs} j ${where}
    ORDER BY j.seq LIMIT ${p.add(params.limit)}
    FOR UPDATE OF j SKIP LOCKED
  ), ${movableCtes(jobs, 'seq')}, out AS (
    UPDATE ${jobs} j SET ${restartSetSql(`coalesce(${toQueue}::text, j.queue)`, payload)}
    FROM clock c
    WHERE j.id = ANY(ARRAY(SELECT id FROM movable)) AND ${DEAD}
    RETURNING j.id, j.seq AS ord, ${jobEventSql({ type: `'replayed'`, job: 'j' })} AS ev, c.at
  ), ${notifyCtes('out', p.add(ctx.names.channel), p.add(ctx.events.prefix), '(SELECT at FROM clock)')}
  SELECT s.id, o.id IS NOT NULL AS replayed, o.ev, o.at, ${NOTIFIED} AS notified
  FROM selected s LEFT JOIN out o ON o.id = s.id
  ORDER BY s.seq`;
}

export async function dlqReplay(ctx: Ctx, params: DlqReplayParams): Promise<DlqReplayResult> {
  ctx.db.assertOpen();
  if (params.limit <= 0 || (params.ids !== undefined && params.ids.length === 0)) return { replayed: [], skipped: [] };
  return retryOnUniqueViolation('dlqReplay', async () => {
    const p = new Params();
    const text = replaySql(ctx, params, p);
    const rows = await changeJobs(ctx, 'dlqReplay', { text, values: p.values });
    const result: DlqReplayResult = { replayed: [], skipped: [] };
    for (const row of rows) {
      if (row.replayed) result.replayed.push(row.id as string);
      else result.skipped.push({ id: row.id as string, reason: 'unique_conflict' });
    }
    return result;
  });
}

export async function dlqPurge(ctx: Ctx, params: DlqSelectParams): Promise<number> {
  if (params.limit <= 0 || (params.ids !== undefined && params.ids.length === 0)) return 0;
  const p = new Params();
  const where = selection(params, p);
  const { jobs } = ctx.names;
  const rows = await ctx.db.query('dlqPurge', {
    text: `WITH victims AS MATERIALIZED (
      SELECT j.id FROM ${jobs} j ${where} ORDER BY j.seq LIMIT ${p.add(params.limit)} FOR UPDATE OF j SKIP LOCKED
    ), gone AS (
      DELETE FROM ${jobs} j WHERE j.id = ANY(ARRAY(SELECT id FROM victims)) AND ${DEAD} RETURNING 1
    )
    SELECT count(*)::int AS n FROM gone`,
    values: p.values,
  });
  return (rows[0]?.n as number) ?? 0;
}

export async function dlqResolve(ctx: Ctx, params: DlqResolveParams): Promise<number> {
  if (params.limit <= 0 || (params.ids !== undefined && params.ids.length === 0)) return 0;
  const p = new Params();
  const now = nowSql(p.add(params.now ?? null));
  const note = p.add(params.note);
  const where = selection(params, p);
  const { jobs } = ctx.names;
  const rows = await ctx.db.query('dlqResolve', {
    text: `WITH chosen AS MATERIALIZED (
      SELECT j.id FROM ${jobs} j ${where} ORDER BY j.seq LIMIT ${p.add(params.limit)} FOR UPDATE OF j SKIP LOCKED
    ), done AS (
      UPDATE ${jobs} j SET resolution_note = ${note}::text, resolved_at = ${now}
      WHERE j.id = ANY(ARRAY(SELECT id FROM chosen)) AND ${DEAD} RETURNING 1
    )
    SELECT count(*)::int AS n FROM done`,
    values: p.values,
  });
  return (rows[0]?.n as number) ?? 0;
}
