/**
 * SQLite-specific behaviour of SqliteBackend: connection pragmas, migrations (idempotent and
 * safe when several processes migrate one file at once; 0001 → 0002 on a database with jobs),
 * durability per write (claims, heartbeats and progress relaxed, FULL restored), the main job
 * path, error wrapping, and event delivery (after commit, in-process; between two connections
 * via the outbox).
 * The backend-independent semantics are covered by the conformance suite.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import {
  BackendError,
  ClosedError,
  MigrationRequiredError,
  type JobInsert,
  type RetentionDefaults,
  type SpindleEvent,
} from '@spindle/core';
import { readFileSync } from 'node:fs';
import { Connection } from '../src/connection.js';
import { decodeOutbox, encodeOutbox, EventHub } from '../src/events.js';
import { SqliteBackend } from '../src/index.js';
import { resolveOptions } from '../src/options.js';
import { createStore, type Store } from '../src/tx.js';
import { sqliteMigrations } from '../src/migrate.js';
import { report, spawnFixture } from './children.js';
import { makeTestBackend } from './helpers.js';

const keepAll: RetentionDefaults = { completedMs: null, cancelledMs: null, deadMs: null };

function job(id: string, extra: Partial<JobInsert> = {}): JobInsert {
  return {
    id,
    queue: 'q',
    name: 'task',
    payload: JSON.stringify({ id }),
    priority: 500,
    maxRetries: 2,
    delayMs: null,
    runAt: null,
    uniqueKey: null,
    timeoutMs: null,
    backoff: null,
    retention: { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null },
    ...extra,
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spindle-sqlite-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});
let fileCounter = 0;
const freshPath = () => join(dir, `db-${++fileCounter}.sqlite`);

describe('connection', () => {
  test('applies WAL, synchronous FULL, busy_timeout and foreign_keys by default', async () => {
    const { backend, path, cleanup } = await makeTestBackend();
    try {
      assert.deepEqual(backend.settings(), { journalMode: 'wal', synchronous: 'FULL', busyTimeoutMs: 5000, foreignKeys: true });
      const raw = new Database(path, { readonly: true });
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      raw.close();
      assert.deepEqual(backend.capabilities, { multiProcess: true, crossProcessEvents: true, transactionalEnqueue: false });
      assert.equal(backend.kind, 'sqlite');
    } finally {
      await cleanup();
    }
  });

  test('honours synchronous NORMAL and a custom busy timeout', async () => {
    const backend = new SqliteBackend({ path: freshPath(), synchronous: 'NORMAL', busyTimeoutMs: 1234, autoMigrate: true });
    try {
      const settings = backend.settings();
      assert.equal(settings.synchronous, 'NORMAL');
      assert.equal(settings.busyTimeoutMs, 1234);
      await backend.checkSchema();
    } finally {
      await backend.close();
    }
  });

  test(':memory: works but reports itself single-process', async () => {
    const backend = new SqliteBackend({ path: ':memory:', autoMigrate: true });
    try {
      assert.equal(backend.capabilities.multiProcess, false);
      assert.equal(backend.capabilities.crossProcessEvents, false);
      const [outcome] = await backend.insertJobs({ jobs: [job('m1')] });
      assert.equal(outcome?.inserted, true);
    } finally {
      await backend.close();
    }
  });

  test('a write blocked past busy_timeout rejects with BackendError (SQLITE_BUSY as cause)', async () => {
    const path = freshPath();
    const backend = new SqliteBackend({ path, busyTimeoutMs: 100, autoMigrate: true });
    const blocker = new Database(path);
    try {
      blocker.exec('BEGIN IMMEDIATE');
      const error = await backend.insertJobs({ jobs: [job('busy')] }).then(
        () => assert.fail('insert should have failed'),
        (err: unknown) => err,
      );
      assert.ok(error instanceof BackendError, `got ${String(error)}`);
      assert.equal(error.code, 'backend_error');
      assert.match(String((error.cause as { code?: string }).code), /^SQLITE_BUSY/);
      blocker.exec('ROLLBACK');
      assert.equal((await backend.insertJobs({ jobs: [job('busy')] }))[0]?.inserted, true);
    } finally {
      blocker.close();
      await backend.close();
    }
  });

  test('close is idempotent and later calls reject with ClosedError', async () => {
    const backend = new SqliteBackend({ path: freshPath(), autoMigrate: true });
    await backend.close();
    await backend.close();
    await assert.rejects(backend.getJob('x'), ClosedError);
    assert.throws(() => backend.subscribe(() => {}), ClosedError);
  });
});

/** Every shipped migration and the version they lead to (the list grows with each migration). */
const ALL_MIGRATIONS = sqliteMigrations().map((m) => m.name);
const LATEST = sqliteMigrations().length;

