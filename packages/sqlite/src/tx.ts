/**
 * The write path shared by every mutating operation: one BEGIN IMMEDIATE transaction per call,
 * its events written to the outbox inside it and published locally after it commits.
 *
 * Invariants:
 * - `write(fn)` runs `fn` synchronously inside `db.transaction(...).immediate()`: SQLite's
 *   single write lock is taken up front (waiting up to busy_timeout), so reads made inside `fn`
 *   cannot go stale before its writes. `fn` must not await anything.
 * - `fn` pushes the events of its changes into the array it is given; they reach the outbox
 *   in the same transaction (skipped when there are none) and local subscribers only after
 *   COMMIT. If `fn` throws, everything rolls back and no event is published.
 * - `write` returns only after COMMIT at the configured `synchronous` level (FULL by default:
 *   the commit is fsynced, it survives power loss).
 * - `writeRelaxed` is for the writes whose loss the design already tolerates — claims,
 *   heartbeats, progress (ADR 0007, "Durability per write"): when the configured level is FULL,
 *   it runs the transaction at `synchronous = NORMAL` (in WAL mode the commit is not fsynced; a
 *   process crash loses nothing, a power loss may lose it, and the next durable commit fsyncs
 *   the WAL including it) and puts FULL back right after, whether the transaction committed or
 *   threw (try/finally, before the call returns). Every other write keeps the configured
 *   level. With `synchronous: 'NORMAL'` configured both are the same.
 */
import type { SpindleEvent } from '@spindle/core';
import type { Connection } from './connection.js';
import type { EventHub } from './events.js';

export type WriteFn<T> = (events: SpindleEvent[]) => T;

/** What the operation modules get: the connection for reads, `write` for transactions. */
export interface Store {
  readonly conn: Connection;
  write<T>(fn: WriteFn<T>): T;
  /** `write` at `synchronous = NORMAL` (claims, heartbeats, progress only). */
  writeRelaxed<T>(fn: WriteFn<T>): T;
}

export function createStore(conn: Connection, hub: EventHub): Store {
  const transaction = conn.db.transaction((fn: WriteFn<unknown>, events: SpindleEvent[]) => {
    const result = fn(events);
    if (events.length > 0) hub.writeOutbox(events);
    return result;
  });
  const write = <T>(fn: WriteFn<T>): T => {
    const events: SpindleEvent[] = [];
    const result = transaction.immediate(fn, events) as T;
    if (events.length > 0) hub.publishLocal(events);
    return result;
  };
  // Not prepared statements: SQLite applies `PRAGMA synchronous = …` when the statement is
  // compiled, not when it runs, so a cached statement would not switch the level again. The
  // texts are constants (pragmas take no parameters); both run outside the transaction (SQLite
  // refuses to change the level inside one).
  const relax = conn.options.synchronous === 'FULL';
  return {
    conn,
    write,
    writeRelaxed<T>(fn: WriteFn<T>): T {
      if (!relax) return write(fn);
      conn.db.pragma('synchronous = NORMAL');
      try {
        return write(fn);
      } finally {
        conn.db.pragma('synchronous = FULL');
      }
    },
  };
}
