/**
 * Options of the PostgreSQL backend and everything derived from them once, at construction:
 * the quoted schema, table names, the NOTIFY channel, prepared-statement names and advisory
 * lock keys.
 *
 * Invariants:
 * - The schema name is the only identifier ever interpolated into SQL. It is validated against
 *   IDENTIFIER_RE (plus PostgreSQL's 63-byte identifier limit, see MAX_SCHEMA_CHARS) and always
 *   used double-quoted. Every value is a bound parameter.
 * - Prepared-statement names embed a hash of the schema, so two backends on different schemas
 *   can share one caller-supplied pool without their statement names colliding.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { IDENTIFIER_RE, ValidationError, type ValidationIssue } from '@spindle/core';

export interface PostgresBackendOptions {
  /** libpq-style URL, e.g. `postgres://user@host:5432/db`. Ignored when `pool` is given. */
  connectionString?: string;
  /** A pool owned by the caller: used as is and NOT ended by `close()`. */
  pool?: pg.Pool;
  /** Schema holding Spindle's tables (created by `migrate()`). Default `spindle`. */
  schema?: string;
  /** Size of the pool this backend creates (not used with `pool`). Default 10. */
  poolMax?: number;
  /** Open a LISTEN connection on the first `subscribe()` for cross-process events. Default true. */
  listen?: boolean;
  /** `application_name` of our connections (the LISTEN and leader clients get a suffix). */
  applicationName?: string;
  /**
   * Longest wait, in ms, for a connection: opening one (on a silent network the handshake is
   * never answered) or waiting for a free one of the pool. The call then fails with a
   * BackendError instead of waiting for the network to come back. Default: no limit. Also read
   * from the connection string's libpq parameter `connect_timeout` (seconds) when not given
   * here. Not used with `pool` (configure `connectionTimeoutMillis` on it).
   */
  connectTimeoutMs?: number;
  /**
   * Longest wait, in ms, for the answer to one statement, timed in this process (pg's
   * `query_timeout`): a statement sent on a connection whose network went silent fails with a
   * BackendError instead of waiting for the network. The statement may still reach the server
   * and take effect later, as with any lost answer; the connection is discarded. Default: no
   * limit. A `query_timeout` parameter (ms) of the connection string takes precedence (pg's
   * rule: the URL's parameters override). Not used with `pool` (configure `query_timeout` on it).
   * Bound of one call on a dead network: connectTimeoutMs + queryTimeoutMs (a transaction also
   * waits queryTimeoutMs for its ROLLBACK).
   */
  queryTimeoutMs?: number;
}

/**
 * Longest accepted schema name. PostgreSQL truncates identifiers to 63 bytes and rejects NOTIFY
 * channels of 64 bytes or more; the channel is `spindle:<schema>`, so the schema gets 55.
 */
export const MAX_SCHEMA_CHARS = 55;

export interface SchemaNames {
  /** The schema name as given. */
  schema: string;
  /** `"schema"`: the quoted identifier for SQL text. */
  q: string;
  jobs: string;
  queues: string;
  migrations: string;
  /** Topic tables of migration 0010 (topics.ts, topic-groups.ts). */
  topics: string;
  topicPartitions: string;
  topicMessages: string;
  consumerGroups: string;
  groupMembers: string;
  groupOffsets: string;
  /**
   * First key (int4) of the transaction-level advisory locks that serialise publishers of one
   * idempotency key (topics.ts); the two-key lock space never meets the one-key locks above.
   */
  topicKeyLockClass: number;
  /** NOTIFY/LISTEN channel `spindle:<schema>`. */
  channel: string;
  /** Advisory lock key (int8 as text) serialising migrations of this schema. */
  migrateLockKey: string;
  /** Advisory lock key (int8 as text) of the maintenance leader of this schema. */
  leaderLockKey: string;
  /** Name of a prepared statement for this schema (<= 63 bytes). */
  statement(name: string): string;
}

/** A stable signed 64-bit advisory-lock key for `text` (first 8 bytes of its SHA-256). */
export function lockKey(text: string): string {
  const digest = createHash('sha256').update(text, 'utf8').digest();
  return digest.readBigInt64BE(0).toString();
}

export function schemaNames(schema: string): SchemaNames {
  const q = `"${schema}"`;
  const tag = createHash('sha256').update(schema, 'utf8').digest('hex').slice(0, 10);
  return {
    schema,
    q,
    jobs: `${q}.jobs`,
    queues: `${q}.queues`,
    migrations: `${q}.migrations`,
    topics: `${q}.topics`,
    topicPartitions: `${q}.topic_partitions`,
    topicMessages: `${q}.topic_messages`,
    consumerGroups: `${q}.consumer_groups`,
    groupMembers: `${q}.group_members`,
    groupOffsets: `${q}.group_offsets`,
    topicKeyLockClass: createHash('sha256').update(`${schema}:topic-keys`, 'utf8').digest().readInt32BE(0),
    channel: `spindle:${schema}`,
    migrateLockKey: lockKey(schema),
    leaderLockKey: lockKey(`${schema}:leader`),
    statement: (name) => `spindle_${tag}_${name}`,
  };
}

export interface ResolvedOptions {
  names: SchemaNames;
  poolMax: number;
  listen: boolean;
  applicationName: string;
  /** From the option, else the URL's `connect_timeout` (s); null: no limit. */
  connectTimeoutMs: number | null;
  queryTimeoutMs: number | null;
}

/** libpq's `connect_timeout` (seconds) of a connection string, in ms; null when absent or not positive. */
export function connectTimeoutFromUrl(connectionString: string | undefined): number | null {
  if (!connectionString) return null;
  let value: string | null = null;
  try {
    value = new URL(connectionString).searchParams.get('connect_timeout');
  } catch {
    return null; // not a URL (e.g. a socket path): pg parses it, we read nothing from it
  }
  const seconds = value === null ? NaN : Number(value);
  return Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : null;
}

/** Validates the options; throws ValidationError naming every bad field. */
export function resolveOptions(options: PostgresBackendOptions): ResolvedOptions {
  const issues: ValidationIssue[] = [];
  const schema = options.schema ?? 'spindle';
  if (typeof schema !== 'string' || !IDENTIFIER_RE.test(schema)) {
    issues.push({ path: 'schema', message: `must match ${String(IDENTIFIER_RE)}` });
  } else if (schema.length > MAX_SCHEMA_CHARS) {
    issues.push({ path: 'schema', message: `must be at most ${MAX_SCHEMA_CHARS} characters on PostgreSQL` });
  }
  const poolMax = options.poolMax ?? 10;
  if (!Number.isInteger(poolMax) || poolMax < 1) issues.push({ path: 'poolMax', message: 'must be an integer >= 1' });
  if (options.pool !== undefined && options.connectionString !== undefined) {
    issues.push({ path: 'pool', message: 'give either pool or connectionString, not both' });
  }
  const applicationName = options.applicationName ?? 'spindle';
  if (typeof applicationName !== 'string' || applicationName.length > 48) {
    issues.push({ path: 'applicationName', message: 'must be a string of at most 48 characters' });
  }
  for (const key of ['connectTimeoutMs', 'queryTimeoutMs'] as const) {
    const v = options[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 2_147_483_647)) issues.push({ path: key, message: 'must be an integer number of ms >= 1' });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return {
    names: schemaNames(schema), poolMax, listen: options.listen ?? true, applicationName,
    connectTimeoutMs: options.connectTimeoutMs ?? connectTimeoutFromUrl(options.connectionString),
    queryTimeoutMs: options.queryTimeoutMs ?? null,
  };
}
