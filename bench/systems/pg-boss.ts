/**
 * pg-boss 10.4.2 (the newest pg-boss that runs on Node 20) on PostgreSQL, driven through the
 * benchmark's `SystemAdapter`.
 *
 * How pg-boss v10 is used (v10 docs: docs/readme.md / docs/api/*.md at the 10.x tags):
 * - A fresh schema per measurement (`schema` constructor option); `start()` installs it and
 *   `createQueue()` creates the queue (required in v10: each queue is its own partition).
 * - Bulk enqueue with `insert([jobs])` (one statement per chunk), single enqueue with `send()`.
 * - Workers: v10 has no `teamSize`/`localConcurrency`; each `work()` call adds one polling
 *   worker that fetches up to `batchSize` jobs, runs the handler on the batch and completes the
 *   batch in one statement. A worker polls at most once per `pollingIntervalSeconds` (minimum
 *   0.5 s) unless `notifyWorker(id)` is called, which the docs describe as bypassing the polling
 *   interval for that iteration of the loop. See `settings` for what is used and why.
 */
import { createRequire } from 'node:module';
import pg from 'pg';
import PgBoss from 'pg-boss';
import type { BenchPayload, Producer, SeedRows, StoreConfig, SystemAdapter, WorkerHandle, WorkerOptions } from '../lib/adapter.js';

const require = createRequire(import.meta.url);
const PG_URL = process.env.SPINDLE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const QUEUE = 'bench';
/** The documented minimum (`pollingIntervalSeconds` must be >= 0.5). */
const POLLING_INTERVAL_SECONDS = 0.5;
/** Jobs fetched per `work()` worker; the process runs `concurrency / BATCH` workers. */
const MAX_BATCH = 50;

interface BossConfig {
  url: string;
  schema: string;
  queue: string;
}

