/**
 * SQL-injection fuzz of every API parameter (reliability S7), on SQLite and PostgreSQL.
 *
 * Owns:
 * - the probe list: every operation of the live OpenAPI document (so a new route or parameter
 *   is fuzzed without editing this file), every path and query parameter and every body field
 *   (two levels deep: `opts.priority`, `jobs[0].name`), each replaced in turn by hostile values
 *   (`' OR 1=1--`, `"; drop table x;--`, `%00`, U+0000, LIKE wildcards, lookalikes, a very long
 *   string, placeholders, objects and arrays) while the rest of the request stays valid;
 * - the verdict: never a 5xx, never a driver error in the body (4xx are problem+json with a
 *   stable code); search answers never include a job that does not contain the needle; a
 *   "vault" of jobs, a dead job, a schedule, a topic with a consumer group — which no probe
 *   names — is byte-identical after every operation's probes; when all of an operation's probes
 *   were refused, nothing anywhere changed; no table appeared or disappeared;
 * - both backends refuse the same inputs (a 400 on one is a 400 on the other);
 * - identifiers: a schema or queue name carrying SQL is refused before any SQL is built.
 * Streaming routes (SSE, WebSocket) are left out: their parameters are the same name and id
 * schemas, fuzzed here on the other routes.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Client, silentLogger, ValidationError } from '@spindle/core';
import { PostgresBackend } from '@spindle/postgres';
import type { SqliteBackend } from '@spindle/sqlite';
import type { App } from '../src/index.js';
import { BACKENDS, call, TEST_PG_URL, waitFor, withServer } from './harness.js';

const STRINGS = ["' OR 1=1--", '"; drop table x;--', "'); DELETE FROM spindle_jobs; --", "fz' UNION SELECT name FROM sqlite_master--", '%00', '\u0000', '%', '_', '\\', 'x'.repeat(5000), 'fz\u0430', '$1', ':name', '-1', '1 OR 1=1', '../../etc/passwd'];
const TYPED: unknown[] = [{ $ne: null }, ["' OR 1=1--"], 1e308, true, null];
const DRIVER_TEXT = /SQLITE_|syntax error|near "|unterminated|unrecognized token|relation "|column "|at character|invalid input syntax|\bat .+\.(ts|js):\d+|node_modules/i;
const STREAMS = new Set(['GET /api/v1/events', 'GET /api/v1/jobs/{id}/events', 'GET /api/v1/topics/{topic}/stream', 'GET /api/v1/ws']);
const FENCE = { attempt: 1, leaseToken: 'not-a-token' };
const NOTHING = 'zz-no-match';

/** A valid body for each operation that takes one (fuzzed field by field). */
const BODIES: Record<string, unknown> = {
  'PUT /api/v1/queues/{queue}/limits': { concurrency: 5, rate: { max: 10, intervalMs: 1000 } },
  'PUT /api/v1/schedules/{name}': { everyMs: 3_600_000, queue: 'fz', payload: { n: 1 }, jobOptions: { priority: 'low' }, paused: true },
  'POST /api/v1/topics': { name: 'fz-new', partitions: 1, retention: { maxAgeMs: 60_000 } },
  'POST /api/v1/topics/{topic}/grow': { partitions: 2 },
  'POST /api/v1/topics/{topic}/messages': { messages: [{ key: 'k', value: { n: 1 }, headers: { h: 'v' }, idempotencyKey: 'i' }] },
  'POST /api/v1/topics/{topic}/groups/{group}/members': { memberId: 'm1', sessionMs: 30_000, start: 'earliest' },
  'POST /api/v1/topics/{topic}/groups/{group}/members/{memberId}/heartbeat': { sessionMs: 30_000 },
  'POST /api/v1/topics/{topic}/groups/{group}/commits': { memberId: 'm1', generation: 1, offsets: [{ partition: 0, offset: 0 }] },
  'POST /api/v1/topics/{topic}/groups/{group}/seek': { to: 'earliest' },
  'POST /api/v1/queues/{queue}/jobs': { name: 'x', payload: { n: 1 }, opts: { priority: 'high', uniqueKey: 'u', group: 'g', delay: 0 } },
  'POST /api/v1/queues/{queue}/jobs/batch': { jobs: [{ name: 'x', payload: { n: 1 }, opts: { priority: 'high' } }] },
  'PATCH /api/v1/jobs/{id}': { payload: { n: 2 } },
  'POST /api/v1/flows': { queue: 'fz', name: 'p', payload: { n: 1 }, onChildFailure: 'continue', children: [{ queue: 'fz', name: 'c' }] },
  'POST /api/v1/dlq/{queue}/replay': { ids: ['no-such'], toQueue: 'fz', filter: { name: 'x', payloadContains: NOTHING } },
  'POST /api/v1/dlq/{queue}/purge': { ids: ['no-such'], filter: { payloadContains: NOTHING, errorContains: NOTHING } },
  'POST /api/v1/dlq/{queue}/resolve': { ids: ['no-such'], note: 'n', filter: { payloadContains: NOTHING } },
  'POST /api/v1/queues/{queue}/claim': { workerId: 'w', leaseMs: 600_000 },
  'POST /api/v1/jobs/{id}/heartbeat': { ...FENCE, leaseMs: 60_000 },
  'POST /api/v1/jobs/{id}/progress': { ...FENCE, progress: 1 },
  'POST /api/v1/jobs/{id}/complete': { ...FENCE, result: 1 },
  'POST /api/v1/jobs/{id}/fail': { ...FENCE, error: { message: 'm', name: 'E', stack: 's' }, permanent: false },
};
for (const action of ['cancel', 'retry', 'promote', 'delete']) {
  BODIES[`POST /api/v1/jobs/${action}`] = { ids: ['no-such'], filter: { queue: 'fz', payloadContains: NOTHING, name: 'x', states: ['queued'] } };
}
/** Body fields of which a request gives exactly one: the others are left out when one is fuzzed. */
const EXCLUSIVE = ['ids', 'filter', 'all'];

