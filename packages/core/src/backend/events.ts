/**
 * The Backend's state-change events: what `subscribe` delivers (job and queue events) and the
 * listener type. Delivery rules are on `EventListener`.
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

export type SpindleEvent = JobEvent | QueueEvent;

/**
 * Events are notifications, not records: delivery is at-most-once and best effort (a process
 * disconnected from PostgreSQL misses NOTIFYs). The job's stored state is the truth; polling is
 * the correctness path and events only cut latency. Each event reaches each subscribed process
 * once, in commit order per source process.
 */
export type EventListener = (events: SpindleEvent[]) => void;
