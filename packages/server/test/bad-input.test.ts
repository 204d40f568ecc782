/**
 * The bad-input list of reference/reliability.md §5.4 (H1–H22, H27) through `inject` on both
 * backends: each gets a 4xx problem with a stable code — never a 500, a stack trace or SQL text —
 * and writes nothing. Transport-level cases (H2, H3, H25, H26) are in transport.test.ts; H23–H24
 * concern topics (a later issue); H20 (Idempotency-Key) is in idempotency.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Client } from '@spindle/core';
import type { App } from '../src/index.js';
import { BACKENDS, call, withServer } from './harness.js';

const LEAKS = /\bat .+\.(ts|js):\d+|SELECT |INSERT |UPDATE |sqlite|postgres|node_modules|\/work\//i;

async function expectProblem(res: { status: number; body: any; raw: string; headers: Record<string, unknown> }, status: number, code: string | RegExp, what: string): Promise<void> {
  assert.equal(res.status, status, `${what}: status (${res.raw.slice(0, 300)})`);
  if (typeof code === 'string') assert.equal(res.body?.code, code, `${what}: code`);
  else assert.match(String(res.body?.code), code, `${what}: code`);
  assert.match(String(res.headers['content-type']), /application\/problem\+json/, `${what}: content type`);
  assert.doesNotMatch(res.raw, LEAKS, `${what}: no stack, SQL or path in the answer`);
}

async function totalJobs(client: Client): Promise<number> {
  const counts = await client.counts();
  return Object.values(counts).reduce((sum, byState) => sum + Object.values(byState).reduce((a, b) => a + b, 0), 0);
}

const enqueue = (app: App, body: unknown, headers?: Record<string, string>) => call(app, 'POST', '/api/v1/queues/q/jobs', body, headers);

for (const maker of BACKENDS) {
  describe(`${maker.name}: bad input gets a typed 4xx and writes nothing`, () => {
    test('H1 body over the limit → 413; H4 invalid or empty JSON → 400 invalid_json; H7 wrong or missing content type → 415', () =>
      withServer(
        maker,
        async ({ app, client }) => {
          await expectProblem(await enqueue(app, { name: 'x', payload: 'y'.repeat(5000) }), 413, 'payload_too_large', 'H1');
          await expectProblem(await enqueue(app, '{"name": "x",'), 400, 'invalid_json', 'H4 truncated');
          await expectProblem(await enqueue(app, ' '), 400, 'invalid_json', 'H4 empty');
          const text = await app.inject({ method: 'POST', url: '/api/v1/queues/q/jobs', payload: '{"name":"x"}', headers: { 'content-type': 'text/plain' } });
          await expectProblem({ status: text.statusCode, body: text.json(), raw: text.body, headers: text.headers }, 415, 'unsupported_media_type', 'H7 text/plain');
          const none = await app.inject({ method: 'POST', url: '/api/v1/queues/q/jobs', payload: '{"name":"x"}', headers: { 'content-type': '' } });
          await expectProblem({ status: none.statusCode, body: none.json(), raw: none.body, headers: none.headers }, 415, 'unsupported_media_type', 'H7 missing');
          assert.equal(await totalJobs(client), 0);
        },
        { bodyLimitBytes: 4096 },
      ));

    test('H5 nesting 10,000 deep → 400 json_too_deep; H6 a huge array → 400 from the item cap; H10 duplicate keys → 400', () =>
      withServer(maker, async ({ app, client }) => {
        await expectProblem(await enqueue(app, `{"name":"x","payload":${'['.repeat(10_000)}${']'.repeat(10_000)}}`), 400, 'json_too_deep', 'H5');
        const items = Array.from({ length: 75_000 }, () => '{"name":"x"}').join(',');
        const started = process.hrtime.bigint();
        const huge = await call(app, 'POST', '/api/v1/queues/q/jobs/batch', `{"jobs":[${items}]}`);
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        await expectProblem(huge, 400, 'validation_failed', 'H6');
        assert.ok(ms < 5000, `rejected in bounded time (${ms} ms)`);
        await expectProblem(await enqueue(app, '{"name":"x","name":"y"}'), 400, 'json_duplicate_key', 'H10 top level');
        await expectProblem(await enqueue(app, '{"name":"x","payload":{"a":1,"\\u0061":2}}'), 400, 'json_duplicate_key', 'H10 escaped duplicate');
        assert.equal(await totalJobs(client), 0);
      }));

    test('H8 U+0000, lone surrogates and invalid UTF-8 → 400 invalid_text; H9 __proto__ keys are stored as plain data', () =>
      withServer(maker, async ({ app, client }) => {
        await expectProblem(await enqueue(app, '{"name":"x","payload":"a\\u0000b"}'), 400, 'invalid_text', 'H8 NUL');
        await expectProblem(await enqueue(app, '{"name":"x","payload":{"k\\u0000":1}}'), 400, 'invalid_text', 'H8 NUL in a key');
        await expectProblem(await enqueue(app, '{"name":"x","payload":"\\ud800"}'), 400, 'invalid_text', 'H8 lone high surrogate');
        await expectProblem(await enqueue(app, '{"name":"x","payload":"\\udc00x"}'), 400, 'invalid_text', 'H8 lone low surrogate');
        const bytes = Buffer.concat([Buffer.from('{"name":"x","payload":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
        const bad = await app.inject({ method: 'POST', url: '/api/v1/queues/q/jobs', payload: bytes, headers: { 'content-type': 'application/json' } });
        await expectProblem({ status: bad.statusCode, body: bad.json(), raw: bad.body, headers: bad.headers }, 400, 'invalid_text', 'H8 invalid UTF-8');
        assert.equal(await totalJobs(client), 0);

        const ok = await enqueue(app, '{"name":"x","payload":{"__proto__":{"polluted":true},"constructor":{"prototype":{"p":1}},"emoji":"\\ud83d\\ude00"}}');
        assert.equal(ok.status, 201);
        assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
        const job = await client.getJob(ok.body.id);
        assert.deepEqual(Object.keys(job!.payload as object).sort(), ['__proto__', 'constructor', 'emoji']);
        assert.equal((job!.payload as Record<string, string>).emoji, '😀');
      }));

    test('H11 bad queue names → 400; H12 unknown queue → 404; H21 malformed ids → 400 or 404', () =>
      withServer(maker, async ({ app, client }) => {
        for (const name of ['', 'x'.repeat(129), '..%2Fx', 'a%22%3Bdrop%20table%20q%3B--', '%D0%B0bc', 'q%00']) {
          const res = await call(app, 'POST', `/api/v1/queues/${name}/jobs`, { name: 'x' });
          assert.ok([400, 404].includes(res.status), `H11 ${name}: ${res.status}`);
          assert.notEqual(res.status, 500);
          if (res.status === 400) assert.equal(res.body.code, 'validation_failed');
        }
        await expectProblem(await call(app, 'POST', '/api/v1/queues/ok/jobs', { name: '../etc' }), 400, 'validation_failed', 'H11 job name');
        await expectProblem(await call(app, 'GET', '/api/v1/queues/never-used'), 404, 'not_found', 'H12');
        for (const id of ['1%20OR%201%3D1', '-1', '1'.repeat(40), '%27%3B--']) {
          const res = await call(app, 'GET', `/api/v1/jobs/${id}`);
          assert.ok([400, 404].includes(res.status), `H21 ${id}: ${res.status}`);
        }
        await expectProblem(await call(app, 'GET', `/api/v1/jobs/${'x'.repeat(256)}`), 400, 'validation_failed', 'H21 over 255 chars');
        assert.equal(await totalJobs(client), 0);
      }));

    test('H13 maxRetries and H14 delay/runAt out of range or malformed → 400; H15 lease, H16 batch sizes, H17 long-poll wait → 400', () =>
      withServer(maker, async ({ app, client }) => {
        for (const maxRetries of [-1, 1.5, '5', 1e9, null]) {
          await expectProblem(await enqueue(app, { name: 'x', opts: { maxRetries } }), 400, 'validation_failed', `H13 ${String(maxRetries)}`);
        }
        await expectProblem(await enqueue(app, '{"name":"x","opts":{"maxRetries":NaN}}'), 400, 'invalid_json', 'H13 NaN');
        for (const opts of [{ delay: -1 }, { runAt: 'tomorrow' }, { runAt: '2026-01-01T00:00:00' }, { runAt: '9999-01-01T00:00:00Z' }, { delay: 1, runAt: '2030-01-01T00:00:00Z' }]) {
          await expectProblem(await enqueue(app, { name: 'x', opts }), 400, 'validation_failed', `H14 ${JSON.stringify(opts)}`);
        }
        await expectProblem(await enqueue(app, { name: 'x', opts: { maxAttempts: 3 } }), 400, 'validation_failed', 'unknown option');
        await expectProblem(await call(app, 'POST', '/api/v1/queues/q/jobs/batch', { jobs: [] }), 400, 'validation_failed', 'H16 empty batch');
        await expectProblem(await call(app, 'POST', '/api/v1/queues/q/jobs/batch', { jobs: Array.from({ length: 1001 }, () => ({ name: 'x' })) }), 400, 'validation_failed', 'H16 1,001');
        for (const body of [{ workerId: 'w', batch: 101 }, { workerId: 'w', leaseMs: 0 }, { workerId: 'w', leaseMs: -5 }, { workerId: 'w', leaseMs: 43_200_001 }, { workerId: 'w', waitMs: 20_001 }, { workerId: 'w', waitMs: -1 }, { workerId: '../x' }]) {
          await expectProblem(await call(app, 'POST', '/api/v1/queues/q/claim', body), 400, 'validation_failed', `H15-17 ${JSON.stringify(body)}`);
        }
        assert.equal(await totalJobs(client), 0);
      }));

    test('H18/H19 completions with malformed or foreign tokens are never 2xx; H22 limit and cursor abuse → 400', () =>
      withServer(maker, async ({ app, client }) => {
        const { body } = await enqueue(app, { name: 'x' });
        const c = (await call(app, 'POST', '/api/v1/queues/q/claim', { workerId: 'w' })).body.jobs[0];
        for (const fence of [{ attempt: 1, leaseToken: 'x' }, { attempt: 0, leaseToken: c.leaseToken }, { attempt: '1', leaseToken: c.leaseToken }, { attempt: 1 }, { attempt: 1, leaseToken: c.leaseToken.toUpperCase() }]) {
          const res = await call(app, 'POST', `/api/v1/jobs/${body.id}/complete`, fence);
          assert.ok(res.status >= 400 && res.status < 500, `H18 ${JSON.stringify(fence)}: ${res.status}`);
        }
        assert.equal((await client.getJob(body.id))?.state, 'running');
        for (const qs of ['limit=1e9', 'limit=-1', 'limit=abc', 'cursor=tampered', 'state=bogus', 'order=sideways', 'from=yesterday', 'unknown=1']) {
          const res = await call(app, 'GET', `/api/v1/jobs?${qs}`);
          await expectProblem(res, 400, 'validation_failed', `H22 ${qs}`);
        }
      }));

    test('H27 TRACE and GET on a mutating route → 405 with Allow; unknown routes → 404', () =>
      withServer(maker, async ({ app }) => {
        const get = await call(app, 'GET', '/api/v1/queues/q/jobs');
        await expectProblem(get, 405, 'method_not_allowed', 'H27 GET');
        assert.equal(get.headers.allow, 'POST');
        const trace = await app.inject({ method: 'TRACE' as 'GET', url: '/api/v1/jobs/abc' });
        assert.equal(trace.statusCode, 405);
        assert.match(String(trace.headers.allow), /GET/);
        await expectProblem(await call(app, 'GET', '/api/v1/nothing-here'), 404, 'route_not_found', 'unknown route');
      }));
  });
}
