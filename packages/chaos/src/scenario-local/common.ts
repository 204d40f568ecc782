/**
 * What the scenarios of this folder (C6, C7, C8, C11, C14) share on top of the runner
 * (scenario/runner.ts): worker pools of their own (the runner's pool cannot be given extra
 * environment, and these scenarios need worker-hooks.ts switched on), a paced producer that
 * classifies every error it gets, waiting for the queue to settle, and small readers (error
 * logs, RSS, SQLite integrity).
 *
 * Owns nothing across runs. Invariants:
 * - A scenario that starts a pool here stops it (graceful, then kill) before its drive returns —
 *   `withPools` does so on every path — so the runner reads the final state with no worker of
 *   ours alive, as it requires.
 * - The producer never invents a job id on retry: a batch is retried with the ids it was first
 *   sent with, so a call that failed after committing is judged by I8 (one job per value).
 * - An error is *typed* when it carries one of Spindle's error codes; *retryable* when that code
 *   is `backend_error` or `closed`. Anything else reaching a caller is untyped (a driver error
 *   leaking through).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Backend, JobOptions, Queue } from '@spindle/core';
import type { SqliteBackend } from '@spindle/sqlite';
import type { PostgresBackend } from '@spindle/postgres';
import { DEFAULT_PG_URL, type DbTarget, targetEnv } from '../scenario/backends.js';
import type { RunContext } from '../scenario/runner.js';
import type { JobPayload } from '../scenario/settings.js';
import { sleep, WorkerPool, withTimeout } from '../scenario/workers.js';
import { describeError } from './worker-hooks.js';

export type { Tier } from '../scenario/scenarios-process.js';

/** The run's database as the runner created it (backends.ts conventions). */
export function runTarget(ctx: RunContext): DbTarget {
  if (ctx.backend === 'sqlite') return { kind: 'sqlite', path: (ctx.raw as unknown as SqliteBackend).options.path };
  return { kind: 'postgres', url: process.env.SPINDLE_PG_URL ?? DEFAULT_PG_URL, schema: (ctx.raw as unknown as PostgresBackend).schema };
}

export interface LocalPoolOptions {
  count: number;
  /** Slot numbers start here; keep them apart from other pools of the run (proc names `w<slot>.<n>`). */
  firstSlot: number;
  /** Extra environment of every worker (worker-hooks.ts switches, libfaketime). */
  env?: Record<string, string>;
  restartDelayMs?: number;
  /** Overrides of the run's worker settings. */
  worker?: Partial<{ concurrency: number; leaseMs: number; heartbeatMs: number; pollIntervalMs: number }>;
}

/** A started pool of worker-child processes on the run's database, with extra environment. */
export async function startLocalPool(ctx: RunContext, o: LocalPoolOptions): Promise<WorkerPool> {
  const s = ctx.settings;
  const worker = { queue: s.queue, concurrency: s.concurrency, leaseMs: s.leaseMs, heartbeatMs: s.heartbeatMs, pollIntervalMs: s.pollIntervalMs, ...o.worker };
  const pool = new WorkerPool({
    count: o.count, dir: ctx.dir, firstSlot: o.firstSlot, restartDelayMs: o.restartDelayMs ?? s.restartDelayMs,
    env: { ...targetEnv(runTarget(ctx)), CHAOS_WORKER: JSON.stringify(worker), ...o.env },
  });
  try {
    await pool.start();
  } catch (err) {
    await pool.killAll();
    throw err;
  }
  return pool;
}

/**
 * Runs `fn` with a list to register pools in; whatever happens, each registered pool is then
 * stopped gracefully (`graceMs`) and killed if it does not stop.
 */
export async function withPools<T>(fn: (pools: WorkerPool[]) => Promise<T>, graceMs = 10_000): Promise<T> {
  const pools: WorkerPool[] = [];
  try {
    return await fn(pools);
  } finally {
    for (const p of pools) await p.stop(graceMs).catch(() => p.killAll());
    for (const p of pools) await p.killAll().catch(() => {});
  }
}

