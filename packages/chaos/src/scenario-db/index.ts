/**
 * The PostgreSQL fault scenarios of reliability.md §5.3 — C3 (restart PostgreSQL), C4 (kill DB
 * connections), C5 (network loss to the DB, through the TCP proxy) and C16 (xmin held by a
 * long REPEATABLE READ transaction) — and `runDbScenario`, which runs one of them end to end.
 *
 * Owns: the catalog of these scenarios (a spec factory per tier) and their lifecycle around the
 * scenario runner: private cluster (+ proxy for C5) → runScenario on 'postgres' → teardown.
 *
 * Invariants:
 * - PostgreSQL only: they inject faults into a PostgreSQL server; SQLite has no server to
 *   restart, connections to kill, network or xmin horizon (its counterparts are C7/C8).
 * - Every run has its own private cluster, destroyed in `finally` whatever happened; the
 *   machine's shared PostgreSQL is never touched.
 * - The report's `bound` is the fault-window duplicate bound the checker was given (common.ts).
 * - SPINDLE_PG_URL points at the run's cluster only while it runs (environment.ts): run these
 *   one at a time in a process.
 */
import type { ScenarioReport } from '../scenario/report.js';
import { type RunOptions, runScenario, type ScenarioSpec } from '../scenario/runner.js';
import type { DbRun, Tier } from './common.js';
import { c3 } from './c3-restart.js';
import { c4 } from './c4-connections.js';
import { c5 } from './c5-network.js';
import { c16 } from './c16-xmin.js';
import { withDbEnvironment } from './environment.js';

export type { Tier } from './common.js';
export { c3, c4, c5, c16 };

/**
 * C5's connections carry the bounds C5 recommends (PostgresBackend connectTimeoutMs /
 * queryTimeoutMs, here through the URL since the worker processes open their backend from it):
 * a call on a dead network fails within connect 2 s + statement 3 s (a transaction's ROLLBACK
 * adds 3 s) instead of waiting for the network. Its probe shows the default (no bound) next to it.
 */
export const C5_URL_PARAMS = 'connect_timeout=2&query_timeout=3000';

export const DB_SCENARIOS: Readonly<Record<'C3' | 'C4' | 'C5' | 'C16', { make: (tier: Tier, run: DbRun) => ScenarioSpec; proxy: boolean; urlParams?: string }>> = {
  C3: { make: c3, proxy: false },
  C4: { make: c4, proxy: false },
  C5: { make: c5, proxy: true, urlParams: C5_URL_PARAMS },
  C16: { make: c16, proxy: false },
};

export type DbScenarioId = keyof typeof DB_SCENARIOS;

/** Runs one DB scenario on a private cluster (and proxy), returning the runner's report. */
export async function runDbScenario(id: DbScenarioId, tier: Tier, options: RunOptions = {}): Promise<ScenarioReport> {
  const entry = DB_SCENARIOS[id];
  if (!entry) throw new Error(`unknown DB scenario ${String(id)} (known: ${Object.keys(DB_SCENARIOS).join(', ')})`);
  return withDbEnvironment({ proxy: entry.proxy, ...(entry.urlParams ? { urlParams: entry.urlParams } : {}), ...(options.log ? { log: options.log } : {}) }, async (env) => {
    const run: DbRun = { env, ctx: null };
    return runScenario(entry.make(tier, run), 'postgres', options);
  });
}
