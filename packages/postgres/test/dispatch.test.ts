/**
 * Direct dispatch on PostgreSQL (insertJobs with `dispatch`), the parts the shared conformance
 * suite cannot see: which statement runs (the plain INSERT first, ON CONFLICT after a duplicate
 * id, the unchanged statements when nothing can be dispatched), the claim's token format, the
 * events in another process (NOTIFY, also chunked) equal to the local ones, `transaction`
 * ignoring dispatch, the documented behaviour when a conflicting insert commits after our
 * snapshot, the plans of both dispatch statements on a large table, and that the plan cache
 * settles on their generic plans.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import type { DispatchRequest, InsertOutcome, JobEvent, JobInsert, SpindleEvent } from '@spindle/core';
import { PostgresBackend } from '../src/index.js';
import { makeTestBackend, makeTestBackendWith, TEST_PG_URL } from './helpers.js';

const QUEUE = 'pg-dispatch';
const KEEP = { completedMs: null, cancelledMs: null, deadMs: null };
let counter = 0;

function job(overrides: Partial<JobInsert> = {}): JobInsert {
  counter += 1;
  return {
    id: `pd-${counter}-${randomBytes(4).toString('hex')}`,
    queue: QUEUE,
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

function request(overrides: Partial<DispatchRequest> = {}): DispatchRequest {
  return { queue: QUEUE, workerId: 'w-d', leaseMs: 30_000, limit: 10, ...overrides };
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

function sibling(schema: string, applicationName?: string): PostgresBackend {
  return new PostgresBackend({ connectionString: TEST_PG_URL, schema, poolMax: 4, applicationName });
}

/** Waits until a session of `applicationName` waits on a lock (our insert blocked on an uncommitted row). */
async function blockedOnLock(applicationName: string): Promise<void> {
  const admin = new pg.Client({ connectionString: TEST_PG_URL });
  await admin.connect();
  try {
    await waitFor(
      async () =>
        (
          await admin.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [applicationName])
        ).rows.length > 0,
      'the insert to wait on the uncommitted row',
    );
  } finally {
    await admin.end();
  }
}

/** Records the name of every statement the backend's main pool runs while `call` runs. */
async function statementNames(backend: PostgresBackend, call: () => Promise<unknown>): Promise<string[]> {
  const pool = backend.pool as unknown as { query: (config: pg.QueryConfig) => Promise<unknown> };
  const original = pool.query;
  const names: string[] = [];
  pool.query = function (this: unknown, config: pg.QueryConfig) {
    names.push(config.name ?? '<unnamed>');
    return original.call(this, config);
  };
  try {
    await call();
  } finally {
    pool.query = original;
  }
  // Prepared statement names are `<prefix>_<schema hash>_<name>`: keep the name.
  return names.map((n) => n.replace(/^.*?_(insert\w*)$/, '$1'));
}

function dispatchedIds(outcomes: InsertOutcome[]): string[] {
  return outcomes.filter((o) => o.claimed).map((o) => o.id);
}

