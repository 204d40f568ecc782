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

/** Called once per item: with its answer, or with the error that failed (or abandoned) it. */
export type Settle<O> = (err: unknown, answer?: O) => void;

interface Pending<I, O> {
  item: I;
  settle: Settle<O>;
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
    return new Promise((resolve, reject) => this.submitWith(item, (err, answer) => (err === undefined ? resolve(answer!) : reject(err))));
  }

  /**
   * `submit` with a callback instead of a promise: the hot path (a worker's outcomes) saves a
   * promise and its closures per item. `settle` is called exactly once, never synchronously.
   */
  submitWith(item: I, settle: Settle<O>): void {
    if (this.abandoned) {
      const reason = this.abandoned;
      queueMicrotask(() => settle(reason));
      return;
    }
    this.queue.push({ item, settle });
    if (!this.flushing) this.flushing = this.drain();
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
    for (const p of dropped) this.settle(p, reason);
    this.wakeRetry?.();
  }

  /** A throwing callback must not look like a failed write (which would be written again). */
  private settle(p: Pending<I, O>, err: unknown, answer?: O): void {
    try {
      p.settle(err, answer);
    } catch (callbackError) {
      this.options.logger.error({ err: callbackError }, `spindle: a callback of ${this.options.name} threw`);
    }
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
        for (let i = 0; i < batch.length; i++) this.settle(batch[i]!, undefined, answers[i]!);
        failures = 0;
        this.options.onWritten?.();
      } catch (err) {
        if (this.options.onFailure === 'reject') {
          this.queue.splice(0, batch.length);
          const failure = err ?? new Error(`${this.options.name} failed`);
          for (const p of batch) this.settle(p, failure);
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
