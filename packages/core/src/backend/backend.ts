/**
 * The Backend interface: every storage operation Spindle needs, designed from queue semantics
 * (not carved out of one database). `@spindle/sqlite` and `@spindle/postgres` implement it and
 * `@spindle/conformance` holds them to it.
 *
 * Rules every implementation keeps:
 * - Each method is one atomic unit inside the backend. No transaction handle crosses this seam
 *   (the one exception is `insertJobs({ transaction })`, a PostgreSQL capability).
 * - Time is the database's clock. Every time-dependent method accepts `now` so tests can inject
 *   time; without it the backend reads its own clock. Durations are milliseconds.
 * - Fencing (DESIGN §3.2): every write made on behalf of an attempt (extend, progress, finalize)
 *   applies only where `id = ? AND attempt = ? AND lease_token = ? AND state = 'running'`.
 *   Anything else yields `lease_lost` (or `not_found`) and changes nothing. The lease's expiry is
 *   deliberately NOT part of the fence: an expired lease nobody rescued may still finish.
 * - The rescuer is a compare-and-set: it only moves jobs that are still `running` with an
 *   expired lease at the moment of the write, and clears the token so the old holder is fenced.
 * - Batch methods take arrays and answer per item, in input order.
 * - Methods resolve only after the data is durably committed.
 * - Validation of caller input happens in the core before a backend is called; backends may
 *   assume well-formed params but must still bind every value as a parameter.
 *
 * The interface is an internal adapter seam: it may be reshaped between minor versions.
 */
import type { AttemptError, BackoffSpec, JobRecord, JobState } from '../job/types.js';
import type {
  DeleteJobsParams,
  JobActionOutcome,
  PromoteJobsParams,
  RetryJobsParams,
  RetryOutcome,
  UpdatePayloadsParams,
} from './job-actions.js';

export * from './job-actions.js';
export * from './queue-limits.js';
import type { ClaimAnswer, HoldQueueParams, QueueLimits, SetQueueLimitsParams } from './queue-limits.js';
export * from './flows.js';
import type { InsertFlowParams, InsertFlowResult } from './flows.js';

import type {
  ClaimIdempotencyKeyParams,
  IdempotencyClaim,
  ListWorkersParams,
  PruneStoresParams,
  PruneStoresResult,
  ReadStatsParams,
  RecordStatsParams,
  StatsRow,
  UpsertWorkersParams,
  WorkerInfo,
} from './stores.js';

export * from './stores.js';
export * from './store-checks.js';

import type { ScheduleStore } from './schedules.js';

export * from './schedules.js';

export interface BackendCapabilities {
  /** Several processes may share the database (SQLite: one file; PostgreSQL: always). */
  multiProcess: boolean;
  /** `subscribe` also delivers events committed by other processes. */
  crossProcessEvents: boolean;
  /** `insertJobs` accepts `transaction`: the caller's own open transaction/client. */
  transactionalEnqueue: boolean;
}

/** A claimed attempt's identity; the fence of every write made for it. */
export interface LeaseRef {
  id: string;
  attempt: number;
  leaseToken: string;
}

/** Per-item answer of a fenced batch write. */
export type LeaseOutcome = 'ok' | 'lease_lost' | 'not_found';

/**
 * Per-job retention stored with the job; `null` fields fall back to the client's defaults.
 * `keepMs`: -1 = keep forever, 0 = remove at the next prune, > 0 = keep that long after finishing.
 * `keepCount`: keep at most this many finished jobs of the queue in that state (newest first).
 */
export interface JobRetention {
  completedKeepMs: number | null;
  completedKeepCount: number | null;
  deadKeepMs: number | null;
  deadKeepCount: number | null;
}

/** Client-wide retention defaults, applied when a job's own rule is null. null = keep forever. */
export interface RetentionDefaults {
  completedMs: number | null;
  cancelledMs: number | null;
  deadMs: number | null;
}

export interface JobInsert {
  id: string;
  queue: string;
  name: string;
  /** The payload, already serialized to JSON text by the core (validated and size-checked). */
  payload: string;
  priority: number;
  maxRetries: number;
  /** At most one of `delayMs` / `runAt` is set. Neither, or a time not in the future → `queued`. */
  delayMs: number | null;
  runAt: Date | null;
  uniqueKey: string | null;
  timeoutMs: number | null;
  backoff: BackoffSpec | null;
  retention: JobRetention;
}

export interface InsertJobsParams {
  jobs: JobInsert[];
  /**
   * Only for backends with `transactionalEnqueue`: the caller's client inside an open
   * transaction. The jobs then exist if and only if that transaction commits.
   */
  transaction?: unknown;
  /**
   * Direct dispatch: an idle worker in this process takes new jobs as they are inserted, saving
   * the claim round trip (the embedded latency path). For each entry, up to `limit` of the jobs
   * inserted by this call into `queue` that are due now (not delayed), in input order, are
   * inserted already claimed — `state = 'running'`, `attempt = 1`, a fresh lease for `workerId`
   * of `leaseMs` — provided the queue is not paused. Never used with `transaction`.
   */
  dispatch?: DispatchRequest[];
  now?: Date;
}

