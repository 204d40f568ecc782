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
 * `snapshot()` (for `GET /alerts`) reports the last depths read, when each queue's state last
 * changed, and the last HISTORY_SIZE transitions (a bounded ring, in memory: per process, lost
 * on restart).
 */
import type { Client } from '@spindle/core';
import type { EventLog, WireEvent } from './event-log.js';

const DEBOUNCE_MS = 50;
/** How many alert transitions `snapshot()` keeps (oldest dropped first). */
export const HISTORY_SIZE = 200;

/** One alert transition of a queue's rule "DLQ depth > 0". */
export interface AlertTransition {
  type: 'dlq.alert.fired' | 'dlq.alert.cleared';
  queue: string;
  depth: number;
  at: string;
}

export interface AlertSnapshot {
  /** When the depths were last read (null before the first read). */
  checkedAt: string | null;
  /** Every queue this server has seen with a non-empty DLQ, with its current depth. */
  queues: Array<{ queue: string; depth: number; firing: boolean; since: string | null }>;
  /** The most recent transitions, newest first. */
  history: AlertTransition[];
}

const TRIGGERS = new Set(['job.dead', 'job.replayed', 'job.removed', 'job.retried', 'job.updated']);

export class DlqAlerts {
  private depths = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private pending: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private checking: Promise<void> | null = null;
  private stopped = false;
  private checkedAt: string | null = null;
  private readonly since = new Map<string, string>();
  private readonly history: AlertTransition[] = [];

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

  /** The current state of the rule per queue and the recent transitions (see the header). */
  snapshot(): AlertSnapshot {
    const names = new Set([...this.depths.keys(), ...this.since.keys()]);
    const queues = [...names].sort().map((queue) => {
      const depth = this.depths.get(queue) ?? 0;
      return { queue, depth, firing: depth > 0, since: this.since.get(queue) ?? null };
    });
    return { checkedAt: this.checkedAt, queues, history: [...this.history].reverse() };
  }

  private record(t: AlertTransition): void {
    this.since.set(t.queue, t.at);
    this.history.push(t);
    if (this.history.length > HISTORY_SIZE) this.history.splice(0, this.history.length - HISTORY_SIZE);
    this.events.publish({ type: t.type, at: t.at, queue: t.queue, data: { depth: t.depth } });
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
      if (depth > 0 && (this.depths.get(queue) ?? 0) === 0) this.record({ type: 'dlq.alert.fired', at, queue, depth });
    }
    for (const [queue, before] of this.depths) {
      if (before > 0 && (now.get(queue) ?? 0) === 0) this.record({ type: 'dlq.alert.cleared', at, queue, depth: 0 });
    }
    this.depths = now;
    this.checkedAt = at;
  }
}
