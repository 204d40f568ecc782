/**
 * `DirectApi`: the SpindleApi straight over a library Client on a database (`--db`): SQLite
 * file or PostgreSQL. Answers have the HTTP API's shapes (views.ts), queue views are computed
 * the way the server computes them, and `watchJob` follows the client's events with a poll of
 * the stored job every second (events are notifications; the stored job is the truth).
 *
 * Invariant: DLQ actions run by ids — the ids given (checked by the command to be dead jobs of
 * that queue) or, for a whole queue, page after page of its dead jobs — compare-and-set in the
 * backend, so a concurrent replay moves each job once; progress is reported after each page.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { JOB_STATES, type Client, type JobOptions, type JobState } from '@spindle/core';
import { notFound } from '../errors.js';
import type {
  DlqAction,
  DlqActionResult,
  DlqDepthView,
  DlqGroupView,
  DlqQuery,
  DlqSelection,
  EnqueueRequest,
  EnqueueResultView,
  JobPageView,
  JobQuery,
  JobView,
  MinuteView,
  QueueView,
  SpindleApi,
  WatchUpdate,
  WorkerView,
} from './types.js';
import type { ScheduleDetailView, ScheduleRequest, ScheduleView } from './types.js';
import type { FetchView, PublishMessage, PublishOutcomeView, SeekRequest, TopicGroupView, TopicRequest, TopicView } from './types.js';
import { childView, jobView, minuteView, workerView } from './views.js';
import { queueView, scheduleView } from './views.js';
import { topicGroupView, topicMessageView, topicView } from './views.js';

const LIVE_WORKER_MS = 30_000;
const POLL_MS = 1000;
const PAGE = 500;
/** How often a waiting fetch re-reads (publishes come from other processes). */
const FETCH_POLL_MS = 200;

const zeroCounts = (): Record<JobState, number> => Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;

export class DirectApi implements SpindleApi {
  constructor(
    private readonly client: Client,
    readonly target: string,
  ) {}

  async enqueue(queue: string, request: EnqueueRequest): Promise<EnqueueResultView> {
    const result = await this.client.queue(queue).add(request.name, request.payload, request.opts as JobOptions);
    return { id: result.id, status: result.state, duplicate: !result.inserted, ...(result.replaced ? { replaced: true } : {}) };
  }

  async getJob(id: string): Promise<JobView | null> {
    const job = await this.client.getJob(id);
    if (!job) return null;
    // Flows: a job with children lists them, as GET /jobs/:id does.
    if (job.pendingChildren === null) return jobView(job);
    return { ...jobView(job), children: (await this.client.getChildren(id)).map(childView) };
  }

  async listJobs(q: JobQuery): Promise<JobPageView> {
    const page = await this.client.listJobs({
      filter: { ...(q.queue ? { queue: q.queue } : {}), ...(q.states ? { states: q.states } : {}), ...(q.name ? { name: q.name } : {}) },
      ...(q.limit ? { limit: q.limit } : {}),
      ...(q.cursor ? { cursor: q.cursor } : {}),
      ...(q.order ? { order: q.order } : {}),
    });
    return { jobs: page.jobs.map(jobView), nextCursor: page.nextCursor };
  }

  private async queueViews(only?: string): Promise<QueueView[]> {
    const scope = only === undefined ? {} : { queue: only };
    const [queues, counts, depths, now] = await Promise.all([this.client.listQueues(), this.client.counts(scope), this.client.dlq.depth(scope), this.client.now()]);
    const depthOf = new Map(depths.map((d) => [d.queue, d.depth]));
    const info = new Map(queues.map((q) => [q.name, q]));
    const names = [...new Set([...queues.map((q) => q.name), ...Object.keys(counts)])].filter((n) => only === undefined || n === only).sort();
    return Promise.all(
      names.map(async (name) => {
        const c = counts[name] ?? zeroCounts();
        let oldestQueuedAgeMs = 0;
        if (c.queued > 0) {
          const at = await this.client.oldestQueuedAt(name);
          if (at) oldestQueuedAgeMs = Math.max(0, now.getTime() - at.getTime());
        }
        return queueView(name, info.get(name), c, depthOf.get(name) ?? 0, oldestQueuedAgeMs);
      }),
    );
  }

