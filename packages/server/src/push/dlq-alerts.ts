/**
 * DLQ alerts on the push channels: `dlq.alert.fired` when a queue's DLQ (unresolved dead jobs)
 * goes from empty to non-empty, `dlq.alert.cleared` when it empties again (replayed, purged or
 * resolved), each with the queue and its depth.
 *
 * How: the depth per queue is read from the database when the server starts, after every
 * `job.dead`/`job.replayed`/`job.removed`/`job.retried` event (debounced), and every `intervalMs`
 * (purges and resolutions by other processes send no job event, and events are best effort).
 *
 * Invariants: alerts are edge-triggered per queue (one `fired` per empty → non-empty change, one
 * `cleared` per non-empty → empty change), compared with the last depth this server read; the
 * first read only establishes the baseline for queues already non-empty, which fire once then.
 */
import type { Client } from '@spindle/core';
import type { EventLog, WireEvent } from './event-log.js';

const DEBOUNCE_MS = 50;
const TRIGGERS = new Set(['job.dead', 'job.replayed', 'job.removed', 'job.retried', 'job.updated']);

export class DlqAlerts {
  private depths = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private pending: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private checking: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly client: Client,
    private readonly events: EventLog,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.unsubscribe = this.events.subscribe({}, (e) => this.onEvent(e));
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
    void this.check();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending);
    await this.checking;
  }

  /** Reads the depths now and publishes the alerts that changed (also used by tests). */
  check(): Promise<void> {
    this.checking ??= this.readAndCompare()
      .catch((err: unknown) => this.onError(err))
      .finally(() => {
        this.checking = null;
      });
    return this.checking;
  }

  private onEvent(e: WireEvent): void {
    if (!TRIGGERS.has(e.type) || this.pending || this.stopped) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      void this.check();
    }, DEBOUNCE_MS);
    this.pending.unref();
  }

  private async readAndCompare(): Promise<void> {
    if (this.stopped) return;
    const now = new Map((await this.client.dlq.depth()).map((d) => [d.queue, d.depth]));
    const at = new Date().toISOString();
    for (const [queue, depth] of now) {
      if (depth > 0 && (this.depths.get(queue) ?? 0) === 0) this.events.publish({ type: 'dlq.alert.fired', at, queue, data: { depth } });
    }
    for (const [queue, before] of this.depths) {
      if (before > 0 && (now.get(queue) ?? 0) === 0) this.events.publish({ type: 'dlq.alert.cleared', at, queue, data: { depth: 0 } });
    }
    this.depths = now;
  }
}
