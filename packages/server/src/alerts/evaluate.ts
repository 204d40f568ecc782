/**
 * Alert rule evaluation as a pure function: the values read in one tick (`AlertInputs`) and the
 * previous state per rule and queue → the new states and the transitions (ok → firing,
 * firing → ok). The engine (engine.ts) reads the inputs and keeps the states; tests call this
 * directly.
 *
 * Invariants:
 * - A queue's value is above the threshold ("breaching") or not. Breaching for `forMs` (from
 *   the first tick that saw it breach, `pendingSince`) fires; any tick not breaching resets
 *   `pendingSince` and resolves a firing state at once. `forMs` 0 fires on the first breach.
 * - Edge-triggered: one `alert.firing` per ok → firing change, one `alert.resolved` per
 *   firing → ok change, per rule and queue.
 * - A rule is evaluated only when its kind's input is present (a partial tick, e.g. the DLQ
 *   depths re-read after a dead job, leaves the other rules' states alone), over the queues
 *   in that input that match its scope plus the queues it already has a state for (a queue
 *   missing from the input has value 0).
 * - failure_rate sums the per-minute counters of the minutes overlapping (at − windowMs, at]
 *   (the counters are per minute: the effective window is up to one minute longer); with no
 *   finished attempt in the window the rate is 0.
 */
import type { StatsRow } from '@spindle/core';
import { ruleMatches, type AlertKind, type AlertRule } from './rules.js';

const MINUTE = 60_000;

export interface AlertInputs {
  /** When the inputs were read (ms, local clock: `forMs` is measured with it). */
  atMs: number;
  /** Database clock at the read (ms): the failure-rate window ends there. Default `atMs`. */
  dbNowMs?: number;
  dlqDepth?: ReadonlyMap<string, number>;
  backlog?: ReadonlyMap<string, number>;
  oldestQueuedAgeMs?: ReadonlyMap<string, number>;
  /** Per-minute counters covering at least the longest failure_rate window. */
  stats?: readonly StatsRow[];
}

export interface RuleQueueState {
  rule: string;
  queue: string;
  value: number;
  firing: boolean;
  /** The last transition (ISO); null when it never fired. */
  since: string | null;
  /** Breaching since then (ISO) but not yet for `forMs`; null otherwise. */
  pendingSince: string | null;
}

export interface AlertTransition {
  type: 'alert.firing' | 'alert.resolved';
  rule: string;
  kind: AlertKind;
  queue: string;
  value: number;
  threshold: number;
  at: string;
}

export const stateKey = (rule: string, queue: string): string => `${rule}\n${queue}`;

/** The failure rate per queue over `windowMs` ending at `nowMs`: failed / finished attempts. */
export function failureRates(rows: readonly StatsRow[], nowMs: number, windowMs: number): Map<string, number> {
  const sums = new Map<string, { failed: number; finished: number }>();
  for (const row of rows) {
    const m = row.minute.getTime();
    if (m + MINUTE <= nowMs - windowMs || m > nowMs) continue;
    let s = sums.get(row.queue);
    if (!s) sums.set(row.queue, (s = { failed: 0, finished: 0 }));
    s.failed += row.retried + row.dead;
    s.finished += row.completed + row.retried + row.dead;
  }
  return new Map([...sums].map(([q, s]) => [q, s.finished > 0 ? s.failed / s.finished : 0]));
}

/** The values of `rule`'s kind per queue, or null when this tick did not read them. */
function valuesOf(rule: AlertRule, inputs: AlertInputs): ReadonlyMap<string, number> | null {
  switch (rule.kind) {
    case 'dlq_depth':
      return inputs.dlqDepth ?? null;
    case 'backlog':
      return inputs.backlog ?? null;
    case 'oldest_queued_age':
      return inputs.oldestQueuedAgeMs ?? null;
    case 'failure_rate':
      return inputs.stats ? failureRates(inputs.stats, inputs.dbNowMs ?? inputs.atMs, rule.windowMs ?? 300_000) : null;
  }
}

/**
 * Evaluates `rules` on `inputs` against `previous` (not modified). Returns every state after
 * the tick (the previous ones of rules not evaluated included) and the transitions, in rule
 * order then queue order.
 */
export function evaluateRules(
  rules: readonly AlertRule[],
  inputs: AlertInputs,
  previous: ReadonlyMap<string, RuleQueueState>,
): { states: Map<string, RuleQueueState>; transitions: AlertTransition[] } {
  const states = new Map(previous);
  const transitions: AlertTransition[] = [];
  const at = new Date(inputs.atMs).toISOString();
  const known = new Map<string, string[]>();
  for (const s of previous.values()) known.set(s.rule, [...(known.get(s.rule) ?? []), s.queue]);
  for (const rule of rules) {
    const values = valuesOf(rule, inputs);
    if (!values) continue;
    const queues = new Set([...[...values.keys()].filter((q) => ruleMatches(rule, q)), ...(known.get(rule.name) ?? [])]);
    for (const queue of [...queues].sort()) {
      const key = stateKey(rule.name, queue);
      const before = previous.get(key) ?? { rule: rule.name, queue, value: 0, firing: false, since: null, pendingSince: null };
      const value = values.get(queue) ?? 0;
      const next: RuleQueueState = { ...before, value };
      if (value > rule.threshold) {
        if (!before.firing) {
          const pendingSince = before.pendingSince ?? at;
          if (inputs.atMs - Date.parse(pendingSince) >= rule.forMs) {
            Object.assign(next, { firing: true, since: at, pendingSince: null });
            transitions.push({ type: 'alert.firing', rule: rule.name, kind: rule.kind, queue, value, threshold: rule.threshold, at });
          } else next.pendingSince = pendingSince;
        }
      } else {
        next.pendingSince = null;
        if (before.firing) {
          Object.assign(next, { firing: false, since: at });
          transitions.push({ type: 'alert.resolved', rule: rule.name, kind: rule.kind, queue, value, threshold: rule.threshold, at });
        }
      }
      states.set(key, next);
    }
  }
  return { states, transitions };
}
