/**
 * Test helper of the PostgreSQL backend: a migrated backend in a fresh random schema of the
 * database named by SPINDLE_PG_URL (default postgres://postgres@127.0.0.1:5432/test), and its
 * cleanup (close, then DROP SCHEMA … CASCADE). Used by this package's tests and by the shared
 * conformance suite.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresBackend, type PostgresBackendOptions } from '../src/index.js';

export const TEST_PG_URL = process.env.SPINDLE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh schema name: `spindle_t_<random>`. */
export function randomSchema(): string {
  return `spindle_t_${randomBytes(6).toString('hex')}`;
}

/** Drops a test schema (and everything in it). */
export async function dropSchema(schema: string, connectionString = TEST_PG_URL): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

export async function makeTestBackend(): Promise<{
  backend: PostgresBackend;
  schema: string;
  connectionString: string;
  cleanup(): Promise<void>;
}> {
  return makeTestBackendWith({});
}

/** Like makeTestBackend, with extra options (e.g. `applicationName`). */
export async function makeTestBackendWith(options: Omit<PostgresBackendOptions, 'schema' | 'connectionString' | 'pool'>): Promise<{
  backend: PostgresBackend;
  schema: string;
  connectionString: string;
  cleanup(): Promise<void>;
}> {
  const schema = randomSchema();
  const connectionString = TEST_PG_URL;
  const backend = new PostgresBackend({ connectionString, schema, poolMax: 4, ...options });
  try {
    await backend.migrate();
  } catch (err) {
    await backend.close();
    await dropSchema(schema, connectionString).catch(() => {});
    throw err;
  }
  let cleaned = false;
  return {
    backend,
    schema,
    connectionString,
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      await backend.close();
      await dropSchema(schema, connectionString);
    },
  };
}
