/**
 * Deny by default (reliability S1) and safe defaults (S12), over real sockets on a server bound
 * off loopback (0.0.0.0) with API keys configured.
 *
 * Owns:
 * - the route census: every route Fastify serves (its own printRoutes tree, cross-checked with
 *   the server's route table, so neither can miss one), API, metrics and dashboard alike;
 * - the anonymous probe of every route with every HTTP method: API and /metrics answer 401;
 *   dashboard pages redirect to /login (303) and dashboard form posts are refused (403); the
 *   only routes that answer without credentials are listed in PUBLIC below, so a new public
 *   route fails this test until it is added there on purpose; no answer carries seeded data;
 * - no CORS: no answer, credentialed or not, carries Access-Control-Allow-Origin;
 * - the binding rules: 127.0.0.1 by default, no public address without keys, the dashboard on
 *   by default but behind the same keys.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateApiKey } from '../src/auth/api-keys.js';
import { isLoopback, resolveServerOptions } from '../src/options.js';
import { SpindleServer, type App } from '../src/index.js';
import { BACKENDS, withServer } from './harness.js';

const admin = generateApiKey('admin', [{ queues: ['*'], actions: ['enqueue', 'read', 'read-payload', 'work', 'dlq', 'admin'] }]);
const bearer = { authorization: `Bearer ${admin.key}` };

/**
 * The only routes that answer a caller without a key or session, with what they answer. Adding
 * one is a decision: a route missing here that answers anonymously fails the test.
 */
const PUBLIC = new Map([
  ['GET /healthz', 200], // liveness: { status: 'ok' }
  ['GET /readyz', 200], // readiness: a database round trip, answers the database time
  ['GET /openapi.json', 200], // the API description (no data)
  ['GET /docs', 200],
  ['GET /docs/init.js', 200],
  ['GET /docs/static/:file', 200],
  ['GET /login', 200], // the dashboard's login form
  ['POST /login', 401], // checks a key: no valid key, the form again with an error
  ['GET /ui/assets/:name', 200], // the dashboard's scripts and styles
]);

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** Seeded data that no anonymous answer may show. */
const CANARY_QUEUE = 'canary-queue-7q';
const CANARY_PAYLOAD = 'canary-payload-51d';
const CANARY_ERROR = 'canary-error-3e9';

/** Full paths and methods from Fastify's printRoutes tree (`commonPrefix: false`). */
function routesFromTree(tree: string): Array<{ method: string; url: string }> {
  const out: Array<{ method: string; url: string }> = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const start = line.search(/[^│├└─\s]/u);
    if (start < 0) continue;
    const depth = Math.floor(start / 4);
    const m = /^(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line.slice(start))!;
    const path = (stack[depth - 1] ?? '') + m[1]!;
    stack[depth] = path;
    stack.length = depth + 1;
    for (const method of m[2]?.split(', ') ?? []) out.push({ method, url: path });
  }
  return out;
}

function concrete(url: string, ids: { job: string; asset: string }): string {
  return url
    .replace(':queue', CANARY_QUEUE)
    .replace(':id', ids.job)
    .replace(':file', 'swagger-ui.css')
    .replace(':name', url.startsWith('/ui/assets/') ? ids.asset : 'canary-sync')
    .replace(':topic', 'canary-topic')
    .replace(':partition', '0')
    .replace(':group', 'g')
    .replace(':memberId', 'm')
    .replace(':action', 'pause');
}