  listQueues(): Promise<QueueView[]> {
    return this.queueViews();
  }

  async getQueue(name: string): Promise<QueueView | null> {
    return (await this.queueViews(name))[0] ?? null;
  }

  pauseQueue(name: string): Promise<void> {
    return this.client.pauseQueue(name);
  }

  resumeQueue(name: string): Promise<void> {
    return this.client.resumeQueue(name);
  }

  setQueueLimits(name: string, limits: QueueView['limits']): Promise<void> {
    return this.client.setQueueLimits(name, limits);
  }

  async listWorkers(): Promise<WorkerView[]> {
    return (await this.client.listWorkers({ seenWithinMs: LIVE_WORKER_MS })).map(workerView);
  }

  async dlqDepth(): Promise<DlqDepthView[]> {
    return this.client.dlq.depth();
  }

  async dlqJobs(queue: string, q: DlqQuery): Promise<JobPageView> {
    const page = await this.client.dlq.list({
      filter: { queue, ...(q.name ? { name: q.name } : {}), ...(q.ids ? { ids: q.ids } : {}) },
      ...(q.limit ? { limit: q.limit } : {}),
      ...(q.cursor ? { cursor: q.cursor } : {}),
      ...(q.order ? { order: q.order } : {}),
    });
    return { jobs: page.jobs.map(jobView), nextCursor: page.nextCursor };
  }

  async dlqGroups(queue: string, limit: number): Promise<DlqGroupView[]> {
    const groups = await this.client.dlq.groups({ filter: { queue }, limit });
    return groups.map((g) => ({ reason: g.reason, count: g.count, firstFailedAt: g.firstFailedAt.toISOString(), lastFailedAt: g.lastFailedAt.toISOString(), sampleJobId: g.sampleJobId }));
  }

  /**
   * Acts on dead jobs by id (each id once: the core's filter selections loop until a pass
   * changes nothing, which could replay a job twice if it died again in between). Callers pass
   * ids of dead jobs of one queue (checked, or listed from that queue's DLQ).
   */
  private async actOn(ids: string[], action: DlqAction): Promise<DlqActionResult> {
    if (action.kind === 'replay') {
      const summary = await this.client.dlq.replay({ ids });
      return { affected: summary.replayed, skipped: summary.skipped.length };
    }
    if (action.kind === 'purge') return { affected: await this.client.dlq.purge({ ids }), skipped: 0 };
    return { affected: await this.client.dlq.resolve({ ids, note: action.note }), skipped: 0 };
  }

  async dlqAction(queue: string, selection: DlqSelection, action: DlqAction, onProgress?: (done: number) => void): Promise<DlqActionResult> {
    if ('ids' in selection) return this.actOn(selection.ids, action);
    // A whole queue: page through its dead jobs (oldest first) and act on each page's ids.
    const total: DlqActionResult = { affected: 0, skipped: 0 };
    let cursor: string | null = null;
    do {
      const page = await this.client.dlq.list({
        filter: { queue, ...(action.kind === 'resolve' ? { resolved: false } : {}) },
        order: 'oldest',
        limit: PAGE,
        ...(cursor ? { cursor } : {}),
      });
      if (page.jobs.length === 0) break;
      const done = await this.actOn(page.jobs.map((j) => j.id), action);
      total.affected += done.affected;
      total.skipped += done.skipped;
      onProgress?.(total.affected);
      cursor = page.nextCursor;
    } while (cursor);
    return total;
  }

  async queueStats(queue: string): Promise<MinuteView[]> {
    const to = await this.client.now();
    const rows = await this.client.readStats({ queue, from: new Date(to.getTime() - 3_600_000), to });
    return rows.map(minuteView);
  }

