/**
 * Flows on PostgreSQL (core backend/flows.ts, docs/decisions/0012-flows.md): inserting a job
 * tree and reading a parent's children. The parent bookkeeping — a child that finishes (or is
 * retried) while its parent waits — is not here: it is the trigger of migration 0006, which runs
 * in the transaction of whichever statement changed the child (finalize, cancel, rescue, delete,
 * retry, DLQ replay) and publishes the parent's event itself.
 *
 * Invariants:
 * - insertFlow is one transaction of at most three statements: the root with ON CONFLICT DO
 *   NOTHING (a duplicate id or live unique key: nothing else is written, and the existing job is
 *   read back in a fresh snapshot), then every other node in one INSERT without ON CONFLICT
 *   (fresh ids; a collision aborts the whole flow). Nodes with children are `waiting` with
 *   `pending_children` = their child count; leaves `queued` or `scheduled` as insertJobs decides.
 *   A root with a unique mode (ADR 0016) adds a statement or two: its period key taken first (or
 *   its holder answers), its mode recorded after (unique-insert.ts).
 * - Each statement carries its own NOTIFY (`added` per node), delivered on commit; local
 *   subscribers get the events after COMMIT.
 */
import type pg from 'pg';
import type { InsertFlowParams, InsertFlowResult, JobRecord, JobState } from '@spindle/core';
import { dateArray, numberArray, textArray } from './array-literal.js';
import type { Ctx } from './context.js';
import { eventsOf } from './events.js';
import { markGroupedQueues } from './groups.js';
import type { Row } from './db.js';
import { jobColumns, rowToJobRecord } from './rows.js';
import { flowRootUnique, markFlowRoot, releaseFlowRootKey } from './unique-insert.js';
import { clockCte, jobEventSql, msSql, notifyCtes, NOTIFIED, perSchema } from './sql.js';

function nodesSql(jobs: string, queues: string, conflict: string): string {
  return `WITH ${clockCte('$1')},
  input AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::float8[],
      $9::timestamptz[], $10::text[], $11::int[], $12::text[], $13::bigint[], $14::int[], $15::bigint[], $16::int[],
      $17::text[], $18::int[], $19::text[], $22::text[])
      WITH ORDINALITY AS t(id, queue, name, payload, priority, max_retries, delay_ms, run_at, unique_key, timeout_ms,
        backoff, completed_keep_ms, completed_keep_count, dead_keep_ms, dead_keep_count, parent_id, pending, policy, group_in, ord)
  ), grouped AS MATERIALIZED (SELECT q.name FROM ${queues} q WHERE q.grouped AND q.name = ANY($3::text[])), ins AS (
    INSERT INTO ${jobs} AS j (id, queue, name, payload, state, priority, max_retries, unique_key, timeout_ms, backoff,
      created_at, run_at, completed_keep_ms, completed_keep_count, dead_keep_ms, dead_keep_count,
      parent_id, pending_children, on_child_failure, group_key)
    SELECT id, queue, name, payload,
      CASE WHEN pending IS NOT NULL THEN 'waiting' WHEN due > now THEN 'scheduled' ELSE 'queued' END,
      priority, max_retries, unique_key, timeout_ms, backoff, now, due, completed_keep_ms, completed_keep_count,
      dead_keep_ms, dead_keep_count, parent_id, pending, policy,
      coalesce(group_in, CASE WHEN EXISTS (SELECT 1 FROM grouped g WHERE g.name = p.queue) THEN '' END)
    FROM (SELECT i.*, c.now, coalesce(i.run_at, c.now + ${msSql('coalesce(i.delay_ms, 0)')}) AS due
          FROM input i CROSS JOIN clock c) p
    ORDER BY ord
    ${conflict}
    RETURNING j.id, j.state, j.seq AS ord, ${jobEventSql({ type: `'added'`, job: 'j' })} AS ev
  ), ${notifyCtes('ins', '$20', '$21', '(SELECT at FROM clock)')}
  SELECT id, state, ev, (SELECT at FROM clock)::float8 AS at, ${NOTIFIED} AS notified FROM ins ORDER BY ord`;
}

const rootSql = perSchema(({ jobs, queues }) => nodesSql(jobs, queues, 'ON CONFLICT DO NOTHING'));
const childrenSql = perSchema(({ jobs, queues }) => nodesSql(jobs, queues, ''));

