/**
 * `dashboardPlugin`: the dashboard as a Fastify plugin (ADR 0018). The server registers it at
 * `/`; it owns sessions and login, CSRF, security headers, the form parser, the page layout,
 * the assets, the live stream proxy and the list of view modules.
 *
 * Invariants:
 * - It never imports @spindle/server: what it needs arrives as options (`apiPrefix`, whether
 *   auth is on, `verifyKey`). Data is read and changed only through the public API
 *   (`ctx.api` → `inject` as the session's key), so every permission check is the API's.
 * - Every route declares `config.public` (the server's guard denies anything else) and is
 *   guarded here instead: no session → /login (auth on) or a new implicit session (auth off);
 *   every non-GET request needs the session's CSRF token and a same-origin Origin/Referer,
 *   else 403 before its handler runs (so nothing changes).
 * - Every response carries the strict CSP, nosniff, Referrer-Policy same-origin, and (pages,
 *   fragments) Cache-Control no-store.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Assets } from './assets.js';
import type { ApiAnswer, ApiMethod, DashboardContext, DashboardModule, PageView } from './context.js';
import { html, url, type SafeHtml } from './html.js';
import { dlqBanner, errorBody, layout, loginPage, standalonePage, type DlqDepth } from './layout.js';
import { liveRoutes } from './live.js';
import { csrfProblem, originProblem, readCookie, SESSION_COOKIE, sessionCookieHeader, SessionStore, type KeyInfo, type SessionRecord } from './session.js';
import overview from './overview.js';
import queues from './queues.js';
import jobs from './jobs.js';
import jobDetail from './job-detail.js';
import dlq from './dlq.js';
import topics from './topics.js';
import schedules from './schedules.js';
import workers from './workers.js';
import alerts from './alerts.js';

/** The view modules, in registration order. */
export const MODULES: readonly DashboardModule[] = [overview, queues, jobs, jobDetail, dlq, topics, schedules, workers, alerts];

export interface DashboardOptions {
  /** Where the API is mounted on the same Fastify app, e.g. `/api/v1`. */
  apiPrefix: string;
  /** Whether the server checks API keys (then the dashboard asks for one at /login). */
  authEnabled: boolean;
  /** The presented key's name and actions, or null when it is not a valid key. */
  verifyKey(key: string): KeyInfo | null;
  /** Shown in the footer. */
  version?: string;
  /** Idle time after which a session ends; default 12 h. */
  sessionIdleMs?: number;
  /** Largest form body; default 64 KiB. */
  formLimitBytes?: number;
}

export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** The headers every dashboard response carries (SSE responses set them by hand). */
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

const sessions = new WeakMap<FastifyRequest, SessionRecord>();
const depthsOf = new WeakMap<FastifyRequest, DlqDepth[] | null>();
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const isHtmx = (request: FastifyRequest) => request.headers['hx-request'] === 'true';
const pathOf = (request: FastifyRequest) => request.url.split('?')[0] ?? '/';
/** Routes reachable without a session. */
const isOpenPath = (path: string) => path === '/login' || path.startsWith('/ui/assets/');

/** Answers `reply` with a whole HTML page (or the same as a fragment for htmx). */
function sendHtml(reply: FastifyReply, body: string, status?: number): FastifyReply {
  if (status !== undefined) reply.code(status);
  return reply.type('text/html; charset=utf-8').send(body);
}

