/**
 * Worker: runs the handler on jobs of one queue — or of several, shared by a strategy — with a
 * concurrency limit. Its ClaimLoop (claim-loop.ts) claims up to the free slots plus `prefetch`
 * (held in a local buffer) and decides which queue and when; the worker starts buffered jobs
 * while slots are free and reports each outcome through a group-committing completer
 * (GroupCommit); one LeaseKeeper heartbeat covers all of its running jobs; one DeadlineTimer
 * covers all timeouts.
 *
 * State machine: created → running (start) → closing (close) → closed.
 *
 * Invariants:
 * - Never more than `concurrency` handlers whose slot is held. A slot is freed when the handler
 *   settles, or when the worker stops waiting for an aborted handler after `abortGraceMs`.
 * - Each attempt gets at most one finalize write, always fenced by its lease; after a lost lease
 *   the worker writes nothing for that attempt.
 * - close() finishes in-flight jobs within the grace period, then aborts the rest and releases
 *   them (fenced) so another worker can take them at once; nothing claimed is silently dropped.
 */
import type { ClaimedJob, FinalizeAction, FinalizeItem, JobOrQueueEvent, LeaseOutcome } from '../backend/backend.js';
import { CancelledError, ClosedError, LeaseLostError, RateLimitedError, TimeoutError, ValidationError } from '../errors.js';
import { toAttemptError } from '../job/outcome.js';
import { GroupCommit } from '../group-commit.js';
import { DeadlineTimer, monotonicNow } from './deadline-timer.js';
import { decideAction, type DecideContext, type Settled } from './decide.js';
import { ClaimLoop } from './claim-loop.js';
import { Execution, type ActiveJob } from './execution.js';
import { LeaseKeeper } from './lease-keeper.js';
import { checkCloseOptions, resolveOptions, type ResolvedWorkerOptions, type WorkerOptions } from './options.js';
import type { SchedulingStrategy } from '../scheduling/claim-planner.js';
import type { JobHandler, ServedQueues, WorkerContext } from './context.js';

export type { WorkerOptions } from './options.js';

export type { JobHandler, ServedQueues, WorkerContext } from './context.js';

export class Worker<P = unknown, R = unknown> {
  readonly id: string;
  /** The served queues, in the order given (urgency order for `strict`). */
  readonly queues: readonly string[];
  private readonly opts: ResolvedWorkerOptions;
  /** The claiming side: which queue, how much, when (claim-loop.ts). */
  private readonly loop: ClaimLoop;
  private state: 'created' | 'running' | 'closing' | 'closed' = 'created';
  /** Keyed by lease token: a stale attempt and its successor of the same job may coexist. */
  private readonly executions = new Map<string, Execution>();
  private slotsInUse = 0;
  /** Claimed ahead of free slots (`prefetch`), not started yet; their leases are kept alive. */
  private readonly buffer: ClaimedJob[] = [];
  /** Group-commits attempt outcomes (fenced; retried until written, as a retry is harmless). */
  private readonly completer: GroupCommit<FinalizeItem, LeaseOutcome>;
  private readonly leases: LeaseKeeper;
  private readonly deadlines = new DeadlineTimer();
  private closing: Promise<void> | null = null;
  /** What decideAction reads of this worker. */
  private readonly decider: DecideContext;
  private unsubscribe: (() => void) | null = null;
  private readonly settledWaiters = new Set<() => void>();

