/**
 * What every operation module receives: the database door, the schema's names and this
 * instance's event hub; plus `changeJobs`, the one way to run a statement that changes jobs and
 * publishes its events.
 *
 * Invariants:
 * - A job-changing statement carries its own NOTIFY (see sql.ts), so other processes hear of
 *   the change exactly when it commits.
 * - Local subscribers get the statement's events only after it committed, and never for
 *   statements run in a caller's transaction. `changeJobs` reads them from the rows' `ev` and
 *   `at` columns (in row order); the hot paths (insert, claim, finalize, progress) build them
 *   from plain columns instead and call `ctx.events.publishLocal` themselves.
 */
import type pg from 'pg';
import type { Db, Row } from './db.js';
import type { SchemaNames } from './config.js';
import { eventsOf, type EventHub } from './events.js';
import type { LimitCache } from './queue-limits.js';

export interface Ctx {
  db: Db;
  names: SchemaNames;
  events: EventHub;
  /** Which queues have limits, as last seen (queue-limits.ts: it only picks the claim path). */
  limits: LimitCache;
  /** Queues this process saw grouped (groups.ts); a queue never stops being grouped. */
  groupedQueues: Set<string>;
}

export interface ChangeOptions {
  /** A caller's client inside its own transaction: run there and do not deliver locally. */
  client?: pg.ClientBase;
  /**
   * A write whose loss the design tolerates (claim, heartbeat, progress): may commit without
   * waiting for the WAL flush (Db's relaxed pool). Everything else commits durably.
   */
  relaxed?: boolean;
}

/** Runs a job-changing statement (with its NOTIFY tail) and delivers its events (`ev`, `at`) locally. */
export async function changeJobs(ctx: Ctx, operation: string, config: pg.QueryConfig, options: ChangeOptions = {}): Promise<Row[]> {
  const rows = await ctx.db.query(operation, config, options);
  if (!options.client) ctx.events.publishLocal(eventsOf(rows));
  return rows;
}
