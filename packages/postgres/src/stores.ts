/**
 * The stores beside the jobs table (core backend/stores.ts): the worker registry, idempotency
 * keys and per-minute throughput counters, and their pruning. Tables of migration 0003.
 *
 * Invariants:
 * - Every method runs its core check (store-checks.ts) first: bad input is a ValidationError
 *   and nothing is written.
 * - `upsertWorkers` and `recordStats` are ONE statement each (`INSERT … SELECT FROM unnest(…)
 *   … ON CONFLICT DO UPDATE`), taking their rows' locks in key order (two clients writing the
 *   same rows cannot deadlock). `recordStats` sums rows naming the same (queue, minute) first
 *   (ON CONFLICT may touch a row once per statement). Both run on the relaxed pool (db.ts): a
 *   heartbeat or a few seconds of counts lost in a crash of the server is within what these
 *   stores promise.
 * - `claimIdempotencyKey` is one statement: insert, or replace a stored key that expired; when
 *   neither happened, the same statement reads the live key. A key committed by a concurrent
 *   claim after the statement's snapshot is invisible to that read: the statement then returns
 *   no row and is run again (it then sees the key). Durable commit.
 * - Pruning re-checks each victim's condition in the DELETE, so a worker heartbeating (or a key
 *   re-claimed) at the same moment is not deleted.
 */
import {
  checkClaimIdempotencyKey,
  checkListWorkers,
  checkPruneStores,
  checkReadStats,
  checkRecordStats,
  checkRemoveWorkers,
  checkUpsertWorkers,
  BackendError,
  parseStoredJson,
  type ClaimIdempotencyKeyParams,
  type IdempotencyClaim,
  type ListWorkersParams,
  type PruneStoresParams,
  type PruneStoresResult,
  type ReadStatsParams,
  type RecordStatsParams,
  type StatsRow,
  type UpsertWorkersParams,
  type WorkerInfo,
  type WorkerKind,
} from '@spindle/core';
import type { SchemaNames } from './config.js';
import type { Ctx } from './context.js';
import { msSql, nowSql, perSchema } from './sql.js';

const tables = (names: SchemaNames) => ({ workers: `${names.q}.workers`, keys: `${names.q}.idempotency_keys`, stats: `${names.q}.stats` });

const toTime = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

// ---------------------------------------------------------------------------------------------
// Worker registry

const upsertWorkersSql = perSchema(
  (names) => `INSERT INTO ${tables(names).workers} AS w (id, queue, host, pid, concurrency, busy, kind, meta, started_at, last_seen_at)
  SELECT r.id, r.queue, r.host, r.pid, r.concurrency, r.busy, r.kind, r.meta, c.now, c.now
  FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::int[], $7::text[], $8::text[])
    AS r(id, queue, host, pid, concurrency, busy, kind, meta)
  CROSS JOIN (SELECT ${nowSql('$9')} AS now) c
  ORDER BY r.id
  ON CONFLICT (id) DO UPDATE SET
    queue = EXCLUDED.queue, host = EXCLUDED.host, pid = EXCLUDED.pid, concurrency = EXCLUDED.concurrency,
    busy = EXCLUDED.busy, kind = EXCLUDED.kind, meta = EXCLUDED.meta, last_seen_at = EXCLUDED.last_seen_at`,
);

export async function upsertWorkers(ctx: Ctx, params: UpsertWorkersParams): Promise<void> {
  const { workers, now } = checkUpsertWorkers(params);
  const column = <K extends keyof (typeof workers)[number]>(key: K) => workers.map((w) => w[key]);
  await ctx.db.query(
    'upsertWorkers',
    {
      name: ctx.names.statement('workers_upsert'),
      text: upsertWorkersSql(ctx.names),
      values: [
        column('id'),
        column('queue'),
        column('host'),
        column('pid'),
        column('concurrency'),
        column('busy'),
        column('kind'),
        column('meta'),
        toTime(now),
      ],
    },
    { relaxed: true },
  );
}

export async function removeWorkers(ctx: Ctx, params: { ids: string[] }): Promise<number> {
  const { ids } = checkRemoveWorkers(params);
  const rows = await ctx.db.query('removeWorkers', {
    name: ctx.names.statement('workers_remove'),
    text: `WITH gone AS (DELETE FROM ${tables(ctx.names).workers} WHERE id = ANY($1::text[]) RETURNING 1) SELECT count(*)::int AS n FROM gone`,
    values: [ids],
  });
  return (rows[0]?.n as number) ?? 0;
}

