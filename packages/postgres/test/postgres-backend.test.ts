/**
 * PostgreSQL-specific behaviour of PostgresBackend (the shared semantics are covered by the
 * conformance suite): migrations under concurrency, custom schemas, SKIP LOCKED claims across
 * instances, cross-process events through LISTEN/NOTIFY (including reconnects and chunking),
 * advisory-lock leadership, transactional enqueue, and the lifecycle.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import {
  BackendError,
  ClosedError,
  MigrationRequiredError,
  ValidationError,
  type JobEvent,
  type JobInsert,
  type SpindleEvent,
} from '@spindle/core';
import { PostgresBackend } from '../src/index.js';
import { dropSchema, makeTestBackend, makeTestBackendWith, randomSchema, TEST_PG_URL } from './helpers.js';

const KEEP = { completedMs: null, cancelledMs: null, deadMs: null };
let counter = 0;

function job(overrides: Partial<JobInsert> = {}): JobInsert {
  counter += 1;
  return {
    id: `pg-${counter}-${randomBytes(4).toString('hex')}`,
    queue: 'pg-test',
    name: 'task',
    payload: JSON.stringify({ n: counter }),
    priority: 500,
    maxRetries: 3,
    delayMs: null,
    runAt: null,
    uniqueKey: null,
    timeoutMs: null,
    backoff: null,
    retention: { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null },
    ...overrides,
  };
}

async function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs SQL on a connection of its own (outside any backend). */
async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Kills every server session whose application_name is `name`; returns how many. */
async function terminate(name: string): Promise<number> {
  const rows = await adminQuery<{ ok: boolean }>(
    'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
    [name],
  );
  return rows.length;
}

function jobEvents(events: SpindleEvent[], type: JobEvent['type']): JobEvent[] {
  return events.filter((e): e is JobEvent => e.type === type);
}

/** A second backend instance ("another process") on the schema of `schema`. */
function sibling(schema: string, applicationName?: string): PostgresBackend {
  return new PostgresBackend({ connectionString: TEST_PG_URL, schema, poolMax: 4, applicationName });
}

describe('migrations', () => {
  it('is idempotent and checkSchema passes once migrated', async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      assert.deepStrictEqual(await backend.migrate(), { applied: [], version: 1 });
      await backend.checkSchema();
      const rows = await adminQuery(`SELECT version, name, applied_at FROM "${backend.schema}".migrations`);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.name, '0001_init');
    } finally {
      await cleanup();
    }
  });

  it('checkSchema throws MigrationRequiredError on a schema that was never migrated', async () => {
    const backend = new PostgresBackend({ connectionString: TEST_PG_URL, schema: randomSchema() });
    try {
      await assert.rejects(backend.checkSchema(), MigrationRequiredError);
    } finally {
      await backend.close();
    }
  });

  it('three backends migrating one fresh schema at once apply it exactly once', async () => {
    const schema = randomSchema();
    const backends = [0, 1, 2].map(() => new PostgresBackend({ connectionString: TEST_PG_URL, schema, poolMax: 2 }));
    try {
      const results = await Promise.all(backends.map((b) => b.migrate()));
      assert.deepStrictEqual(results.map((r) => r.version), [1, 1, 1]);
      assert.deepStrictEqual(results.flatMap((r) => r.applied), ['0001_init']);
      await Promise.all(backends.map((b) => b.checkSchema()));
    } finally {
      await Promise.all(backends.map((b) => b.close()));
      await dropSchema(schema);
    }
  });

  it('uses a custom schema (created on demand, names quoted) and rejects invalid ones', async () => {
    const schema = `Spindle.Custom-${randomBytes(3).toString('hex')}`;
    const backend = new PostgresBackend({ connectionString: TEST_PG_URL, schema });
    try {
      await backend.migrate();
      const tables = await adminQuery<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
        [schema],
      );
      assert.deepStrictEqual(tables.map((t) => t.table_name), ['jobs', 'migrations', 'queues']);
      const [outcome] = await backend.insertJobs({ jobs: [job()] });
      assert.equal(outcome?.inserted, true);
    } finally {
      await backend.close();
      await dropSchema(schema);
    }
    for (const bad of ['bad"name', 'a b', '', 'x'.repeat(56), 'semi;colon']) {
      assert.throws(() => new PostgresBackend({ connectionString: TEST_PG_URL, schema: bad }), ValidationError, bad);
    }
  });
});

