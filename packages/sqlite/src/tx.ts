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
 * - The function resolves (returns) only after COMMIT, i.e. after the configured `synchronous`
 *   durability point.
 */
import type { SpindleEvent } from '@spindle/core';
import type { Connection } from './connection.js';
import type { EventHub } from './events.js';

export type WriteFn<T> = (events: SpindleEvent[]) => T;

/** What the operation modules get: the connection for reads, `write` for transactions. */
export interface Store {
  readonly conn: Connection;
  write<T>(fn: WriteFn<T>): T;
}

export function createStore(conn: Connection, hub: EventHub): Store {
  const transaction = conn.db.transaction((fn: WriteFn<unknown>, events: SpindleEvent[]) => {
    const result = fn(events);
    if (events.length > 0) hub.writeOutbox(events);
    return result;
  });
  return {
    conn,
    write<T>(fn: WriteFn<T>): T {
      const events: SpindleEvent[] = [];
      const result = transaction.immediate(fn, events) as T;
      if (events.length > 0) hub.publishLocal(events);
      return result;
    },
  };
}