export async function listWorkers(ctx: Ctx, params?: ListWorkersParams): Promise<WorkerInfo[]> {
  const { queue, seenWithinMs, now } = checkListWorkers(params);
  const rows = await ctx.db.query('listWorkers', {
    name: ctx.names.statement('workers_list'),
    text: `SELECT id, queue, host, pid, concurrency, busy, kind, meta, started_at, last_seen_at FROM ${tables(ctx.names).workers}
      WHERE ($1::text IS NULL OR queue = $1::text)
        AND ($2::float8 IS NULL OR last_seen_at >= ${nowSql('$3')} - ${msSql('$2::float8')})
      ORDER BY queue, id`,
    values: [queue, seenWithinMs, toTime(now)],
  });
  return rows.map((r) => ({
    id: r.id as string,
    queue: r.queue as string,
    host: r.host as string,
    pid: r.pid as number | null,
    concurrency: r.concurrency as number,
    busy: r.busy as number,
    kind: r.kind as WorkerKind,
    meta: parseStoredJson(r.meta as string | null),
    startedAt: r.started_at as Date,
    lastSeenAt: r.last_seen_at as Date,
  }));
}

// ---------------------------------------------------------------------------------------------
// Idempotency keys

const claimKeySql = perSchema((names) => {
  const { keys } = tables(names);
  return `WITH clock AS (SELECT ${nowSql('$5')} AS now),
  claimed AS (
    INSERT INTO ${keys} AS k (scope, key, request_hash, created_at, expires_at)
    SELECT $1::text, $2::text, $3::text, c.now, c.now + ${msSql('$4::float8')} FROM clock c
    ON CONFLICT (scope, key) DO UPDATE SET
      request_hash = EXCLUDED.request_hash, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
    WHERE k.expires_at <= EXCLUDED.created_at
    RETURNING k.request_hash, k.created_at, k.expires_at
  )
  SELECT true AS claimed, request_hash, created_at, expires_at FROM claimed
  UNION ALL
  SELECT false, k.request_hash, k.created_at, k.expires_at FROM ${keys} k, clock c
  WHERE k.scope = $1::text AND k.key = $2::text AND k.expires_at > c.now AND NOT EXISTS (SELECT 1 FROM claimed)`;
});

/** Re-runs after a concurrent claim hid the key from the statement's snapshot (see above). */
const CLAIM_ATTEMPTS = 5;

export async function claimIdempotencyKey(ctx: Ctx, params: ClaimIdempotencyKeyParams): Promise<IdempotencyClaim> {
  const { scope, key, requestHash, ttlMs, now } = checkClaimIdempotencyKey(params);
  for (let attempt = 1; attempt <= CLAIM_ATTEMPTS; attempt++) {
    const rows = await ctx.db.query('claimIdempotencyKey', {
      name: ctx.names.statement('idem_claim'),
      text: claimKeySql(ctx.names),
      values: [scope, key, requestHash, ttlMs, toTime(now)],
    });
    const row = rows[0];
    if (row) {
      return { claimed: row.claimed === true, requestHash: row.request_hash as string, createdAt: row.created_at as Date, expiresAt: row.expires_at as Date };
    }
  }
  throw new BackendError(`postgres: claimIdempotencyKey found neither a new nor a stored key after ${CLAIM_ATTEMPTS} attempts`);
}

// ---------------------------------------------------------------------------------------------
// Throughput counters

const recordStatsSql = perSchema(
  (names) => `INSERT INTO ${tables(names).stats} AS s (queue, minute, enqueued, completed, retried, dead, cancelled)
  SELECT r.queue, coalesce(to_timestamp(r.minute / 1000), to_timestamp(floor(extract(epoch FROM ${nowSql('$8')}) / 60) * 60)) AS m,
    sum(r.enqueued), sum(r.completed), sum(r.retried), sum(r.dead), sum(r.cancelled)
  FROM unnest($1::text[], $2::float8[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
    AS r(queue, minute, enqueued, completed, retried, dead, cancelled)
  GROUP BY 1, 2
  ORDER BY 1, 2
  ON CONFLICT (queue, minute) DO UPDATE SET
    enqueued = s.enqueued + EXCLUDED.enqueued, completed = s.completed + EXCLUDED.completed,
    retried = s.retried + EXCLUDED.retried, dead = s.dead + EXCLUDED.dead, cancelled = s.cancelled + EXCLUDED.cancelled`,
);

