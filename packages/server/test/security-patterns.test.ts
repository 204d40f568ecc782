/**
 * Anchored patterns (reliability S10) and no code from data (S13).
 *
 * Owns:
 * - suffix, prefix and look-alike attacks on every allow-list the server matches against: key
 *   scopes (exact names and `prefix*`), the API key format and the Authorization header, the
 *   JSON content type, the dashboard's Origin/Referer check and CSRF token, webhook host
 *   allow-lists, and the name rule for queues, topics, schedules and job names;
 * - a scan of every package's sources: no `eval`, `new Function`, `node:vm`, and no dynamic
 *   `import()`/`require()` of a computed name except the two listed here with their reason —
 *   so no job, payload or request can name code to run; handlers are registered by queue.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { IDENTIFIER_RE } from '@spindle/core';
import { ACTIONS, generateApiKey, Grant, parseApiKey, queueMatches } from '../src/auth/api-keys.js';
import { webhookUrlProblem } from '../src/webhooks/options.js';
import { BACKENDS, call, withServer } from './harness.js';

describe('anchored patterns (S10)', () => {
  test('scopes: an exact name matches only itself; prefix* only names that start with the prefix', () => {
    for (const name of ['emails-archive', 'xemails', 'emails.', 'Emails', ' emails', 'emails ', 'emails\n', 'email']) assert.ok(!queueMatches('emails', name), name);
    assert.ok(queueMatches('emails', 'emails'));
    for (const name of ['xreports.daily', 'reports', 'reportsX', 'REPORTS.daily', '.reports.daily']) assert.ok(!queueMatches('reports.*', name), name);
    assert.ok(queueMatches('reports.*', 'reports.daily'));
    const grant = new Grant('k', [{ queues: ['emails', 'reports.*'], actions: ['read'] }]);
    assert.ok(!grant.allows('read', 'emails-archive') && !grant.allows('read', 'xreports.x') && !grant.allowsAllQueues('read'));
  });

  test('names: the identifier rule has no way around its anchors', () => {
    for (const name of ['ok\nbad', 'ok\n', '\nok', 'ok;', 'a'.repeat(129), 'оk', 'ok\u0000', '']) assert.ok(!IDENTIFIER_RE.test(name), JSON.stringify(name));
  });

  test('key format: only spk_<12 hex>_<43 base64url>, nothing before or after', () => {
    const { key } = generateApiKey('k', [{ queues: ['*'], actions: ['read'] }]);
    assert.ok(parseApiKey(key));
    for (const k of [`${key}x`, `x${key}`, `${key}\n`, ` ${key}`, key.toUpperCase(), key.replace('spk_', 'spk__'), `${key}=`, key.slice(0, -1)]) assert.equal(parseApiKey(k), null, JSON.stringify(k));
  });

  test('webhook host allow-lists: exact hosts, and *.domain only on a dot boundary', () => {
    const hosts = ['example.com', '*.hooks.example.org'];
    for (const url of ['https://example.com.evil.net/x', 'https://evilexample.com/', 'https://example.com@evil.net/', 'https://hooks.example.org/', 'https://evilhooks.example.org/', 'https://x.hooks.example.org.evil.net/']) {
      assert.ok(webhookUrlProblem(url, hosts), url);
    }
    for (const url of ['https://example.com/x', 'https://a.hooks.example.org/y']) assert.equal(webhookUrlProblem(url, hosts), null, url);
  });

  test('over HTTP: Authorization, content type, and the dashboard origin and CSRF checks', () => {
    const admin = generateApiKey('admin', [{ queues: ['*'], actions: [...ACTIONS] }]);
    const scoped = generateApiKey('scoped', [{ queues: ['emails'], actions: [...ACTIONS] }]);
    return withServer(
      BACKENDS[0]!,
      async ({ app, client }) => {
        const info = (authorization: string) => call(app, 'GET', '/api/v1/info', undefined, { authorization });
        assert.equal((await info(`Bearer ${admin.key}`)).status, 200);
        for (const header of [`Bearer ${admin.key} extra`, `Basic ${admin.key}`, `Bearer${admin.key}`, `xBearer ${admin.key}`, `Bearer ${admin.key}, Bearer x`, `Token ${admin.key}`]) {
          assert.equal((await info(header)).status, 401, header);
        }
        for (const queue of ['emails-archive', 'xemails', 'emails.old']) {
          assert.equal((await call(app, 'POST', `/api/v1/queues/${queue}/jobs`, { name: 'x' }, { authorization: `Bearer ${scoped.key}` })).status, 404, queue);
        }
        for (const type of ['application/jsonx', 'text/plain; application/json', 'application/json-patch+json', 'xapplication/json', 'application/x-json']) {
          const res = await app.inject({ method: 'POST', url: '/api/v1/queues/emails/jobs', headers: { authorization: `Bearer ${admin.key}`, 'content-type': type }, payload: '{"name":"x"}' });
          assert.equal(res.statusCode, 415, type);
        }
        // The dashboard: a real session, then forged origins that merely start like ours.
        const login = await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ key: admin.key }).toString() });
        const cookie = /^(spindle_session=[^;]+)/.exec(String(login.headers['set-cookie']))![1]!;
        const page = await app.inject({ url: '/', headers: { cookie } });
        const csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(page.body)![1]!;
        await client.queue('emails').add('x', {});
        const post = (headers: Record<string, string>) =>
          app.inject({ method: 'POST', url: '/ui/actions/queues/emails/pause', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, 'x-csrf-token': csrf, ...headers }, payload: '' });
        for (const origin of ['http://localhost:80.evil.example', 'http://localhost:8080', 'http://localhost:80@evil.example', 'http://evil-localhost:80', 'https://localhost:80', 'null']) {
          assert.equal((await post({ origin })).statusCode, 403, origin);
        }
        for (const referer of ['http://localhost:80.evil.example/', 'http://evil.example/http://localhost:80/']) assert.equal((await post({ referer })).statusCode, 403, referer);
        for (const token of [csrf.slice(0, -1), `${csrf}x`, csrf.toUpperCase(), ` ${csrf}`]) assert.equal((await post({ 'x-csrf-token': token })).statusCode, 403, 'CSRF token near miss');
        assert.ok(!(await client.listQueues()).some((q) => q.paused), 'nothing was paused');
        assert.equal((await post({ origin: 'http://localhost:80' })).statusCode, 200, 'the real origin and token work');
        assert.ok((await client.listQueues()).some((q) => q.name === 'emails' && q.paused));
      },
      { auth: { keys: [admin.record, scoped.record] } },
    );
  });
});

/** Dynamic loading by a computed name, allowed only here, each with why no request can reach it. */
const DYNAMIC_LOADS: Record<string, string> = {
  'cli/src/commands/serve.ts': '`spindle serve --workers <module>`: a file the operator names on the command line',
  'core/src/telemetry/tracing.ts': 'the OpenTelemetry API, a constant module name (optional peer)',
};

