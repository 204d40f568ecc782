/**
 * The auth matrix: every registered route (listed from the app itself, so a new route cannot be
 * forgotten) probed without a key (401 unless public), with a key for another queue (403/404),
 * and with a read-only key on mutations (403). Plus key handling: rotation, revocation through
 * the keys file, anchored queue patterns, payload hiding without read-payload, and the refusal
 * to bind a public address without auth.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { generateApiKey } from '../src/auth/api-keys.js';
import { SpindleServer } from '../src/index.js';
import { BACKENDS, call, withServer } from './harness.js';

const admin = generateApiKey('admin', [{ queues: ['*'], actions: ['enqueue', 'read', 'read-payload', 'work', 'dlq', 'admin'] }]);
const otherQueue = generateApiKey('other', [{ queues: ['other'], actions: ['enqueue', 'read', 'read-payload', 'work', 'dlq', 'admin'] }]);
const readOnly = generateApiKey('ro', [{ queues: ['*'], actions: ['read'] }]);
const emailsOnly = generateApiKey('emails', [{ queues: ['emails', 'reports.*'], actions: ['enqueue', 'read'] }]);
const auth = { keys: [admin.record, otherQueue.record, readOnly.record, emailsOnly.record] };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

const PUBLIC = new Set(['GET /healthz', 'GET /readyz', 'GET /openapi.json', 'GET /docs', 'GET /docs/init.js', 'GET /docs/static/:file']);

/** A valid body for routes that need one, so the probes reach the access checks of handlers. */
function bodyFor(method: string, url: string, jobId: string): unknown {
  if (method === 'GET') return undefined;
  const fence = { attempt: 1, leaseToken: 'not-a-token' };
  const bodies: Record<string, unknown> = {
    '/api/v1/queues/:queue/jobs': { name: 'x' },
    '/api/v1/queues/:queue/jobs/batch': { jobs: [{ name: 'x' }] },
    '/api/v1/queues/:queue/claim': { workerId: 'w' },
    '/api/v1/jobs/cancel': { ids: [jobId] },
    '/api/v1/jobs/retry': { ids: [jobId] },
    '/api/v1/jobs/promote': { ids: [jobId] },
    '/api/v1/jobs/delete': { ids: [jobId] },
    '/api/v1/jobs/:id': { payload: 1 },
    '/api/v1/jobs/:id/heartbeat': fence,
    '/api/v1/jobs/:id/progress': { ...fence, progress: 1 },
    '/api/v1/jobs/:id/complete': fence,
    '/api/v1/jobs/:id/fail': { ...fence, error: { message: 'x' } },
    '/api/v1/dlq/:queue/replay': { ids: [jobId] },
    '/api/v1/dlq/:queue/purge': { ids: [jobId] },
    '/api/v1/dlq/:queue/resolve': { ids: [jobId], note: 'n' },
    '/api/v1/schedules/:name': { everyMs: 60_000, queue: 'orders' },
    '/api/v1/flows': { queue: 'orders', name: 'x', children: [{ queue: 'orders', name: 'y' }] },
    '/api/v1/topics': { name: 'orders' },
  };
  return bodies[url] ?? {};
}

function concrete(url: string, jobId: string): string {
  return url.replace(':queue', 'orders').replace(':id', jobId).replace(':file', 'swagger-ui.css').replace(':name', 'orders-sync').replace(':topic', 'orders').replace(':partition', '0').replace(':group', 'g').replace(':memberId', 'm');
}

