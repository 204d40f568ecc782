/**
 * One attempt in a worker: the `ActiveJob` a handler sees, and the bookkeeping around it (why
 * it was aborted, whether its slot was already given up). The worker owns the lifecycle; this
 * file only holds per-attempt state and the handler-facing API.
 *
 * Invariants: the AbortSignal fires at most once, with the first reason (timeout, cancel,
 * lease lost, shutdown); `progress()` is a fenced write and throws LeaseLostError (after
 * aborting) when the attempt no longer owns the job.
 */
import type { Backend, ClaimedJob, LeaseRef } from '../backend/backend.js';
import { LeaseLostError } from '../errors.js';
import { Issues, serializeJson } from '../validate.js';
import type { ProcessSpan } from '../telemetry/tracing.js';
import { toFlowChild, type FlowChild } from '../flow.js';

/** Progress larger than this (JSON bytes) is refused. */
export const MAX_PROGRESS_BYTES = 64 * 1024;

/** What a handler receives. `payload` is typed by the queue. */
export interface ActiveJob<P = unknown> {
  readonly id: string;
  readonly queue: string;
  readonly name: string;
  readonly payload: P;
  /** 1-based attempt number within the current round. */
  readonly attempt: number;
  readonly maxRetries: number;
  readonly priority: number;
  /** 0 for the original run, +1 per DLQ replay. */
  readonly round: number;
  readonly createdAt: Date;
  readonly workerId: string;
  /**
   * Fires when the attempt must stop: its `reason` is a TimeoutError, CancelledError,
   * LeaseLostError or ClosedError (worker shutdown). Pass it to fetch, child processes, etc.
   */
  readonly signal: AbortSignal;
  /** Reports progress: a number 0..100 and/or any JSON value (e.g. `{ stage: 'upload', pct: 40 }`). */
  progress(value: unknown): Promise<void>;
  /**
   * Flows: what this job's children became (id, queue, name, state, result, failureReason), in
   * the order the flow listed them; empty for a job without children. Children removed on
   * completion (`removeOnComplete`) are no longer there to list.
   */
  children(): Promise<FlowChild[]>;
}

export type AbortCause = 'timeout' | 'cancel' | 'lease_lost' | 'shutdown';

/**
 * The handler-facing job: plain own fields plus `signal` and `progress` as prototype getters, so
 * an attempt allocates nothing for them until a handler uses them (a no-op job's bookkeeping is
 * the hot path). Both survive destructuring (`async ({ payload, signal, progress }) => …`): the
 * getters run against the job, and `progress` returns a function bound to this attempt.
 */
class ActiveJobView implements ActiveJob {
  readonly id: string;
  readonly queue: string;
  readonly name: string;
  readonly payload: unknown;
  readonly attempt: number;
  readonly maxRetries: number;
  readonly priority: number;
  readonly round: number;
  readonly createdAt: Date;
  readonly workerId: string;
  readonly #exec: Execution;
  #progress: ((value: unknown) => Promise<void>) | null = null;

  constructor(exec: Execution, job: ClaimedJob, workerId: string) {
    this.#exec = exec;
    this.id = job.id;
    this.queue = job.queue;
    this.name = job.name;
    this.payload = job.payload;
    this.attempt = job.attempt;
    this.maxRetries = job.maxRetries;
    this.priority = job.priority;
    this.round = job.round;
    this.createdAt = job.createdAt;
    this.workerId = workerId;
  }

  get signal(): AbortSignal {
    return this.#exec.signal;
  }

  get progress(): (value: unknown) => Promise<void> {
    const exec = this.#exec;
    return (this.#progress ??= (value: unknown) => exec.progress(value));
  }

  /** A getter like `progress` (destructuring works), without a field: nothing is allocated unless used. */
  get children(): () => Promise<FlowChild[]> {
    const exec = this.#exec;
    return () => exec.children();
  }
}

export class Execution {
  /** Created on first use: most handlers never look at their signal, and allocating one per job shows up on the hot path. */
  private controller: AbortController | null = null;
  private abortReason: Error | null = null;
  /** Set by the first abort; later aborts don't overwrite it. */
  abortCause: AbortCause | null = null;
  cancelRequested = false;
  /** The database says another attempt (or the rescuer) owns the job: write nothing more. */
  leaseLost = false;
  /** The handler returned or threw. */
  settled = false;
  /** The worker stopped waiting for the handler (grace elapsed) and finished the attempt. */
  finished = false;
  /** The attempt's `process` span, when tracing is on (telemetry/tracing.ts). */
  span: ProcessSpan | null = null;
  /** The attempt's lease: the claimed job itself (its `id`, `attempt` and `leaseToken`). */
  readonly lease: LeaseRef;
  readonly active: ActiveJob;

  constructor(
    readonly job: ClaimedJob,
    workerId: string,
    private readonly backend: Backend,
    private readonly onLeaseLost: (exec: Execution) => void,
  ) {
    this.lease = job;
    this.active = new ActiveJobView(this, job, workerId);
  }

  /** A fenced progress write; a lost lease aborts the attempt and throws LeaseLostError. */
  async progress(value: unknown): Promise<void> {
    const issues = new Issues();
    if (typeof value === 'number' && (value < 0 || value > 100)) issues.add('progress', 'a number must be from 0 to 100');
    const text = serializeJson(issues, 'progress', value, MAX_PROGRESS_BYTES);
    issues.throwIfAny();
    const { id, attempt, leaseToken } = this.job;
    const [outcome] = await this.backend.updateProgress({ items: [{ id, attempt, leaseToken, progress: text! }] });
    if (outcome !== 'ok') {
      this.onLeaseLost(this);
      throw new LeaseLostError(id, attempt);
    }
  }

  /** Flows: the job's children as its handler sees them (a plain read; it needs no lease). */
  async children(): Promise<FlowChild[]> {
    const records = await this.backend.getChildren(this.job.id);
    return records.map(toFlowChild);
  }

  /** The attempt's signal (already aborted if the attempt was aborted before anyone asked). */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Why the attempt was aborted, or null. */
  get reason(): Error | null {
    return this.abortReason;
  }

  /** Fires the signal once; returns false if it had already fired. */
  abort(cause: AbortCause, reason: Error): boolean {
    if (this.abortCause !== null) return false;
    this.abortCause = cause;
    this.abortReason = reason;
    this.controller?.abort(reason);
    return true;
  }
}
