/**
 * The floor under PostgreSQL enqueue→start latency: round trips of a durable single-row insert
 * (synchronous_commit on, as Spindle's enqueue) and of a relaxed one (off, as its claim), sent
 * one at a time 10 ms apart like the latency workload. Prints p50/p95/p99 in ms.
 * Usage: node --conditions=source --import tsx bench/tools/pg-commit-latency.ts [n]
 */
import pg from 'pg';
import { PG_URL } from '../systems/spindle-postgres.js';

const n = Number(process.argv[2] ?? 500);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const client = new pg.Client({ connectionString: PG_URL });
await client.connect();
await client.query('CREATE TEMP TABLE IF NOT EXISTS latency_probe (id serial PRIMARY KEY, payload text)');
// A temp table's writes skip the WAL; a real table in a scratch schema measures the commit.
await client.query('CREATE SCHEMA IF NOT EXISTS spindle_latency_probe');
await client.query('CREATE TABLE IF NOT EXISTS spindle_latency_probe.t (id serial PRIMARY KEY, payload text)');
for (const mode of ['on', 'off']) {
  await client.query(`SET synchronous_commit = ${mode}`);
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await client.query({ name: `probe_${mode}`, text: 'INSERT INTO spindle_latency_probe.t (payload) VALUES ($1)', values: [`{"i":${i}}`] });
    times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 10));
  }
  times.sort((a, b) => a - b);
  console.log(`synchronous_commit=${mode}: p50 ${pct(times, 50).toFixed(2)} ms, p95 ${pct(times, 95).toFixed(2)}, p99 ${pct(times, 99).toFixed(2)}, max ${times.at(-1)!.toFixed(2)}`);
}
await client.query('DROP SCHEMA spindle_latency_probe CASCADE');
await client.end();
