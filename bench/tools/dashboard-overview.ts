/**
 * The dashboard with 1,000,000 jobs (issue 8: "the overview page stays responsive, < 300 ms server
 * time, with 1,000,000 jobs in the database"), on SQLite (a file) and PostgreSQL (a fresh schema).
 *
 * Seeds N jobs (default 1,000,000) over 10 queues with the backend's bulk insert (`addBulk`, 1,000
 * per call), then moves them into a mix of states with one SQL UPDATE per state (by `seq`):
 * 70 % completed, 5 % dead (7 distinct failure reasons), 5 % cancelled, 5 % scheduled (due in an
 * hour), 15 % queued (due now: the oldest-job probe has work). It then starts a SpindleServer with
 * the dashboard (open, loopback) and measures, after 3 warm-up requests each, 20 sequential
 * requests of the dashboard pages `GET /`, `/queues`, `/dlq` and of the API calls they make
 * (`GET /api/v1/queues`, `/api/v1/stats?…`, `/api/v1/dlq`): the time from sending the request to
 * the last byte on loopback, which is the server time plus well under a millisecond. The overview
 * reads queue counts that may be up to 2 s old (`GET /api/v1/queues?maxAgeMs=2000`, shared by every
 * viewer): `/` is measured back to back (mostly answered from that read) and, as
 * `/ (recounting)`, with 2.1 s between requests, so that each one counts every job again.
 *
 * Usage: node --conditions=source --import tsx bench/tools/dashboard-overview.ts [n] [sqlite|postgres…]
 * Keeps the SQLite file and the schema only with KEEP=1 (their names are printed); measures a kept
 * one again without seeding with SQLITE_DB=<file> / PG_SCHEMA=<schema>.
 * Writes bench/results/<date>-vm-dashboard.json and prints a table (see bench/DASHBOARD.md).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Client, silentLogger, type Backend } from '@spindle/core';
import { PostgresBackend } from '@spindle/postgres';
import { SpindleServer } from '@spindle/server';
import { SqliteBackend } from '@spindle/sqlite';

const N = Number(process.argv[2] ?? 1_000_000);
const BACKENDS = (process.argv.slice(3).length ? process.argv.slice(3) : ['sqlite', 'postgres']) as Array<'sqlite' | 'postgres'>;
const PG_URL = process.env.SPINDLE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const QUEUES = Array.from({ length: 10 }, (_, i) => `queue-${i}`);
const RUNS = 20;
const WARMUP = 3;
const KEEP = process.env.KEEP === '1';

/** The state of job `seq` (by its position modulo 100). */
const MIX = [
  { state: 'completed', from: 0, to: 70 },
  { state: 'dead', from: 70, to: 75 },
  { state: 'cancelled', from: 75, to: 80 },
  { state: 'scheduled', from: 80, to: 85 },
  { state: 'queued', from: 85, to: 100 },
] as const;

