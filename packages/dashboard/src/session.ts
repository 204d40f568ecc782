/**
 * Dashboard sessions: an in-memory store of logged-in browsers, their cookie and CSRF checks.
 *
 * A session is created by a successful login (auth on) or implicitly on the first page visit
 * (auth off). Its id is 32 random bytes (base64url) sent as cookie `spindle_session` —
 * HttpOnly, SameSite=Strict, Path=/, Secure on https. The API key stays here, server-side: the
 * browser only ever holds the session id.
 *
 * Invariants:
 * - A session expires after `idleMs` without a request (default 12 h) and lives at most
 *   `maxAgeMs` (default 7 days); expired sessions are swept and never resolve again.
 * - With auth, the key is re-verified on every request (`verifyKey` is a hash and a lookup): a
 *   revoked key ends its sessions at once.
 * - The store is bounded (`maxSessions`, oldest dropped first), so logins cannot grow memory
 *   without bound.
 * - `csrfOk` compares tokens in constant time; a non-GET request passes only with the
 *   session's token AND (when the browser sends them) a same-origin Origin/Referer and a
 *   Sec-Fetch-Site other than cross-site.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { DashboardSession } from './context.js';

export const SESSION_COOKIE = 'spindle_session';

/** What the server tells the dashboard about a presented key. */
export interface KeyInfo {
  /** The key's name (for display). */
  name: string;
  /** Every action the key holds on at least one queue. */
  actions: readonly string[];
}

export interface SessionRecord extends DashboardSession {
  readonly id: string;
  /** The API key (null when the server runs open). Never sent to the browser. */
  readonly key: string | null;
  readonly createdAt: number;
  lastSeenAt: number;
  actions: ReadonlySet<string> | null;
}

export interface SessionStoreOptions {
  idleMs?: number;
  maxAgeMs?: number;
  maxSessions?: number;
  now?: () => number;
}

const token = (): string => randomBytes(32).toString('base64url');

export class SessionStore {
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly idleMs: number;
  private readonly maxAgeMs: number;
  private readonly maxSessions: number;
  private readonly now: () => number;
  private lastSweep = 0;

  constructor(options: SessionStoreOptions = {}) {
    this.idleMs = options.idleMs ?? 12 * 3_600_000;
    this.maxAgeMs = options.maxAgeMs ?? 7 * 24 * 3_600_000;
    this.maxSessions = options.maxSessions ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** A new session for `key` (null: an open server's implicit session). */
  create(key: string | null, info: KeyInfo | null): SessionRecord {
    this.sweep();
    while (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.keys().next();
      if (oldest.done) break;
      this.sessions.delete(oldest.value);
    }
    const now = this.now();
    const actions = info ? new Set(info.actions) : null;
    const record: SessionRecord = {
      id: token(),
      key,
      keyName: info?.name ?? null,
      csrfToken: token(),
      createdAt: now,
      lastSeenAt: now,
      actions,
      // Not `this`: callers may pass `can` around unbound.
      can: (action: string): boolean => record.actions === null || record.actions.has(action),
    };
    this.sessions.set(record.id, record);
    return record;
  }

  /** The live session of `id`, touched; null when unknown or expired. */
  get(id: string | undefined): SessionRecord | null {
    if (!id) return null;
    this.sweep();
    const record = this.sessions.get(id);
    if (!record) return null;
    const now = this.now();
    if (this.expired(record, now)) {
      this.sessions.delete(id);
      return null;
    }
    record.lastSeenAt = now;
    // Keep the Map in least-recently-used order, so eviction drops the idlest first.
    this.sessions.delete(id);
    this.sessions.set(id, record);
    return record;
  }

  delete(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  private expired(r: SessionRecord, now: number): boolean {
    return now - r.lastSeenAt > this.idleMs || now - r.createdAt > this.maxAgeMs;
  }

  private sweep(): void {
    const now = this.now();
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [id, r] of this.sessions) if (this.expired(r, now)) this.sessions.delete(id);
  }
}

/** The value of cookie `name` in a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** True when the request came over https (directly or, as the proxy says, forwarded). */
export function isHttps(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

/** Set-Cookie value for a session id (empty id + maxAge 0 clears it). */
export function sessionCookieHeader(request: FastifyRequest, id: string, maxAgeSeconds?: number): string {
  const parts = [`${SESSION_COOKIE}=${id}`, 'Path=/', 'HttpOnly', 'SameSite=Strict'];
  if (maxAgeSeconds !== undefined) parts.push(`Max-Age=${maxAgeSeconds}`);
  if (isHttps(request)) parts.push('Secure');
  return parts.join('; ');
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The origin (`scheme://host[:port]`) this request was sent to. */
export function requestOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.headers.host ?? ''}`;
}

/**
 * Why a state-changing request must be refused, or null when it may proceed: it must carry the
 * session's CSRF token (header `X-CSRF-Token`, or form field `_csrf`), and what the browser
 * says about where it came from must be this origin.
 */
export function csrfProblem(request: FastifyRequest, session: SessionRecord | null): string | null {
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return `a ${site} request`;
  const origin = request.headers.origin;
  const expected = requestOrigin(request);
  if (typeof origin === 'string' && origin !== 'null' && origin !== expected) return 'a request from another origin';
  if (origin === 'null') return 'a request from an opaque origin';
  const referer = request.headers.referer;
  if (typeof origin !== 'string' && typeof referer === 'string') {
    let from: string;
    try {
      from = new URL(referer).origin;
    } catch {
      return 'a malformed Referer';
    }
    if (from !== expected) return 'a request referred by another origin';
  }
  if (!session) return 'no session';
  const header = request.headers['x-csrf-token'];
  const field = (request.body as { _csrf?: unknown } | undefined)?._csrf;
  const presented = typeof header === 'string' ? header : typeof field === 'string' ? field : null;
  if (presented === null) return 'no CSRF token';
  if (!sameToken(presented, session.csrfToken)) return 'a wrong CSRF token';
  return null;
}

/** An origin check alone (for the login form, which has no session yet). */
export function originProblem(request: FastifyRequest): string | null {
  return csrfProblem(request, null) === 'no session' ? null : csrfProblem(request, null);
}
