/**
 * The server's logger settings (pino, through Fastify): what a log line may carry (reliability
 * S9). Payloads, bodies and headers are never logged; this module also makes sure that secrets
 * reaching a log object by another path are cut out.
 *
 * Invariants:
 * - Request lines carry the method, the path and only the values of known-harmless query
 *   parameters (`queue`, `state`, `limit`…); any other value (`q`, `error`, anything unknown) is
 *   replaced by `[redacted]`. The same applies to a `url` field of any log object.
 * - Fields named like secrets (`password`, `token`, `apiKey`, `secret`, `authorization`,
 *   `cookie`, `leaseToken`…) are censored at the top level and one level down, and the auth
 *   headers wherever a request's headers are logged.
 * - Errors are logged with their type, message (at most 2,000 characters), code, stack and
 *   cause only: driver fields such as PostgreSQL's `detail` or `where`, which can quote stored
 *   values, are dropped.
 * - Options the caller passes (`logger: { … }`) are kept; their `redact` paths are added to ours.
 */

export const REDACTED = '[redacted]';

/** Query parameters whose values are names, numbers or enums: safe and useful in logs. */
const SAFE_QUERY_PARAMS = new Set(['queue', 'state', 'limit', 'order', 'cursor', 'after', 'name', 'from', 'to', 'offset', 'waitMs', 'resolved', 'all', 'maxAgeMs', 'stepSeconds', 'range', 'job', 'parentId', 'page']);

const SECRET_FIELDS = ['password', 'passwd', 'token', 'apiKey', 'api_key', 'secret', 'authorization', 'cookie', 'leaseToken', 'accessToken', 'refreshToken', 'key'];

export const REDACT_PATHS: string[] = [
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`]),
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  'headers["set-cookie"]',
];

const MAX_MESSAGE_CHARS = 2000;

/** `url` with the values of query parameters not known to be harmless replaced. */
export function scrubUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const parts = url
    .slice(q + 1)
    .split('&')
    .filter((p) => p.length > 0)
    .map((pair) => {
      const eq = pair.indexOf('=');
      const rawName = eq < 0 ? pair : pair.slice(0, eq);
      let name: string;
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      } catch {
        name = '';
      }
      if (eq < 0) return SAFE_QUERY_PARAMS.has(name) ? rawName : REDACTED;
      return SAFE_QUERY_PARAMS.has(name) ? pair : `${rawName.length <= 64 && /^[A-Za-z0-9._-]*$/.test(rawName) ? rawName : REDACTED}=${REDACTED}`;
    });
  return `${url.slice(0, q)}?${parts.join('&')}`;
}

interface SerializedError {
  type: string;
  message: string;
  code?: unknown;
  stack?: string;
  cause?: SerializedError;
}

/** An error as the log may show it (see the invariants). */
export function serializeError(err: unknown, depth = 0): SerializedError {
  if (!(err instanceof Error)) return { type: typeof err, message: String(err).slice(0, MAX_MESSAGE_CHARS) };
  const out: SerializedError = { type: err.constructor?.name ?? err.name, message: err.message.slice(0, MAX_MESSAGE_CHARS) };
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (err.stack) out.stack = err.stack;
  if (err.cause !== undefined && depth < 3) out.cause = serializeError(err.cause, depth + 1);
  return out;
}

/** The request fields of a log line (Fastify passes its request). */
function serializeRequest(request: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) {
  return { method: request.method, url: scrubUrl(String(request.url ?? '')), host: request.host, remoteAddress: request.ip, remotePort: request.socket?.remotePort };
}

/** Fastify's `logger` option for the server's `logger` option (false: silent). */
export function loggerOptions(option: boolean | Record<string, unknown>): false | Record<string, unknown> {
  if (option === false) return false;
  const given: Record<string, unknown> = option === true ? { level: 'info' } : { ...option };
  const theirs = given.redact as string[] | { paths?: string[]; censor?: unknown } | undefined;
  const theirPaths = Array.isArray(theirs) ? theirs : (theirs?.paths ?? []);
  const censor = !Array.isArray(theirs) && theirs?.censor !== undefined ? theirs.censor : REDACTED;
  const formatters = (given.formatters ?? {}) as { log?: (o: Record<string, unknown>) => Record<string, unknown> };
  const theirLog = formatters.log;
  return {
    ...given,
    redact: { paths: [...REDACT_PATHS, ...theirPaths], censor },
    serializers: { ...(given.serializers as Record<string, unknown> | undefined), req: serializeRequest, err: (e: unknown) => serializeError(e) },
    formatters: {
      ...formatters,
      log(object: Record<string, unknown>) {
        const o = theirLog ? theirLog(object) : object;
        return typeof o.url === 'string' ? { ...o, url: scrubUrl(o.url) } : o;
      },
    },
  };
}
