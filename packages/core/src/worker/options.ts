/**
 * Worker options: their defaults and validation (a bad option is a ValidationError naming it,
 * thrown before the worker exists).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { checkInt, checkKnownKeys, checkPlainObject, Issues } from '../validate.js';

export interface WorkerOptions {
  /** Handlers running at once (default 10, max 1000). */
  concurrency?: number;
  /** Lease length (default 30 s). A job whose worker stops renewing is rescued after it. */
  leaseMs?: number;
  /** Heartbeat period (default leaseMs / 3). */
  heartbeatMs?: number;
  /** Fallback poll period when idle and no event arrives (default 1000 ms). */
  pollIntervalMs?: number;
  /**
   * Jobs claimed ahead of free slots and held in this process (their leases kept alive) so that
   * claims come in larger batches: throughput for short jobs, at the price of jobs waiting here
   * that another worker could have taken. Default 0 (claim only for free slots); a local buffer
   * is refilled when it falls to half. Max 1000.
   */
  prefetch?: number;
  /** Most jobs per claim (default: concurrency + prefetch, at most 500). */
  batchSize?: number;
  /** How long an aborted handler (timeout, cancel, lost lease) may take to stop (default 5 s). */
  abortGraceMs?: number;
  /** Default grace for close() (default 30 s). */
  shutdownGraceMs?: number;
  /** Identifies this worker in job records (default host:pid:random). */
  workerId?: string;
  /** Start claiming at once (default true). */
  autostart?: boolean;
}

const WORKER_OPTION_KEYS = ['concurrency', 'leaseMs', 'heartbeatMs', 'pollIntervalMs', 'prefetch', 'batchSize', 'abortGraceMs', 'shutdownGraceMs', 'workerId', 'autostart'];

export function resolveOptions(options: WorkerOptions | undefined): Required<Omit<WorkerOptions, 'workerId'>> & { workerId: string } {
  const issues = new Issues();
  const o: Record<string, unknown> = options === undefined ? {} : checkPlainObject(issues, 'worker options', options) ? options : {};
  checkKnownKeys(issues, 'worker options', o, WORKER_OPTION_KEYS);
  const concurrency = (o.concurrency ?? 10) as number;
  checkInt(issues, 'concurrency', concurrency, 1, 1000);
  const leaseMs = (o.leaseMs ?? 30_000) as number;
  checkInt(issues, 'leaseMs', leaseMs, 100, 24 * 3600 * 1000);
  const heartbeatMs = (o.heartbeatMs ?? Math.max(50, Math.floor(leaseMs / 3))) as number;
  checkInt(issues, 'heartbeatMs', heartbeatMs, 10, Math.max(10, leaseMs - 1));
  const pollIntervalMs = (o.pollIntervalMs ?? 1000) as number;
  checkInt(issues, 'pollIntervalMs', pollIntervalMs, 5, 600_000);
  const prefetch = (o.prefetch ?? 0) as number;
  checkInt(issues, 'prefetch', prefetch, 0, 1000);
  const batchSize = (o.batchSize ?? Math.min(500, concurrency + (Number.isInteger(prefetch) ? prefetch : 0))) as number;
  checkInt(issues, 'batchSize', batchSize, 1, 500);
  const abortGraceMs = (o.abortGraceMs ?? 5000) as number;
  checkInt(issues, 'abortGraceMs', abortGraceMs, 0, 3_600_000);
  const shutdownGraceMs = (o.shutdownGraceMs ?? 30_000) as number;
  checkInt(issues, 'shutdownGraceMs', shutdownGraceMs, 0, 24 * 3600 * 1000);
  const workerId = (o.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`) as string;
  if (typeof workerId !== 'string' || workerId.length === 0 || workerId.length > 200) issues.add('workerId', 'must be a string of 1..200 characters');
  const autostart = (o.autostart ?? true) as boolean;
  if (typeof autostart !== 'boolean') issues.add('autostart', 'must be a boolean');
  issues.throwIfAny();
  return { concurrency, leaseMs, heartbeatMs, pollIntervalMs, prefetch, batchSize, abortGraceMs, shutdownGraceMs, workerId, autostart };
}

/** Validates `close()` options; returns the grace period if one is given. Throws ValidationError. */
export function checkCloseOptions(options: unknown): number | undefined {
  const issues = new Issues();
  if (!checkPlainObject(issues, 'close options', options)) issues.throwIfAny();
  const o = options as Record<string, unknown>;
  checkKnownKeys(issues, 'close options', o, ['graceMs']);
  if (o.graceMs !== undefined) checkInt(issues, 'graceMs', o.graceMs, 0, 24 * 3600 * 1000);
  issues.throwIfAny();
  return o.graceMs as number | undefined;
}

export type ResolvedWorkerOptions = ReturnType<typeof resolveOptions>;
