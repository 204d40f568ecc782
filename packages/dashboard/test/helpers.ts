/**
 * Test plumbing of the dashboard: a started Client on a fresh real database (a temporary SQLite
 * file or a random PostgreSQL schema, dropped afterwards) with a listening SpindleServer over it
 * (port 0, so the dashboard is at `base`), optionally with API keys (an admin key and a
 * read-only key); inject helpers that log in and carry the session cookie and CSRF token; and a
 * shared headless Chromium (playwright-core driving Debian's /usr/bin/chromium).
 *
 * Invariants:
 * - `close()` stops the server, the client and the browser context and drops the database,
 *   even when the test failed; call it in `after`/`finally` (or use `withDashboard`).
 * - Every page from `newPage()` records console errors, page errors and dialogs;
 *   `close()` (and `assertClean()`) fail the test if any console/page error was seen, so a view
 *   that logs an error (a CSP violation, a failed asset, a script error) cannot pass silently.
 *
 * @example
 *   const fx = await startDashboard({ backend: 'sqlite', auth: true });
 *   try {
 *     const page = await fx.newPage();
 *     await fx.login(page, fx.keys!.admin);
 *     await page.goto(fx.base + '/queues');
 *   } finally { await fx.close(); }
 */
import { existsSync } from 'node:fs';
import { Client, silentLogger, type Backend } from '@spindle/core';
import { ACTIONS, generateApiKey, SpindleServer, type App, type ServerOptions } from '@spindle/server';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { BACKENDS } from '../../server/test/harness.js';

export const CHROMIUM = process.env.SPINDLE_CHROMIUM ?? '/usr/bin/chromium';

export type BackendName = 'sqlite' | 'postgres';
export const BACKEND_NAMES: BackendName[] = ['sqlite', 'postgres'];

/** A throwaway backend: an SQLite file or a PostgreSQL schema, as the server's tests make them. */
function makeBackend(name: BackendName): Promise<{ backend: Backend; cleanup(): Promise<void> }> {
  return BACKENDS.find((b) => b.name === name)!.make();
}

export interface DashboardKeys {
  /** Every action on every queue. */
  admin: string;
  /** Role read-only (read, read-payload) on every queue: no mutating action. */
  readOnly: string;
}

export interface StartOptions {
  backend: BackendName;
  /** Configure API keys (admin + read-only); default false (the server runs open). */
  auth?: boolean;
  /** Extra server options (merged over the defaults of the fixture). */
  server?: ServerOptions;
}

export interface InjectSession {
  /** `Cookie` header value carrying the session. */
  cookie: string;
  /** The session's CSRF token (from the page's `<meta name="csrf-token">`). */
  csrf: string;
}

export interface DashboardFixture {
  backendName: BackendName;
  client: Client;
  server: SpindleServer;
  app: App;
  /** `http://127.0.0.1:<port>`: the dashboard is at `${base}/`. */
  base: string;
  /** The keys, when started with `auth: true`. */
  keys: DashboardKeys | null;
  /** A fresh page of a fresh browser context (own cookies) that records errors (see header). */
  newPage(): Promise<Page>;
  /** Logs `page` in with `key` through the login form; resolves on the overview. */
  login(page: Page, key: string): Promise<void>;
  /** Console errors, page errors (and `dialog: <type> <message>` entries) of every page so far. */
  readonly errors: string[];
  /** Dialogs (alert/confirm/prompt) opened by any page so far: `<type>: <message>`. */
  readonly dialogs: string[];
  /** Throws if any console or page error was recorded (not allowed by `allowErrors`); then forgets them. */
  assertClean(): void;
  /**
   * Errors matching `pattern` are expected from now on (e.g. /status of 404/ for a page that
   * answers 404 on purpose: Chromium logs every non-2xx document as a console error).
   */
  allowErrors(pattern: RegExp): void;
  /** Logs in by inject (no browser) and returns the cookie and CSRF token; open servers too. */
  injectSession(key?: string): Promise<InjectSession>;
  /** Stops everything (see header); throws after cleanup when `assertClean` would. */
  close(): Promise<void>;
}

let sharedBrowser: Promise<Browser> | null = null;
let browserUsers = 0;

