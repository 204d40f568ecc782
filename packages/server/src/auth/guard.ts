/**
 * Authentication and authorization of every route.
 *
 * Each route declares `config.access = { action, queue }` (or `config.public = true` for the
 * health probes and the API description). A route that declares neither makes the server fail
 * at startup: deny by default is enforced by construction, not by review.
 *
 * - onRequest: the key (`Authorization: Bearer spk_…` or `X-Api-Key`) is verified, and the
 *   key must hold the route's action on some queue, before the body is parsed or validated, so a
 *   caller without the right learns nothing (401, 403). A verified key then takes a token from
 *   its rate-limit bucket (http/rate-limit.ts): an empty bucket is a 429 `rate_limited` with
 *   `Retry-After`, before any work is done for the request.
 * - preValidation: the grant is checked against the queue the request targets:
 *   - `param`: the `:queue` path parameter; `topic`: the `:topic` path parameter (topics share
 *     the scopes' name patterns with queues: a scope `orders*` covers queue and topic `orders`); `query`: the `queue` query filter (without one, the
 *     key needs the action on every queue); `all`: every queue (metrics); `any`: some queue —
 *     used by lease-fenced worker writes, where the unguessable lease token binds the request
 *     to a job the key could claim; `job`: checked by the handler once the job is loaded.
 *   A key without the action anywhere gets 403; a key with it, but not for that queue, gets 404
 *   like an unknown queue, so names cannot be probed (reliability S11).
 * Without auth configured (loopback only, see server.ts) every request gets OPEN_GRANT; with auth,
 * a request holds NO_GRANT until its key is verified (public routes keep it).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiProblem } from '../http/problem.js';
import type { KeyRateLimiter } from '../http/rate-limit.js';
import { Grant, OPEN_GRANT, type Action } from './api-keys.js';
import type { KeyStore } from './key-store.js';

export type QueueTarget = 'param' | 'topic' | 'query' | 'all' | 'any' | 'job';

export interface Access {
  action: Action;
  queue: QueueTarget;
}

declare module 'fastify' {
  interface FastifyRequest {
    grant: Grant;
  }
  interface FastifyContextConfig {
    access?: Access;
    public?: boolean;
  }
}

/** The grant of a request whose key is not (yet) verified: no action on any queue. */
export const NO_GRANT = new Grant('none', []);

const unauthorized = () => new ApiProblem(401, 'unauthorized', 'Send a valid API key: Authorization: Bearer spk_….', { headers: { 'www-authenticate': 'Bearer realm="spindle"' } });
const forbidden = () => new ApiProblem(403, 'forbidden', 'This API key may not do that.');
const hidden = () => new ApiProblem(404, 'not_found', 'No such resource.');
const rateLimited = (seconds: number) =>
  new ApiProblem(429, 'rate_limited', 'This API key sent more requests than its rate limit allows; retry after the Retry-After delay.', { headers: { 'retry-after': String(seconds) } });

function presentedKey(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    return m ? m[1]! : null;
  }
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey : null;
}

/** Throws the right problem unless `grant` may do `action` on `queue`. */
export function authorize(grant: Grant, action: Action, queue: string | undefined): void {
  if (!grant.allows(action)) throw forbidden();
  if (queue !== undefined && !grant.allows(action, queue)) throw hidden();
}

export function registerAuth(app: FastifyInstance, store: KeyStore | null, limiter: KeyRateLimiter | null = null): void {
  app.decorateRequest('grant', null as unknown as Grant);
  app.addHook('onRoute', (route) => {
    const config = route.config as { access?: Access; public?: boolean } | undefined;
    // HEAD routes are generated from GET ones and share their config.
    if (!config?.public && !config?.access && route.method !== 'HEAD') {
      throw new Error(`route ${String(route.method)} ${route.url} declares neither config.access nor config.public`);
    }
  });
  // Authentication and the action check come first, before the body is read or validated: a
  // caller without the right learns nothing from validation errors.
  app.addHook('onRequest', async (request) => {
    // Until a key is verified a request holds nothing (open servers: everything).
    request.grant = store ? NO_GRANT : OPEN_GRANT;
    const config = request.routeOptions.config;
    if (config.public || !config.access || !store) return; // unmatched routes (404/405) carry no access either
    const key = presentedKey(request);
    const grant = key ? store.authenticate(key) : null;
    if (!grant) throw unauthorized();
    request.grant = grant;
    const wait = limiter ? limiter.take(grant.keyId) : 0;
    if (wait > 0) throw rateLimited(wait);
    if (!grant.allows(config.access.action)) throw forbidden();
  });
  // The queue check needs the path and query, which are parsed by now (raw, not yet validated:
  // a name that is not valid cannot match a pattern other than `*`, and validation follows).
  app.addHook('preValidation', async (request) => {
    const access = request.routeOptions.config.access;
    if (!access || request.routeOptions.config.public) return;
    const grant = request.grant;
    switch (access.queue) {
      case 'param':
        return authorize(grant, access.action, String((request.params as { queue?: unknown }).queue ?? ''));
      case 'topic':
        return authorize(grant, access.action, String((request.params as { topic?: unknown }).topic ?? ''));
      case 'query': {
        const raw = (request.query as { queue?: unknown } | undefined)?.queue;
        if (raw !== undefined) {
          for (const q of String(raw).split(',')) authorize(grant, access.action, q);
          return;
        }
        if (!grant.allowsAllQueues(access.action)) throw new ApiProblem(403, 'queue_required', 'This key is limited to some queues: filter by queue.');
        return;
      }
      case 'all':
        if (!grant.allowsAllQueues(access.action)) throw forbidden();
        return;
      case 'any':
      case 'job':
        return; // the action was checked on request; `job` routes check the queue once loaded
    }
  });
}
