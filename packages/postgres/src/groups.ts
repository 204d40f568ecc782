/**
 * Tenant groups on PostgreSQL (docs/decisions/0015-groups.md): marking a queue grouped, and the
 * claim statement of a grouped queue, which rotates across its groups.
 *
 * Invariants:
 * - A queue becomes grouped (settings row `grouped`) in a statement of its own, committed before
 *   the first grouped insert into it is sent; the same statement gives the queue's live ungrouped
 *   jobs the key ''. Every insert statement stores '' for an ungrouped job of a queue it sees
 *   grouped (insert-sql.ts), so the queue's queued jobs are all in the group index. An insert
 *   whose snapshot predates the flag may still store NULL: such a job is claimed when the
 *   rotation finds no group with queued jobs (the statement's fallback), never lost.
 * - The rotation (one statement): the distinct keys with queued jobs, walked in key order (a loose
 *   index scan) from just after the queue's cursor, wrapping once, passing over keys at a group
 *   limit, until `limit` members are found or MAX_WALK keys were looked at. Each member's jobs are
 *   taken by (priority, seq) — a retried job keeps its place (FIFO) — a fair share each (or its
 *   cap), then what is left to the members that filled their share; they are ranked round-robin
 *   (each member's r-th before anyone's (r+1)-th), the first `limit` claimed (all locked FOR
 *   UPDATE SKIP LOCKED), and the cursor moves to the last member served (or looked at).
 * - Without limits the statement runs alone: concurrent claims skip each other's rows, and the
 *   rotation is fair per claim, not a global order. With group limits it runs inside the limited
 *   claim's transaction (queue-limits.ts), after the queue's settings row was locked: counts of
 *   running jobs and of rate records are then exact.
 */
import type { JobInsert } from '@spindle/core';
import type pg from 'pg';
import type { Ctx } from './context.js';
import { claimColumns } from './rows.js';
import { claimClockCte, epochMsSql, jobEventSql, msSql, notifyCtes, NOTIFIED, perSchema, recheckStateSql, releaseQueuedKeySql } from './sql.js';

/** Most keys one claim looks at past the ones it needs. */
export const MAX_WALK = 256;

const markSql = perSchema(({ jobs, queues }) => `WITH flag AS (
    INSERT INTO ${queues} AS q (name, paused, updated_at, grouped) VALUES ($1, false, now(), true)
    ON CONFLICT (name) DO UPDATE SET grouped = true, updated_at = EXCLUDED.updated_at WHERE NOT q.grouped
    RETURNING 1
  )
  UPDATE ${jobs} SET group_key = '' WHERE queue = $1 AND group_key IS NULL
    AND state IN ('scheduled', 'queued', 'running', 'retrying', 'waiting') AND EXISTS (SELECT 1 FROM flag)`);

/** Makes the queues of `jobs` that carry a group grouped, once per process and queue. */
export async function markGroupedQueues(ctx: Ctx, jobs: readonly JobInsert[]): Promise<void> {
  for (const job of jobs) {
    if (job.group == null || ctx.groupedQueues.has(job.queue)) continue;
    await ctx.db.query('insertJobs', { name: ctx.names.statement('mark_grouped'), text: markSql(ctx.names), values: [job.queue] });
    if (ctx.groupedQueues.size > 10_000) ctx.groupedQueues.clear();
    ctx.groupedQueues.add(job.queue);
    ctx.limits.forget(job.queue);
  }
}

/** A loose-scan step for the walk: the first group with queued jobs after `bound` (or the first of all), as `k`. */
const keyAfter = (jobs: string, bound: string | null) => `(SELECT j.group_key AS k FROM ${jobs} j
      WHERE j.queue = $2 AND j.state = 'queued' AND j.group_key IS NOT NULL${bound ? ` AND j.group_key > ${bound}` : ''}
      ORDER BY j.group_key LIMIT 1)`;

/**
 * How many jobs group `k` may start now: `$3` (the claim's limit) for '' and without group limits;
 * else what the running (FIFO: running or retrying) count and the rate window leave.
 */
const capSql = (jobs: string, rateLog: string, k: string) => `CASE WHEN ${k} = '' THEN $3::int ELSE least($3::int,
      CASE WHEN $8::int IS NULL THEN $3::int ELSE greatest(0, $8::int - (SELECT count(*)::int FROM ${jobs} r
        WHERE r.queue = $2 AND r.group_key = ${k} AND r.state IN ('running', 'retrying') AND (r.state = 'running' OR $9::boolean))) END,
      CASE WHEN $10::int IS NULL THEN $3::int ELSE greatest(0, $10::int - (SELECT coalesce(sum(l.n), 0)::int FROM ${rateLog} l
        WHERE l.queue = $2 AND l.group_key = ${k} AND l.at > (SELECT now FROM clock) - ${msSql('$11::float8')})) END) END`;

