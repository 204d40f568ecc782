/**
 * Secrets never leak (reliability S9, and S11's "no stack, SQL or paths in errors"), on both
 * backends, with request logging at `trace`.
 *
 * Owns: a canary secret placed in payload fields named like secrets (password, token, apiKey),
 * results, progress, attempt errors and stacks, topic message values and headers, schedule
 * payloads, search filters in query strings, refused request bodies, presented (invalid) API
 * keys and the dashboard login form — plus the real admin key's secret — is found 0 times in:
 * the log output, `/metrics`, and every non-2xx body (4xx and provoked 5xx alike). A 5xx
 * provoked by a driver-style error whose `detail` quotes the canary is logged without it and
 * answered with a generic body. Also: the log redaction and URL scrubbing helpers by hand.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { ACTIONS, generateApiKey } from '../src/auth/api-keys.js';
import { REDACTED, scrubUrl, serializeError } from '../src/http/logging.js';
import { BACKENDS, call, withServer } from './harness.js';

const CANARY = 'CANARYzq81secret';
const admin = generateApiKey('admin', [{ queues: ['*'], actions: [...ACTIONS] }]);
const ADMIN_SECRET = admin.key.split('_')[2]!;
const auth = { authorization: `Bearer ${admin.key}` };
const LEAKS = /\bat .+\.(ts|js):\d+|SELECT |INSERT |UPDATE |DELETE FROM|sqlite_|node_modules|\/work\/|\/home\/|\/tmp\//i;

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, stream };
}

describe('log helpers', () => {
  test('query values other than known-harmless ones are scrubbed; errors keep only type, message, code, stack and cause', () => {
    assert.equal(scrubUrl('/api/v1/jobs?queue=a&q=secret&limit=5'), `/api/v1/jobs?queue=a&q=${REDACTED}&limit=5`);
    assert.equal(scrubUrl('/x?api_key=secret&%71=secret&bad%ZZ=1&flag'), `/x?api_key=${REDACTED}&${REDACTED}=${REDACTED}&${REDACTED}=${REDACTED}&${REDACTED}`);
    assert.equal(scrubUrl('/no/query'), '/no/query');
    const err = Object.assign(new Error('insert failed'), { code: '23505', detail: `Key (id)=(${CANARY}) exists`, where: CANARY, query: `SELECT '${CANARY}'` });
    (err as Error).cause = Object.assign(new Error('inner'), { detail: CANARY });
    const out = JSON.stringify(serializeError(err));
    assert.ok(!out.includes(CANARY), out);
    assert.match(out, /insert failed/);
    assert.match(out, /23505/);
    assert.match(out, /inner/);
  });
});

for (const maker of BACKENDS) {
  describe(`${maker.name}: a canary secret`, () => {
    test('appears 0 times in logs, metrics and error bodies', async () => {
      const { lines, stream } = capture();
      const failures: Array<{ what: string; status: number; raw: string }> = [];
      await withServer(
        maker,
        async ({ app, client }) => {
          const req = async (what: string, method: string, url: string, body?: unknown, headers: Record<string, string> = auth) => {
            const res = await call(app, method, url, body, headers);
            if (res.status >= 300) failures.push({ what, ...res });
            return res;
          };
          const secretPayload = { password: CANARY, token: CANARY, apiKey: CANARY, nested: { secret: CANARY } };
          const added = await req('enqueue', 'POST', '/api/v1/queues/vault/jobs', { name: 'x', payload: secretPayload, opts: { uniqueKey: CANARY } });
          assert.equal(added.status, 201);
          await req('batch', 'POST', '/api/v1/queues/vault/jobs/batch', { jobs: [{ name: 'x', payload: secretPayload }, { name: 'y', payload: CANARY, opts: { maxRetries: 0 } }] });
          await req('edit', 'PATCH', `/api/v1/jobs/${added.body.id}`, { payload: { token: CANARY } });
          const claimed = (await req('claim', 'POST', '/api/v1/queues/vault/claim', { workerId: 'w', batch: 3, leaseMs: 60_000 })).body.jobs as Array<{ id: string; attempt: number; leaseToken: string }>;
          assert.equal(claimed.length, 3);
          const [a, b, c] = claimed as [typeof claimed[0], typeof claimed[0], typeof claimed[0]];
          await req('progress', 'POST', `/api/v1/jobs/${a.id}/progress`, { attempt: a.attempt, leaseToken: a.leaseToken, progress: { token: CANARY } });
          await req('complete', 'POST', `/api/v1/jobs/${a.id}/complete`, { attempt: a.attempt, leaseToken: a.leaseToken, result: { apiKey: CANARY } });
          await req('fail', 'POST', `/api/v1/jobs/${b.id}/fail`, { attempt: b.attempt, leaseToken: b.leaseToken, error: { message: `login failed for password=${CANARY}`, name: 'AuthError', stack: `AuthError: ${CANARY}\n    at handler (/srv/app.js:1:1)` }, permanent: true });
          await req('fail again', 'POST', `/api/v1/jobs/${c.id}/fail`, { attempt: c.attempt, leaseToken: c.leaseToken, error: { message: CANARY }, permanent: true });
          await req('topic', 'POST', '/api/v1/topics', { name: 'vault-events' });
          await req('publish', 'POST', '/api/v1/topics/vault-events/messages', { messages: [{ key: 'k', value: { password: CANARY }, headers: { authorization: CANARY } }] });
          await req('schedule', 'PUT', '/api/v1/schedules/vault-sync', { everyMs: 3_600_000, queue: 'vault', payload: { token: CANARY } });
          // Searches carry the canary in the query string (logged URLs are scrubbed).
          for (const url of [`/api/v1/jobs?q=${CANARY}`, `/api/v1/jobs?error=${CANARY}`, `/api/v1/dlq/vault/jobs?q=${CANARY}`, `/api/v1/jobs?queue=vault&api_key=${CANARY}`]) await req(`search ${url}`, 'GET', url);
          // Refused requests that carry the canary.
          await req('unknown field', 'POST', '/api/v1/queues/vault/jobs', { name: 'x', token: CANARY });
          await req('wrong type', 'POST', '/api/v1/queues/vault/jobs', { name: 'x', opts: { maxRetries: CANARY } });
          await req('bad name', 'POST', '/api/v1/queues/vault/jobs', { name: `${CANARY}!` });
          await req('too long', 'POST', '/api/v1/queues/vault/jobs', { name: 'x', opts: { uniqueKey: CANARY.repeat(60) } });
          await req('bad json', 'POST', '/api/v1/queues/vault/jobs', `{"name":"x","payload":{"password":"${CANARY}"`);
          // (Names, states and numbers in the query string are logged as sent: not a place for secrets.)
          await req('bad enum', 'GET', '/api/v1/jobs?state=bogus');
          await req('bad idempotency key', 'POST', '/api/v1/queues/vault/jobs', { name: 'x' }, { ...auth, 'idempotency-key': `${CANARY} !` });
          await req('bad fence', 'POST', `/api/v1/jobs/${a.id}/complete`, { attempt: 1, leaseToken: CANARY });
          await req('bad key', 'GET', '/api/v1/queues', undefined, { authorization: `Bearer spk_${admin.record.id}_${CANARY.padEnd(43, 'A')}` });
          await req('bad x-api-key', 'GET', '/api/v1/queues', undefined, { 'x-api-key': CANARY });
          await req('raw bearer', 'GET', '/api/v1/queues', undefined, { authorization: `Bearer ${CANARY}` });
          const login = await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ key: CANARY }).toString() });
          failures.push({ what: 'dashboard login', status: login.statusCode, raw: login.body });
          assert.equal(login.statusCode, 401);

          // A 5xx from a driver-style error whose detail quotes the stored value.
          const backend = client.backend as unknown as Record<string, unknown>;
          const original = backend.insertJobs;
          backend.insertJobs = async () => {
            throw Object.assign(new Error('insert failed: duplicate key'), { code: '23505', detail: `Key (payload)=(${CANARY}) already exists.`, where: `SQL function ${CANARY}` });
          };
          try {
            const boom = await req('5xx', 'POST', '/api/v1/queues/vault/jobs', { name: 'x', payload: { password: CANARY } });
            assert.ok(boom.status >= 500, `provoked a 5xx: ${boom.status}`);
          } finally {
            backend.insertJobs = original;
          }

          const metrics = await call(app, 'GET', '/metrics', undefined, auth);
          assert.equal(metrics.status, 200);
          assert.ok(!metrics.raw.includes(CANARY), 'no canary in /metrics');
          assert.ok(metrics.raw.includes('vault'), 'metrics do describe the queue');
        },
        { auth: { keys: [admin.record] }, logger: { level: 'trace', stream } },
      );
      const log = lines.join('');
      assert.ok(log.includes('/api/v1/queues/vault/jobs'), 'requests are logged');
      assert.ok(log.includes('insert failed'), 'the 5xx is logged');
      assert.equal(log.split(CANARY).length - 1, 0, `the canary is in the log:\n${lines.filter((l) => l.includes(CANARY)).join('').slice(0, 2000)}`);
      assert.ok(!log.includes(ADMIN_SECRET), 'the API key secret is never logged');
      assert.ok(failures.length >= 13, `${failures.length} refused or failed requests`);
      for (const f of failures) {
        assert.ok(!f.raw.includes(CANARY), `${f.what} (${f.status}) echoes the canary: ${f.raw.slice(0, 300)}`);
        assert.ok(!f.raw.includes(ADMIN_SECRET), `${f.what}: key secret in the body`);
        if (f.what !== 'dashboard login') assert.doesNotMatch(f.raw, LEAKS, `${f.what} (${f.status}): stack, SQL or path in the body`);
      }
    });
  });
}
