/**
 * What the HTTP benchmark measures: a SpindleServer (defaults: loopback, no auth, Fastify's
 * logger off) over a Client opened with its defaults (maintenance on, durable commits) on a fresh
 * store: a new SQLite file (WAL, synchronous=FULL as shipped) or a new PostgreSQL schema (pool of
 * 10, as shipped). `close()` stops everything and removes the store.
 *
 * The backend's `insertJobs` is wrapped to count calls and jobs, so a run can report how many
 * enqueues the Client's group commit put in one insert transaction (measurement only: the
 * wrapper passes every call through unchanged).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, silentLogger, type Backend } from '@spindle/core';
import { PostgresBackend } from '@spindle/postgres';
import { SpindleServer } from '@spindle/server';
import { SqliteBackend } from '@spindle/sqlite';
import { PG_URL, pgQuery } from '../systems/spindle-postgres.js';

export type StoreKind = 'sqlite' | 'postgres';
export const STORE_LABELS: Record<StoreKind, string> = { sqlite: 'Spindle (SQLite)', postgres: 'Spindle (PostgreSQL)' };
export const STORE_SETTINGS: Record<StoreKind, string> = {
  sqlite: 'SqliteBackend({ path }) defaults: one file, WAL, synchronous=FULL (an acknowledged enqueue survives power loss)',
  postgres: 'PostgresBackend({ connectionString, schema }) defaults: pool of 10, synchronous_commit on',
};

export interface Target {
  url: string;
  client: Client;
  /** TCP connections the server has accepted so far (keep-alive check: one per autocannon connection). */
  socketsOpened(): number;
  /** Insert transactions and the jobs in them so far. */
  inserts(): { calls: number; jobs: number };
  close(): Promise<void>;
}

async function openStore(kind: StoreKind): Promise<{ backend: Backend; remove(): Promise<void> }> {
  if (kind === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'spindle-bench-http-'));
    return { backend: new SqliteBackend({ path: join(dir, 'spindle.db') }), remove: () => rm(dir, { recursive: true, force: true }) };
  }
  const schema = `spindle_bench_http_${randomBytes(5).toString('hex')}`;
  return {
    backend: new PostgresBackend({ connectionString: PG_URL, schema }),
    remove: async () => {
      await pgQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
  };
}

export async function openTarget(kind: StoreKind): Promise<Target> {
  const { backend, remove } = await openStore(kind);
  const inserts = { calls: 0, jobs: 0 };
  const insertJobs = backend.insertJobs.bind(backend);
  backend.insertJobs = (params) => {
    inserts.calls += 1;
    inserts.jobs += params.jobs.length;
    return insertJobs(params);
  };
  const client = await Client.open({ backend, logger: silentLogger });
  const server = new SpindleServer(client, { port: 0 });
  const url = await server.start();
  let sockets = 0;
  (await server.app()).server.on('connection', () => (sockets += 1));
  return {
    url,
    client,
    socketsOpened: () => sockets,
    inserts: () => ({ ...inserts }),
    async close() {
      await server.stop();
      await client.close();
      await remove();
    },
  };
}