/** The shared Chromium of this test file (launched on first use). */
export function browser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)`);
  sharedBrowser ??= chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  return sharedBrowser;
}

async function releaseBrowser(): Promise<void> {
  browserUsers--;
  if (browserUsers > 0 || !sharedBrowser) return;
  const b = sharedBrowser;
  sharedBrowser = null;
  await (await b).close().catch(() => {});
}

/** A started client + listening server (+ keys). Call `close()` when done. */
export async function startDashboard(options: StartOptions): Promise<DashboardFixture> {
  const { backend, cleanup } = await makeBackend(options.backend);
  const client = new Client({
    backend,
    logger: silentLogger,
    closeBackend: false,
    maintenance: { promoteIntervalMs: 20, rescueIntervalMs: 40, pruneIntervalMs: 50, leaderTtlMs: 2000 },
    telemetry: { heartbeatMs: 50, statsFlushMs: 50 },
  });
  let keys: DashboardKeys | null = null;
  const serverOptions: ServerOptions = { port: 0, workerReportMs: 50, dlqAlertIntervalMs: 100, ...options.server };
  if (options.auth) {
    const admin = generateApiKey('admin-key', [{ queues: ['*'], actions: [...ACTIONS] }]);
    const readOnly = generateApiKey('viewer-key', [{ queues: ['*'], actions: ['read', 'read-payload'] }]);
    keys = { admin: admin.key, readOnly: readOnly.key };
    serverOptions.auth = { keys: [admin.record, readOnly.record] };
  }
  const server = new SpindleServer(client, serverOptions);
  const contexts: BrowserContext[] = [];
  const errors: string[] = [];
  const dialogs: string[] = [];
  const allowed: RegExp[] = [];
  const record = (text: string) => {
    if (!allowed.some((re) => re.test(text))) errors.push(text);
  };
  let usesBrowser = false;
  let base: string;
  let app: App;
  try {
    await client.start();
    base = await server.start();
    app = await server.app();
  } catch (err) {
    await server.stop().catch(() => {});
    await client.close({ graceMs: 100 }).catch(() => {});
    await cleanup().catch(() => {});
    throw err;
  }

  const fixture: DashboardFixture = {
    backendName: options.backend,
    client,
    server,
    app,
    base,
    keys,
    errors,
    dialogs,
    async newPage() {
      if (!usesBrowser) {
        usesBrowser = true;
        browserUsers++;
      }
      const context = await (await browser()).newContext();
      contexts.push(context);
      const page = await context.newPage();
      page.on('console', (msg) => {
        if (msg.type() === 'error') record(`console error on ${page.url()}: ${msg.text()}`);
      });
      page.on('pageerror', (err) => record(`page error on ${page.url()}: ${err.message}`));
      page.on('dialog', (dialog) => {
        dialogs.push(`${dialog.type()}: ${dialog.message()}`);
        // Confirmations (hx-confirm) are accepted; alerts and prompts dismissed.
        void (dialog.type() === 'confirm' ? dialog.accept() : dialog.dismiss()).catch(() => {});
      });
      return page;
    },
    async login(page, key) {
      await page.goto(`${base}/login`);
      await page.fill('input[name="key"]', key);
      await Promise.all([page.waitForURL(`${base}/`), page.click('button[type="submit"]')]);
    },
    assertClean() {
      const seen = errors.splice(0, errors.length);
      allowed.length = 0;
      if (seen.length > 0) throw new Error(`browser errors:\n${seen.join('\n')}`);
    },
    allowErrors(pattern) {
      allowed.push(pattern);
    },
    async injectSession(key) {
      let cookie = '';
      if (key !== undefined) {
        const res = await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ key }).toString() });
        if (res.statusCode !== 303) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
        cookie = sessionCookie(res.headers['set-cookie']);
      }
      const page = await app.inject({ method: 'GET', url: '/', headers: cookie ? { cookie } : {} });
      if (page.statusCode !== 200) throw new Error(`overview answered ${page.statusCode}`);
      if (!cookie) cookie = sessionCookie(page.headers['set-cookie']);
      const csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(page.body)?.[1];
      if (!csrf || !cookie) throw new Error('no session cookie or CSRF token on the overview');
      return { cookie, csrf };
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      if (usesBrowser) await releaseBrowser();
      await server.stop().catch(() => {});
      await client.close({ graceMs: 200 }).catch(() => {});
      await cleanup();
      fixture.assertClean();
    },
  };
  return fixture;
}

/** Runs `body` with a fixture and always closes it. */
export async function withDashboard(options: StartOptions, body: (fx: DashboardFixture) => Promise<void>): Promise<void> {
  const fx = await startDashboard(options);
  let failed = false;
  try {
    await body(fx);
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    if (failed) await fx.close().catch(() => {});
    else await fx.close();
  }
}

/** The `name=value` of the `spindle_session` cookie in a Set-Cookie header ('' when absent). */
export function sessionCookie(setCookie: string | string[] | undefined): string {
  const all = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  for (const c of all) {
    const m = /^(spindle_session=[^;]*)/.exec(c);
    if (m) return m[1]!;
  }
  return '';
}

/** Waits until `probe` is truthy (polling every 20 ms) or throws after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T> | T, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A form-encoded POST by inject as a session (with its CSRF token unless `csrf` overrides it). */
export async function injectPost(app: App, url: string, session: InjectSession, fields: Record<string, string> = {}, headers: Record<string, string> = {}) {
  return app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session.cookie, 'x-csrf-token': session.csrf, ...headers },
    payload: new URLSearchParams(fields).toString(),
  });
}
