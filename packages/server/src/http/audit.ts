/**
 * The audit log (reliability S15): one structured log line, `{ audit: {...} }` with message
 * `spindle audit: …`, for every request to a route that changes jobs or settings with the `admin`
 * or `dlq` action (purge, replay, resolve, delete, cancel, retry, promote, edit, pause, limits,
 * schedules, topics) and for every change of the API keys file (added, revoked, removed keys).
 *
 * Invariants:
 * - A line names who (key id; `open` when auth is off; null when the key was refused), what
 *   (method, route pattern, path parameters, the size and kind of the selection), the outcome
 *   (status code) and the request id. Never a body, a payload, a note or a secret.
 * - Refused attempts (401, 403, 404, 429) are logged too: they are what an audit is for.
 * - Lines are written at `info` even when the server logs only warnings (the CLI's default), so
 *   the trail is on by default; a `silent` logger stays silent.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Access } from '../auth/guard.js';

const AUDITED_ACTIONS = new Set(['admin', 'dlq']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The logger audit lines go to: the server's, at info level at least. */
export function auditLogger(log: FastifyBaseLogger): FastifyBaseLogger {
  if (log.level === 'silent') return log;
  const verbose = ['trace', 'debug'].includes(log.level);
  return log.child({}, { level: verbose ? log.level : 'info' });
}

/** What a body selected, without its contents: `{ ids: 3 }`, `{ filter: true }`, `{ all: true }`. */
function selectionOf(body: unknown): Record<string, number | boolean> | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const b = body as { ids?: unknown; filter?: unknown; all?: unknown; toQueue?: unknown };
  const out: Record<string, number | boolean> = {};
  if (Array.isArray(b.ids)) out.ids = b.ids.length;
  if (b.filter !== undefined) out.filter = true;
  if (b.all === true) out.all = true;
  return Object.keys(out).length > 0 ? out : undefined;
}

export function registerAudit(app: FastifyInstance): void {
  let log: FastifyBaseLogger | null = null;
  app.addHook('onResponse', async (request, reply) => {
    const access = request.routeOptions.config.access as Access | undefined;
    if (!access || !AUDITED_ACTIONS.has(access.action) || SAFE_METHODS.has(request.method)) return;
    log ??= auditLogger(app.log);
    const params = request.params && typeof request.params === 'object' ? (request.params as Record<string, unknown>) : {};
    const audit = {
      event: 'http',
      action: access.action,
      method: request.method,
      route: request.routeOptions.url,
      params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v).slice(0, 300)])),
      selection: selectionOf(request.body),
      toQueue: typeof (request.body as { toQueue?: unknown } | undefined)?.toQueue === 'string' ? (request.body as { toQueue: string }).toQueue : undefined,
      keyId: request.grant && request.grant.keyId !== 'none' ? request.grant.keyId : null,
      status: reply.statusCode,
      requestId: request.id,
    };
    log.info({ audit }, `spindle audit: ${request.method} ${request.routeOptions.url} → ${reply.statusCode}`);
  });
}

/** A change of the keys file, as KeyStore reports it. */
export interface KeyChange {
  added: string[];
  revoked: string[];
  removed: string[];
  changed: string[];
}

export function logKeyChange(log: FastifyBaseLogger, change: KeyChange): void {
  auditLogger(log).info({ audit: { event: 'keys', ...change } }, 'spindle audit: API keys file changed');
}