function read(config: StoreConfig): BossConfig {
  return { url: String(config.url), schema: String(config.schema), queue: String(config.queue) };
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function newBoss(config: BossConfig): PgBoss {
  const boss = new PgBoss({
    connectionString: config.url,
    schema: config.schema,
    // Cron scheduling is not used by the benchmark; `schedule: false` is the documented switch
    // that stops this instance from running the cron monitor and its internal send-it worker.
    schedule: false,
  });
  // Documented as strongly encouraged: without a listener an 'error' event kills the process.
  boss.on('error', (err: Error) => console.error(`[pg-boss] ${err.message}`));
  return boss;
}

/** Split `concurrency` jobs in flight into `work()` workers of at most MAX_BATCH jobs each. */
function batches(concurrency: number): number[] {
  const workers = Math.max(1, Math.ceil(concurrency / MAX_BATCH));
  const base = Math.floor(concurrency / workers);
  return Array.from({ length: workers }, (_, k) => base + (k < concurrency % workers ? 1 : 0));
}

/** One small pool per schema for `pending()` (polled every 10 ms by the drain workload). */
const countPools = new Map<string, pg.Pool>();

function countPool(config: BossConfig): pg.Pool {
  let pool = countPools.get(config.schema);
  if (!pool) {
    pool = new pg.Pool({ connectionString: config.url, max: 1 });
    pool.on('error', () => {});
    countPools.set(config.schema, pool);
  }
  return pool;
}

/** Enqueue through a started instance; `owned` instances are stopped by `close()`. */
function producerOf(boss: PgBoss, config: BossConfig, owned: boolean): Producer {
  return {
    async addBulk(payloads: BenchPayload[]) {
      await boss.insert(payloads.map((data) => ({ name: config.queue, data })));
    },
    async add(payload: BenchPayload) {
      await boss.send(config.queue, payload);
    },
    async close() {
      if (owned) await boss.stop({ graceful: true, wait: true });
    },
  };
}

export const adapter: SystemAdapter = {
  name: 'pg-boss',
  label: 'pg-boss (PostgreSQL)',
  store: 'postgres',
  multiProcessWorkers: true,
  settings: {
    version: 'pg-boss 10.4.2 — the newest release that runs on Node 20 (11+ needs Node 22)',
    bulkEnqueue: 'insert([{ name, data }…]) — the documented multi-job API: one statement per chunk',
    singleEnqueue: 'send(name, data) — resolves with the job id once the INSERT commits',
    queue: "createQueue('bench') with the default 'standard' policy — required in v10 (each queue is a partition of the job table)",
    workers:
      'work() with batchSize = concurrency (a worker per 50 jobs beyond that): v10 has no teamSize/localConcurrency, so batchSize is its documented way to have many jobs in flight per poll; the handler gets the batch and pg-boss completes it in one statement',
    polling: 'pollingIntervalSeconds 0.5 — the documented minimum (default 2 s)',
    notifyWorker:
      'the handler calls notifyWorker(id) when it received a full batch — documented as bypassing the polling interval for that iteration, so a busy worker fetches again at once instead of sleeping 0.5 s; an idle worker still polls every 0.5 s (no LISTEN/NOTIFY in v10)',
    schedule: 'schedule: false — cron is unused; documented switch that removes the cron monitor and its internal polling worker',
    maintenance: 'supervise left on (default): expiry/archiving run every maintenanceIntervalSeconds (default; 120 s in 10.4.2), so rarely inside a measurement',
    pool: 'max 10 connections per instance (default)',
    durability: 'default: synchronous commits; completed jobs kept in the job table (archived later by maintenance)',
  },

  async versions() {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
      const pkg = require('pg-boss/package.json') as { version: string };
      return { 'pg-boss': pkg.version, postgresql: rows[0]!.v };
    } finally {
      await client.end();
    }
  },

  async prepare() {
    const config: BossConfig = {
      url: PG_URL,
      schema: `pgboss_bench_${process.pid}_${Date.now()}`,
      queue: QUEUE,
    };
    const boss = newBoss(config);
    // start() installs the schema (migrate defaults to true); maintenance is not needed here.
    await boss.start();
    try {
      await boss.createQueue(config.queue);
    } finally {
      await boss.stop({ graceful: false, wait: true });
    }
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
    const boss = newBoss(config);
    await boss.start();
    return producerOf(boss, config, true);
  },

  async worker(raw, options: WorkerOptions): Promise<WorkerHandle> {
    const config = read(raw);
    const boss = newBoss(config);
    // Connects (and checks the schema) now; no work() yet, so nothing is fetched before start().
    await boss.start();
    let started = false;
    return {
      async start() {
        if (started) return;
        started = true;
        await Promise.all(
          batches(options.concurrency).map(async (batchSize) => {
            // work() resolves with the id before the first fetch can return (it needs a round trip).
            let id: string | null = null;
            id = await boss.work<BenchPayload>(
              config.queue,
              { batchSize, pollingIntervalSeconds: POLLING_INTERVAL_SECONDS },
              async (jobs) => {
                for (const job of jobs) options.onJob(job.data);
                if (jobs.length === batchSize && id) boss.notifyWorker(id);
              },
            );
          }),
        );
      },
      async producer() {
        // The embedded case: enqueue through the worker's own instance (and pool).
        return producerOf(boss, config, false);
      },
      async close() {
        await boss.stop({ graceful: true, wait: true });
      },
    };
  },

  async pending(raw) {
    const config = read(raw);
    const { rows } = await countPool(config).query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${quoteIdent(config.schema)}.job WHERE name = $1 AND state IN ('created', 'retry', 'active')`,
      [config.queue],
    );
    return rows[0]!.n;
  },

  async seed(raw, rows: SeedRows) {
    const config = read(raw);
    const table = `${quoteIdent(config.schema)}.job`;
    // The v10 docs allow loading jobs with plain SQL INSERT into the job table (only `name` is
    // required); rows are written as pg-boss leaves them: queued = 'created', finished =
    // 'completed' (kept until archived), dead = 'failed' after its retries, future = created
    // with a later start_after. `policy` is the queue's ('standard'), as insert() copies it.
    const groups: Array<[count: number, columns: string]> = [
      [rows.completed ?? 0, "'completed', now(), now(), now(), 0, NULL"],
      [rows.dead ?? 0, `'failed', now(), now(), now(), 2, '{"message":"Error: seeded failure"}'`],
      [rows.scheduled ?? 0, "'created', now() + interval '1 day', NULL, NULL, 0, NULL"],
      [rows.queued, "'created', now(), NULL, NULL, 0, NULL"],
    ];
    const client = new pg.Client({ connectionString: config.url });
    await client.connect();
    try {
      for (const [count, columns] of groups) {
        if (count === 0) continue;
        await client.query(
          `INSERT INTO ${table} (name, data, policy, state, start_after, started_on, completed_on, retry_count, output)
           SELECT $1, jsonb_build_object('i', x), 'standard', ${columns}
           FROM generate_series(1, $2::int) AS x`,
          [config.queue, count],
        );
      }
      await client.query(`ANALYZE ${table}`);
    } finally {
      await client.end();
    }
  },
};
