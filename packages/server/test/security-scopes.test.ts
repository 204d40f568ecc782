/**
 * The BOLA/BFLA scope matrix (reliability S3, with S11's "403 and 404 look the same"), on both
 * backends: 31 routes × 4 keys × 3 targets.
 *
 * Keys: `admin` (everything), `alpha` (every action on queue alpha), `alpha-ro` (read and
 * read-payload on alpha), `events` (every action on topic alpha-events only). Targets: the
 * alpha resources, the bravo resources, and unknown ones (queue charlie, job no-such-job…).
 *
 * Owns, for every cell:
 * - allowed (the key holds the route's action on the target) → the route's success status;
 * - denied → 403 when the key holds the action on no queue at all, else 404 — with the same body
 *   as the same key asking for a resource that does not exist (ids and names aside), and
 *   nothing changed in the alpha or bravo world (jobs, queues, schedules, topics compared);
 * - queue-less listings (`/queues`, `/dlq`, `/metrics`, `/alerts`, `/jobs`): 403 for keys
 *   limited to some queues.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ACTIONS, generateApiKey, type Action } from '../src/auth/api-keys.js';
import type { App } from '../src/index.js';
import type { Client } from '@spindle/core';
import { BACKENDS, call, withServer } from './harness.js';

const KEYS = {
  admin: generateApiKey('admin', [{ queues: ['*'], actions: [...ACTIONS] }]),
  alpha: generateApiKey('alpha', [{ queues: ['alpha'], actions: [...ACTIONS] }]),
  'alpha-ro': generateApiKey('alpha-ro', [{ queues: ['alpha'], actions: ['read', 'read-payload'] }]),
  events: generateApiKey('events', [{ queues: ['alpha-events'], actions: [...ACTIONS] }]),
};
type KeyName = keyof typeof KEYS;
const auth = { keys: Object.values(KEYS).map((k) => k.record) };
const bearer = (k: KeyName) => ({ authorization: `Bearer ${KEYS[k].key}` });

type Target = 'alpha' | 'bravo' | 'charlie';
type Kind = 'queue' | 'job' | 'schedule' | 'topic';

interface Ctx {
  app: App;
  client: Client;
}

/** What a case needs on its target: a name and, for job cases, a fresh job id. */
interface Resource {
  name: string;
  id: string;
}

interface Case {
  label: string;
  kind: Kind;
  action: Action;
  ok: number;
  /** Prepares the target (a fresh job in the needed state…); unknown targets get no setup. */
  setup?: (c: Ctx, queue: string) => Promise<string>;
  request(r: Resource): { method: string; url: string; body?: unknown };
}

async function enqueue(c: Ctx, queue: string, opts: Record<string, unknown> = {}): Promise<string> {
  const res = await call(c.app, 'POST', `/api/v1/queues/${queue}/jobs`, { name: 'x', payload: { q: queue }, opts }, bearer('admin'));
  assert.equal(res.status, 201, res.raw);
  return res.body.id;
}

/** A dead job of `queue`. */
async function dead(c: Ctx, queue: string): Promise<string> {
  await c.client.resumeQueue(queue); // an earlier cell may have paused it
  const id = await enqueue(c, queue, { maxRetries: 0 });
  // Other queued jobs left by earlier cells are claimed too (and kept running, untouched).
  const jobs = (await call(c.app, 'POST', `/api/v1/queues/${queue}/claim`, { workerId: 'setup', batch: 100, leaseMs: 600_000 }, bearer('admin'))).body.jobs as Array<{ id: string; attempt: number; leaseToken: string }>;
  const claimed = jobs.find((x) => x.id === id)!;
  assert.ok(claimed, 'the new job was claimed');
  const failed = await call(c.app, 'POST', `/api/v1/jobs/${id}/fail`, { attempt: claimed.attempt, leaseToken: claimed.leaseToken, error: { message: `boom ${queue}` } }, bearer('admin'));
  assert.equal(failed.status, 200, failed.raw);
  return id;
}

async function schedule(c: Ctx, queue: string): Promise<string> {
  await c.client.schedules.upsert(`${queue}-sync`, { everyMs: 3_600_000, queue });
  return `${queue}-sync`;
}

