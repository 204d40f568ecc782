/**
 * The raw ceiling: what each database does on its own for rows of a job's shape, with nothing
 * of a queue around it — the rate no queue on that database can beat.
 *  - insert: N rows of Spindle's job shape, 1,000 per transaction (SQLite: a prepared single-row
 *    INSERT run 1,000 times per transaction; PostgreSQL: one multi-row INSERT … FROM unnest per
 *    1,000, its own commit; Redis: one pipeline of HSET + RPUSH per 1,000 jobs).
 *  - update: the same rows updated by primary key, 1,000 per transaction/statement/pipeline
 *    (a claim or a completion is one such update).
 *  - commit: one row inserted per transaction, 500 times 10 ms apart (the spacing of the latency
 *    workloads; an idle gap makes a commit slower), each awaited: the latency
 *    of one durable commit (SQLite: the WAL fsync; PostgreSQL: the round trip and WAL flush),
 *    the floor under any enqueue → start latency of a job that is durable before it runs.
 * Rows carry ids of a job's shape (`newJobId()`: 36-character UUIDv7 text, what Spindle stores;
 * a short id such as `c1` makes every primary-key and index entry smaller, and PostgreSQL's
 * insert rate 1.5× higher) and a payload like the benchmark's. Redis keys follow BullMQ's
 * (incrementing integers).
 * A drained job costs at least two updates (claim, complete), so `drainCeiling = update / 2`.
 * Durability as shipped: SQLite WAL + synchronous=FULL, PostgreSQL ordinary commits, Redis as
 * this machine runs it (no persistence).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { SqliteBackend } from '@spindle/sqlite';
import { PostgresBackend } from '@spindle/postgres';
import { newJobId } from '@spindle/core';
import { median } from '../lib/stats.js';
import { PG_URL } from '../systems/spindle-postgres.js';

const BATCH = 1000;
const COMMITS = 500;
const COMMIT_GAP_MS = 10;

interface Ceiling {
  insertRowsPerSec: number;
  updateRowsPerSec: number;
  drainCeilingJobsPerSec: number;
  /** One-row durable commits, awaited one by one (ms); absent for Redis (no durable commit here). */
  commitP50Ms?: number;
  commitP99Ms?: number;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** p50 and p99 of `COMMITS` calls of `commit(i)`, `COMMIT_GAP_MS` apart. */
async function commitLatency(commit: (i: number) => unknown): Promise<{ commitP50Ms: number; commitP99Ms: number }> {
  const ms: number[] = [];
  for (let i = 0; i < COMMITS; i++) {
    const t = performance.now();
    await commit(i);
    ms.push(performance.now() - t);
    await pause(COMMIT_GAP_MS);
  }
  ms.sort((a, b) => a - b);
  const at = (q: number) => Math.round(ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]! * 1000) / 1000;
  return { commitP50Ms: at(0.5), commitP99Ms: at(0.99) };
}

const rate = (rows: number, ms: number) => Math.round((rows / ms) * 1000);

