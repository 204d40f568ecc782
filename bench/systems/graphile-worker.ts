/**
 * graphile-worker 0.17.3 (the newest release that runs on Node 20) on PostgreSQL, driven through
 * the benchmark's `SystemAdapter`, with its documented batching tuning
 * (https://worker.graphile.org/docs/performance and the `preset.worker` option docs):
 * a local queue (jobs fetched and locked in batches, served to the process's workers without a
 * round trip each) and batched completion (`completeJobBatchDelay`/`failJobBatchDelay`).
 *
 * - `prepare()` creates a fresh schema and installs it with `runMigrations()`, so that a
 *   runner's start is cheap.
 * - graphile-worker has no paused runner, so `worker()` only opens and warms the connection pool
 *   (documented `pgPool` option) and `start()` calls `run()`.
 * - Completed jobs are deleted by graphile-worker; `pending()` counts the rows left in the jobs
 *   table that are not permanently failed.
 */
import { createRequire } from 'node:module';
import pg from 'pg';
import { Logger, makeWorkerUtils, run, runMigrations, type Runner, type WorkerUtils } from 'graphile-worker';
import type { BenchPayload, Producer, SeedRows, StoreConfig, SystemAdapter, WorkerHandle, WorkerOptions } from '../lib/adapter.js';

const require = createRequire(import.meta.url);
const PG_URL = process.env.SPINDLE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TASK = 'bench';
/** The documented perfTest configuration ("optimal conditions") uses `localQueue: { size: 500 }`. */
const LOCAL_QUEUE_SIZE = 500;
/** 0 = batch whatever completes in the same tick — the perfTest configuration. */
const COMPLETE_BATCH_DELAY_MS = 0;
/** Rows per `add_jobs` call when seeding. */
const SEED_CHUNK = 100_000;

interface GwConfig {
  url: string;
  schema: string;
}

function read(config: StoreConfig): GwConfig {
  return { url: String(config.url), schema: String(config.schema) };
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Drops graphile-worker's debug/info chatter; warnings and errors go to stderr. */
const logger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') console.error(`[graphile-worker] ${level}: ${message}`);
});

/** Pool size the docs recommend: `concurrentJobs + 2` or 10, whichever is larger. */
function poolSize(concurrency: number): number {
  return Math.max(10, concurrency + 2);
}

/** One small pool per schema for `pending()` (polled every 10 ms by the drain workload). */
const countPools = new Map<string, pg.Pool>();

function countPool(config: GwConfig): pg.Pool {
  let pool = countPools.get(config.schema);
  if (!pool) {
    pool = new pg.Pool({ connectionString: config.url, max: 1 });
    pool.on('error', () => {});
    countPools.set(config.schema, pool);
  }
  return pool;
}

function producerOf(utils: WorkerUtils): Producer {
  return {
    async addBulk(payloads: BenchPayload[]) {
      await utils.addJobs(payloads.map((payload) => ({ identifier: TASK, payload })));
    },
    async add(payload: BenchPayload) {
      await utils.addJob(TASK, payload);
    },
    async close() {
      // Releases the utils' own pool; a supplied `pgPool` is left open for its owner.
      await utils.release();
    },
  };
}

