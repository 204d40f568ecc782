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
import type { JobRecord } from '../job/types.js';
import type {
  DeleteJobsParams,
  JobActionOutcome,
  PromoteJobsParams,
  RetryJobsParams,
  RetryOutcome,
  UpdatePayloadsParams,
} from './job-actions.js';

export * from './job-writes.js';
export * from './job-reads.js';
export * from './events.js';
import type {
  BackendCapabilities,
  CancelJobsParams,
  CancelOutcome,
  ClaimedJob,
  ClaimParams,
  ExtendLeasesParams,
  ExtendOutcome,
  FinalizeParams,
  InsertJobsParams,
  InsertOutcome,
  LeaseOutcome,
  ProgressParams,
} from './job-writes.js';
import type {
  DlqDepth,
  DlqGroup,
  DlqReplayParams,
  DlqReplayResult,
  DlqResolveParams,
  DlqSelectParams,
  JobFilter,
  JobPage,
  LeadershipParams,
  ListJobsParams,
  MigrationResult,
  PromoteResult,
  PruneParams,
  QueueInfo,
  QueueStateCount,
  RescueParams,
  RescueResult,
} from './job-reads.js';
import type { EventListener } from './events.js';
export * from './job-actions.js';
export * from './queue-limits.js';
import type { ClaimAnswer, HoldQueueParams, SetQueueLimitsParams } from './queue-limits.js';
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
import type { TopicStore } from './topics.js';

export * from './schedules.js';
export * from './topics.js';

// ---------------------------------------------------------------------------------------------

/** The schedule methods are in schedules.ts; the topic methods (message log) in topics.ts. */
export interface Backend extends ScheduleStore, TopicStore {
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
  /** How many jobs match `filter` (every JobFilter field, as listJobs reads it): an exact count. */
  countMatchingJobs(params: { filter: JobFilter }): Promise<number>;
  /**
   * The earliest `runAt` among the queue's `queued` jobs (when the longest-waiting one became
   * due), or null: by a loose scan over its priorities of the claim index, O(priorities × log n).
   */
  oldestQueuedAt(queue: string): Promise<Date | null>;

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
