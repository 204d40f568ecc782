/**
 * The stores beside the jobs table (core backend/stores.ts): the worker registry, idempotency
 * keys and per-minute throughput counters, and their pruning. Tables of migration 0003.
 *
 * Invariants:
 * - Every method runs its core check (store-checks.ts) first: bad input is a ValidationError
 *   and nothing is written.
 * - `upsertWorkers` and `recordStats` write all their rows in ONE statement (`INSERT … SELECT
 *   FROM json_each(@rows) … ON CONFLICT DO UPDATE`); rows naming the same stats minute add up.
 *   Both commit relaxed (tx.ts `writeRelaxed`): a heartbeat or a few seconds of counts lost in
 *   a power failure is within what these stores promise (counts are approximate by design).
 * - `claimIdempotencyKey` is one BEGIN IMMEDIATE transaction (the single write lock makes the
 *   insert-if-absent-or-expired and the read of the stored key atomic), committed durably:
 *   the key must not be lost once the request it guards was acted on.
 * - Pruning deletes at most `limit` rows per store per call, each through its time index.
 * - "now" is the given `now` (epoch ms after the check), else the host clock, as for jobs.
 */
import {
  checkClaimIdempotencyKey,
  checkListWorkers,
  checkPruneStores,
  checkReadStats,
  checkRecordStats,
  checkRemoveWorkers,
  checkUpsertWorkers,
  minuteStart,
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
import type { Store } from './tx.js';

// ---------------------------------------------------------------------------------------------
// Worker registry

const UPSERT_WORKERS = `INSERT INTO spindle_workers
    (id, queue, host, pid, concurrency, busy, kind, meta, started_at, last_seen_at)
  SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, @now, @now
  FROM json_each(@workers) WHERE true
  ON CONFLICT (id) DO UPDATE SET
    queue = excluded.queue, host = excluded.host, pid = excluded.pid, concurrency = excluded.concurrency,
    busy = excluded.busy, kind = excluded.kind, meta = excluded.meta, last_seen_at = excluded.last_seen_at`;

export function upsertWorkers(store: Store, params: UpsertWorkersParams): void {
  const { workers, now } = checkUpsertWorkers(params);
  const rows = workers.map((w) => [w.id, w.queue, w.host, w.pid, w.concurrency, w.busy, w.kind, w.meta]);
  store.writeRelaxed(() => {
    store.conn.stmt(UPSERT_WORKERS).run({ workers: JSON.stringify(rows), now: now ?? Date.now() });
  });
}

export function removeWorkers(store: Store, params: { ids: string[] }): number {
  const { ids } = checkRemoveWorkers(params);
  return store.write(
    () => store.conn.stmt('DELETE FROM spindle_workers WHERE id IN (SELECT value FROM json_each(?))').run(JSON.stringify(ids)).changes,
  );
}

interface WorkerRow {
  id: string;
  queue: string;
  host: string;
  pid: number | null;
  concurrency: number;
  busy: number;
  kind: WorkerKind;
  meta: string | null;
  started_at: number;
  last_seen_at: number;
}

const WORKER_COLUMNS = 'id, queue, host, pid, concurrency, busy, kind, meta, started_at, last_seen_at';

export function listWorkers(store: Store, params?: ListWorkersParams): WorkerInfo[] {
  const { queue, seenWithinMs, now } = checkListWorkers(params);
  const since = seenWithinMs === null ? null : (now ?? Date.now()) - seenWithinMs;
  const rows = store.conn
    .stmt(
      `SELECT ${WORKER_COLUMNS} FROM spindle_workers
       WHERE (@queue IS NULL OR queue = @queue) AND (@since IS NULL OR last_seen_at >= @since)
       ORDER BY queue, id`,
    )
    .all({ queue, since }) as WorkerRow[];
  return rows.map((r) => ({
    id: r.id,
    queue: r.queue,
    host: r.host,
    pid: r.pid,
    concurrency: r.concurrency,
    busy: r.busy,
    kind: r.kind,
    meta: parseStoredJson(r.meta),
    startedAt: new Date(r.started_at),
    lastSeenAt: new Date(r.last_seen_at),
  }));
}

// ---------------------------------------------------------------------------------------------
// Idempotency keys

const CLAIM_KEY = `INSERT INTO spindle_idempotency_keys (scope, key, request_hash, created_at, expires_at)
  VALUES (@scope, @key, @requestHash, @now, @expiresAt)
  ON CONFLICT (scope, key) DO UPDATE SET
    request_hash = excluded.request_hash, created_at = excluded.created_at, expires_at = excluded.expires_at
  WHERE spindle_idempotency_keys.expires_at <= excluded.created_at
  RETURNING request_hash, created_at, expires_at`;

const READ_KEY = 'SELECT request_hash, created_at, expires_at FROM spindle_idempotency_keys WHERE scope = @scope AND key = @key';

interface KeyRow {
  request_hash: string;
  created_at: number;
  expires_at: number;
}

export function claimIdempotencyKey(store: Store, params: ClaimIdempotencyKeyParams): IdempotencyClaim {
  const { scope, key, requestHash, ttlMs, now: given } = checkClaimIdempotencyKey(params);
  const now = given ?? Date.now();
  return store.write(() => {
    const claimed = store.conn.stmt(CLAIM_KEY).get({ scope, key, requestHash, now, expiresAt: now + ttlMs }) as KeyRow | undefined;
    // Inside the write lock: when the insert did nothing, the live key it collided with is there.
    const row = claimed ?? (store.conn.stmt(READ_KEY).get({ scope, key }) as KeyRow);
    return { claimed: claimed !== undefined, requestHash: row.request_hash, createdAt: new Date(row.created_at), expiresAt: new Date(row.expires_at) };
  });
}

// ---------------------------------------------------------------------------------------------
// Throughput counters

const RECORD_STATS = `INSERT INTO spindle_stats (queue, minute, enqueued, completed, retried, dead, cancelled)
  SELECT value ->> 0, coalesce(value ->> 1, @nowMinute), value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6
  FROM json_each(@rows) WHERE true
  ON CONFLICT (queue, minute) DO UPDATE SET
    enqueued = enqueued + excluded.enqueued, completed = completed + excluded.completed,
    retried = retried + excluded.retried, dead = dead + excluded.dead, cancelled = cancelled + excluded.cancelled`;

export function recordStats(store: Store, params: RecordStatsParams): void {
  const { rows, now } = checkRecordStats(params);
  const values = rows.map((r) => [r.queue, r.minute, r.enqueued, r.completed, r.retried, r.dead, r.cancelled]);
  store.writeRelaxed(() => {
    store.conn.stmt(RECORD_STATS).run({ rows: JSON.stringify(values), nowMinute: minuteStart(now ?? Date.now()) });
  });
}

const STATS_COLUMNS = 'queue, minute, enqueued, completed, retried, dead, cancelled';

export function readStats(store: Store, params: ReadStatsParams): StatsRow[] {
  const { queue, from, to } = checkReadStats(params);
  const rows = (
    queue === null
      ? store.conn.stmt(`SELECT ${STATS_COLUMNS} FROM spindle_stats WHERE minute >= @from AND minute < @to ORDER BY minute, queue`).all({ from, to })
      : store.conn.stmt(`SELECT ${STATS_COLUMNS} FROM spindle_stats WHERE queue = @queue AND minute >= @from AND minute < @to ORDER BY minute`).all({ queue, from, to })
  ) as Array<Omit<StatsRow, 'minute'> & { minute: number }>;
  return rows.map((r) => ({ ...r, minute: new Date(r.minute) }));
}

// ---------------------------------------------------------------------------------------------
// Pruning

const PRUNE_WORKERS = `DELETE FROM spindle_workers WHERE rowid IN (
  SELECT rowid FROM spindle_workers WHERE last_seen_at < @cutoff ORDER BY last_seen_at LIMIT @limit + 0)`;
const PRUNE_KEYS = `DELETE FROM spindle_idempotency_keys WHERE rowid IN (
  SELECT rowid FROM spindle_idempotency_keys WHERE expires_at <= @now ORDER BY expires_at LIMIT @limit + 0)`;
const PRUNE_STATS = `DELETE FROM spindle_stats WHERE (queue, minute) IN (
  SELECT queue, minute FROM spindle_stats WHERE minute < @cutoff ORDER BY minute LIMIT @limit + 0)`;

export function pruneStores(store: Store, params: PruneStoresParams): PruneStoresResult {
  const { workerExpiryMs, statsRetentionMs, limit, now: given } = checkPruneStores(params);
  const now = given ?? Date.now();
  return store.write(() => {
    const { conn } = store;
    const workers = workerExpiryMs === null ? 0 : conn.stmt(PRUNE_WORKERS).run({ cutoff: now - workerExpiryMs, limit }).changes;
    const idempotencyKeys = conn.stmt(PRUNE_KEYS).run({ now, limit }).changes;
    const stats = statsRetentionMs === null ? 0 : conn.stmt(PRUNE_STATS).run({ cutoff: now - statsRetentionMs, limit }).changes;
    return { workers, idempotencyKeys, stats };
  });
}
