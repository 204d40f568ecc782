/**
 * Where a PostgreSQL drain spends its CPU: runs one drain of N pre-enqueued no-op jobs in this
 * process for each named adapter and reports wall time, jobs/s, and CPU microseconds per job
 * split between this Node process and all PostgreSQL server processes (from /proc), plus the
 * statements the server ran (pg_stat_statements when installed).
 * Usage: node --conditions=source --import tsx bench/tools/pg-cpu-per-job.ts [n] [concurrency] [adapters…]
 * SPINDLE_SEED_QUEUED=<n> seeds a backlog of n queued jobs first (the drain stops after [n] jobs).
 * SPINDLE_PROFILE_DIR=<dir>: also writes a CPU profile of this process for the drain alone
 * (SPINDLE_PROFILE=heap: an allocation sampling profile instead, collected objects included).
 * SPINDLE_DISABLE_TRIGGERS=1 disables the jobs table's triggers (the flow bookkeeping) first, to
 * measure what they cost (2026-11-28: nothing measurable, 3 pairs of 40,000-job drains).
 * Diagnostic only (Linux): figures for bench/README.md come from `npm run bench`.
 */
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import pg from 'pg';
import { loadSystem } from '../lib/systems.js';
import { postgresCpuMicros } from './postgres-cpu.js';
import { PG_URL } from '../systems/spindle-postgres.js';

/** Statements sent by this process: count and summed round-trip ms per statement (name or text head). */
const statements = new Map<string, { count: number; ms: number }>();
const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const q = args[0] as string | { name?: string; text?: string };
  const key = typeof q === 'string' ? q.replace(/\s+/g, ' ').slice(0, 60) : (q.name ?? (q.text ?? '').replace(/\s+/g, ' ').slice(0, 60));
  const t0 = performance.now();
  const record = () => {
    const s = statements.get(key) ?? { count: 0, ms: 0 };
    s.count += 1;
    s.ms += performance.now() - t0;
    statements.set(key, s);
  };
  const last = args.length - 1;
  if (typeof args[last] === 'function') {
    const callback = args[last] as (...a: unknown[]) => void;
    args[last] = (...a: unknown[]) => { record(); callback(...a); };
  }
  const result = (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
  if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).then(record, () => undefined);
  return result;
} as typeof pg.Client.prototype.query;

const n = Number(process.argv[2] ?? 20_000);
const concurrency = Number(process.argv[3] ?? 50);
const names = process.argv.slice(4);
for (const name of names.length ? names : ['spindle-postgres', 'graphile-worker']) {
  const adapter = await loadSystem(name);
  const config = await adapter.prepare();
  // SPINDLE_DISABLE_TRIGGERS=1: measure without the flow triggers (what they cost a drain).
  if (process.env.SPINDLE_DISABLE_TRIGGERS === '1' && config.schema) {
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`ALTER TABLE "${String(config.schema)}".jobs DISABLE TRIGGER USER`);
    await admin.end();
  }
  // SPINDLE_SEED_QUEUED=<n>: n more queued jobs behind the measured ones (a backlog).
  const backlog = Number(process.env.SPINDLE_SEED_QUEUED ?? 0);
  if (backlog > 0) await adapter.seed!(config, { queued: backlog });
  const producer = await adapter.producer(config);
  for (let i = 0; i < n; i += 1000) await producer.addBulk(Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ i: i + k })));
  await producer.close();
  let done = 0;
  let firstAt = 0;
  let resolve!: () => void;
  const finished = new Promise<void>((r) => (resolve = r));
  const worker = await adapter.worker(config, { concurrency, onJob: () => { if (done === 0) firstAt = performance.now(); if (++done === n) resolve(); } });
  statements.clear();
  const profileDir = process.env.SPINDLE_PROFILE_DIR;
  const session = profileDir ? new Session() : null;
  if (session) {
    session.connect();
    if (process.env.SPINDLE_PROFILE === 'heap') {
      await session.post('HeapProfiler.enable');
      await session.post('HeapProfiler.startSampling', {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      } as never);
    } else {
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
  }
  const pg0 = postgresCpuMicros();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await worker.start();
  await finished;
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const pgUs = postgresCpuMicros() - pg0;
  if (session) {
    if (process.env.SPINDLE_PROFILE === 'heap') {
      const { profile } = await session.post('HeapProfiler.stopSampling');
      writeFileSync(`${profileDir}/${name}.heapprofile`, JSON.stringify(profile));
    } else {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(`${profileDir}/${name}.cpuprofile`, JSON.stringify(profile));
    }
    session.disconnect();
  }
  await worker.close();
  await adapter.dispose(config);
  console.log(`${name.padEnd(18)} ${n} jobs c${concurrency}: ${ms.toFixed(0)} ms (first job after ${(firstAt - t0).toFixed(1)} ms), ${Math.round(n / (ms / 1000))} jobs/s; ` +
    `CPU µs/job node ${((cpu.user + cpu.system) / n).toFixed(1)}, postgres ${(pgUs / n).toFixed(1)}`);
  for (const [key, s] of [...statements].sort((a, b) => b[1].ms - a[1].ms).slice(0, 8)) {
    console.log(`    ${String(s.count).padStart(6)} × ${(s.ms / s.count).toFixed(2).padStart(7)} ms  ${key}`);
  }
}
process.exit(0);
