/**
 * The server's options: their defaults, limits and validation. `resolveServerOptions` is the one
 * place that turns what a caller passed into the settings every other module reads.
 *
 * Invariants:
 * - Bad options throw `ValidationError` before anything listens or is registered.
 * - Alert rules (`alerts`) are validated by alerts/rules.ts (zod); their issues are reported
 *   with the others, under `options.alerts…`.
 * - Limits have hard ceilings (body ≤ 16 MiB, batch ≤ 1,000, long-poll ≤ 20 s) that no option
 *   lifts: they are what keeps one request's cost bounded.
 */
import { checkInt, checkKnownKeys, checkPlainObject, Issues, ValidationError } from '@spindle/core';
import { resolveAlerts, type AlertsOptions, type ResolvedAlerts } from './alerts/rules.js';
import type { AuthOptions } from './auth/key-store.js';
import { DEFAULT_RATE_LIMIT, type RateLimitOptions, type ResolvedRateLimit } from './http/rate-limit.js';
import { resolveWebhooks, type ResolvedWebhooks, type WebhookOptions } from './webhooks/options.js';

export const MIB = 1024 * 1024;
export const MAX_BODY_LIMIT = 16 * MIB;
export const MAX_BATCH = 1000;
export const MAX_CLAIM_BATCH = 100;
export const MAX_CLAIM_WAIT_MS = 20_000;
export const MIN_LEASE_MS = 1000;
export const MAX_LEASE_MS = 43_200_000;

export interface ServerOptions {
  /** Address to bind; default 127.0.0.1. Anything else requires auth (see `auth`). */
  host?: string;
  /** TCP port; default 7700, 0 picks a free one. */
  port?: number;
  /** Largest request body in bytes; default 1 MiB, at most 16 MiB. */
  bodyLimitBytes?: number;
  /** Events kept for `Last-Event-ID` replay; default 10,000. */
  eventBufferSize?: number;
  /** SSE heartbeat comment interval; default 15 s. */
  heartbeatMs?: number;
  /** Lease given to HTTP workers when a claim does not say; default 30 s. */
  defaultLeaseMs?: number;
  /** Deprecated: the default of `alerts.intervalMs` (how often alert rules are evaluated). */
  dlqAlertIntervalMs?: number;
  /**
   * Alert rules (alerts/rules.ts): `{ rules?: AlertRuleInput[]; intervalMs?: number (default
   * 10 s); builtin?: false }`. The built-in `dlq-not-empty` (DLQ depth > 0) is on by default.
   */
  alerts?: AlertsOptions;
  /** How often HTTP workers seen in claims are written to the worker registry; default 5 s. */
  workerReportMs?: number;
  /** Time to receive a request's headers (slowloris guard); default 10 s, at most 10 s. */
  headersTimeoutMs?: number;
  /** Time to receive a whole request; default 30 s, at most 30 s. Responses (long-polls, streams) are not cut. */
  requestTimeoutMs?: number;
  /**
   * API keys. Without this the server answers anyone and may only bind a loopback address;
   * with it every route but the health probes and the API description needs a key.
   */
  auth?: AuthOptions;
  /**
   * Per-key rate limit (token bucket, applied when auth is on): `{ perSecond, burst }`, default
   * 1,000/s with bursts of 2,000; `false` turns it off. Excess requests get 429 `rate_limited`
   * with `Retry-After`.
   */
  rateLimit?: RateLimitOptions | false;
  /** Most open TCP connections; further ones are closed at once (default 10,000). */
  maxConnections?: number;
  /** Signed webhooks: per queue (`hooks`) and per job (`callbackUrl` on enqueue). */
  webhooks?: WebhookOptions;
  /** Fastify/pino logger: true (info), false (silent, the default for tests), or pino options. */
  logger?: boolean | Record<string, unknown>;
  /** Serve the web dashboard at `/` (ADR 0018); default true. */
  dashboard?: boolean;
}

export interface ResolvedServerOptions {
  host: string;
  port: number;
  bodyLimitBytes: number;
  eventBufferSize: number;
  heartbeatMs: number;
  defaultLeaseMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  workerReportMs: number;
  alerts: ResolvedAlerts;
  logger: boolean | Record<string, unknown>;
  dashboard: boolean;
  auth: AuthOptions | null;
  /** null: no per-key limit. */
  rateLimit: ResolvedRateLimit | null;
  maxConnections: number;
  webhooks: ResolvedWebhooks | null;
}

const KEYS = ['host', 'port', 'bodyLimitBytes', 'eventBufferSize', 'heartbeatMs', 'defaultLeaseMs', 'headersTimeoutMs', 'requestTimeoutMs', 'workerReportMs', 'dlqAlertIntervalMs', 'alerts', 'logger', 'auth', 'rateLimit', 'maxConnections', 'webhooks', 'dashboard'];