describe('dispatch: statements', () => {
  it('without a dispatchable job, inserts run the statements without dispatch', async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      const plain = await statementNames(backend, () => backend.insertJobs({ jobs: [job()] }));
      const emptyList = await statementNames(backend, () => backend.insertJobs({ jobs: [job()], dispatch: [] }));
      const otherQueue = await statementNames(backend, () => backend.insertJobs({ jobs: [job()], dispatch: [request({ queue: 'elsewhere' })] }));
      const delayed = await statementNames(backend, () => backend.insertJobs({ jobs: [job({ delayMs: 1_000 })], dispatch: [request()] }));
      const future = await statementNames(backend, () =>
        backend.insertJobs({ jobs: [job({ runAt: new Date(Date.now() + 60_000) })], dispatch: [request()], now: new Date() }),
      );
      for (const names of [plain, emptyList, otherQueue, delayed, future]) assert.deepStrictEqual(names, ['insert_plain']);
      const dispatching = await statementNames(backend, () => backend.insertJobs({ jobs: [job()], dispatch: [request()] }));
      assert.deepStrictEqual(dispatching, ['insert_plain_dispatch'], 'one round trip');
    } finally {
      await cleanup();
    }
  });

  it('a plain dispatching batch that meets an existing id is re-run with ON CONFLICT; duplicates take no slot', async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      const existing = job();
      await backend.insertJobs({ jobs: [existing] });
      const [a, b, c] = [job(), job(), job()];
      let outcomes: InsertOutcome[] = [];
      const names = await statementNames(backend, async () => {
        outcomes = await backend.insertJobs({ jobs: [{ ...existing, name: 'other' }, a, b, c, a], dispatch: [request({ limit: 2 })] });
      });
      assert.deepStrictEqual(names, ['insert_plain_dispatch', 'insert_dispatch']);
      assert.deepStrictEqual(
        outcomes.map((o) => [o.id, o.inserted, o.state, o.claimed !== undefined]),
        [
          [existing.id, false, 'queued', false],
          [a.id, true, 'running', true],
          [b.id, true, 'running', true],
          [c.id, true, 'queued', false],
          [a.id, false, 'running', false],
        ],
      );
      assert.equal((await backend.getJob(existing.id))?.name, 'task');
      // The fast path is paused: the next dispatching batches go the general way, with dispatch.
      const d = job();
      const again = await statementNames(backend, async () => {
        outcomes = await backend.insertJobs({ jobs: [d], dispatch: [request({ limit: 1 })] });
      });
      assert.deepStrictEqual(again, ['insert_dispatch']);
      assert.deepStrictEqual(dispatchedIds(outcomes), [d.id]);
    } finally {
      await cleanup();
    }
  });

  it('on the ON CONFLICT path: unique keys held in the store or earlier in the batch take no slot', async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      const holder = job({ uniqueKey: 'held' });
      const byId = job();
      await backend.insertJobs({ jobs: [holder, byId] });
      // `late` has a new id but the key of `first` (earlier in the batch, new id): it is the duplicate.
      // `freed` has the key of an existing job whose own id repeats (`byIdAgain` is skipped), so it is new.
      const first = job({ uniqueKey: 'k1' });
      const late = job({ uniqueKey: 'k1' });
      const byIdAgain = { ...byId, uniqueKey: 'k2' };
      const freed = job({ uniqueKey: 'k2' });
      const heldAgain = job({ uniqueKey: 'held' });
      const other = job({ queue: 'other-queue', uniqueKey: 'k1' });
      const last = job();
      const outcomes = await backend.insertJobs({
        jobs: [heldAgain, first, late, byIdAgain, freed, other, last],
        dispatch: [request({ limit: 3 }), request({ queue: 'other-queue', limit: 1 })],
      });
      assert.deepStrictEqual(
        outcomes.map((o) => [o.id, o.inserted, o.state, o.claimed !== undefined]),
        [
          [holder.id, false, 'queued', false],
          [first.id, true, 'running', true],
          [first.id, false, 'running', false],
          [byId.id, false, 'queued', false],
          [freed.id, true, 'running', true],
          [other.id, true, 'running', true],
          [last.id, true, 'running', true],
        ],
      );
      const claimed = await backend.claimJobs({ queue: QUEUE, workerId: 'w', limit: 10, leaseMs: 1_000 });
      assert.deepStrictEqual(claimed.map((c) => c.id), [holder.id, byId.id]);
    } finally {
      await cleanup();
    }
  });

  it('limit 1,000 in a batch of 1,800 (600 delayed): exactly the first 1,000 due jobs', { timeout: 30_000 }, async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      const jobs = Array.from({ length: 1_800 }, (_, i) => job(i % 3 === 0 ? { delayMs: 60_000 } : {}));
      const outcomes = await backend.insertJobs({ jobs, dispatch: [request({ limit: 1_000 })] });
      const due = jobs.filter((_, i) => i % 3 !== 0).map((j) => j.id);
      assert.deepStrictEqual(dispatchedIds(outcomes), due.slice(0, 1_000));
      const tokens = new Set(outcomes.filter((o) => o.claimed).map((o) => o.claimed!.leaseToken));
      assert.equal(tokens.size, 1_000, 'every dispatched job has a token of its own');
      const counts = await backend.countJobs({ queue: QUEUE });
      assert.deepStrictEqual(
        Object.fromEntries(counts.filter((c) => c.count > 0).map((c) => [c.state, c.count])),
        { queued: 200, running: 1_000, scheduled: 600 },
      );
    } finally {
      await cleanup();
    }
  });

  it('issues tokens the way a claim does: 64 hex characters', async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      const [outcome] = await backend.insertJobs({ jobs: [job()], dispatch: [request()] });
      assert.match(outcome!.claimed!.leaseToken, /^[0-9a-f]{64}$/);
      await backend.insertJobs({ jobs: [job()] });
      const [claimed] = await backend.claimJobs({ queue: QUEUE, workerId: 'w', limit: 1, leaseMs: 1_000 });
      assert.equal(claimed!.leaseToken.length, outcome!.claimed!.leaseToken.length);
      // The database clock: the lease runs from the row's start time.
      const record = await backend.getJob(outcome!.id);
      assert.deepStrictEqual(record!.leaseExpiresAt, new Date(record!.startedAt!.getTime() + 30_000));
      assert.deepStrictEqual(outcome!.claimed!.leaseExpiresAt, record!.leaseExpiresAt);
      assert.deepStrictEqual(outcome!.claimed!.createdAt, record!.createdAt);
      assert.deepStrictEqual(outcome!.claimed!.runAt, record!.runAt);
    } finally {
      await cleanup();
    }
  });

  it('ignores dispatch inside a caller transaction: the jobs are queued', async () => {
    const { backend, cleanup } = await makeTestBackend();
    const client = await backend.pool.connect();
    try {
      const [a, b] = [job(), job({ uniqueKey: 'tx-key' })];
      await client.query('BEGIN');
      const outcomes = await backend.insertJobs({ jobs: [a, b], transaction: client, dispatch: [request()] });
      await client.query('COMMIT');
      assert.deepStrictEqual(outcomes, [
        { id: a.id, inserted: true, state: 'queued' },
        { id: b.id, inserted: true, state: 'queued' },
      ]);
      assert.equal((await backend.getJob(a.id))?.attempt, 0);
    } finally {
      client.release();
      await cleanup();
    }
  });
});

