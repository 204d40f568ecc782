/**
 * The audit log (reliability S15), on both backends: one structured `audit` line per request to
 * an admin or DLQ route that changes something (purge, replay, resolve, delete, cancel, pause,
 * limits…), refused attempts included, with who, what, the outcome and the request id — never a
 * payload, a note or a secret — written even when the server logs only warnings; and one line
 * per change of the API keys file (added, revoked, removed key ids).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { ACTIONS, generateApiKey } from '../src/auth/api-keys.js';
import { diffKeys } from '../src/auth/key-store.js';
import { BACKENDS, call, waitFor, withServer } from './harness.js';

const admin = generateApiKey('admin', [{ queues: ['*'], actions: [...ACTIONS] }]);
const viewer = generateApiKey('viewer', [{ queues: ['*'], actions: ['read'] }]);
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const SECRET_NOTE = 'note-canary-77x';

interface AuditLine {
  msg: string;
  audit: { event: string; action?: string; method?: string; route?: string; params?: Record<string, string>; selection?: Record<string, unknown>; keyId?: string | null; status?: number; requestId?: string; added?: string[]; revoked?: string[]; removed?: string[] };
}

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const audits = () => lines.flatMap((l) => l.split('\n')).filter((l) => l.includes('"audit"')).map((l) => JSON.parse(l) as AuditLine);
  return { lines, stream, audits };
}

async function deadJob(app: Parameters<typeof call>[0], queue: string): Promise<string> {
  const id = (await call(app, 'POST', `/api/v1/queues/${queue}/jobs`, { name: 'x', payload: { secret: SECRET_NOTE }, opts: { maxRetries: 0 } }, bearer(admin.key))).body.id as string;
  const c = (await call(app, 'POST', `/api/v1/queues/${queue}/claim`, { workerId: 'w' }, bearer(admin.key))).body.jobs[0];
  await call(app, 'POST', `/api/v1/jobs/${id}/fail`, { attempt: c.attempt, leaseToken: c.leaseToken, error: { message: 'boom' } }, bearer(admin.key));
  return id;
}

for (const maker of BACKENDS) {
  describe(`${maker.name}: audit log`, () => {
    test('purge, replay, resolve, delete, cancel, pause and limits are logged with who, what and the outcome; refusals too; reads are not', async () => {
      const { lines, stream, audits } = capture();
      await withServer(
        maker,
        async ({ app }) => {
          const a = await deadJob(app, 'audited');
          const b = await deadJob(app, 'audited');
          const c = await deadJob(app, 'audited');
          assert.equal((await call(app, 'POST', '/api/v1/dlq/audited/replay', { ids: [a] }, bearer(admin.key))).status, 200);
          assert.equal((await call(app, 'POST', '/api/v1/dlq/audited/resolve', { ids: [b], note: SECRET_NOTE }, bearer(admin.key))).status, 200);
          assert.equal((await call(app, 'POST', '/api/v1/dlq/audited/purge', { ids: [c] }, bearer(admin.key))).status, 200);
          assert.equal((await call(app, 'POST', '/api/v1/dlq/audited/purge', { all: true }, bearer(viewer.key))).status, 403, 'refused: no dlq action');
          assert.equal((await call(app, 'POST', '/api/v1/dlq/audited/purge', { all: true })).status, 401, 'refused: no key');
          const q = (await call(app, 'POST', '/api/v1/queues/audited/jobs', { name: 'y' }, bearer(admin.key))).body.id as string;
          assert.equal((await call(app, 'POST', `/api/v1/jobs/${q}/cancel`, {}, bearer(admin.key))).status, 200);
          assert.equal((await call(app, 'DELETE', `/api/v1/jobs/${q}`, {}, bearer(admin.key))).status, 200);
          assert.equal((await call(app, 'POST', '/api/v1/queues/audited/pause', {}, bearer(admin.key))).status, 200);
          assert.equal((await call(app, 'PUT', '/api/v1/queues/audited/limits', { concurrency: 2 }, bearer(admin.key))).status, 200);
          assert.equal((await call(app, 'GET', '/api/v1/dlq/audited/jobs', undefined, bearer(admin.key))).status, 200);
          await waitFor(() => audits().length >= 9, 'the audit lines');
        },
        { auth: { keys: [admin.record, viewer.record] }, logger: { level: 'warn', stream } },
      );
      const seen = audits().filter((l) => l.audit.event === 'http');
      const find = (method: string, route: string, status: number) => seen.find((l) => l.audit.method === method && l.audit.route === route && l.audit.status === status);
      const replay = find('POST', '/api/v1/dlq/:queue/replay', 200);
      assert.ok(replay, 'replay logged');
      assert.equal(replay.audit.keyId, admin.record.id);
      assert.equal(replay.audit.action, 'dlq');
      assert.deepEqual(replay.audit.params, { queue: 'audited' });
      assert.deepEqual(replay.audit.selection, { ids: 1 });
      assert.match(String(replay.audit.requestId), /^[0-9a-f-]{36}$/);
      assert.match(replay.msg, /^spindle audit: POST \/api\/v1\/dlq\/:queue\/replay → 200$/);
      assert.ok(find('POST', '/api/v1/dlq/:queue/resolve', 200));
      assert.ok(find('POST', '/api/v1/dlq/:queue/purge', 200));
      assert.equal(find('POST', '/api/v1/dlq/:queue/purge', 403)?.audit.keyId, viewer.record.id, 'a refused purge names the key');
      assert.equal(find('POST', '/api/v1/dlq/:queue/purge', 401)?.audit.keyId, null, 'an anonymous attempt has no key');
      assert.equal(find('POST', '/api/v1/dlq/:queue/purge', 401)?.audit.selection, undefined, 'refused before the body is read');
      assert.ok(find('POST', '/api/v1/jobs/:id/cancel', 200));
      assert.ok(find('DELETE', '/api/v1/jobs/:id', 200));
      assert.ok(find('POST', '/api/v1/queues/:queue/pause', 200));
      assert.ok(find('PUT', '/api/v1/queues/:queue/limits', 200));
      assert.ok(!seen.some((l) => l.audit.method === 'GET'), 'reads are not audited');
      assert.ok(!seen.some((l) => l.audit.route === '/api/v1/queues/:queue/jobs'), 'enqueues are not audited');
      const text = lines.join('');
      assert.ok(!text.includes(SECRET_NOTE), 'no payload or note in the log');
      assert.ok(!text.includes(admin.key.split('_')[2]!), 'no key secret in the log');
    });
  });
}

describe('audit log of key changes', () => {
  test('a keys file change is logged with the added, revoked and removed ids', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spindle-audit-'));
    const file = join(dir, 'keys.json');
    const a = generateApiKey('a', [{ queues: ['*'], actions: ['read'] }]);
    const b = generateApiKey('b', [{ queues: ['*'], actions: ['read'] }]);
    const c = generateApiKey('c', [{ queues: ['*'], actions: ['read'] }]);
    await writeFile(file, JSON.stringify({ keys: [a.record, b.record] }));
    const { stream, audits, lines } = capture();
    try {
      await withServer(
        BACKENDS[0]!,
        async ({ app }) => {
          assert.equal((await call(app, 'GET', '/api/v1/queues', undefined, bearer(a.key))).status, 200);
          await new Promise((r) => setTimeout(r, 20));
          await writeFile(file, JSON.stringify({ keys: [{ ...a.record, revokedAt: new Date().toISOString() }, c.record] }));
          await waitFor(async () => (await call(app, 'GET', '/api/v1/queues', undefined, bearer(a.key))).status === 401, 'the revocation', 5000);
          await waitFor(() => audits().some((l) => l.audit.event === 'keys'), 'the key change line');
        },
        { auth: { keysFile: file }, logger: { level: 'warn', stream } },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const change = audits().find((l) => l.audit.event === 'keys')!;
    assert.deepEqual(change.audit.revoked, [a.record.id]);
    assert.deepEqual(change.audit.added, [c.record.id]);
    assert.deepEqual(change.audit.removed, [b.record.id]);
    assert.equal(change.msg, 'spindle audit: API keys file changed');
    for (const k of [a, b, c]) assert.ok(!lines.join('').includes(k.key.split('_')[2]!), 'no secret logged');
  });

  test('diffKeys tells additions, revocations, removals and other changes apart', () => {
    const a = generateApiKey('a', [{ queues: ['*'], actions: ['read'] }]).record;
    const b = generateApiKey('b', [{ queues: ['*'], actions: ['read'] }]).record;
    assert.deepEqual(diffKeys([a], [a]), { added: [], revoked: [], removed: [], changed: [] });
    assert.deepEqual(diffKeys([a], [{ ...a, scopes: [{ queues: ['x'], actions: ['read'] }] }, b]), { added: [b.id], revoked: [], removed: [], changed: [a.id] });
    assert.deepEqual(diffKeys([a, b], [{ ...a, revokedAt: 'now' }]), { added: [], revoked: [a.id], removed: [b.id], changed: [] });
  });
});
