/**
 * First throughput benchmark (no peers yet): no-op jobs enqueued in bulk, enqueued one at a
 * time, then drained by one in-process worker, on each backend with its shipped durable
 * settings (SQLite: WAL + synchronous=FULL; PostgreSQL: ordinary commits).
 *
 *   npm run bench -- [--jobs 20000] [--single 1000] [--concurrency 50] [--runs 3] [--backends sqlite,postgres]
 *
 * Writes bench/results/<date>-<host>-throughput.json (machine, versions, settings, every run
 * and the medians) and prints a Markdown table. Figures belong here, never in tests.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Client, silentLogger, type Backend } from '@spindle/core';
import { SqliteBackend } from '@spindle/sqlite';
import { PostgresBackend } from '@spindle/postgres';

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    single: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '50' },
    runs: { type: 'string', default: '3' },
    backends: { type: 'string', default: 'sqlite,postgres' },
  },
});
const JOBS = Number(args.jobs);
const SINGLE = Number(args.single);
const CONCURRENCY = Number(args.concurrency);
const RUNS = Number(args.runs);
const PG_URL = process.env.SPINDLE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface RunResult {
  bulkEnqueuePerSec: number;
  singleEnqueuePerSec: number;
  drainPerSec: number;
}

interface Fixture {
  backend: Backend;
  cleanup(): Promise<void>;
}

async function sqliteFixture(): Promise<Fixture> {
  const path = join(tmpdir(), `spindle-bench-${process.pid}-${Date.now()}.db`);
  const backend = new SqliteBackend({ path });
  return {
    backend,
    cleanup: async () => {
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
    },
  };
}

async function postgresFixture(): Promise<Fixture> {
  const schema = `spindle_bench_${process.pid}_${Date.now()}`;
  const backend = new PostgresBackend({ connectionString: PG_URL, schema });
  return {
    backend,
    cleanup: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    },
  };
}

const perSec = (n: number, ms: number) => Math.round((n / ms) * 1000);

async function oneRun(make: () => Promise<Fixture>): Promise<RunResult> {
  const { backend, cleanup } = await make();
  const client = new Client({ backend, logger: silentLogger });
  try {
    await client.start();
    const q = client.queue('bench');

    let t = performance.now();
    for (let i = 0; i < JOBS; i += 1000) {
      await q.addBulk(Array.from({ length: Math.min(1000, JOBS - i) }, (_, k) => ({ name: 'noop', payload: { i: i + k } })));
    }
    const bulkMs = performance.now() - t;

    const single = client.queue('bench-single');
    t = performance.now();
    for (let i = 0; i < SINGLE; i++) await single.add('noop', { i });
    const singleMs = performance.now() - t;

    let completed = 0;
    const allDone = new Promise<void>((resolve) => {
      client.on('completed', (e) => {
        if (e.queue === 'bench' && ++completed === JOBS) resolve();
      });
    });
    t = performance.now();
    const worker = q.process(async () => undefined, { concurrency: CONCURRENCY });
    await allDone;
    const drainMs = performance.now() - t;
    await worker.close();
    return { bulkEnqueuePerSec: perSec(JOBS, bulkMs), singleEnqueuePerSec: perSec(SINGLE, singleMs), drainPerSec: perSec(JOBS, drainMs) };
  } finally {
    await client.close();
    await cleanup();
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function versions(): Promise<Record<string, string>> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  const { rows } = await c.query<{ v: string }>("SELECT current_setting('server_version') AS v");
  await c.end();
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(':memory:');
  const sqlite = (db.prepare('select sqlite_version() as v').get() as { v: string }).v;
  db.close();
  return { node: process.version, postgres: rows[0]!.v, sqlite };
}

const fixtures: Record<string, () => Promise<Fixture>> = { sqlite: sqliteFixture, postgres: postgresFixture };
const results: Record<string, { runs: RunResult[]; median: RunResult }> = {};
for (const name of args.backends!.split(',')) {
  const make = fixtures[name];
  if (!make) throw new Error(`unknown backend ${name}`);
  const runs: RunResult[] = [];
  for (let r = 0; r < RUNS; r++) {
    runs.push(await oneRun(make));
    console.error(`${name} run ${r + 1}/${RUNS}: ${JSON.stringify(runs.at(-1))}`);
  }
  results[name] = {
    runs,
    median: {
      bulkEnqueuePerSec: median(runs.map((r) => r.bulkEnqueuePerSec)),
      singleEnqueuePerSec: median(runs.map((r) => r.singleEnqueuePerSec)),
      drainPerSec: median(runs.map((r) => r.drainPerSec)),
    },
  };
}

const date = new Date().toISOString().slice(0, 10);
const report = {
  benchmark: 'throughput',
  date: new Date().toISOString(),
  machine: { host: hostname(), cpu: cpus()[0]?.model, cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30) },
  versions: await versions(),
  settings: {
    jobs: JOBS, singleEnqueues: SINGLE, concurrency: CONCURRENCY, runs: RUNS, bulkChunk: 1000,
    sqlite: 'WAL, synchronous=FULL (shipped default)', postgres: 'default commits (synchronous_commit=on)',
  },
  results,
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const file = new URL(`./results/${date}-${hostname()}-throughput.json`, import.meta.url);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);

console.log(`| backend | bulk enqueue (jobs/s) | single enqueue (jobs/s) | drain, 1 worker × ${CONCURRENCY} (jobs/s) |`);
console.log('|---|---:|---:|---:|');
for (const [name, r] of Object.entries(results)) {
  console.log(`| ${name} | ${r.median.bulkEnqueuePerSec} | ${r.median.singleEnqueuePerSec} | ${r.median.drainPerSec} |`);
}
console.log(`\nmedians of ${RUNS} runs; written to ${file.pathname}`);
