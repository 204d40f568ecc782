/**
 * The one better-sqlite3 connection of a backend: opening it with Spindle's pragmas, the
 * prepared-statement cache, and the translation of driver errors into BackendError.
 *
 * Invariants:
 * - Pragmas: `journal_mode = WAL` (file databases), `synchronous` as configured (FULL by
 *   default), `busy_timeout`, `foreign_keys = ON`. They are set before any other statement runs.
 *   `synchronous` is the level between transactions: the relaxed writes of tx.ts (claims,
 *   heartbeats, progress) lower it to NORMAL for their own transaction and restore it after.
 * - Every SQL text is prepared once per connection and reused (`stmt`); statements are prepared
 *   lazily so that a backend can be constructed before its tables exist (migrate() makes them).
 * - No driver error leaves this package bare: `toBackendError` wraps it (cause kept);
 *   SQLITE_BUSY (another process held the write lock past busy_timeout) becomes a BackendError.
 */
import Database from 'better-sqlite3';
import { BackendError, SpindleError } from '@spindle/core';
import type { ResolvedOptions } from './options.js';

export type Db = Database.Database;
export type Stmt = Database.Statement;

export interface ConnectionSettings {
  journalMode: string;
  synchronous: string;
  busyTimeoutMs: number;
  foreignKeys: boolean;
}

const SYNCHRONOUS_NAMES = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];

/** Dynamic SQL (list filters) is cached too; past this many texts the oldest are dropped. */
const MAX_CACHED_STATEMENTS = 500;

export class Connection {
  readonly db: Db;
  private readonly statements = new Map<string, Stmt>();

  constructor(readonly options: ResolvedOptions) {
    let db: Db | undefined;
    try {
      db = new Database(options.path, { timeout: options.busyTimeoutMs });
      applyPragmas(db, options);
    } catch (err) {
      db?.close();
      throw toBackendError(`open ${options.path}`, err);
    }
    this.db = db;
  }

  /** The prepared statement for `sql`, prepared on first use. */
  stmt(sql: string): Stmt {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      if (this.statements.size >= MAX_CACHED_STATEMENTS) {
        const oldest = this.statements.keys().next().value;
        if (oldest !== undefined) this.statements.delete(oldest);
      }
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * `stmt` in raw mode: each row an array in column order, without building an object per row
   * (hot paths that read many rows). Only for SQL texts never read in object mode.
   */
  rawStmt(sql: string): Stmt {
    return this.stmt(sql).raw(true);
  }

  /** The pragmas as the connection reports them (diagnostics and tests). */
  settings(): ConnectionSettings {
    const read = (name: string): unknown => this.db.pragma(name, { simple: true });
    return {
      journalMode: String(read('journal_mode')).toLowerCase(),
      synchronous: SYNCHRONOUS_NAMES[Number(read('synchronous'))] ?? String(read('synchronous')),
      busyTimeoutMs: Number(read('busy_timeout')),
      foreignKeys: Number(read('foreign_keys')) === 1,
    };
  }

  close(): void {
    this.statements.clear();
    if (this.db.open) this.db.close();
  }
}

function applyPragmas(db: Db, options: ResolvedOptions): void {
  db.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
  if (!options.inMemory) {
    // Switching to WAL needs a moment of exclusive access; a process opening the same fresh file
    // at the same time can make it fail with SQLITE_BUSY without waiting, so retry until the
    // busy timeout is spent. (A database already in WAL mode answers at once.)
    const deadline = Date.now() + options.busyTimeoutMs;
    for (;;) {
      try {
        const mode = db.pragma('journal_mode = WAL', { simple: true });
        if (String(mode).toLowerCase() !== 'wal') throw new Error(`could not enable WAL (journal_mode is ${String(mode)})`);
        break;
      } catch (err) {
        if (!isBusy(err) || Date.now() >= deadline) throw err;
        sleepSync(10);
      }
    }
  }
  // The value is one of two validated literals; pragmas cannot take bound parameters.
  db.pragma(`synchronous = ${options.synchronous}`);
  db.pragma('foreign_keys = ON');
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Wraps a driver error as BackendError (Spindle's own errors pass through unchanged). */
export function toBackendError(operation: string, err: unknown): SpindleError {
  if (err instanceof SpindleError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (isBusy(err)) {
    return new BackendError(`sqlite ${operation}: database is busy (another connection held the lock past busy_timeout): ${message}`, err);
  }
  return new BackendError(`sqlite ${operation} failed: ${message}`, err);
}