async function seed(app: App): Promise<string> {
  const inject = (method: string, url: string, body: unknown) => app.inject({ method: method as 'POST', url, headers: { ...bearer, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  const job = JSON.parse((await inject('POST', `/api/v1/queues/${CANARY_QUEUE}/jobs`, { name: 'x', payload: { secret: CANARY_PAYLOAD } })).body).id as string;
  await inject('POST', `/api/v1/queues/${CANARY_QUEUE}/jobs`, { name: 'y', opts: { maxRetries: 0 } });
  const claim = JSON.parse((await inject('POST', `/api/v1/queues/${CANARY_QUEUE}/claim`, { workerId: 'w', batch: 2 })).body).jobs as Array<{ id: string; attempt: number; leaseToken: string }>;
  const dead = claim.find((c) => c.id !== job)!;
  assert.equal((await inject('POST', `/api/v1/jobs/${dead.id}/fail`, { attempt: dead.attempt, leaseToken: dead.leaseToken, error: { message: CANARY_ERROR } })).statusCode, 200);
  assert.equal((await inject('PUT', '/api/v1/schedules/canary-sync', { everyMs: 3_600_000, queue: CANARY_QUEUE })).statusCode, 201);
  assert.equal((await inject('POST', '/api/v1/topics', { name: 'canary-topic' })).statusCode, 201);
  return job;
}

for (const maker of BACKENDS) {
  describe(`${maker.name}: deny by default (S1)`, () => {
    test('every route, every method, no credentials, on a server bound to 0.0.0.0: 401 / login / refused, except the listed public ones', () =>
      withServer(maker, async ({ client }) => {
        const server = new SpindleServer(client, { host: '0.0.0.0', port: 0, auth: { keys: [admin.record] } });
        try {
          const address = await server.start();
          assert.match(address, /:\d+$/);
          const base = `http://127.0.0.1:${server.port}`;
          const app = await server.app();
          const jobId = await seed(app);
          const login = await fetch(`${base}/login`);
          const asset = /\/ui\/assets\/([A-Za-z0-9.]+)/.exec(await login.text())?.[1];
          assert.ok(asset, 'the login page links its assets');

          // The census: Fastify's own tree and the server's table agree, and cover the three families.
          const table = app.spindleRoutes.list();
          const tree = routesFromTree(app.printRoutes({ commonPrefix: false }));
          const key = (r: { method: string; url: string }) => `${r.method} ${r.url}`;
          assert.deepEqual(new Set(tree.map(key)), new Set(table.map(key)), 'printRoutes and the route table list the same routes');
          assert.ok(table.some((r) => r.url.startsWith('/api/v1/')) && table.some((r) => r.url === '/metrics') && table.some((r) => r.url === '/queues'), 'API, metrics and dashboard routes are all listed');
          assert.ok(table.length >= 100, `found ${table.length} routes`);
          for (const p of PUBLIC.keys()) assert.ok(table.some((r) => key(r) === p), `${p} is still a route (keep PUBLIC exact)`);

          const byUrl = new Map<string, Set<string>>();
          for (const r of table) byUrl.set(r.url, (byUrl.get(r.url) ?? new Set()).add(r.method));
          let probes = 0;
          for (const [url, declared] of byUrl) {
            const path = concrete(url, { job: jobId, asset });
            const isApi = url.startsWith('/api/') || url === '/metrics';
            for (const method of METHODS) {
              const label = `${method} ${url}`;
              const dashboardForm = !isApi && method === 'POST';
              const res = await fetch(base + path, {
                method,
                redirect: 'manual',
                headers: method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? {} : { 'content-type': dashboardForm ? 'application/x-www-form-urlencoded' : 'application/json' },
                ...(method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? {} : { body: dashboardForm ? '' : '{}' }),
              });
              const body = await res.text();
              probes++;
              for (const canary of [CANARY_QUEUE, CANARY_PAYLOAD, CANARY_ERROR, jobId, 'canary-sync', 'canary-topic']) {
                assert.ok(!body.includes(canary), `${label}: seeded data (${canary}) in a ${res.status} answer`);
              }
              assert.ok(res.status < 500, `${label}: ${res.status}`);
              assert.equal(res.headers.get('access-control-allow-origin'), null, `${label}: no CORS grant`);
              if (!declared.has(method)) {
                // Not a route under this method: 404/405 (or the guard of another pattern that matches).
                assert.ok(res.status >= 400 || (res.status === 303 && res.headers.get('location') === '/login'), `${label} (undeclared): ${res.status}`);
                continue;
              }
              if (PUBLIC.has(label)) {
                assert.equal(res.status, PUBLIC.get(label), `${label} is public`);
                continue;
              }
              if (isApi) {
                assert.equal(res.status, 401, `${label} without a key`);
                assert.equal(JSON.parse(body).code, 'unauthorized', label);
                assert.match(String(res.headers.get('www-authenticate')), /^Bearer /, label);
              } else if (method === 'GET') {
                assert.equal(res.status, 303, `${label}: a dashboard page without a session goes to the login page`);
                assert.equal(res.headers.get('location'), '/login', label);
                assert.equal(body, '', `${label}: the redirect carries no page`);
              } else {
                assert.equal(res.status, 403, `${label}: a dashboard change without a session is refused`);
              }
            }
          }
          assert.equal(probes, byUrl.size * METHODS.length);
          // A wrong key is no better than none, and a refused key reveals nothing either.
          const wrong = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer spk_${admin.record.id}_${'A'.repeat(43)}` } });
          assert.equal(wrong.status, 401);
          const ok = await fetch(`${base}/metrics`, { headers: bearer });
          assert.equal(ok.status, 200, 'the admin key opens metrics');
          // No route grants another origin access to credentialed answers (no CORS at all).
          for (const path of ['/api/v1/queues', '/metrics', '/', '/api/v1/jobs?queue=x']) {
            const cross = await fetch(base + path, { headers: { ...bearer, origin: 'https://evil.example' }, redirect: 'manual' });
            assert.equal(cross.headers.get('access-control-allow-origin'), null, path);
            assert.equal(cross.headers.get('access-control-allow-credentials'), null, path);
            const preflight = await fetch(base + path, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
            assert.ok(preflight.status >= 400 && !preflight.headers.get('access-control-allow-origin'), `${path}: preflight ${preflight.status}`);
          }
          const loginPage = await (await fetch(`${base}/login`)).text();
          for (const canary of [CANARY_QUEUE, CANARY_PAYLOAD, CANARY_ERROR, jobId, 'canary-sync', 'canary-topic']) assert.ok(!loginPage.includes(canary), 'the login page shows no data');
        } finally {
          await server.stop();
        }
      }));
  });
}

describe('binding and defaults (S12)', () => {
  test('binds 127.0.0.1 by default; the dashboard is on by default, behind the keys when they are configured', () =>
    withServer(BACKENDS[0]!, async ({ client }) => {
      const defaults = resolveServerOptions({});
      assert.equal(defaults.host, '127.0.0.1');
      assert.equal(defaults.dashboard, true);
      assert.equal(defaults.auth, null);
      const open = new SpindleServer(client, { port: 0 });
      try {
        assert.match(await open.start(), /^http:\/\/127\.0\.0\.1:\d+$/);
      } finally {
        await open.stop();
      }
      const guarded = new SpindleServer(client, { port: 0, auth: { keys: [admin.record] } });
      try {
        await guarded.start();
        const res = await fetch(`http://127.0.0.1:${guarded.port}/`, { redirect: 'manual' });
        assert.equal(res.status, 303);
        assert.equal(res.headers.get('location'), '/login');
      } finally {
        await guarded.stop();
      }
    }));

  test('refuses every non-loopback address without keys; loopback names are recognised exactly', () =>
    withServer(BACKENDS[0]!, async ({ client }) => {
      for (const host of ['0.0.0.0', '::', '192.168.1.10', '127.0.0.1.nip.io', 'localhost.evil.example']) {
        const server = new SpindleServer(client, { host, port: 0 });
        await assert.rejects(server.start(), (err: Error & { code?: string }) => err.code === 'validation_failed' && /needs auth/.test(err.message), host);
        await server.stop();
      }
      for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.ok(isLoopback(host), host);
      for (const host of ['127.0.0.1x', 'x127.0.0.1', '0.0.0.0', '::ffff:10.0.0.1', '1127.0.0.1']) assert.ok(!isLoopback(host), host);
    }));
});
