/**
 * What a worker may be asked to serve, and its validation (a public entry point: bad input is a
 * ValidationError naming the part, and no worker is created).
 *
 *   'emails'                                  one queue (or a Queue handle)
 *   ['critical', 'default', 'low']            strict priority, most urgent first
 *   { strict: ['critical', 'default'] }       the same, spelled out
 *   { weighted: { high: 6, medium: 3, low: 1 } }   weighted fair sharing (60/30/10)
 *
 * Dedicated workers per queue need nothing special: one worker per queue, each with its own
 * concurrency.
 */
import type { Queue } from '../queue.js';
import { checkIdentifier, checkKnownKeys, describe, Issues } from '../validate.js';
import type { SchedulingStrategy } from './claim-planner.js';

export type QueueRef = string | Queue<any, any>;

export type WorkerQueues =
  | QueueRef
  | readonly QueueRef[]
  | { strict: readonly QueueRef[] }
  | { weighted: Readonly<Record<string, number>> };

export interface ServedQueuesSpec {
  strategy: SchedulingStrategy;
  queues: Array<{ name: string; weight: number }>;
  /** The handles among the refs (their definitions' hooks must apply to their jobs). */
  handles: unknown[];
}

/** Most queues one worker may serve. */
export const MAX_SERVED_QUEUES = 100;
/** Largest weight (weights are relative: 6/3/1 and 60/30/10 mean the same). */
export const MAX_WEIGHT = 1_000_000;

/** Validates a worker's queue spec; `nameOf` turns a Queue handle into its name (or null if it is not one). */
export function parseServedQueues(spec: unknown, nameOf: (ref: unknown) => string | null): ServedQueuesSpec {
  const issues = new Issues();
  const queues: Array<{ name: string; weight: number }> = [];
  const handles: unknown[] = [];
  const seen = new Set<string>();
  const addQueue = (path: string, ref: unknown, weight: number) => {
    const name = typeof ref === 'string' ? ref : nameOf(ref);
    if (name === null) {
      issues.add(path, `must be a queue name or a Queue from client.queue() (got ${describe(ref)})`);
      return;
    }
    if (!checkIdentifier(issues, path, name)) return;
    if (seen.has(name)) {
      issues.add(path, `names queue "${name}" twice`);
      return;
    }
    seen.add(name);
    queues.push({ name, weight });
    if (typeof ref !== 'string') handles.push(ref);
  };
  const addList = (path: string, list: unknown) => {
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_SERVED_QUEUES) {
      issues.add(path, `must be a non-empty array of at most ${MAX_SERVED_QUEUES} queues`);
      return;
    }
    list.forEach((ref, i) => addQueue(`${path}[${i}]`, ref, 1));
  };
  let strategy: SchedulingStrategy = 'strict';
  if (Array.isArray(spec)) addList('queues', spec);
  else if (spec !== null && typeof spec === 'object' && nameOf(spec) === null) {
    const o = spec as Record<string, unknown>;
    checkKnownKeys(issues, 'queues', o, ['strict', 'weighted']);
    if ((o.strict === undefined) === (o.weighted === undefined)) {
      issues.add('queues', 'must have exactly one of `strict` (an array in priority order) or `weighted` ({ queue: weight })');
    } else if (o.strict !== undefined) {
      addList('queues.strict', o.strict);
    } else {
      strategy = 'weighted';
      const weights = o.weighted;
      if (weights === null || typeof weights !== 'object' || Array.isArray(weights)) {
        issues.add('queues.weighted', 'must be an object of queue name → weight, e.g. { high: 6, medium: 3, low: 1 }');
      } else {
        const entries = Object.entries(weights);
        if (entries.length === 0 || entries.length > MAX_SERVED_QUEUES) issues.add('queues.weighted', `must name 1 to ${MAX_SERVED_QUEUES} queues`);
        for (const [name, weight] of entries) {
          if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0 || weight > MAX_WEIGHT) {
            issues.add(`queues.weighted.${name}`, `must be a weight > 0 and ≤ ${MAX_WEIGHT} (got ${describe(weight)})`);
            continue;
          }
          addQueue(`queues.weighted.${name}`, name, weight);
        }
      }
    }
  } else addQueue('queue', spec, 1);
  issues.throwIfAny();
  return { strategy, queues, handles };
}
