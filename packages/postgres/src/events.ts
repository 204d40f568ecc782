/**
 * In-process event fan-out of one backend instance: local delivery of the events of this
 * instance's own committed operations, and delivery of NOTIFY payloads from other processes.
 *
 * Invariants:
 * - Local events are delivered after the operation committed, on `process.nextTick`, in the
 *   order the operations completed.
 * - A NOTIFY payload whose origin is this instance is ignored (it was delivered locally), except
 *   origin `tx` (inserts made inside a caller's transaction), which are only known on commit.
 * - A throwing listener never stops delivery to the others nor breaks the backend; its error is
 *   reported as a process warning.
 * - Delivery is best effort (see the Backend contract): a malformed payload is dropped.
 */
import { randomBytes } from 'node:crypto';
import type { EventListener, SpindleEvent } from '@spindle/core';

/** Origin of events inserted in a caller's transaction: every process delivers them from NOTIFY. */
export const TX_ORIGIN = 'tx';

export class EventHub {
  /** This instance's origin id, carried by every NOTIFY it sends. */
  readonly origin = randomBytes(8).toString('hex');
  /** How our own NOTIFY payloads begin (`json_build_object('o', origin, …)::text`). */
  private readonly ownPrefix = `{"o" : ${JSON.stringify(this.origin)},`;
  private readonly listeners = new Set<EventListener>();

  get hasListeners(): boolean {
    return this.listeners.size > 0;
  }

  subscribe(listener: EventListener): () => void {
    // Wrap so that the same function subscribed twice gets two independent subscriptions.
    const entry: EventListener = (events) => listener(events);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  /** Events of an operation of this instance that just committed. */
  publishLocal(events: SpindleEvent[]): void {
    if (events.length === 0 || this.listeners.size === 0) return;
    process.nextTick(() => this.deliver(events));
  }

  /** A NOTIFY payload `{o, e}` received on our channel. */
  receive(payload: string): void {
    // Our own events (most of them, in one process) were delivered locally: skip them unparsed.
    // Any other layout is parsed and its origin checked below.
    if (payload.startsWith(this.ownPrefix)) return;
    let message: { o?: unknown; e?: unknown };
    try {
      message = JSON.parse(payload) as { o?: unknown; e?: unknown };
    } catch {
      return;
    }
    if (message.o === this.origin || !Array.isArray(message.e)) return;
    this.deliver(message.e as SpindleEvent[]);
  }

  clear(): void {
    this.listeners.clear();
  }

  private deliver(events: SpindleEvent[]): void {
    if (events.length === 0) return;
    for (const listener of [...this.listeners]) {
      try {
        listener(events);
      } catch (err) {
        process.emitWarning(`spindle: an event listener threw: ${err instanceof Error ? err.message : String(err)}`, {
          code: 'SPINDLE_LISTENER_ERROR',
        });
      }
    }
  }
}

/** The `ev` column of returned rows, in `ord` order, as events (rows without one skipped). */
export function eventsOf(rows: Array<Record<string, unknown>>): SpindleEvent[] {
  const events: SpindleEvent[] = [];
  for (const row of rows) if (row.ev != null) events.push(row.ev as SpindleEvent);
  return events;
}