export const dashboardPlugin: FastifyPluginAsync<DashboardOptions> = async (app: FastifyInstance, options: DashboardOptions) => {
  const assets = new Assets();
  const store = new SessionStore(options.sessionIdleMs !== undefined ? { idleMs: options.sessionIdleMs } : {});
  const version = options.version ?? '';
  const formLimit = options.formLimitBytes ?? 64 * 1024;

  // Forms and htmx posts are url-encoded; the server's root parser only takes JSON.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: formLimit }, (_request, body, done) => {
    const out: Record<string, string | string[]> = Object.create(null);
    for (const [k, v] of new URLSearchParams(body as string)) {
      const prev = out[k];
      out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    done(null, out);
  });

  app.addHook('onSend', async (request, reply, payload) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });

  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) request.log.error({ err }, 'dashboard: request failed');
    const message = status >= 500 ? 'Something went wrong on the server; see its log.' : err.message;
    const body = errorBody(status, message);
    if (isHtmx(request)) return sendHtml(reply, html`<div class="notice error">${message}</div>`.value, status);
    const session = sessions.get(request);
    if (!session) return sendHtml(reply, standalonePage(assets, `Error ${status}`, body), status);
    return sendHtml(reply, layout({ view: { title: `Error ${status}`, active: 'overview', body }, session, authEnabled: options.authEnabled, assets, depths: null, liveUrl: '/ui/events', version }), status);
  });

  function refuse(request: FastifyRequest, reply: FastifyReply, status: number, message: string): FastifyReply {
    if (isHtmx(request)) return sendHtml(reply, html`<div class="notice error" role="alert">${message}</div>`.value, status);
    return sendHtml(reply, standalonePage(assets, `Error ${status}`, errorBody(status, message)), status);
  }

  // Who is asking: a live session, re-verified; or a redirect to the login page.
  app.addHook('onRequest', async (request, reply) => {
    const path = pathOf(request);
    if (isOpenPath(path)) return;
    const id = readCookie(request.headers.cookie, SESSION_COOKIE);
    let session = store.get(id);
    if (session && options.authEnabled && (session.key === null || !refresh(session))) {
      store.delete(session.id);
      session = null;
    }
    if (session) {
      sessions.set(request, session);
      return;
    }
    const safe = SAFE_METHODS.has(request.method);
    if (!options.authEnabled && safe) {
      session = store.create(null, null);
      sessions.set(request, session);
      reply.header('set-cookie', sessionCookieHeader(request, session.id));
      return;
    }
    if (!safe) return refuse(request, reply, 403, 'Forbidden: no session (log in again).');
    if (request.headers.accept === 'text/event-stream') return reply.code(204).send();
    if (isHtmx(request)) return reply.code(200).header('hx-redirect', '/login').send('');
    return reply.redirect('/login', 303);
  });

  /** Re-verifies a session's key (revoked keys end sessions); updates its actions. */
  function refresh(session: SessionRecord): boolean {
    const info = options.verifyKey(session.key!);
    if (!info) return false;
    session.actions = new Set(info.actions);
    return true;
  }

  // CSRF: every change carries the session's token and comes from this origin.
  app.addHook('preHandler', async (request, reply) => {
    if (SAFE_METHODS.has(request.method) || pathOf(request) === '/login') return;
    const problem = csrfProblem(request, sessions.get(request) ?? null);
    if (problem) {
      request.log.warn({ url: request.url, problem }, 'dashboard: refused a state-changing request');
      return refuse(request, reply, 403, `Forbidden: ${problem}.`);
    }
  });

  // The DLQ banner of whole pages: one cheap API read per page view.
  app.addHook('preHandler', async (request) => {
    if (request.method !== 'GET' || (isHtmx(request) && request.headers['hx-boosted'] !== 'true')) return;
    const path = pathOf(request);
    if (path.startsWith('/ui/') || path === '/login') return;
    if (!sessions.has(request)) return;
    depthsOf.set(request, await readDepths(request));
  });

  async function readDepths(request: FastifyRequest): Promise<DlqDepth[] | null> {
    const answer = await ctx.api<{ queues: DlqDepth[] }>(request, 'GET', '/dlq');
    return answer.status === 200 ? answer.body.queues : null;
  }

  const ctx: DashboardContext = {
    async api<T>(request: FastifyRequest, method: ApiMethod, path: string, body?: unknown): Promise<ApiAnswer<T>> {
      const session = sessions.get(request);
      const headers: Record<string, string> = { accept: 'application/json' };
      if (session?.key) headers.authorization = `Bearer ${session.key}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await app.inject({ method, url: options.apiPrefix + path, headers, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) });
      let parsed: unknown = res.body;
      if (/json/.test(String(res.headers['content-type'] ?? ''))) {
        try {
          parsed = JSON.parse(res.body);
        } catch {
          parsed = res.body;
        }
      }
      return { status: res.statusCode, body: parsed as T };
    },
    session(request) {
      const session = sessions.get(request);
      if (!session) throw new Error('dashboard: no session on this request (a route outside the plugin?)');
      return session;
    },
    page(request, reply, view: PageView) {
      const live = view.live ?? {};
      const liveUrl = url('/ui/events', { queue: live.queues?.join(','), job: live.jobs?.join(',') });
      const body = layout({ view, session: ctx.session(request), authEnabled: options.authEnabled, assets, depths: depthsOf.get(request) ?? null, liveUrl, version });
      return sendHtml(reply, body);
    },
    fragment(reply, body: SafeHtml, status?: number) {
      return sendHtml(reply, body.value, status);
    },
  };

  assets.register(app);

  app.get('/login', { config: { public: true } }, async (request, reply) => {
    if (!options.authEnabled) return reply.redirect('/', 303);
    const existing = store.get(readCookie(request.headers.cookie, SESSION_COOKIE));
    if (existing && existing.key && options.verifyKey(existing.key)) return reply.redirect('/', 303);
    return sendHtml(reply, loginPage(assets, null));
  });

  app.post('/login', { config: { public: true } }, async (request, reply) => {
    if (!options.authEnabled) return reply.redirect('/', 303);
    const problem = originProblem(request);
    if (problem) return sendHtml(reply, loginPage(assets, `Refused: ${problem}.`), 403);
    const key = (request.body as { key?: unknown } | undefined)?.key;
    const info = typeof key === 'string' && key.length < 200 ? options.verifyKey(key.trim()) : null;
    if (!info) return sendHtml(reply, loginPage(assets, 'That is not a valid API key (or it was revoked).'), 401);
    store.delete(readCookie(request.headers.cookie, SESSION_COOKIE));
    const session = store.create((key as string).trim(), info);
    return reply.header('set-cookie', sessionCookieHeader(request, session.id)).redirect('/', 303);
  });

  app.post('/logout', { config: { public: true } }, async (request, reply) => {
    store.delete(sessions.get(request)?.id);
    reply.header('set-cookie', sessionCookieHeader(request, '', 0));
    if (isHtmx(request)) return reply.header('hx-redirect', options.authEnabled ? '/login' : '/').send('');
    return reply.redirect(options.authEnabled ? '/login' : '/', 303);
  });

  app.get('/ui/fragments/dlq-banner', { config: { public: true } }, async (request, reply) => ctx.fragment(reply, dlqBanner(await readDepths(request))));

  liveRoutes(app, {
    apiPrefix: options.apiPrefix,
    headers: SECURITY_HEADERS,
    keyOf: (request) => sessions.get(request)?.key ?? null,
    alive: (request) => {
      const s = sessions.get(request);
      return !!s && store.get(s.id) === s && (!options.authEnabled || refresh(s));
    },
  });

  for (const mod of MODULES) await mod(app, ctx);
};

/** Exposed for tests: the session of a request that went through the plugin. */
export function sessionOf(request: FastifyRequest): SessionRecord | undefined {
  return sessions.get(request);
}
