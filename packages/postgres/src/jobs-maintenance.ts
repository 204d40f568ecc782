/**
 * Leader-only maintenance: promote due jobs, find the next due time, rescue expired leases and
 * prune finished jobs. Each is safe to run concurrently with anything, in any number of
 * processes: candidates are locked with FOR UPDATE SKIP LOCKED and every write re-checks its
 * condition on the locked row (compare-and-set).
 *
 * Invariants (docs/design/backend-semantics.md):
 * - The rescuer only moves jobs still `running` with `lease_expires_at < now` at the moment of
 *   the write, counts the lost attempt, appends a `lease_expired` error and clears the token,
 *   so the old holder's later writes are fenced off. A job that will run again goes to
 *   `retrying` with its own random due time in [now, now + spread) (ADR 0019: the jobs of one
 *   crashed worker come due apart), or to `queued` at now when the spread is 0.
 * - Pruning deletes by `expires_at <= now`, then trims per (queue, state) count rules, then
 *   deletes expired period keys of unique jobs (ADR 0016), at most `limit` rows per call in total.
 * - Each write finds its locked candidates by `id = ANY(ARRAY(…))` (primary-key probes, whatever
 *   the planner guesses for `LIMIT $n` in a generic plan) and rechecks the state in the form of
 *   recheckStateSql.
 */
import { MAX_ERRORS_KEPT, rescueSpreadMs, type PromoteResult, type PruneParams, type RescueParams, type RescueResult } from '@spindle/core';
import { changeJobs, type Ctx } from './context.js';
import { pruneKeysSql } from './unique-sql.js';
import { appendErrorSql, clockCte, expiresSql, jobEventSql, msSql, notifyCtes, nowSql, NOTIFIED, recheckStateSql, stateSql } from './sql.js';

export async function promoteDueJobs(ctx: Ctx, params: { limit: number; now?: Date }): Promise<PromoteResult> {
  ctx.db.assertOpen();
  if (params.limit <= 0) return { promoted: 0, queues: [] };
  const { jobs } = ctx.names;
  const text = `WITH ${clockCte('$1')},
  due AS MATERIALIZED (
    SELECT j.id FROM ${jobs} j
    WHERE j.state IN ('scheduled', 'retrying') AND j.run_at <= ${nowSql('$1')}
    ORDER BY j.run_at LIMIT $2
    FOR UPDATE OF j SKIP LOCKED
  ), out AS (
    UPDATE ${jobs} j SET state = 'queued'
    FROM clock c
    WHERE j.id = ANY(ARRAY(SELECT id FROM due)) AND ${recheckStateSql('j.state', ['scheduled', 'retrying'])} AND j.run_at <= c.now
    RETURNING j.queue, j.seq AS ord, ${jobEventSql({ type: `'promoted'`, job: 'j' })} AS ev, c.at
  ), ${notifyCtes('out', '$3', '$4', '(SELECT at FROM clock)')}
  SELECT queue, ev, at, ${NOTIFIED} AS notified FROM out ORDER BY ord`;
  const rows = await changeJobs(ctx, 'promoteDueJobs', {
    name: ctx.names.statement('promote'),
    text,
    values: [params.now ?? null, params.limit, ctx.names.channel, ctx.events.prefix],
  });
  return { promoted: rows.length, queues: [...new Set(rows.map((r) => r.queue as string))].sort() };
}

export async function nextDueAt(ctx: Ctx): Promise<Date | null> {
  const rows = await ctx.db.query('nextDueAt', {
    name: ctx.names.statement('next_due'),
    text: `SELECT min(run_at) AS at FROM ${ctx.names.jobs} WHERE state IN ('scheduled', 'retrying')`,
  });
  return (rows[0]?.at as Date | null) ?? null;
}

