/**
 * The one seam of the benchmark harness: every system under test (Spindle on SQLite and on
 * PostgreSQL, BullMQ, pg-boss, graphile-worker) is driven through a `SystemAdapter`, so each
 * workload runs the same steps against each of them.
 *
 * Rules every adapter keeps:
 * - It uses the system's fastest documented settings for a no-op job (bulk APIs, batching,
 *   prefetch…) and lists them in `settings` with the reason, so the report can say what ran.
 * - `prepare()` gives a fresh, empty store (a new SQLite file, PostgreSQL schema or Redis
 *   queue prefix) per measurement; `dispose()` removes it.
 * - `worker()` connects but processes nothing until `start()`; the handler calls `onJob` with
 *   the payload first thing, then returns (a no-op job).
 * - Acknowledgements are durable with the system's defaults (Redis as this machine runs it:
 *   no persistence — stated in the report).
 * - Everything crossing a process boundary (`StoreConfig`) is plain JSON.
 */

/** What every benchmark job carries: a sequence number and, for latency runs, the enqueue time. */
export interface BenchPayload {
  i: number;
  /** Epoch milliseconds with sub-millisecond precision (`now()` below), taken just before enqueue. */
  t?: number;
}

export type StoreConfig = Record<string, string | number | boolean>;

export interface Producer {
  /** Enqueue many jobs in the system's bulk API (one call per chunk given). */
  addBulk(payloads: BenchPayload[]): Promise<void>;
  /** Enqueue one job and resolve when the system acknowledges it. */
  add(payload: BenchPayload): Promise<void>;
  close(): Promise<void>;
}

export interface WorkerHandle {
  /** Begin processing. */
  start(): Promise<void>;
  /**
   * Optional: a producer sharing the worker's own client/connection, for in-process latency runs
   * (the embedded case: one process enqueues and works). Without it a separate producer is opened.
   */
  producer?(): Promise<Producer>;
  /** Stop processing gracefully. */
  close(): Promise<void>;
}

export interface WorkerOptions {
  concurrency: number;
  onJob: (payload: BenchPayload) => void;
}

export interface SystemAdapter {
  /** Stable id used on the command line and in results, e.g. `spindle-sqlite`. */
  name: string;
  /** Human label for tables, e.g. `Spindle (SQLite)`. */
  label: string;
  store: 'sqlite' | 'postgres' | 'redis';
  /** The options used and why (e.g. `{ completion: 'batched, completeJobBatchDelay 1 ms — fastest documented' }`). */
  settings: Record<string, string>;
  /** Can several worker processes drain one store? */
  multiProcessWorkers: boolean;
  versions(): Promise<Record<string, string>>;
  prepare(): Promise<StoreConfig>;
  dispose(config: StoreConfig): Promise<void>;
  producer(config: StoreConfig): Promise<Producer>;
  worker(config: StoreConfig, options: WorkerOptions): Promise<WorkerHandle>;
  /** Jobs enqueued but not yet completed (waiting, delayed, active, retrying). */
  pending(config: StoreConfig): Promise<number>;
  /**
   * Optional, for the backlog workload: writes rows straight into the store (much faster than
   * enqueueing a million jobs through the API): `queued` due jobs of the bench queue, plus
   * finished and future rows that a claim must not be slowed down by.
   */
  seed?(config: StoreConfig, rows: SeedRows): Promise<void>;
}

export interface SeedRows {
  queued: number;
  completed?: number;
  dead?: number;
  scheduled?: number;
}

/** High-resolution epoch milliseconds, comparable across processes on one machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}