const q = (label: string, action: Action, ok: number, request: (name: string) => { method: string; url: string; body?: unknown }, setup?: Case['setup']): Case => ({ label, kind: 'queue', action, ok, request: (r) => request(r.name), ...(setup ? { setup } : {}) });
const j = (label: string, action: Action, ok: number, setup: Case['setup'], request: (id: string) => { method: string; url: string; body?: unknown }): Case => ({ label, kind: 'job', action, ok, setup, request: (r) => request(r.id) });

const CASES: Case[] = [
  q('GET /queues/:queue', 'read', 200, (n) => ({ method: 'GET', url: `/api/v1/queues/${n}` }), (c, n) => enqueue(c, n)),
  q('GET /jobs?queue=', 'read', 200, (n) => ({ method: 'GET', url: `/api/v1/jobs?queue=${n}` })),
  q('GET /dlq/:queue/jobs', 'read', 200, (n) => ({ method: 'GET', url: `/api/v1/dlq/${n}/jobs` })),
  q('GET /dlq/:queue/groups', 'read', 200, (n) => ({ method: 'GET', url: `/api/v1/dlq/${n}/groups` })),
  q('GET /queues/:queue/stats', 'read', 200, (n) => ({ method: 'GET', url: `/api/v1/queues/${n}/stats` })),
  q('GET /workers?queue=', 'read', 200, (n) => ({ method: 'GET', url: `/api/v1/workers?queue=${n}` })),
  q('POST /queues/:queue/jobs', 'enqueue', 201, (n) => ({ method: 'POST', url: `/api/v1/queues/${n}/jobs`, body: { name: 'x' } })),
  q('POST /queues/:queue/jobs/batch', 'enqueue', 201, (n) => ({ method: 'POST', url: `/api/v1/queues/${n}/jobs/batch`, body: { jobs: [{ name: 'x' }] } })),
  q('POST /queues/:queue/pause', 'admin', 200, (n) => ({ method: 'POST', url: `/api/v1/queues/${n}/pause` })),
  q('PUT /queues/:queue/limits', 'admin', 200, (n) => ({ method: 'PUT', url: `/api/v1/queues/${n}/limits`, body: {} })),
  q('POST /queues/:queue/claim', 'work', 200, (n) => ({ method: 'POST', url: `/api/v1/queues/${n}/claim`, body: { workerId: 'probe', leaseMs: 600_000 } })),
  q('POST /dlq/:queue/purge (all)', 'dlq', 202, (n) => ({ method: 'POST', url: `/api/v1/dlq/${n}/purge`, body: { all: true } }), dead),
  q('POST /dlq/:queue/resolve (all)', 'dlq', 202, (n) => ({ method: 'POST', url: `/api/v1/dlq/${n}/resolve`, body: { all: true, note: 'n' } }), dead),
  j('POST /dlq/:queue/replay (ids)', 'dlq', 200, dead, (id) => ({ method: 'POST', url: `/api/v1/dlq/${id.split('|')[0]}/replay`, body: { ids: [id.split('|')[1]] } })),
  j('GET /jobs/:id', 'read', 200, (c, n) => enqueue(c, n), (id) => ({ method: 'GET', url: `/api/v1/jobs/${id}` })),
  j('POST /jobs/:id/cancel', 'admin', 200, (c, n) => enqueue(c, n), (id) => ({ method: 'POST', url: `/api/v1/jobs/${id}/cancel` })),
  j('POST /jobs/:id/retry', 'admin', 200, dead, (id) => ({ method: 'POST', url: `/api/v1/jobs/${id}/retry` })),
  j('POST /jobs/:id/promote', 'admin', 200, (c, n) => enqueue(c, n, { delay: 600_000 }), (id) => ({ method: 'POST', url: `/api/v1/jobs/${id}/promote` })),
  j('PATCH /jobs/:id', 'admin', 200, (c, n) => enqueue(c, n), (id) => ({ method: 'PATCH', url: `/api/v1/jobs/${id}`, body: { payload: { edited: true } } })),
  j('DELETE /jobs/:id', 'admin', 200, (c, n) => enqueue(c, n), (id) => ({ method: 'DELETE', url: `/api/v1/jobs/${id}` })),
  { label: 'GET /schedules/:name', kind: 'schedule', action: 'read', ok: 200, setup: schedule, request: (r) => ({ method: 'GET', url: `/api/v1/schedules/${r.id}` }) },
  { label: 'POST /schedules/:name/run', kind: 'schedule', action: 'enqueue', ok: 201, setup: schedule, request: (r) => ({ method: 'POST', url: `/api/v1/schedules/${r.id}/run` }) },
  { label: 'POST /schedules/:name/pause', kind: 'schedule', action: 'admin', ok: 200, setup: schedule, request: (r) => ({ method: 'POST', url: `/api/v1/schedules/${r.id}/pause` }) },
  { label: 'DELETE /schedules/:name', kind: 'schedule', action: 'admin', ok: 200, setup: schedule, request: (r) => ({ method: 'DELETE', url: `/api/v1/schedules/${r.id}` }) },
  { label: 'GET /topics/:topic', kind: 'topic', action: 'read', ok: 200, request: (r) => ({ method: 'GET', url: `/api/v1/topics/${r.name}` }) },
  { label: 'POST /topics/:topic/messages', kind: 'topic', action: 'enqueue', ok: 201, request: (r) => ({ method: 'POST', url: `/api/v1/topics/${r.name}/messages`, body: { messages: [{ value: 1 }] } }) },
  { label: 'GET /topics/:topic/partitions/0/messages', kind: 'topic', action: 'read-payload', ok: 200, request: (r) => ({ method: 'GET', url: `/api/v1/topics/${r.name}/partitions/0/messages` }) },
  { label: 'GET /topics/:topic/groups', kind: 'topic', action: 'read', ok: 200, request: (r) => ({ method: 'GET', url: `/api/v1/topics/${r.name}/groups` }) },
  { label: 'POST /topics/:topic/groups/:group/members', kind: 'topic', action: 'work', ok: 200, request: (r) => ({ method: 'POST', url: `/api/v1/topics/${r.name}/groups/g/members`, body: { memberId: 'm1' } }) },
  { label: 'POST /topics/:topic/grow', kind: 'topic', action: 'admin', ok: 200, request: (r) => ({ method: 'POST', url: `/api/v1/topics/${r.name}/grow`, body: { partitions: 2 } }) },
];

