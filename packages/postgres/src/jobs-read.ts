/**
 * Reads: getJob, listJobs (filters + keyset paging by seq), countJobs, countMatchingJobs, and the queue settings
 * (pause, resume, listQueues).
 *
 * Invariants:
 * - Paging never uses OFFSET: the cursor is the last row's seq (encodeCursor), the next page
 *   continues strictly after it in the chosen order. One extra row is read to know whether a
 *   next page exists.
 * - Pause/resume upsert the `queues` row and publish `paused` / `resumed` in the same statement.
 * - Every condition on a state names it as a literal, one state per scan where it matters, so
 *   each scan can use that state's partial index (docs/decisions/0007): a listing of several
 *   states merges one ordered, limited scan per state; counts are a UNION ALL of per-state
 *   counts; the distinct queues come from a loose scan of each (queue, …) partial index.
 * - `waiting` (flow parents) has its (queue, seq) partial index since migration 0006 (flows),
 *   like the finished states: counted, and found by listQueues' loose scans.
 */
import {
  decodeCursor,
  encodeCursor,
  type JobFilter,
  type JobPage,
  type JobRecord,
  type JobState,
  type ListJobsParams,
  type QueueInfo,
  type QueueStateCount,
} from '@spindle/core';
import { changeJobs, type Ctx } from './context.js';
import { filterConditions, whereClause } from './filters.js';
import { jobColumns, rowToJobRecord } from './rows.js';
import { epochMsSql, notifyCtes, NOTIFIED, Params, stateInSql, stateSql } from './sql.js';

export async function getJob(ctx: Ctx, id: string): Promise<JobRecord | null> {
  const rows = await ctx.db.query('getJob', {
    name: ctx.names.statement('get_job'),
    text: `SELECT ${jobColumns()} FROM ${ctx.names.jobs} WHERE id = $1`,
    values: [id],
  });
  return rows[0] ? rowToJobRecord(rows[0]) : null;
}

export async function listJobs(ctx: Ctx, params: ListJobsParams): Promise<JobPage> {
  const p = new Params();
  const where = filterConditions(params.filter, p, 'j', true);
  const newest = (params.order ?? 'newest') === 'newest';
  const dir = newest ? 'DESC' : 'ASC';
  if (params.cursor != null) {
    where.push(`j.seq ${newest ? '<' : '>'} ${p.add(decodeCursor(params.cursor))}::bigint`);
  }
  const limit = p.add(params.limit + 1);
  const select = (state: string[]) =>
    `SELECT ${jobColumns('j')} FROM ${ctx.names.jobs} j ${whereClause([...where, ...state])} ORDER BY j.seq ${dir} LIMIT ${limit}`;
  const states = params.filter?.states === undefined ? undefined : [...new Set(params.filter.states)];
  // Several states: one scan per state (each on its own index, in seq order, limited), merged.
  const text =
    states === undefined || states.length <= 1
      ? select(states === undefined ? [] : [stateInSql('j.state', states)])
      : `SELECT * FROM (${states.map((s) => `(${select([`j.state = ${stateSql(s)}`])})`).join(' UNION ALL ')}) u
        ORDER BY u.seq ${dir} LIMIT ${limit}`;
  const rows = await ctx.db.query('listJobs', { text, values: p.values });
  const more = rows.length > params.limit;
  const page = more ? rows.slice(0, params.limit) : rows;
  return {
    jobs: page.map(rowToJobRecord),
    nextCursor: more ? encodeCursor(page[page.length - 1]!.seq as string) : null,
  };
}

/**
 * The states countJobs and listQueues read, each group through its partial index: `queued`
 * (claim_idx), `scheduled`/`retrying` (due_idx), `running` (lease_idx), and the finished states
 * (completed_idx, dead_idx, cancelled_idx), and `waiting` (waiting_idx, flows).
 */
const COUNTED_STATES: ReadonlyArray<readonly JobState[]> = [['queued'], ['scheduled', 'retrying'], ['running'], ['waiting'], ['completed'], ['dead'], ['cancelled']];

/** States whose partial index leads with `queue` (a loose index scan finds their distinct queues). */
const QUEUE_INDEXED_STATES: readonly JobState[] = ['queued', 'waiting', 'completed', 'dead', 'cancelled'];

export async function countJobs(ctx: Ctx, params: { queue?: string } = {}): Promise<QueueStateCount[]> {
  const p = new Params();
  const byQueue = params.queue === undefined ? '' : ` AND queue = ${p.add(params.queue)}`;
  const branches = COUNTED_STATES.map(
    (group) => `SELECT queue, ${group.length === 1 ? `${stateSql(group[0]!)}::text AS state` : 'state'}, count(*)::int AS count
      FROM ${ctx.names.jobs} WHERE state IN (${group.map(stateSql).join(', ')})${byQueue}
      GROUP BY queue${group.length === 1 ? '' : ', state'}`,
  );
  const rows = await ctx.db.query('countJobs', {
    name: ctx.names.statement(params.queue === undefined ? 'count_all' : 'count_queue'),
    text: `${branches.join('\n    UNION ALL ')}
    ORDER BY queue, state`,
    values: p.values,
  });
  return rows.map((r) => ({ queue: r.queue as string, state: r.state as QueueStateCount['state'], count: r.count as number }));
}

/**
 * The exact number of jobs `filter` selects. Several states are counted one state per branch
 * (each on its partial index, as listJobs scans them) and summed.
 */
