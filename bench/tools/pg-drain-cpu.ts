/**
 * CPU per job of a multi-process drain on PostgreSQL: runs the benchmark's drain (N jobs,
 * P worker processes at concurrency C) for each named adapter and reports jobs/s with the CPU
 * microseconds per job of all worker processes together and of all PostgreSQL server processes.
 * Usage: node --conditions=source --import tsx bench/tools/pg-drain-cpu.ts [n] [processes] [concurrency] [adapters…]
 * Diagnostic only (Linux): figures for bench/README.md come from `npm run bench`.
 */
import { loadSystem } from '../lib/systems.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkerProcess } from '../lib/processes.js';
import { fill } from '../workloads/drain.js';
import { postgresCpuMicros } from './postgres-cpu.js';
import { readFileSync } from 'node:fs';

/** user+system CPU of a process so far, in µs (from /proc). */
function processCpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / 100;
}

const n = Number(process.argv[2] ?? 80_000);
const processes = Number(process.argv[3] ?? 4);
const concurrency = Number(process.argv[4] ?? 50);
const names = process.argv.slice(5);
for (const name of names.length ? names : ['spindle-postgres', 'graphile-worker']) {
  const adapter = await loadSystem(name);
  const config = await adapter.prepare();
  await fill(adapter, config, n);
  const workers = Array.from({ length: processes }, () => new WorkerProcess());
  await Promise.all(workers.map((w) => w.init(adapter.name, config, concurrency)));
  const workersCpu = () => workers.reduce((sum, w) => sum + processCpuMicros(w.pid), 0);
  const node0 = workersCpu();
  const pg0 = postgresCpuMicros();
  const t0 = performance.now();
  await Promise.all(workers.map((w) => w.start()));
  while ((await adapter.pending(config)) > 0) await sleep(10);
  const ms = performance.now() - t0;
  const pgUs = postgresCpuMicros() - pg0;
  const nodeUs = workersCpu() - node0;
  await Promise.all(workers.map((w) => w.stop()));
  await adapter.dispose(config);
  console.log(`${name.padEnd(18)} ${n} jobs ${processes}×c${concurrency}: ${ms.toFixed(0)} ms, ${Math.round(n / (ms / 1000))} jobs/s; ` +
    `CPU µs/job workers ${(nodeUs / n).toFixed(1)} postgres ${(pgUs / n).toFixed(1)}`);
}
process.exit(0);
