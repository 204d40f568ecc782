/**
 * Assertions shared by the checker's tests: run the checker over a hand-made history and assert
 * which invariants reported violations (exactly those). Set CHAOS_DEBUG=1 to print each report.
 */
import assert from 'node:assert/strict';
import { check, type CheckOptions, type CheckReport, type InvariantId } from '../src/checker.js';
import type { FinalState } from '../src/final-state.js';
import type { H } from './build.js';

export const ids = (r: CheckReport): InvariantId[] => [...new Set(r.violations.map((v) => v.invariant))].sort();
/** The report's violations come from exactly these invariants. */
export function only(r: CheckReport, expected: InvariantId[]): void {
  if (process.env.CHAOS_DEBUG) console.log(expected.join(','), r.violations.map((v) => `${v.invariant}: ${v.message}`));
  assert.deepEqual(ids(r), [...expected].sort(), JSON.stringify(r.violations, null, 1));
}
export const run = (h: H, final: FinalState, o: CheckOptions = {}): CheckReport => check(h.ops, final, o);
export const emptyTopics = (jobs: FinalState['jobs']): FinalState => ({ readAt: 0, jobs, partitions: [], groups: [] });

