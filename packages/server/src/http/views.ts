/**
 * How stored records look on the wire: JSON-ready objects with ISO 8601 UTC timestamps, the
 * job's state as `status`, and `maxAttempts` (what HTTP users count) next to `attempt`. Also
 * exported alone as `@spindle/server/views` (the CLI's direct mode answers in the same shapes
 * without loading the HTTP server); it imports nothing but types.
 *
 * Invariant: the lease token never appears in a view (the core's JobRecord does not carry it);
 * the payload appears only when the caller may read payloads.
 */
import type { AttemptError, GroupInfo, JobRecord, JobState, QueueInfo, Schedule, StatsRow, StoredMessage, TopicInfo, WorkerInfo } from '@spindle/core';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export interface ViewOptions {
  /** False hides `payload` and `result` (a key without the read-payload scope). */
  includePayload: boolean;
}

export function jobView(job: JobRecord, options: ViewOptions = { includePayload: true }) {
  return {
    id: job.id,
    queue: job.queue,
    name: job.name,
    status: job.state,
    ...(options.includePayload ? { payload: job.payload } : {}),
    priority: job.priority,
    attempt: job.attempt,
    maxAttempts: job.maxRetries + 1,
    progress: job.progress,
    result: options.includePayload ? job.result : null,
    errors: job.errors.map(errorView),
    uniqueKey: job.uniqueKey,
    unique: job.unique,
    group: job.group,
    timeoutMs: job.timeoutMs,
    round: job.round,
    createdAt: job.createdAt.toISOString(),
    runAt: job.runAt.toISOString(),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    leaseExpiresAt: iso(job.leaseExpiresAt),
    workerId: job.workerId,
    cancelRequested: job.cancelRequested,
    failureReason: job.failureReason,
    firstFailedAt: iso(job.firstFailedAt),
    lastFailedAt: iso(job.lastFailedAt),
    resolution: job.resolution ? { note: job.resolution.note, at: job.resolution.at.toISOString() } : null,
    expiresAt: iso(job.expiresAt),
    parentId: job.parentId,
    pendingChildren: job.pendingChildren,
    onChildFailure: job.onChildFailure,
  };
}

/** A child of a flow job, as `GET /jobs/:id` lists it under `children`. */
export function childView(job: JobRecord) {
  return { id: job.id, queue: job.queue, name: job.name, status: job.state, failureReason: job.failureReason };
}

export type JobViewBody = ReturnType<typeof jobView>;

function errorView(e: AttemptError) {
  return { ...e, at: new Date(e.at).toISOString() };
}

/** A worker of the registry (library or HTTP), as `GET /workers` lists it. */
/** A queue with its counts, DLQ depth, oldest waiting job and settings (`info`: from listQueues, if it has a row). */
export function queueView(name: string, info: QueueInfo | undefined, counts: Record<JobState, number>, dlqDepth: number, oldestQueuedAgeMs: number) {
  return {
    name,
    paused: info?.paused ?? false,
    counts,
    dlqDepth,
    oldestQueuedAgeMs,
    limits: {
      concurrency: info?.limits?.concurrency ?? null,
      rate: info?.limits?.rate ?? null,
      groupConcurrency: info?.limits?.groupConcurrency ?? null,
      groupRate: info?.limits?.groupRate ?? null,
      fifo: info?.limits?.fifo ?? false,
    },
    heldUntil: iso(info?.heldUntil ?? null),
    grouped: info?.grouped ?? false,
  };
}

export function workerView(w: WorkerInfo) {
  return {
    id: w.id,
    queue: w.queue,
    kind: w.kind,
    host: w.host,
    pid: w.pid,
    concurrency: w.concurrency,
    busy: w.busy,
    startedAt: w.startedAt.toISOString(),
    lastSeenAt: w.lastSeenAt.toISOString(),
  };
}

/** One minute of a queue's throughput counters, as `GET /queues/:queue/stats` lists it. */
export function minuteView(row: StatsRow) {
  return { minute: row.minute.toISOString(), enqueued: row.enqueued, completed: row.completed, retried: row.retried, dead: row.dead, cancelled: row.cancelled };
}

/**
 * A schedule, as `GET /schedules` lists it: times as ISO 8601 UTC (`nextRunAt` null while
 * paused), the payload only when the caller may read payloads.
 */
export function scheduleView(s: Schedule, options: ViewOptions = { includePayload: true }) {
  return {
    name: s.name,
    cron: s.cron,
    everyMs: s.everyMs,
    timezone: s.timezone,
    queue: s.queue,
    jobName: s.jobName,
    ...(options.includePayload ? { payload: s.payload } : {}),
    jobOptions: s.jobOptions as Record<string, unknown>,
    backfill: s.backfill,
    paused: s.paused,
    nextRunAt: iso(s.nextRunAt),
    lastRunAt: iso(s.lastRunAt),
    lastJobId: s.lastJobId,
    version: s.version,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}

export type ScheduleViewBody = ReturnType<typeof scheduleView>;

/** A topic with its retention and each partition's offsets, as `GET /topics` lists it. */
export function topicView(t: TopicInfo) {
  return {
    name: t.name,
    partitions: t.partitions,
    retention: { maxAgeMs: t.retention.maxAgeMs, maxBytes: t.retention.maxBytes },
    createdAt: t.createdAt.toISOString(),
    offsets: t.offsets.map((o) => ({ partition: o.partition, startOffset: o.startOffset, highWater: o.highWater })),
  };
}

export type TopicViewBody = ReturnType<typeof topicView>;

/** A message of a topic, as fetches and the topic stream carry it. */
export function messageView(m: StoredMessage) {
  return { topic: m.topic, partition: m.partition, offset: m.offset, key: m.key, value: m.value, headers: m.headers, publishedAt: m.publishedAt.toISOString() };
}

export type MessageViewBody = ReturnType<typeof messageView>;

/** A consumer group: generation, live members with their partitions, committed offsets and lag. */
export function groupView(g: GroupInfo) {
  return {
    topic: g.topic,
    group: g.group,
    generation: g.generation,
    members: g.members.map((m) => ({ memberId: m.memberId, expiresAt: m.expiresAt.toISOString(), partitions: m.partitions })),
    offsets: g.offsets.map((o) => ({ partition: o.partition, committed: o.committed, highWater: o.highWater, lag: o.lag })),
    lag: g.offsets.reduce((sum, o) => sum + o.lag, 0),
  };
}

export type GroupViewBody = ReturnType<typeof groupView>;
