/**
 * The Backend's maintenance, read and DLQ types: promotion, rescue, pruning, leadership,
 * listing and counting jobs, queues, dead-letter operations and migrations.
 */
import type { JobRecord, JobState } from '../job/types.js';
import type { RetentionDefaults } from './job-writes.js';
import type { QueueLimits } from './queue-limits.js';

export interface PromoteResult {
  /** Number of scheduled/retrying jobs whose runAt was due and that are now queued. */
  promoted: number;
  queues: string[];
}

/**
 * Jobs whose lease expired while `running`. Each counts as a spent attempt with an error of kind
 * `lease_expired`: to run again when attempts remain (`requeued`: `retrying` with a jittered
 * due time, or `queued` at once when the spread is 0 — see RescueParams.spreadMs), to `dead`
 * when not, and to `cancelled` when a cancel had been requested.
 */
export interface RescueResult {
  /** Jobs that will run again: `retrying` (spread > 0) or `queued` (spread 0). */
  requeued: string[];
  dead: string[];
  cancelled: string[];
}

export interface RescueParams {
  limit: number;
  retention: RetentionDefaults;
  /**
   * Spreads the jobs that will run again over `[now, now + spreadMs)`: each gets its own
   * uniformly random due time in that window and the state `retrying` (the promoter queues it
   * when due), so the jobs of one crashed worker — a poison job among them — come due apart
   * and are not claimed together again (docs/decisions/0019-rescue-spread.md). 0 (the default
   * when absent): `queued` with `runAt = now`. An integer from 0 to MAX_RESCUE_SPREAD_MS; the
   * client's rescuer passes `maintenance.rescueSpreadMs` (default 1000).
   */
  spreadMs?: number;
  now?: Date;
}

export interface PruneParams {
  /** Delete at most this many rows per call. */
  limit: number;
  now?: Date;
}

export interface LeadershipParams {
  /** Unique per process (and per client within it). */
  holderId: string;
  /** How long leadership lasts without renewal (ignored by lock-based implementations). */
  ttlMs: number;
  now?: Date;
}

/** Filters shared by job listing and the DLQ operations. All given conditions must hold. */
export interface JobFilter {
  queue?: string;
  states?: JobState[];
  name?: string;
  ids?: string[];
  createdAfter?: Date;
  createdBefore?: Date;
  /** Case-insensitive substring of the payload's JSON text. */
  payloadContains?: string;
  /** Case-insensitive substring of the failure reason or of any attempt error's message. */
  errorContains?: string;
  /**
   * The exact failure reason, as a DLQ group shows it (`''`: jobs without one): the selection
   * behind a group's actions, however many jobs it holds.
   */
  reason?: string;
  /** Dead jobs only: true = resolved by an operator, false = not yet. */
  resolved?: boolean;
  /** Dead jobs only: failed at or after / before. */
  failedAfter?: Date;
  failedBefore?: Date;
  /** Flows: the children of this job. */
  parentId?: string;
}

export interface ListJobsParams {
  filter?: JobFilter;
  /** 1..1000 */
  limit: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string | null;
  /** By insertion order; default `newest`. */
  order?: 'newest' | 'oldest';
}

export interface JobPage {
  jobs: JobRecord[];
  /** null when there are no more jobs. */
  nextCursor: string | null;
}

export interface QueueStateCount {
  queue: string;
  state: JobState;
  count: number;
}

export interface QueueInfo {
  name: string;
  paused: boolean;
  /** Limits across processes (queue-limits.ts); absent or null fields: none. */
  limits?: QueueLimits;
  /** Claims skip the queue until then (a handler's RateLimitedError); null when not held. */
  heldUntil?: Date | null;
  /** Its jobs carry groups: claims rotate across them (ADR 0015). */
  grouped?: boolean;
}

export interface DlqDepth {
  queue: string;
  /** Dead jobs not yet resolved by an operator. */
  depth: number;
}

/** Dead jobs grouped by failure reason: the "what broke" view of a DLQ. */
export interface DlqGroup {
  queue: string;
  reason: string;
  count: number;
  firstFailedAt: Date;
  lastFailedAt: Date;
  sampleJobId: string;
}

/**
 * Replays dead jobs: each goes back to `queued` (runAt = now), `attempt = 0`, `round + 1`,
 * failure fields and resolution cleared, error history kept. A compare-and-set on
 * `state = 'dead'`: two concurrent replays move each job once. When `ids` is given the filter
 * is ignored. `payload` (JSON text) replaces the payload and is only allowed with one id.
 * A job whose `uniqueKey` is held by a live job of the target queue is skipped.
 */
export interface DlqReplayParams {
  ids?: string[];
  filter?: JobFilter;
  limit: number;
  toQueue?: string;
  payload?: string;
  now?: Date;
}

export interface DlqReplayResult {
  replayed: string[];
  skipped: Array<{ id: string; reason: 'unique_conflict' }>;
}

export interface DlqSelectParams {
  ids?: string[];
  filter?: JobFilter;
  limit: number;
}

export interface DlqResolveParams extends DlqSelectParams {
  note: string;
  now?: Date;
}

export interface MigrationResult {
  /** Names of the migrations this call applied (empty when already current). */
  applied: string[];
  version: number;
}