export function resolveServerOptions(options: ServerOptions = {}): ResolvedServerOptions {
  const issues = new Issues();
  const o: ServerOptions = checkPlainObject(issues, 'options', options) ? options : {};
  checkKnownKeys(issues, 'options', o as Record<string, unknown>, KEYS);
  const resolved: ResolvedServerOptions = {
    host: o.host ?? '127.0.0.1',
    port: o.port ?? 7700,
    bodyLimitBytes: o.bodyLimitBytes ?? MIB,
    eventBufferSize: o.eventBufferSize ?? 10_000,
    heartbeatMs: o.heartbeatMs ?? 15_000,
    defaultLeaseMs: o.defaultLeaseMs ?? 30_000,
    headersTimeoutMs: o.headersTimeoutMs ?? 10_000,
    requestTimeoutMs: o.requestTimeoutMs ?? 30_000,
    workerReportMs: o.workerReportMs ?? 5000,
    alerts: { intervalMs: 10_000, rules: [] },
    logger: o.logger ?? false,
    dashboard: o.dashboard ?? true,
    auth: o.auth ?? null,
    rateLimit: { ...DEFAULT_RATE_LIMIT },
    maxConnections: o.maxConnections ?? 10_000,
    webhooks: null,
  };
  if (o.webhooks !== undefined) resolved.webhooks = resolveWebhooks(o.webhooks, issues);
  if (typeof resolved.host !== 'string' || resolved.host.length === 0) issues.add('options.host', 'must be a non-empty string');
  checkInt(issues, 'options.port', resolved.port, 0, 65_535);
  checkInt(issues, 'options.bodyLimitBytes', resolved.bodyLimitBytes, 1024, MAX_BODY_LIMIT);
  checkInt(issues, 'options.eventBufferSize', resolved.eventBufferSize, 0, 1_000_000);
  checkInt(issues, 'options.heartbeatMs', resolved.heartbeatMs, 100, 300_000);
  checkInt(issues, 'options.defaultLeaseMs', resolved.defaultLeaseMs, MIN_LEASE_MS, MAX_LEASE_MS);
  checkInt(issues, 'options.headersTimeoutMs', resolved.headersTimeoutMs, 100, 10_000);
  checkInt(issues, 'options.requestTimeoutMs', resolved.requestTimeoutMs, 100, 30_000);
  checkInt(issues, 'options.workerReportMs', resolved.workerReportMs, 10, 60_000);
  checkInt(issues, 'options.maxConnections', resolved.maxConnections, 1, 1_000_000);
  if (o.dlqAlertIntervalMs !== undefined) checkInt(issues, 'options.dlqAlertIntervalMs', o.dlqAlertIntervalMs, 10, 3_600_000);
  try {
    resolved.alerts = resolveAlerts(o.alerts, 'options.alerts', typeof o.dlqAlertIntervalMs === 'number' ? o.dlqAlertIntervalMs : undefined);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    for (const i of err.issues) issues.add(i.path, i.message);
  }
  if (typeof resolved.dashboard !== 'boolean') issues.add('options.dashboard', 'must be a boolean');
  if (typeof resolved.logger !== 'boolean') checkPlainObject(issues, 'options.logger', resolved.logger);
  if (resolved.auth !== null && checkPlainObject(issues, 'options.auth', resolved.auth)) {
    checkKnownKeys(issues, 'options.auth', resolved.auth as Record<string, unknown>, ['keys', 'keysFile']);
    if (resolved.auth.keys === undefined && resolved.auth.keysFile === undefined) issues.add('options.auth', 'needs keys or keysFile');
    if (resolved.auth.keys !== undefined && !Array.isArray(resolved.auth.keys)) issues.add('options.auth.keys', 'must be an array of key records');
    if (resolved.auth.keysFile !== undefined && (typeof resolved.auth.keysFile !== 'string' || resolved.auth.keysFile.length === 0)) issues.add('options.auth.keysFile', 'must be a file path');
  }
  if (o.rateLimit === false) resolved.rateLimit = null;
  else if (o.rateLimit !== undefined && checkPlainObject(issues, 'options.rateLimit', o.rateLimit)) {
    checkKnownKeys(issues, 'options.rateLimit', o.rateLimit as Record<string, unknown>, ['perSecond', 'burst']);
    const given = o.rateLimit as RateLimitOptions;
    const limit: ResolvedRateLimit = { perSecond: given.perSecond ?? DEFAULT_RATE_LIMIT.perSecond, burst: given.burst ?? DEFAULT_RATE_LIMIT.burst };
    checkInt(issues, 'options.rateLimit.perSecond', limit.perSecond, 1, 1_000_000);
    checkInt(issues, 'options.rateLimit.burst', limit.burst, 1, 10_000_000);
    resolved.rateLimit = limit;
  }
  issues.throwIfAny();
  return resolved;
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