const PATH_VALUES: Record<string, (ids: { job: string }) => string> = { queue: () => 'fz', id: (x) => x.job, name: () => 'fz-sync', topic: () => 'fz-events', group: () => 'g', memberId: () => 'm1', partition: () => '0' };

interface Op {
  label: string;
  method: string;
  path: string;
  pathParams: string[];
  query: string[];
  body: unknown;
  bodySlots: Array<Array<string | number>>;
}

/** Field paths of a JSON schema, two levels deep (`[opts, priority]`, `[jobs, 0, name]`). */
function slotsOf(schema: any, prefix: Array<string | number> = [], depth = 0): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [];
  for (const [name, sub] of Object.entries<any>(schema?.properties ?? {})) {
    const here = [...prefix, name];
    out.push(here);
    if (depth >= 1) continue;
    if (sub?.properties) out.push(...slotsOf(sub, here, depth + 1));
    if (sub?.type === 'array' && sub.items?.properties) out.push(...slotsOf(sub.items, [...here, 0], depth + 1));
  }
  return out;
}

function operations(doc: any): Op[] {
  const ops: Op[] = [];
  for (const [path, byMethod] of Object.entries<any>(doc.paths)) {
    if (!path.startsWith('/api/') && path !== '/metrics') continue;
    for (const [m, op] of Object.entries<any>(byMethod)) {
      const label = `${m.toUpperCase()} ${path}`;
      if (STREAMS.has(label)) continue;
      const params = (op.parameters ?? []) as Array<{ in: string; name: string }>;
      const schema = op.requestBody?.content?.['application/json']?.schema;
      ops.push({
        label,
        method: m.toUpperCase(),
        path,
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        query: params.filter((p) => p.in === 'query').map((p) => p.name),
        body: BODIES[label] ?? (m === 'get' ? undefined : {}),
        bodySlots: schema ? slotsOf(schema) : [],
      });
    }
  }
  return ops;
}

function withValue(base: unknown, slot: Array<string | number>, value: unknown): unknown {
  const copy = structuredClone(base ?? {}) as Record<string, unknown>;
  if (EXCLUSIVE.includes(String(slot[0]))) for (const k of EXCLUSIVE) if (k !== slot[0]) delete copy[k];
  let at: any = copy;
  for (let i = 0; i < slot.length - 1; i++) {
    const k = slot[i]!;
    at[k] ??= typeof slot[i + 1] === 'number' ? [{}] : {};
    at = at[k];
  }
  at[slot.at(-1)!] = value;
  return copy;
}

