/**
 * The CLI's one seam: `SpindleApi`, what every command needs from Spindle, with two
 * implementations — over HTTP to a running server (http.ts) and directly over the library
 * Client on a database (direct.ts). Commands depend only on this file.
 *
 * The data shapes are the HTTP API's wire views (state as `status`, ISO 8601 UTC timestamps,
 * `maxAttempts`), so `--json` prints the same documents whichever way the CLI is connected.
 *
 * Invariants every implementation keeps:
 * - Unknown things answer `null` (getJob, getQueue) rather than throwing; commands decide the
 *   exit code.
 * - Errors thrown are CliError, HttpProblemError or core SpindleErrors; errors.ts maps them.
 */
import type { JobState } from '@spindle/core';

/** How long a unique key is held: until the job starts, until it finishes, or a period from the add. */
export type UniqueWhileView = 'queued' | 'active' | { forMs: number };

export interface AttemptErrorView {
  attempt: number;
  round: number;
  kind: string;
  name: string;
  message: string;
  stack?: string;
  workerId?: string | null;
  at: string;
}

export interface JobView {
  id: string;
  queue: string;
  name: string;
  status: JobState;
  payload?: unknown;
  priority: number;
  attempt: number;
  maxAttempts: number;
  progress: unknown;
  result: unknown;
  errors: AttemptErrorView[];
  uniqueKey: string | null;
  /** The unique key and how long it is held (null: none). */
  unique?: { key: string; while: UniqueWhileView } | null;
  group: string | null;
  timeoutMs: number | null;
  round: number;
  createdAt: string;
  runAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  leaseExpiresAt: string | null;
  workerId: string | null;
  cancelRequested: boolean;
  failureReason: string | null;
  firstFailedAt: string | null;
  lastFailedAt: string | null;
  resolution: { note: string; at: string } | null;
  expiresAt: string | null;
  /** Flows: the job this one is a child of. */
  parentId?: string | null;
  /** Flows, jobs with children: how many have not finished yet. */
  pendingChildren?: number | null;
  onChildFailure?: 'fail' | 'continue' | null;
  /** Flows: the children of a job that has some (`getJob` only). */
  children?: ChildView[];
}

/** A child of a flow job, as `getJob` lists it. */
export interface ChildView {
  id: string;
  queue: string;
  name: string;
  status: JobState;
  failureReason: string | null;
}

export interface JobPageView {
  jobs: JobView[];
  nextCursor: string | null;
}

export interface QueueView {
  name: string;
  paused: boolean;
  counts: Record<JobState, number>;
  /** Unresolved dead jobs. */
  dlqDepth: number;
  /** How long the oldest due job has waited (ms), 0 when none waits. */
  oldestQueuedAgeMs: number;
  /** Limits across processes (null: none). */
  limits: {
    concurrency: number | null;
    rate: { max: number; intervalMs: number } | null;
    /** Per group (tenant groups): most running, most started per interval, one in flight in order. */
    groupConcurrency: number | null;
    groupRate: { max: number; intervalMs: number } | null;
    fifo: boolean;
  };
  /** ISO time until which claims skip the queue (a handler was rate limited), or null. */
  heldUntil: string | null;
  /** Its jobs carry groups: claims rotate across them. */
  grouped: boolean;
}

export interface DlqDepthView {
  queue: string;
  depth: number;
}

export interface DlqGroupView {
  reason: string;
  count: number;
  firstFailedAt: string;
  lastFailedAt: string;
  sampleJobId: string;
}

export interface MinuteView {
  minute: string;
  enqueued: number;
  completed: number;
  retried: number;
  dead: number;
  cancelled: number;
}

export interface WorkerView {
  id: string;
  queue: string;
  kind: string;
  host: string;
  pid: number | null;
  concurrency: number;
  busy: number;
  startedAt: string;
  lastSeenAt: string;
}

export interface EnqueueRequest {
  name: string;
  payload: unknown;
  opts: {
    id?: string;
    delay?: number;
    priority?: number | string;
    maxRetries?: number;
    group?: string;
    unique?: { key: string; while?: UniqueWhileView; onConflict?: 'keep' | 'replace' };
  };
}

export interface EnqueueResultView {
  id: string;
  status: JobState;
  duplicate: boolean;
  /** The holder of the unique key had not started and took this job's payload and run time. */
  replaced?: boolean;
}

export interface JobQuery {
  queue?: string;
  states?: JobState[];
  name?: string;
  limit?: number;
  cursor?: string;
  order?: 'newest' | 'oldest';
}

export type DlqQuery = Omit<JobQuery, 'queue' | 'states'> & { ids?: string[] };

/** Which dead jobs of a queue an action applies to. */
export type DlqSelection = { ids: string[] } | { all: true };

export type DlqAction = { kind: 'replay' } | { kind: 'purge' } | { kind: 'resolve'; note: string };

/** How many jobs a DLQ action changed (`skipped`: replays left dead by a unique-key conflict). */
export interface DlqActionResult {
  affected: number;
  skipped: number;
}

/** What `watchJob` reports: the whole job (first, and after any gap), or one live event. */
export type WatchUpdate =
  | { kind: 'snapshot'; job: JobView }
  | { kind: 'event'; type: string; status?: JobState; attempt?: number; data?: unknown; at: string };