export interface DispatchRequest {
  queue: string;
  workerId: string;
  leaseMs: number;
  /** 1..1000 */
  limit: number;
}

/**
 * `inserted: false` means a duplicate: `id` matched an existing job (in any state), or
 * `uniqueKey` matched a job of the same queue that is not in a terminal state. `id` and `state`
 * are then the existing job's. Nothing about the existing job changes.
 */
export interface InsertOutcome {
  id: string;
  inserted: boolean;
  state: JobState;
  /** Set when the job was inserted already claimed (`dispatch`); `state` is then `running`. */
  claimed?: ClaimedJob;
}

export interface ClaimParams {
  queue: string;
  workerId: string;
  /** Claim at most this many jobs. */
  limit: number;
  leaseMs: number;
  now?: Date;
}

/**
 * A claimed job: state is now `running`, `attempt` was incremented, a fresh random
 * `leaseToken` (>= 128 bits) was issued, and `leaseExpiresAt = now + leaseMs`.
 * Claims take `queued` jobs of a non-paused queue in (priority, runAt, insertion) order.
 */
export interface ClaimedJob extends LeaseRef {
  queue: string;
  name: string;
  payload: unknown;
  priority: number;
  maxRetries: number;
  leaseExpiresAt: Date;
  timeoutMs: number | null;
  backoff: BackoffSpec | null;
  round: number;
  progress: unknown;
  createdAt: Date;
  runAt: Date;
}

export interface ExtendLeasesParams {
  leases: LeaseRef[];
  leaseMs: number;
  now?: Date;
}

/** `cancelRequested`: someone asked to cancel this running job; the worker should abort it. */
export interface ExtendOutcome {
  outcome: LeaseOutcome;
  cancelRequested: boolean;
}

export interface ProgressParams {
  /** `progress` is JSON text. */
  items: Array<LeaseRef & { progress: string }>;
  now?: Date;
}

/**
 * What to do with a running attempt:
 * - `complete`: → completed, `result` (JSON text or null) stored.
 * - `retry`: error appended; → `retrying` with `runAt = now + delayMs` (→ `queued` if delayMs <= 0).
 * - `dead`: error appended; → dead (the DLQ) with `failureReason = reason`.
 * - `snooze`: → `scheduled` at `now + delayMs`; the attempt is given back (`attempt - 1`).
 * - `cancel`: → cancelled (the handler stopped after a cancel request); error appended if given.
 * - `release`: → `queued` at once; the attempt is given back (graceful shutdown).
 */
export type FinalizeAction =
  | { kind: 'complete'; result: string | null }
  | { kind: 'retry'; error: AttemptError; delayMs: number }
  | { kind: 'dead'; error: AttemptError; reason: string }
  | { kind: 'snooze'; delayMs: number }
  | { kind: 'cancel'; error: AttemptError | null }
  | { kind: 'release' };

export type FinalizeItem = LeaseRef & FinalizeAction;

export interface FinalizeParams {
  items: FinalizeItem[];
  retention: RetentionDefaults;
  now?: Date;
}

/**
 * - `cancelled`: it was scheduled/queued/retrying/waiting and is now cancelled.
 * - `cancel_requested`: it is running; its worker is asked to stop (flag + event). The job
 *   becomes `cancelled` when the worker acknowledges, or when the rescuer finds its lease expired.
 * - `already_final`: it was completed/dead/cancelled; nothing changed.
 */
export type CancelOutcome = 'cancelled' | 'cancel_requested' | 'not_found' | 'already_final';

export interface CancelJobsParams {
  ids: string[];
  retention: RetentionDefaults;
  now?: Date;
}

export interface PromoteResult {
  /** Number of scheduled/retrying jobs whose runAt was due and that are now queued. */
  promoted: number;
  queues: string[];
}

/**
 * Jobs whose lease expired while `running`. Each counts as a spent attempt with an error of kind
 * `lease_expired`: back to `queued` when attempts remain, to `dead` when not, and to `cancelled`
 * when a cancel had been requested.
 */
export interface RescueResult {
  requeued: string[];
  dead: string[];
  cancelled: string[];
}

export interface RescueParams {
  limit: number;
  retention: RetentionDefaults;
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

// ---------------------------------------------------------------------------------------------
// Events

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

// ---------------------------------------------------------------------------------------------

/** The schedule methods (cron/interval definitions, fired by the leader) are in schedules.ts. */
export interface Backend extends ScheduleStore {
  /** 'sqlite', 'postgres', … */
  readonly kind: string;
  readonly capabilities: BackendCapabilities;

  /** Applies pending migrations under a lock; safe to call from many processes at once. */
  migrate(): Promise<MigrationResult>;
  /** Throws MigrationRequiredError unless the schema is at the version this code needs. */
  checkSchema(): Promise<void>;
  /** Releases connections/handles. Idempotent. */
  close(): Promise<void>;
  /** The database clock. */
  now(): Promise<Date>;