/**
 * Waits until no job of the run's queue is unfinished (3 polls in a row), or until the count has
 * not moved for `stallMs`, or `timeoutMs`. Returns the jobs still pending.
 */
export async function untilSettled(ctx: RunContext, o: { stallMs?: number; timeoutMs?: number } = {}): Promise<number> {
  const stallMs = o.stallMs ?? 30_000;
  const end = Date.now() + (o.timeoutMs ?? 5 * 60_000);
  let empty = 0;
  let last = -1;
  let changedAt = Date.now();
  for (;;) {
    const pending = await ctx.pending();
    if (pending !== last) [last, changedAt] = [pending, Date.now()];
    empty = pending === 0 ? empty + 1 : 0;
    if (empty >= 3 || Date.now() > end || Date.now() - changedAt > stallMs) return pending;
    await sleep(200);
  }
}

export interface ClientErrorClass {
  typed: boolean;
  retryable: boolean;
  code: string | null;
  causeCode: string | null;
  message: string;
}

const SPINDLE_CODES = new Set([
  'validation_failed', 'not_found', 'lease_lost', 'conflict', 'closed', 'backend_error', 'migration_required',
  'timeout', 'cancelled', 'permanent', 'retry_after', 'snooze', 'offset_out_of_range',
]);

export function classifyClientError(err: unknown): ClientErrorClass {
  const d = describeError(err);
  const typed = d.code !== null && SPINDLE_CODES.has(d.code);
  return { typed, retryable: typed && (d.code === 'backend_error' || d.code === 'closed'), code: d.code, causeCode: d.causeCode, message: d.message };
}

export interface ProducerStats {
  /** Calls made (first tries and retries). */
  calls: number;
  /** Jobs acknowledged. */
  acked: number;
  /** Rejected calls by class. */
  typedRetryable: number;
  typedOther: number;
  untyped: number;
  /** Driver codes seen under typed errors (e.g. SQLITE_BUSY, SQLITE_FULL), with counts. */
  causeCodes: Record<string, number>;
  untypedSamples: string[];
  /** Batches abandoned after `maxTries` (their jobs may be missing: a violation for the caller). */
  gaveUp: number;
  /** Longest single call (ms): how long an enqueue waited, e.g. behind a lock. */
  maxCallMs: number;
  /** Jobs of a refused batch found stored right after the refusal (a partial write). */
  partialWrites: number;
  /** Times (epoch ms) of the first and last refused call, and of the first acknowledged call after a refusal. */
  firstRefusedAt: number | null;
  lastRefusedAt: number | null;
}

export function newProducerStats(): ProducerStats {
  return { calls: 0, acked: 0, typedRetryable: 0, typedOther: 0, untyped: 0, causeCodes: {}, untypedSamples: [], gaveUp: 0, maxCallMs: 0, partialWrites: 0, firstRefusedAt: null, lastRefusedAt: null };
}

export interface ProducerItem {
  payload: JobPayload;
  id: string;
  opts?: Omit<JobOptions, 'id'>;
}

/**
 * Enqueues `items` in batches every `batchMs`, evenly over `overMs` (catching up after a stall),
 * one call at a time. A failed call is counted by class and retried with the same ids after a
 * short backoff, up to `maxTries`. `onAcked` gets each acknowledged batch.
 */
