/**
 * The claim and the writes a live attempt makes while it runs: claimJobs, extendLeases
 * (heartbeats) and updateProgress. One statement per call, whatever the batch size.
 *
 * Invariants (DESIGN §3.2, docs/design/backend-semantics.md):
 * - A claim locks candidates with FOR UPDATE SKIP LOCKED inside a MATERIALIZED CTE (an
 *   optimisation fence: the LIMIT applies before the UPDATE), so concurrent claimers never
 *   wait on each other nor get the same job; a row that stopped being `queued` after our
 *   snapshot is rechecked by the lock and dropped.
 * - Each claim issues a fresh token of 244 random bits (two gen_random_uuid(), 64 hex chars).
 * - The UPDATE finds the locked candidates by `id = ANY(ARRAY(SELECT id FROM candidates))`:
 *   primary-key probes whatever the plan's row estimate (a generic plan guesses 10 % of the
 *   queue for `LIMIT $3` and would otherwise hash-join against a scan of the whole table).
 * - Heartbeats and progress are fenced on (id, attempt, lease_token, state = 'running'); the
 *   outcome of each item is decided by joining on that full fence, so a stale duplicate of a
 *   live lease in the same batch still answers `lease_lost`. Whether a failed item's job exists
 *   is looked up for failed items only (CASE), one primary-key probe each.
 * - All three are relaxed-durability writes (docs/decisions/0007): they run on Db's relaxed pool
 *   (`synchronous_commit = off`), with their NOTIFY in the same statement as always. A lost
 *   claim leaves the job queued and fences the worker off; a lost heartbeat makes the lease look
 *   older; a lost progress value is cosmetic.
 */
import {
  eventData,
  type ClaimedJob,
  type ClaimParams,
  type ExtendLeasesParams,
  type ExtendOutcome,
  type LeaseOutcome,
  type ProgressParams,
} from '@spindle/core';
import { changeJobs, type Ctx } from './context.js';
import { eventsOf } from './events.js';
import { claimColumns, compareSeq, rowToClaimedJob } from './rows.js';
import { foundSql, jobEventSql, msSql, notifyCtes, nowSql, NOTIFIED, perSchema, recheckStateSql } from './sql.js';
import type { Row } from './db.js';

/** The fence's state condition (see recheckStateSql). */
const RUNNING = recheckStateSql('j.state', ['running']);

const claimSql = perSchema(({ jobs, queues }) => `WITH clock AS (SELECT ${nowSql('$1')} AS now),
  candidates AS MATERIALIZED (
    SELECT j.id FROM ${jobs} j
    WHERE j.state = 'queued' AND j.queue = $2
      AND NOT EXISTS (SELECT 1 FROM ${queues} q WHERE q.name = $2 AND q.paused)
    ORDER BY j.priority, j.run_at, j.seq
    LIMIT $3
    FOR UPDATE SKIP LOCKED
  ), out AS (
    UPDATE ${jobs} j SET state = 'running', attempt = j.attempt + 1,
      lease_token = replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''),
      lease_expires_at = c.now + ${msSql('$4::float8')}, started_at = c.now, worker_id = $5,
      cancel_requested = false
    FROM clock c
    WHERE j.id = ANY(ARRAY(SELECT id FROM candidates)) AND ${recheckStateSql('j.state', ['queued'])}
    RETURNING ${claimColumns('j')}, j.seq AS ord,
      ${jobEventSql({ type: `'started'`, job: 'j', at: 'c.now' })} AS ev
  ), ${notifyCtes('out', '$6', '$7')}
  SELECT out.*, ${NOTIFIED} AS notified FROM out`);

export async function claimJobs(ctx: Ctx, params: ClaimParams): Promise<ClaimedJob[]> {
  ctx.db.assertOpen();
  if (params.limit <= 0) return [];
  const rows = await ctx.db.query(
    'claimJobs',
    {
      name: ctx.names.statement('claim'),
      text: claimSql(ctx.names),
      values: [params.now ?? null, params.queue, params.limit, params.leaseMs, params.workerId, ctx.names.channel, ctx.events.origin],
    },
    { relaxed: true },
  );
  rows.sort(claimOrder);
  ctx.events.publishLocal(eventsOf(rows));
  return rows.map(rowToClaimedJob);
}

function claimOrder(a: Row, b: Row): number {
  return (
    (a.priority as number) - (b.priority as number) ||
    (a.run_at as Date).getTime() - (b.run_at as Date).getTime() ||
    compareSeq(a.seq as string, b.seq as string)
  );
}

