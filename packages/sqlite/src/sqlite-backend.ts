/**
 * SqliteBackend: the Backend contract of @spindle/core on one better-sqlite3 connection. This
 * file only wires the parts together; each operation lives in its own module.
 *
 * Invariants:
 * - One connection per backend instance. Several instances (threads, processes) may share a
 *   file: WAL lets readers run beside the single writer, and every write takes the write lock
 *   up front (BEGIN IMMEDIATE, waiting up to busyTimeoutMs).
 * - Every method is atomic, resolves only after COMMIT, and rejects with a SpindleError: driver
 *   errors are wrapped in BackendError (cause kept); after close() calls reject with ClosedError.
 * - Durability (ADR 0007): every write commits at the configured `synchronous` level, except
 *   claimJobs, extendLeases, updateProgress and heartbeatGroup, which commit at NORMAL when FULL
 *   is configured (see tx.ts `writeRelaxed`; their loss in a power failure is a case the design
 *   handles).
 * - better-sqlite3 is synchronous: no await ever happens inside a transaction.
 */
import {
  ClosedError,
  ValidationError,
  type Backend,
  type BackendCapabilities,
  type CancelJobsParams,
  type CancelOutcome,
  type ClaimAnswer,
  type ClaimedJob,
  type ClaimParams,
  type DlqDepth,
  type DlqGroup,
  type DlqReplayParams,
  type DlqReplayResult,
  type DlqResolveParams,
  type DlqSelectParams,
  type DeleteJobsParams,
  type EventListener,
  type ExtendLeasesParams,
  type ExtendOutcome,
  type FinalizeParams,
  type HoldQueueParams,
  type InsertFlowParams,
  type InsertFlowResult,
  type InsertJobsParams,
  type InsertOutcome,
  type JobActionOutcome,
  type JobFilter,
  type JobPage,
  type JobRecord,
  type LeadershipParams,
  type LeaseOutcome,
  type ListJobsParams,
  type MigrationResult,
  type ProgressParams,
  type PromoteJobsParams,
  type PromoteResult,
  type PruneParams,
  type QueueInfo,
  type QueueStateCount,
  type RescueParams,
  type RescueResult,
  type RetryJobsParams,
  type RetryOutcome,
  type SetQueueLimitsParams,
  type UpdatePayloadsParams,
} from '@spindle/core';
import type {
  DueSchedules,
  DueSchedulesParams,
  FireScheduleParams,
  FireScheduleResult,
  ListSchedulesParams,
  ResumeScheduleOutcome,
  ResumeScheduleParams,
  ScheduleRecord,
  UpsertScheduleParams,
  UpsertScheduleResult,
} from '@spindle/core';
import type {
  CommitOutcome,
  CommitParams,
  CreateTopicParams,
  CreateTopicResult,
  FetchParams,
  FetchResult,
  GroupAssignment,
  GroupInfo,
  GroupMemberParams,
  GroupOffset,
  GrowTopicParams,
  JoinGroupParams,
  PublishOutcome,
  PublishParams,
  SeekParams,
  TopicInfo,
} from '@spindle/core';
import { Connection, toBackendError, type ConnectionSettings } from './connection.js';
import { dlqDepth, dlqGroups, dlqPurge, dlqReplay, dlqResolve } from './dlq.js';
import { EventHub } from './events.js';
import { finalizeJobs } from './finalize.js';
import * as flows from './flows.js';
import * as admin from './jobs-admin.js';
import { countJobs, countMatchingJobs, getJob, listJobs, listQueues, oldestQueuedAt, setQueuePaused } from './jobs-read.js';
import * as maintenance from './jobs-maintenance.js';
import { cancelJobs, extendLeases, insertJobs, updateProgress } from './jobs-write.js';
import { claimJobs, holdQueue, setQueueLimits } from './claim.js';
import { checkSchema, migrate } from './migrate.js';
import { resolveOptions, type ResolvedOptions, type SqliteBackendOptions } from './options.js';
import { createStore, type Store } from './tx.js';
import * as stores from './stores.js';
import * as schedules from './schedules.js';
import * as topics from './topics.js';
import * as consumerGroups from './topic-groups.js';
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
} from '@spindle/core';

export class SqliteBackend implements Backend {
  readonly kind = 'sqlite';
  readonly capabilities: BackendCapabilities;
  readonly options: Readonly<ResolvedOptions>;
  private readonly conn: Connection;
  private readonly hub: EventHub;
  private readonly store: Store;
  private closed = false;