interface Timing {
  path: string;
  median: number;
  p95: number;
  min: number;
  max: number;
  status: number;
  bytes: number;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

async function seed(client: Client): Promise<number> {
  const t0 = performance.now();
  const payload = { customer: 'c-0042', total: 99.5, items: ['sku-1', 'sku-2'] };
  const BATCH = 1000;
  for (let i = 0; i < N; i += BATCH) {
    const queue = QUEUES[(i / BATCH) % QUEUES.length]!;
    const n = Math.min(BATCH, N - i);
    await client.queue(queue).addBulk(Array.from({ length: n }, (_, k) => ({ name: `job-${(i + k) % 5}`, payload: { ...payload, n: i + k }, opts: { maxRetries: 0 } })));
    if (i % 100_000 === 0) process.stdout.write(`  inserted ${i.toLocaleString('en-US')}\r`);
  }
  return performance.now() - t0;
}

/** Moves the queued jobs into the mix of states (one UPDATE per state). */
async function mixSqlite(path: string): Promise<void> {
  const db = new Database(path);
  db.pragma('busy_timeout = 60000');
  const now = Date.now();
  const hour = 3_600_000;
  db.exec('BEGIN IMMEDIATE');
  for (const m of MIX) {
    const where = `(seq % 100) >= ${m.from} AND (seq % 100) < ${m.to}`;
    if (m.state === 'completed') db.prepare(`UPDATE spindle_jobs SET state='completed', attempt=1, started_at=created_at+50, finished_at=created_at+150, result='{"ok":true}' WHERE ${where}`).run();
    if (m.state === 'dead')
      db.prepare(
        `UPDATE spindle_jobs SET state='dead', attempt=1, started_at=created_at+50, finished_at=created_at+150, failure_reason='Error: upstream ' || (seq % 7) || ' refused', first_failed_at=created_at+150, last_failed_at=created_at+150, errors='[]' WHERE ${where}`,
      ).run();
    if (m.state === 'cancelled') db.prepare(`UPDATE spindle_jobs SET state='cancelled', finished_at=created_at+10 WHERE ${where}`).run();
    if (m.state === 'scheduled') db.prepare(`UPDATE spindle_jobs SET state='scheduled', run_at=${now + hour} WHERE ${where}`).run();
  }
  db.exec('COMMIT');
  db.exec('ANALYZE');
  db.close();
}

async function mixPostgres(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    const t = `"${schema}".jobs`;
    for (const m of MIX) {
      const where = `(seq % 100) >= ${m.from} AND (seq % 100) < ${m.to}`;
      if (m.state === 'completed') await c.query(`UPDATE ${t} SET state='completed', attempt=1, started_at=created_at + interval '50 ms', finished_at=created_at + interval '150 ms', result='{"ok":true}' WHERE ${where}`);
      if (m.state === 'dead')
        await c.query(
          `UPDATE ${t} SET state='dead', attempt=1, started_at=created_at + interval '50 ms', finished_at=created_at + interval '150 ms', failure_reason='Error: upstream ' || (seq % 7) || ' refused', first_failed_at=created_at + interval '150 ms', last_failed_at=created_at + interval '150 ms' WHERE ${where}`,
        );
      if (m.state === 'cancelled') await c.query(`UPDATE ${t} SET state='cancelled', finished_at=created_at + interval '10 ms' WHERE ${where}`);
      if (m.state === 'scheduled') await c.query(`UPDATE ${t} SET state='scheduled', run_at=now() + interval '1 hour' WHERE ${where}`);
    }
    await c.query(`VACUUM ANALYZE ${t}`);
  } finally {
    await c.end();
  }
}

/** `gapMs`: pause before each request (a gap longer than the overview's count snapshot age makes every request recount). */
async function measure(base: string, path: string, cookie: string, gapMs = 0, label = path): Promise<Timing> {
  const times: number[] = [];
  let status = 0;
  let bytes = 0;
  for (let i = 0; i < WARMUP + RUNS; i++) {
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
    const t0 = performance.now();
    const res = await fetch(base + path, { headers: { cookie } });
    const body = await res.arrayBuffer();
    const ms = performance.now() - t0;
    status = res.status;
    bytes = body.byteLength;
    if (i >= WARMUP) times.push(ms);
  }
  times.sort((a, b) => a - b);
  return { path: label, median: quantile(times, 0.5), p95: quantile(times, 0.95), min: times[0]!, max: times.at(-1)!, status, bytes };
}