const extendSql = perSchema(({ jobs }) => `WITH clock AS (SELECT ${nowSql('$1')} AS now),
  input AS (
    SELECT * FROM unnest($2::text[], $3::int[], $4::text[]) WITH ORDINALITY AS t(id, attempt, token, ord)
  ), upd AS (
    UPDATE ${jobs} j SET lease_expires_at = c.now + ${msSql('$5::float8')}
    FROM input i, clock c
    WHERE j.id = i.id AND j.attempt = i.attempt AND j.lease_token = i.token AND ${RUNNING}
    RETURNING j.id, j.attempt, j.lease_token, j.cancel_requested
  )
  SELECT i.ord, u.id IS NOT NULL AS ok, coalesce(u.cancel_requested, false) AS cancel_requested,
    CASE WHEN u.id IS NULL THEN ${foundSql(jobs, 'i.id')} END AS found
  FROM input i
  LEFT JOIN upd u ON u.id = i.id AND u.attempt = i.attempt AND u.lease_token = i.token
  ORDER BY i.ord`);

export async function extendLeases(ctx: Ctx, params: ExtendLeasesParams): Promise<ExtendOutcome[]> {
  ctx.db.assertOpen();
  if (params.leases.length === 0) return [];
  const rows = await ctx.db.query(
    'extendLeases',
    {
      name: ctx.names.statement('extend'),
      text: extendSql(ctx.names),
      values: [
        params.now ?? null,
        params.leases.map((l) => l.id),
        params.leases.map((l) => l.attempt),
        params.leases.map((l) => l.leaseToken),
        params.leaseMs,
      ],
    },
    { relaxed: true },
  );
  return rows.map((r) => ({
    outcome: r.ok ? 'ok' : r.found ? 'lease_lost' : 'not_found',
    cancelRequested: r.ok === true && r.cancel_requested === true,
  }));
}

const progressSql = perSchema(({ jobs }) => `WITH clock AS (SELECT ${nowSql('$1')} AS now),
  input AS (
    SELECT * FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::jsonb[])
      WITH ORDINALITY AS t(id, attempt, token, progress, data, ord)
  ), out AS (
    UPDATE ${jobs} j SET progress = i.progress
    FROM input i, clock c
    WHERE j.id = i.id AND j.attempt = i.attempt AND j.lease_token = i.token AND ${RUNNING}
    RETURNING i.ord, ${jobEventSql({ type: `'progress'`, job: 'j', at: 'c.now', data: 'i.data' })} AS ev
  ), ${notifyCtes('out', '$7', '$8')}
  SELECT i.ord, i.id, i.attempt, i.token, o.ord IS NOT NULL AS ok,
    CASE WHEN o.ord IS NULL THEN ${foundSql(jobs, 'i.id')} END AS found, o.ev, ${NOTIFIED} AS notified
  FROM input i LEFT JOIN out o ON o.ord = i.ord
  ORDER BY i.ord`);

export async function updateProgress(ctx: Ctx, params: ProgressParams): Promise<LeaseOutcome[]> {
  ctx.db.assertOpen();
  if (params.items.length === 0) return [];
  // The same lease twice in one batch: the later value wins (one row per lease reaches SQL).
  const latest = new Map<string, (typeof params.items)[number]>();
  for (const item of params.items) latest.set(JSON.stringify([item.id, item.attempt, item.leaseToken]), item);
  const items = [...latest.values()];
  const rows = await changeJobs(
    ctx,
    'updateProgress',
    {
      name: ctx.names.statement('progress'),
      text: progressSql(ctx.names),
      values: [
        params.now ?? null,
        items.map((i) => i.id),
        items.map((i) => i.attempt),
        items.map((i) => i.leaseToken),
        items.map((i) => i.progress),
        items.map((i) => (eventData(i.progress) === undefined ? null : i.progress)),
        ctx.names.channel,
        ctx.events.origin,
      ],
    },
    { relaxed: true },
  );
  const outcomeOf = new Map<string, LeaseOutcome>();
  for (const r of rows) {
    outcomeOf.set(JSON.stringify([r.id, r.attempt, r.token]), r.ok ? 'ok' : r.found ? 'lease_lost' : 'not_found');
  }
  return params.items.map((i) => outcomeOf.get(JSON.stringify([i.id, i.attempt, i.leaseToken]))!);
}