async function sqliteCeiling(rows: number): Promise<Ceiling> {
  const dir = mkdtempSync(join(tmpdir(), 'spindle-ceiling-'));
  const path = join(dir, 'c.db');
  const backend = new SqliteBackend({ path });
  await backend.migrate();
  await backend.close();
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  try {
    const insert = db.prepare(`INSERT INTO spindle_jobs (id, queue, name, payload, state, priority, attempt, max_retries, created_at, run_at)
                               VALUES (?, 'bench', 'noop', ?, 'queued', 500, 0, 3, ?, ?)`);
    const update = db.prepare(`UPDATE spindle_jobs SET state = 'running', attempt = attempt + 1, lease_token = ?, lease_expires_at = ?,
                               started_at = ?, worker_id = 'w' WHERE id = ?`);
    const ids = Array.from({ length: rows }, () => newJobId());
    let t = performance.now();
    for (let i = 0; i < rows; i += BATCH) {
      db.transaction(() => {
        const now = Date.now();
        for (let k = i; k < Math.min(rows, i + BATCH); k++) insert.run(ids[k], `{"i":${k}}`, now, now);
      }).immediate();
    }
    const insertMs = performance.now() - t;
    t = performance.now();
    for (let i = 0; i < rows; i += BATCH) {
      db.transaction(() => {
        const now = Date.now();
        for (let k = i; k < Math.min(rows, i + BATCH); k++) update.run(randomBytes(16).toString('hex'), now + 30_000, now, ids[k]);
      }).immediate();
    }
    const updateMs = performance.now() - t;
    const latency = await commitLatency(() => {
      const now = Date.now();
      insert.run(newJobId(), '{"i":0}', now, now);
    });
    return { insertRowsPerSec: rate(rows, insertMs), updateRowsPerSec: rate(rows, updateMs), drainCeilingJobsPerSec: rate(rows, updateMs * 2), ...latency };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function postgresCeiling(rows: number): Promise<Ceiling> {
  const schema = `spindle_ceiling_${randomBytes(4).toString('hex')}`;
  const backend = new PostgresBackend({ connectionString: PG_URL, schema });
  await backend.migrate();
  await backend.close();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const ids = Array.from({ length: rows }, () => newJobId());
    let t = performance.now();
    for (let i = 0; i < rows; i += BATCH) {
      const slice = ids.slice(i, i + BATCH);
      await client.query({
        name: 'ceiling-insert',
        text: `INSERT INTO "${schema}".jobs (id, queue, name, payload, state, priority, attempt, max_retries, created_at, run_at)
               SELECT id, 'bench', 'noop', p, 'queued', 500, 0, 3, now(), now() FROM unnest($1::text[], $2::text[]) AS u(id, p)`,
        values: [slice, slice.map((_, k) => `{"i":${i + k}}`)],
      });
    }
    const insertMs = performance.now() - t;
    t = performance.now();
    for (let i = 0; i < rows; i += BATCH) {
      const slice = ids.slice(i, i + BATCH);
      await client.query({
        name: 'ceiling-update',
        text: `UPDATE "${schema}".jobs j SET state = 'running', attempt = j.attempt + 1, lease_token = u.token,
                 lease_expires_at = now() + interval '30 seconds', started_at = now(), worker_id = 'w'
               FROM unnest($1::text[], $2::text[]) AS u(id, token) WHERE j.id = u.id`,
        values: [slice, slice.map(() => randomBytes(16).toString('hex'))],
      });
    }
    const updateMs = performance.now() - t;
    const latency = await commitLatency(() =>
      client.query({
        name: 'ceiling-commit',
        text: `INSERT INTO "${schema}".jobs (id, queue, name, payload, state, priority, attempt, max_retries, created_at, run_at)
               VALUES ($1, 'bench', 'noop', '{"i":0}', 'queued', 500, 0, 3, now(), now())`,
        values: [newJobId()],
      }),
    );
    return { insertRowsPerSec: rate(rows, insertMs), updateRowsPerSec: rate(rows, updateMs), drainCeilingJobsPerSec: rate(rows, updateMs * 2), ...latency };
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
}

async function redisCeiling(rows: number): Promise<Ceiling> {
  const redis = new Redis({ host: '127.0.0.1', port: 6379 });
  const prefix = `ceiling:${randomBytes(4).toString('hex')}`;
  try {
    let t = performance.now();
    for (let i = 0; i < rows; i += BATCH) {
      const pipe = redis.pipeline();
      for (let k = i; k < Math.min(rows, i + BATCH); k++) {
        pipe.hset(`${prefix}:${k}`, 'name', 'noop', 'data', `{"i":${k}}`, 'timestamp', Date.now());
        pipe.rpush(`${prefix}:wait`, String(k));
      }
      await pipe.exec();
    }
    const insertMs = performance.now() - t;
    t = performance.now();
    for (let i = 0; i < rows; i += BATCH) {
      const pipe = redis.pipeline();
      for (let k = i; k < Math.min(rows, i + BATCH); k++) {
        pipe.hset(`${prefix}:${k}`, 'processedOn', Date.now(), 'token', randomBytes(16).toString('hex'));
        pipe.lmove(`${prefix}:wait`, `${prefix}:active`, 'LEFT', 'RIGHT');
      }
      await pipe.exec();
    }
    const updateMs = performance.now() - t;
    return { insertRowsPerSec: rate(rows, insertMs), updateRowsPerSec: rate(rows, updateMs), drainCeilingJobsPerSec: rate(rows, updateMs * 2) };
  } finally {
    const keys = await redis.keys(`${prefix}:*`);
    for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
    redis.disconnect();
  }
}

const MEASURE: Record<string, (rows: number) => Promise<Ceiling>> = { sqlite: sqliteCeiling, postgres: postgresCeiling, redis: redisCeiling };

export async function ceilings(stores: string[], rows: number, runs: number): Promise<Record<string, Ceiling & { rows: number }>> {
  const out: Record<string, Ceiling & { rows: number }> = {};
  for (const store of stores) {
    const measures: Ceiling[] = [];
    for (let r = 0; r < runs; r++) measures.push(await MEASURE[store]!(rows));
    out[store] = {
      rows,
      insertRowsPerSec: median(measures.map((m) => m.insertRowsPerSec)),
      updateRowsPerSec: median(measures.map((m) => m.updateRowsPerSec)),
      drainCeilingJobsPerSec: median(measures.map((m) => m.drainCeilingJobsPerSec)),
      ...(measures[0]!.commitP50Ms === undefined
        ? {}
        : { commitP50Ms: median(measures.map((m) => m.commitP50Ms!)), commitP99Ms: median(measures.map((m) => m.commitP99Ms!)) }),
    };
  }
  return out;
}
