/**
 * Test plumbing of the server: a started Client on a fresh real database (a temporary SQLite
 * file, or a random PostgreSQL schema dropped afterwards) with a SpindleServer over it, and
 * helpers for JSON injection. Every server test runs on both backends through `BACKENDS`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, silentLogger, type Backend } from '@spindle/core';
import { PostgresBackend } from '@spindle/postgres';
import { SqliteBackend } from '@spindle/sqlite';
import pg from 'pg';
import type { App, ServerOptions } from '../src/index.js';
import { SpindleServer } from '../src/index.js';

export const TEST_PG_URL = process.env.SPINDLE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface BackendMaker {
  name: 'sqlite' | 'postgres';
  make(): Promise<{ backend: Backend; cleanup(): Promise<void> }>;
}

export const BACKENDS: BackendMaker[] = [
  {
    name: 'sqlite',
    async make() {
      const dir = await mkdtemp(join(tmpdir(), 'spindle-server-'));
      const backend = new SqliteBackend({ path: join(dir, 'spindle.db') });
      return {
        backend,
        async cleanup() {
          await backend.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'postgres',
    async make() {
      const schema = `spindle_t_${randomBytes(6).toString('hex')}`;
      const backend = new PostgresBackend({ connectionString: TEST_PG_URL, schema, poolMax: 4 });
      return {
        backend,
        async cleanup() {
          await backend.close();
          const admin = new pg.Client({ connectionString: TEST_PG_URL });
          await admin.connect();
          try {
            await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          } finally {
            await admin.end();
          }
        },
      };
    },
  },
];

export interface Fixture {
  client: Client;
  server: SpindleServer;
  app: App;
  /** The client's backend, for writes the API cannot make (e.g. backdated store rows). */
  backend: Backend;
}

/** Runs `body` with a started client and a built (not listening) server; always cleans up. */
export async function withServer(maker: BackendMaker, body: (f: Fixture) => Promise<void>, options: ServerOptions = {}): Promise<void> {
  const { backend, cleanup } = await maker.make();
  const client = new Client({
    backend,
    logger: silentLogger,
    closeBackend: false,
    maintenance: { promoteIntervalMs: 20, rescueIntervalMs: 40, pruneIntervalMs: 50, leaderTtlMs: 2000 },
    telemetry: { heartbeatMs: 50, statsFlushMs: 50 },
  });
  const server = new SpindleServer(client, { port: 0, workerReportMs: 50, ...options });
  try {
    await client.start();
    const app = await server.app();
    await body({ client, server, app, backend });
  } finally {
    await server.stop();
    await client.close({ graceMs: 200 });
    await cleanup();
  }
}

/** Injects a JSON request and returns status, parsed body and headers. */
export async function call(app: App, method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await app.inject({
    method: method as 'GET',
    url,
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } }),
    ...(body === undefined ? { headers } : {}),
  });
  let json: any = null;
  try {
    json = res.body.length > 0 ? JSON.parse(res.body) : null;
  } catch {
    json = null;
  }
  return { status: res.statusCode, body: json, headers: res.headers, raw: res.body };
}

export async function waitFor<T>(probe: () => Promise<T> | T, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