/** The vault: data no probe names. Returns a fingerprint function. */
async function seedVault(app: App, client: Client): Promise<() => Promise<string>> {
  const add = (payload: unknown, opts: Record<string, unknown> = {}) => call(app, 'POST', '/api/v1/queues/vault/jobs', { name: 'v', payload, opts });
  await add({ who: 'alice', n: 1 });
  await add({ who: 'bob', n: 2 }, { delay: 3_600_000 });
  await add({ who: 'carol', n: 3 }, { maxRetries: 0, priority: 0 });
  const c = (await call(app, 'POST', '/api/v1/queues/vault/claim', { workerId: 'v' })).body.jobs[0];
  assert.equal((await call(app, 'POST', `/api/v1/jobs/${c.id}/fail`, { attempt: c.attempt, leaseToken: c.leaseToken, error: { message: 'boom' } })).status, 200);
  assert.equal((await call(app, 'PUT', '/api/v1/schedules/vault-sync', { everyMs: 3_600_000, queue: 'vault', paused: true })).status, 201);
  assert.equal((await call(app, 'POST', '/api/v1/topics', { name: 'vault-events' })).status, 201);
  await call(app, 'POST', '/api/v1/topics/vault-events/messages', { messages: [{ value: { who: 'dave' } }, { value: 2 }] });
  const join = (await call(app, 'POST', '/api/v1/topics/vault-events/groups/vg/members', { memberId: 'vm' })).body;
  assert.equal((await call(app, 'POST', '/api/v1/topics/vault-events/groups/vg/commits', { memberId: 'vm', generation: join.generation, offsets: [{ partition: 0, offset: 1 }] })).status, 200);
  return async () =>
    JSON.stringify([
      (await client.listJobs({ filter: { queue: 'vault' }, limit: 1000 })).jobs,
      (await client.listQueues()).filter((q) => q.name === 'vault'),
      await client.schedules.get('vault-sync'),
      await client.topics.get('vault-events'),
      (await client.topics.group('vault-events', 'vg'))?.offsets,
      await client.topics.fetch('vault-events', 0, 0, 10),
      await client.dlq.depth({ queue: 'vault' }),
    ]);
}

/** Everything countable: jobs by queue and state, topics, schedules. */
async function everything(client: Client): Promise<string> {
  return JSON.stringify([await client.counts(), (await client.topics.list()).map((t) => [t.name, t.partitions, t.offsets]), (await client.schedules.list()).map((s) => [s.name, s.queue, s.version])]);
}

async function tables(maker: string, client: Client): Promise<string[]> {
  if (maker === 'sqlite') {
    const db = new Database((client.backend as SqliteBackend).options.path, { readonly: true });
    try {
      return (db.prepare("SELECT type || ' ' || name AS n FROM sqlite_master ORDER BY n").all() as Array<{ n: string }>).map((r) => r.n);
    } finally {
      db.close();
    }
  }
  const admin = new pg.Client({ connectionString: TEST_PG_URL });
  await admin.connect();
  try {
    const res = await admin.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [(client.backend as PostgresBackend).schema]);
    return res.rows.map((r) => r.table_name as string);
  } finally {
    await admin.end();
  }
}

const refusals = new Map<string, Map<string, number>>();

