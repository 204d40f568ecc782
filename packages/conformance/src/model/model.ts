/**
 * The in-memory model of the model-based test: what each job's state, attempt, round, runAt,
 * lease and error count must be after any sequence of backend operations, on a virtual clock
 * (`clock` ms after the run's t0). `verify` compares the backend to the model after every command
 * and checks the invariants of DESIGN §11: no job reaches a terminal state twice within a round,
 * attempt never exceeds maxRetries + 1, and the backend's state equals the model's.
 * `checkTerminalEvents` checks the same "once per round" rule on the event stream.
 */
import assert from 'node:assert/strict';
import type { Backend, JobRecord, JobState, LeaseRef, SpindleEvent } from '@spindle/core';

export const MODEL_QUEUE = 'model';
export const CLAIM_LEASE_MS = 10_000;

export interface ModelJob {
  id: string;
  /** Insertion order (the FIFO tie-break). */
  seq: number;
  priority: number;
  maxRetries: number;
  state: JobState;
  attempt: number;
  round: number;
  /** ms after t0. */
  runAt: number;
  /** The live lease, when running. */
  lease: { token: string; attempt: number; expiresAt: number } | null;
  cancelRequested: boolean;
  errors: number;
}

export interface Model {
  clock: number;
  jobs: ModelJob[];
  /** Every lease ever issued, live or stale: the material for stale writes. */
  leases: LeaseRef[];
  /** Terminal states observed per `${id}@${round}`, with their finish time. */
  terminal: Map<string, { state: JobState; finishedAt: number | null }>;
}

export interface Real {
  backend: Backend;
  /** Epoch ms of the run's time origin. */
  t0: number;
}

export function newModel(): Model {
  return { clock: 0, jobs: [], leases: [], terminal: new Map() };
}

export function nowOf(model: Model, real: Real): Date {
  return new Date(real.t0 + model.clock);
}

export function jobById(model: Model, id: string): ModelJob {
  const job = model.jobs.find((j) => j.id === id);
  assert.ok(job, `model has no job ${id}`);
  return job;
}

/** A lease is fresh while its job is running under exactly that token. */
export function isFresh(model: Model, lease: LeaseRef): boolean {
  const job = model.jobs.find((j) => j.id === lease.id);
  return !!job && job.state === 'running' && job.lease?.token === lease.leaseToken && job.lease.attempt === lease.attempt;
}

/** Ids the next claim must return, in order: queued, by (priority, runAt, insertion). */
export function predictClaim(model: Model, limit: number): ModelJob[] {
  return model.jobs
    .filter((j) => j.state === 'queued')
    .sort((a, b) => a.priority - b.priority || a.runAt - b.runAt || a.seq - b.seq)
    .slice(0, limit);
}

/** Marks a job as finished-by-lease-loss or by finalize: lease cleared. */
export function clearLease(job: ModelJob): void {
  job.lease = null;
}

/** Compares every job of the backend with the model and checks the invariants. */
export async function verify(model: Model, real: Real, after: string): Promise<void> {
  for (const job of model.jobs) {
    const record = await real.backend.getJob(job.id);
    assert.ok(record, `${after}: job ${job.id} vanished`);
    const expected = {
      state: job.state,
      attempt: job.attempt,
      round: job.round,
      runAt: real.t0 + job.runAt,
      errors: job.errors,
      leaseExpiresAt: job.state === 'running' && job.lease ? real.t0 + job.lease.expiresAt : null,
      cancelRequested: job.state === 'running' ? job.cancelRequested : '(any)',
    };
    const actual = {
      state: record.state,
      attempt: record.attempt,
      round: record.round,
      runAt: record.runAt.getTime(),
      errors: record.errors.length,
      leaseExpiresAt: record.leaseExpiresAt?.getTime() ?? null,
      cancelRequested: job.state === 'running' ? record.cancelRequested : '(any)',
    };
    assert.deepStrictEqual(actual, expected, `${after}: job ${job.id} differs from the model`);
    assert.ok(record.attempt <= record.maxRetries + 1, `${after}: job ${job.id} attempt ${record.attempt} > maxRetries + 1`);
    checkTerminalOnce(model, record, after);
  }
}

function checkTerminalOnce(model: Model, record: JobRecord, after: string): void {
  const key = `${record.id}@${record.round}`;
  const seen = model.terminal.get(key);
  const finishedAt = record.finishedAt?.getTime() ?? null;
  if (seen) {
    assert.equal(record.state, seen.state, `${after}: job ${record.id} left terminal state ${seen.state} within round ${record.round}`);
    assert.equal(finishedAt, seen.finishedAt, `${after}: job ${record.id} finished twice in round ${record.round}`);
  } else if (record.state === 'completed' || record.state === 'dead' || record.state === 'cancelled') {
    model.terminal.set(key, { state: record.state, finishedAt });
  }
}

const TERMINAL: ReadonlySet<string> = new Set(['completed', 'dead', 'cancelled']);

/**
 * From the events of a run: no job published two terminal transitions within one round (a
 * `replayed` or `retried` event starts the next round; `removed` names the state a job was deleted
 * in, not a transition), and each one names the state the model ended in.
 */
export function checkTerminalEvents(model: Model, events: SpindleEvent[]): void {
  for (const job of model.jobs) {
    let round = 0;
    const terminalByRound = new Map<number, string[]>();
    for (const e of events) {
      if (!('jobId' in e) || e.jobId !== job.id) continue;
      if (e.type === 'replayed' || e.type === 'retried') round += 1;
      else if (TERMINAL.has(e.state) && e.type !== 'added' && e.type !== 'removed') {
        terminalByRound.set(round, [...(terminalByRound.get(round) ?? []), `${e.type}→${e.state}`]);
      }
    }
    for (const [r, transitions] of terminalByRound) {
      assert.ok(transitions.length <= 1, `job ${job.id} published ${transitions.join(', ')} in round ${r}`);
    }
    const last = terminalByRound.get(job.round)?.[0];
    if (last && TERMINAL.has(job.state)) assert.ok(last.endsWith(`→${job.state}`), `job ${job.id} ended ${job.state} but published ${last}`);
  }
}
