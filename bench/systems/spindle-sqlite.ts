/**
 * Spindle on SQLite as shipped: one file, WAL, synchronous=FULL (durable acknowledgements),
 * busy_timeout 5 s. Several worker processes share the file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteBackend } from '@spindle/sqlite';
import type { StoreConfig, SystemAdapter } from '../lib/adapter.js';
import { pendingCounter, spindleProducer, spindleWorker } from './spindle-common.js';

const open = (config: StoreConfig) => new SqliteBackend({ path: String(config.path) });
const counter = pendingCounter(open);

export const adapter: SystemAdapter = {
  name: 'spindle-sqlite',
  label: 'Spindle (SQLite)',
  store: 'sqlite',
  multiProcessWorkers: true,
  settings: {
    durability: 'WAL + synchronous=FULL (the shipped default: an acknowledged job survives power loss)',
    enqueue: 'queue.addBulk (one INSERT transaction per call) / queue.add',
    retention: 'removeOnComplete: true (completed jobs are not kept, as with the BullMQ and graphile-worker settings here); the default keeps them 24 h',
    prefetch: 'prefetch = 500 − concurrency: claims of up to 500 jobs, held locally (the counterpart of graphile-worker\'s local queue)',
    worker: 'queue.process with the given concurrency; otherwise defaults (group-committed outcomes, in-process wake-ups, cross-process wake-ups through the outbox)',
  },
  async versions() {
    const db = new Database(':memory:');
    const v = (db.prepare('select sqlite_version() as v').get() as { v: string }).v;
    db.close();
    return { spindle: '0.1.0', sqlite: v };
  },
  async prepare() {
    const dir = mkdtempSync(join(tmpdir(), 'spindle-bench-'));
    const path = join(dir, 'bench.db');
    const backend = open({ path });
    await backend.migrate();
    await backend.close();
    return { path, dir };
  },
  async dispose(config) {
    await counter.forget(config);
    rmSync(String(config.dir), { recursive: true, force: true });
  },
  async producer(config) {
    return spindleProducer(open(config));
  },
  worker: (config, options) => spindleWorker(open(config), options),
  pending: (config) => counter.pending(config),
  async seed(config, rows) {
    const db = new Database(String(config.path));
    db.pragma('journal_mode = WAL');
    const now = Date.now();
    const tag = `${now.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    // Rows as Spindle writes them (see packages/sqlite/migrations/0001_init.sql); queued rows
    // with the producer's JOB_OPTIONS (removeOnComplete: completed_keep_ms = 0), like the jobs of
    // every other workload.
    const insert = db.prepare(`
      WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < @count)
      INSERT INTO spindle_jobs (id, queue, name, payload, state, priority, attempt, max_retries, created_at, run_at,
                                finished_at, failure_reason, first_failed_at, last_failed_at, completed_keep_ms)
      SELECT @prefix || x, 'bench', 'noop', '{"i":' || x || '}', @state, 500, @attempt, 3, @now, @runAt,
             @finishedAt, @reason, @failedAt, @failedAt, CASE WHEN @state = 'queued' THEN 0 END
      FROM n`);
    const groups: Array<[string, number, Record<string, unknown>]> = [
      ['completed', rows.completed ?? 0, { attempt: 1, runAt: now, finishedAt: now, reason: null, failedAt: null }],
      ['dead', rows.dead ?? 0, { attempt: 4, runAt: now, finishedAt: now, reason: 'Error: seeded failure', failedAt: now }],
      ['scheduled', rows.scheduled ?? 0, { attempt: 0, runAt: now + 86_400_000, finishedAt: null, reason: null, failedAt: null }],
      ['queued', rows.queued, { attempt: 0, runAt: now, finishedAt: null, reason: null, failedAt: null }],
    ];
    for (const [state, count, values] of groups) {
      for (let done = 0; done < count; done += 100_000) {
        const n = Math.min(100_000, count - done);
        db.transaction(() => insert.run({ count: n, prefix: `seed-${tag}-${state}-${done}-`, state, now, ...values }))();
      }
    }
    db.exec('ANALYZE');
    db.close();
  },
};
