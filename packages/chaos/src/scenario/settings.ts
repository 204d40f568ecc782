/**
 * The chaos scenarios' shared settings (reliability.md §5.3 defaults, scaled for tests) and the
 * job plan: what each enqueued job's handler will do, written into its payload.
 *
 * Owns: the default lease / heartbeat / sweep / attempts / backoff numbers, the payload format
 * the worker child's handler reads (handler.ts), the seeded generator of job plans, and the I12
 * liveness bound derived from the settings.
 *
 * Invariants:
 * - Every payload carries a unique value `run-<runId>-<seq>` (the checker's I8 compares values).
 * - A job's behaviour is decided here, by the runner, never at random inside a worker: the pass
 *   rules must know which jobs are poison, and a re-run must behave as the first run did.
 * - Plans are reproducible from (seed, counts): the seed is reported with every run.
 */
import type { BackoffSpec } from '@spindle/core';

/** What a handler does with its job (handler.ts implements each). */
export type JobKind =
  | 'work' // sleeps `ms` (abortable)
  | 'noop' // returns at once
  | 'throw' // poison: always throws a long error
  | 'exit' // poison: calls process.exit in the worker
  | 'hang' // poison: blocks the event loop for `ms` on every attempt (heartbeats stop)
  | 'busy-once' // blocks the event loop for `ms` on its first attempt only, then is quick (C2b)
  | 'dead-then-ok'; // round 0 fails permanently (to the DLQ); a redriven round succeeds (C17)

export interface JobPayload {
  /** The run-unique value. */
  v: string;
  k: JobKind;
  /** Duration for work / hang / busy-once. */
  ms: number;
}

export interface ScenarioSettings {
  leaseMs: number;
  heartbeatMs: number;
  /** The rescuer's (sweeper's) interval in the runner process. */
  sweepMs: number;
  /** Attempts per round: maxRetries + 1. */
  maxAttempts: number;
  backoff: BackoffSpec;
  workers: number;
  concurrency: number;
  /** Workers' fallback poll when no event wakes them. */
  pollIntervalMs: number;
  /** Delay before an exited worker (killed, or crashed by a poison job) is started again. */
  restartDelayMs: number;
  queue: string;
}

export const DEFAULT_SETTINGS: ScenarioSettings = {
  leaseMs: 2000,
  heartbeatMs: 660,
  sweepMs: 500,
  maxAttempts: 5,
  backoff: { type: 'exponential', delayMs: 100, factor: 2, maxDelayMs: 2000, jitter: 'full' },
  workers: 4,
  concurrency: 8,
  pollIntervalMs: 200,
  restartDelayMs: 200,
  queue: 'chaos',
};

/** I12's bound: lease + sweep + maxAttempts × maxBackoff + 30 s. */
export function livenessBoundMs(s: ScenarioSettings): number {
  const maxBackoff = s.backoff.type === 'exponential' ? (s.backoff.maxDelayMs ?? s.backoff.delayMs) : s.backoff.type === 'fixed' ? s.backoff.delayMs : 0;
  return s.leaseMs + s.sweepMs + s.maxAttempts * maxBackoff + 30_000;
}

/** A small seeded PRNG (mulberry32): plans and nemesis choices are reproducible from the seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface JobMix {
  /** Share of `work` jobs that take `slowMs` instead of 5–50 ms (§5.3: 2 % take 1.5 s). */
  slowShare?: number;
  slowMs?: number;
  /** Exact numbers of special jobs, placed at random positions among the others. */
  special?: Partial<Record<Exclude<JobKind, 'work' | 'noop'>, number>>;
  /** Duration of `hang` / `busy-once` jobs. */
  blockMs?: number;
  /** Ordinary jobs are `noop` instead of `work` (C15). */
  noop?: boolean;
  /** Special jobs go between these fractions of the plan (default [0.02, 1]). */
  specialWithin?: [number, number];
}

/** The payloads of a run's `n` jobs, in enqueue order. */
export function planJobs(runId: string, n: number, mix: JobMix, random: () => number): JobPayload[] {
  const kinds: JobKind[] = [];
  for (const [kind, count] of Object.entries(mix.special ?? {}) as Array<[JobKind, number]>) for (let i = 0; i < count; i++) kinds.push(kind);
  if (kinds.length > n) throw new Error(`job plan: ${kinds.length} special jobs exceed ${n} jobs`);
  const slots: Array<JobKind | null> = Array.from({ length: n }, () => null);
  // Special jobs at distinct random positions (by default not in the first 2 %).
  const [from, to] = mix.specialWithin ?? [0.02, 1];
  const end = Math.max(Math.ceil(n * to), kinds.length);
  const start = Math.min(Math.floor(n * from), end - kinds.length);
  for (const kind of kinds) {
    let i: number;
    do i = start + Math.floor(random() * (end - start));
    while (slots[i] !== null);
    slots[i] = kind;
  }
  return slots.map((kind, seq) => {
    const k: JobKind = kind ?? (mix.noop ? 'noop' : 'work');
    let ms = 0;
    if (k === 'work') ms = random() < (mix.slowShare ?? 0.02) ? (mix.slowMs ?? 1500) : 5 + Math.floor(random() * 46);
    if (k === 'hang' || k === 'busy-once') ms = mix.blockMs ?? 5000;
    return { v: `run-${runId}-${seq}`, k, ms };
  });
}
