/**
 * A client's telemetry: the worker registry heartbeat (worker-registry.ts) and the throughput
 * counters (stats-recorder.ts), their options (`ClientOptions.telemetry`), and the checks of the
 * client methods that read the stores (`listWorkers`, `readStats`, `claimIdempotencyKey`).
 *
 * Invariants: the options are validated with the client's other options (a bad one is a
 * ValidationError from `new Client`); `telemetry: false` turns off this client's reporting
 * (no heartbeat, no counting) but not the pruning it does as maintenance leader, whose limits
 * (`workerExpiryMs`, `statsRetentionMs`) apply to rows written by every process.
 */
import type { Backend } from '../backend/backend.js';
import { checkClaimIdempotencyKey, checkListWorkers, checkReadStats } from '../backend/store-checks.js';
import type { ClaimIdempotencyKeyParams, ListWorkersParams, ReadStatsParams } from '../backend/stores.js';
import type { Logger } from '../logger.js';
import { checkInt, checkKnownKeys, checkPlainObject, Issues } from '../validate.js';
import { StatsRecorder } from './stats-recorder.js';
import { WorkerRegistry } from './worker-registry.js';

const DAY = 24 * 3600 * 1000;

export interface TelemetryOptions {
  /** How often this client reports its workers' busy slots (default 5000 ms). */
  heartbeatMs?: number;
  /** How often this client adds its counted outcomes to the per-minute stats (default 5000 ms). */
  statsFlushMs?: number;
  /** Maintenance leader: delete registered workers not seen for this long (default 60 s). */
  workerExpiryMs?: number;
  /** Maintenance leader: delete per-minute stats older than this (default 7 days; null keeps them). */
  statsRetentionMs?: number | null;
}

export interface ResolvedTelemetry {
  enabled: boolean;
  heartbeatMs: number;
  statsFlushMs: number;
  workerExpiryMs: number;
  statsRetentionMs: number | null;
}

export const DEFAULT_TELEMETRY: ResolvedTelemetry = {
  enabled: true,
  heartbeatMs: 5000,
  statsFlushMs: 5000,
  workerExpiryMs: 60_000,
  statsRetentionMs: 7 * DAY,
};

/** Default lifetime of an idempotency key: 24 h (DESIGN §5). */
export const DEFAULT_IDEMPOTENCY_TTL_MS = DAY;

/** Checks `ClientOptions.telemetry` into `issues`. */
export function checkTelemetry(issues: Issues, value: unknown): void {
  if (value === undefined || typeof value === 'boolean') return;
  if (!checkPlainObject(issues, 'telemetry', value)) return;
  checkKnownKeys(issues, 'telemetry', value, ['heartbeatMs', 'statsFlushMs', 'workerExpiryMs', 'statsRetentionMs']);
  for (const key of ['heartbeatMs', 'statsFlushMs']) {
    if (value[key] !== undefined) checkInt(issues, `telemetry.${key}`, value[key], 10, DAY);
  }
  if (value.workerExpiryMs !== undefined) checkInt(issues, 'telemetry.workerExpiryMs', value.workerExpiryMs, 1000, 365 * DAY);
  if (value.statsRetentionMs !== undefined && value.statsRetentionMs !== null) {
    checkInt(issues, 'telemetry.statsRetentionMs', value.statsRetentionMs, 60_000, 100 * 365 * DAY);
  }
}

/** The options with defaults (call after checkTelemetry passed). */
export function resolveTelemetry(value: boolean | TelemetryOptions | undefined): ResolvedTelemetry {
  if (value === undefined || value === true) return { ...DEFAULT_TELEMETRY };
  if (value === false) return { ...DEFAULT_TELEMETRY, enabled: false };
  const defined = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
  return { ...DEFAULT_TELEMETRY, ...defined };
}

/** The registry and the recorder of one client (both null when telemetry is off). */
export class Telemetry {
  readonly registry: WorkerRegistry | null;
  readonly stats: StatsRecorder | null;

  constructor(backend: Backend, logger: Logger, readonly options: ResolvedTelemetry) {
    this.registry = options.enabled ? new WorkerRegistry({ backend, heartbeatMs: options.heartbeatMs, logger }) : null;
    this.stats = options.enabled ? new StatsRecorder({ backend, flushMs: options.statsFlushMs, logger }) : null;
  }

  start(): void {
    this.registry?.start();
    this.stats?.start();
  }

  /** Writes a heartbeat and the counters now. */
  async flush(): Promise<void> {
    await Promise.all([this.registry?.beatNow(), this.stats?.flush()]);
  }

  /** After the workers closed: final counters written, remaining workers removed. */
  async stop(): Promise<void> {
    await Promise.all([this.registry?.stop(), this.stats?.stop()]);
  }
}

// ---------------------------------------------------------------------------------------------
// Client entry points: the store checks, minus the test-only `now`, plus the client's defaults.

function clientParams(issues: Issues, params: unknown, keys: string[]): Record<string, unknown> {
  if (!checkPlainObject(issues, 'params', params)) issues.throwIfAny();
  const p = params as Record<string, unknown>;
  checkKnownKeys(issues, 'params', p, keys);
  issues.throwIfAny();
  return p;
}

export function clientListWorkersParams(params: unknown): ListWorkersParams {
  const p = clientParams(new Issues(), params, ['queue', 'seenWithinMs']);
  const { queue, seenWithinMs } = checkListWorkers(p as ListWorkersParams);
  return { ...(queue === null ? {} : { queue }), ...(seenWithinMs === null ? {} : { seenWithinMs }) };
}

/** `from` / `to` may be Dates or ISO 8601 strings. */
export function clientReadStatsParams(params: unknown): ReadStatsParams {
  const p = clientParams(new Issues(), params, ['queue', 'from', 'to']);
  const { queue, from, to } = checkReadStats(p as unknown as ReadStatsParams);
  return { ...(queue === null ? {} : { queue }), from: new Date(from), to: new Date(to) };
}

export function clientClaimKeyParams(params: unknown): ClaimIdempotencyKeyParams {
  const p = clientParams(new Issues(), params, ['scope', 'key', 'requestHash', 'ttlMs']);
  const { scope, key, requestHash, ttlMs } = checkClaimIdempotencyKey({ ...(p as unknown as ClaimIdempotencyKeyParams), ttlMs: (p.ttlMs as number | undefined) ?? DEFAULT_IDEMPOTENCY_TTL_MS });
  return { scope, key, requestHash, ttlMs };
}
