/**
 * The scenarios of this folder, by id, as factories per tier (quick: the per-PR numbers; full:
 * reliability.md §5.3's numbers, scaled to fit ≤ 3 min per backend on 2 cores), to be merged
 * into the catalog (scenario/catalog.ts), and the backends each one applies to.
 *
 * Invariant: a scenario is run only on the backends listed for it; on another backend its drive
 * refuses to start (it throws), so it can never be reported as passed there.
 */
import type { BackendKind } from '../scenario/backends.js';
import type { ScenarioSpec } from '../scenario/runner.js';
import type { Tier } from './common.js';
import { c11 } from './c11-backlog.js';
import { c14 } from './c14-rolling.js';
import { c6 } from './c6-clock.js';
import { c7 } from './c7-busy.js';
import { c8 } from './c8-disk-full.js';

export const LOCAL_SCENARIOS: Readonly<Record<string, (tier: Tier) => ScenarioSpec>> = {
  C6: c6,
  C7: c7,
  C8: c8,
  C11: c11,
  C14: c14,
};

export const LOCAL_BACKENDS: Readonly<Record<string, readonly BackendKind[]>> = {
  C6: ['sqlite', 'postgres'],
  C7: ['sqlite'],
  C8: ['sqlite', 'postgres'],
  C11: ['sqlite', 'postgres'],
  C14: ['sqlite', 'postgres'],
};

export { c6, c7, c8, c11, c14 };