  constructor(
    private readonly ctx: WorkerContext,
    served: ServedQueues,
    private readonly handler: JobHandler<P, R>,
    options?: WorkerOptions,
  ) {
    if (typeof handler !== 'function') throw new ValidationError([{ path: 'handler', message: 'must be a function' }]);
    this.opts = resolveOptions(options);
    this.id = this.opts.workerId;
    this.loop = new ClaimLoop({
      served,
      logger: ctx.logger,
      pollIntervalMs: this.opts.pollIntervalMs,
      batchSize: this.opts.batchSize,
      label: served.queues.map((q) => q.name).join(', '),
      isRunning: () => this.state === 'running',
      ready: () => ctx.ready(),
      room: () => this.room(),
      claim: (queue, limit) => ctx.backend.claimJobs({ queue, workerId: this.id, limit, leaseMs: this.opts.leaseMs }),
      take: (jobs) => {
        for (const job of jobs) {
          this.leases.track(job);
          this.buffer.push(job);
        }
      },
      afterRound: () => this.dispatch(),
    });
    this.decider = { id: this.id, maxResultBytes: ctx.maxResultBytes, hooksFor: ctx.hooksFor };
    this.queues = this.loop.queues;
    this.completer = new GroupCommit({
      name: 'writing job outcomes',
      write: (items) => ctx.backend.finalizeJobs({ items, retention: ctx.retention }),
      maxBatch: 500,
      onFailure: 'retry',
      logger: ctx.logger,
      // A worker held back by its outcome backlog resumes claiming — unless the queue is empty.
      onWritten: () => this.wakeIfWork(),
    });
    this.leases = new LeaseKeeper({
      backend: ctx.backend,
      leaseMs: this.opts.leaseMs,
      heartbeatMs: this.opts.heartbeatMs,
      logger: ctx.logger,
      onLost: (lease) => {
        const exec = this.executions.get(lease.leaseToken);
        if (exec) this.onLeaseLost(exec);
        else this.takeBuffered((job) => job.leaseToken === lease.leaseToken);
      },
      onCancelRequested: (lease) => this.onCancelRequested(lease.id),
    });
    if (this.opts.autostart) this.start();
  }

  /** The first served queue (the only one of a single-queue worker). */
  get queue(): string {
    return this.queues[0]!;
  }

  /** How the worker shares its slots among its queues. */
  get strategy(): SchedulingStrategy {
    return this.loop.strategy;
  }

  /** Handlers currently holding a slot. */
  get running(): number {
    return this.slotsInUse;
  }

  /** Handlers of jobs of `queue` currently running (the registry reports busy slots per queue). */
  runningIn(queue: string): number {
    if (this.queues.length === 1) return queue === this.queues[0] ? this.slotsInUse : 0;
    let n = 0;
    for (const exec of this.executions.values()) if (!exec.finished && exec.job.queue === queue) n += 1;
    return n;
  }

  get isRunning(): boolean {
    return this.state === 'running';
  }

