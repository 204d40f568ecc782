/**
 * The Backend's state-change events: what `subscribe` delivers (job, queue and topic events) and
 * the listener type. Delivery rules are on `EventListener`.
 */
import type { JobState } from '../job/types.js';


export type JobEventType =
  | 'added'
  | 'started'
  | 'progress'
  | 'completed'
  | 'retrying'
  | 'dead'
  | 'cancelled'
  | 'cancel_requested'
  | 'snoozed'
  | 'released'
  | 'promoted'
  | 'replayed'
  | 'rescued'
  | 'retried'
  | 'removed'
  | 'updated';

/**
 * A state change, published by the backend after the change commits.
 * `state` is the job's state after the change (`removed`: the state it had when deleted).
 * `data` carries, when small (JSON <= 1 KiB):
 * the result (`completed`), the progress (`progress`), or `{ message, kind }` of the attempt
 * error (`retrying`, `dead`, `rescued`).
 */
export interface JobEvent {
  type: JobEventType;
  jobId: string;
  queue: string;
  name: string;
  state: JobState;
  attempt: number;
  /** Epoch ms. */
  at: number;
  data?: unknown;
}

export interface QueueEvent {
  /** `limits_changed`: limits set or cleared, or a hold ended (queue-limits.ts). */
  type: 'paused' | 'resumed' | 'limits_changed';
  queue: string;
  at: number;
}

/**
 * Messages were published to a topic (ADR 0017, "Wake-ups"): ONE event per publish transaction
 * that stored at least one message — not one per message; a call whose messages were all
 * duplicates (idempotency keys) stores nothing and publishes none. `partitions`: those that
 * received messages, ascending. It carries no offsets nor payloads: a consumer woken by it reads
 * from its own position. Consumers of other processes use it to stop waiting for their poll
 * (they may receive several publishes merged into one event: see `EventListener`).
 */
export interface TopicEvent {
  type: 'published';
  topic: string;
  partitions: number[];
  /** Epoch ms (the publish's time). */
  at: number;
}

/** The events `client.on('event')` and the server's feeds (SSE, WebSocket, webhooks) carry. */
export type JobOrQueueEvent = JobEvent | QueueEvent;

/** Told apart by `type`: no job or queue event is called 'published'. */
export type SpindleEvent = JobEvent | QueueEvent | TopicEvent;

/**
 * Events are notifications, not records: delivery is at-most-once and best effort (a process
 * disconnected from PostgreSQL misses NOTIFYs). The job's stored state is the truth; polling is
 * the correctness path and events only cut latency. Each event reaches each subscribed process
 * once, in commit order per source process. Topic events are wake-ups and looser: in other
 * processes they may arrive after later events of their source, and several publishes of one
 * topic may arrive as one event (its partitions united) — never one for a publish that did not
 * commit.
 */
export type EventListener = (events: SpindleEvent[]) => void;