  constructor(options: SqliteBackendOptions) {
    this.options = resolveOptions(options);
    // A private in-memory database is invisible to other connections: no sharing, no outbox.
    const shared = !this.options.inMemory;
    this.capabilities = { multiProcess: shared, crossProcessEvents: shared, transactionalEnqueue: false };
    this.conn = new Connection(this.options);
    this.hub = new EventHub(this.conn, this.options.eventPollMs, shared, shared ? `${this.options.path}-wal` : null);
    this.store = createStore(this.conn, this.hub);
    if (this.options.autoMigrate) {
      try {
        migrate(this.conn);
      } catch (err) {
        this.hub.close();
        this.conn.close();
        throw toBackendError('migrate', err);
      }
    }
  }

  /** Runs a synchronous operation as a promise: closed check, driver errors wrapped. */
  private run<T>(operation: string, fn: (store: Store) => T): Promise<T> {
    if (this.closed) return Promise.reject(new ClosedError('sqlite backend'));
    try {
      return Promise.resolve(fn(this.store));
    } catch (err) {
      return Promise.reject(toBackendError(operation, err));
    }
  }

  migrate(): Promise<MigrationResult> {
    return this.run('migrate', () => migrate(this.conn));
  }
  checkSchema(): Promise<void> {
    return this.run('checkSchema', () => checkSchema(this.conn));
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.hub.close();
    try {
      this.conn.close();
    } catch (err) {
      throw toBackendError('close', err);
    }
  }
  now(): Promise<Date> {
    return this.run('now', () => new Date());
  }

  insertJobs(params: InsertJobsParams): Promise<InsertOutcome[]> {
    return this.run('insertJobs', (s) => insertJobs(s, params));
  }
  claimJobs(params: ClaimParams): Promise<ClaimAnswer<ClaimedJob>> {
    return this.run('claimJobs', (s) => claimJobs(s, params));
  }
  extendLeases(params: ExtendLeasesParams): Promise<ExtendOutcome[]> {
    return this.run('extendLeases', (s) => extendLeases(s, params));
  }
  updateProgress(params: ProgressParams): Promise<LeaseOutcome[]> {
    return this.run('updateProgress', (s) => updateProgress(s, params));
  }
  finalizeJobs(params: FinalizeParams): Promise<LeaseOutcome[]> {
    return this.run('finalizeJobs', (s) => finalizeJobs(s, params));
  }
  cancelJobs(params: CancelJobsParams): Promise<CancelOutcome[]> {
    return this.run('cancelJobs', (s) => cancelJobs(s, params));
  }
  retryJobs(params: RetryJobsParams): Promise<RetryOutcome[]> {
    return this.run('retryJobs', (s) => admin.retryJobs(s, params));
  }
  promoteJobs(params: PromoteJobsParams): Promise<JobActionOutcome[]> {
    return this.run('promoteJobs', (s) => admin.promoteJobs(s, params));
  }
  deleteJobs(params: DeleteJobsParams): Promise<JobActionOutcome[]> {
    return this.run('deleteJobs', (s) => admin.deleteJobs(s, params));
  }
  updateJobPayloads(params: UpdatePayloadsParams): Promise<JobActionOutcome[]> {
    return this.run('updateJobPayloads', (s) => admin.updateJobPayloads(s, params));
  }

  promoteDueJobs(params: { limit: number; now?: Date }): Promise<PromoteResult> {
    return this.run('promoteDueJobs', (s) => maintenance.promoteDueJobs(s, params));
  }
  nextDueAt(): Promise<Date | null> {
    return this.run('nextDueAt', (s) => maintenance.nextDueAt(s));
  }
  rescueExpiredLeases(params: RescueParams): Promise<RescueResult> {
    return this.run('rescueExpiredLeases', (s) => maintenance.rescueExpiredLeases(s, params));
  }
  pruneJobs(params: PruneParams): Promise<number> {
    return this.run('pruneJobs', (s) => maintenance.pruneJobs(s, params));
  }
  tryAcquireLeadership(params: LeadershipParams): Promise<boolean> {
    return this.run('tryAcquireLeadership', (s) => maintenance.tryAcquireLeadership(s, params));
  }
  releaseLeadership(holderId: string): Promise<void> {
    return this.run('releaseLeadership', (s) => maintenance.releaseLeadership(s, holderId));
  }

