/**
 * The one door to the pool: every query of the backend goes through `Db`, which refuses work
 * after `close()` and translates driver failures into BackendError (the one translation
 * function, `toBackendError`). Also builds the connection config of the dedicated clients
 * (LISTEN, leader) that must not come from the pool.
 *
 * Invariants:
 * - No driver error crosses the Backend seam bare: it is wrapped with the original as `cause`.
 * - A pool supplied by the caller is never ended here.
 * - `transaction()` always ends with COMMIT or ROLLBACK and releases its client; a client whose
 *   ROLLBACK failed is destroyed rather than returned to the pool.
 * - Durability (docs/decisions/0007): statements run on the main pool commit durably. Only
 *   writes whose loss the design already tolerates (claims, heartbeats, progress) may ask for
 *   `relaxed`: they then run on a second pool, created on first use with the main pool's size,
 *   whose sessions have `synchronous_commit = off` (the commit returns before its WAL is
 *   flushed; any later durable commit flushes it too, as WAL is written in order). With a
 *   caller's pool we cannot choose session settings, so relaxed statements run on it,
 *   synchronously. close() ends both pools we created.
 * - Waits on the network are bounded only when asked (connectTimeoutMs / queryTimeoutMs, or
 *   the URL's connect_timeout / query_timeout): both pools and the dedicated clients are built
 *   from one config, so they share the bounds. Without them a call on a silent network waits
 *   until the network returns (C5 of the reliability plan measured it).
 */
import pg from 'pg';
import { BackendError, ClosedError, SpindleError } from '@spindle/core';

