/**
 * Spindle on PostgreSQL as shipped: ordinary commits (synchronous_commit on), SKIP LOCKED claims,
 * LISTEN/NOTIFY wake-ups, pool of 10 connections per process.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresBackend } from '@spindle/postgres';
import type { StoreConfig, SystemAdapter } from '../lib/adapter.js';
import { pendingCounter, spindleProducer, spindleWorker } from './spindle-common.js';

export const PG_URL = process.env.SPINDLE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const open = (config: StoreConfig) => new PostgresBackend({ connectionString: PG_URL, schema: String(config.schema) });
const counter = pendingCounter(open);

export async function pgQuery<T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

export const adapter: SystemAdapter = {
  name: 'spindle-postgres',
  label: 'Spindle (PostgreSQL)',
  store: 'postgres',
  multiProcessWorkers: true,
  settings: {
    durability: 'ordinary commits (synchronous_commit=on), as shipped',
    enqueue: 'queue.addBulk (one INSERT … SELECT FROM unnest per call) / queue.add',
    retention: 'removeOnComplete: true (completed jobs are not kept, as with the BullMQ and graphile-worker settings here); the default keeps them 24 h',
    prefetch: 'prefetch = 500 − concurrency: claims of up to 500 jobs, held locally (the counterpart of graphile-worker\'s local queue)',
    worker: 'queue.process with the given concurrency; otherwise defaults (SKIP LOCKED claims, group-committed outcomes, LISTEN/NOTIFY wake-ups)',
  },
  async versions() {
    const [row] = await pgQuery<{ v: string }>("SELECT current_setting('server_version') AS v");
    return { spindle: '0.1.0', postgres: row!.v };
  },
  async prepare() {
    const schema = `spindle_bench_${randomBytes(5).toString('hex')}`;
    const backend = open({ schema });
    await backend.migrate();
    await backend.close();
    return { schema };
  },
  async dispose(config) {
    await counter.forget(config);
    await pgQuery(`DROP SCHEMA IF EXISTS "${String(config.schema)}" CASCADE`);
  },
  async producer(config) {
    return spindleProducer(open(config));
  },
  worker: (config, options) => spindleWorker(open(config), options),
  pending: (config) => counter.pending(config),
  async seed(config, rows) {
    const q = `"${String(config.schema)}".jobs`;
    const tag = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
    // Rows as Spindle writes them (see packages/postgres/migrations/0001_init.sql); queued rows
    // with the producer's JOB_OPTIONS (removeOnComplete: completed_keep_ms = 0), like the jobs of
    // every other workload, so a backlog drain deletes on completion as the peers do.
    const groups: Array<[string, number, string, string, string, string]> = [
      // state, count, attempt, run_at, finished_at, failure fields
      ['completed', rows.completed ?? 0, '1', 'now()', 'now()', 'NULL'],
      ['dead', rows.dead ?? 0, '4', 'now()', 'now()', "'Error: seeded failure'"],
      ['scheduled', rows.scheduled ?? 0, '0', "now() + interval '1 day'", 'NULL', 'NULL'],
      ['queued', rows.queued, '0', 'now()', 'NULL', 'NULL'],
    ];
    for (const [state, count, attempt, runAt, finishedAt, reason] of groups) {
      if (count === 0) continue;
      await pgQuery(
        `INSERT INTO ${q} (id, queue, name, payload, state, priority, attempt, max_retries, created_at, run_at, finished_at,
                          failure_reason, first_failed_at, last_failed_at, completed_keep_ms)
         SELECT $1 || x, 'bench', 'noop', '{"i":' || x || '}', $2, 500, ${attempt}, 3, now(), ${runAt}, ${finishedAt},
                ${reason}, CASE WHEN $2 = 'dead' THEN now() END, CASE WHEN $2 = 'dead' THEN now() END,
                CASE WHEN $2 = 'queued' THEN 0 END
         FROM generate_series(1, $3::int) AS x`,
        [`seed-${tag}-${state}-`, state, count],
      );
    }
    await pgQuery(`ANALYZE ${q}`);
  },
};
