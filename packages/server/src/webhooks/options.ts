/**
 * Webhook options and URL checks. A webhook URL is http(s), carries no credentials, is at most
 * 2,048 characters, and — when `allowedHosts` is set — names an allowed host (exact, or
 * `*.example.com` for subdomains). Callers choose `callbackUrl`s, so operators who expose the
 * API to untrusted producers should set `allowedHosts` (the server otherwise posts wherever a
 * producer asks, inside its own network too).
 */
import { checkInt, checkKnownKeys, checkPlainObject, Issues } from '@spindle/core';
import { isValidQueuePattern } from '../auth/api-keys.js';

export const WEBHOOK_EVENT_TYPES = ['job.added', 'job.started', 'job.progress', 'job.completed', 'job.retrying', 'job.dead', 'job.cancelled', 'job.replayed', 'job.promoted', 'queue.paused', 'queue.resumed', 'dlq.alert.fired', 'dlq.alert.cleared', 'alert.firing', 'alert.resolved'];

export interface WebhookHook {
  url: string;
  /** Queue names or patterns (`*`, `prefix*`); default every queue. */
  queues?: string[];
  /** Event types; default `job.completed` and `job.dead`. */
  events?: string[];
}

export interface WebhookOptions {
  /** HMAC key of the `Spindle-Signature` header (at least 16 characters). */
  secret: string;
  hooks?: WebhookHook[];
  /** Hosts `callbackUrl`s and hooks may name; default any. */
  allowedHosts?: string[];
  /** Per-request timeout; default 10 s. */
  timeoutMs?: number;
  /** How often parked callbacks are checked against their jobs; default 10 s. */
  sweepMs?: number;
  /** Deliveries in flight at once; default 8. */
  concurrency?: number;
  /** First retry delay of a failed delivery (doubling up to 1 h, 10 retries); default 5 s. */
  retryDelayMs?: number;
}

export interface ResolvedWebhooks {
  secret: string;
  hooks: Array<Required<WebhookHook>>;
  allowedHosts: string[] | null;
  timeoutMs: number;
  sweepMs: number;
  concurrency: number;
  retryDelayMs: number;
}

export function resolveWebhooks(value: unknown, issues: Issues): ResolvedWebhooks | null {
  if (!checkPlainObject(issues, 'options.webhooks', value)) return null;
  checkKnownKeys(issues, 'options.webhooks', value, ['secret', 'hooks', 'allowedHosts', 'timeoutMs', 'sweepMs', 'concurrency', 'retryDelayMs']);
  const w = value as Partial<WebhookOptions>;
  if (typeof w.secret !== 'string' || w.secret.length < 16) issues.add('options.webhooks.secret', 'must be a string of at least 16 characters');
  const allowedHosts = w.allowedHosts ?? null;
  if (allowedHosts !== null && (!Array.isArray(allowedHosts) || !allowedHosts.every((h) => typeof h === 'string' && /^(\*\.)?[A-Za-z0-9.-]{1,253}$/.test(h)))) {
    issues.add('options.webhooks.allowedHosts', 'must be host names (or *.domain)');
  }
  const resolved: ResolvedWebhooks = { secret: w.secret ?? '', hooks: [], allowedHosts, timeoutMs: w.timeoutMs ?? 10_000, sweepMs: w.sweepMs ?? 10_000, concurrency: w.concurrency ?? 8, retryDelayMs: w.retryDelayMs ?? 5000 };
  checkInt(issues, 'options.webhooks.timeoutMs', resolved.timeoutMs, 100, 60_000);
  checkInt(issues, 'options.webhooks.sweepMs', resolved.sweepMs, 50, 3_600_000);
  checkInt(issues, 'options.webhooks.concurrency', resolved.concurrency, 1, 100);
  checkInt(issues, 'options.webhooks.retryDelayMs', resolved.retryDelayMs, 10, 3_600_000);
  if (w.hooks !== undefined && !Array.isArray(w.hooks)) issues.add('options.webhooks.hooks', 'must be an array');
  (Array.isArray(w.hooks) ? w.hooks : []).forEach((h, i) => {
    const path = `options.webhooks.hooks[${i}]`;
    if (!checkPlainObject(issues, path, h)) return;
    checkKnownKeys(issues, path, h as unknown as Record<string, unknown>, ['url', 'queues', 'events']);
    const problem = webhookUrlProblem(h.url, allowedHosts);
    if (problem) issues.add(`${path}.url`, problem);
    const queues = h.queues ?? ['*'];
    const events = h.events ?? ['job.completed', 'job.dead'];
    if (!Array.isArray(queues) || queues.length === 0 || !queues.every(isValidQueuePattern)) issues.add(`${path}.queues`, 'must be queue names or patterns');
    if (!Array.isArray(events) || events.length === 0 || !events.every((e) => WEBHOOK_EVENT_TYPES.includes(e))) issues.add(`${path}.events`, `must be some of ${WEBHOOK_EVENT_TYPES.join(', ')}`);
    resolved.hooks.push({ url: h.url, queues, events });
  });
  return resolved;
}

/** Why `url` may not receive webhooks, or null when it may. */
export function webhookUrlProblem(url: unknown, allowedHosts: string[] | null): string | null {
  if (typeof url !== 'string' || url.length > 2048) return 'must be a URL of at most 2048 characters';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute http(s) URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'must be an http or https URL';
  if (parsed.username || parsed.password) return 'must not carry credentials';
  if (allowedHosts && !allowedHosts.some((h) => (h.startsWith('*.') ? parsed.hostname.endsWith(h.slice(1)) : parsed.hostname === h))) {
    return 'names a host that is not in webhooks.allowedHosts';
  }
  return null;
}