export async function rescueExpiredLeases(ctx: Ctx, params: RescueParams): Promise<RescueResult> {
  ctx.db.assertOpen();
  const result: RescueResult = { requeued: [], dead: [], cancelled: [] };
  const spread = rescueSpreadMs(params.spreadMs);
  if (params.limit <= 0) return result;
  const { jobs } = ctx.names;
  // Every expression reads the locked row as it is at the write (not the statement's snapshot),
  // so a cancel request or heartbeat that committed meanwhile is honoured. $8: the spread (ms).
  const next = `(CASE WHEN j.cancel_requested THEN 'cancelled' WHEN j.attempt >= j.max_retries + 1 THEN 'dead'
      WHEN $8::int > 0 THEN 'retrying' ELSE 'queued' END)`;
  const again = `${next} IN ('queued', 'retrying')`;
  // random() is volatile: evaluated per row, so each job gets its own delay in [0, $8).
  const dueAt = `c.now + ${msSql('floor(random() * $8::int)')}`;
  const message = `'lease expired: worker ' || coalesce(j.worker_id, 'unknown') || ' stopped renewing it'`;
  const error = `jsonb_build_object('kind', 'lease_expired', 'name', 'LeaseExpired', 'message', ${message},
      'workerId', j.worker_id, 'attempt', j.attempt, 'round', j.round, 'at', c.at)`;
  const text = `WITH ${clockCte('$1')},
  expired AS MATERIALIZED (
    SELECT j.id FROM ${jobs} j
    WHERE j.state = 'running' AND j.lease_expires_at < ${nowSql('$1')}
    ORDER BY j.lease_expires_at LIMIT $2
    FOR UPDATE OF j SKIP LOCKED
  ), out AS (
    UPDATE ${jobs} j SET
      state = ${next},
      lease_token = NULL,
      lease_expires_at = NULL,
      errors = ${appendErrorSql('j.errors', error, '$3')},
      run_at = CASE WHEN ${again} THEN ${dueAt} ELSE j.run_at END,
      failure_reason = CASE WHEN ${next} = 'dead' THEN 'lease expired' ELSE j.failure_reason END,
      first_failed_at = CASE WHEN ${next} <> 'cancelled' THEN coalesce(j.first_failed_at, c.now) ELSE j.first_failed_at END,
      last_failed_at = CASE WHEN ${next} <> 'cancelled' THEN c.now ELSE j.last_failed_at END,
      finished_at = CASE WHEN ${again} THEN j.finished_at ELSE c.now END,
      expires_at = CASE ${next}
        WHEN 'dead' THEN ${expiresSql('c.now', 'coalesce(j.dead_keep_ms, $5::bigint)')}
        WHEN 'cancelled' THEN ${expiresSql('c.now', '$4::bigint')}
        ELSE j.expires_at END
    FROM clock c
    WHERE j.id = ANY(ARRAY(SELECT id FROM expired)) AND ${recheckStateSql('j.state', ['running'])} AND j.lease_expires_at < c.now
    RETURNING j.id, j.state, j.seq AS ord, ${jobEventSql({
      type: `'rescued'`,
      job: 'j',
      data: `json_build_object('message', ${message}, 'kind', 'lease_expired')`,
    })} AS ev, c.at
  ), ${notifyCtes('out', '$6', '$7', '(SELECT at FROM clock)')}
  SELECT id, state, ev, at, ${NOTIFIED} AS notified FROM out ORDER BY ord`;
  const rows = await changeJobs(ctx, 'rescueExpiredLeases', {
    name: ctx.names.statement('rescue'),
    text,
    values: [
      params.now ?? null,
      params.limit,
      MAX_ERRORS_KEPT,
      params.retention.cancelledMs,
      params.retention.deadMs,
      ctx.names.channel,
      ctx.events.prefix,
      spread,
    ],
  });
  for (const row of rows) {
    const id = row.id as string;
    if (row.state === 'queued' || row.state === 'retrying') result.requeued.push(id);
    else if (row.state === 'dead') result.dead.push(id);
    else result.cancelled.push(id);
  }
  return result;
}

export async function pruneJobs(ctx: Ctx, params: PruneParams): Promise<number> {
  ctx.db.assertOpen();
  if (params.limit <= 0) return 0;
  const { jobs } = ctx.names;
  const expired = await ctx.db.query('pruneJobs', {
    name: ctx.names.statement('prune_expired'),
    text: `WITH victims AS MATERIALIZED (
      SELECT id FROM ${jobs} WHERE expires_at <= ${nowSql('$1')} LIMIT $2 FOR UPDATE SKIP LOCKED
    ), gone AS (
      DELETE FROM ${jobs} j WHERE j.id = ANY(ARRAY(SELECT id FROM victims)) AND j.expires_at <= ${nowSql('$1')} RETURNING 1
    )
    SELECT count(*)::int AS n FROM gone`,
    values: [params.now ?? null, params.limit],
  });
  let deleted = (expired[0]?.n as number) ?? 0;
  const room = params.limit - deleted;
  if (room <= 0) return deleted;
  // Count rules: a finished job is deleted when more than its own keep_count newer jobs of its
  // queue and state exist (newest by finished_at, then seq). One branch per state, each naming
  // its state as a literal so that it reads that state's partial index. The queues that have a
  // count rule are computed once per branch (`= ANY(ARRAY(…))`, an init plan): as a semi-join,
  // the plan this named statement cached while the table was small rescanned every finished row
  // for each finished row — quadratic, 20 s at 10k dead jobs, minutes at 50k (chaos C11).
  const trimmed = await ctx.db.query('pruneJobs', {
    name: ctx.names.statement('prune_count'),
    text: `WITH ranked AS (${(['completed', 'dead'] as const)
      .map((state) => {
        const keep = `${state}_keep_count`;
        return `
      SELECT j.id, j.${keep} AS keep,
        row_number() OVER (PARTITION BY j.queue ORDER BY j.finished_at DESC NULLS LAST, j.seq DESC) AS rank
      FROM ${jobs} j
      WHERE j.state = ${stateSql(state)}
        AND j.queue = ANY(ARRAY(SELECT DISTINCT r.queue FROM ${jobs} r WHERE r.state = ${stateSql(state)} AND r.${keep} IS NOT NULL))`;
      })
      .join('\n      UNION ALL')}
    ), victims AS (
      SELECT id FROM ranked WHERE keep IS NOT NULL AND rank > keep LIMIT $1
    ), gone AS (
      DELETE FROM ${jobs} j WHERE j.id = ANY(ARRAY(SELECT id FROM victims)) AND ${recheckStateSql('j.state', ['completed', 'dead'])} RETURNING 1
    )
    SELECT count(*)::int AS n FROM gone`,
    values: [room],
  });
  deleted += (trimmed[0]?.n as number) ?? 0;
  // Expired period keys of unique jobs (unique-insert.ts) share the call's row budget.
  if (deleted < params.limit) {
    const keys = await ctx.db.query('pruneJobs', {
      name: ctx.names.statement('prune_unique_keys'),
      text: pruneKeysSql(ctx.names),
      values: [params.now ?? null, params.limit - deleted],
    });
    deleted += (keys[0]?.n as number) ?? 0;
  }
  return deleted;
}
