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
}

export type AbortCause = 'timeout' | 'cancel' | 'lease_lost' | 'shutdown';

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
  readonly lease: LeaseRef;
  readonly active: ActiveJob;

  constructor(readonly job: ClaimedJob, workerId: string, backend: Backend, onLeaseLost: (exec: Execution) => void) {
    this.lease = { id: job.id, attempt: job.attempt, leaseToken: job.leaseToken };
    const exec = this;
    this.active = {
      id: job.id,
      queue: job.queue,
      name: job.name,
      payload: job.payload,
      attempt: job.attempt,
      maxRetries: job.maxRetries,
      priority: job.priority,
      round: job.round,
      createdAt: job.createdAt,
      workerId,
      get signal(): AbortSignal {
        return exec.signal;
      },
      async progress(value: unknown): Promise<void> {
        const issues = new Issues();
        if (typeof value === 'number' && (value < 0 || value > 100)) issues.add('progress', 'a number must be from 0 to 100');
        const text = serializeJson(issues, 'progress', value, MAX_PROGRESS_BYTES);
        issues.throwIfAny();
        const [outcome] = await backend.updateProgress({ items: [{ ...exec.lease, progress: text! }] });
        if (outcome !== 'ok') {
          onLeaseLost(exec);
          throw new LeaseLostError(job.id, job.attempt);
        }
      },
    };
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
