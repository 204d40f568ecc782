/**
 * The scenario catalog: every scenario this suite implements, by id, in both tiers (quick: the
 * per-PR numbers; full: §5.3's numbers), and the ones it does not implement yet, with why.
 *
 * Invariant: ids are §5.3's; a scenario listed as skipped is never silently reported as passed.
 */
import type { ScenarioSpec } from './runner.js';
import { c1, c2, type Tier } from './scenarios-process.js';
import { c10, c15, c17 } from './scenarios-jobs.js';

export const SCENARIOS: Readonly<Record<string, (tier: Tier) => ScenarioSpec>> = {
  C1: c1,
  C2: c2,
  C10: c10,
  C15: c15,
  C17: () => c17(),
};

/**
 * Scenarios asked for by id that no family runs, with why. Every §5.3 scenario now has a runner
 * (C9 and C13 in http/, C12 in topics/, C3–C5 and C16 in scenario-db/, C6–C8, C11 and C14 in
 * scenario-local/; suite.ts joins them), so this is empty.
 */
export const SKIPPED: Readonly<Record<string, string>> = {};

export function scenario(id: string, tier: Tier): ScenarioSpec {
  const make = SCENARIOS[id];
  if (!make) throw new Error(`unknown scenario ${id} (known: ${Object.keys(SCENARIOS).join(', ')})`);
  return make(tier);
}
