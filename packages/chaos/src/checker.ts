/**
 * The invariant checker (reliability.md §5.2): a PURE function from a history (+ the final state
 * read after a fault-free drain) to a list of violations and a few counts. One function per
 * invariant I1–I13 lives in invariants-*.ts, each documenting its invariant; this module owns the
 * shared types (Violation, CheckOptions) and runs them all.
 *
 * Invariants of the checker itself:
 * - No I/O, no clock, no randomness: the same input always gives the same report.
 * - `unknown` ops are judged conservatively: the checker reports a violation only when EVERY way
 *   the unknown ops could have gone (happened or not) breaks the invariant.
 * - A violation names its invariant, the job/partition concerned and the ops that prove it.
 */
import type { FinalState } from './final-state.js';
import { describeOp, type Op } from './history.js';
import { Model } from './model.js';
import { checkFencing, checkNoLoss, checkNoPhantoms, checkOneTerminalTransition } from './invariants-jobs.js';
import { checkAttemptAccounting, checkLeaseExclusivity, checkNoRedeliveryAfterAck, checkUnknownEnqueues } from './invariants-leases.js';
import { checkCommittedOffsets, checkTopicLog } from './invariants-topics.js';
import { checkFifoGroups, checkLiveness, checkSchedules } from './invariants-time.js';

export type InvariantId = 'I1' | 'I2' | 'I3' | 'I4' | 'I5' | 'I6' | 'I7' | 'I8' | 'I9' | 'I10' | 'I11' | 'I12' | 'I13';

export interface Violation {
  invariant: InvariantId;
  message: string;
  jobId?: string;
  /** `proc#index kind … → outcome` of the ops that show it. */
  ops: string[];
}

export interface CheckOptions {
  /** Slack when comparing wall-clock and database timestamps (same host clock). Default 5 ms. */
  clockToleranceMs?: number;
  /** I8: most duplicate executions the scenario allows (e.g. jobs in flight per kill × kills). */
  maxDuplicateExecutions?: number;
  /** I8: most duplicate jobs from unkeyed enqueues whose outcome was unknown. Default: no bound. */
  maxDuplicateEnqueues?: number;
  /** I11: queues configured with `fifo: true` (one job per group in flight, in order). */
  fifoQueues?: string[];
  /** I12: when faults stopped (epoch ms); default: the end of the last `fault` op, if any. */
  faultsEndAt?: number;
  /** I12: every job terminal within this long after faults stop (lease + sweep + attempts × backoff + 30 s). */
  livenessBoundMs?: number;
  /** I12: after each healed fault, an accepted claim or outcome within this long (default 10 s). */
  resumeBoundMs?: number;
  /** I13: most lateness of a due job's first claim (poll interval + 1 s); unset: not checked. */
  latenessBoundMs?: number;
  /** Jobs made outside the recorded calls (schedules, flows): exempt from I1/I2. */
  untracked?: (jobId: string) => boolean;
}

export interface CheckStats {
  ops: number;
  unknownOps: number;
  jobs: number;
  duplicateExecutions: number;
  duplicateEnqueues: number;
  staleWritesRefused: number;
}

export interface CheckReport {
  ok: boolean;
  violations: Violation[];
  stats: CheckStats;
}

/** What each invariant function receives. */
export interface CheckContext {
  model: Model;
  options: Required<Pick<CheckOptions, 'clockToleranceMs' | 'resumeBoundMs'>> & CheckOptions;
  stats: CheckStats;
}

export type InvariantCheck = (ctx: CheckContext) => Violation[];

/** Every invariant, by id, in order. */
export const INVARIANTS: ReadonlyArray<readonly [InvariantId, InvariantCheck]> = [
  ['I1', checkNoLoss],
  ['I2', checkNoPhantoms],
  ['I3', checkOneTerminalTransition],
  ['I4', checkFencing],
  ['I5', checkLeaseExclusivity],
  ['I6', checkAttemptAccounting],
  ['I7', checkNoRedeliveryAfterAck],
  ['I8', checkUnknownEnqueues],
  ['I9', checkTopicLog],
  ['I10', checkCommittedOffsets],
  ['I11', checkFifoGroups],
  ['I12', checkLiveness],
  ['I13', checkSchedules],
];

export function makeContext(ops: readonly Op[], final: FinalState, options: CheckOptions = {}): CheckContext {
  return {
    model: new Model(ops, final),
    options: { clockToleranceMs: 5, resumeBoundMs: 10_000, ...options },
    stats: {
      ops: ops.length,
      unknownOps: ops.filter((o) => o.outcome.type === 'unknown').length,
      jobs: final.jobs.length,
      duplicateExecutions: 0,
      duplicateEnqueues: 0,
      staleWritesRefused: ops.filter((o) => o.outcome.type === 'refused' && o.outcome.code === 'lease_lost').length,
    },
  };
}

/** Runs every invariant (or the given ones) over a history and the final state. */
export function check(ops: readonly Op[], final: FinalState, options: CheckOptions = {}, only?: readonly InvariantId[]): CheckReport {
  const ctx = makeContext(ops, final, options);
  const violations: Violation[] = [];
  for (const [id, fn] of INVARIANTS) if (!only || only.includes(id)) violations.push(...fn(ctx));
  return { ok: violations.length === 0, violations, stats: ctx.stats };
}

/** Builds a violation (helper for the invariant modules). */
export function violation(invariant: InvariantId, message: string, ops: readonly Op[], jobId?: string): Violation {
  return { invariant, message, ops: ops.map(describeOp), ...(jobId === undefined ? {} : { jobId }) };
}
