/**
 * Reads: getJob, listJobs (filters + keyset paging by seq), countJobs, and the queue settings
 * (pause, resume, listQueues).
 *
 * Invariants:
 * - Paging never uses OFFSET: the cursor is the last row's seq (encodeCursor), the next page
 *   continues strictly after it in the chosen order. One extra row is read to know whether a
 *   next page exists.
 * - Pause/resume upsert the `queues` row and publish `paused` / `resumed` in the same statement.
 */
import { decodeCursor, encodeCursor, type JobPage, type JobRecord, type ListJobsParams, type QueueInfo, type QueueStateCount } from '@spindle/core';
import { changeJobs, type Ctx } from './context.js';
import { filterConditions, whereClause } from './filters.js';
import { jobColumns, rowToJobRecord } from './rows.js';
import { epochMsSql, notifyCtes, NOTIFIED, Params } from './sql.js';

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
  const where = filterConditions(params.filter, p);
  const newest = (params.order ?? 'newest') === 'newest';
  if (params.cursor != null) {
    where.push(`j.seq ${newest ? '<' : '>'} ${p.add(decodeCursor(params.cursor))}::bigint`);
  }
  const limit = p.add(params.limit + 1);
  const rows = await ctx.db.query('listJobs', {
    text: `SELECT ${jobColumns('j')} FROM ${ctx.names.jobs} j ${whereClause(where)}
      ORDER BY j.seq ${newest ? 'DESC' : 'ASC'} LIMIT ${limit}`,
    values: p.values,
  });
  const more = rows.length > params.limit;
  const page = more ? rows.slice(0, params.limit) : rows;
  return {
    jobs: page.map(rowToJobRecord),
    nextCursor: more ? encodeCursor(page[page.length - 1]!.seq as string) : null,
  };
}

export async function countJobs(ctx: Ctx, params: { queue?: string } = {}): Promise<QueueStateCount[]> {
  const p = new Params();
  const where = params.queue === undefined ? '' : `WHERE queue = ${p.add(params.queue)}`;
  const rows = await ctx.db.query('countJobs', {
    text: `SELECT queue, state, count(*)::int AS count FROM ${ctx.names.jobs} ${where}
      GROUP BY queue, state ORDER BY queue, state`,
    values: p.values,
  });
  return rows.map((r) => ({ queue: r.queue as string, state: r.state as QueueStateCount['state'], count: r.count as number }));
}

async function setPaused(ctx: Ctx, queue: string, paused: boolean): Promise<void> {
  const { queues } = ctx.names;
  await changeJobs(ctx, paused ? 'pauseQueue' : 'resumeQueue', {
    text: `WITH out AS (
      INSERT INTO ${queues} AS q (name, paused, updated_at) VALUES ($1, $2, now())
      ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused, updated_at = EXCLUDED.updated_at
      RETURNING 1 AS ord, jsonb_build_object('type', CASE WHEN q.paused THEN 'paused' ELSE 'resumed' END,
        'queue', q.name, 'at', ${epochMsSql('q.updated_at')}) AS ev
    ), ${notifyCtes('out', '$3', '$4')}
    SELECT ev, ${NOTIFIED} AS notified FROM out`,
    values: [queue, paused, ctx.names.channel, ctx.events.origin],
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
  // Distinct queues of the jobs table by a loose index scan (one index probe per queue).
  const rows = await ctx.db.query('listQueues', {
    text: `WITH RECURSIVE job_queues(name) AS (
      (SELECT queue FROM ${jobs} ORDER BY queue LIMIT 1)
      UNION ALL
      SELECT (SELECT j.queue FROM ${jobs} j WHERE j.queue > jq.name ORDER BY j.queue LIMIT 1)
      FROM job_queues jq WHERE jq.name IS NOT NULL
    )
    SELECT name, bool_or(paused) AS paused FROM (
      SELECT name, false AS paused FROM job_queues WHERE name IS NOT NULL
      UNION ALL SELECT name, paused FROM ${queues}
    ) all_queues GROUP BY name ORDER BY name`,
  });
  return rows.map((r) => ({ name: r.name as string, paused: r.paused === true }));
}
