/**
 * The claim and the writes a live attempt makes while it runs: claimJobs, extendLeases
 * (heartbeats) and updateProgress. One statement per call, whatever the batch size.
 *
 * Invariants (DESIGN §3.2, docs/design/backend-semantics.md):
 * - A claim locks candidates with FOR UPDATE SKIP LOCKED inside a MATERIALIZED CTE (an
 *   optimisation fence: the LIMIT applies before the UPDATE), so concurrent claimers never
 *   wait on each other nor get the same job; a row that stopped being `queued` after our
 *   snapshot is rechecked by the lock and dropped. A claimed job whose unique key is held
 *   `while: 'queued'` gives it up in the same SET (releaseQueuedKeySql, ADR 0016).
 * - Each claim statement draws one fresh random value (48 hex chars of two gen_random_uuid(),
 *   at least 180 random bits) and gives each job it claims that value followed by the row's seq
 *   (16 hex chars): 64 hex chars like every token; unguessable, new at every claim, and distinct
 *   between jobs (workers key their attempts by token). Drawing the randomness once per statement instead of per row saved ~10 µs of
 *   server CPU per claimed job.
 * - The UPDATE finds the locked candidates by `id = ANY(ARRAY(SELECT id FROM candidates))`:
 *   primary-key probes whatever the plan's row estimate (a generic plan guesses 10 % of the
 *   queue for `LIMIT $3` and would otherwise hash-join against a scan of the whole table).
 * - Heartbeats and progress are fenced on (id, attempt, lease_token, state = 'running'); the
 *   outcome of each item is decided by joining on that full fence, so a stale duplicate of a
 *   live lease in the same batch still answers `lease_lost`. Whether a failed item's job exists
 *   is looked up for failed items only (CASE), one primary-key probe each. Their UPDATEs find
 *   rows by `id = ANY($ids)` as well as by the join, so they probe the primary key even with a
 *   plan made on stale statistics (which otherwise scanned the whole table).
 * - Local events are built in JS from the returned columns (claim: the claimed rows; progress:
 *   the item and the row's queue and name), equal to what the NOTIFY carries.
 * - All three are relaxed-durability writes (docs/decisions/0007): they run on Db's relaxed pool
 *   (`synchronous_commit = off`), with their NOTIFY in the same statement as always. A lost
 *   claim leaves the job queued and fences the worker off; a lost heartbeat makes the lease look
 *   older; a lost progress value is cosmetic.
 */
import {
  limitedAnswer,
  type ClaimAnswer,
  type ClaimedJob,
  type ClaimParams,
  type ExtendLeasesParams,
  type ExtendOutcome,
  type JobEvent,
  type LeaseOutcome,
  type ProgressParams,
} from '@spindle/core';
import type { Ctx } from './context.js';
import { claimLimited, queueMode } from './queue-limits.js';
import { groupedClaimSql, groupedValues } from './groups.js';
import { eventDataOf, jobEvent } from './events.js';
import { claimColumns, rowToClaimedJob } from './rows.js';
import { claimClockCte, clockCte, foundSql, jobEventSql, msSql, notifyCtes, nowSql, NOTIFIED, perSchema, recheckStateSql, releaseQueuedKeySql } from './sql.js';
import type { Row } from './db.js';

/** The fence's state condition (see recheckStateSql). */
const RUNNING = recheckStateSql('j.state', ['running']);

/**
 * The claim statement. `plain`: for queues without limits — it takes nothing from a queue that
 * is paused, held or limited (queue-limits.ts). Otherwise the limited path's statement, run after
 * the queue's turn was taken and its allowance counted: it only skips a paused queue.
 */
