/**
 * The Client's options, their defaults and their validation (a bad option is a ValidationError
 * naming it, thrown before the client exists).
 */
import type { Backend, RetentionDefaults } from './backend/backend.js';
import { MAX_RESCUE_SPREAD_MS } from './backend/helpers.js';
import type { Logger } from './logger.js';
import type { MaintenanceIntervals } from './services/maintenance.js';
import { checkTelemetry, type TelemetryOptions } from './telemetry/telemetry.js';
import { checkInt, checkKnownKeys, checkPlainObject, DEFAULT_MAX_PAYLOAD_BYTES, Issues } from './validate.js';

export interface RetentionOptions {
  /** Keep completed jobs this long (default 24 h); null keeps them forever. */
  completedMs?: number | null;
  /** Keep cancelled jobs this long (default 7 days); null keeps them forever. */
  cancelledMs?: number | null;
  /** Keep dead jobs this long (default null: until purged — the DLQ never drops silently). */
  deadMs?: number | null;
}

export interface MaintenanceOptions extends Partial<MaintenanceIntervals> {
  /** Leadership lease for backends that use one (SQLite); default 15 s. */
  leaderTtlMs?: number;
}

export interface ClientOptions {
  backend: Backend;
  /** Apply migrations on start (default true). With false, start() fails if the schema is behind. */
  autoMigrate?: boolean;
  /** Take part in maintenance leader election (default true). false for producer-only processes. */
  maintenance?: boolean | MaintenanceOptions;
  retention?: RetentionOptions;
  /** Largest payload/result in bytes of JSON (default 1 MiB, at most 16 MiB). */
  maxPayloadBytes?: number;
  logger?: Logger;
  /** Close the backend in close() (default true). */
  closeBackend?: boolean;
  /**
   * The worker registry heartbeat and the throughput counters of this client, and the limits
   * the maintenance leader prunes those stores by (telemetry/telemetry.ts). false: this client
   * reports nothing (the limits keep their defaults). Default true.
   */
  telemetry?: boolean | TelemetryOptions;
  /**
   * OpenTelemetry spans (`send {queue}`, `process {queue}`) when `@opentelemetry/api` is
   * installed (telemetry/tracing.ts); false: none from this client. Default true.
   */
  tracing?: boolean;
}

const DAY = 24 * 3600 * 1000;

/** `maintenance`: a boolean or known intervals; a 0 or NaN interval would make a loop spin. The rescue spread may be 0. */
function checkMaintenance(issues: Issues, value: unknown): void {
  if (value === undefined || typeof value === 'boolean') return;
  if (!checkPlainObject(issues, 'maintenance', value)) return;
  checkKnownKeys(issues, 'maintenance', value, ['promoteIntervalMs', 'rescueIntervalMs', 'rescueSpreadMs', 'pruneIntervalMs', 'scheduleIntervalMs', 'leaderTtlMs']);
  for (const key of ['promoteIntervalMs', 'rescueIntervalMs', 'pruneIntervalMs', 'scheduleIntervalMs']) {
    if (value[key] !== undefined) checkInt(issues, `maintenance.${key}`, value[key], 10, DAY);
  }
  if (value.leaderTtlMs !== undefined) checkInt(issues, 'maintenance.leaderTtlMs', value.leaderTtlMs, 100, DAY);
  if (value.rescueSpreadMs !== undefined) checkInt(issues, 'maintenance.rescueSpreadMs', value.rescueSpreadMs, 0, MAX_RESCUE_SPREAD_MS);
}

/** Validates `options`; answers the resolved payload limit and retention defaults. Throws ValidationError. */
export function checkClientOptions(options: ClientOptions): { maxPayloadBytes: number; retention: RetentionDefaults } {
  const issues = new Issues();
  if (!checkPlainObject(issues, 'options', options)) issues.throwIfAny();
  checkKnownKeys(issues, 'options', options as unknown as Record<string, unknown>, ['backend', 'autoMigrate', 'maintenance', 'retention', 'maxPayloadBytes', 'logger', 'closeBackend', 'telemetry', 'tracing']);
  if (!options.backend || typeof options.backend.claimJobs !== 'function') issues.add('backend', 'must be a Spindle backend (e.g. new SqliteBackend({ path }))');
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  checkInt(issues, 'maxPayloadBytes', maxPayloadBytes, 1, 16 * 1024 * 1024);
  const r = options.retention ?? {};
  if (checkPlainObject(issues, 'retention', r as unknown)) checkKnownKeys(issues, 'retention', r as Record<string, unknown>, ['completedMs', 'cancelledMs', 'deadMs']);
  for (const key of ['completedMs', 'cancelledMs', 'deadMs'] as const) {
    const v = r[key];
    if (v !== undefined && v !== null) checkInt(issues, `retention.${key}`, v, 0, 100 * 365 * DAY);
  }
  checkMaintenance(issues, options.maintenance);
  checkTelemetry(issues, options.telemetry);
  for (const key of ['autoMigrate', 'closeBackend', 'tracing'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') issues.add(key, 'must be a boolean');
  }
  const logger = options.logger as unknown as Record<string, unknown> | undefined;
  if (logger !== undefined && (typeof logger !== 'object' || logger === null || !['debug', 'info', 'warn', 'error'].every((k) => typeof logger[k] === 'function'))) {
    issues.add('logger', 'must have debug, info, warn and error methods (pino-compatible)');
  }
  issues.throwIfAny();
  return {
    maxPayloadBytes,
    retention: {
      completedMs: r.completedMs === undefined ? DAY : r.completedMs,
      cancelledMs: r.cancelledMs === undefined ? 7 * DAY : r.cancelledMs,
      deadMs: r.deadMs === undefined ? null : r.deadMs,
    },
  };
}
