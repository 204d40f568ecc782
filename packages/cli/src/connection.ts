/**
 * Where the CLI connects, and opening it. `resolveTarget` applies the precedence
 * flags > environment > defaults: `--url`/`--db` flags, then SPINDLE_URL, then SPINDLE_DB, then
 * DATABASE_URL when it is a PostgreSQL URL (the platform convention; other schemes are not
 * ours and are ignored), then the default SQLite file. `openClient` opens a library Client on a database target (SQLite
 * file or PostgreSQL), importing the backend package only when it is used.
 *
 * Invariants:
 * - Nothing is opened, created or contacted while resolving; bad flags are usage errors.
 * - A command that only reads never creates a SQLite file: a missing file is "cannot connect".
 * - Secrets (passwords in URLs, API keys) never appear in messages (`describeTarget`).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Client, IDENTIFIER_RE, silentLogger, type Backend, type Logger } from '@spindle/core';
import { CliError, EXIT, toCliError, usageError } from './errors.js';

export type Target =
  | { kind: 'http'; url: string; apiKey: string | undefined }
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string; schema: string };

export type DbTarget = Exclude<Target, { kind: 'http' }>;

export interface ConnectionFlags {
  url?: string;
  apiKey?: string;
  db?: string;
  schema?: string;
}

export const DEFAULT_DB = '.spindle/spindle.db';
const MAX_SCHEMA_CHARS = 55;
const PG_OPEN_TIMEOUT_MS = 15_000;

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v);

function normalizeUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`--url ${JSON.stringify(raw)} is not a URL (e.g. http://127.0.0.1:7700)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`--url must be an http:// or https:// URL (got ${url.protocol})`);
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
}

function dbTarget(db: string, schemaFlag: string | undefined, env: NodeJS.ProcessEnv): DbTarget {
  if (/^postgres(ql)?:\/\//i.test(db)) {
    const schema = schemaFlag ?? nonEmpty(env.SPINDLE_SCHEMA) ?? 'spindle';
    if (!IDENTIFIER_RE.test(schema) || schema.length > MAX_SCHEMA_CHARS) throw usageError(`invalid --schema ${JSON.stringify(schema)}: use 1-${MAX_SCHEMA_CHARS} characters of A-Z a-z 0-9 . _ -`);
    return { kind: 'postgres', url: db, schema };
  }
  if (schemaFlag !== undefined) throw usageError('--schema only applies to PostgreSQL (--db postgres://…)');
  return { kind: 'sqlite', path: db };
}

export interface ResolveOptions {
  /** The command can talk to a server (false: serve, migrate, demo need a database). */
  allowHttp: boolean;
  /** Default database when neither flags nor environment name one. */
  defaultDb?: string;
  /** Ignore SPINDLE_DB (demo: never write demo jobs into the database the environment names). */
  ignoreEnvDb?: boolean;
}

export function resolveTarget(flags: ConnectionFlags, env: NodeJS.ProcessEnv, options: ResolveOptions): Target {
  const url = nonEmpty(flags.url);
  const db = nonEmpty(flags.db);
  if (flags.url !== undefined && flags.db !== undefined) throw usageError('give either --url (a server) or --db (a database), not both');
  if (url !== undefined && !options.allowHttp) throw usageError('this command needs a database (--db <file | postgres://…>), not a server URL');
  const envUrl = options.allowHttp && db === undefined ? nonEmpty(env.SPINDLE_URL) : undefined;
  const chosenUrl = url ?? envUrl;
  if (chosenUrl !== undefined) {
    if (flags.schema !== undefined) throw usageError('--schema only applies to PostgreSQL (--db postgres://…), not to --url');
    return { kind: 'http', url: normalizeUrl(chosenUrl), apiKey: nonEmpty(flags.apiKey) ?? nonEmpty(env.SPINDLE_API_KEY) };
  }
  if (flags.apiKey !== undefined) throw usageError('--api-key only applies with --url (a server)');
  const envDb = options.ignoreEnvDb ? undefined : nonEmpty(env.SPINDLE_DB) ?? postgresUrl(env.DATABASE_URL);
  return dbTarget(db ?? envDb ?? options.defaultDb ?? DEFAULT_DB, flags.schema, env);
}

/** `value` when it is a PostgreSQL connection URL, else undefined. */
function postgresUrl(value: string | undefined): string | undefined {
  const url = nonEmpty(value);
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url) ? url : undefined;
}

/** A target for messages: `sqlite:path`, `postgres://user@host/db (schema s)`, the server URL. */
export function describeTarget(target: Target): string {
  if (target.kind === 'http') return target.url;
  if (target.kind === 'sqlite') return `sqlite:${target.path}`;
  try {
    const u = new URL(target.url);
    if (u.password) u.password = '***';
    return `${u.protocol}//${u.username ? `${u.username}@` : ''}${u.host}${u.pathname} (schema ${target.schema})`;
  } catch {
    return `postgres (schema ${target.schema})`;
  }
}

export interface OpenOptions {
  /** Create the SQLite file (and its folder) when missing (enqueue, migrate, serve, demo). */
  create: boolean;
  /** Apply migrations on open; false: fail when the schema is behind. */
  migrate: boolean;
  /** Run maintenance (leader election, promoter, rescuer, pruner): long-running commands only. */
  maintenance?: boolean;
  /** Record throughput counters and worker heartbeats. */
  telemetry?: boolean;
  /** Receive events from other processes (PostgreSQL LISTEN): tail, serve, demo. */
  events?: boolean;
  logger?: Logger;
  poolMax?: number;
}

/** The backend of a database target, not yet connected (migrate uses it without a Client). */
export async function openBackend(target: DbTarget, options: Pick<OpenOptions, 'create' | 'events' | 'poolMax'>): Promise<Backend> {
  if (target.kind === 'sqlite') {
    const file = target.path !== ':memory:' && target.path !== '';
    if (file && !existsSync(target.path)) {
      if (!options.create) throw new CliError(`no Spindle database at ${target.path} (create one with \`spindle migrate --db ${target.path}\`)`, EXIT.unreachable);
      mkdirSync(dirname(target.path), { recursive: true });
    }
    const { SqliteBackend } = await import('@spindle/sqlite');
    try {
      return new SqliteBackend({ path: target.path });
    } catch (err) {
      throw toCliError(err, describeTarget(target));
    }
  }
  const { PostgresBackend } = await import('@spindle/postgres');
  return new PostgresBackend({ connectionString: target.url, schema: target.schema, poolMax: options.poolMax ?? 2, listen: options.events ?? false, applicationName: 'spindle-cli' });
}

/** Resolves `work` or rejects with "cannot connect" after `ms` (a silent network never hangs the CLI). */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CliError(`${what} did not answer within ${ms / 1000} s`, EXIT.unreachable)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export async function openClient(target: DbTarget, options: OpenOptions): Promise<Client> {
  const backend = await openBackend(target, options);
  const client = new Client({
    backend,
    autoMigrate: options.migrate,
    maintenance: options.maintenance ?? false,
    telemetry: options.telemetry ?? false,
    tracing: false,
    logger: options.logger ?? silentLogger,
  });
  try {
    const start = client.start();
    await (target.kind === 'postgres' ? withDeadline(start, PG_OPEN_TIMEOUT_MS, describeTarget(target)) : start);
    return client;
  } catch (err) {
    // close() waits for the start; after a deadline that may still be hanging on the network,
    // so it is left to finish in the background (the process exits after the error anyway).
    const closing = client.close().catch(() => undefined);
    if (!(err instanceof CliError)) await closing;
    throw toCliError(err, describeTarget(target));
  }
}