describe('dispatch: concurrency', () => {
  it('a conflicting insert committed after our snapshot: never a duplicate dispatched, the rest queued (documented)', async () => {
    const { backend, schema, cleanup } = await makeTestBackend();
    const app = `spd-${randomBytes(4).toString('hex')}`;
    const other = sibling(schema, app);
    const client = await backend.pool.connect();
    try {
      await client.query('BEGIN');
      await backend.insertJobs({ jobs: [job({ id: 'late-id' })], transaction: client });
      // With a unique key the batch takes the ON CONFLICT path at once; its snapshot cannot see
      // late-id, so late-id is predicted new and holds the only slot, then turns out a duplicate.
      const fresh = job();
      const pending = other.insertJobs({ jobs: [job({ id: 'late-id', uniqueKey: 'u' }), fresh], dispatch: [request({ limit: 1 })] });
      await blockedOnLock(app);
      await client.query('COMMIT');
      const outcomes = await pending;
      assert.deepStrictEqual(outcomes, [
        { id: 'late-id', inserted: false, state: 'queued' },
        { id: fresh.id, inserted: true, state: 'queued' },
      ]);
      const claimed = await backend.claimJobs({ queue: QUEUE, workerId: 'w', limit: 10, leaseMs: 1_000 });
      assert.deepStrictEqual(claimed.map((c) => [c.id, c.attempt]), [['late-id', 1], [fresh.id, 1]]);
    } finally {
      client.release();
      await other.close();
      await cleanup();
    }
  });

  it('a conflicting insert that rolls back: the waiting row is inserted and dispatched', async () => {
    const { backend, schema, cleanup } = await makeTestBackend();
    const app = `spd-${randomBytes(4).toString('hex')}`;
    const other = sibling(schema, app);
    const client = await backend.pool.connect();
    try {
      await client.query('BEGIN');
      await backend.insertJobs({ jobs: [job({ id: 'rolled-back' })], transaction: client });
      const fresh = job();
      const pending = other.insertJobs({ jobs: [job({ id: 'rolled-back', uniqueKey: 'u' }), fresh], dispatch: [request({ limit: 1 })] });
      await blockedOnLock(app);
      await client.query('ROLLBACK');
      const outcomes = await pending;
      assert.deepStrictEqual(dispatchedIds(outcomes), ['rolled-back']);
      assert.deepStrictEqual(outcomes[1], { id: fresh.id, inserted: true, state: 'queued' });
    } finally {
      client.release();
      await other.close();
      await cleanup();
    }
  });
});

