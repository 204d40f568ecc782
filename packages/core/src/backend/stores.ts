/**
 * The three small stores beside the jobs table that the HTTP server and the dashboard need, as
 * Backend capabilities: the worker registry, idempotency keys, and per-minute throughput
 * counters. Types only; the checks every entry point runs are in store-checks.ts and the
 * semantics in docs/design/backend-semantics.md ("Stores").
 *
 * Invariants every backend keeps:
 * - Each method is one atomic statement/transaction; `upsertWorkers` and `recordStats` write
 *   any number of rows in ONE statement (they run on a timer, never per job).
 * - Backends run the store-checks.ts check of each method first, so bad input (from the core
 *   or straight from the server) is a ValidationError and nothing is written.
 * - Times are the database clock unless `now` is given; stats minutes are whole UTC minutes.
 */

// ---------------------------------------------------------------------------------------------
// Worker registry

/** `library`: a Worker of @spindle/core in some process; `http`: a remote worker of the HTTP API. */
export type WorkerKind = 'library' | 'http';

export const WORKER_KINDS: readonly WorkerKind[] = ['library', 'http'];

/** One live worker instance as its owner reports it (register or heartbeat). */
export interface WorkerUpsert {
  /** Unique per worker instance (a Worker's `id`): 1..200 characters. */
  id: string;
  queue: string;
  /** Host name of its process (1..255 characters). */
  host: string;
  /** Process id, when the worker has one Spindle can see (null/absent for remote workers). */
  pid?: number | null;
  /** Handlers it may run at once (1..100000). */
  concurrency: number;
  /** Slots in use right now (0..concurrency). */
  busy: number;
  kind: WorkerKind;
  /** Free-form JSON text of an object (at most 4 KiB), or null/absent. */
  meta?: string | null;
}

export interface UpsertWorkersParams {
  /** 1..1000 workers, ids distinct. */
  workers: WorkerUpsert[];
  now?: Date;
}

/**
 * A registered worker. `startedAt` is the time of its first upsert (kept by later ones unless
 * the row was pruned meanwhile); `lastSeenAt` is the time of its latest upsert.
 */
export interface WorkerInfo {
  id: string;
  queue: string;
  host: string;
  pid: number | null;
  concurrency: number;
  busy: number;
  kind: WorkerKind;
  /** The parsed `meta` JSON, or null. */
  meta: unknown;
  startedAt: Date;
  lastSeenAt: Date;
}

export interface ListWorkersParams {
  queue?: string;
  /** Only workers seen within this many ms before `now` (default: every stored row). */
  seenWithinMs?: number;
  now?: Date;
}

// ---------------------------------------------------------------------------------------------
// Idempotency keys

export interface ClaimIdempotencyKeyParams {
  /** What the key is scoped to (e.g. `enqueue:<queue>` or a tenant): 1..200 printable characters. */
  scope: string;
  /** The caller's key (HTTP `Idempotency-Key`): 1..255 printable ASCII characters. */
  key: string;
  /** A digest of the request the key was first used with: 1..200 printable ASCII characters. */
  requestHash: string;
  /** How long the key is kept (1 ms .. 365 days). */
  ttlMs: number;
  now?: Date;
}

/**
 * `claimed: true`: this call stored the key (it was absent, or the stored one had expired) and
 * the fields are this call's. `claimed: false`: a live key exists and the fields are the stored
 * ones; the caller compares `requestHash` (same → a retry of the same request; another → a
 * conflicting reuse of the key, HTTP 422).
 */
export interface IdempotencyClaim {
  claimed: boolean;
  requestHash: string;
  createdAt: Date;
  expiresAt: Date;
}

// ---------------------------------------------------------------------------------------------
// Throughput counters

/** The counted outcomes: jobs enqueued, and attempts that ended completed/retried/dead/cancelled. */
export const STATS_FIELDS = ['enqueued', 'completed', 'retried', 'dead', 'cancelled'] as const;
export type StatsField = (typeof STATS_FIELDS)[number];

export type StatsCounts = Record<StatsField, number>;

/** Counts to add to one (queue, minute). Missing counts are 0. */
export interface StatsDelta extends Partial<StatsCounts> {
  queue: string;
  /** Any time within the minute (stored as the minute's start, UTC); default: the minute of `now`. */
  minute?: Date;
}

export interface RecordStatsParams {
  /** 1..10000 rows; rows naming the same (queue, minute) add up. */
  rows: StatsDelta[];
  now?: Date;
}

/** One stored per-minute row. */
export interface StatsRow extends StatsCounts {
  queue: string;
  /** Start of the minute (UTC). */
  minute: Date;
}

export interface ReadStatsParams {
  queue?: string;
  /** Minutes from the one containing `from` (inclusive) up to `to` (exclusive); at most 31 days. */
  from: Date;
  to: Date;
}

// ---------------------------------------------------------------------------------------------
// Pruning (leader-only maintenance)

export interface PruneStoresParams {
  /** Delete workers not seen for this long; null keeps them. */
  workerExpiryMs: number | null;
  /** Delete stats rows whose minute is older than this; null keeps them. */
  statsRetentionMs: number | null;
  /** At most this many rows per store per call. Expired idempotency keys are always deleted. */
  limit: number;
  now?: Date;
}

export interface PruneStoresResult {
  workers: number;
  idempotencyKeys: number;
  stats: number;
}