describe('jobs', () => {
  it('runs the main path: insert → claim → finalize; a stale token is fenced off', async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      const j = job({ uniqueKey: 'u1' });
      assert.deepStrictEqual(await backend.insertJobs({ jobs: [j] }), [{ id: j.id, inserted: true, state: 'queued' }]);
      const [claimed] = await backend.claimJobs({ queue: 'pg-test', workerId: 'w1', limit: 5, leaseMs: 30_000 });
      assert.ok(claimed);
      assert.match(claimed.leaseToken, /^[0-9a-f]{64}$/);
      const stale = { id: j.id, attempt: 1, leaseToken: '0'.repeat(64) };
      assert.deepStrictEqual(await backend.finalizeJobs({ items: [{ ...stale, kind: 'complete', result: '1' }], retention: KEEP }), ['lease_lost']);
      const lease = { id: claimed.id, attempt: claimed.attempt, leaseToken: claimed.leaseToken };
      assert.deepStrictEqual(await backend.finalizeJobs({ items: [{ ...lease, kind: 'complete', result: '{"done":true}' }], retention: KEEP }), ['ok']);
      assert.deepStrictEqual(await backend.finalizeJobs({ items: [{ ...lease, kind: 'complete', result: '2' }], retention: KEEP }), ['lease_lost']);
      const record = await backend.getJob(j.id);
      assert.equal(record?.state, 'completed');
      assert.deepStrictEqual(record?.result, { done: true });
    } finally {
      await cleanup();
    }
  });

  it('wraps driver errors in BackendError with the cause kept', async () => {
    const backend = new PostgresBackend({ connectionString: TEST_PG_URL, schema: randomSchema() });
    try {
      const err = await backend.getJob('x').then(
        () => assert.fail('getJob on a missing schema succeeded'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof BackendError);
      assert.equal((err.cause as { code?: string }).code, '42P01');
    } finally {
      await backend.close();
    }
  });

  it('never hands one job to two concurrent claimers (SKIP LOCKED, 4 instances, 500 jobs)', { timeout: 60_000 }, async () => {
    const { backend, schema, cleanup } = await makeTestBackend();
    const others = [1, 2, 3].map(() => sibling(schema));
    try {
      const ids = new Set<string>();
      for (let i = 0; i < 5; i++) {
        const batch = Array.from({ length: 100 }, () => job({ priority: Math.floor(Math.random() * 3) }));
        batch.forEach((b) => ids.add(b.id));
        await backend.insertJobs({ jobs: batch });
      }
      const claimedBy = new Map<string, number>();
      let duplicates = 0;
      const claimer = async (b: PostgresBackend, n: number) => {
        for (;;) {
          const claimed = await b.claimJobs({ queue: 'pg-test', workerId: `w${n}`, limit: 7, leaseMs: 60_000 });
          if (claimed.length === 0) return;
          for (const c of claimed) {
            if (claimedBy.has(c.id)) duplicates += 1;
            claimedBy.set(c.id, n);
          }
          const outcomes = await b.finalizeJobs({
            items: claimed.map((c) => ({ id: c.id, attempt: c.attempt, leaseToken: c.leaseToken, kind: 'complete' as const, result: null })),
            retention: KEEP,
          });
          assert.ok(outcomes.every((o) => o === 'ok'));
        }
      };
      await Promise.all([backend, ...others].map((b, n) => claimer(b, n)));
      assert.equal(duplicates, 0);
      assert.equal(claimedBy.size, 500);
      assert.deepStrictEqual(new Set(claimedBy.keys()), ids);
      assert.ok(new Set(claimedBy.values()).size > 1, 'only one claimer got work');
      const counts = await backend.countJobs({ queue: 'pg-test' });
      assert.deepStrictEqual(counts, [{ queue: 'pg-test', state: 'completed', count: 500 }]);
    } finally {
      await Promise.all(others.map((o) => o.close()));
      await cleanup();
    }
  });

  it('dedups concurrent inserts of the same ids and unique keys across instances', async () => {
    const { backend, schema, cleanup } = await makeTestBackend();
    const other = sibling(schema);
    try {
      const shared = Array.from({ length: 50 }, (_, i) => job({ id: `same-${i}`, uniqueKey: `key-${i}` }));
      const rekeyed = shared.map((s) => ({ ...s, id: `${s.id}-b` }));
      const [a, b] = await Promise.all([backend.insertJobs({ jobs: shared }), other.insertJobs({ jobs: rekeyed })]);
      for (let i = 0; i < 50; i++) {
        const winners = [a[i]!, b[i]!].filter((o) => o.inserted);
        assert.equal(winners.length, 1, `item ${i}: ${JSON.stringify([a[i], b[i]])}`);
        assert.equal(a[i]!.id, b[i]!.id, 'both outcomes name the one stored job');
      }
      const counts = await backend.countJobs();
      assert.deepStrictEqual(counts, [{ queue: 'pg-test', state: 'queued', count: 50 }]);
    } finally {
      await other.close();
      await cleanup();
    }
  });
  it('reports the job of a concurrent insert that committed while ours waited on it', async () => {
    const { backend, schema, cleanup } = await makeTestBackend();
    const other = sibling(schema);
    const client = await backend.pool.connect();
    try {
      const first = [job({ id: 'race-id' }), job({ uniqueKey: 'race-key' })];
      await client.query('BEGIN');
      await backend.insertJobs({ jobs: first, transaction: client });
      // Blocks on the uncommitted rows; after the commit its snapshot still cannot see them.
      const pending = other.insertJobs({ jobs: [job({ id: 'race-id', name: 'late' }), job({ uniqueKey: 'race-key' }), job()] });
      await sleep(200);
      await client.query('COMMIT');
      const outcomes = await pending;
      assert.deepStrictEqual(outcomes.slice(0, 2), [
        { id: 'race-id', inserted: false, state: 'queued' },
        { id: first[1]!.id, inserted: false, state: 'queued' },
      ]);
      assert.equal(outcomes[2]!.inserted, true);
      assert.equal((await backend.getJob('race-id'))?.name, 'task');
    } finally {
      client.release();
      await other.close();
      await cleanup();
    }
  });
  it('cancel re-examines a job that was claimed while the cancel waited for its row', async () => {
    const { backend, cleanup } = await makeTestBackend();
    const client = await backend.pool.connect();
    try {
      const j = job();
      await backend.insertJobs({ jobs: [j] });
      await client.query('BEGIN');
      await client.query(`UPDATE "${backend.schema}".jobs SET state = 'running', attempt = 1, lease_token = 't' WHERE id = $1`, [j.id]);
      const pending = backend.cancelJobs({ ids: [j.id], retention: KEEP });
      await sleep(200);
      await client.query('COMMIT');
      assert.deepStrictEqual(await pending, ['cancel_requested']);
      assert.equal((await backend.getJob(j.id))?.cancelRequested, true);
    } finally {
      client.release();
      await cleanup();
    }
  });

  it('the rescuer skips a running job whose row is being written, and respects a committed heartbeat', async () => {
    const { backend, cleanup } = await makeTestBackend();
    const client = await backend.pool.connect();
    try {
      const t0 = await backend.now();
      const at = (ms: number) => new Date(t0.getTime() + ms);
      await backend.insertJobs({ jobs: [job()], now: t0 });
      const [claimed] = await backend.claimJobs({ queue: 'pg-test', workerId: 'w', limit: 1, leaseMs: 1_000, now: t0 });
      assert.ok(claimed);
      const lease = { id: claimed.id, attempt: claimed.attempt, leaseToken: claimed.leaseToken };
      await client.query('BEGIN');
      await client.query(`SELECT 1 FROM "${backend.schema}".jobs WHERE id = $1 FOR UPDATE`, [claimed.id]);
      const started = Date.now();
      const none = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP, now: at(5_000) });
      assert.deepStrictEqual(none, { requeued: [], dead: [], cancelled: [] });
      assert.ok(Date.now() - started < 1_000, 'the rescuer waited on a locked row');
      await client.query('COMMIT');
      assert.deepStrictEqual((await backend.extendLeases({ leases: [lease], leaseMs: 60_000, now: at(5_000) }))[0]?.outcome, 'ok');
      assert.deepStrictEqual((await backend.rescueExpiredLeases({ limit: 10, retention: KEEP, now: at(6_000) })).requeued, []);
      assert.deepStrictEqual((await backend.rescueExpiredLeases({ limit: 10, retention: KEEP, now: at(70_000) })).requeued, [claimed.id]);
      const [outcome] = await backend.finalizeJobs({ items: [{ ...lease, kind: 'complete', result: null }], retention: KEEP });
      assert.equal(outcome, 'lease_lost', 'the rescued attempt is fenced off');
    } finally {
      client.release();
      await cleanup();
    }
  });
});

