/**
 * Where a PostgreSQL bulk enqueue spends its time: N jobs through one adapter's addBulk in
 * chunks of 1,000 (as the benchmark's bulk workload), reporting jobs/s and CPU microseconds per
 * job in this process and in all PostgreSQL server processes. SPINDLE_PROFILE_DIR=<dir> also
 * writes a CPU profile of the enqueue alone.
 * Usage: node --conditions=source --import tsx bench/tools/pg-bulk-profile.ts [n] [adapters…]
 */
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { loadSystem } from '../lib/systems.js';
import { postgresCpuMicros } from './postgres-cpu.js';

const n = Number(process.argv[2] ?? 20_000);
const names = process.argv.slice(3);

for (const name of names.length ? names : ['spindle-postgres', 'graphile-worker']) {
  const adapter = await loadSystem(name);
  const config = await adapter.prepare();
  const producer = await adapter.producer(config);
  await producer.addBulk([{ i: -1 }]); // warm: connections, prepared statements
  const profileDir = process.env.SPINDLE_PROFILE_DIR;
  const session = profileDir ? new Session() : null;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const pg0 = postgresCpuMicros();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1000) await producer.addBulk(Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ i: i + k })));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const pgUs = postgresCpuMicros() - pg0;
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(`${profileDir}/${name}-bulk.cpuprofile`, JSON.stringify(profile));
    session.disconnect();
  }
  await producer.close();
  await adapter.dispose(config);
  console.log(`${name.padEnd(18)} ${n} jobs bulk: ${ms.toFixed(0)} ms, ${Math.round(n / (ms / 1000))} jobs/s; ` +
    `CPU µs/job node ${((cpu.user + cpu.system) / n).toFixed(1)}, postgres ${(pgUs / n).toFixed(1)}`);
}
process.exit(0);