describe('dispatch: events', () => {
  it('another process receives the same events as local listeners: added (running, 1), started, in order', { timeout: 30_000 }, async () => {
    const { backend: a, schema, cleanup } = await makeTestBackend();
    const b = sibling(schema);
    try {
      const local: SpindleEvent[] = [];
      const remote: SpindleEvent[] = [];
      a.subscribe((e) => local.push(...e));
      b.subscribe((e) => remote.push(...e));
      await b.whenListening();
      const [j1, j2, j3, j4] = [job({ name: 'one' }), job({ name: 'two', delayMs: 60_000 }), job({ name: 'three' }), job({ name: 'four' })];
      // Fast path, then the general path (unique key).
      const first = await a.insertJobs({ jobs: [j1, j2, j3, j4], dispatch: [request({ limit: 2 })] });
      assert.deepStrictEqual(dispatchedIds(first), [j1.id, j3.id]);
      const j5 = job({ uniqueKey: 'ev' });
      await a.insertJobs({ jobs: [j5, job({ uniqueKey: 'ev' })], dispatch: [request()] });
      await waitFor(() => remote.length >= 8 && local.length >= 8, 'events in both processes');
      await sleep(100);
      assert.deepStrictEqual(remote, local);
      assert.deepStrictEqual(
        local.map((e) => {
          const j = e as JobEvent;
          return `${j.type}:${j.jobId}:${j.state}:${j.attempt}`;
        }),
        [
          `added:${j1.id}:running:1`, `started:${j1.id}:running:1`,
          `added:${j2.id}:scheduled:0`,
          `added:${j3.id}:running:1`, `started:${j3.id}:running:1`,
          `added:${j4.id}:queued:0`,
          `added:${j5.id}:running:1`, `started:${j5.id}:running:1`,
        ],
      );
    } finally {
      await b.close();
      await cleanup();
    }
  });

  it('a dispatching batch whose events exceed one NOTIFY is chunked and all of it arrives', { timeout: 30_000 }, async () => {
    const { backend: a, schema, cleanup } = await makeTestBackend();
    const b = sibling(schema);
    try {
      const remote: SpindleEvent[] = [];
      b.subscribe((e) => remote.push(...e));
      await b.whenListening();
      const jobs = Array.from({ length: 400 }, () => job({ name: `n-${'x'.repeat(100)}` }));
      const outcomes = await a.insertJobs({ jobs, dispatch: [request({ limit: 300 })] });
      assert.equal(dispatchedIds(outcomes).length, 300);
      await waitFor(() => remote.length >= 700, '700 events');
      const started = remote.filter((e) => e.type === 'started') as JobEvent[];
      assert.deepStrictEqual(started.map((e) => e.jobId), jobs.slice(0, 300).map((j) => j.id));
      assert.equal(remote.filter((e) => e.type === 'added').length, 400);
      // Each job's added precedes its started.
      const position = new Map<string, number>();
      remote.forEach((e, k) => {
        const j = e as JobEvent;
        if (j.type === 'added') position.set(j.jobId, k);
        else assert.ok((position.get(j.jobId) ?? Infinity) < k, `started before added for ${j.jobId}`);
      });
    } finally {
      await b.close();
      await cleanup();
    }
  });
});

describe('dispatch: plans', () => {
  it('both dispatch statements probe by primary key / unique index and never scan the jobs table (50k rows)', { timeout: 120_000 }, async () => {
    const { backend, schema, cleanup } = await makeTestBackend();
    const admin = new pg.Client({ connectionString: TEST_PG_URL });
    await admin.connect();
    try {
      await admin.query(`INSERT INTO "${schema}".jobs (id, queue, name, payload, state, priority, max_retries, created_at, run_at, unique_key,
          finished_at)
        SELECT 'x' || g, 'q' || (g % 7), 'task', '{}', CASE WHEN g % 2 = 0 THEN 'queued' ELSE 'completed' END, 500, 3, now(), now(),
          'uk' || g, CASE WHEN g % 2 = 1 THEN now() END
        FROM generate_series(1, 50000) g`);
      await admin.query(`VACUUM ANALYZE "${schema}".jobs`);
      const cases: Array<[string, JobInsert[]]> = [
        ['fast path', [job({ queue: 'q3' }), job({ queue: 'q3' })]],
        ['general path', [job({ queue: 'q3', uniqueKey: 'uk3' }), job({ queue: 'q3', uniqueKey: 'fresh' }), job({ id: 'x10', queue: 'q3' })]],
      ];
      for (const [label, jobs] of cases) {
        const config = await captureStatement(backend, () => backend.insertJobs({ jobs, dispatch: [request({ queue: 'q3', limit: 5 })] }));
        assert.match(String(config.name), /dispatch$/);
        for (const [mode, nodes] of Object.entries(await explainBoth(admin, config))) {
          const scans = nodes.filter((n) => n['Relation Name'] === 'jobs' && /Scan/.test(n['Node Type'] as string));
          assert.ok(!scans.some((n) => n['Node Type'] === 'Seq Scan'), `${label} (${mode}) scans the jobs table`);
          if (label === 'general path') {
            const used = new Set(scans.map((n) => n['Index Name']));
            assert.ok(used.has('jobs_pkey') && used.has('jobs_unique_idx'), `${label} (${mode}) uses ${[...used].join(', ')}`);
          }
        }
      }
      // And the statements themselves work on that table.
      const outcomes = await backend.insertJobs({
        jobs: [job({ queue: 'q3', uniqueKey: 'uk3' }), job({ queue: 'q3', uniqueKey: 'uk10' }), job({ queue: 'q3' })],
        dispatch: [request({ queue: 'q3', limit: 5 })],
      });
      assert.deepStrictEqual(
        outcomes.map((o) => [o.inserted, o.state]),
        [
          [true, 'running'],
          [false, 'queued'],
          [true, 'running'],
        ],
      );
      await backend.finalizeJobs({
        items: outcomes.filter((o) => o.claimed).map((o) => ({ ...o.claimed!, kind: 'complete' as const, result: null })),
        retention: KEEP,
      });
    } finally {
      await admin.end();
      await cleanup();
    }
  });
});