  insertJobs(params: InsertJobsParams): Promise<InsertOutcome[]>;
  /** A claim cut short by a queue limit says so (`limited`, queue-limits.ts). */
  claimJobs(params: ClaimParams): Promise<ClaimAnswer<ClaimedJob>>;
  extendLeases(params: ExtendLeasesParams): Promise<ExtendOutcome[]>;
  updateProgress(params: ProgressParams): Promise<LeaseOutcome[]>;
  finalizeJobs(params: FinalizeParams): Promise<LeaseOutcome[]>;
  cancelJobs(params: CancelJobsParams): Promise<CancelOutcome[]>;

  /** Operator actions on given jobs, compare-and-set on state (job-actions.ts). */
  retryJobs(params: RetryJobsParams): Promise<RetryOutcome[]>;
  promoteJobs(params: PromoteJobsParams): Promise<JobActionOutcome[]>;
  deleteJobs(params: DeleteJobsParams): Promise<JobActionOutcome[]>;
  updateJobPayloads(params: UpdatePayloadsParams): Promise<JobActionOutcome[]>;

  /** Leader-only maintenance. Each is safe to run concurrently with anything (CAS). */
  promoteDueJobs(params: { limit: number; now?: Date }): Promise<PromoteResult>;
  /** Earliest runAt among scheduled/retrying jobs, for the promoter's sleep. */
  nextDueAt(): Promise<Date | null>;
  rescueExpiredLeases(params: RescueParams): Promise<RescueResult>;
  /** Deletes finished jobs past their `expiresAt`, then trims per-queue count rules. */
  pruneJobs(params: PruneParams): Promise<number>;
  /** true while this holder is the leader (acquire or renew). */
  tryAcquireLeadership(params: LeadershipParams): Promise<boolean>;
  releaseLeadership(holderId: string): Promise<void>;

  getJob(id: string): Promise<JobRecord | null>;
  /** Flows (flows.ts): a whole job tree in one transaction; the children of a job by insertion order. */
  insertFlow(params: InsertFlowParams): Promise<InsertFlowResult>;
  getChildren(parentId: string): Promise<JobRecord[]>;
  listJobs(params: ListJobsParams): Promise<JobPage>;
  countJobs(params?: { queue?: string }): Promise<QueueStateCount[]>;

  /** Paused queues keep accepting jobs; claims skip them. */
  pauseQueue(queue: string): Promise<void>;
  /** Sets (or clears, with nulls) a queue's limits across processes (queue-limits.ts). */
  setQueueLimits(params: SetQueueLimitsParams): Promise<void>;
  /** Claims skip the queue for `delayMs` (a handler's RateLimitedError); 0 ends a hold. */
  holdQueue(params: HoldQueueParams): Promise<void>;
  resumeQueue(queue: string): Promise<void>;
  /** Every queue that has jobs or a stored setting. */
  listQueues(): Promise<QueueInfo[]>;

  dlqDepth(params?: { queue?: string }): Promise<DlqDepth[]>;
  dlqGroups(params?: { filter?: JobFilter; limit?: number }): Promise<DlqGroup[]>;
  dlqReplay(params: DlqReplayParams): Promise<DlqReplayResult>;
  /** Deletes dead jobs (CAS on state = 'dead'); returns how many. */
  dlqPurge(params: DlqSelectParams): Promise<number>;
  /** Marks dead jobs as resolved with a note; they stay in the DLQ listing but leave its depth. */
  dlqResolve(params: DlqResolveParams): Promise<number>;

  // The stores of stores.ts (worker registry, idempotency keys, throughput counters). Unlike the
  // job operations, these validate their own input (store-checks.ts): the server calls them too.
  /** Registers or heartbeats workers, all in one statement: `lastSeenAt = now`, `startedAt` kept. */
  upsertWorkers(params: UpsertWorkersParams): Promise<void>;
  /** Deletes workers by id; returns how many existed. */
  removeWorkers(params: { ids: string[] }): Promise<number>;
  /** Registered workers by (queue, id). */
  listWorkers(params?: ListWorkersParams): Promise<WorkerInfo[]>;
  /** Atomic insert-if-absent (or if the stored key expired) of an idempotency key. */
  claimIdempotencyKey(params: ClaimIdempotencyKeyParams): Promise<IdempotencyClaim>;
  /** Adds counts to per-(queue, minute) rows in one statement. */
  recordStats(params: RecordStatsParams): Promise<void>;
  /** Per-minute rows of [from's minute, to), by minute then queue. */
  readStats(params: ReadStatsParams): Promise<StatsRow[]>;
  /** Leader-only: deletes stale workers, expired idempotency keys and old stats rows. */
  pruneStores(params: PruneStoresParams): Promise<PruneStoresResult>;

  /** Optional capability: state-change events. Returns an unsubscribe function. */
  subscribe?(listener: EventListener): () => void;
}