  getJob(id: string): Promise<JobRecord | null> {
    return this.run('getJob', (s) => getJob(s, id));
  }
  insertFlow(params: InsertFlowParams): Promise<InsertFlowResult> {
    return this.run('insertFlow', (s) => flows.insertFlow(s, params));
  }
  getChildren(parentId: string): Promise<JobRecord[]> {
    return this.run('getChildren', (s) => flows.getChildren(s, parentId));
  }
  listJobs(params: ListJobsParams): Promise<JobPage> {
    return this.run('listJobs', (s) => listJobs(s, params));
  }
  countJobs(params?: { queue?: string }): Promise<QueueStateCount[]> {
    return this.run('countJobs', (s) => countJobs(s, params));
  }
  countMatchingJobs(params: { filter: JobFilter }): Promise<number> {
    return this.run('countMatchingJobs', (s) => countMatchingJobs(s, params));
  }
  oldestQueuedAt(queue: string): Promise<Date | null> {
    return this.run('oldestQueuedAt', (s) => oldestQueuedAt(s, queue));
  }

  setQueueLimits(params: SetQueueLimitsParams): Promise<void> {
    return this.run('setQueueLimits', (s) => setQueueLimits(s, params));
  }
  holdQueue(params: HoldQueueParams): Promise<void> {
    return this.run('holdQueue', (s) => holdQueue(s, params));
  }
  pauseQueue(queue: string): Promise<void> {
    return this.run('pauseQueue', (s) => setQueuePaused(s, queue, true));
  }
  resumeQueue(queue: string): Promise<void> {
    return this.run('resumeQueue', (s) => setQueuePaused(s, queue, false));
  }
  listQueues(): Promise<QueueInfo[]> {
    return this.run('listQueues', (s) => listQueues(s));
  }

  dlqDepth(params?: { queue?: string }): Promise<DlqDepth[]> {
    return this.run('dlqDepth', (s) => dlqDepth(s, params));
  }
  dlqGroups(params?: { filter?: JobFilter; limit?: number }): Promise<DlqGroup[]> {
    return this.run('dlqGroups', (s) => dlqGroups(s, params));
  }
  dlqReplay(params: DlqReplayParams): Promise<DlqReplayResult> {
    return this.run('dlqReplay', (s) => dlqReplay(s, params));
  }
  dlqPurge(params: DlqSelectParams): Promise<number> {
    return this.run('dlqPurge', (s) => dlqPurge(s, params));
  }
  dlqResolve(params: DlqResolveParams): Promise<number> {
    return this.run('dlqResolve', (s) => dlqResolve(s, params));
  }

  upsertWorkers(params: UpsertWorkersParams): Promise<void> {
    return this.run('upsertWorkers', (s) => stores.upsertWorkers(s, params));
  }
  removeWorkers(params: { ids: string[] }): Promise<number> {
    return this.run('removeWorkers', (s) => stores.removeWorkers(s, params));
  }
  listWorkers(params?: ListWorkersParams): Promise<WorkerInfo[]> {
    return this.run('listWorkers', (s) => stores.listWorkers(s, params));
  }
  claimIdempotencyKey(params: ClaimIdempotencyKeyParams): Promise<IdempotencyClaim> {
    return this.run('claimIdempotencyKey', (s) => stores.claimIdempotencyKey(s, params));
  }
  recordStats(params: RecordStatsParams): Promise<void> {
    return this.run('recordStats', (s) => stores.recordStats(s, params));
  }
  readStats(params: ReadStatsParams): Promise<StatsRow[]> {
    return this.run('readStats', (s) => stores.readStats(s, params));
  }
  pruneStores(params: PruneStoresParams): Promise<PruneStoresResult> {
    return this.run('pruneStores', (s) => stores.pruneStores(s, params));
  }