describe('dispatch: plan cache', () => {
  it('both dispatch statements settle on their generic plan on a table with statistics (no planning per call)', { timeout: 60_000 }, async () => {
    const { backend, schema, cleanup } = await makeTestBackendWith({ poolMax: 1 });
    const admin = new pg.Client({ connectionString: TEST_PG_URL });
    await admin.connect();
    try {
      await admin.query(`INSERT INTO "${schema}".jobs (id, queue, name, payload, state, priority, max_retries, created_at, run_at, unique_key,
          finished_at)
        SELECT 'x' || g, 'q' || (g % 4), 'task', '{}', 'completed', 500, 3, now(), now(), 'uk' || g, now()
        FROM generate_series(1, 20000) g`);
      await admin.query(`ANALYZE "${schema}".jobs`);
      for (let i = 0; i < 10; i++) {
        await backend.insertJobs({ jobs: [job()], dispatch: [request()] });
        await backend.insertJobs({ jobs: [job({ uniqueKey: `pc-${i}` })], dispatch: [request()] });
      }
      const rows = await backend.pool.query<{ name: string; generic_plans: string; custom_plans: string }>(
        'SELECT name, generic_plans, custom_plans FROM pg_prepared_statements',
      );
      const plans = Object.fromEntries(rows.rows.map((r) => [r.name.replace(/^.*?_(insert\w*)$/, '$1'), [Number(r.generic_plans), Number(r.custom_plans)]]));
      assert.deepStrictEqual(plans, { insert_plain_dispatch: [5, 5], insert_dispatch: [5, 5] });
    } finally {
      await admin.end();
      await cleanup();
    }
  });
});

/** The statement `call` would send (not run). */
async function captureStatement(backend: PostgresBackend, call: () => Promise<unknown>): Promise<pg.QueryConfig> {
  const pool = backend.pool as unknown as { query: unknown };
  let captured: pg.QueryConfig | undefined;
  pool.query = async (config: pg.QueryConfig) => {
    captured ??= config;
    // $1 is the ids' array literal (`{"a","b"}`; this test's ids need no escapes).
    const ids = (config.values![0] as string).slice(1, -1).split(',').map((quoted) => JSON.parse(quoted) as string);
    return { rows: ids.map((id) => ({ id, state: 'queued', inserted: true })) };
  };
  try {
    await call();
  } finally {
    delete pool.query;
  }
  assert.ok(captured, 'no statement sent');
  return captured;
}

type PlanNode = Record<string, unknown> & { Plans?: PlanNode[] };

function flatten(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(flatten)];
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

/** The plan nodes of `config` with its values (custom plan) and of its generic plan, not executed. */
async function explainBoth(client: pg.Client, config: pg.QueryConfig): Promise<{ custom: PlanNode[]; generic: PlanNode[] }> {
  const values = (config.values ?? []) as unknown[];
  const custom = (await client.query(`EXPLAIN (FORMAT JSON) ${config.text}`, values)).rows[0]['QUERY PLAN'][0].Plan as PlanNode;
  const name = `spd_plan_${randomBytes(4).toString('hex')}`;
  await client.query('BEGIN');
  try {
    await client.query('SET LOCAL plan_cache_mode = force_generic_plan');
    await client.query({ name, text: config.text, values });
    const types = (await client.query('SELECT parameter_types::text[] AS t FROM pg_prepared_statements WHERE name = $1', [name])).rows[0]
      .t as string[];
    const args = values.map((v, i) => `${sqlLiteral(client, v)}::${types[i]}`);
    const generic = (await client.query(`EXPLAIN (FORMAT JSON) EXECUTE ${name}(${args.join(', ')})`)).rows[0]['QUERY PLAN'][0].Plan as PlanNode;
    return { custom: flatten(custom), generic: flatten(generic) };
  } finally {
    await client.query('ROLLBACK');
    await client.query(`DEALLOCATE ${name}`);
  }
}
