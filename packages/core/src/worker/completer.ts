/**
 * Group commit of attempt outcomes: handlers submit finalize items; the completer writes them in
 * batches — everything submitted while the previous batch was in flight goes in the next one —
 * so a busy worker pays one transaction per batch, not per job, and an idle one pays no delay.
 *
 * Invariants: items are written in submission order; a batch that fails (database unreachable)
 * is retried with backoff until it is written or the completer is abandoned on shutdown; each
 * submit resolves with that item's fenced outcome. Retrying a batch whose commit did land but
 * whose reply was lost yields `lease_lost` for its items — the fence makes the retry harmless.
 */
import type { Backend, FinalizeItem, LeaseOutcome, RetentionDefaults } from '../backend/backend.js';
import type { Logger } from '../logger.js';

interface Pending {
  item: FinalizeItem;
  resolve: (outcome: LeaseOutcome) => void;
  reject: (err: unknown) => void;
}

export interface CompleterOptions {
  backend: Backend;
  retention: RetentionDefaults;
  logger: Logger;
  /** Most items per write. */
  maxBatch: number;
  /** Called after each batch is written (a worker held back by backpressure resumes claiming). */
  onWritten?: () => void;
}

export class Completer {
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private abandoned = false;

  constructor(private readonly options: CompleterOptions) {}

  /** Items submitted and not yet written. */
  get pending(): number {
    return this.queue.length;
  }

  submit(item: FinalizeItem): Promise<LeaseOutcome> {
    return new Promise((resolve, reject) => {
      if (this.abandoned) {
        reject(new Error('completer abandoned'));
        return;
      }
      this.queue.push({ item, resolve, reject });
      if (!this.flushing) this.flushing = this.drain();
    });
  }

  /** Resolves when everything submitted so far has been written. */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Gives up on unwritten items (their jobs will be rescued when their leases expire). */
  abandon(reason: Error): void {
    this.abandoned = true;
    const dropped = this.queue;
    this.queue = [];
    for (const p of dropped) p.reject(reason);
  }

  private async drain(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
    let failures = 0;
    while (this.queue.length > 0 && !this.abandoned) {
      const batch = this.queue.slice(0, this.options.maxBatch);
      try {
        const outcomes = await this.options.backend.finalizeJobs({ items: batch.map((p) => p.item), retention: this.options.retention });
        this.queue.splice(0, batch.length);
        batch.forEach((p, i) => p.resolve(outcomes[i] ?? 'not_found'));
        failures = 0;
        this.options.onWritten?.();
      } catch (err) {
        failures += 1;
        const delay = Math.min(50 * 2 ** failures, 5000);
        this.options.logger.warn({ err }, `spindle: writing ${batch.length} job outcomes failed; retrying in ${delay} ms`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    this.flushing = null;
  }
}