const claimStatement = (plain: boolean) => perSchema(({ jobs, queues }) => `WITH ${claimClockCte('$1')},
  token AS MATERIALIZED (SELECT left(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 48) AS random),
  candidates AS MATERIALIZED (
    SELECT j.id FROM ${jobs} j
    WHERE j.state = 'queued' AND j.queue = $2
      AND NOT EXISTS (SELECT 1 FROM ${queues} q WHERE q.name = $2 AND (q.paused${plain ? `
        OR q.concurrency_limit IS NOT NULL OR q.rate_max IS NOT NULL OR q.held_until > (SELECT now FROM clock)
        OR q.grouped OR q.fifo OR q.group_concurrency IS NOT NULL OR q.group_rate_max IS NOT NULL` : ''}))
    ORDER BY j.priority, j.run_at, j.seq
    LIMIT $3
    FOR UPDATE SKIP LOCKED
  ), out AS (
    UPDATE ${jobs} j SET state = 'running', attempt = j.attempt + 1,
      lease_token = t.random || lpad(to_hex(j.seq), 16, '0'),
      lease_expires_at = c.now + ${msSql('$4::float8')}, started_at = c.now, worker_id = $5,
      cancel_requested = false, ${releaseQueuedKeySql('j')}
    FROM clock c, token t
    WHERE j.id = ANY(ARRAY(SELECT id FROM candidates)) AND ${recheckStateSql('j.state', ['queued'])}
    RETURNING ${claimColumns('j')}, j.seq AS ord, c.at, ${jobEventSql({ type: `'started'`, job: 'j' })} AS ev
  ), ${notifyCtes('out', '$6', '$7', '(SELECT at FROM clock)')}
  SELECT ${claimColumns()}, at::float8 AS at, ${NOTIFIED} AS notified FROM out ORDER BY priority, run_at, ord`);
const plainClaimSql = claimStatement(true);
const limitedClaimSql = claimStatement(false);

export async function claimJobs(ctx: Ctx, params: ClaimParams): Promise<ClaimAnswer<ClaimedJob>> {
  ctx.db.assertOpen();
  if (params.limit <= 0) return [];
  const values = (limit: number, now = params.now) => [now ?? null, params.queue, limit, params.leaseMs, params.workerId, ctx.names.channel, ctx.events.prefix];
  let mode = ctx.limits.get(params.queue);
  if (mode === undefined || mode === 'plain') {
    const rows = await ctx.db.query(
      'claimJobs',
      { name: ctx.names.statement('claim'), text: plainClaimSql(ctx.names), values: values(params.limit) },
      { relaxed: true },
    );
    // Nothing came back and this process does not know (any more) which claim the queue takes:
    // the plain claim takes nothing from a limited or grouped queue, so ask.
    if (rows.length > 0 || mode === 'plain') return claimed(ctx, rows);
    mode = await queueMode(ctx, params.queue, params.now);
    if (mode === 'plain') return claimed(ctx, rows);
  }
  if (mode === 'grouped') {
    // No limits: the grouped statement alone (it takes nothing from a queue that became limited).
    const rows = (await ctx.db.query(
      'claimJobs',
      { name: ctx.names.statement('claim_grouped'), text: guardedGroupSql(ctx.names), values: [...values(params.limit), ...groupedValues(NO_GROUP_LIMITS)] },
      { relaxed: true },
    )).filter((r) => r.id != null);
    if (rows.length > 0 || (await queueMode(ctx, params.queue, params.now)) !== 'limited') return claimed(ctx, rows);
  }
  let rows: Row[] = [];
  const answer = await claimLimited(ctx, params, async (limit, client, now, groups) => {
    if (groups === null) {
      rows = (await client.query({ name: ctx.names.statement('claim_limited'), text: limitedClaimSql(ctx.names), values: values(limit, now) })).rows as Row[];
      return rows.map(rowToClaimedJob);
    }
    const all = (await client.query({ name: ctx.names.statement('claim_grouped_limited'), text: lockedGroupSql(ctx.names), values: [...values(limit, now), ...groupedValues(groups)] })).rows as Row[];
    rows = all.filter((r) => r.id != null);
    const jobs = rows.map(rowToClaimedJob);
    if (all[0]?.cut_short !== true || jobs.length >= limit) return jobs;
    // A group limit held jobs back; with nothing taken and a per-group rate, the caller asks when the earliest window frees.
    return limitedAnswer(jobs, { reason: jobs.length === 0 && groups.groupRateMax !== null ? 'rate' : 'concurrency' });
  });
  publishStarted(ctx, rows); // after the commit
  return answer;
}

