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

export interface ConnectionSource {
  connectionString?: string;
  pool?: pg.Pool;
  poolMax: number;
  applicationName: string;
}

export class Db {
  readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly clientBase: pg.ClientConfig;
  private closed = false;

  constructor(source: ConnectionSource) {
    if (source.pool) {
      this.pool = source.pool;
      this.ownsPool = false;
      // pg-pool builds its clients from `options`, so they carry the connection settings.
      this.clientBase = { ...(source.pool.options as pg.ClientConfig) };
    } else {
      this.clientBase = { connectionString: source.connectionString, application_name: source.applicationName };
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

  get isClosed(): boolean {
    return this.closed;
  }

  assertOpen(): void {
    if (this.closed) throw new ClosedError('postgres backend');
  }

  /**
   * Runs one statement on the pool (or on `client`) and returns its rows. A statement on the
   * pool that PostgreSQL aborted as a deadlock victim changed nothing and is re-run (a few times).
   */
  async query<R extends Row = Row>(operation: string, config: pg.QueryConfig, client?: pg.ClientBase): Promise<R[]> {
    this.assertOpen();
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await (client ?? this.pool).query<R>(config);
        return result.rows;
      } catch (err) {
        if (client || attempt >= DEADLOCK_RETRIES || pgErrorCode(err) !== DEADLOCK_DETECTED) {
          throw toBackendError(operation, err);
        }
      }
    }
  }

  /** Runs `fn` inside BEGIN … COMMIT on one pooled client; ROLLBACK on any error. */
  async transaction<T>(operation: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.assertOpen();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
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

  /** Ends the pool if we created it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }
}
