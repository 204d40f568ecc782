/**
 * PostgresBackend: the Backend contract on PostgreSQL. This file only wires the parts together
 * (pool, event hub, LISTEN client, leadership, operation modules) and owns the lifecycle.
 *
 * Invariants:
 * - One pool (ours, or the caller's, which we never end) plus, with our own pool, a second one
 *   of the same size for relaxed-durability writes (claims, heartbeats, progress; created on the
 *   first claim, see db.ts); one LISTEN client (lazily, on the first subscribe, only when
 *   `listen`), one leadership client (while trying/leading).
 * - close() is idempotent: it stops the listener, drops leadership, ends our pools; afterwards
 *   every operation rejects with ClosedError.
 * - Operations are single statements (or one transaction) that publish their own events; see
 *   context.ts and sql.ts.
 */
import {
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
import type pg from 'pg';
import { resolveOptions, type PostgresBackendOptions, type SchemaNames } from './config.js';
import type { Ctx } from './context.js';
import { Db } from './db.js';
import * as dlq from './dlq.js';
import * as flows from './flows.js';
import { EventHub } from './events.js';
import * as admin from './jobs-admin.js';
import { insertJobs } from './jobs-insert.js';
import { cancelJobs, finalizeJobs } from './jobs-finalize.js';
import { claimJobs, extendLeases, updateProgress } from './jobs-lease.js';
import { holdQueue, LimitCache, setQueueLimits } from './queue-limits.js';
import * as maintenance from './jobs-maintenance.js';
import * as read from './jobs-read.js';
import { Leadership } from './leader.js';
import { checkSchema, migrate } from './migrate.js';
import { Notifier } from './notifier.js';
import * as stores from './stores.js';
import * as schedules from './schedules.js';
import * as topicGroups from './topic-groups.js';
import { publish } from './topic-publish.js';
import { pruneTopics } from './topic-retention.js';
import * as topics from './topics.js';
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

export class PostgresBackend implements Backend {
  readonly kind = 'postgres';
  readonly capabilities: BackendCapabilities;
  /** The schema this backend works in (validated). */
  readonly schema: string;

  private readonly ctx: Ctx;
  private readonly db: Db;
  private readonly names: SchemaNames;
  private readonly events = new EventHub();
  private readonly notifier: Notifier | null;
  private readonly leadership: Leadership;
  private closing: Promise<void> | null = null;

  constructor(options: PostgresBackendOptions = {}) {
    const resolved = resolveOptions(options);
    this.names = resolved.names;
    this.schema = resolved.names.schema;
    this.db = new Db({
      connectionString: options.connectionString,
      pool: options.pool,
      poolMax: resolved.poolMax,
      applicationName: resolved.applicationName,
      connectTimeoutMs: resolved.connectTimeoutMs,
      queryTimeoutMs: resolved.queryTimeoutMs,
    });
    this.ctx = { db: this.db, names: this.names, events: this.events, limits: new LimitCache(), groupedQueues: new Set() };
    this.capabilities = { multiProcess: true, crossProcessEvents: resolved.listen, transactionalEnqueue: true };
    this.notifier = resolved.listen
      ? new Notifier(this.db.dedicatedClientConfig(`${resolved.applicationName}:listen`), this.names.channel, (payload) =>
          this.events.receive(payload),
        )
      : null;
    this.leadership = new Leadership(this.db.dedicatedClientConfig(`${resolved.applicationName}:leader`), this.names.leaderLockKey);
  }

  /** The pool in use (ours or the caller's), e.g. to open a transaction for `insertJobs`. */
  get pool(): pg.Pool {
    return this.db.pool;
  }

  migrate(): Promise<MigrationResult> {
    return migrate(this.ctx);
  }

  checkSchema(): Promise<void> {
    return checkSchema(this.ctx);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.events.clear();
      await Promise.all([this.notifier?.stop(), this.leadership.close()]);
      await this.db.close();
    })();
    return this.closing;
  }

  async now(): Promise<Date> {
    const rows = await this.db.query('now', { text: 'SELECT now() AS now' });
    return rows[0]!.now as Date;
  }

  insertJobs(params: InsertJobsParams): Promise<InsertOutcome[]> {
    return insertJobs(this.ctx, params);
  }

  claimJobs(params: ClaimParams): Promise<ClaimAnswer<ClaimedJob>> {
    return claimJobs(this.ctx, params);
  }

  extendLeases(params: ExtendLeasesParams): Promise<ExtendOutcome[]> {
    return extendLeases(this.ctx, params);
  }

  updateProgress(params: ProgressParams): Promise<LeaseOutcome[]> {
    return updateProgress(this.ctx, params);
  }

  finalizeJobs(params: FinalizeParams): Promise<LeaseOutcome[]> {
    return finalizeJobs(this.ctx, params);
  }

  cancelJobs(params: CancelJobsParams): Promise<CancelOutcome[]> {
    return cancelJobs(this.ctx, params);
  }

  retryJobs(params: RetryJobsParams): Promise<RetryOutcome[]> {
    return admin.retryJobs(this.ctx, params);
  }

  promoteJobs(params: PromoteJobsParams): Promise<JobActionOutcome[]> {
    return admin.promoteJobs(this.ctx, params);
  }

  deleteJobs(params: DeleteJobsParams): Promise<JobActionOutcome[]> {
    return admin.deleteJobs(this.ctx, params);
  }

  updateJobPayloads(params: UpdatePayloadsParams): Promise<JobActionOutcome[]> {
    return admin.updateJobPayloads(this.ctx, params);
  }

  promoteDueJobs(params: { limit: number; now?: Date }): Promise<PromoteResult> {
    return maintenance.promoteDueJobs(this.ctx, params);
  }

  nextDueAt(): Promise<Date | null> {
    return maintenance.nextDueAt(this.ctx);
  }

  rescueExpiredLeases(params: RescueParams): Promise<RescueResult> {
    return maintenance.rescueExpiredLeases(this.ctx, params);
  }

  pruneJobs(params: PruneParams): Promise<number> {
    return maintenance.pruneJobs(this.ctx, params);
  }

  async tryAcquireLeadership(params: LeadershipParams): Promise<boolean> {
    this.db.assertOpen();
    return this.leadership.tryAcquire(params.holderId);
  }

  releaseLeadership(holderId: string): Promise<void> {
    return this.leadership.release(holderId);
  }

  getJob(id: string): Promise<JobRecord | null> {
    return read.getJob(this.ctx, id);
  }

  insertFlow(params: InsertFlowParams): Promise<InsertFlowResult> {
    return flows.insertFlow(this.ctx, params);
  }

  getChildren(parentId: string): Promise<JobRecord[]> {
    return flows.getChildren(this.ctx, parentId);
  }

  listJobs(params: ListJobsParams): Promise<JobPage> {
    return read.listJobs(this.ctx, params);
  }

  countJobs(params?: { queue?: string }): Promise<QueueStateCount[]> {
    return read.countJobs(this.ctx, params);
  }
  countMatchingJobs(params: { filter: JobFilter }): Promise<number> {
    return read.countMatchingJobs(this.ctx, params);
  }
  oldestQueuedAt(queue: string): Promise<Date | null> {
    return read.oldestQueuedAt(this.ctx, queue);
  }

  setQueueLimits(params: SetQueueLimitsParams): Promise<void> {
    return setQueueLimits(this.ctx, params);
  }
  holdQueue(params: HoldQueueParams): Promise<void> {
    return holdQueue(this.ctx, params);
  }
  pauseQueue(queue: string): Promise<void> {
    return read.pauseQueue(this.ctx, queue);
  }

  resumeQueue(queue: string): Promise<void> {
    return read.resumeQueue(this.ctx, queue);
  }

  listQueues(): Promise<QueueInfo[]> {
    return read.listQueues(this.ctx);
  }

  dlqDepth(params?: { queue?: string }): Promise<DlqDepth[]> {
    return dlq.dlqDepth(this.ctx, params);
  }

  dlqGroups(params?: { filter?: JobFilter; limit?: number }): Promise<DlqGroup[]> {
    return dlq.dlqGroups(this.ctx, params);
  }

  dlqReplay(params: DlqReplayParams): Promise<DlqReplayResult> {
    return dlq.dlqReplay(this.ctx, params);
  }

  dlqPurge(params: DlqSelectParams): Promise<number> {
    return dlq.dlqPurge(this.ctx, params);
  }

  dlqResolve(params: DlqResolveParams): Promise<number> {
    return dlq.dlqResolve(this.ctx, params);
  }

  upsertWorkers(params: UpsertWorkersParams): Promise<void> {
    return stores.upsertWorkers(this.ctx, params);
  }

  removeWorkers(params: { ids: string[] }): Promise<number> {
    return stores.removeWorkers(this.ctx, params);
  }

  listWorkers(params?: ListWorkersParams): Promise<WorkerInfo[]> {
    return stores.listWorkers(this.ctx, params);
  }

  claimIdempotencyKey(params: ClaimIdempotencyKeyParams): Promise<IdempotencyClaim> {
    return stores.claimIdempotencyKey(this.ctx, params);
  }

  recordStats(params: RecordStatsParams): Promise<void> {
    return stores.recordStats(this.ctx, params);
  }

  readStats(params: ReadStatsParams): Promise<StatsRow[]> {
    return stores.readStats(this.ctx, params);
  }

  pruneStores(params: PruneStoresParams): Promise<PruneStoresResult> {
    return stores.pruneStores(this.ctx, params);
  }

  upsertSchedule(params: UpsertScheduleParams): Promise<UpsertScheduleResult> {
    return schedules.upsertSchedule(this.ctx, params);
  }

  getSchedule(name: string): Promise<ScheduleRecord | null> {
    return schedules.getSchedule(this.ctx, name);
  }

  listSchedules(params: ListSchedulesParams): Promise<ScheduleRecord[]> {
    return schedules.listSchedules(this.ctx, params);
  }

  removeSchedule(name: string): Promise<boolean> {
    return schedules.removeSchedule(this.ctx, name);
  }

  pauseSchedule(params: { name: string; now?: Date }): Promise<ScheduleRecord | null> {
    return schedules.pauseSchedule(this.ctx, params);
  }

  resumeSchedule(params: ResumeScheduleParams): Promise<ResumeScheduleOutcome> {
    return schedules.resumeSchedule(this.ctx, params);
  }

  dueSchedules(params: DueSchedulesParams): Promise<DueSchedules> {
    return schedules.dueSchedules(this.ctx, params);
  }

  fireSchedule(params: FireScheduleParams): Promise<FireScheduleResult> {
    return schedules.fireSchedule(this.ctx, params);
  }

  createTopic(params: CreateTopicParams): Promise<CreateTopicResult> {
    return topics.createTopic(this.ctx, params);
  }

  growTopic(params: GrowTopicParams): Promise<TopicInfo> {
    return topics.growTopic(this.ctx, params);
  }

  getTopic(name: string): Promise<TopicInfo | null> {
    return topics.getTopic(this.ctx, name);
  }

  listTopics(): Promise<TopicInfo[]> {
    return topics.listTopics(this.ctx);
  }

  publish(params: PublishParams): Promise<PublishOutcome[]> {
    return publish(this.ctx, params);
  }

  fetchMessages(params: FetchParams): Promise<FetchResult> {
    return topics.fetchMessages(this.ctx, params);
  }

  joinGroup(params: JoinGroupParams): Promise<GroupAssignment> {
    return topicGroups.joinGroup(this.ctx, params);
  }

  heartbeatGroup(params: JoinGroupParams): Promise<GroupAssignment> {
    return topicGroups.heartbeatGroup(this.ctx, params);
  }

  leaveGroup(params: GroupMemberParams): Promise<void> {
    return topicGroups.leaveGroup(this.ctx, params);
  }

  commitOffsets(params: CommitParams): Promise<CommitOutcome[]> {
    return topicGroups.commitOffsets(this.ctx, params);
  }

  getGroup(params: { topic: string; group: string; now?: Date }): Promise<GroupInfo | null> {
    return topicGroups.getGroup(this.ctx, params);
  }

  listGroups(topic: string): Promise<GroupInfo[]> {
    return topicGroups.listGroups(this.ctx, topic);
  }

  seekGroup(params: SeekParams): Promise<GroupOffset[]> {
    return topicGroups.seekGroup(this.ctx, params);
  }

  pruneTopics(params: { now?: Date; limit: number }): Promise<number> {
    return pruneTopics(this.ctx, params);
  }

  /** Local events after each commit; other processes' events via LISTEN (started on first use). */
  subscribe(listener: EventListener): () => void {
    this.db.assertOpen();
    const unsubscribe = this.events.subscribe(listener);
    this.notifier?.start();
    return unsubscribe;
  }

  /**
   * Resolves once the LISTEN connection is active (starting it if needed), so that events of
   * other processes committed from now on are heard. Resolves at once when `listen` is false.
   */
  async whenListening(): Promise<void> {
    if (!this.notifier) return;
    this.db.assertOpen();
    this.notifier.start();
    await this.notifier.whenListening();
  }
}
