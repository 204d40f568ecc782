/**
 * The databases the chaos scenarios run against: a fresh SQLite file in a temp dir, or a fresh
 * schema in PostgreSQL (database `test` on 127.0.0.1:5432, user postgres, unless SPINDLE_PG_URL
 * says otherwise), and how a worker process opens the same database from its environment.
 *
 * Owns: creating and dropping a run's database, the environment variables that name it, and
 * opening a backend on it.
 *
 * Invariants:
 * - Each run gets its own database (a new file / a new random schema): runs never share state.
 * - `cleanup()` is idempotent and is called whatever happened (the runner's `finally`).
 * - The schema is migrated once, by the runner, before any worker starts (workers do not migrate).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import type { Backend } from '@spindle/core';
import { SqliteBackend } from '@spindle/sqlite';
import { PostgresBackend } from '@spindle/postgres';

export type BackendKind = 'sqlite' | 'postgres';
export const BACKEND_KINDS: readonly BackendKind[] = ['sqlite', 'postgres'];

export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

export type DbTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string; schema: string };

/** The environment a child process needs to open `target`. */
export function targetEnv(target: DbTarget): Record<string, string> {
  return target.kind === 'sqlite'
    ? { CHAOS_BACKEND: 'sqlite', CHAOS_SQLITE_PATH: target.path }
    : { CHAOS_BACKEND: 'postgres', CHAOS_PG_URL: target.url, CHAOS_PG_SCHEMA: target.schema };
}

export function targetFromEnv(env: NodeJS.ProcessEnv): DbTarget {
  if (env.CHAOS_BACKEND === 'sqlite' && env.CHAOS_SQLITE_PATH) return { kind: 'sqlite', path: env.CHAOS_SQLITE_PATH };
  if (env.CHAOS_BACKEND === 'postgres' && env.CHAOS_PG_URL && env.CHAOS_PG_SCHEMA) return { kind: 'postgres', url: env.CHAOS_PG_URL, schema: env.CHAOS_PG_SCHEMA };
  throw new Error('chaos: CHAOS_BACKEND with CHAOS_SQLITE_PATH, or CHAOS_PG_URL and CHAOS_PG_SCHEMA, must name the database');
}

/** A backend on the target (not migrated). `poolMax` applies to PostgreSQL only. */
export function openBackend(target: DbTarget, poolMax = 4): Backend {
  return target.kind === 'sqlite'
    ? new SqliteBackend({ path: target.path })
    : new PostgresBackend({ connectionString: target.url, schema: target.schema, poolMax, applicationName: 'spindle-chaos' });
}

export interface RunDatabase {
  target: DbTarget;
  /** Drops the schema (PostgreSQL); the SQLite file goes with the run's temp dir. Idempotent. */
  cleanup(): Promise<void>;
}

/** A fresh, migrated database for one run; `dir` is the run's temp dir (SQLite's file goes there). */
export async function createDatabase(kind: BackendKind, dir: string): Promise<RunDatabase> {
  const target: DbTarget = kind === 'sqlite'
    ? { kind, path: join(dir, 'db.sqlite') }
    : { kind, url: process.env.SPINDLE_PG_URL ?? DEFAULT_PG_URL, schema: `spindle_chaos_${randomBytes(6).toString('hex')}` };
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned || target.kind !== 'postgres') return;
    cleaned = true;
    const client = new pg.Client({ connectionString: target.url });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${target.schema}" CASCADE`);
    } finally {
      await client.end();
    }
  };
  const backend = openBackend(target, 2);
  try {
    await backend.migrate();
  } catch (err) {
    await backend.close().catch(() => {});
    await cleanup().catch(() => {});
    throw err;
  }
  await backend.close();
  return { target, cleanup };
}