describe('migrations', () => {
  test('checkSchema fails before migrate; migrate is idempotent', async () => {
    const backend = new SqliteBackend({ path: freshPath() });
    try {
      await assert.rejects(backend.checkSchema(), MigrationRequiredError);
      const first = await backend.migrate();
      assert.deepEqual(first, { applied: ALL_MIGRATIONS, version: LATEST });
      await backend.checkSchema();
      const second = await backend.migrate();
      assert.deepEqual(second, { applied: [], version: LATEST });
    } finally {
      await backend.close();
    }
  });

  test('two backends on one file migrate one after the other', async () => {
    const path = freshPath();
    const a = new SqliteBackend({ path });
    const b = new SqliteBackend({ path });
    try {
      const results = await Promise.all([a.migrate(), b.migrate()]);
      assert.deepEqual(results.map((r) => r.applied).flat().sort(), ALL_MIGRATIONS);
      await a.checkSchema();
      await b.checkSchema();
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('four processes migrating a brand-new file at once apply each migration exactly once', async () => {
    const path = freshPath();
    const children = Array.from({ length: 4 }, () => spawnFixture('migrate-child.ts', [path]));
    await Promise.all(children.map((c) => c.waitForLine((l) => l === 'ready')));
    for (const child of children) child.send('go');
    const results = await Promise.all(children.map(async (c) => report<{ applied: string[]; version: number }>(await c.exited)));
    assert.deepEqual(results.map((r) => r.version), [LATEST, LATEST, LATEST, LATEST]);
    assert.deepEqual(results.map((r) => r.applied).flat().sort(), ALL_MIGRATIONS);
    const raw = new Database(path, { readonly: true });
    try {
      assert.deepEqual(
        raw.prepare('SELECT version, name FROM spindle_migrations ORDER BY version').all(),
        ALL_MIGRATIONS.map((name, i) => ({ version: i + 1, name })),
      );
    } finally {
      raw.close();
    }
  });

  test('a database at version 1 with jobs in it migrates to the per-state partial indexes', async () => {
    const path = freshPath();
    const raw = new Database(path);
    raw.pragma('journal_mode = WAL');
    raw.exec('CREATE TABLE spindle_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    raw.exec(readFileSync(new URL('../migrations/0001_init.sql', import.meta.url), 'utf8'));
    raw.prepare("INSERT INTO spindle_migrations VALUES (1, '0001_init', 0)").run();
    const insert = raw.prepare(`INSERT INTO spindle_jobs (id, queue, name, payload, state, priority, max_retries, created_at, run_at)
      VALUES (?, ?, 'task', '{}', ?, 500, 0, 0, 0)`);
    const states = ['queued', 'completed', 'dead', 'cancelled', 'scheduled'];
    states.forEach((state, i) => insert.run(`v1-${i}`, i % 2 === 0 ? 'even' : 'odd', state));
    const backend = new SqliteBackend({ path });
    try {
      await assert.rejects(backend.checkSchema(), MigrationRequiredError);
      assert.deepEqual(await backend.migrate(), { applied: ALL_MIGRATIONS.slice(1), version: LATEST });
      await backend.checkSchema();
      const indexes = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'spindle_jobs' AND sql IS NOT NULL ORDER BY name").all();
      assert.deepEqual(indexes.map((r) => (r as { name: string }).name), [
        'spindle_jobs_cancelled_idx',
        'spindle_jobs_claim_idx',
        'spindle_jobs_completed_idx',
        'spindle_jobs_dead_idx',
        'spindle_jobs_due_idx',
        'spindle_jobs_expires_idx',
        'spindle_jobs_group_active_idx',
        'spindle_jobs_group_claim_idx',
        'spindle_jobs_lease_idx',
        'spindle_jobs_parent_idx',
        'spindle_jobs_unique_idx',
        'spindle_jobs_waiting_idx',
      ]);
      assert.deepEqual(raw.pragma('integrity_check', { simple: true }), 'ok');
      assert.deepEqual(await backend.countJobs(), [
        { queue: 'even', state: 'dead', count: 1 },
        { queue: 'even', state: 'queued', count: 1 },
        { queue: 'even', state: 'scheduled', count: 1 },
        { queue: 'odd', state: 'cancelled', count: 1 },
        { queue: 'odd', state: 'completed', count: 1 },
      ]);
      assert.deepEqual((await backend.listJobs({ filter: { states: ['dead'] }, limit: 10 })).jobs.map((j) => j.id), ['v1-2']);
    } finally {
      raw.close();
      await backend.close();
    }
  });
});

describe('durability per write (ADR 0007)', () => {
  /** Records, for each store transaction, whether it was relaxed and the synchronous level inside it. */
  function spyOnStore(backend: SqliteBackend): Array<{ relaxed: boolean; level: string }> {
    const store = (backend as unknown as { store: Store }).store;
    const seen: Array<{ relaxed: boolean; level: string }> = [];
    const { write, writeRelaxed } = store;
    const level = () => backend.settings().synchronous;
    Object.assign(store, {
      write: (fn: Parameters<Store['write']>[0]) => write((events) => (seen.push({ relaxed: false, level: level() }), fn(events))),
      writeRelaxed: (fn: Parameters<Store['write']>[0]) => writeRelaxed((events) => (seen.push({ relaxed: true, level: level() }), fn(events))),
    });
    return seen;
  }

  test('claims, heartbeats (leases and consumer groups) and progress commit at NORMAL; every other write at FULL; FULL between them', async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      const seen = spyOnStore(backend);
      const expectWrite = async (name: string, relaxed: boolean, action: () => Promise<unknown>) => {
        seen.length = 0;
        await action();
        assert.deepEqual(seen, [{ relaxed, level: relaxed ? 'NORMAL' : 'FULL' }], name);
        assert.equal(backend.settings().synchronous, 'FULL', `${name}: FULL restored`);
      };
      await expectWrite('insertJobs', false, () => backend.insertJobs({ jobs: [job('d1'), job('d2'), job('d3')] }));
      const claimed: Awaited<ReturnType<SqliteBackend['claimJobs']>> = [];
      await expectWrite('claimJobs', true, async () => claimed.push(...(await backend.claimJobs({ queue: 'q', workerId: 'w', limit: 3, leaseMs: 10_000 }))));
      const [a, b, c] = claimed as [(typeof claimed)[0], (typeof claimed)[0], (typeof claimed)[0]];
      await expectWrite('extendLeases', true, () => backend.extendLeases({ leases: [a, b], leaseMs: 10_000 }));
      await expectWrite('updateProgress', true, () => backend.updateProgress({ items: [{ ...a, progress: '50' }] }));
      await expectWrite('finalizeJobs', false, () => backend.finalizeJobs({ items: [{ ...a, kind: 'complete', result: null }], retention: keepAll }));
      await expectWrite('cancelJobs', false, () => backend.cancelJobs({ ids: [b.id], retention: keepAll }));
      const error = { attempt: 1, round: 0, kind: 'error' as const, name: 'Error', message: 'x', at: 0 };
      await expectWrite('finalize dead', false, () => backend.finalizeJobs({ items: [{ ...c, kind: 'dead', error, reason: 'r' }], retention: keepAll }));
      await expectWrite('dlqResolve', false, () => backend.dlqResolve({ ids: [c.id], limit: 1, note: 'n' }));
      await expectWrite('dlqReplay', false, () => backend.dlqReplay({ ids: [c.id], limit: 1 }));
      await expectWrite('dlqPurge', false, () => backend.dlqPurge({ ids: [c.id], limit: 1 }));
      await expectWrite('pauseQueue', false, () => backend.pauseQueue('q'));
      await expectWrite('promoteDueJobs', false, () => backend.promoteDueJobs({ limit: 10 }));
      await expectWrite('rescueExpiredLeases', false, () => backend.rescueExpiredLeases({ limit: 10, retention: keepAll }));
      await expectWrite('pruneJobs', false, () => backend.pruneJobs({ limit: 10 }));
      await expectWrite('tryAcquireLeadership', false, () => backend.tryAcquireLeadership({ holderId: 'h', ttlMs: 1000 }));
      // Topics: consumer-group heartbeats are relaxed like lease heartbeats; everything else is durable.
      const member = { topic: 'tp', group: 'g', memberId: 'm', sessionMs: 60_000, start: 'earliest' as const };
      await expectWrite('createTopic', false, () => backend.createTopic({ name: 'tp', partitions: 1, retention: { maxAgeMs: 1, maxBytes: null } }));
      await expectWrite('publish', false, () => backend.publish({ topic: 'tp', messages: [{ partition: 0, key: null, value: '1', headers: null, idempotencyKey: null }] }));
      await expectWrite('joinGroup', false, () => backend.joinGroup(member));
      await expectWrite('heartbeatGroup', true, () => backend.heartbeatGroup(member));
      await expectWrite('commitOffsets', false, () => backend.commitOffsets({ ...member, generation: 1, offsets: [{ partition: 0, offset: 1 }] }));
      await expectWrite('seekGroup', false, () => backend.seekGroup({ topic: 'tp', group: 'g', to: { kind: 'earliest' } }));
      await expectWrite('leaveGroup', false, () => backend.leaveGroup(member));
      await expectWrite('growTopic', false, () => backend.growTopic({ name: 'tp', partitions: 2 }));
      await expectWrite('pruneTopics', false, () => backend.pruneTopics({ limit: 10 }));
    } finally {
      await cleanup();
    }
  });

  test('FULL is back after a claim, heartbeat or progress write that throws (lock timeout, or a failure inside the transaction)', async () => {
    const path = freshPath();
    const backend = new SqliteBackend({ path, busyTimeoutMs: 50, autoMigrate: true });
    const other = new Database(path);
    const isFull = (when: string) => assert.equal(backend.settings().synchronous, 'FULL', when);
    try {
      await backend.insertJobs({ jobs: [job('t1'), job('t2')] });
      const claim = () => backend.claimJobs({ queue: 'q', workerId: 'w', limit: 1, leaseMs: 10_000 });
      const [lease] = await claim();
      assert.ok(lease);
      isFull('after a claim');
      const relaxedWrites = {
        claim,
        extend: () => backend.extendLeases({ leases: [lease], leaseMs: 10_000 }),
        progress: () => backend.updateProgress({ items: [{ ...lease, progress: '1' }] }),
      };

      other.exec('BEGIN IMMEDIATE');
      for (const [name, write] of Object.entries(relaxedWrites)) {
        await assert.rejects(write(), (err: unknown) => err instanceof BackendError && /busy/.test(err.message), name);
        isFull(`after a ${name} that timed out on the lock`);
      }
      other.exec('ROLLBACK');

      other.exec("CREATE TRIGGER refuse BEFORE UPDATE ON spindle_jobs BEGIN SELECT RAISE(ABORT, 'refused by test'); END");
      for (const [name, write] of Object.entries(relaxedWrites)) {
        await assert.rejects(write(), (err: unknown) => err instanceof BackendError && /refused by test/.test(err.message), name);
        isFull(`after a ${name} that failed inside its transaction`);
      }
      other.exec('DROP TRIGGER refuse');

      assert.deepEqual((await claim()).map((j) => j.id), ['t2'], 'the failed claims left t2 queued');
      isFull('after the last claim');
    } finally {
      other.close();
      await backend.close();
    }
  });

  test('the store: relaxed inside, configured level after, also when the transaction throws; NORMAL configured stays NORMAL', () => {
    for (const synchronous of ['FULL', 'NORMAL'] as const) {
      const conn = new Connection(resolveOptions({ path: freshPath(), synchronous }));
      const store = createStore(conn, new EventHub(conn, 50, true));
      const level = () => conn.settings().synchronous;
      try {
        assert.equal(store.writeRelaxed(level), 'NORMAL');
        assert.equal(level(), synchronous);
        assert.equal(store.write(level), synchronous);
        assert.equal(level(), synchronous);
        assert.throws(() => store.writeRelaxed(() => { throw new Error('inside'); }), /inside/);
        assert.equal(level(), synchronous);
        assert.equal(store.write(level), synchronous, 'a write after a failed relaxed one is at the configured level');
      } finally {
        conn.close();
      }
    }
  });
});

describe('job path', () => {
  test('insert → claim → complete; stale and unknown leases are fenced out', async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      const now = new Date('2030-01-01T00:00:00Z');
      const inserted = await backend.insertJobs({
        jobs: [job('a', { priority: 750 }), job('b', { priority: 250, uniqueKey: 'k' }), job('c', { uniqueKey: 'k' }), job('a')],
        now,
      });
      assert.deepEqual(inserted, [
        { id: 'a', inserted: true, state: 'queued' },
        { id: 'b', inserted: true, state: 'queued' },
        { id: 'b', inserted: false, state: 'queued' },
        { id: 'a', inserted: false, state: 'queued' },
      ]);
      const claimed = await backend.claimJobs({ queue: 'q', workerId: 'w1', limit: 10, leaseMs: 30_000, now });
      assert.deepEqual(claimed.map((c) => c.id), ['b', 'a']);
      const [b, a] = claimed as [(typeof claimed)[0], (typeof claimed)[0]];
      assert.match(b.leaseToken, /^[0-9a-f]{32}$/);
      assert.notEqual(a.leaseToken, b.leaseToken);
      assert.equal(b.attempt, 1);
      assert.deepEqual(b.payload, { id: 'b' });
      assert.equal(b.leaseExpiresAt.getTime(), now.getTime() + 30_000);

      const outcomes = await backend.finalizeJobs({
        items: [
          { id: b.id, attempt: b.attempt, leaseToken: b.leaseToken, kind: 'complete', result: '{"ok":true}' },
          { id: a.id, attempt: a.attempt, leaseToken: 'f'.repeat(32), kind: 'complete', result: null },
          { id: a.id, attempt: a.attempt + 1, leaseToken: a.leaseToken, kind: 'complete', result: null },
          { id: 'nope', attempt: 1, leaseToken: a.leaseToken, kind: 'complete', result: null },
          { id: b.id, attempt: b.attempt, leaseToken: b.leaseToken, kind: 'complete', result: null },
        ],
        retention: keepAll,
        now,
      });
      assert.deepEqual(outcomes, ['ok', 'lease_lost', 'lease_lost', 'not_found', 'lease_lost']);
      const stored = await backend.getJob('b');
      assert.equal(stored?.state, 'completed');
      assert.deepEqual(stored?.result, { ok: true });
      assert.equal(stored?.leaseExpiresAt, null);
      assert.equal((await backend.getJob('a'))?.state, 'running');

      // After a rescue, the old holder's token is dead even though it never saw the expiry.
      const rescued = await backend.rescueExpiredLeases({ limit: 10, retention: keepAll, now: new Date(now.getTime() + 60_000) });
      assert.deepEqual(rescued, { requeued: ['a'], dead: [], cancelled: [] });
      const late = await backend.extendLeases({ leases: [a], leaseMs: 30_000, now });
      assert.deepEqual(late, [{ outcome: 'lease_lost', cancelRequested: false }]);
      const [again] = await backend.claimJobs({ queue: 'q', workerId: 'w2', limit: 1, leaseMs: 30_000, now });
      assert.equal(again?.attempt, 2);
      assert.deepEqual(await backend.finalizeJobs({ items: [{ ...a, kind: 'complete', result: null }], retention: keepAll, now }), ['lease_lost']);
    } finally {
      await cleanup();
    }
  });

  test('removal on completion: a complete of a job with completedKeepMs 0 deletes its row, fenced, batched or alone', async () => {
    const { backend, path, cleanup } = await makeTestBackend();
    const raw = new Database(path, { readonly: true });
    try {
      const now = new Date('2030-01-01T00:00:00Z');
      const remove = { completedKeepMs: 0, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null };
      await backend.insertJobs({ jobs: [job('r1', { retention: remove }), job('k1'), job('r2', { retention: remove }), job('r3', { retention: remove })], now });
      const claimed = await backend.claimJobs({ queue: 'q', workerId: 'w', limit: 10, leaseMs: 30_000, now });
      const lease = (id: string) => claimed.find((c) => c.id === id)!;
      const events: SpindleEvent[] = [];
      backend.subscribe((batch) => events.push(...batch));
      const complete = (id: string, result: string | null, token = lease(id).leaseToken) =>
        ({ id, attempt: lease(id).attempt, leaseToken: token, kind: 'complete', result }) as const;
      // Batched (several completions of distinct jobs): a stale token is fenced out, the row stays.
      const batched = await backend.finalizeJobs({
        items: [complete('r1', '{"n":1}'), complete('k1', null), complete('r2', null, '0'.repeat(32))],
        retention: keepAll,
        now,
      });
      assert.deepEqual(batched, ['ok', 'ok', 'lease_lost']);
      assert.equal(await backend.getJob('r1'), null);
      assert.equal((await backend.getJob('k1'))?.state, 'completed');
      assert.equal((await backend.getJob('r2'))?.state, 'running');
      // Alone; then any later write for the attempt finds no row.
      assert.deepEqual(await backend.finalizeJobs({ items: [complete('r2', '"done"')], retention: keepAll, now }), ['ok']);
      assert.deepEqual(await backend.finalizeJobs({ items: [complete('r2', null)], retention: keepAll, now }), ['not_found']);
      assert.deepEqual(await backend.extendLeases({ leases: [lease('r1')], leaseMs: 1000, now }), [{ outcome: 'not_found', cancelRequested: false }]);
      // A batch naming a job twice: removed by the first item, the second is not_found; an earlier miss of it is lease_lost.
      const r3 = lease('r3');
      const twice = await backend.finalizeJobs({
        items: [{ ...r3, attempt: 9, kind: 'retry', error: { attempt: 1, round: 0, kind: 'error', name: 'E', message: 'm', at: 0 }, delayMs: 0 }, complete('r3', null), { ...r3, kind: 'release' }],
        retention: keepAll,
        now,
      });
      assert.deepEqual(twice, ['lease_lost', 'ok', 'not_found']);
      assert.deepEqual(raw.prepare('SELECT id FROM spindle_jobs ORDER BY id').pluck().all(), ['k1']);
      await tick();
      assert.deepEqual(
        events.map((e) => e.type === 'completed' && [e.jobId, e.state, e.attempt, e.data]),
        [['r1', 'completed', 1, { n: 1 }], ['k1', 'completed', 1, undefined], ['r2', 'completed', 1, 'done'], ['r3', 'completed', 1, undefined]],
      );
    } finally {
      raw.close();
      await cleanup();
    }
  });

  test('a failed batch rolls back entirely and publishes nothing', async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      const events: SpindleEvent[] = [];
      backend.subscribe((batch) => events.push(...batch));
      const bad = { ...job('bad'), payload: null as unknown as string };
      await assert.rejects(backend.insertJobs({ jobs: [job('good'), bad] }), BackendError);
      await sleep(20);
      assert.equal(await backend.getJob('good'), null);
      assert.deepEqual(events, []);
    } finally {
      await cleanup();
    }
  });
});