/** A schedule (the wire view of `GET /schedules`). */
export interface ScheduleView {
  name: string;
  cron: string | null;
  everyMs: number | null;
  timezone: string;
  queue: string;
  jobName: string;
  payload?: unknown;
  jobOptions: Record<string, unknown>;
  backfill: number;
  paused: boolean;
  /** The next tick (null while paused). */
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastJobId: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** One schedule with its next runs (`GET /schedules/:name`). */
export interface ScheduleDetailView extends ScheduleView {
  upcoming: string[];
}

/** A schedule definition (`PUT /schedules/:name`): every field replaced, `paused` kept unless given. */
export interface ScheduleRequest {
  cron?: string;
  everyMs?: number;
  timezone?: string;
  queue: string;
  jobName?: string;
  payload?: unknown;
  jobOptions?: { priority?: number | string; maxRetries?: number; timeoutMs?: number };
  backfill?: number;
  paused?: boolean;
}

/** A topic (`GET /topics`): retention and each partition's offsets. */
export interface TopicView {
  name: string;
  partitions: number;
  retention: { maxAgeMs: number | null; maxBytes: number | null };
  createdAt: string;
  offsets: Array<{ partition: number; startOffset: number; highWater: number }>;
}

/** What `topics create` asks for (omitted: the library's defaults). */
export interface TopicRequest {
  partitions?: number;
  retention?: { maxAgeMs?: number; maxBytes?: number };
}

/** One message to publish. */
export interface PublishMessage {
  key?: string;
  value: unknown;
  headers?: Record<string, string>;
  idempotencyKey?: string;
}

export interface PublishOutcomeView {
  partition: number;
  offset: number;
  duplicate: boolean;
}

export interface TopicMessageView {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: unknown;
  headers: Record<string, string> | null;
  publishedAt: string;
}

export interface FetchView {
  messages: TopicMessageView[];
  startOffset: number;
  highWater: number;
}

/** A consumer group with its members, committed offsets and lag. */
export interface TopicGroupView {
  topic: string;
  group: string;
  generation: number;
  members: Array<{ memberId: string; expiresAt: string; partitions: number[] }>;
  offsets: Array<{ partition: number; committed: number; highWater: number; lag: number }>;
  lag: number;
}

/** Where `topics seek` moves a group. */
export type SeekRequest = 'earliest' | 'latest' | { offsets: Record<string, number> } | { time: string };

export interface SpindleApi {
  /** Where this API points, for messages: `http://…`, `sqlite:path`, `postgres://host/db`. */
  readonly target: string;
  enqueue(queue: string, request: EnqueueRequest): Promise<EnqueueResultView>;
  getJob(id: string): Promise<JobView | null>;
  listJobs(query: JobQuery): Promise<JobPageView>;
  listQueues(): Promise<QueueView[]>;
  /** null when the queue has never had a job or a setting. */
  getQueue(name: string): Promise<QueueView | null>;
  pauseQueue(name: string): Promise<void>;
  resumeQueue(name: string): Promise<void>;
  /** Replaces a queue's limits (null: none). */
  setQueueLimits(name: string, limits: QueueView['limits']): Promise<void>;
  /** Live workers (seen within the last 30 s). */
  listWorkers(): Promise<WorkerView[]>;
  dlqDepth(): Promise<DlqDepthView[]>;
  dlqJobs(queue: string, query: DlqQuery): Promise<JobPageView>;
  dlqGroups(queue: string, limit: number): Promise<DlqGroupView[]>;
  /** Runs a DLQ action; `onProgress(done)` is called as batches complete (selections by `all`). */
  dlqAction(queue: string, selection: DlqSelection, action: DlqAction, onProgress?: (done: number) => void): Promise<DlqActionResult>;
  /** Per-minute throughput counters of a queue over the last hour. */
  queueStats(queue: string): Promise<MinuteView[]>;
  /**
   * Follows one job until `signal` aborts: a snapshot first, then live updates (and further
   * snapshots after reconnects or polls). Throws CliError(not found) for an unknown job.
   */
  watchJob(id: string, onUpdate: (update: WatchUpdate) => void, signal: AbortSignal): Promise<void>;
  /** Every schedule, by name (`queue`: only those enqueuing into it). */
  listSchedules(queue?: string): Promise<ScheduleView[]>;
  /** null when there is no such schedule. */
  getSchedule(name: string): Promise<ScheduleDetailView | null>;
  /** Creates or redefines a schedule. */
  putSchedule(name: string, request: ScheduleRequest): Promise<{ schedule: ScheduleView; created: boolean }>;
  /** Pauses or resumes; an unknown schedule throws (exit 3). */
  scheduleAction(name: string, action: 'pause' | 'resume'): Promise<ScheduleView>;
  /** Enqueues one job of the schedule now; an unknown schedule throws (exit 3). */
  runSchedule(name: string): Promise<EnqueueResultView>;
  /** false when there was no such schedule. */
  removeSchedule(name: string): Promise<boolean>;
  /** Creates a topic unless it exists (then `created: false`, unchanged). */
  createTopic(name: string, request: TopicRequest): Promise<{ topic: TopicView; created: boolean }>;
  listTopics(): Promise<TopicView[]>;
  /** null when there is no such topic. */
  getTopic(name: string): Promise<TopicView | null>;
  /** One transaction; an unknown topic throws (exit 3). */
  publish(topic: string, messages: PublishMessage[]): Promise<PublishOutcomeView[]>;
  /**
   * A partition from `offset` (up to `limit` messages); with `waitMs`, waits that long for a
   * message when none is there yet. An offset out of range throws (exit 2).
   */
  fetchMessages(topic: string, partition: number, offset: number, limit: number, waitMs?: number): Promise<FetchView>;
  /** An unknown topic throws (exit 3). */
  listTopicGroups(topic: string): Promise<TopicGroupView[]>;
  /** null when the group (or the topic) does not exist. */
  getTopicGroup(topic: string, group: string): Promise<TopicGroupView | null>;
  /** Moves a group's committed offsets; an unknown topic or group throws (exit 3). */
  seekTopicGroup(topic: string, group: string, to: SeekRequest): Promise<TopicGroupView>;
  close(): Promise<void>;
}