export const adapter: SystemAdapter = {
  name: 'graphile-worker',
  label: 'graphile-worker (PostgreSQL)',
  store: 'postgres',
  multiProcessWorkers: true,
  settings: {
    version: 'graphile-worker 0.17.3 — the newest release that runs on Node 20 (0.18 needs Node 22)',
    bulkEnqueue: 'WorkerUtils.addJobs([{ identifier, payload }…]) — the documented batch API (one add_jobs call per chunk)',
    singleEnqueue: 'WorkerUtils.addJob(identifier, payload) — one add_job call, resolves after commit',
    concurrentJobs: 'concurrentJobs = concurrency (jobs run at once per process)',
    localQueue: `localQueue.size ${LOCAL_QUEUE_SIZE} — the docs' perfTest ("optimal conditions") value; the pool fetches and locks up to that many jobs per query and hands them to its workers without a round trip each`,
    refetchDelay: 'not set — documented as reducing database load when too few jobs arrive, at the cost of latency; no throughput gain',
    completeJobBatchDelay: `${COMPLETE_BATCH_DELAY_MS} ms (and failJobBatchDelay ${COMPLETE_BATCH_DELAY_MS} ms) — completions/failures issued in the same window go to the database in one statement; 0 is the perfTest value. Docs: a crash can leave more jobs locked (retried after 4 h); graceful exit releases them`,
    pool: 'pg.Pool of max(10, concurrency + 2) connections — the documented recommendation; passed as `pgPool` so worker() can connect before start()',
    preparedStatements: 'true (default; disabling is documented as slower)',
    pollInterval: '2000 ms (default): new jobs are announced by LISTEN/NOTIFY; polling only backs that up',
    useNodeTime: 'false (default) — documented as moot when clocks agree',
    pending: 'count of rows in <schema>._private_jobs not permanently failed (a private table; the pinned version makes that safe)',
  },

  async versions() {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
      const pkg = require('graphile-worker/package.json') as { version: string };
      return { 'graphile-worker': pkg.version, postgresql: rows[0]!.v };
    } finally {
      await client.end();
    }
  },

  async prepare() {
    const config: GwConfig = { url: PG_URL, schema: `gw_bench_${process.pid}_${Date.now()}` };
    await runMigrations({ connectionString: config.url, schema: config.schema, logger });
    return { ...config };
  },

  async dispose(raw) {
    const config = read(raw);
    const pool = countPools.get(config.schema);
    countPools.delete(config.schema);
    await pool?.end();
    const client = new pg.Client({ connectionString: config.url });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(config.schema)} CASCADE`);
    } finally {
      await client.end();
    }
  },

  async producer(raw): Promise<Producer> {
    const config = read(raw);
    return producerOf(await makeWorkerUtils({ connectionString: config.url, schema: config.schema, logger }));
  },

  async worker(raw, options: WorkerOptions): Promise<WorkerHandle> {
    const config = read(raw);
    const max = poolSize(options.concurrency);
    const pgPool = new pg.Pool({ connectionString: config.url, max });
    // The docs ask for error handlers on a supplied pool (a dropped idle client must not crash).
    pgPool.on('error', () => {});
    pgPool.on('connect', (client) => void client.on('error', () => {}));
    // Connect now (LISTEN client, local queue fetch, completion batches) so start() only starts.
    const warm = await Promise.all(Array.from({ length: Math.min(4, max) }, () => pgPool.connect()));
    for (const client of warm) client.release();
    let runner: Runner | null = null;
    return {
      async start() {
        if (runner) return;
        runner = await run({
          pgPool,
          schema: config.schema,
          logger,
          noHandleSignals: true,
          taskList: {
            [TASK]: (payload) => {
              options.onJob(payload as BenchPayload);
            },
          },
          preset: {
            worker: {
              concurrentJobs: options.concurrency,
              localQueue: { size: LOCAL_QUEUE_SIZE },
              completeJobBatchDelay: COMPLETE_BATCH_DELAY_MS,
              failJobBatchDelay: COMPLETE_BATCH_DELAY_MS,
            },
          },
        });
      },
      async producer() {
        // The embedded case: enqueue through the worker's own pool.
        return producerOf(await makeWorkerUtils({ pgPool, schema: config.schema, logger }));
      },
      async close() {
        if (runner) await runner.stop();
        runner = null;
        await pgPool.end();
      },
    };
  },

  async pending(raw) {
    const config = read(raw);
    // Completed jobs are deleted; a job is permanently failed once attempts reach max_attempts
    // and it is no longer locked (attempts is bumped when a job is taken, so a job on its last
    // attempt is still locked and still pending).
    const { rows } = await countPool(config).query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${quoteIdent(config.schema)}._private_jobs
        WHERE attempts < max_attempts OR locked_at IS NOT NULL`,
    );
    return rows[0]!.n;
  },

  async seed(raw, rows: SeedRows) {
    const config = read(raw);
    const schema = quoteIdent(config.schema);
    const client = new pg.Client({ connectionString: config.url });
    await client.connect();
    try {
      // Through the documented SQL bulk API `add_jobs(job_spec[])`, in chunks. graphile-worker
      // deletes jobs when they complete, so `completed` rows have no counterpart and are skipped.
      const groups: Array<{ count: number; runAt: string; maxAttempts: number; dead: boolean }> = [
        { count: rows.dead ?? 0, runAt: 'now()', maxAttempts: 1, dead: true },
        { count: rows.scheduled ?? 0, runAt: "now() + interval '1 day'", maxAttempts: 25, dead: false },
        { count: rows.queued, runAt: 'now()', maxAttempts: 25, dead: false },
      ];
      for (const group of groups) {
        for (let from = 1; from <= group.count; from += SEED_CHUNK) {
          const to = Math.min(group.count, from + SEED_CHUNK - 1);
          const add = `SELECT id FROM ${schema}.add_jobs(ARRAY(
              SELECT ROW('${TASK}', json_build_object('i', x), NULL, ${group.runAt}, ${group.maxAttempts}, NULL, NULL, NULL)::${schema}.job_spec
              FROM generate_series($1::int, $2::int) AS x))`;
          // A permanently failed job: every attempt used, unlocked, with its last error (only the
          // private jobs table can express that without running the job).
          const sql = group.dead
            ? `WITH added AS (${add}) UPDATE ${schema}._private_jobs AS j
                 SET attempts = j.max_attempts, last_error = 'Error: seeded failure'
                 FROM added WHERE j.id = added.id`
            : add;
          await client.query(sql, [from, to]);
        }
      }
      await client.query(`ANALYZE ${schema}._private_jobs`);
    } finally {
      await client.end();
    }
  },
};