/**
 * The grouped claim. `$1` now, `$2` queue, `$3` limit, `$4` lease ms, `$5` worker, `$6`/`$7`
 * notify channel and prefix, `$8` per-group running limit (FIFO: 1), `$9` FIFO, `$10`/`$11`
 * per-group rate, `$12` MAX_WALK. `guarded`: takes nothing from a queue that is paused, held or
 * limited at the queue level (the statement run without the limited path's lock). One row per
 * claimed job, or a single row with a NULL id when none; `cut_short` on every row: a group limit
 * passed over members or stopped one that has more queued jobs.
 */
export const groupedClaimSql = (guarded: boolean) =>
  perSchema(({ jobs, queues, q }) => {
    const rateLog = `${q}.group_rate_log`;
    const guard = guarded
      ? `q.paused OR q.concurrency_limit IS NOT NULL OR q.rate_max IS NOT NULL OR q.held_until > (SELECT now FROM clock)
          OR q.fifo OR q.group_concurrency IS NOT NULL OR q.group_rate_max IS NOT NULL`
      : 'q.paused';
    return `WITH RECURSIVE ${claimClockCte('$1')},
  token AS MATERIALIZED (SELECT left(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 48) AS random),
  settings AS MATERIALIZED (
    SELECT (SELECT q.group_cursor FROM ${queues} q WHERE q.name = $2) AS cursor,
      EXISTS (SELECT 1 FROM ${queues} q WHERE q.name = $2 AND (${guard})) AS blocked
  ),
  walk (k, wrapped, n, found, cap) AS (
    SELECT f.k, f.wrapped, 1, CASE WHEN f.cap > 0 THEN 1 ELSE 0 END, f.cap FROM (
      SELECT s.k, s.wrapped, ${capSql(jobs, rateLog, 's.k')} AS cap FROM (
        SELECT coalesce(a.k, (SELECT f.k FROM ${keyAfter(jobs, null)} f)) AS k, a.k IS NULL AS wrapped
        FROM settings st
        LEFT JOIN LATERAL ${keyAfter(jobs, 'st.cursor')} a ON true
        WHERE NOT st.blocked
        OFFSET 0
      ) s WHERE s.k IS NOT NULL
    ) f
    UNION ALL
    SELECT x.k, x.wrapped, w.n + 1, w.found + CASE WHEN x.cap > 0 THEN 1 ELSE 0 END, x.cap
    FROM walk w CROSS JOIN LATERAL (
      SELECT s.k, s.wrapped, ${capSql(jobs, rateLog, 's.k')} AS cap FROM (
        SELECT coalesce(a.k, CASE WHEN NOT w.wrapped THEN (SELECT f.k FROM ${keyAfter(jobs, null)} f) END) AS k,
          w.wrapped OR a.k IS NULL AS wrapped
        FROM (SELECT 1) one
        LEFT JOIN LATERAL ${keyAfter(jobs, 'w.k')} a ON true
        OFFSET 0
      ) s
      WHERE s.k IS NOT NULL AND NOT (s.wrapped AND s.k > coalesce((SELECT cursor FROM settings), s.k))
    ) x
    WHERE w.found < $3::int AND w.n < $3::int + $12::int
  ),
  members AS MATERIALIZED (
    SELECT k, n, cap, count(*) OVER () AS g FROM walk WHERE cap > 0
  ),
  first_pass AS MATERIALIZED (
    SELECT x.k, x.n, x.cap, x.want, x.id, x.priority, x.seq,
      row_number() OVER (PARTITION BY x.k ORDER BY x.priority, x.seq) AS rank FROM (
      SELECT m.k, m.n, m.cap, least(m.cap, ceil($3::float8 / m.g)::int) AS want, h.id, h.priority, h.seq
      FROM members m CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.seq FROM ${jobs} j
        WHERE j.queue = $2 AND j.state = 'queued' AND j.group_key = m.k
        ORDER BY j.priority, j.seq LIMIT least(m.cap, ceil($3::float8 / m.g)::int)
        FOR UPDATE SKIP LOCKED
      ) h
    ) x
  ),
  full_members AS MATERIALIZED (
    SELECT f.k, f.n, f.cap, f.rank AS got, f.priority AS last_priority, f.seq AS last_seq
    FROM first_pass f WHERE f.rank = f.want AND f.cap > f.want
  ),
  second_pass AS MATERIALIZED (
    SELECT fm.k, fm.n, h.id, fm.got + row_number() OVER (PARTITION BY fm.k ORDER BY h.priority, h.seq) AS rank
    FROM full_members fm CROSS JOIN LATERAL (
      SELECT j.id, j.priority, j.seq FROM ${jobs} j
      WHERE j.queue = $2 AND j.state = 'queued' AND j.group_key = fm.k AND (j.priority, j.seq) > (fm.last_priority, fm.last_seq)
      ORDER BY j.priority, j.seq LIMIT least(fm.cap - fm.got, $3::int - (SELECT count(*) FROM first_pass))
      FOR UPDATE SKIP LOCKED
    ) h
    WHERE (SELECT count(*) FROM first_pass) < $3::int
  ),
  heads AS MATERIALIZED (
    SELECT k, n, id, rank FROM first_pass UNION ALL SELECT k, n, id, rank FROM second_pass
  ),
  fallback AS MATERIALIZED (
    SELECT j.id FROM ${jobs} j
    WHERE j.queue = $2 AND j.state = 'queued' AND j.group_key IS NULL AND NOT (SELECT blocked FROM settings)
      AND NOT EXISTS (SELECT 1 FROM walk)
    ORDER BY j.priority, j.run_at, j.seq LIMIT $3::int
    FOR UPDATE SKIP LOCKED
  ),
  chosen AS MATERIALIZED (
    SELECT id, k, n FROM heads ORDER BY rank, n LIMIT $3::int
  ),
  out AS (
    UPDATE ${jobs} j SET state = 'running', attempt = j.attempt + 1,
      lease_token = t.random || lpad(to_hex(j.seq), 16, '0'),
      lease_expires_at = c.now + ${msSql('$4::float8')}, started_at = c.now, worker_id = $5,
      cancel_requested = false, ${releaseQueuedKeySql('j')}
    FROM clock c, token t
    WHERE j.id = ANY(ARRAY(SELECT id FROM chosen UNION ALL SELECT id FROM fallback)) AND ${recheckStateSql('j.state', ['queued'])}
    RETURNING ${claimColumns('j')}, j.group_key, j.seq AS ord, c.at, ${jobEventSql({ type: `'started'`, job: 'j' })} AS ev
  ),
  served AS MATERIALIZED (
    SELECT o.group_key AS k, count(*)::int AS taken FROM out o
    WHERE $10::int IS NOT NULL AND o.group_key IS NOT NULL GROUP BY o.group_key
  ),
  rate_record AS (
    INSERT INTO ${rateLog} (queue, group_key, at, n)
    SELECT $2, s.k, (SELECT now FROM clock), s.taken FROM served s WHERE $10::int IS NOT NULL AND s.k <> ''
  ),
  cursor_move AS (
    UPDATE ${queues} q SET group_cursor = m.k
    FROM (SELECT coalesce((SELECT c.k FROM chosen c ORDER BY c.n DESC LIMIT 1),
                          (SELECT w.k FROM walk w ORDER BY w.n DESC LIMIT 1)) AS k) m
    WHERE q.name = $2 AND m.k IS NOT NULL AND q.group_cursor IS DISTINCT FROM m.k
  ),
  cut AS (
    SELECT EXISTS (SELECT 1 FROM walk WHERE cap = 0)
      OR EXISTS (SELECT 1 FROM members m WHERE m.cap < $3::int AND (SELECT count(*) FROM heads h WHERE h.k = m.k) >= m.cap) AS cut_short
  ), ${notifyCtes('out', '$6', '$7', '(SELECT at FROM clock)')}
  SELECT ${claimColumns()}, o.at::float8 AS at, cut.cut_short, ${NOTIFIED} AS notified
  FROM cut LEFT JOIN out o ON true
  ORDER BY o.priority, o.run_at, o.ord`;
  });

/** Values of groupedClaimSql after the claim's own seven. */
export function groupedValues(s: { groupConcurrency: number | null; fifo: boolean; groupRateMax: number | null; groupRateIntervalMs: number | null }): unknown[] {
  return [s.fifo ? 1 : s.groupConcurrency, s.fifo, s.groupRateMax, s.groupRateIntervalMs, MAX_WALK];
}

/** When the earliest rate window of a group with queued jobs frees a start (ms), for a claim that took nothing. */
export async function groupRateWait(client: pg.ClientBase, ctx: Ctx, queue: string, max: number, intervalMs: number, now: number): Promise<number | undefined> {
  const { rows } = await client.query(
    `SELECT min(oldest) AS oldest FROM (
       SELECT ${epochMsSql('min(l.at)')} AS oldest FROM ${ctx.names.q}.group_rate_log l
       WHERE l.queue = $1 AND l.at > to_timestamp($2::float8 / 1000) GROUP BY l.group_key HAVING sum(l.n) >= $3) t`,
    [queue, now - intervalMs, max],
  );
  const oldest = rows[0]?.oldest;
  return oldest == null ? undefined : Math.max(1, Number(oldest) + intervalMs - now);
}