async function runBackend(kind: 'sqlite' | 'postgres') {
  let dir = '';
  const reuse = kind === 'sqlite' ? process.env.SQLITE_DB : process.env.PG_SCHEMA;
  const schema = kind === 'postgres' && reuse ? reuse : `spindle_dash_${Date.now().toString(36)}`;
  const sqlitePath = () => (kind === 'sqlite' && reuse ? reuse : join(dir, 'dashboard.db'));
  if (kind === 'sqlite' && !reuse) dir = mkdtempSync(join(tmpdir(), 'spindle-dash-bench-'));
  const make = (): Backend => (kind === 'sqlite' ? new SqliteBackend({ path: sqlitePath(), synchronous: 'NORMAL' }) : new PostgresBackend({ connectionString: PG_URL, schema }));
  let insertMs = 0;
  let mixMs = 0;
  if (reuse) console.log(`${kind}: measuring the kept ${kind === 'sqlite' ? sqlitePath() : `schema ${schema}`} again (no seeding)`);
  else {
    console.log(`${kind}: seeding ${N.toLocaleString('en-US')} jobs${kind === 'sqlite' ? ` into ${sqlitePath()}` : ` into schema ${schema}`}`);
    const seeder = new Client({ backend: make(), logger: silentLogger, maintenance: false });
    await seeder.start();
    insertMs = await seed(seeder);
    await seeder.close();
    const t1 = performance.now();
    if (kind === 'sqlite') await mixSqlite(sqlitePath());
    else await mixPostgres(schema);
    mixMs = performance.now() - t1;
    console.log(`\n${kind}: inserted in ${(insertMs / 1000).toFixed(1)} s, states mixed in ${(mixMs / 1000).toFixed(1)} s`);
  }

  const client = new Client({ backend: make(), logger: silentLogger, maintenance: false });
  await client.start();
  const server = new SpindleServer(client, { port: 0, logger: false, host: '127.0.0.1' });
  const base = await server.start();
  const timings: Timing[] = [];
  const loadBefore = loadavg()[0]!;
  try {
    const first = await fetch(`${base}/`);
    const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0]!;
    await first.arrayBuffer();
    const from = new Date(Date.now() - 3_600_000).toISOString();
    for (const path of ['/', '/queues', '/dlq', '/api/v1/queues', `/api/v1/stats?from=${encodeURIComponent(from)}&stepSeconds=60`, '/api/v1/dlq']) {
      timings.push(await measure(base, path, cookie));
    }
    // The overview accepts queue counts up to OVERVIEW_MAX_AGE_MS (2 s) old: spaced wider, every request recounts.
    timings.push(await measure(base, '/', cookie, 2_100, '/ (recounting)'));
    const counts = await (await fetch(`${base}/api/v1/queues`)).json() as { queues: Array<{ counts: Record<string, number> }> };
    const total: Record<string, number> = {};
    for (const q of counts.queues) for (const [s, n] of Object.entries(q.counts)) total[s] = (total[s] ?? 0) + n;
    console.log(`${kind}: jobs by state ${JSON.stringify(total)}`);
  } finally {
    await server.stop();
    await client.close();
    if (!KEEP && !reuse) {
      if (kind === 'sqlite') rmSync(dir, { recursive: true, force: true });
      else {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await c.end();
      }
    }
  }
  return { backend: kind, loadAverage1m: { before: loadBefore, after: loadavg()[0]! }, ...(reuse ? { reusedDatabase: true } : { insertSeconds: insertMs / 1000, mixSeconds: mixMs / 1000 }), timings };
}

const results = [];
for (const kind of BACKENDS) results.push(await runBackend(kind));

console.log(`\n${N.toLocaleString('en-US')} jobs; ${RUNS} sequential requests after ${WARMUP} warm-up; ms from request to last byte on loopback; ${cpus().length} CPUs`);
for (const r of results) console.log(`${r.backend}: 1-minute load average ${r.loadAverage1m.before.toFixed(1)} before, ${r.loadAverage1m.after.toFixed(1)} after`);
console.log('backend   | path                       | median |    p95 |    max | status | bytes');
for (const r of results) {
  for (const t of r.timings) {
    const p = t.path.startsWith('/api/v1/stats') ? '/api/v1/stats?from=-1h' : t.path;
    console.log(`${r.backend.padEnd(9)} | ${p.padEnd(26)} | ${t.median.toFixed(1).padStart(6)} | ${t.p95.toFixed(1).padStart(6)} | ${t.max.toFixed(1).padStart(6)} | ${String(t.status).padStart(6)} | ${t.bytes}`);
  }
}

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'results', `${new Date().toISOString().slice(0, 10)}-vm-dashboard.json`);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cpus: cpus().length, jobs: N, queues: QUEUES.length, mix: MIX, runs: RUNS, warmup: WARMUP, node: process.version, results }, null, 2) + '\n');
console.log(`\nwrote ${out}`);