describe('events', () => {
  test('local subscribers get each transaction after it committed, once, on a later tick', async () => {
    const { backend, path, cleanup } = await makeTestBackend();
    const reader = new Database(path, { readonly: true });
    try {
      const batches: SpindleEvent[][] = [];
      const visibleToOthers: boolean[] = [];
      const unsubscribe = backend.subscribe((batch) => {
        batches.push(batch);
        // Committed: another connection already sees the row.
        visibleToOthers.push(reader.prepare('SELECT 1 FROM spindle_jobs WHERE id = ?').get('e1') !== undefined);
      });
      const pending = backend.insertJobs({ jobs: [job('e1'), job('e2')] });
      assert.equal(batches.length, 0, 'never delivered synchronously');
      await pending;
      await tick();
      assert.equal(batches.length, 1);
      assert.deepEqual(batches[0]!.map((e) => [e.type, 'jobId' in e ? e.jobId : null]), [['added', 'e1'], ['added', 'e2']]);
      assert.deepEqual(visibleToOthers, [true]);

      await backend.pauseQueue('q');
      await tick();
      assert.equal(batches[1]?.[0]?.type, 'paused');
      // The outbox poller must not hand our own events back to us.
      await sleep(200);
      assert.equal(batches.length, 2);
      unsubscribe();
      await backend.resumeQueue('q');
      await tick();
      assert.equal(batches.length, 2);
    } finally {
      reader.close();
      await cleanup();
    }
  });

  test('a second connection on the file receives the first one’s events through the outbox', async () => {
    const { backend: a, path, cleanup } = await makeTestBackend();
    const b = new SqliteBackend({ path, eventPollMs: 10 });
    try {
      const received: SpindleEvent[] = [];
      b.subscribe((batch) => received.push(...batch));
      await a.insertJobs({ jobs: [job('x1')] });
      const [claimed] = await a.claimJobs({ queue: 'q', workerId: 'w', limit: 1, leaseMs: 10_000 });
      await a.finalizeJobs({ items: [{ ...claimed!, kind: 'complete', result: '7' }], retention: keepAll });
      for (let i = 0; i < 100 && received.length < 3; i++) await sleep(10);
      assert.deepEqual(received.map((e) => e.type), ['added', 'started', 'completed']);
      assert.deepEqual(received[2], { type: 'completed', jobId: 'x1', queue: 'q', name: 'task', state: 'completed', attempt: 1, at: received[2]!.at, data: 7 });
    } finally {
      await b.close();
      await cleanup();
    }
  });

  test('another connection hears a commit through the WAL file at once, long before its poll timer', async () => {
    const { backend: a, path, cleanup } = await makeTestBackend();
    const b = new SqliteBackend({ path, eventPollMs: 60_000 });
    try {
      const received: SpindleEvent[] = [];
      b.subscribe((batch) => received.push(...batch));
      for (let round = 0; round < 3; round++) {
        const started = Date.now();
        await a.insertJobs({ jobs: [job(`w${round}`)] });
        while (received.length <= round && Date.now() - started < 2000) await sleep(2);
        assert.equal(received.length, round + 1, `event ${round} arrived`);
        assert.ok(Date.now() - started < 1000, `within a second, not the 60 s timer (${Date.now() - started} ms)`);
      }
    } finally {
      await b.close();
      await cleanup();
    }
  });

  test('the outbox body: runs of like job events are compact, everything round-trips, the first format still reads', () => {
    const at = 1_900_000_000_000;
    const added = (i: number, extra: object = {}) => ({ type: 'added', jobId: `job-${i}`, queue: 'q', name: 'task', state: 'queued', attempt: 0, at, ...extra });
    const events = [
      ...Array.from({ length: 1000 }, (_, i) => added(i)),
      added(1000, { state: 'scheduled' }),
      added(1001, { name: 'other', state: 'scheduled' }),
      { type: 'completed', jobId: 'c', queue: 'q', name: 'task', state: 'completed', attempt: 2, at, data: { ok: true } },
      { type: 'completed', jobId: 'd', queue: 'q', name: 'task', state: 'completed', attempt: 2, at, data: null },
      { type: 'paused', queue: 'q', at },
      added(1002),
      added(1003, { at: at + 1 }),
    ] as SpindleEvent[];
    const body = encodeOutbox(events);
    assert.ok(body.length < 1000 * 16, `${body.length} bytes`);
    assert.deepEqual(decodeOutbox(body), events);
    assert.deepEqual(decodeOutbox(JSON.stringify(events)), events);
    assert.throws(() => decodeOutbox('{"v":3,"e":[]}'), /unknown outbox body format/);
  });

  test('pruning keeps the newest outbox row so sequence numbers never go backwards', async () => {
    const { backend, path, cleanup } = await makeTestBackend();
    const raw = new Database(path);
    try {
      await backend.insertJobs({ jobs: [job('p1')] });
      await backend.insertJobs({ jobs: [job('p2')] });
      raw.prepare('UPDATE spindle_events SET at = at - 120000').run();
      await backend.pruneJobs({ limit: 100 });
      const rows = raw.prepare('SELECT seq FROM spindle_events').all() as Array<{ seq: number }>;
      assert.equal(rows.length, 1);
      await backend.insertJobs({ jobs: [job('p3')] });
      const max = raw.prepare('SELECT max(seq) AS seq FROM spindle_events').get() as { seq: number };
      assert.ok(max.seq > rows[0]!.seq);
    } finally {
      raw.close();
      await cleanup();
    }
  });
});