const existingSql = perSchema(({ jobs }) => `SELECT id, state FROM ${jobs} WHERE id = $1
  UNION ALL
  (SELECT id, state FROM ${jobs} WHERE queue = $2 AND unique_key = $3 AND state NOT IN ('completed', 'dead', 'cancelled') LIMIT 1)
  LIMIT 1`);

function nodeValues(ctx: Ctx, params: InsertFlowParams, from: number, to: number): unknown[] {
  const nodes = params.nodes.slice(from, to);
  const texts = (pick: (k: number) => string | null): string => textArray(nodes.map((_, k) => pick(from + k)));
  const numbers = (pick: (k: number) => number | null): string => numberArray(nodes.map((_, k) => pick(from + k)));
  const node = (k: number) => params.nodes[k]!;
  return [
    params.now ?? null,
    texts((k) => node(k).id),
    texts((k) => node(k).queue),
    texts((k) => node(k).name),
    texts((k) => node(k).payload),
    numbers((k) => node(k).priority),
    numbers((k) => node(k).maxRetries),
    numbers((k) => node(k).delayMs),
    dateArray(nodes.map((n) => n.runAt)),
    texts((k) => node(k).uniqueKey),
    numbers((k) => node(k).timeoutMs),
    texts((k) => (node(k).backoff == null ? null : JSON.stringify(node(k).backoff))),
    numbers((k) => node(k).retention.completedKeepMs),
    numbers((k) => node(k).retention.completedKeepCount),
    numbers((k) => node(k).retention.deadKeepMs),
    numbers((k) => node(k).retention.deadKeepCount),
    texts((k) => {
      const parent = node(k).parentIndex;
      return parent === null ? null : params.nodes[parent]!.id;
    }),
    numbers((k) => (node(k).childCount > 0 ? node(k).childCount : null)),
    texts((k) => (node(k).childCount > 0 ? node(k).onChildFailure : null)),
    ctx.names.channel,
    ctx.events.prefix,
    texts((k) => node(k).group ?? null),
  ];
}

export async function insertFlow(ctx: Ctx, params: InsertFlowParams): Promise<InsertFlowResult> {
  ctx.db.assertOpen();
  const root = params.nodes[0]!;
  const written: Row[] = [];
  await markGroupedQueues(ctx, params.nodes);
  const result = await ctx.db.transaction('insertFlow', async (client: pg.PoolClient): Promise<InsertFlowResult> => {
    // The root's unique mode (unique-insert.ts): its id or held period key answers for the flow.
    const decided = await flowRootUnique(ctx, client, root, params.now);
    if ('holder' in decided) return { inserted: false, id: decided.holder.id, state: decided.holder.state, states: [] };
    const given = decided.root === root ? params : { ...params, nodes: [decided.root, ...params.nodes.slice(1)] };
    const { rows: roots } = await client.query({ text: rootSql(ctx.names), values: nodeValues(ctx, given, 0, 1) });
    if (roots.length === 0) {
      await releaseFlowRootKey(ctx, client, root);
      const { rows } = await client.query({ text: existingSql(ctx.names), values: [root.id, root.queue, decided.root.uniqueKey] });
      const existing = rows[0] as { id: string; state: JobState } | undefined;
      if (!existing) throw new Error(`flow root ${root.id} conflicted with neither its id nor its unique key`);
      return { inserted: false, id: existing.id, state: existing.state, states: [] };
    }
    written.push(...(roots as Row[]));
    if (root.uniqueMode) await markFlowRoot(ctx, client, root);
    if (params.nodes.length > 1) {
      const { rows } = await client.query({ text: childrenSql(ctx.names), values: nodeValues(ctx, params, 1, params.nodes.length) });
      written.push(...(rows as Row[]));
    }
    const stateOf = new Map(written.map((row) => [row.id as string, row.state as JobState]));
    const states = params.nodes.map((node) => stateOf.get(node.id)!);
    return { inserted: true, id: root.id, state: states[0]!, states };
  });
  // After COMMIT: the NOTIFYs went out with it; this process delivers its own events locally.
  ctx.events.publishLocal(eventsOf(written));
  return result;
}

const childrenOfSql = perSchema(({ jobs }) => `SELECT ${jobColumns()} FROM ${jobs} WHERE parent_id = $1 ORDER BY seq`);

export async function getChildren(ctx: Ctx, parentId: string): Promise<JobRecord[]> {
  const rows = await ctx.db.query('getChildren', { name: ctx.names.statement('get_children'), text: childrenOfSql(ctx.names), values: [parentId] });
  return rows.map(rowToJobRecord);
}