function sources(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist') continue;
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) sources(full, out);
    else if (/\.(ts|mts|js|mjs)$/.test(entry) && !entry.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

describe('no code from data (S13)', () => {
  test('no eval, Function, vm, or import/require of a computed name outside the listed places', () => {
    const root = join(import.meta.dirname, '..', '..');
    const files = readdirSync(root).flatMap((pkg) => {
      const src = join(root, pkg, 'src');
      try {
        return statSync(src).isDirectory() ? sources(src) : [];
      } catch {
        return [];
      }
    });
    assert.ok(files.length > 100, `${files.length} source files`);
    const found: string[] = [];
    for (const file of files) {
      const rel = file.slice(root.length + 1);
      const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|(^|[^:])\/\/.*$/gm, '$1');
      if (/\beval\s*\(|new\s+Function\s*\(|['"]node:vm['"]|from\s+['"]vm['"]/.test(text)) found.push(`${rel}: eval/Function/vm`);
      const computed = /(?<![\w.]|async\s|function\s)(import|require)\s*\(\s*(?!['"`][^'"`$]*['"`]\s*\))/g;
      if (computed.test(text) && !DYNAMIC_LOADS[rel]) found.push(`${rel}: import()/require() of a computed name`);
    }
    assert.deepEqual(found, []);
    for (const rel of Object.keys(DYNAMIC_LOADS)) assert.ok(files.some((f) => f.endsWith(rel)), `${rel} still exists (keep the list exact)`);
  });
});