for (const maker of BACKENDS) {
  describe(`${maker.name}: SQL-injection fuzz (S7)`, () => {
    test('every parameter of every operation: no 5xx, no driver text, the vault untouched, refusals write nothing', () =>
      withServer(maker, async ({ app, client }) => {
        const vault = await seedVault(app, client);
        const job = (await call(app, 'POST', '/api/v1/queues/fz/jobs', { name: 'x', payload: { n: 0 } })).body.id as string;
        await call(app, 'PUT', '/api/v1/schedules/fz-sync', { everyMs: 3_600_000, queue: 'fz', paused: true });
        await call(app, 'POST', '/api/v1/topics', { name: 'fz-events' });
        const doc = (await call(app, 'GET', '/openapi.json')).body;
        const ops = operations(doc);
        assert.ok(ops.length >= 50, `${ops.length} operations`);
        const tablesBefore = await tables(maker.name, client);
        const vaultBefore = await vault();
        const seen = new Map<string, number>();
        refusals.set(maker.name, seen);
        let probes = 0;
        for (const op of ops) {
          const before = await everything(client);
          let changedAllowed = false;
          const slots: Array<{ where: 'path' | 'query' | 'body'; name: string; slot?: Array<string | number> }> = [
            ...op.pathParams.map((name) => ({ where: 'path' as const, name })),
            ...op.query.map((name) => ({ where: 'query' as const, name })),
            ...op.bodySlots.map((slot) => ({ where: 'body' as const, name: slot.join('.'), slot })),
          ];
          for (const s of slots) {
            for (const value of s.where === 'body' ? [...STRINGS, ...TYPED] : STRINGS) {
              let path = op.path;
              for (const p of op.pathParams) path = path.replace(`{${p}}`, encodeURIComponent(s.where === 'path' && s.name === p ? String(value) : PATH_VALUES[p]!({ job })));
              if (s.where === 'query') path += `?${encodeURIComponent(s.name)}=${encodeURIComponent(String(value))}`;
              const body = s.where === 'body' ? withValue(op.body, s.slot!, value) : op.body;
              const res = await call(app, op.method, path, body);
              probes++;
              const what = `${op.label} ${s.where}:${s.name}=${JSON.stringify(value).slice(0, 40)}`;
              assert.ok(res.status < 500, `${what}: ${res.status} ${res.raw.slice(0, 300)}`);
              assert.ok(res.status < 300 || res.status >= 400, `${what}: ${res.status}`);
              if (res.status >= 400) {
                assert.match(String(res.headers['content-type']), /application\/problem\+json/, what);
                assert.match(String(res.body?.code), /^[a-z_]+$/, `${what}: stable code`);
                assert.doesNotMatch(res.raw, DRIVER_TEXT, `${what}: driver text in the answer`);
                if (res.status === 400) seen.set(what, 400);
              } else {
                changedAllowed = true;
                if (op.method === 'GET' && Array.isArray(res.body?.jobs)) assert.ok(!res.body.jobs.some((j: { queue: string }) => j.queue === 'vault'), `${what}: a search matched the vault`);
                if (res.status === 202 && res.body?.operationId) {
                  await waitFor(async () => (await call(app, 'GET', `/api/v1/operations/${res.body.operationId}`)).body.status !== 'running', 'the operation');
                }
              }
            }
          }
          assert.equal(await vault(), vaultBefore, `${op.label}: the vault changed`);
          if (!changedAllowed && op.method !== 'GET') assert.equal(await everything(client), before, `${op.label}: refused probes changed something`);
        }
        assert.ok(probes > 2000, `${probes} probes`);
        assert.deepEqual(await tables(maker.name, client), tablesBefore, 'no table created or dropped');
        assert.equal((await call(app, 'GET', '/readyz')).status, 200);
        // Wildcards are literal: a needle with % and _ finds exactly the job that contains it.
        const literal = (await call(app, 'POST', '/api/v1/queues/ctl/jobs', { name: 'x', payload: { note: '100%_done' } })).body.id;
        await call(app, 'POST', '/api/v1/queues/ctl/jobs', { name: 'x', payload: { note: '100 percent done' } });
        for (const needle of ['%_', '0%', '100%_done', '%_d']) {
          const found = await call(app, 'GET', `/api/v1/jobs?queue=ctl&q=${encodeURIComponent(needle)}`);
          assert.deepEqual(found.body.jobs.map((j: { id: string }) => j.id), [literal], needle);
        }
      }));
  });
}

describe('both backends', () => {
  after(() => refusals.clear());
  test('refuse the same probes with 400', () => {
    const [a, b] = [refusals.get('sqlite'), refusals.get('postgres')];
    assert.ok(a && b && a.size > 1000, 'both fuzz runs recorded their refusals');
    const onlyOne = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.has(k) !== b.has(k));
    assert.deepEqual(onlyOne, [], 'probes refused by one backend only');
  });
});

describe('identifiers are allow-listed before any SQL is built', () => {
  test('a schema, queue or topic name carrying SQL is a ValidationError', async () => {
    for (const schema of ['x"; drop schema public cascade; --', 'a b', 'spindle;', '']) {
      assert.throws(() => new PostgresBackend({ connectionString: TEST_PG_URL, schema }), ValidationError, schema);
    }
    const { backend, cleanup } = await BACKENDS[0]!.make();
    const client = new Client({ backend, logger: silentLogger, closeBackend: false });
    try {
      await client.start();
      for (const name of ["q'; drop table spindle_jobs;--", 'q"', 'q q', 'q\u0000']) {
        await assert.rejects(async () => client.queue(name).add('x', {}), ValidationError, name);
        await assert.rejects(async () => client.topics.create(name), ValidationError, name);
      }
    } finally {
      await client.close({ graceMs: 100 });
      await cleanup();
    }
  });
});
