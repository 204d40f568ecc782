/**
 * What a worker is given: its handler's type, the queues it serves (and how it shares its slots
 * among them), and what it needs from its client. The client builds these; the worker trusts
 * them (validation happened at the client's public entry points).
 */
import type { Backend, RetentionDefaults } from '../backend/backend.js';
import type { EventHub } from '../events.js';
import type { Logger } from '../logger.js';
import type { BackoffFunction, ErrorClassifier } from '../job/outcome.js';
import type { SchedulingStrategy } from '../scheduling/claim-planner.js';
import type { StatsRecorder } from '../telemetry/stats-recorder.js';
import type { Tracing } from '../telemetry/tracing.js';
import type { ActiveJob } from './execution.js';
import type { Worker } from './worker.js';

export type JobHandler<P = unknown, R = unknown> = (job: ActiveJob<P>) => Promise<R> | R;

/** What a worker needs from its client. */
export interface WorkerContext {
  backend: Backend;
  hub: EventHub;
  logger: Logger;
  retention: RetentionDefaults;
  maxResultBytes: number;
  /** The hooks of a served queue's definition (custom backoff, error classifier). */
  hooksFor: (queue: string) => { classifyError?: ErrorClassifier | undefined; backoff?: BackoffFunction | undefined };
  /** Awaited before close() resolves (e.g. the worker's registry row is deleted). */
  onClosed: (worker: Worker<any, any>) => void | Promise<void>;
  /** Called when the worker starts (the worker registry lists it). */
  onStarted?: (worker: Worker<any, any>) => void;
  /** Counts the outcomes this worker committed (throughput counters). */
  stats?: StatsRecorder | null;
  /** Resolves when the client is started (schema ready); the worker claims nothing before. */
  ready: () => Promise<void>;
  /** The client's spans (`process {queue}` per attempt); loaded by the time `ready` resolves. */
  tracing?: Tracing;
}

/** The queues a worker serves and how it shares its slots among them (validated by the client). */
export interface ServedQueues {
  strategy: SchedulingStrategy;
  /** In urgency order for `strict`; each with its weight for `weighted` (1 for strict). */
  queues: Array<{ name: string; weight: number }>;
}
