/**
 * The server's event log: every client event (and the server's own, such as DLQ alerts) gets an
 * id, lands in a bounded ring buffer for `Last-Event-ID` replay, and fans out to subscribers
 * (SSE streams, WebSockets, webhooks) whose filter matches.
 *
 * Invariants:
 * - Ids are `<boot>.<seq>`: `seq` increases by one per event in this process; `boot` changes
 *   on every start, so an id from another run is recognised and answered with a `reset`.
 * - Replay returns exactly the buffered events after the given id, in order, or says that
 *   some were dropped (the id fell out of the buffer) so the caller can refetch state.
 * - Memory is bounded by the buffer size; a subscriber that throws is dropped, never breaks
 *   delivery to others.
 * - Events are notifications (DESIGN §8): the job's stored state stays the truth.
 */
import { randomBytes } from 'node:crypto';
import type { Client, JobOrQueueEvent } from '@spindle/core';

export interface WireEvent {
  id: string;
  /** `job.added`, `job.completed`, …, `queue.paused`, `dlq.alert.fired`, `alert.firing`, … */
  type: string;
  /** ISO 8601 UTC. */
  at: string;
  queue: string;
  jobId?: string;
  name?: string;
  status?: string;
  attempt?: number;
  data?: unknown;
}

export interface EventFilter {
  queues?: ReadonlySet<string>;
  jobs?: ReadonlySet<string>;
}

export type EventSubscriber = (event: WireEvent) => void;

export interface ReplayResult {
  events: WireEvent[];
  /** True when events after `lastId` were dropped or `lastId` belongs to another run. */
  gap: boolean;
}

export function matches(filter: EventFilter, event: WireEvent): boolean {
  if (filter.queues && filter.queues.size > 0 && !filter.queues.has(event.queue)) return false;
  if (filter.jobs && filter.jobs.size > 0 && (event.jobId === undefined || !filter.jobs.has(event.jobId))) return false;
  return true;
}

export class EventLog {
  readonly boot = randomBytes(4).toString('hex');
  private seq = 0;
  private readonly buffer: WireEvent[] = [];
  /** Index in `buffer` of the oldest event (ring start). */
  private head = 0;
  private readonly subscribers = new Map<EventSubscriber, EventFilter>();
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly capacity: number) {}

  /** Starts following a client's events. */
  attach(client: Client): void {
    this.unsubscribe?.();
    this.unsubscribe = client.on('event', (event) => this.publish(fromSpindleEvent(event)));
  }

  detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** Adds an event (its `id` is assigned here) and delivers it to matching subscribers. */
  publish(event: Omit<WireEvent, 'id'>): WireEvent {
    const wire: WireEvent = { id: `${this.boot}.${++this.seq}`, ...event };
    if (this.capacity > 0) {
      if (this.buffer.length < this.capacity) this.buffer.push(wire);
      else {
        this.buffer[this.head] = wire;
        this.head = (this.head + 1) % this.capacity;
      }
    }
    for (const [subscriber, filter] of this.subscribers) {
      if (!matches(filter, wire)) continue;
      try {
        subscriber(wire);
      } catch {
        this.subscribers.delete(subscriber);
      }
    }
    return wire;
  }

  subscribe(filter: EventFilter, subscriber: EventSubscriber): () => void {
    this.subscribers.set(subscriber, filter);
    return () => this.subscribers.delete(subscriber);
  }

  /** Id of the newest event so far (a replay from it returns only later events). */
  get lastId(): string {
    return `${this.boot}.${this.seq}`;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Buffered events after `lastId` that match `filter`. */
  replay(lastId: string, filter: EventFilter): ReplayResult {
    const [boot, seqText] = lastId.split('.');
    const lastSeq = Number(seqText);
    if (boot !== this.boot || !Number.isSafeInteger(lastSeq) || lastSeq < 0 || lastSeq > this.seq) return { events: [], gap: true };
    const ordered = this.ordered();
    const oldestSeq = ordered.length > 0 ? this.seq - ordered.length + 1 : this.seq + 1;
    const gap = lastSeq + 1 < oldestSeq;
    const from = Math.max(0, lastSeq + 1 - oldestSeq);
    return { events: ordered.slice(from).filter((e) => matches(filter, e)), gap };
  }

  private ordered(): WireEvent[] {
    return this.head === 0 ? this.buffer : [...this.buffer.slice(this.head), ...this.buffer.slice(0, this.head)];
  }
}

/** The wire form of a client event (job or queue: topic events never reach `client.on`). */
export function fromSpindleEvent(event: JobOrQueueEvent): Omit<WireEvent, 'id'> {
  const at = new Date(event.at).toISOString();
  if (!('jobId' in event)) return { type: `queue.${event.type}`, at, queue: event.queue };
  const wire: Omit<WireEvent, 'id'> = {
    type: `job.${event.type}`,
    at,
    queue: event.queue,
    jobId: event.jobId,
    name: event.name,
    status: event.state,
    attempt: event.attempt,
  };
  if (event.data !== undefined) wire.data = event.data;
  return wire;
}