  async watchJob(id: string, onUpdate: (update: WatchUpdate) => void, signal: AbortSignal): Promise<void> {
    // Listen before the first read, so no event falls between the two.
    const off = this.client.on('event', (event) => {
      if (!('jobId' in event) || event.jobId !== id) return;
      onUpdate({ kind: 'event', type: event.type, status: event.state, attempt: event.attempt, data: event.data, at: new Date(event.at).toISOString() });
    });
    try {
      const first = await this.client.getJob(id);
      if (!first) throw notFound(`no job ${id}`);
      onUpdate({ kind: 'snapshot', job: jobView(first) });
      while (!signal.aborted) {
        try {
          await sleep(POLL_MS, undefined, { signal });
        } catch {
          return; // aborted
        }
        const job = await this.client.getJob(id);
        if (!job) throw notFound(`job ${id} no longer exists`);
        onUpdate({ kind: 'snapshot', job: jobView(job) });
      }
    } finally {
      off();
    }
  }

  async listSchedules(queue?: string): Promise<ScheduleView[]> {
    const all: ScheduleView[] = [];
    for (let after: string | undefined; ; ) {
      const page = await this.client.schedules.list({ limit: 1000, ...(queue ? { queue } : {}), ...(after ? { after } : {}) });
      all.push(...page.map(scheduleView));
      if (page.length < 1000) return all;
      after = page.at(-1)!.name;
    }
  }

  async getSchedule(name: string): Promise<ScheduleDetailView | null> {
    const schedule = await this.client.schedules.get(name);
    if (!schedule) return null;
    const upcoming = await this.client.schedules.nextRuns(name, 5);
    return { ...scheduleView(schedule), upcoming: upcoming.map((d) => d.toISOString()) };
  }

  async putSchedule(name: string, request: ScheduleRequest): Promise<{ schedule: ScheduleView; created: boolean }> {
    const { schedule, created } = await this.client.schedules.upsert(name, request as Parameters<Client['schedules']['upsert']>[1]);
    return { schedule: scheduleView(schedule), created };
  }

  async scheduleAction(name: string, action: 'pause' | 'resume'): Promise<ScheduleView> {
    return scheduleView(action === 'pause' ? await this.client.schedules.pause(name) : await this.client.schedules.resume(name));
  }

  async runSchedule(name: string): Promise<EnqueueResultView> {
    const result = await this.client.schedules.runNow(name);
    return { id: result.id, status: result.state, duplicate: !result.inserted };
  }

  removeSchedule(name: string): Promise<boolean> {
    return this.client.schedules.remove(name);
  }

  async createTopic(name: string, request: TopicRequest): Promise<{ topic: TopicView; created: boolean }> {
    const { topic, created } = await this.client.topics.create(name, request);
    return { topic: topicView(topic), created };
  }

  async listTopics(): Promise<TopicView[]> {
    return (await this.client.topics.list()).map(topicView);
  }

  async getTopic(name: string): Promise<TopicView | null> {
    const topic = await this.client.topics.get(name);
    return topic ? topicView(topic) : null;
  }

  publish(topic: string, messages: PublishMessage[]): Promise<PublishOutcomeView[]> {
    return this.client.topics.publishBatch(topic, messages);
  }

  async fetchMessages(topic: string, partition: number, offset: number, limit: number, waitMs = 0): Promise<FetchView> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const result = await this.client.topics.fetch(topic, partition, offset, limit);
      const left = deadline - Date.now();
      if (result.messages.length > 0 || left <= 0) return { messages: result.messages.map(topicMessageView), startOffset: result.startOffset, highWater: result.highWater };
      await sleep(Math.min(left, FETCH_POLL_MS));
    }
  }

  async listTopicGroups(topic: string): Promise<TopicGroupView[]> {
    return (await this.client.topics.groups(topic)).map(topicGroupView);
  }

  async getTopicGroup(topic: string, group: string): Promise<TopicGroupView | null> {
    if (!(await this.client.topics.get(topic))) return null;
    const found = await this.client.topics.group(topic, group);
    return found ? topicGroupView(found) : null;
  }

  async seekTopicGroup(topic: string, group: string, to: SeekRequest): Promise<TopicGroupView> {
    await this.client.topics.seek(topic, group, to);
    const found = await this.client.topics.group(topic, group);
    if (!found) throw notFound(`no group ${group} on topic ${topic}`);
    return topicGroupView(found);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