/** Wraps a driver error; SpindleErrors (ours) pass through unchanged. */
export function toBackendError(operation: string, err: unknown): SpindleError {
  if (err instanceof SpindleError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = pgErrorCode(err);
  return new BackendError(`postgres: ${operation} failed${code ? ` [${code}]` : ''}: ${message}`, err);
}

/** The SQLSTATE of a driver error (e.g. `23505`), if any. Looks through BackendError causes. */
export function pgErrorCode(err: unknown): string | undefined {
  const target = err instanceof BackendError ? err.cause : err;
  const code = (target as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export type Row = Record<string, unknown>;

/**
 * Ends a dedicated client without ever hanging: on a silently dead socket `end()` may wait
 * forever for the server, so after `timeoutMs` the socket is destroyed instead.
 */
export async function endClient(client: pg.Client, timeoutMs = 2_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      // pg keeps its socket at `connection.stream` (not part of the typed API).
      (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      resolve();
    }, timeoutMs);
  });
  try {
    await Promise.race([client.end().catch(() => {}), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

const DEADLOCK_DETECTED = '40P01';
const DEADLOCK_RETRIES = 3;

/** Startup option of the relaxed pool's sessions. */
export const RELAXED_OPTION = '-c synchronous_commit=off';

/**
 * Startup option of every session we open: no JIT. Our statements are short OLTP statements;
 * a large batch crosses the JIT cost threshold and compiling it cost ~1.2 s of a 5,000-row
 * insert that takes 0.29 s without JIT (measured here on PostgreSQL 15).
 */
export const NO_JIT_OPTION = '-c jit=off';

/**
 * `base` with `synchronous_commit = off` added to its sessions' startup `options`, keeping
 * options already given (in the config, the URL's `options` parameter, or PGOPTIONS). pg lets
 * the URL's parameters override the config's, so an `options` parameter of the URL is extended
 * in place.
 */
export function relaxedClientConfig(base: pg.ClientConfig): pg.ClientConfig {
  return withSessionOption(base, RELAXED_OPTION);
}

/** `base` with one more startup option (`-c name=value`), keeping those already given. */
export function withSessionOption(base: pg.ClientConfig, option: string): pg.ClientConfig {
  const join = (given: string | null | undefined) => (given ? `${given} ${option}` : option);
  if (base.connectionString) {
    let url: URL | undefined;
    try {
      url = new URL(base.connectionString);
    } catch {
      url = undefined;
    }
    if (url?.searchParams.has('options')) {
      url.searchParams.set('options', join(url.searchParams.get('options')));
      return { ...base, connectionString: url.toString() };
    }
  }
  return { ...base, options: join(base.options ?? process.env.PGOPTIONS) };
}

/** Where a statement runs: a caller's client, or the relaxed pool (see the invariants above). */
export interface QueryTarget {
  client?: pg.ClientBase;
  relaxed?: boolean;
}

export interface ConnectionSource {
  connectionString?: string;
  pool?: pg.Pool;
  poolMax: number;
  applicationName: string;
  /** pg `connectionTimeoutMillis` of our pools and dedicated clients (null: none). */
  connectTimeoutMs?: number | null;
  /** pg `query_timeout` of our pools and dedicated clients (null: none). */
  queryTimeoutMs?: number | null;
}

export class Db {
  readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly clientBase: pg.ClientConfig;
  private readonly poolMax: number;
  private relaxed: pg.Pool | null = null;
  private closed = false;

  constructor(source: ConnectionSource) {
    this.poolMax = source.poolMax;
    if (source.pool) {
      this.pool = source.pool;
      this.ownsPool = false;
      // pg-pool builds its clients from `options`, so they carry the connection settings.
      this.clientBase = { ...(source.pool.options as pg.ClientConfig) };
    } else {
      const base: pg.ClientConfig = { connectionString: source.connectionString, application_name: source.applicationName };
      // Bounds on a silent network (see PostgresBackendOptions): pg-pool reads
      // connectionTimeoutMillis for the wait for a client, pg.Client for its handshake.
      if (source.connectTimeoutMs) base.connectionTimeoutMillis = source.connectTimeoutMs;
      if (source.queryTimeoutMs) base.query_timeout = source.queryTimeoutMs;
      this.clientBase = withSessionOption(base, NO_JIT_OPTION);
      this.pool = new pg.Pool({ ...this.clientBase, max: source.poolMax });
      this.ownsPool = true;
      // An idle client killed by the server emits 'error' on the pool; without a listener that
      // would crash the process. The pool drops the client by itself.
      this.pool.on('error', () => {});
    }
  }

  /** Config for a dedicated connection outside the pool (LISTEN, leadership). */
  dedicatedClientConfig(applicationName: string): pg.ClientConfig {
    return { ...this.clientBase, application_name: applicationName, keepAlive: true };
  }

  /**
   * The pool of relaxed-durability statements: ours with `synchronous_commit = off` (created on
   * first use, same size as the main pool), or the caller's pool (synchronous) when one was given.
   */
  get relaxedPool(): pg.Pool {
    if (!this.ownsPool) return this.pool;
    if (!this.relaxed) {
      this.assertOpen();
      this.relaxed = new pg.Pool({ ...relaxedClientConfig(this.clientBase), max: this.poolMax });
      this.relaxed.on('error', () => {});
    }
    return this.relaxed;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  assertOpen(): void {
    if (this.closed) throw new ClosedError('postgres backend');
  }

  /**
   * Runs one statement on the main pool (or `target`: a caller's client, or the relaxed pool)
   * and returns its rows. A statement on a pool that PostgreSQL aborted as a deadlock victim
   * changed nothing and is re-run (a few times).
   */
  async query<R extends Row = Row>(operation: string, config: pg.QueryConfig, target: QueryTarget = {}): Promise<R[]> {
    this.assertOpen();
    const client = target.client;
    const runner = client ?? (target.relaxed ? this.relaxedPool : this.pool);
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await runner.query<R>(config);
        return result.rows;
      } catch (err) {
        if (client || attempt >= DEADLOCK_RETRIES || pgErrorCode(err) !== DEADLOCK_DETECTED) {
          throw toBackendError(operation, err);
        }
      }
    }
  }

  /**
   * Runs `fn` inside BEGIN … COMMIT on one pooled client; ROLLBACK on any error. `relaxed`: on
   * the relaxed pool (the commit does not wait for the WAL flush), for writes whose loss the
   * design tolerates (a limited claim).
   */
  async transaction<T>(operation: string, fn: (client: pg.PoolClient) => Promise<T>, options: { relaxed?: boolean } = {}): Promise<T> {
    this.assertOpen();
    let client: pg.PoolClient;
    try {
      client = await (options.relaxed ? this.relaxedPool : this.pool).connect();
    } catch (err) {
      throw toBackendError(operation, err);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const value = await fn(client);
      await client.query('COMMIT');
      return value;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      }
      throw toBackendError(operation, err);
    } finally {
      client.release(broken);
    }
  }

  /** Ends the pools we created. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await Promise.all([this.pool.end(), this.relaxed?.end()]);
  }
}