export async function produce(
  queue: Queue<JobPayload>,
  items: readonly ProducerItem[],
  o: {
    overMs: number;
    batchMs?: number;
    maxTries?: number;
    stats?: ProducerStats;
    onAcked?: (batch: readonly ProducerItem[]) => void;
    maxOpts?: Omit<JobOptions, 'id'>;
    /** After a refused call: how many of these ids are stored (unrecorded read); > 0 is a partial write. */
    storedOf?: (ids: string[]) => Promise<number>;
    /** Awaited before each batch: a scenario may hold the producer (C6 before a backward clock step). */
    gate?: () => Promise<void>;
  },
): Promise<ProducerStats> {
  const stats = o.stats ?? newProducerStats();
  const batchMs = o.batchMs ?? 100;
  const batches = Math.max(1, Math.ceil(o.overMs / batchMs));
  const per = Math.max(1, Math.ceil(items.length / batches));
  // Paced on the monotonic clock: a producer under libfaketime must not stall or burst at a jump.
  const t0 = performance.now();
  for (let b = 0; b * per < items.length; b++) {
    await sleep(Math.max(0, t0 + b * batchMs - performance.now()));
    await o.gate?.();
    const batch = items.slice(b * per, (b + 1) * per);
    const jobs = batch.map((it) => ({ name: it.payload.k, payload: it.payload, opts: { ...o.maxOpts, ...it.opts, id: it.id } }));
    for (let attempt = 1; ; attempt++) {
      const c0 = performance.now();
      stats.calls += 1;
      try {
        await queue.addBulk(jobs);
        stats.maxCallMs = Math.max(stats.maxCallMs, Math.round(performance.now() - c0));
        stats.acked += batch.length;
        o.onAcked?.(batch);
        break;
      } catch (err) {
        stats.maxCallMs = Math.max(stats.maxCallMs, Math.round(performance.now() - c0));
        const c = countError(stats, err);
        stats.firstRefusedAt ??= Date.now();
        stats.lastRefusedAt = Date.now();
        if (c.retryable && o.storedOf) stats.partialWrites += await o.storedOf(batch.map((it) => it.id)).catch(() => 0);
        if (attempt >= (o.maxTries ?? 40)) {
          stats.gaveUp += 1;
          break;
        }
        await sleep(Math.min(1000, 25 * 2 ** Math.min(attempt, 6)));
      }
    }
  }
  return stats;
}

export function countError(stats: ProducerStats, err: unknown): ClientErrorClass {
  const c = classifyClientError(err);
  if (!c.typed) {
    stats.untyped += 1;
    if (stats.untypedSamples.length < 5) stats.untypedSamples.push(`${c.code ?? '?'}: ${c.message}`);
  } else if (c.retryable) stats.typedRetryable += 1;
  else stats.typedOther += 1;
  if (c.causeCode) stats.causeCodes[c.causeCode] = (stats.causeCodes[c.causeCode] ?? 0) + 1;
  return c;
}

export interface DbErrorLine {
  proc: string;
  t: number;
  op: string;
  name: string;
  code: string | null;
  causeCode: string | null;
  message: string;
}

/** Every `<proc>.dberrors.ndjson` of the run's dir (worker-hooks.ts error log). */
export function readDbErrors(dir: string): DbErrorLine[] {
  const out: DbErrorLine[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.dberrors.ndjson'))) {
    const proc = f.slice(0, -'.dberrors.ndjson'.length);
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (line.trim()) out.push({ proc, ...(JSON.parse(line) as Omit<DbErrorLine, 'proc'>) });
    }
  }
  return out;
}

/** `storedOf` for `produce`: how many of `ids` exist, read through an unrecorded backend. */
export function storedIn(backend: Backend): (ids: string[]) => Promise<number> {
  return async (ids) => (await Promise.all(ids.map((id) => backend.getJob(id)))).filter((j) => j !== null).length;
}

/** Resident set size of a process in KiB (/proc), or null when it is gone. */
export function rssKiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** `PRAGMA integrity_check` of a SQLite file, read-only, on its own connection. */
export function sqliteIntegrity(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true, timeout: 10_000 });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

/** Waits for `cond` (polled every 20 ms) or fails after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  await withTimeout((async () => {
    while (!(await cond())) await sleep(20);
  })(), ms, what);
}

export const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Refuses to run a scenario on a backend it does not apply to (never a silent pass). */
export function requireBackend(ctx: RunContext, id: string, kinds: readonly string[]): void {
  if (!kinds.includes(ctx.backend)) throw new Error(`${id} applies to ${kinds.join(', ')} only, not ${ctx.backend}`);
}
