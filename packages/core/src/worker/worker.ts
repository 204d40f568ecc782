/**
 * Worker: claims jobs of one queue in batches, runs the handler with a concurrency limit, and
 * reports each outcome through a group-committing completer (GroupCommit); one LeaseKeeper heartbeat
 * covers all of its running jobs; one DeadlineTimer covers all timeouts.
 *
 * State machine: created → running (start) → closing (close) → closed.
 * Fetch loop (running): claim up to the free slots → start each job → if the claim came back
 * short, sleep until an event says the queue has work (or `pollIntervalMs` passes: polling is
 * the correctness path, events only cut latency).
 *
 * Invariants:
 * - Never more than `concurrency` handlers whose slot is held. A slot is freed when the handler
 *   settles, or when the worker stops waiting for an aborted handler after `abortGraceMs`.
 * - Each attempt gets at most one finalize write, always fenced by its lease; after a lost lease
 *   the worker writes nothing for that attempt.
 * - close() finishes in-flight jobs within the grace period, then aborts the rest and releases
 *   them (fenced) so another worker can take them at once; nothing claimed is silently dropped.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Backend, ClaimedJob, FinalizeAction, FinalizeItem, LeaseOutcome, RetentionDefaults, SpindleEvent } from '../backend/backend.js';
import { CancelledError, ClosedError, LeaseLostError, SnoozeError, TimeoutError, ValidationError } from '../errors.js';
import type { EventHub } from '../events.js';
import type { Logger } from '../logger.js';
import { clampDelay, failureAction, type BackoffFunction, type ErrorClassifier } from '../job/outcome.js';
import { checkInt, checkKnownKeys, checkPlainObject, Issues, serializeJson } from '../validate.js';
import { GroupCommit } from '../group-commit.js';
import { DeadlineTimer } from './deadline-timer.js';
import { Execution, type ActiveJob } from './execution.js';
import { LeaseKeeper } from './lease-keeper.js';

export type JobHandler<P = unknown, R = unknown> = (job: ActiveJob<P>) => Promise<R> | R;

export interface WorkerOptions {
  /** Handlers running at once (default 10, max 1000). */
  concurrency?: number;
  /** Lease length (default 30 s). A job whose worker stops renewing is rescued after it. */
  leaseMs?: number;
  /** Heartbeat period (default leaseMs / 3). */
  heartbeatMs?: number;
  /** Fallback poll period when idle and no event arrives (default 1000 ms). */
  pollIntervalMs?: number;
  /** Most jobs per claim (default: the free slots, at most 500). */
  batchSize?: number;
  /** How long an aborted handler (timeout, cancel, lost lease) may take to stop (default 5 s). */
  abortGraceMs?: number;
  /** Default grace for close() (default 30 s). */
  shutdownGraceMs?: number;
  /** Identifies this worker in job records (default host:pid:random). */
  workerId?: string;
  /** Start claiming at once (default true). */
  autostart?: boolean;
}

const WORKER_OPTION_KEYS = ['concurrency', 'leaseMs', 'heartbeatMs', 'pollIntervalMs', 'batchSize', 'abortGraceMs', 'shutdownGraceMs', 'workerId', 'autostart'];

/** What a worker needs from its client. */
export interface WorkerContext {
  backend: Backend;
  hub: EventHub;
  logger: Logger;
  retention: RetentionDefaults;
  maxResultBytes: number;
  classifyError?: ErrorClassifier | undefined;
  backoff?: BackoffFunction | undefined;
  onClosed: (worker: Worker<any, any>) => void;
  /** Resolves when the client is started (schema ready); the worker claims nothing before. */
  ready: () => Promise<void>;
}

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

