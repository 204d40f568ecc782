/**
 * The claiming side of a worker: which served queue to claim from and how much (the
 * ClaimPlanner), when to claim (free room, events, limits, the poll), and the claims themselves.
 * The worker owns slots, the local buffer and the attempts; it tells this loop how much room
 * there is and takes what it claims.
 *
 * Invariants:
 * - At most one claim round at a time (one loop); a round claims each planned queue at once.
 * - A queue whose claim came back short is skipped until an event says it has work, a limit's
 *   wait ends (limit-watch.ts), or the poll — which offers every queue again (polling is the
 *   correctness path; events only cut latency).
 * - An event that arrives while a claim of its queue is in flight keeps the queue on offer (the
 *   claim may not have seen that job).
 * - With a synchronous driver (SQLite) every step of claim → run → finish → write → claim
 *   resolves as a microtask: the loop yields one turn of the event loop per round that found
 *   work, so timers (heartbeats), I/O and other queues are not starved while a backlog lasts.
 */
import type { ClaimAnswer, ClaimedJob } from '../backend/backend.js';
import { ClosedError } from '../errors.js';
import type { Logger } from '../logger.js';
import { ClaimPlanner, type SchedulingStrategy } from '../scheduling/claim-planner.js';
import type { ServedQueues } from './context.js';
import { LimitWatch } from './limit-watch.js';
import { WakeSignal } from './wake-signal.js';

export interface ClaimLoopOptions {
  served: ServedQueues;
  logger: Logger;
  pollIntervalMs: number;
  batchSize: number;
  /** The worker is running (the loop ends when it is not). */
  isRunning(): boolean;
  /** Resolves once the client is started (schema ready). */
  ready(): Promise<void>;
  /** Jobs the worker can take now (0: wait for a wake-up or the poll). */
  room(): number;
  claim(queue: string, limit: number): Promise<ClaimAnswer<ClaimedJob>>;
  /** Claimed jobs, in claim order (the worker tracks their leases and buffers them). */
  take(jobs: ClaimedJob[]): void;
  /** After each round: start what the buffer holds. */
  afterRound(): void;
  /** The served queues, for messages. */
  label: string;
}

export class ClaimLoop {
  private readonly planner: ClaimPlanner;
  /** Per queue, events that said it has work: a claim in flight when one arrives stays trusted. */
  private readonly workSignals = new Map<string, number>();
  /** Queues whose last claim a limit cut short, and when to look again. */
  private readonly limitWatch = new LimitWatch((queue) => this.workArrived(queue));
  private readonly wakeSignal = new WakeSignal();
  private running: Promise<void> | null = null;

  constructor(private readonly o: ClaimLoopOptions) {
    this.planner = new ClaimPlanner(o.served.strategy, o.served.queues);
  }

  get queues(): string[] {
    return this.planner.queues;
  }

  get strategy(): SchedulingStrategy {
    return this.planner.strategy;
  }

  serves(queue: string): boolean {
    return this.planner.serves(queue);
  }

  /** Some served queue may have work (its last claim was not short, or an event said so since). */
  get anyReady(): boolean {
    return this.planner.anyReady;
  }

  /** A hold or a rate window keeps `queue` off until a time (no claims, no direct dispatch). */
  blocks(queue: string): boolean {
    return this.limitWatch.blocks(queue);
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** Resolves when the loop has ended (the worker stopped running; call `wake` first). */
  async stopped(): Promise<void> {
    this.wake();
    await this.running;
    this.limitWatch.clear();
  }

  wake(): void {
    this.wakeSignal.wake();
  }

  /** Room freed or outcomes written: claim again, unless every queue was found empty. */
  wakeIfWork(): void {
    if (this.planner.anyReady) this.wake();
  }

  /** An event says `queue` has claimable work (a queued job, resumed, limits changed). */
  workArrived(queue: string): void {
    this.workSignals.set(queue, (this.workSignals.get(queue) ?? 0) + 1);
    if (this.limitWatch.blocks(queue)) return; // held or rate-limited: its timer offers it again
    this.planner.markReady(queue);
    this.wake();
  }

  /** A queue's limits changed or its hold ended: forget what was known, look again. */
  limitsChanged(queue: string): void {
    this.limitWatch.release(queue);
    this.workArrived(queue);
  }

  /** A job of `queue` left `running` somewhere (a concurrency slot may have freed). */
  jobFinished(queue: string): void {
    this.limitWatch.jobFinished(queue);
  }

  /** A handler said the queue's service is rate limiting: skip it here for `ms`. */
  hold(queue: string, ms: number): void {
    this.planner.markEmpty(queue);
    this.limitWatch.after(queue, ms);
  }

  private async loop(): Promise<void> {
    let failures = 0;
    // The client may fail to start (database unreachable) and succeed later: keep trying, as a
    // failing claim would, until the worker or the client is closed.
    for (;;) {
      if (!this.o.isRunning()) return;
      try {
        await this.o.ready();
        break;
      } catch (err) {
        if (err instanceof ClosedError) return;
        failures += 1;
        const delay = Math.min(30_000, this.o.pollIntervalMs * 2 ** Math.min(failures, 10));
        this.o.logger.error({ err }, `spindle: worker for ${this.o.label} cannot start: the client failed to start; retrying in ${delay} ms`);
        await this.wakeSignal.sleep(delay);
      }
    }
    failures = 0;
    while (this.o.isRunning()) {
      const room = this.o.room();
      if (room <= 0) {
        await this.wakeSignal.sleep(this.o.pollIntervalMs);
        continue;
      }
      if (!this.planner.anyReady) {
        // Every served queue came back short and no event since said otherwise: sleep until one
        // does, or until the poll, which looks at every queue again.
        await this.wakeSignal.sleep(this.o.pollIntervalMs);
        if (!this.planner.anyReady) this.planner.markAllReady();
        continue;
      }
      const failed = await this.round(Math.min(room, this.o.batchSize));
      this.o.afterRound();
      if (failed !== null) {
        failures += 1;
        const delay = Math.min(this.o.pollIntervalMs, 50 * 2 ** failures);
        this.o.logger.warn({ err: failed.err }, `spindle: claiming from ${this.o.label} failed; retrying in ${delay} ms`);
        await this.wakeSignal.sleep(delay);
        continue;
      }
      failures = 0;
      if (this.planner.anyReady) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** One claim of each planned queue, at once; returns the first failure (wrapped), or null. */
  private async round(room: number): Promise<{ err: unknown } | null> {
    const plan = this.planner.plan(room);
    const signals = plan.map((p) => this.workSignals.get(p.queue) ?? 0);
    const finishes = plan.map((p) => this.limitWatch.finishCount(p.queue));
    const answers = await Promise.allSettled(plan.map((p) => this.o.claim(p.queue, p.limit)));
    let failed: { err: unknown } | null = null;
    answers.forEach((answer, i) => {
      const { queue, limit } = plan[i]!;
      if (answer.status === 'rejected') {
        failed ??= { err: answer.reason };
        return;
      }
      const jobs = answer.value;
      this.planner.claimed(queue, jobs.length, limit);
      this.limitWatch.claimAnswered(queue, jobs.limited, finishes[i]!);
      // An event that arrived while this claim was in flight may be for a job it could not see.
      if ((this.workSignals.get(queue) ?? 0) !== signals[i] && !this.limitWatch.blocks(queue)) this.planner.markReady(queue);
      this.o.take(jobs);
    });
    return failed;
  }
}