export async function recordStats(ctx: Ctx, params: RecordStatsParams): Promise<void> {
  const { rows, now } = checkRecordStats(params);
  const column = <K extends keyof (typeof rows)[number]>(key: K) => rows.map((r) => r[key]);
  await ctx.db.query(
    'recordStats',
    {
      name: ctx.names.statement('stats_record'),
      text: recordStatsSql(ctx.names),
      values: [
        column('queue'),
        column('minute'),
        column('enqueued'),
        column('completed'),
        column('retried'),
        column('dead'),
        column('cancelled'),
        toTime(now),
      ],
    },
    { relaxed: true },
  );
}

const STATS_COLUMNS =
  'queue, minute, enqueued::float8 AS enqueued, completed::float8 AS completed, retried::float8 AS retried, dead::float8 AS dead, cancelled::float8 AS cancelled';

export async function readStats(ctx: Ctx, params: ReadStatsParams): Promise<StatsRow[]> {
  const { queue, from, to } = checkReadStats(params);
  const { stats } = tables(ctx.names);
  const rows =
    queue === null
      ? await ctx.db.query('readStats', {
          name: ctx.names.statement('stats_read_all'),
          text: `SELECT ${STATS_COLUMNS} FROM ${stats} WHERE minute >= $1::timestamptz AND minute < $2::timestamptz ORDER BY minute, queue`,
          values: [new Date(from), new Date(to)],
        })
      : await ctx.db.query('readStats', {
          name: ctx.names.statement('stats_read_queue'),
          text: `SELECT ${STATS_COLUMNS} FROM ${stats} WHERE queue = $1 AND minute >= $2::timestamptz AND minute < $3::timestamptz ORDER BY minute`,
          values: [queue, new Date(from), new Date(to)],
        });
  return rows.map((r) => ({
    queue: r.queue as string,
    minute: r.minute as Date,
    enqueued: r.enqueued as number,
    completed: r.completed as number,
    retried: r.retried as number,
    dead: r.dead as number,
    cancelled: r.cancelled as number,
  }));
}

// ---------------------------------------------------------------------------------------------
// Pruning

const pruneSql = perSchema((names) => {
  const { workers, keys, stats } = tables(names);
  const workerCut = `c.now - ${msSql('$2::float8')}`;
  const statsCut = `c.now - ${msSql('$3::float8')}`;
  return `WITH clock AS (SELECT ${nowSql('$1')} AS now),
  gone_workers AS (
    DELETE FROM ${workers} w USING clock c
    WHERE w.id = ANY(ARRAY(SELECT v.id FROM ${workers} v, clock c
                           WHERE $2::float8 IS NOT NULL AND v.last_seen_at < ${workerCut} ORDER BY v.last_seen_at LIMIT $4))
      AND w.last_seen_at < ${workerCut}
    RETURNING 1
  ), gone_keys AS (
    DELETE FROM ${keys} k USING clock c
    WHERE (k.scope, k.key) IN (SELECT v.scope, v.key FROM ${keys} v, clock c WHERE v.expires_at <= c.now ORDER BY v.expires_at LIMIT $4)
      AND k.expires_at <= c.now
    RETURNING 1
  ), gone_stats AS (
    DELETE FROM ${stats} s USING clock c
    WHERE (s.queue, s.minute) IN (SELECT v.queue, v.minute FROM ${stats} v, clock c
                                  WHERE $3::float8 IS NOT NULL AND v.minute < ${statsCut} ORDER BY v.minute LIMIT $4)
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM gone_workers)::int AS workers, (SELECT count(*) FROM gone_keys)::int AS keys,
    (SELECT count(*) FROM gone_stats)::int AS stats`;
});

export async function pruneStores(ctx: Ctx, params: PruneStoresParams): Promise<PruneStoresResult> {
  const { workerExpiryMs, statsRetentionMs, limit, now } = checkPruneStores(params);
  const rows = await ctx.db.query('pruneStores', {
    name: ctx.names.statement('stores_prune'),
    text: pruneSql(ctx.names),
    values: [toTime(now), workerExpiryMs, statsRetentionMs, limit],
  });
  const row = rows[0]!;
  return { workers: row.workers as number, idempotencyKeys: row.keys as number, stats: row.stats as number };
}
