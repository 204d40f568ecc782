/**
 * Group commit: callers submit items one by one; the batcher writes everything submitted while
 * the previous write was in flight as the next single write. An idle system pays no I/O wait; a busy one pays one database transaction per batch instead of one per item.
 * Used for job outcomes (the worker's completer) and for enqueues (concurrent `add` calls
 * become one multi-row insert).
 *
 * Invariants: items are written in submission order, at most one write is in flight, and every
 * submit settles with its own item's answer. On a failed write, `onFailure: 'retry'` retries the
 * same batch with capped backoff until it succeeds or `abandon()` is called (for writes that
 * must not be lost and are safe to repeat, like fenced outcomes); `'reject'` fails that batch's
 * submitters with the error (for writes whose caller must learn of the failure, like enqueues).
 */
import type { Logger } from './logger.js';

export interface GroupCommitOptions<I, O> {
  /** Human name for logs. */
  name: string;
  /** Writes a batch; answers per item, in order. */
  write: (items: I[]) => Promise<O[]>;
  /** Upper bound of the summed `weight` of one batch (a single heavier item still goes alone). */
  maxBatch: number;
  /** An item's share of `maxBatch` (default 1). */
  weight?: (item: I) => number;
  onFailure: 'retry' | 'reject';
  logger: Logger;
  /** Called after each successful write. */
  onWritten?: () => void;
  /**
   * How long a batch gathers before it is written. `tick` (default): the current run of
   * callbacks (a nextTick), the lowest latency for work submitted by one burst of promise
   * callbacks. `io`: also every I/O callback of the current event-loop turn (a setImmediate),
   * so requests arriving on many sockets at once — an HTTP server's enqueues — share a commit.
   */
  gather?: 'tick' | 'io';
}

interface Pending<I, O> {
  item: I;
  resolve: (answer: O) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<I, O> {
  private queue: Array<Pending<I, O>> = [];
  private flushing: Promise<void> | null = null;
  private abandoned: Error | null = null;
  /** Ends the retry sleep early (abandon() must not leave a timer keeping the process alive). */
  private wakeRetry: (() => void) | null = null;

  constructor(private readonly options: GroupCommitOptions<I, O>) {}

  /** Items submitted and not yet written. */
  get pending(): number {
    return this.queue.length;
  }

  submit(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      if (this.abandoned) {
        reject(this.abandoned);
        return;
      }
      this.queue.push({ item, resolve, reject });
      if (!this.flushing) this.flushing = this.drain();
    });
  }

  /** Resolves when everything submitted so far has been written (or rejected). */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Rejects everything not yet written, and every later submit, with `reason`. */
  abandon(reason: Error): void {
    this.abandoned = reason;
    const dropped = this.queue;
    this.queue = [];
    for (const p of dropped) p.reject(reason);
    this.wakeRetry?.();
  }

  private takeBatch(): Array<Pending<I, O>> {
    const weight = this.options.weight ?? (() => 1);
    let total = 0;
    let n = 0;
    while (n < this.queue.length) {
      const w = weight(this.queue[n]!.item);
      if (n > 0 && total + w > this.options.maxBatch) break;
      total += w;
      n += 1;
    }
    return this.queue.slice(0, n);
  }

  private async drain(): Promise<void> {
    // Let the items submitted by the current run of callbacks join this batch: a nextTick runs
    // after the pending promise callbacks (e.g. a burst of handler completions), without waiting
    // for the event loop's I/O phase as setImmediate would — unless I/O batching was asked for.
    if (this.options.gather === 'io') await new Promise<void>((r) => setImmediate(r));
    else await new Promise<void>((r) => process.nextTick(r));
    let failures = 0;
    while (this.queue.length > 0 && !this.abandoned) {
      const batch = this.takeBatch();
      try {
        const answers = await this.options.write(batch.map((p) => p.item));
        this.queue.splice(0, batch.length);
        batch.forEach((p, i) => p.resolve(answers[i]!));
        failures = 0;
        this.options.onWritten?.();
      } catch (err) {
        if (this.options.onFailure === 'reject') {
          this.queue.splice(0, batch.length);
          for (const p of batch) p.reject(err);
          continue;
        }
        failures += 1;
        const delay = Math.min(50 * 2 ** failures, 5000);
        this.options.logger.warn({ err }, `spindle: ${this.options.name} failed for ${batch.length} items; retrying in ${delay} ms`);
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            this.wakeRetry = null;
            resolve();
          };
          const timer = setTimeout(done, delay);
          this.wakeRetry = done;
        });
      }
    }
    this.flushing = null;
  }
}