describe('events', () => {
  it('delivers events across instances through LISTEN/NOTIFY, and local events once', async () => {
    const { backend: a, schema, cleanup } = await makeTestBackend();
    const b = sibling(schema);
    try {
      const local: SpindleEvent[] = [];
      const remote: SpindleEvent[] = [];
      a.subscribe((e) => local.push(...e));
      b.subscribe((e) => remote.push(...e));
      await Promise.all([a.whenListening(), b.whenListening()]);

      const j = job();
      await a.insertJobs({ jobs: [j] });
      const [claimed] = await a.claimJobs({ queue: 'pg-test', workerId: 'w', limit: 1, leaseMs: 10_000 });
      assert.ok(claimed);
      await a.finalizeJobs({
        items: [{ id: j.id, attempt: 1, leaseToken: claimed.leaseToken, kind: 'complete', result: '{"r":1}' }],
        retention: KEEP,
      });
      await a.pauseQueue('pg-test');
      const expected = ['added', 'started', 'completed', 'paused'];
      await waitFor(() => remote.length >= 4, 'remote events');
      assert.deepStrictEqual(remote.map((e) => e.type), expected);
      const completed = jobEvents(remote, 'completed')[0]!;
      assert.equal(completed.jobId, j.id);
      assert.deepStrictEqual(completed.data, { r: 1 });
      assert.equal(completed.state, 'completed');
      await sleep(200);
      assert.deepStrictEqual(local.map((e) => e.type), expected, 'local events delivered once each');
      assert.equal(remote.length, 4);
    } finally {
      await b.close();
      await cleanup();
    }
  });

  it('chunks large event batches into NOTIFY payloads that all arrive', { timeout: 30_000 }, async () => {
    const { backend: a, schema, cleanup } = await makeTestBackend();
    const b = sibling(schema);
    try {
      const remote: SpindleEvent[] = [];
      b.subscribe((e) => remote.push(...e));
      await b.whenListening();
      const jobs = Array.from({ length: 300 }, () => job({ name: `n-${'x'.repeat(100)}` }));
      await a.insertJobs({ jobs });
      const claimed = await a.claimJobs({ queue: 'pg-test', workerId: 'w', limit: 300, leaseMs: 10_000 });
      assert.equal(claimed.length, 300);
      // Results of 1,000 two-byte characters: ~2 KB of event data each.
      await a.finalizeJobs({
        items: claimed.map((c) => ({ id: c.id, attempt: c.attempt, leaseToken: c.leaseToken, kind: 'complete' as const, result: JSON.stringify('é'.repeat(1000)) })),
        retention: KEEP,
      });
      await waitFor(() => jobEvents(remote, 'completed').length >= 300, '300 completed events');
      assert.equal(jobEvents(remote, 'added').length, 300);
      assert.equal(jobEvents(remote, 'started').length, 300);
      assert.equal(jobEvents(remote, 'completed')[0]!.data, 'é'.repeat(1000));
    } finally {
      await b.close();
      await cleanup();
    }
  });

  it('the listener reconnects after its connection is killed, and events flow again', { timeout: 30_000 }, async () => {
    const app = `spt-${randomBytes(4).toString('hex')}`;
    const { backend: a, schema, cleanup } = await makeTestBackend();
    const b = sibling(schema, app);
    try {
      const remote: SpindleEvent[] = [];
      b.subscribe((e) => remote.push(...e));
      await b.whenListening();
      assert.equal(await terminate(`${app}:listen`), 1);
      // Keep inserting until a job inserted after the kill is heard by b.
      await waitFor(async () => {
        const j = job();
        await a.insertJobs({ jobs: [j] });
        await sleep(100);
        return remote.some((e) => e.type === 'added' && e.jobId === j.id);
      }, 'an event after the reconnect', 15_000);
      const rows = await adminQuery('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [`${app}:listen`]);
      assert.equal(rows.length, 1, 'exactly one LISTEN connection');
    } finally {
      await b.close();
      await cleanup();
    }
  });
});

describe('leadership', () => {
  it('is exclusive, renews, passes over on release and when the holder connection dies', { timeout: 30_000 }, async () => {
    const appA = `spl-a-${randomBytes(3).toString('hex')}`;
    const { backend: a, schema, cleanup } = await makeTestBackendWith({ applicationName: appA });
    const b = sibling(schema);
    const lead = (x: PostgresBackend, holderId: string) => x.tryAcquireLeadership({ holderId, ttlMs: 10_000 });
    try {
      assert.equal(await lead(a, 'A'), true);
      assert.equal(await lead(b, 'B'), false);
      assert.equal(await lead(a, 'A'), true, 'renewal');
      assert.equal(await lead(a, 'A2'), false, 'another holder in the same instance');
      assert.equal(await lead(b, 'B'), false);

      await a.releaseLeadership('A');
      assert.equal(await lead(b, 'B'), true, 'B takes over after release');
      assert.equal(await lead(a, 'A'), false);
      await b.releaseLeadership('B');

      assert.equal(await lead(a, 'A'), true);
      assert.equal(await terminate(`${appA}:leader`), 1);
      await waitFor(() => lead(b, 'B'), 'B to take over from a dead leader connection');
      assert.equal(await lead(a, 'A'), false, 'A notices it lost leadership');
      await b.releaseLeadership('B');
      assert.equal(await lead(a, 'A'), true, 'A can lead again on a fresh connection');
    } finally {
      await b.close();
      await cleanup();
    }
  });
});

describe('transactional enqueue', () => {
  it('commit: jobs exist and their events arrive; rollback: no jobs, no events', { timeout: 30_000 }, async () => {
    const { backend: a, schema, cleanup } = await makeTestBackend();
    const b = sibling(schema);
    try {
      const seenA: SpindleEvent[] = [];
      const seenB: SpindleEvent[] = [];
      a.subscribe((e) => seenA.push(...e));
      b.subscribe((e) => seenB.push(...e));
      await Promise.all([a.whenListening(), b.whenListening()]);

      const client = await a.pool.connect();
      try {
        const committed = job();
        await client.query('BEGIN');
        await client.query(`CREATE TEMP TABLE side_effect (x int) ON COMMIT DROP`);
        const outcomes = await a.insertJobs({ jobs: [committed], transaction: client });
        assert.deepStrictEqual(outcomes, [{ id: committed.id, inserted: true, state: 'queued' }]);
        assert.equal(await b.getJob(committed.id), null, 'invisible before commit');
        await sleep(100);
        assert.equal(seenA.length + seenB.length, 0, 'no event before commit');
        await client.query('COMMIT');
        assert.equal((await b.getJob(committed.id))?.state, 'queued');
        await waitFor(() => seenA.some((e) => e.type === 'added' && e.jobId === committed.id), 'own instance event');
        await waitFor(() => seenB.some((e) => e.type === 'added' && e.jobId === committed.id), 'other instance event');

        const rolledBack = job();
        await client.query('BEGIN');
        await a.insertJobs({ jobs: [rolledBack], transaction: client });
        await client.query('ROLLBACK');
        assert.equal(await a.getJob(rolledBack.id), null);
        await sleep(300);
        assert.ok(![...seenA, ...seenB].some((e) => e.type === 'added' && e.jobId === rolledBack.id), 'event of a rolled-back insert');
        assert.equal(seenA.length, 1, 'the tx event reached the own instance exactly once');
      } finally {
        client.release();
      }
      await assert.rejects(a.insertJobs({ jobs: [job()], transaction: {} }), ValidationError);
    } finally {
      await b.close();
      await cleanup();
    }
  });
});

describe('lifecycle', () => {
  it('close is idempotent, later calls reject with ClosedError, and a caller pool stays open', async () => {
    const { backend, schema, cleanup } = await makeTestBackend();
    const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 2 });
    const onCallerPool = new PostgresBackend({ pool, schema });
    try {
      assert.equal((await onCallerPool.insertJobs({ jobs: [job()] }))[0]?.inserted, true);
      await onCallerPool.close();
      await onCallerPool.close();
      await assert.rejects(onCallerPool.getJob('x'), ClosedError);
      assert.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1, 'caller pool still usable');
      await backend.close();
      await backend.close();
      await assert.rejects(backend.claimJobs({ queue: 'q', workerId: 'w', limit: 1, leaseMs: 1 }), ClosedError);
    } finally {
      await pool.end();
      await cleanup();
    }
  });
});

after(async () => {
  // Nothing global to tear down: every test cleans its own schema.
});