function resolveOptions(options: WorkerOptions | undefined): Required<Omit<WorkerOptions, 'workerId'>> & { workerId: string } {
  const issues = new Issues();
  const o: Record<string, unknown> = options === undefined ? {} : checkPlainObject(issues, 'worker options', options) ? options : {};
  checkKnownKeys(issues, 'worker options', o, WORKER_OPTION_KEYS);
  const concurrency = (o.concurrency ?? 10) as number;
  checkInt(issues, 'concurrency', concurrency, 1, 1000);
  const leaseMs = (o.leaseMs ?? 30_000) as number;
  checkInt(issues, 'leaseMs', leaseMs, 100, 24 * 3600 * 1000);
  const heartbeatMs = (o.heartbeatMs ?? Math.max(50, Math.floor(leaseMs / 3))) as number;
  checkInt(issues, 'heartbeatMs', heartbeatMs, 10, Math.max(10, leaseMs - 1));
  const pollIntervalMs = (o.pollIntervalMs ?? 1000) as number;
  checkInt(issues, 'pollIntervalMs', pollIntervalMs, 5, 600_000);
  const batchSize = (o.batchSize ?? Math.min(500, concurrency)) as number;
  checkInt(issues, 'batchSize', batchSize, 1, 500);
  const abortGraceMs = (o.abortGraceMs ?? 5000) as number;
  checkInt(issues, 'abortGraceMs', abortGraceMs, 0, 3_600_000);
  const shutdownGraceMs = (o.shutdownGraceMs ?? 30_000) as number;
  checkInt(issues, 'shutdownGraceMs', shutdownGraceMs, 0, 24 * 3600 * 1000);
  const workerId = (o.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`) as string;
  if (typeof workerId !== 'string' || workerId.length === 0 || workerId.length > 200) issues.add('workerId', 'must be a string of 1..200 characters');
  const autostart = (o.autostart ?? true) as boolean;
  if (typeof autostart !== 'boolean') issues.add('autostart', 'must be a boolean');
  issues.throwIfAny();
  return { concurrency, leaseMs, heartbeatMs, pollIntervalMs, batchSize, abortGraceMs, shutdownGraceMs, workerId, autostart };
}

/** Validates `close()` options; returns the grace period if one is given. Throws ValidationError. */
export function checkCloseOptions(options: unknown): number | undefined {
  const issues = new Issues();
  if (!checkPlainObject(issues, 'close options', options)) issues.throwIfAny();
  const o = options as Record<string, unknown>;
  checkKnownKeys(issues, 'close options', o, ['graceMs']);
  if (o.graceMs !== undefined) checkInt(issues, 'graceMs', o.graceMs, 0, 24 * 3600 * 1000);
  issues.throwIfAny();
  return o.graceMs as number | undefined;
}

export class Worker<P = unknown, R = unknown> {
  readonly id: string;
  readonly queue: string;
  private readonly opts: ReturnType<typeof resolveOptions>;
  private state: 'created' | 'running' | 'closing' | 'closed' = 'created';
  /** Keyed by lease token: a stale attempt and its successor of the same job may coexist. */
  private readonly executions = new Map<string, Execution>();
  private slotsInUse = 0;
  /** Group-commits attempt outcomes (fenced; retried until written, as a retry is harmless). */
  private readonly completer: GroupCommit<FinalizeItem, LeaseOutcome>;
  private readonly leases: LeaseKeeper;
  private readonly deadlines = new DeadlineTimer();
  private fetching: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private wakeFlag = false;
  private wakeWaiter: (() => void) | null = null;
  private unsubscribe: (() => void) | null = null;
  private readonly settledWaiters = new Set<() => void>();

  constructor(
    private readonly ctx: WorkerContext,
    queue: string,
    private readonly handler: JobHandler<P, R>,
    options?: WorkerOptions,
  ) {
    if (typeof handler !== 'function') throw new ValidationError([{ path: 'handler', message: 'must be a function' }]);
    this.opts = resolveOptions(options);
    this.id = this.opts.workerId;
    this.queue = queue;
    this.completer = new GroupCommit({
      name: 'writing job outcomes',
      write: (items) => ctx.backend.finalizeJobs({ items, retention: ctx.retention }),
      maxBatch: 500,
      onFailure: 'retry',
      logger: ctx.logger,
      onWritten: () => this.wake(),
    });
    this.leases = new LeaseKeeper({
      backend: ctx.backend,
      leaseMs: this.opts.leaseMs,
      heartbeatMs: this.opts.heartbeatMs,
      logger: ctx.logger,
      onLost: (lease) => {
        const exec = this.executions.get(lease.leaseToken);
        if (exec) this.onLeaseLost(exec);
      },
      onCancelRequested: (lease) => this.onCancelRequested(lease.id),
    });
    if (this.opts.autostart) this.start();
  }

  /** Handlers currently holding a slot. */
  get running(): number {
    return this.slotsInUse;
  }

  get isRunning(): boolean {
    return this.state === 'running';
  }

  start(): void {
    if (this.state !== 'created') return;
    this.state = 'running';
    this.unsubscribe = this.ctx.hub.addInternal((event) => this.onEvent(event));
    this.leases.start();
    this.fetching = this.fetchLoop();
  }

  /**
   * Stops claiming, lets in-flight handlers finish for up to `graceMs`, then aborts the rest
   * (their signal's reason is a ClosedError) and releases their jobs back to the queue.
   */
  close(options: { graceMs?: number } = {}): Promise<void> {
    let graceMs: number;
    try {
      graceMs = checkCloseOptions(options) ?? this.opts.shutdownGraceMs;
    } catch (err) {
      return Promise.reject(err);
    }
    if (!this.closing) this.closing = this.shutdown(graceMs);
    return this.closing;
  }

  // ------------------------------------------------------------------------------------------

  private onEvent(event: SpindleEvent): void {
    if (event.queue !== this.queue) return;
    if (!('jobId' in event)) {
      if (event.type === 'resumed') this.wake();
      return;
    }
    if (event.type === 'cancel_requested') this.onCancelRequested(event.jobId);
    else if (event.state === 'queued') this.wake();
  }

  private wake(): void {
    this.wakeFlag = true;
    this.wakeWaiter?.();
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.wakeWaiter === done) self.wakeWaiter = null;
        resolve();
      }
      this.wakeWaiter = done;
    });
  }

  private async fetchLoop(): Promise<void> {
    let failures = 0;
    // The client may fail to start (database unreachable) and succeed later: keep trying, as a
    // failing claim would, until the worker or the client is closed.
    for (;;) {
      if (this.state !== 'running') return;
      try {
        await this.ctx.ready();
        break;
      } catch (err) {
        if (err instanceof ClosedError) return;
        failures += 1;
        const delay = Math.min(30_000, this.opts.pollIntervalMs * 2 ** Math.min(failures, 10));
        this.ctx.logger.error({ err }, `spindle: worker for ${this.queue} cannot start: the client failed to start; retrying in ${delay} ms`);
        await this.pause(delay);
      }
    }
    failures = 0;
    while (this.state === 'running') {
      const free = this.opts.concurrency - this.slotsInUse;
      if (free <= 0 || this.completer.pending >= this.opts.concurrency * 4 + 500) {
        await this.pause(this.opts.pollIntervalMs);
        continue;
      }
      this.wakeFlag = false;
      const limit = Math.min(free, this.opts.batchSize);
      let jobs: ClaimedJob[];
      try {
        jobs = await this.ctx.backend.claimJobs({ queue: this.queue, workerId: this.id, limit, leaseMs: this.opts.leaseMs });
        failures = 0;
      } catch (err) {
        failures += 1;
        const delay = Math.min(this.opts.pollIntervalMs, 50 * 2 ** failures);
        this.ctx.logger.warn({ err }, `spindle: claiming from ${this.queue} failed; retrying in ${delay} ms`);
        await this.pause(delay);
        continue;
      }
      for (const job of jobs) this.run(job);
      if (jobs.length < limit && !this.wakeFlag && this.state === 'running') await this.pause(this.opts.pollIntervalMs);
    }
  }

  private run(job: ClaimedJob): void {
    const exec = new Execution(job, this.id, this.ctx.backend, (e) => this.onLeaseLost(e));
    this.executions.set(job.leaseToken, exec);
    this.slotsInUse += 1;
    this.leases.track(exec.lease);
    if (job.timeoutMs !== null) {
      const timeoutMs = job.timeoutMs;
      this.deadlines.set(`t:${job.leaseToken}`, Date.now() + timeoutMs, () => this.abortWithGrace(exec, 'timeout', new TimeoutError(timeoutMs)));
    }
    let promise: Promise<unknown>;
    try {
      promise = Promise.resolve(this.handler(exec.active as ActiveJob<P>));
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.then(
      (value) => this.onSettled(exec, { ok: true, value }),
      (error: unknown) => this.onSettled(exec, { ok: false, error }),
    );
  }

  private onSettled(exec: Execution, settled: Settled): void {
    exec.settled = true;
    this.deadlines.delete(`t:${exec.lease.leaseToken}`);
    this.deadlines.delete(`g:${exec.lease.leaseToken}`);
    if (!exec.finished) this.finish(exec, settled);
    for (const waiter of this.settledWaiters) waiter();
  }

  /** Aborts the handler and gives it `abortGraceMs` to stop before finishing the attempt without it. */
  private abortWithGrace(exec: Execution, cause: 'timeout' | 'cancel' | 'lease_lost' | 'shutdown', reason: Error): void {
    if (exec.settled || exec.finished) return;
    if (!exec.abort(cause, reason)) return;
    this.deadlines.set(`g:${exec.lease.leaseToken}`, Date.now() + this.opts.abortGraceMs, () => {
      if (!exec.settled && !exec.finished) {
        this.ctx.logger.warn({ jobId: exec.job.id }, `spindle: handler ignored its abort signal (${cause}); freeing its slot`);
        this.finish(exec, { ok: false, error: reason });
      }
    });
  }

  private onLeaseLost(exec: Execution): void {
    exec.leaseLost = true;
    this.leases.untrack(exec.lease);
    this.abortWithGrace(exec, 'lease_lost', new LeaseLostError(exec.job.id, exec.job.attempt));
  }

  private onCancelRequested(jobId: string): void {
    for (const exec of this.executions.values()) {
      if (exec.job.id !== jobId || exec.cancelRequested || exec.leaseLost) continue;
      exec.cancelRequested = true;
      this.abortWithGrace(exec, 'cancel', new CancelledError());
    }
  }

  /** Decides the attempt's outcome, frees the slot and hands the write to the completer. */
  private finish(exec: Execution, settled: Settled): void {
    exec.finished = true;
    this.slotsInUse -= 1;
    this.wake();
    if (exec.leaseLost) {
      this.forget(exec);
      return;
    }
    let action: FinalizeAction;
    try {
      action = this.decide(exec, settled);
    } catch (err) {
      // The result could not even be inspected (e.g. a getter that throws): a failed attempt.
      action = this.decide(exec, { ok: false, error: err });
    }
    this.completer.submit({ ...exec.lease, ...action }).then(
      (outcome) => {
        if (outcome !== 'ok') this.ctx.logger.warn({ jobId: exec.job.id, outcome }, 'spindle: outcome refused: the lease was lost');
      },
      (err: unknown) => this.ctx.logger.warn({ err, jobId: exec.job.id }, 'spindle: outcome not written; the job will be rescued'),
    ).finally(() => this.forget(exec));
  }

  private forget(exec: Execution): void {
    this.leases.untrack(exec.lease);
    this.executions.delete(exec.lease.leaseToken);
    for (const waiter of this.settledWaiters) waiter();
  }

  private decide(exec: Execution, settled: Settled): FinalizeAction {
    if (settled.ok) {
      if (settled.value instanceof SnoozeError) {
        // A returned snooze is not a completion: after a cancel request it ends cancelled.
        if (!exec.cancelRequested) return { kind: 'snooze', delayMs: clampDelay(settled.value.delayMs) };
        settled = { ok: false, error: settled.value };
      } else {
        const issues = new Issues();
        const text = serializeJson(issues, 'result', settled.value === undefined ? null : settled.value, this.ctx.maxResultBytes);
        if (text !== null) return { kind: 'complete', result: text };
        settled = { ok: false, error: new ValidationError(issues.list) };
      }
    }
    // A cancel requested while the shutdown waited for the handler wins over the release.
    if (exec.abortCause === 'shutdown' && !exec.cancelRequested) return { kind: 'release' };
    const error = exec.abortCause === 'timeout' && !(settled.error instanceof TimeoutError) ? exec.reason : settled.error;
    return failureAction({
      job: exec.job,
      error,
      workerId: this.id,
      cancelRequested: exec.cancelRequested,
      classifyError: this.ctx.classifyError,
      backoff: this.ctx.backoff,
    });
  }

  private waitForExecutions(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.executions.size === 0 || Date.now() >= deadline) {
          clearTimeout(timer);
          this.settledWaiters.delete(check);
          resolve();
        }
      };
      const timer = setTimeout(check, Math.max(0, deadline - Date.now()));
      this.settledWaiters.add(check);
      check();
    });
  }

  private async shutdown(graceMs: number): Promise<void> {
    if (this.state === 'created') {
      this.state = 'closed';
      this.ctx.onClosed(this);
      return;
    }
    this.state = 'closing';
    this.wake();
    await this.fetching;
    await this.waitForExecutions(Date.now() + graceMs);
    for (const exec of this.executions.values()) {
      if (!exec.settled && !exec.finished) this.abortWithGrace(exec, 'shutdown', new ClosedError('worker'));
    }
    await this.waitForExecutions(Date.now() + this.opts.abortGraceMs + 1000);
    await Promise.race([this.completer.idle(), new Promise((r) => setTimeout(r, Math.max(1000, graceMs)).unref())]);
    this.completer.abandon(new ClosedError('worker'));
    this.deadlines.clear();
    await this.leases.stop();
    this.unsubscribe?.();
    this.state = 'closed';
    this.ctx.onClosed(this);
  }
}