/** May `key` do `action` on the target's queue or topic? (The scopes above, spelled out.) */
function allowed(key: KeyName, action: Action, kind: Kind, target: Target): boolean {
  if (key === 'admin') return true;
  if (target !== 'alpha') return false;
  if (key === 'events') return kind === 'topic';
  if (kind === 'topic') return false;
  return key === 'alpha' || action === 'read' || action === 'read-payload';
}

/** Holds `action` on at least one queue or topic (else the guard answers 403 before any lookup). */
const holdsAnywhere = (key: KeyName, action: Action) => key !== 'alpha-ro' || action === 'read' || action === 'read-payload';

/** The alpha and bravo worlds, as one comparable string. */
async function world(c: Ctx): Promise<string> {
  const parts: unknown[] = [];
  for (const queue of ['alpha', 'bravo']) {
    parts.push((await c.client.listJobs({ filter: { queue }, limit: 1000 })).jobs);
    parts.push((await c.client.listQueues()).filter((x) => x.name === queue));
    parts.push(await c.client.schedules.get(`${queue}-sync`));
    parts.push(await c.client.topics.get(`${queue}-events`), await c.client.topics.groups(`${queue}-events`).catch(() => null));
  }
  return JSON.stringify(parts);
}

/** A denial's body with the resource's own id or name taken out. */
const normalized = (raw: string, r: Resource) => raw.split(r.id).join('<id>').split(r.name).join('<name>');