  upsertSchedule(params: UpsertScheduleParams): Promise<UpsertScheduleResult> {
    return this.run('upsertSchedule', (s) => schedules.upsertSchedule(s, params));
  }
  getSchedule(name: string): Promise<ScheduleRecord | null> {
    return this.run('getSchedule', (s) => schedules.getSchedule(s, name));
  }
  listSchedules(params: ListSchedulesParams): Promise<ScheduleRecord[]> {
    return this.run('listSchedules', (s) => schedules.listSchedules(s, params));
  }
  removeSchedule(name: string): Promise<boolean> {
    return this.run('removeSchedule', (s) => schedules.removeSchedule(s, name));
  }
  pauseSchedule(params: { name: string; now?: Date }): Promise<ScheduleRecord | null> {
    return this.run('pauseSchedule', (s) => schedules.pauseSchedule(s, params));
  }
  resumeSchedule(params: ResumeScheduleParams): Promise<ResumeScheduleOutcome> {
    return this.run('resumeSchedule', (s) => schedules.resumeSchedule(s, params));
  }
  dueSchedules(params: DueSchedulesParams): Promise<DueSchedules> {
    return this.run('dueSchedules', (s) => schedules.dueSchedules(s, params));
  }
  fireSchedule(params: FireScheduleParams): Promise<FireScheduleResult> {
    return this.run('fireSchedule', (s) => schedules.fireSchedule(s, params));
  }

  createTopic(params: CreateTopicParams): Promise<CreateTopicResult> {
    return this.run('createTopic', (s) => topics.createTopic(s, params));
  }
  growTopic(params: GrowTopicParams): Promise<TopicInfo> {
    return this.run('growTopic', (s) => topics.growTopic(s, params));
  }
  getTopic(name: string): Promise<TopicInfo | null> {
    return this.run('getTopic', (s) => topics.getTopic(s, name));
  }
  listTopics(): Promise<TopicInfo[]> {
    return this.run('listTopics', (s) => topics.listTopics(s));
  }
  publish(params: PublishParams): Promise<PublishOutcome[]> {
    return this.run('publish', (s) => topics.publish(s, params));
  }
  fetchMessages(params: FetchParams): Promise<FetchResult> {
    return this.run('fetchMessages', (s) => topics.fetchMessages(s, params));
  }
  pruneTopics(params: { now?: Date; limit: number }): Promise<number> {
    return this.run('pruneTopics', (s) => topics.pruneTopics(s, params));
  }
  joinGroup(params: JoinGroupParams): Promise<GroupAssignment> {
    return this.run('joinGroup', (s) => consumerGroups.joinGroup(s, params));
  }
  heartbeatGroup(params: JoinGroupParams): Promise<GroupAssignment> {
    return this.run('heartbeatGroup', (s) => consumerGroups.heartbeatGroup(s, params));
  }
  leaveGroup(params: GroupMemberParams): Promise<void> {
    return this.run('leaveGroup', (s) => consumerGroups.leaveGroup(s, params));
  }
  commitOffsets(params: CommitParams): Promise<CommitOutcome[]> {
    return this.run('commitOffsets', (s) => consumerGroups.commitOffsets(s, params));
  }
  getGroup(params: { topic: string; group: string; now?: Date }): Promise<GroupInfo | null> {
    return this.run('getGroup', (s) => consumerGroups.getGroup(s, params));
  }
  listGroups(topic: string): Promise<GroupInfo[]> {
    return this.run('listGroups', (s) => consumerGroups.listGroups(s, topic));
  }
  seekGroup(params: SeekParams): Promise<GroupOffset[]> {
    return this.run('seekGroup', (s) => consumerGroups.seekGroup(s, params));
  }

  /** The connection's effective pragmas (journal mode, synchronous, busy timeout, foreign keys). */
  settings(): ConnectionSettings {
    if (this.closed) throw new ClosedError('sqlite backend');
    return this.conn.settings();
  }

  /**
   * Test seam for the chaos suite's disk-full fault (reliability.md §5.1, scenario C8); not part
   * of the Backend contract and never needed in production. Reads — or, given `pages`, sets —
   * SQLite's `max_page_count` on this backend's one connection, and returns the limit in force.
   * Why here: the pragma is per connection, so a full disk can only be simulated through the
   * connection that writes, which is private to this class. SQLite never sets the limit below
   * the file's current size; a write that needs more pages fails with SQLITE_FULL (BackendError).
   */
  maxPageCount(pages?: number): number {
    if (this.closed) throw new ClosedError('sqlite backend');
    if (pages !== undefined && (!Number.isInteger(pages) || pages < 1)) {
      throw new ValidationError([{ path: 'pages', message: 'must be a positive integer' }]);
    }
    return Number(this.conn.db.pragma(pages === undefined ? 'max_page_count' : `max_page_count = ${pages}`, { simple: true }));
  }

  /** Events of this backend's commits (after commit) and, for files, of other processes'. */
  subscribe(listener: EventListener): () => void {
    if (this.closed) throw new ClosedError('sqlite backend');
    return this.hub.subscribe(listener);
  }
}