  start(): void {
    if (this.state !== 'created') return;
    this.state = 'running';
    this.unsubscribe = this.ctx.hub.addInternal((event) => this.onEvent(event));
    this.leases.start();
    this.loop.start();
    this.ctx.onStarted?.(this);
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

  private onEvent(event: JobOrQueueEvent): void {
    if (!this.loop.serves(event.queue)) return;
    if (!('jobId' in event)) {
      if (event.type === 'limits_changed') this.loop.limitsChanged(event.queue);
      else if (event.type === 'resumed') this.loop.workArrived(event.queue);
      return;
    }
    if (event.type === 'cancel_requested') this.onCancelRequested(event.jobId);
    // Queued work exists (possibly older or more urgent): claim, don't take dispatches.
    else if (event.state === 'queued') this.loop.workArrived(event.queue);
    else if (event.state !== 'running') this.loop.jobFinished(event.queue);
  }

  /**
   * How many jobs of `queue` this worker can take by direct dispatch right now: its free slots,
   * when it serves `queue` and is idle — every served queue was found empty by its last claim
   * and no event since said otherwise — with nothing buffered. Jobs its own process inserts then
   * skip the claim round trip without overtaking anything queued earlier.
   */
  dispatchSlots(queue: string): number {
    if (this.state !== 'running' || !this.loop.serves(queue) || this.loop.anyReady || this.buffer.length > 0) return 0;
    if (this.loop.blocks(queue)) return 0;
    return Math.max(0, this.opts.concurrency - this.slotsInUse);
  }

  /** Most handlers running at once. */
  get concurrency(): number {
    return this.opts.concurrency;
  }

  /** The lease length this worker claims with (dispatched jobs get the same). */
  get leaseMs(): number {
    return this.opts.leaseMs;
  }

  /** Takes jobs inserted already claimed for this worker (direct dispatch). */
  accept(jobs: ClaimedJob[]): void {
    if (this.state !== 'running') {
      // Closed meanwhile: give them straight back (fenced release).
      for (const job of jobs) {
        void this.completer.submit({ id: job.id, attempt: job.attempt, leaseToken: job.leaseToken, kind: 'release' }).catch(() => undefined);
      }
      return;
    }
    for (const job of jobs) this.leases.track(job);
    this.buffer.push(...jobs);
    this.dispatch();
  }

  private wake(): void {
    this.loop.wake();
  }

  /** A freed slot or a written outcome only matters if some queue had work at the last claim. */
  private wakeIfWork(): void {
    this.loop.wakeIfWork();
  }

  /** How many jobs the worker can take now: free slots plus prefetch room (0: wait). */
  private room(): number {
    const { concurrency, prefetch } = this.opts;
    const free = concurrency + prefetch - this.slotsInUse - this.buffer.length;
    // With a prefetch buffer, refill it only once it has fallen to half: fewer, larger claims.
    const refill = prefetch === 0 || this.buffer.length <= prefetch / 2;
    // Outcomes not written yet hold the worker back: claims wait for the writes to catch up.
    if (free <= 0 || !refill || this.completer.pending >= concurrency * 4 + 500) return 0;
    return free;
  }

  /** Starts buffered jobs while slots are free. */
  private dispatch(): void {
    while (this.state === 'running' && this.slotsInUse < this.opts.concurrency && this.buffer.length > 0) this.run(this.buffer.shift()!);
  }

  /** Removes buffered jobs matching `pred` (lease lost, cancelled, shutdown) and returns them. */
  private takeBuffered(pred: (job: ClaimedJob) => boolean): ClaimedJob[] {
    const taken: ClaimedJob[] = [];
    for (let i = this.buffer.length - 1; i >= 0; i--) {
      if (pred(this.buffer[i]!)) taken.push(...this.buffer.splice(i, 1));
    }
    for (const job of taken) this.leases.untrack(job);
    return taken;
  }

  private run(job: ClaimedJob): void {
    const exec = new Execution(job, this.id, this.ctx.backend, (e) => this.onLeaseLost(e));
    this.executions.set(job.leaseToken, exec);
    this.slotsInUse += 1;
    if (job.timeoutMs !== null) {
      const timeoutMs = job.timeoutMs;
      this.deadlines.set(`t:${job.leaseToken}`, monotonicNow() + timeoutMs, () => this.abortWithGrace(exec, 'timeout', new TimeoutError(timeoutMs)));
    }
    const spans = this.ctx.tracing?.spans;
    let promise: Promise<unknown>;
    try {
      if (spans) exec.span = spans.startProcess(job, this.id);
      promise = Promise.resolve(exec.span ? exec.span.run(this.handler, exec.active as ActiveJob<P>) : this.handler(exec.active as ActiveJob<P>));
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
    // Only attempts with a timeout, or aborted ones, have deadlines (no key string per no-op job).
    if (exec.job.timeoutMs !== null) this.deadlines.delete(`t:${exec.lease.leaseToken}`);
    if (exec.abortCause !== null) this.deadlines.delete(`g:${exec.lease.leaseToken}`);
    if (!exec.finished) this.finish(exec, settled);
    for (const waiter of this.settledWaiters) waiter();
  }

  /** Aborts the handler and gives it `abortGraceMs` to stop before finishing the attempt without it. */
  private abortWithGrace(exec: Execution, cause: 'timeout' | 'cancel' | 'lease_lost' | 'shutdown', reason: Error): void {
    if (exec.settled || exec.finished) return;
    if (!exec.abort(cause, reason)) return;
    this.deadlines.set(`g:${exec.lease.leaseToken}`, monotonicNow() + this.opts.abortGraceMs, () => {
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
    for (const job of this.takeBuffered((j) => j.id === jobId)) {
      const lease = { id: job.id, attempt: job.attempt, leaseToken: job.leaseToken };
      const error = toAttemptError(new CancelledError(), 'cancelled', job, this.id);
      void this.completer.submit({ ...lease, kind: 'cancel', error }).catch(() => undefined);
    }
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
    this.dispatch();
    this.wakeIfWork();
    if (exec.leaseLost) {
      exec.span?.end(null);
      this.forget(exec);
      return;
    }
    let action: FinalizeAction;
    try {
      action = decideAction(exec, settled, this.decider);
    } catch (err) {
      // The result could not even be inspected (e.g. a getter that throws): a failed attempt.
      action = decideAction(exec, { ok: false, error: err }, this.decider);
    }
    exec.span?.end(action);
    const raised = settled.ok ? settled.value : settled.error;
    if (raised instanceof RateLimitedError) this.holdQueue(exec.job.queue, raised.retryAfterMs);
    const { id, attempt, leaseToken } = exec.job;
    const item = (action.kind === 'complete'
      ? { id, attempt, leaseToken, kind: 'complete', result: action.result }
      : { id, attempt, leaseToken, ...action }) as FinalizeItem;
    this.completer.submitWith(item, (err, outcome) => {
      if (err !== undefined) this.ctx.logger.warn({ err, jobId: id }, 'spindle: outcome not written; the job will be rescued');
      else if (outcome !== 'ok') this.ctx.logger.warn({ jobId: id, outcome }, 'spindle: outcome refused: the lease was lost');
      else this.ctx.stats?.countFinalized(exec.job.queue, item.kind);
      this.forget(exec);
    });
  }

  /** A handler said the queue's service is rate limiting: every process skips the queue for `ms`. */
  private holdQueue(queue: string, ms: number): void {
    this.loop.hold(queue, ms);
    this.ctx.backend.holdQueue({ queue, delayMs: ms }).catch((err: unknown) => {
      this.ctx.logger.warn({ err, queue }, 'spindle: holding the rate-limited queue failed; other workers may hit the limit too');
    });
  }

  private forget(exec: Execution): void {
    this.leases.untrack(exec.lease);
    this.executions.delete(exec.lease.leaseToken);
    for (const waiter of this.settledWaiters) waiter();
  }

  /** Resolves when no execution is left, or at `deadline` (a `monotonicNow()` instant; the timer's
   *  firing is the deadline: timers may fire a millisecond early, so it is not re-checked). */
  private waitForExecutions(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.settledWaiters.delete(check);
        resolve();
      };
      const check = () => {
        if (this.executions.size === 0) done();
      };
      const timer = setTimeout(done, Math.max(0, deadline - monotonicNow()));
      this.settledWaiters.add(check);
      check();
    });
  }

  private async shutdown(graceMs: number): Promise<void> {
    if (this.state === 'created') {
      this.state = 'closed';
      await this.ctx.onClosed(this);
      return;
    }
    this.state = 'closing';
    await this.loop.stopped(); // a claim in flight ends first: its jobs are released below
    // Jobs claimed ahead but never started go straight back to the queue (fenced release).
    for (const job of this.takeBuffered(() => true)) {
      void this.completer.submit({ id: job.id, attempt: job.attempt, leaseToken: job.leaseToken, kind: 'release' }).catch(() => undefined);
    }
    await this.waitForExecutions(monotonicNow() + graceMs);
    for (const exec of this.executions.values()) {
      if (!exec.settled && !exec.finished) this.abortWithGrace(exec, 'shutdown', new ClosedError('worker'));
    }
    await this.waitForExecutions(monotonicNow() + this.opts.abortGraceMs + 1000);
    await Promise.race([this.completer.idle(), new Promise((r) => setTimeout(r, Math.max(1000, graceMs)).unref())]);
    this.completer.abandon(new ClosedError('worker'));
    this.deadlines.clear();
    await this.leases.stop();
    this.unsubscribe?.();
    this.state = 'closed';
    await this.ctx.onClosed(this);
  }
}