for (const maker of BACKENDS) {
  describe(`${maker.name}: scope matrix (S3, S11)`, () => {
    test(`${CASES.length} routes × 4 keys × 3 targets: allowed where scoped, else 403/404 identical to an unknown resource, nothing changed`, () =>
      withServer(
        maker,
        async ({ app, client }) => {
          const c = { app, client };
          for (const t of ['alpha', 'bravo']) {
            assert.equal((await call(app, 'POST', '/api/v1/topics', { name: `${t}-events` }, bearer('admin'))).status, 201);
            await schedule(c, t);
          }
          let cells = 0;
          for (const cs of CASES) {
            for (const key of Object.keys(KEYS) as KeyName[]) {
              for (const target of ['alpha', 'bravo'] as const) {
                const label = `${cs.label} as ${key} on ${target}`;
                const name = cs.kind === 'topic' ? `${target}-events` : target;
                const made = cs.setup ? await cs.setup(c, target) : name;
                const id = cs.label.includes('replay') ? `${target}|${made}` : made;
                const before = await world(c);
                const req = cs.request({ name, id });
                const res = await call(app, req.method, req.url, req.body ?? (req.method === 'GET' ? undefined : {}), bearer(key));
                cells++;
                if (allowed(key, cs.action, cs.kind, target)) {
                  assert.equal(res.status, cs.ok, `${label}: ${res.raw.slice(0, 300)}`);
                  continue;
                }
                const expected = holdsAnywhere(key, cs.action) ? 404 : 403;
                assert.equal(res.status, expected, `${label}: ${res.raw.slice(0, 300)}`);
                assert.equal(res.body.code, expected === 404 ? 'not_found' : 'forbidden', label);
                assert.equal(await world(c), before, `${label}: the denied request changed nothing`);
                // The same key asking for something that does not exist gets the same answer.
                const unknown: Resource = cs.kind === 'topic' ? { name: 'charlie-events', id: 'charlie-events' } : cs.kind === 'queue' ? { name: 'charlie', id: 'charlie' } : { name: 'charlie', id: cs.label.includes('replay') ? 'charlie|no-such-job' : cs.kind === 'schedule' ? 'no-such-sync' : 'no-such-job' };
                const ureq = cs.request(unknown);
                const ures = await call(app, ureq.method, ureq.url, ureq.body ?? (ureq.method === 'GET' ? undefined : {}), bearer(key));
                const ownId = (r: Resource) => ({ name: r.name, id: r.id.includes('|') ? r.id.split('|')[1]! : r.id });
                assert.equal(ures.status, res.status, `${label}: unknown vs forbidden status`);
                assert.equal(normalized(ures.raw, ownId(unknown)), normalized(res.raw, ownId({ name, id })), `${label}: unknown vs forbidden body`);
              }
            }
          }
          assert.equal(cells, CASES.length * 4 * 2);

          // Listings across every queue need a key for every queue.
          for (const url of ['/api/v1/queues', '/api/v1/dlq', '/metrics', '/api/v1/alerts', '/api/v1/jobs', '/api/v1/schedules', '/api/v1/topics', '/api/v1/workers', '/api/v1/stats']) {
            assert.equal((await call(app, 'GET', url, undefined, bearer('admin'))).status, 200, `${url} as admin`);
            for (const key of ['alpha', 'alpha-ro', 'events'] as const) {
              const res = await call(app, 'GET', url, undefined, bearer(key));
              assert.equal(res.status, 403, `${url} as ${key}: ${res.raw.slice(0, 200)}`);
              assert.match(res.body.code, /^(forbidden|queue_required)$/);
            }
          }
          // A listing filtered to the key's queue works; to another queue it is hidden.
          assert.equal((await call(app, 'GET', '/api/v1/schedules?queue=alpha', undefined, bearer('alpha'))).status, 200);
          assert.equal((await call(app, 'GET', '/api/v1/schedules?queue=bravo', undefined, bearer('alpha'))).status, 404);
          assert.equal((await call(app, 'GET', '/api/v1/jobs?queue=alpha,bravo', undefined, bearer('alpha'))).status, 404, 'one forbidden queue in a list hides the answer');
        },
        { auth },
      ));

    // Bulk actions by ids answer `not_found` for a job of a queue the key may not act on, as for an
    // id that does not exist: a key confined to one queue cannot learn whether an id exists elsewhere.
    test('bulk actions by ids answer the same for a job of another queue as for no job, and leave it alone', () =>
      withServer(
        maker,
        async ({ app }) => {
          await call(app, 'POST', '/api/v1/queues/bravo/jobs', { name: 'x', opts: { id: 'order-42' } }, bearer('admin'));
          for (const action of ['cancel', 'retry', 'promote', 'delete']) {
            const hidden = await call(app, 'POST', `/api/v1/jobs/${action}`, { ids: ['order-42'] }, bearer('alpha'));
            const unknown = await call(app, 'POST', `/api/v1/jobs/${action}`, { ids: ['order-43'] }, bearer('alpha'));
            assert.equal(hidden.status, unknown.status, action);
            assert.equal(hidden.raw.replace('order-42', '<id>'), unknown.raw.replace('order-43', '<id>'), action);
          }
          const job = await call(app, 'GET', '/api/v1/jobs/order-42', undefined, bearer('admin'));
          assert.equal(job.body.status, 'queued', 'the other queue\'s job was not touched');
        },
        { auth },
      ));
  });
}
