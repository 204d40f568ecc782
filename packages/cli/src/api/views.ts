/**
 * Library records as the wire views of types.ts (the HTTP API's shapes), so the direct API
 * answers exactly what the HTTP API does: `status`, `maxAttempts`, ISO 8601 UTC timestamps.
 * The server's own view functions build them (`@spindle/server/views`: that module alone, without
 * loading the HTTP server): one definition of the wire format.
 */
import type { GroupInfo, JobRecord, JobState, QueueInfo, Schedule, StatsRow, StoredMessage, TopicInfo, WorkerInfo } from '@spindle/core';
import { childView as serverChildView, jobView as serverJobView, minuteView as serverMinuteView, workerView as serverWorkerView } from '@spindle/server/views';
import { queueView as serverQueueView, scheduleView as serverScheduleView } from '@spindle/server/views';
import { groupView as serverGroupView, messageView as serverMessageView, topicView as serverTopicView } from '@spindle/server/views';
import type { ChildView, JobView, MinuteView, QueueView, ScheduleView, TopicGroupView, TopicMessageView, TopicView, WorkerView } from './types.js';

/** A job with its payload and result (direct access reads everything). */
export function jobView(job: JobRecord): JobView {
  return serverJobView(job, { includePayload: true }) as JobView;
}

/** A child of a flow job (`jobs show` of a parent). */
export function childView(job: JobRecord): ChildView {
  return serverChildView(job);
}

export function minuteView(row: StatsRow): MinuteView {
  return serverMinuteView(row);
}

export function workerView(w: WorkerInfo): WorkerView {
  return serverWorkerView(w) as WorkerView;
}

/** A schedule with its payload (direct access reads everything). */
export function scheduleView(schedule: Schedule): ScheduleView {
  return serverScheduleView(schedule, { includePayload: true });
}

/** A queue as GET /queues shows it. */
export function queueView(name: string, info: QueueInfo | undefined, counts: Record<JobState, number>, dlqDepth: number, oldestQueuedAgeMs: number): QueueView {
  return serverQueueView(name, info, counts, dlqDepth, oldestQueuedAgeMs);
}

export function topicView(topic: TopicInfo): TopicView {
  return serverTopicView(topic);
}

export function topicMessageView(message: StoredMessage): TopicMessageView {
  return serverMessageView(message);
}

export function topicGroupView(group: GroupInfo): TopicGroupView {
  return serverGroupView(group);
}
