/**
 * PostgreSQL-specific behaviour of PostgresBackend (the shared semantics are covered by the
 * conformance suite): migrations under concurrency, custom schemas, SKIP LOCKED claims across
 * instances, cross-process events through LISTEN/NOTIFY (including reconnects and chunking),
 * advisory-lock leadership, transactional enqueue, and the lifecycle.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
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
import { relaxedClientConfig } from '../src/db.js';
import { migrations } from '../src/migrate.js';
import { EventHub } from '../src/events.js';
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

/** Every shipped migration and the version they lead to (the list grows with each migration). */
const ALL_MIGRATIONS = migrations().map((m) => m.name);
const LATEST = ALL_MIGRATIONS.length;

describe('migrations', () => {
  it('is idempotent and checkSchema passes once migrated', async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      assert.deepStrictEqual(await backend.migrate(), { applied: [], version: LATEST });
      await backend.checkSchema();
      const rows = await adminQuery(`SELECT version, name, applied_at FROM "${backend.schema}".migrations ORDER BY version`);
      assert.deepStrictEqual(rows.map((r) => r.name), ALL_MIGRATIONS);
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
      assert.deepStrictEqual(results.map((r) => r.version), [LATEST, LATEST, LATEST]);
      assert.deepStrictEqual(results.flatMap((r) => r.applied), ALL_MIGRATIONS);
      await Promise.all(backends.map((b) => b.checkSchema()));
    } finally {
      await Promise.all(backends.map((b) => b.close()));
      await dropSchema(schema);
    }
  });

  it('0002 upgrades a version-1 schema holding jobs: per-state partial indexes replace the state indexes', async () => {
    const schema = randomSchema();
    const q = `"${schema}"`;
    const init = readFileSync(new URL('../migrations/0001_init.sql', import.meta.url), 'utf8').replaceAll('{{schema}}', q);
    await adminQuery(`CREATE SCHEMA ${q}; ${init};
      CREATE TABLE ${q}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO ${q}.migrations (version, name) VALUES (1, '0001_init');
      INSERT INTO ${q}.jobs (id, queue, name, payload, state, priority, max_retries, created_at, run_at)
        SELECT 'v1-' || g, 'old', 'task', '{}', (ARRAY['queued', 'completed', 'dead', 'cancelled'])[1 + g % 4], 0, 0, now(), now()
        FROM generate_series(1, 40) g`);
    const backend = new PostgresBackend({ connectionString: TEST_PG_URL, schema });
    try {
      await assert.rejects(backend.checkSchema(), MigrationRequiredError);
      assert.deepStrictEqual(await backend.migrate(), { applied: ALL_MIGRATIONS.slice(1), version: LATEST });
      const indexes = await adminQuery<{ indexname: string; indexdef: string }>(
        `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'jobs' ORDER BY indexname`,
        [schema],
      );
      const names = indexes.map((i) => i.indexname);
      assert.ok(!names.includes('jobs_queue_state_idx') && !names.includes('jobs_state_idx'), names.join());
      for (const state of ['completed', 'dead', 'cancelled']) {
        const def = indexes.find((i) => i.indexname === `jobs_${state}_idx`)?.indexdef ?? '';
        assert.match(def, new RegExp(`\\(queue, seq\\) WHERE \\(state = '${state}'::text\\)$`), def);
      }
      assert.deepStrictEqual(
        (await backend.countJobs()).map((c) => `${c.state}:${c.count}`),
        ['cancelled:10', 'completed:10', 'dead:10', 'queued:10'],
      );
      assert.equal((await backend.listJobs({ filter: { states: ['dead'] }, limit: 100 })).jobs.length, 10);
    } finally {
      await backend.close();
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
      assert.deepStrictEqual(tables.map((t) => t.table_name), ['consumer_groups', 'group_members', 'group_offsets', 'group_rate_log', 'idempotency_keys', 'jobs', 'migrations', 'queue_rate_log', 'queues', 'schedules', 'stats', 'topic_messages', 'topic_partitions', 'topics', 'unique_keys', 'workers']);
      const [outcome] = await backend.insertJobs({ jobs: [job()] });
      assert.equal(outcome?.inserted, true);
      // The stores of 0003 live in the quoted schema too.
      await backend.upsertWorkers({ workers: [{ id: 'w', queue: 'q', host: 'h', concurrency: 1, busy: 0, kind: 'library' }] });
      assert.equal((await backend.claimIdempotencyKey({ scope: 's', key: 'k', requestHash: 'h', ttlMs: 1000 })).claimed, true);
      await backend.recordStats({ rows: [{ queue: 'q', completed: 1 }] });
      assert.deepStrictEqual(await backend.pruneStores({ workerExpiryMs: null, statsRetentionMs: null, limit: 10 }), { workers: 0, idempotencyKeys: 0, stats: 0 });
      // The schedules of 0005 too.
      const schedule = { name: 's', cron: null, everyMs: 1000, timezone: 'UTC', queue: 'q', jobName: 'j', payload: 'null', jobOptions: '{}', backfill: 0 };
      assert.equal((await backend.upsertSchedule({ schedule, paused: null, nextRunAt: new Date() })).created, true);
      assert.equal((await backend.dueSchedules({ limit: 10 })).due.length, 1);
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

  it('insert: a plain batch that meets an existing id is re-run with ON CONFLICT and answers every item exactly', async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      const events: SpindleEvent[] = [];
      backend.subscribe((e) => events.push(...e));
      const first = job();
      await backend.insertJobs({ jobs: [first] });
      const [a, b] = [job(), job({ delayMs: 60_000 })];
      assert.deepStrictEqual(await backend.insertJobs({ jobs: [a, { ...first, payload: '{"other":1}' }, b, a] }), [
        { id: a.id, inserted: true, state: 'queued' },
        { id: first.id, inserted: false, state: 'queued' },
        { id: b.id, inserted: true, state: 'scheduled' },
        { id: a.id, inserted: false, state: 'queued' },
      ]);
      assert.deepStrictEqual((await backend.getJob(first.id))?.payload, { n: Number(JSON.parse(first.payload).n) });
      // The next batches skip the plain attempt for a while; outcomes stay the same.
      const c = job();
      assert.deepStrictEqual(await backend.insertJobs({ jobs: [c] }), [{ id: c.id, inserted: true, state: 'queued' }]);
      await waitFor(() => events.length >= 4, 'added events');
      await sleep(50);
      assert.deepStrictEqual(events.map((e) => (e as JobEvent).jobId), [first.id, a.id, b.id, c.id], 'one added per inserted job');
      assert.deepStrictEqual(events.map((e) => (e as JobEvent).state), ['queued', 'queued', 'scheduled', 'queued']);
    } finally {
      await cleanup();
    }
  });

  it('finalize: a lease repeated in one batch ends its attempt once (the repeat finds it ended, or removed)', async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      const kept = job();
      const removed = job({ retention: { completedKeepMs: 0, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null } });
      await backend.insertJobs({ jobs: [kept, removed] });
      const claimed = await backend.claimJobs({ queue: 'pg-test', workerId: 'w', limit: 2, leaseMs: 30_000 });
      assert.equal(claimed.length, 2);
      const items = claimed.flatMap((c) => {
        const item = { id: c.id, attempt: c.attempt, leaseToken: c.leaseToken, kind: 'complete' as const, result: null };
        return [item, { ...item, result: '"again"' }];
      });
      const outcomes = await backend.finalizeJobs({ items, retention: KEEP });
      const byId = new Map(claimed.map((c, k) => [c.id, outcomes.slice(2 * k, 2 * k + 2)]));
      assert.deepStrictEqual(byId.get(kept.id), ['ok', 'lease_lost']);
      assert.deepStrictEqual(byId.get(removed.id), ['ok', 'not_found']);
      assert.equal((await backend.getJob(kept.id))?.result, null, 'the first item won');
      assert.equal(await backend.getJob(removed.id), null);
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

  it('delivers the same event objects locally and in another process, for every kind of change', { timeout: 30_000 }, async () => {
    const { backend: a, schema, cleanup } = await makeTestBackend();
    const b = sibling(schema);
    try {
      const local: SpindleEvent[] = [];
      const remote: SpindleEvent[] = [];
      a.subscribe((e) => local.push(...e));
      b.subscribe((e) => remote.push(...e));
      await b.whenListening();
      const removeOnComplete = { completedKeepMs: 0, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null };
      const [j1, j2, j3, j4] = [job({ name: 'one' }), job({ name: 'two' }), job({ delayMs: 60_000 }), job({ retention: removeOnComplete })];
      await a.insertJobs({ jobs: [j1, j2, j3] });
      await a.insertJobs({ jobs: [j4, j1] });
      const claimed = await a.claimJobs({ queue: 'pg-test', workerId: 'w', limit: 3, leaseMs: 30_000 });
      assert.equal(claimed.length, 3);
      const lease = (id: string) => {
        const c = claimed.find((x) => x.id === id)!;
        return { id: c.id, attempt: c.attempt, leaseToken: c.leaseToken };
      };
      await a.updateProgress({ items: [{ ...lease(j1.id), progress: '{"pct":10}' }, { ...lease(j2.id), progress: JSON.stringify('x'.repeat(2_000)) }] });
      const error = { attempt: 1, round: 0, kind: 'error' as const, name: 'Error', message: 'flaky', workerId: 'w', at: 1 };
      await a.finalizeJobs({
        items: [
          { ...lease(j1.id), kind: 'complete', result: '{"r":1}' },
          { ...lease(j2.id), kind: 'retry', error, delayMs: 5_000 },
          { ...lease(j4.id), kind: 'complete', result: '"gone"' },
        ],
        retention: KEEP,
      });
      await a.cancelJobs({ ids: [j3.id], retention: KEEP });
      await a.pauseQueue('pg-test');
      await a.resumeQueue('pg-test');
      await a.createTopic({ name: 'pg-topic', partitions: 3, retention: { maxAgeMs: null, maxBytes: null } });
      const msg = (partition: number, idempotencyKey: string | null = null) => ({ partition, key: null, value: '1', headers: null, idempotencyKey });
      await a.publish({ topic: 'pg-topic', messages: [msg(1), msg(1)] }); // one statement: one event
      await a.publish({ topic: 'pg-topic', messages: [msg(2, 'k'), msg(0), msg(2)] }); // a transaction: one event
      await a.publish({ topic: 'pg-topic', messages: [msg(2, 'k')] }); // only a duplicate: stores nothing, no event
      await waitFor(() => remote.length >= local.length && local.length >= 16, 'all events in both processes');
      await sleep(100);
      assert.deepStrictEqual(remote, local);
      const summary = local.map((e) =>
        'jobId' in e ? `${e.type}:${e.jobId}:${e.state}:${e.attempt}` : 'queue' in e ? `${e.type}:${e.queue}` : `${e.type}:${e.topic}:${e.partitions.join(',')}`,
      );
      assert.deepStrictEqual(summary, [
        `added:${j1.id}:queued:0`, `added:${j2.id}:queued:0`, `added:${j3.id}:scheduled:0`,
        `added:${j4.id}:queued:0`,
        ...claimed.map((c) => `started:${c.id}:running:1`),
        `progress:${j1.id}:running:1`, `progress:${j2.id}:running:1`,
        `completed:${j1.id}:completed:1`, `retrying:${j2.id}:retrying:1`, `completed:${j4.id}:completed:1`,
        `cancelled:${j3.id}:cancelled:0`,
        'paused:pg-test', 'resumed:pg-test',
        'published:pg-topic:1', 'published:pg-topic:0,2',
      ]);
      const find = (type: string, id: string) => local.find((e) => e.type === type && 'jobId' in e && e.jobId === id) as JobEvent;
      assert.deepStrictEqual(find('completed', j1.id), { ...find('completed', j1.id), name: 'one', queue: 'pg-test', data: { r: 1 } });
      assert.deepStrictEqual(find('progress', j1.id).data, { pct: 10 });
      assert.ok(!('data' in find('progress', j2.id)), 'data over 1 KiB is left out');
      assert.ok(!('data' in find('started', j1.id)));
      assert.deepStrictEqual(find('retrying', j2.id).data, { message: 'flaky', kind: 'error' });
      assert.equal(find('completed', j4.id).data, 'gone');
      for (const e of local) assert.ok(Number.isInteger(e.at) && Math.abs(e.at - Date.now()) < 60_000);
    } finally {
      await b.close();
      await cleanup();
    }
  });

  it('reads payloads of the former object format, ignores its own, and drops malformed ones', () => {
    const hub = new EventHub();
    const got: SpindleEvent[] = [];
    hub.subscribe((e) => got.push(...e));
    const legacy = { type: 'added', jobId: 'x', queue: 'q', name: 'n', state: 'queued', attempt: 0, at: 5 };
    hub.receive(JSON.stringify({ o: 'other', e: [legacy] }));
    hub.receive(`${hub.prefix}7,"c":[["added","y","q","n","queued",0]]}`);
    hub.receive('{"o":"other","t":9,"c":[["completed","z","q","n","completed",2,{"a":[1]}],["paused","q"],[1,2],"junk",["added"]]}');
    hub.receive('{"o":"other","c":[["added","w","q","n","queued",0]]}');
    hub.receive('not json');
    hub.receive('null');
    return new Promise<void>((resolve) => setImmediate(() => {
      assert.deepStrictEqual(got, [
        legacy,
        { type: 'completed', jobId: 'z', queue: 'q', name: 'n', state: 'completed', attempt: 2, at: 9, data: { a: [1] } },
        { type: 'paused', queue: 'q', at: 9 },
      ]);
      resolve();
    }));
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

/** A node of an `EXPLAIN (FORMAT JSON)` plan. */
interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function flatten(node: PlanNode, out: PlanNode[] = []): PlanNode[] {
  out.push(node);
  for (const child of node.Plans ?? []) flatten(child, out);
  return out;
}

/** The statement a backend call sends (not run: the pools answer no rows). */
async function captureStatement(backend: PostgresBackend, call: () => Promise<unknown>): Promise<pg.QueryConfig> {
  const pools = [backend.pool, backend['db'].relaxedPool] as unknown as Array<{ query: unknown }>;
  let captured: pg.QueryConfig | undefined;
  for (const pool of pools) {
    pool.query = async (config: pg.QueryConfig) => {
      captured ??= config;
      return { rows: [] };
    };
  }
  try {
    await call();
  } finally {
    for (const pool of pools) delete pool.query;
  }
  assert.ok(captured, 'no statement sent');
  return captured;
}

function sqlLiteral(client: pg.Client, value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (value instanceof Date) return client.escapeLiteral(value.toISOString());
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return client.escapeLiteral(String(value));
  if (Array.isArray(value) && value.every((v) => v === null || typeof v === 'string' || typeof v === 'number')) {
    const items = value.map((v) => (v === null ? 'NULL' : `"${String(v).replace(/["\\]/g, '\\$&')}"`));
    return client.escapeLiteral(`{${items.join(',')}}`);
  }
  throw new Error(`no SQL literal for ${typeof value}`);
}

/**
 * The plan nodes of `config` with its values (custom plan), and of its generic plan (what a
 * named statement runs after a few executions: parameters unknown to the planner). Runs in a
 * transaction that is rolled back (preparing executes the statement once).
 */
async function explainBoth(client: pg.Client, config: pg.QueryConfig): Promise<{ custom: PlanNode[]; generic: PlanNode[] }> {
  const values = (config.values ?? []) as unknown[];
  const custom = (await client.query(`EXPLAIN (FORMAT JSON) ${config.text}`, values)).rows[0]['QUERY PLAN'][0].Plan as PlanNode;
  const name = `spt_plan_${randomBytes(4).toString('hex')}`;
  await client.query('BEGIN');
  try {
    await client.query('SET LOCAL plan_cache_mode = force_generic_plan');
    await client.query({ name, text: config.text, values });
    const types = (await client.query('SELECT parameter_types::text[] AS t FROM pg_prepared_statements WHERE name = $1', [name])).rows[0]
      .t as string[];
    const args = values.map((v, i) => `${sqlLiteral(client, v)}::${types[i]}`);
    const generic = (await client.query(`EXPLAIN (FORMAT JSON) EXECUTE ${name}${args.length ? `(${args.join(', ')})` : ''}`)).rows[0][
      'QUERY PLAN'
    ][0].Plan as PlanNode;
    return { custom: flatten(custom), generic: flatten(generic) };
  } finally {
    await client.query('ROLLBACK');
    await client.query(`DEALLOCATE ${name}`);
  }
}

describe('indexes and plans', () => {
  it('state-filtered reads use the per-state partial indexes and never scan the table (100k mixed rows)', { timeout: 120_000 }, async () => {
    const { backend, schema, cleanup } = await makeTestBackend();
    const admin = new pg.Client({ connectionString: TEST_PG_URL });
    await admin.connect();
    try {
      // 30 % queued, 50 % completed, 8 % dead, 4 % cancelled, 4 % scheduled, 2 % retrying, 2 % running; 7 queues.
      await admin.query(`INSERT INTO "${schema}".jobs (id, queue, name, payload, state, priority, max_retries, created_at, run_at,
          finished_at, failure_reason, last_failed_at, lease_token, lease_expires_at)
        SELECT 'x' || g, 'q' || (g % 7), 'task', '{}', s.state, g % 3, 3, now(), now() + (g % 50) * interval '1 s',
          CASE WHEN s.state IN ('completed', 'dead', 'cancelled') THEN now() END,
          CASE WHEN s.state = 'dead' THEN 'reason ' || (g % 5) END, CASE WHEN s.state = 'dead' THEN now() END,
          CASE WHEN s.state = 'running' THEN md5(g::text) END, CASE WHEN s.state = 'running' THEN now() + interval '1 min' END
        FROM generate_series(1, 100000) g, LATERAL (SELECT CASE WHEN g % 100 < 30 THEN 'queued' WHEN g % 100 < 80 THEN 'completed'
          WHEN g % 100 < 88 THEN 'dead' WHEN g % 100 < 92 THEN 'cancelled' WHEN g % 100 < 96 THEN 'scheduled'
          WHEN g % 100 < 98 THEN 'retrying' ELSE 'running' END AS state) s`);
      await admin.query(`VACUUM ANALYZE "${schema}".jobs`);

      const ALL = ['jobs_claim_idx', 'jobs_due_idx', 'jobs_lease_idx', 'jobs_completed_idx', 'jobs_dead_idx', 'jobs_cancelled_idx'];
      const DEAD = ['jobs_dead_idx'];
      // Counting a state that holds half the table may honestly be cheaper as a scan while the
      // visibility map is cold (a concurrent test's open snapshot keeps VACUUM from marking the
      // fresh rows all-visible, so index-only scans are costed with heap visits): for counts the
      // property checked is that every per-state count *can* be served by its partial index
      // (seq scans disabled: a scan left in the plan means no index can serve it).
      const COST_BASED = new Set(['countJobs()', 'countJobs({ queue })']);
      const cases: Array<[string, () => Promise<unknown>, string[]]> = [
        ['countJobs()', () => backend.countJobs(), ALL],
        ['countJobs({ queue })', () => backend.countJobs({ queue: 'q3' }), ALL],
        ['listQueues()', () => backend.listQueues(), ['jobs_claim_idx', 'jobs_completed_idx', 'jobs_dead_idx', 'jobs_cancelled_idx']],
        ['oldestQueuedAt(queue)', () => backend.oldestQueuedAt('q3'), ['jobs_claim_idx']],
        ['dlqDepth()', () => backend.dlqDepth(), DEAD],
        ['dlqDepth({ queue })', () => backend.dlqDepth({ queue: 'q3' }), DEAD],
        ['dlqGroups()', () => backend.dlqGroups(), DEAD],
        ['dlqGroups({ queue })', () => backend.dlqGroups({ filter: { queue: 'q3' } }), DEAD],
        ['listJobs dead of a queue', () => backend.listJobs({ filter: { queue: 'q3', states: ['dead'] }, limit: 50 }), DEAD],
        ['listJobs unresolved dead of a queue', () => backend.listJobs({ filter: { queue: 'q3', resolved: false }, limit: 50, order: 'oldest' }), DEAD],
        [
          'listJobs dead and cancelled of a queue',
          () => backend.listJobs({ filter: { queue: 'q3', states: ['dead', 'cancelled'] }, limit: 50 }),
          ['jobs_dead_idx', 'jobs_cancelled_idx'],
        ],
        ['listJobs completed of a queue', () => backend.listJobs({ filter: { queue: 'q3', states: ['completed'] }, limit: 50 }), []],
        ['listJobs completed', () => backend.listJobs({ filter: { states: ['completed'] }, limit: 50 }), []],
        ['dlqReplay({ filter })', () => backend.dlqReplay({ filter: { queue: 'q3' }, limit: 100 }), DEAD],
        ['dlqPurge({ filter })', () => backend.dlqPurge({ filter: { queue: 'q3' }, limit: 100 }), DEAD],
        ['dlqResolve({ filter })', () => backend.dlqResolve({ filter: { queue: 'q3' }, limit: 100, note: 'n' }), DEAD],
      ];
      for (const [label, call, indexes] of cases) {
        const statement = await captureStatement(backend, call);
        if (COST_BASED.has(label)) await admin.query('SET enable_seqscan = off');
        const plans = await explainBoth(admin, statement).finally(() => admin.query('RESET enable_seqscan'));
        for (const [mode, nodes] of Object.entries(plans)) {
          const seq = nodes.filter((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'jobs');
          assert.equal(seq.length, 0, `${label} (${mode} plan) scans the jobs table`);
          const used = new Set(nodes.map((n) => n['Index Name']).filter(Boolean));
          for (const index of indexes) assert.ok(used.has(index), `${label} (${mode} plan) does not use ${index}: ${[...used].join(', ')}`);
        }
      }

      // The hot path finds its rows by primary key, whatever the (here stale: 0 running) estimates.
      const claim = await captureStatement(backend, () => backend.claimJobs({ queue: 'q3', workerId: 'w', limit: 500, leaseMs: 60_000 }));
      const claimed = await backend.claimJobs({ queue: 'q3', workerId: 'w', limit: 500, leaseMs: 60_000 });
      const finalize = await captureStatement(backend, () =>
        backend.finalizeJobs({
          items: claimed.map((c) => ({ id: c.id, attempt: c.attempt, leaseToken: c.leaseToken, kind: 'complete' as const, result: null })),
          retention: KEEP,
        }),
      );
      const extend = await captureStatement(backend, () => backend.extendLeases({ leases: claimed, leaseMs: 1_000 }));
      for (const [label, config] of [['claim', claim], ['finalize', finalize], ['extend', extend]] as const) {
        for (const [mode, nodes] of Object.entries(await explainBoth(admin, config))) {
          const jobScans = nodes.filter((n) => n['Relation Name'] === 'jobs' && /Scan/.test(n['Node Type']));
          assert.ok(!jobScans.some((n) => n['Node Type'] === 'Seq Scan'), `${label} (${mode}) scans the jobs table`);
          assert.ok(!jobScans.some((n) => n['Index Name'] === 'jobs_lease_idx'), `${label} (${mode}) reads lease_idx`);
          assert.ok(jobScans.some((n) => n['Index Name'] === 'jobs_pkey'), `${label} (${mode}) does not probe the primary key`);
        }
      }
    } finally {
      await admin.end();
      await cleanup();
    }
  });

  it('refuses a state outside the enum instead of putting it in SQL', async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      await assert.rejects(backend.listJobs({ filter: { states: ["dead') OR true --" as never] }, limit: 10 }), ValidationError);
      await assert.rejects(backend.dlqGroups({ filter: { states: ['nope' as never] } }), ValidationError);
    } finally {
      await cleanup();
    }
  });
});

/** The server session ids whose last statement contains `marker`, among those of `schema`. */
async function sessionsThatRan(schema: string, marker: string): Promise<number[]> {
  const rows = await adminQuery<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE position($1 in query) > 0 AND position($2 in query) > 0 AND pid <> pg_backend_pid()`,
    [`"${schema}".jobs`, marker],
  );
  return rows.map((r) => r.pid);
}

async function sessionOf(pool: pg.Pool): Promise<{ pid: number; syncCommit: string; timeout: string }> {
  const { rows } = await pool.query(
    `SELECT pg_backend_pid() AS pid, current_setting('synchronous_commit') AS sync_commit, current_setting('statement_timeout') AS timeout`,
  );
  return { pid: rows[0].pid, syncCommit: rows[0].sync_commit, timeout: rows[0].timeout };
}

describe('durability', () => {
  it('claims, heartbeats and progress commit with synchronous_commit off; inserts and finalizes durably', async () => {
    const { backend, schema, cleanup } = await makeTestBackend();
    try {
      const db = backend['db'];
      await backend.insertJobs({ jobs: [job(), job()] });
      const claimed = await backend.claimJobs({ queue: 'pg-test', workerId: 'w', limit: 2, leaseMs: 60_000 });
      assert.equal(claimed.length, 2);
      // One claim on a fresh relaxed pool: one session, which ran the claim.
      assert.equal(db.relaxedPool.totalCount, 1);
      const claimSessions = await sessionsThatRan(schema, `SET state = 'running'`);
      const relaxed = await sessionOf(db.relaxedPool);
      assert.deepStrictEqual(claimSessions, [relaxed.pid]);
      assert.equal(relaxed.syncCommit, 'off');

      const [first, second] = claimed as [(typeof claimed)[0], (typeof claimed)[0]];
      assert.equal((await backend.extendLeases({ leases: [first], leaseMs: 60_000 }))[0]?.outcome, 'ok');
      assert.deepStrictEqual(await sessionsThatRan(schema, 'SET lease_expires_at = c.now'), [relaxed.pid]);
      assert.deepStrictEqual(await backend.updateProgress({ items: [{ ...first, progress: '50' }] }), ['ok']);
      assert.deepStrictEqual(await sessionsThatRan(schema, 'SET progress = i.progress'), [relaxed.pid]);
      assert.equal(db.relaxedPool.totalCount, 1);

      // Inserts and finalizes (sequential: one session on the main pool) stay durable.
      await backend.finalizeJobs({
        items: [first, second].map((c) => ({ id: c.id, attempt: c.attempt, leaseToken: c.leaseToken, kind: 'complete' as const, result: null })),
        retention: KEEP,
      });
      assert.equal(backend.pool.totalCount, 1);
      const finalizeSessions = await sessionsThatRan(schema, `WHEN 'complete' THEN 'completed'`);
      const durable = await sessionOf(backend.pool);
      assert.deepStrictEqual(finalizeSessions, [durable.pid]);
      assert.equal(durable.syncCommit, 'on');
      assert.notEqual(durable.pid, relaxed.pid);
      await backend.insertJobs({ jobs: [job()] });
      // The insert's text is longer than pg_stat_activity keeps (1 KiB): its head identifies it.
      const lastQuery = async (pid: number) =>
        (await adminQuery<{ query: string }>('SELECT query FROM pg_stat_activity WHERE pid = $1', [pid]))[0]?.query ?? '';
      const insertHead = /^WITH clock AS [\s\S]*input AS \(\s*SELECT t\.id, CASE WHEN cardinality\(\$2::text\[\]\)/;
      assert.match(await lastQuery(durable.pid), insertHead);
      assert.doesNotMatch(await lastQuery(relaxed.pid), insertHead);

      const relaxedPool = db.relaxedPool;
      await backend.close();
      assert.equal(relaxedPool.ended, true, 'close() ends the relaxed pool');
    } finally {
      await cleanup();
    }
  });

  it('keeps options given in the URL or config next to synchronous_commit = off', async () => {
    const url = `${TEST_PG_URL}?options=${encodeURIComponent('-c statement_timeout=12345')}`;
    const fromUrl = relaxedClientConfig({ connectionString: url });
    assert.equal(new URL(fromUrl.connectionString!).searchParams.get('options'), '-c statement_timeout=12345 -c synchronous_commit=off');
    assert.deepStrictEqual(relaxedClientConfig({ options: '-c work_mem=8MB' }).options, '-c work_mem=8MB -c synchronous_commit=off');

    const schema = randomSchema();
    const backend = new PostgresBackend({ connectionString: url, schema, poolMax: 2 });
    try {
      await backend.migrate();
      await backend.insertJobs({ jobs: [job()] });
      assert.equal((await backend.claimJobs({ queue: 'pg-test', workerId: 'w', limit: 1, leaseMs: 1_000 })).length, 1);
      const relaxed = await sessionOf(backend['db'].relaxedPool);
      assert.deepStrictEqual([relaxed.syncCommit, relaxed.timeout], ['off', '12345ms']);
      const durable = await sessionOf(backend.pool);
      assert.deepStrictEqual([durable.syncCommit, durable.timeout], ['on', '12345ms']);
    } finally {
      await backend.close();
      await dropSchema(schema);
    }
  });

  it('with a caller pool, claims run on that pool, synchronously', async () => {
    const schema = randomSchema();
    const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 1 });
    const backend = new PostgresBackend({ pool, schema });
    try {
      await backend.migrate();
      assert.equal(backend['db'].relaxedPool, pool);
      await backend.insertJobs({ jobs: [job()] });
      assert.equal((await backend.claimJobs({ queue: 'pg-test', workerId: 'w', limit: 1, leaseMs: 1_000 })).length, 1);
      assert.equal((await sessionOf(pool)).syncCommit, 'on');
    } finally {
      await backend.close();
      await pool.end();
      await dropSchema(schema);
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