for (const maker of BACKENDS) {
  describe(`${maker.name}: auth`, () => {
    test('every route: 401 without a key, 403/404 with a key for another queue, 403 for a read-only key on mutations', () =>
      withServer(
        maker,
        async ({ app }) => {
          const { body } = await call(app, 'POST', '/api/v1/queues/orders/jobs', { name: 'x', payload: { secret: 's3cr3t' } }, bearer(admin.key));
          const jobId = body.id as string;
          const routes = app.spindleRoutes.list();
          assert.ok(routes.length >= 25, `found ${routes.length} routes`);
          for (const { method, url } of routes) {
            const label = `${method} ${url}`;
            const path = concrete(url, jobId);
            const payload = bodyFor(method, url, jobId);
            const anonymous = await call(app, method, path, payload);
            if (PUBLIC.has(label)) {
              assert.notEqual(anonymous.status, 401, `${label} is public`);
              continue;
            }
            if (!url.startsWith('/api/') && url !== '/metrics') {
              // The dashboard (ADR 0018): public to this guard, guarded by its own session check
              // (packages/dashboard/test/security.test.ts). Without a session: the login page
              // and assets only; pages redirect to /login, changes are refused.
              if (url === '/login' || url === '/ui/assets/:name') assert.ok([200, 303, 401, 404].includes(anonymous.status), `${label}: ${anonymous.status}`);
              else assert.ok(method === 'GET' ? [303, 204].includes(anonymous.status) : anonymous.status === 403, `${label} without a session: ${anonymous.status}`);
              continue;
            }
            assert.equal(anonymous.status, 401, `${label} without a key`);
            assert.equal(anonymous.body?.code, 'unauthorized', label);
            assert.match(String(anonymous.headers['www-authenticate']), /Bearer/);

            const bogus = await call(app, method, path, payload, bearer(`spk_${admin.record.id}_${'A'.repeat(43)}`));
            assert.equal(bogus.status, 401, `${label} with a wrong secret`);

            const other = await call(app, method, path, payload, bearer(otherQueue.key));
            const access = url === '/api/v1/ws' || /\/(heartbeat|progress|complete|fail)$/.test(url) || url === '/api/v1/info' || url === '/api/v1/operations/:id';
            const bulkByIds = method === 'POST' && /^\/api\/v1\/jobs\/(cancel|retry|promote|delete)$/.test(url);
            if (access) assert.ok(![401, 403].includes(other.status), `${label}: lease-fenced or queue-less route, got ${other.status}`);
            else if (bulkByIds) {
              // Bulk by ids answers a job of another queue like a missing id (security-scopes.test.ts).
              assert.equal(other.status, 200, label);
              assert.deepEqual(other.body.results.map((r: { outcome: string }) => r.outcome), ['not_found'], label);
            } else assert.ok([403, 404].includes(other.status), `${label} with a key for another queue: ${other.status} ${other.raw.slice(0, 200)}`);

            if (method !== 'GET') {
              const ro = await call(app, method, path, payload, bearer(readOnly.key));
              assert.equal(ro.status, 403, `${label} with a read-only key`);
              assert.equal(ro.body?.code, 'forbidden');
            }
          }
          const job = await call(app, 'GET', `/api/v1/jobs/${jobId}`, undefined, bearer(admin.key));
          assert.equal(job.body.status, 'queued', 'none of the probes changed the job');
        },
        { auth },
      ));

    test('payloads need read-payload; patterns are anchored; two keys work at once (rotation)', () =>
      withServer(
        maker,
        async ({ app }) => {
          const added = await call(app, 'POST', '/api/v1/queues/emails/jobs', { name: 'x', payload: { token: 'canary-123' } }, bearer(emailsOnly.key));
          assert.equal(added.status, 201);
          const seen = await call(app, 'GET', `/api/v1/jobs/${added.body.id}`, undefined, bearer(emailsOnly.key));
          assert.equal(seen.status, 200);
          assert.equal(seen.body.payload, undefined, 'no read-payload scope: payload hidden');
          assert.doesNotMatch(seen.raw, /canary-123/);
          const full = await call(app, 'GET', `/api/v1/jobs/${added.body.id}`, undefined, bearer(admin.key));
          assert.deepEqual(full.body.payload, { token: 'canary-123' });

          assert.equal((await call(app, 'POST', '/api/v1/queues/reports.daily/jobs', { name: 'x' }, bearer(emailsOnly.key))).status, 201, 'prefix pattern');
          assert.equal((await call(app, 'POST', '/api/v1/queues/emails-archive/jobs', { name: 'x' }, bearer(emailsOnly.key))).status, 404, 'exact names are anchored');
          assert.equal((await call(app, 'POST', '/api/v1/queues/xreports.daily/jobs', { name: 'x' }, bearer(emailsOnly.key))).status, 404);
          const list = await call(app, 'GET', '/api/v1/jobs', undefined, bearer(emailsOnly.key));
          assert.equal(list.status, 403);
          assert.equal(list.body.code, 'queue_required');
          assert.equal((await call(app, 'GET', '/api/v1/jobs?queue=emails', undefined, bearer(emailsOnly.key))).status, 200);
          assert.equal((await call(app, 'GET', '/api/v1/jobs?queue=emails', undefined, { 'x-api-key': emailsOnly.key })).status, 200, 'X-Api-Key works too');
        },
        { auth },
      ));
  });
}

describe('keys file and binding', () => {
  test('revoking a key in the keys file takes effect without a restart', () =>
    withServer(BACKENDS[0]!, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'spindle-keys-'));
      const file = join(dir, 'keys.json');
      const a = generateApiKey('a', [{ queues: ['*'], actions: ['read'] }]);
      const b = generateApiKey('b', [{ queues: ['*'], actions: ['read'] }]);
      await writeFile(file, JSON.stringify({ keys: [a.record, b.record] }));
      try {
        await withServer(
          BACKENDS[0]!,
          async ({ app }) => {
            assert.equal((await call(app, 'GET', '/api/v1/queues', undefined, bearer(a.key))).status, 200);
            assert.equal((await call(app, 'GET', '/api/v1/queues', undefined, bearer(b.key))).status, 200);
            await new Promise((r) => setTimeout(r, 20));
            await writeFile(file, JSON.stringify({ keys: [{ ...a.record, revokedAt: new Date().toISOString() }, b.record] }));
            const deadline = Date.now() + 5000;
            let status = 200;
            while (Date.now() < deadline && status === 200) {
              status = (await call(app, 'GET', '/api/v1/queues', undefined, bearer(a.key))).status;
              if (status === 200) await new Promise((r) => setTimeout(r, 100));
            }
            assert.equal(status, 401, 'revoked within 5 s');
            assert.equal((await call(app, 'GET', '/api/v1/queues', undefined, bearer(b.key))).status, 200, 'the other key still works');
          },
          { auth: { keysFile: file } },
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }));

  test('binding a non-loopback address without auth is refused; malformed key records are rejected', () =>
    withServer(BACKENDS[0]!, async ({ client }) => {
      const open = new SpindleServer(client, { host: '0.0.0.0', port: 0 });
      await assert.rejects(open.start(), (err: Error & { code?: string }) => err.code === 'validation_failed' && /needs auth/.test(err.message));
      await open.stop();
      assert.throws(() => new SpindleServer(client, { auth: { keys: [{ id: 'x', name: 'n', hash: 'md5:1', scopes: [] } as never] } }), /validation_failed|must be/);
      assert.throws(() => new SpindleServer(client, { auth: { keys: [{ ...admin.record, scopes: [{ queues: ['a*b'], actions: ['read'] }] }] } }), /queue names or patterns/);
    }));
});
