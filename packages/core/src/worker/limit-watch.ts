/**
 * What a worker remembers about its queues' limits (queue-limits.ts): a claim cut short by a
 * concurrency limit waits for a job of that queue to leave `running` (in any process: the
 * events say so); one cut short by a rate window or a hold waits until the time the backend
 * named. Either way the queue is then offered to the planner again.
 *
 * Invariants: at most one timer per queue (the earliest wins), unref'd, all cleared by `clear`;
 * `onReady` is never called after `clear`. While a queue's timer is set the worker takes neither
 * claims nor direct dispatches for it (a hold this process learned of may not be committed yet).
 */
import type { ClaimLimited } from '../backend/backend.js';
import { monotonicNow } from './deadline-timer.js';

export class LimitWatch {
  private readonly waitingForSlot = new Set<string>();
  /** Per queue, jobs seen leaving `running` (a claim compares before and after itself). */
  private readonly finishes = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private cleared = false;

  constructor(private readonly onReady: (queue: string) => void) {}

  /** How many jobs of `queue` were seen leaving `running` so far (read before a claim). */
  finishCount(queue: string): number {
    return this.finishes.get(queue) ?? 0;
  }

  /**
   * A claim of `queue` came back; `limited` when a limit (not an empty queue) cut it short;
   * `finishesBefore`: finishCount when the claim was sent. A slot freed while the claim was in
   * flight may not have been counted by it: the queue is offered again at once.
   */
  claimAnswered(queue: string, limited: ClaimLimited | undefined, finishesBefore: number): void {
    if (!limited) {
      this.waitingForSlot.delete(queue);
      return;
    }
    if (limited.reason === 'concurrency') {
      if (this.finishCount(queue) !== finishesBefore) queueMicrotask(() => this.cleared || this.onReady(queue));
      else this.waitingForSlot.add(queue);
    }
    if (limited.retryAfterMs !== undefined) this.after(queue, limited.retryAfterMs);
  }

  /** A time is set for `queue` (a hold or a rate window): until then, work signals change nothing. */
  blocks(queue: string): boolean {
    return this.timers.has(queue);
  }

  /** The queue's limits changed or its hold ended: forget what was known about it. */
  release(queue: string): void {
    const existing = this.timers.get(queue);
    if (existing) clearTimeout(existing.timer);
    this.timers.delete(queue);
    this.waitingForSlot.delete(queue);
  }

  /** A job of `queue` left `running` somewhere: a concurrency slot may have freed. */
  jobFinished(queue: string): void {
    this.finishes.set(queue, this.finishCount(queue) + 1);
    if (this.waitingForSlot.delete(queue)) this.onReady(queue);
  }

  /** Offers `queue` again in `ms` (an earlier offer already planned is kept). */
  after(queue: string, ms: number): void {
    if (this.cleared) return;
    const at = monotonicNow() + ms; // compared with other holds only: monotonic, as deadlines
    const existing = this.timers.get(queue);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(queue);
      if (!this.cleared) this.onReady(queue);
    }, Math.max(1, ms));
    timer.unref();
    this.timers.set(queue, { at, timer });
  }

  clear(): void {
    this.cleared = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.waitingForSlot.clear();
  }
}