export async function countMatchingJobs(ctx: Ctx, params: { filter: JobFilter }): Promise<number> {
  const p = new Params();
  const where = filterConditions(params.filter, p, 'j', true);
  const states = params.filter.states === undefined ? undefined : [...new Set(params.filter.states)];
  const count = (state: string[]) => `SELECT count(*) AS n FROM ${ctx.names.jobs} j ${whereClause([...where, ...state])}`;
  const text =
    states === undefined || states.length <= 1
      ? count(states === undefined ? [] : [stateInSql('j.state', states)])
      : `SELECT sum(u.n) AS n FROM (${states.map((s) => count([`j.state = ${stateSql(s)}`])).join(' UNION ALL ')}) u`;
  const rows = await ctx.db.query('countMatchingJobs', { text: `SELECT coalesce((${text}), 0)::bigint AS n`, values: p.values });
  return Number(rows[0]!.n);
}

async function setPaused(ctx: Ctx, queue: string, paused: boolean): Promise<void> {
  const { queues } = ctx.names;
  await changeJobs(ctx, paused ? 'pauseQueue' : 'resumeQueue', {
    text: `WITH out AS (
      INSERT INTO ${queues} AS q (name, paused, updated_at) VALUES ($1, $2, now())
      ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused, updated_at = EXCLUDED.updated_at
      RETURNING 1 AS ord, json_build_array(CASE WHEN q.paused THEN 'paused' ELSE 'resumed' END, q.name)::text AS ev,
        ${epochMsSql('q.updated_at')} AS at
    ), ${notifyCtes('out', '$3', '$4', '(SELECT at FROM out)')}
    SELECT ev, at, ${NOTIFIED} AS notified FROM out`,
    values: [queue, paused, ctx.names.channel, ctx.events.prefix],
  });
}

export function pauseQueue(ctx: Ctx, queue: string): Promise<void> {
  return setPaused(ctx, queue, true);
}

export function resumeQueue(ctx: Ctx, queue: string): Promise<void> {
  return setPaused(ctx, queue, false);
}

export async function listQueues(ctx: Ctx): Promise<QueueInfo[]> {
  const { jobs, queues } = ctx.names;
  // Distinct queues of each state with a (queue, …) index by a loose index scan (one index probe
  // per queue). due_idx and lease_idx have no queue column: all scheduled, retrying and running
  // rows are read (through those indexes) — linear in their number.
  const loose = QUEUE_INDEXED_STATES.map((state) => {
    const cond = `state = ${stateSql(state)}`;
    return `q_${state}(name) AS (
      (SELECT queue FROM ${jobs} WHERE ${cond} ORDER BY queue LIMIT 1)
      UNION ALL
      SELECT (SELECT j.queue FROM ${jobs} j WHERE j.${cond} AND j.queue > q.name ORDER BY j.queue LIMIT 1)
      FROM q_${state} q WHERE q.name IS NOT NULL
    )`;
  });
  const rows = await ctx.db.query('listQueues', {
    name: ctx.names.statement('list_queues'),
    text: `WITH RECURSIVE ${loose.join(', ')}
    SELECT a.name, bool_or(a.paused) AS paused, max(s.concurrency_limit) AS concurrency, max(s.rate_max) AS rate_max,
      max(s.rate_interval_ms) AS rate_interval_ms, max(s.held_until) FILTER (WHERE s.held_until > now()) AS held_until,
      bool_or(s.grouped) AS grouped, max(s.group_concurrency) AS group_concurrency, max(s.group_rate_max) AS group_rate_max,
      max(s.group_rate_interval_ms) AS group_rate_interval_ms, bool_or(s.fifo) AS fifo FROM (
      ${QUEUE_INDEXED_STATES.map((state) => `SELECT name, false AS paused FROM q_${state} WHERE name IS NOT NULL`).join('\n      UNION ALL ')}
      UNION ALL SELECT DISTINCT queue, false FROM ${jobs} WHERE state IN ('scheduled', 'retrying')
      UNION ALL SELECT DISTINCT queue, false FROM ${jobs} WHERE state = 'running'
      UNION ALL SELECT name, paused FROM ${queues}
    ) a LEFT JOIN ${queues} s ON s.name = a.name GROUP BY a.name ORDER BY a.name`,
  });
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  const rate = (max: unknown, interval: unknown) => (max === null || interval === null ? null : { max: Number(max), intervalMs: Number(interval) });
  return rows.map((r) => ({
    name: r.name as string,
    paused: r.paused === true,
    limits: {
      concurrency: num(r.concurrency),
      rate: rate(r.rate_max, r.rate_interval_ms),
      groupConcurrency: num(r.group_concurrency),
      groupRate: rate(r.group_rate_max, r.group_rate_interval_ms),
      fifo: r.fifo === true,
    },
    heldUntil: (r.held_until as Date | null) ?? null,
    grouped: r.grouped === true,
  }));
}

/** Each priority with queued jobs (a loose scan of the claim index), then its earliest run_at. */
export async function oldestQueuedAt(ctx: Ctx, queue: string): Promise<Date | null> {
  const { jobs } = ctx.names;
  const rows = await ctx.db.query('oldestQueuedAt', {
    name: ctx.names.statement('oldest_queued'),
    text: `WITH RECURSIVE p(priority) AS (
        (SELECT priority FROM ${jobs} WHERE queue = $1 AND state = 'queued' ORDER BY priority LIMIT 1)
        UNION ALL
        SELECT (SELECT j.priority FROM ${jobs} j WHERE j.queue = $1 AND j.state = 'queued' AND j.priority > p.priority
                ORDER BY j.priority LIMIT 1)
        FROM p WHERE p.priority IS NOT NULL)
      SELECT min((SELECT j.run_at FROM ${jobs} j WHERE j.queue = $1 AND j.state = 'queued' AND j.priority = p.priority
                  ORDER BY j.run_at LIMIT 1)) AS at
      FROM p WHERE p.priority IS NOT NULL`,
    values: [queue],
  });
  return (rows[0]?.at as Date | null | undefined) ?? null;
}
