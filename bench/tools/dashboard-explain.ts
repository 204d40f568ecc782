/**
 * Where the dashboard's time goes with 1,000,000 jobs: times each backend read behind the pages
 * (`GET /api/v1/queues` = listQueues + countJobs + dlqDepth + one oldest-job probe per queue with
 * queued jobs; `GET /api/v1/dlq` = dlqDepth; `GET /api/v1/stats` = readStats) directly through
 * the backend (median of 10 after 2 warm-ups), and prints the query plans of the count and the
 * DLQ depth (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite).
 *
 * Usage (on the databases kept by dashboard-overview.ts with KEEP=1):
 *   SQLITE_DB=<file> PG_SCHEMA=<schema> node --conditions=source --import tsx bench/tools/dashboard-explain.ts
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { Client, silentLogger, type Backend } from '@spindle/core';
import { PostgresBackend } from '@spindle/postgres';
import { SqliteBackend } from '@spindle/sqlite';
import { countSql } from '../../packages/sqlite/src/state-index.js';

const PG_URL = process.env.SPINDLE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function time(label: string, fn: () => Promise<unknown>): Promise<void> {
  const t: number[] = [];
  for (let i = 0; i < 12; i++) {
    const t0 = performance.now();
    await fn();
    if (i >= 2) t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  console.log(`  ${label.padEnd(36)} median ${t[5]!.toFixed(1).padStart(7)} ms   min ${t[0]!.toFixed(1).padStart(7)} ms`);
}

async function reads(kind: string, backend: Backend): Promise<void> {
  const client = new Client({ backend, logger: silentLogger, maintenance: false });
  await client.start();
  console.log(`${kind}:`);
  await time('listQueues', () => client.listQueues());
  await time('countJobs (counts by queue and state)', () => client.counts({}));
  await time('dlqDepth', () => client.dlq.depth());
  await time('oldest queued job of queue-0', () => client.backend.oldestQueuedAt('queue-0'));
  await time('readStats (1 h)', () => client.readStats({ from: new Date(Date.now() - 3_600_000), to: new Date() }));
  await client.close();
}

const sqlitePath = process.env.SQLITE_DB;
const schema = process.env.PG_SCHEMA;
if (sqlitePath) {
  await reads('sqlite', new SqliteBackend({ path: sqlitePath }));
  const db = new Database(sqlitePath, { readonly: true });
  console.log('\nsqlite: EXPLAIN QUERY PLAN of countJobs (all queues)');
  for (const r of db.prepare(`EXPLAIN QUERY PLAN ${countSql(false)}`).all() as Array<{ detail: string }>) console.log(`  ${r.detail}`);
  console.log('sqlite: EXPLAIN QUERY PLAN of dlqDepth');
  for (const r of db.prepare("EXPLAIN QUERY PLAN SELECT queue, count(*) AS depth FROM spindle_jobs WHERE state = 'dead' AND resolved_at IS NULL GROUP BY queue").all() as Array<{ detail: string }>) console.log(`  ${r.detail}`);
  db.close();
}
if (schema) {
  await reads('postgres', new PostgresBackend({ connectionString: PG_URL, schema }));
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  const t = `"${schema}".jobs`;
  const states = [['queued'], ['scheduled', 'retrying'], ['running'], ['waiting'], ['completed'], ['dead'], ['cancelled']];
  const count = states
    .map((g) => `SELECT queue, ${g.length === 1 ? `'${g[0]}'::text AS state` : 'state'}, count(*)::int AS count FROM ${t} WHERE state IN (${g.map((s) => `'${s}'`).join(', ')}) GROUP BY queue${g.length === 1 ? '' : ', state'}`)
    .join(' UNION ALL ');
  for (const [label, sql] of [
    ['countJobs (all queues)', `${count} ORDER BY queue, state`],
    ['dlqDepth', `SELECT queue, count(*)::int AS depth FROM ${t} WHERE state = 'dead' AND resolved_at IS NULL GROUP BY queue ORDER BY queue`],
  ]) {
    console.log(`\npostgres: EXPLAIN (ANALYZE, BUFFERS) ${label}`);
    const plan = await c.query(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${sql}`);
    for (const r of plan.rows) console.log(`  ${r['QUERY PLAN']}`);
  }
  await c.end();
}