const guardedGroupSql = groupedClaimSql(true);
const lockedGroupSql = groupedClaimSql(false);
const NO_GROUP_LIMITS = { groupConcurrency: null, fifo: false, groupRateMax: null, groupRateIntervalMs: null };

/** The 'started' events of claimed rows, built from their columns. */
function publishStarted(ctx: Ctx, rows: Row[]): void {
  if (!ctx.events.hasListeners || rows.length === 0) return;
  const at = Number(rows[0]!.at);
  ctx.events.publishLocal(
    rows.map((r) => jobEvent('started', r.id as string, r.queue as string, r.name as string, 'running', r.attempt as number, at)),
  );
}

function claimed(ctx: Ctx, rows: Row[]): ClaimedJob[] {
  publishStarted(ctx, rows);
  return rows.map(rowToClaimedJob);
}

const extendSql = perSchema(({ jobs }) => `WITH clock AS (SELECT ${nowSql('$1')} AS now),
  input AS (
    SELECT * FROM unnest($2::text[], $3::int[], $4::text[]) WITH ORDINALITY AS t(id, attempt, token, ord)
  ), upd AS (
    UPDATE ${jobs} j SET lease_expires_at = c.now + ${msSql('$5::float8')}
    FROM input i, clock c
    WHERE j.id = ANY($2::text[]) AND j.id = i.id AND j.attempt = i.attempt AND j.lease_token = i.token AND ${RUNNING}
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

const progressSql = perSchema(({ jobs }) => `WITH ${clockCte('$1')},
  input AS (
    SELECT * FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::json[])
      WITH ORDINALITY AS t(id, attempt, token, progress, data, ord)
  ), out AS (
    UPDATE ${jobs} j SET progress = i.progress
    FROM input i
    WHERE j.id = ANY($2::text[]) AND j.id = i.id AND j.attempt = i.attempt AND j.lease_token = i.token AND ${RUNNING}
    RETURNING i.ord, j.queue, j.name, ${jobEventSql({ type: `'progress'`, job: 'j', data: 'i.data' })} AS ev
  ), ${notifyCtes('out', '$7', '$8', '(SELECT at FROM clock)')}
  SELECT i.ord::int AS ord, o.queue, o.name, CASE WHEN o.ord IS NULL THEN ${foundSql(jobs, 'i.id')} END AS found,
    (SELECT at FROM clock)::float8 AS at, ${NOTIFIED} AS notified
  FROM input i LEFT JOIN out o ON o.ord = i.ord`);

export async function updateProgress(ctx: Ctx, params: ProgressParams): Promise<LeaseOutcome[]> {
  ctx.db.assertOpen();
  if (params.items.length === 0) return [];
  // The same lease twice in one batch: the later value wins (one row per lease reaches SQL).
  const latest = new Map<string, (typeof params.items)[number]>();
  for (const item of params.items) latest.set(JSON.stringify([item.id, item.attempt, item.leaseToken]), item);
  const items = [...latest.values()];
  const data = eventDataOf(items.map((i) => i.progress));
  const rows = await ctx.db.query(
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
        data.texts,
        ctx.names.channel,
        ctx.events.prefix,
      ],
    },
    { relaxed: true },
  );
  const outcomes = new Array<LeaseOutcome>(items.length);
  const changed = new Array<Row | undefined>(items.length);
  for (const r of rows) {
    const k = (r.ord as number) - 1;
    if (r.queue != null) {
      outcomes[k] = 'ok';
      changed[k] = r;
    } else outcomes[k] = r.found ? 'lease_lost' : 'not_found';
  }
  if (ctx.events.hasListeners) {
    const events: JobEvent[] = [];
    items.forEach((item, k) => {
      const r = changed[k];
      if (!r) return;
      events.push(jobEvent('progress', item.id, r.queue as string, r.name as string, 'running', item.attempt, Number(r.at), data.values[k]));
    });
    ctx.events.publishLocal(events);
  }
  const outcomeOf = new Map<string, LeaseOutcome>();
  items.forEach((i, k) => outcomeOf.set(JSON.stringify([i.id, i.attempt, i.leaseToken]), outcomes[k]!));
  return params.items.map((i) => outcomeOf.get(JSON.stringify([i.id, i.attempt, i.leaseToken]))!);
}
