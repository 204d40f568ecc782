/**
 * In-process event fan-out of one backend instance: local delivery of the events of this
 * instance's own committed operations, and delivery of NOTIFY payloads from other processes;
 * plus the wire format both directions share.
 *
 * Wire format of a NOTIFY payload (built in SQL by sql.ts, read here):
 *   {"o":<origin>,"t":<at, epoch ms>,"c":[<event>, …]}
 *   job event:   [type, jobId, queue, name, state, attempt]  (+ data as a 7th element when present)
 *   queue event: [type, queue]
 *   topic event: ["published", topic, [partition, …]]  (alone in its payload: topicEventPayload)
 * Every event of one statement shares its clock, so `at` is carried once per payload. A process
 * that predates topic events drops them (an entry of 3 elements is none it knows). The key
 * `c` (not the `e` of the former object format) makes an older process ignore these payloads
 * instead of delivering arrays as events; payloads of the former format (`e`: event objects)
 * are still accepted from older processes.
 *
 * Invariants:
 * - Local events are delivered after the operation committed, on `process.nextTick`, in the
 *   order the operations completed. They are built in JS from the columns a statement returns
 *   (or from its `ev` column), never parsed per row by the driver, and equal what a listener in
 *   another process decodes from the NOTIFY — except topic events, whose NOTIFY follows the
 *   commit and may merge several publishes of a topic into one event (topic-notify.ts).
 * - A NOTIFY payload whose origin is this instance is ignored (it was delivered locally), except
 *   origin `tx` (inserts made inside a caller's transaction), which are only known on commit.
 * - A throwing listener never stops delivery to the others nor breaks the backend; its error is
 *   reported as a process warning.
 * - Delivery is best effort (see the Backend contract): a malformed payload or event is dropped.
 */
import { randomBytes } from 'node:crypto';
import { eventData, type EventListener, type JobEvent, type JobEventType, type JobState, type QueueEvent, type SpindleEvent, type TopicEvent } from '@spindle/core';
import type { Row } from './db.js';
import { MAX_DATA_BYTES } from './sql.js';

/** Origin of events inserted in a caller's transaction: every process delivers them from NOTIFY. */
export const TX_ORIGIN = 'tx';

/** How a payload of `origin` begins, up to its time: `{"o":<origin>,"t":` (SQL appends the rest). */
export function payloadPrefix(origin: string): string {
  return `{"o":${JSON.stringify(origin)},"t":`;
}

/** The payload prefix of events inserted in a caller's transaction. */
export const TX_PREFIX = payloadPrefix(TX_ORIGIN);

export class EventHub {
  /** This instance's origin id, carried by every NOTIFY it sends. */
  readonly origin = randomBytes(8).toString('hex');
  /** How our own NOTIFY payloads begin (passed to the SQL that builds them). */
  readonly prefix = payloadPrefix(this.origin);
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

  /** A NOTIFY payload received on our channel. */
  receive(payload: string): void {
    // Our own events (most of them, in one process) were delivered locally: skip them unparsed.
    // Any other layout is parsed and its origin checked below.
    if (payload.startsWith(this.prefix)) return;
    let message: { o?: unknown; t?: unknown; c?: unknown; e?: unknown };
    try {
      message = JSON.parse(payload) as typeof message;
    } catch {
      return;
    }
    if (message === null || typeof message !== 'object' || message.o === this.origin) return;
    if (Array.isArray(message.c) && typeof message.t === 'number') this.deliver(decodeEvents(message.c, message.t));
    else if (Array.isArray(message.e)) this.deliver(message.e.filter((e): e is SpindleEvent => e !== null && typeof e === 'object'));
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

/** A JobEvent as the contract shapes it: `data` present only when there is some. */
export function jobEvent(
  type: JobEventType,
  jobId: string,
  queue: string,
  name: string,
  state: JobState,
  attempt: number,
  at: number,
  data?: unknown,
): JobEvent {
  return data === undefined
    ? { type, jobId, queue, name, state, attempt, at }
    : { type, jobId, queue, name, state, attempt, at, data };
}

/**
 * The event `data` of JSON texts: `texts[k]` is the text when it may be an event's data
 * (eventData accepts it: at most 1 KiB; and it fits MAX_DATA_BYTES in UTF-8, the NOTIFY's
 * bound), else null; `values[k]` is its parsed value, undefined for none. The statement puts
 * exactly `texts` into its NOTIFY; the local event carries `values`.
 */
export function eventDataOf(texts: Array<string | null>): { texts: Array<string | null>; values: unknown[] } {
  const values = new Array<unknown>(texts.length);
  const kept = texts.map((text, k) => {
    if (text == null) return null;
    const value = eventData(text);
    if (value === undefined || (text.length * 3 > MAX_DATA_BYTES && Buffer.byteLength(text, 'utf8') > MAX_DATA_BYTES)) return null;
    values[k] = value;
    return text;
  });
  return { texts: kept, values };
}

/** Events of the wire format (see above) sharing the time `at`; malformed entries are dropped. */
export function decodeEvents(list: unknown[], at: number): SpindleEvent[] {
  const events: SpindleEvent[] = [];
  for (const item of list) {
    if (!Array.isArray(item) || typeof item[0] !== 'string') continue;
    if (item.length === 2) {
      events.push({ type: item[0], queue: item[1], at } as QueueEvent);
    } else if (item.length === 3) {
      if (item[0] === 'published' && typeof item[1] === 'string' && Array.isArray(item[2])) {
        const event: TopicEvent = { type: 'published', topic: item[1], partitions: item[2] as number[], at };
        events.push(event);
      }
    } else if (item.length === 6 || item.length === 7) {
      const [type, jobId, queue, name, state, attempt, data] = item as [JobEventType, string, string, string, JobState, number, unknown];
      events.push(jobEvent(type, jobId, queue, name, state, attempt, at, item.length === 7 ? data : undefined));
    }
  }
  return events;
}

/**
 * The NOTIFY payload of a topic event (`prefix`: EventHub.prefix), which a listener decodes into
 * an equal event (sent by topic-notify.ts after the publish committed).
 */
export function topicEventPayload(prefix: string, event: TopicEvent): string {
  return `${prefix}${event.at},"c":[${JSON.stringify(['published', event.topic, event.partitions])}]}`;
}

/**
 * The events of returned rows with an `ev` column (wire-format JSON text, NULL for none) and an
 * `at` column (epoch ms), in row order. For statements off the hot path; the hot ones build
 * their events from plain columns.
 */
export function eventsOf(rows: Row[]): SpindleEvent[] {
  const list: unknown[] = [];
  let at = 0;
  for (const row of rows) {
    if (row.ev == null) continue;
    list.push(JSON.parse(row.ev as string));
    at = Number(row.at);
  }
  return list.length === 0 ? [] : decodeEvents(list, at);
}
