/**
 * `HttpApi`: the SpindleApi over a running Spindle server (`--url`), with Node's global fetch.
 * Requests carry the API key as `Authorization: Bearer …`; non-2xx answers become
 * HttpProblemError (status + the problem's `code` and `detail`); large DLQ actions (202) are
 * followed through `GET /operations/:id`; `watchJob` reads `GET /jobs/:id/events` (SSE) and
 * reconnects with `Last-Event-ID`.
 *
 * Invariants:
 * - Every request has a deadline (30 s) except the event stream, which the caller's signal ends.
 * - A queue or job the server answers 404 for is `null`, like an unknown one in direct mode.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobState } from '@spindle/core';
import { CliError, EXIT, HttpProblemError, notFound, toCliError } from '../errors.js';
import { parseSse } from './sse.js';
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

const REQUEST_TIMEOUT_MS = 30_000;
const OPERATION_POLL_MS = 250;
/** Reconnect attempts of an event stream that dropped (about a second apart) before giving up. */
const MAX_RECONNECTS = 10;

type Query = Record<string, string | number | undefined>;

interface Operation {
  status: 'running' | 'succeeded' | 'failed';
  processed: number;
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
}

export class HttpApi implements SpindleApi {
  readonly target: string;
  private readonly base: string;

  constructor(url: string, private readonly apiKey: string | undefined) {
    this.target = url;
    this.base = `${url}/api/v1`;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { accept: 'application/json', ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}), ...extra };
  }

  private url(path: string, query: Query = {}): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return `${this.base}${path}${qs ? `?${qs}` : ''}`;
  }

  /** One JSON request; 404 → null when `nullOn404`. */
  private async request<T>(method: string, path: string, options: { query?: Query; body?: unknown; nullOn404?: boolean; onStatus?: (status: number) => void } = {}): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.url(path, options.query), {
        method,
        headers: this.headers(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw toCliError(err, this.target);
    }
    if (res.status === 404 && options.nullOn404) {
      await res.body?.cancel();
      return null as T;
    }
    if (!res.ok) throw await problemOf(res);
    options.onStatus?.(res.status);
    try {
      return (await res.json()) as T;
    } catch {
      throw new CliError(`${this.target} did not answer with JSON: is it a Spindle server?`, EXIT.failure);
    }
  }

  async enqueue(queue: string, request: EnqueueRequest): Promise<EnqueueResultView> {
    return this.request('POST', `/queues/${encodeURIComponent(queue)}/jobs`, { body: request });
  }

  getJob(id: string): Promise<JobView | null> {
    return this.request('GET', `/jobs/${encodeURIComponent(id)}`, { nullOn404: true });
  }

  listJobs(q: JobQuery): Promise<JobPageView> {
    return this.request('GET', '/jobs', { query: { queue: q.queue, state: q.states?.join(','), name: q.name, limit: q.limit, cursor: q.cursor, order: q.order } });
  }

  async listQueues(): Promise<QueueView[]> {
    return (await this.request<{ queues: QueueView[] }>('GET', '/queues')).queues;
  }

  getQueue(name: string): Promise<QueueView | null> {
    return this.request('GET', `/queues/${encodeURIComponent(name)}`, { nullOn404: true });
  }

  async pauseQueue(name: string): Promise<void> {
    await this.request('POST', `/queues/${encodeURIComponent(name)}/pause`);
  }

  async resumeQueue(name: string): Promise<void> {
    await this.request('POST', `/queues/${encodeURIComponent(name)}/resume`);
  }

  async setQueueLimits(name: string, limits: QueueView['limits']): Promise<void> {
    await this.request('PUT', `/queues/${encodeURIComponent(name)}/limits`, { body: limits });
  }

  async listWorkers(): Promise<WorkerView[]> {
    return (await this.request<{ workers: WorkerView[] }>('GET', '/workers')).workers;
  }

  async dlqDepth(): Promise<DlqDepthView[]> {
    return (await this.request<{ queues: DlqDepthView[] }>('GET', '/dlq')).queues;
  }

  dlqJobs(queue: string, q: DlqQuery): Promise<JobPageView> {
    return this.request('GET', `/dlq/${encodeURIComponent(queue)}/jobs`, { query: { name: q.name, id: q.ids?.join(','), limit: q.limit, cursor: q.cursor, order: q.order } });
  }

  async dlqGroups(queue: string, limit: number): Promise<DlqGroupView[]> {
    return (await this.request<{ groups: DlqGroupView[] }>('GET', `/dlq/${encodeURIComponent(queue)}/groups`, { query: { limit } })).groups;
  }

  async dlqAction(queue: string, selection: DlqSelection, action: DlqAction, onProgress?: (done: number) => void): Promise<DlqActionResult> {
    const body = { ...selection, ...(action.kind === 'resolve' ? { note: action.note } : {}) };
    const answer = await this.request<Record<string, unknown>>('POST', `/dlq/${encodeURIComponent(queue)}/${action.kind}`, { body });
    const result = typeof answer.operationId === 'string' ? await this.followOperation(answer.operationId, onProgress) : answer;
    const key = action.kind === 'replay' ? 'replayed' : action.kind === 'purge' ? 'purged' : 'resolved';
    const skipped = result.skipped;
    return { affected: Number(result[key] ?? 0), skipped: Array.isArray(skipped) ? skipped.length : Number(skipped ?? 0) };
  }

  private async followOperation(id: string, onProgress?: (done: number) => void): Promise<Record<string, unknown>> {
    for (;;) {
      const op = await this.request<Operation>('GET', `/operations/${encodeURIComponent(id)}`);
      onProgress?.(op.processed);
      if (op.status === 'succeeded') return op.result ?? {};
      if (op.status === 'failed') throw new CliError(`the server's operation ${id} failed: ${op.error?.message ?? 'unknown error'}`, EXIT.failure);
      await sleep(OPERATION_POLL_MS);
    }
  }

  async queueStats(queue: string): Promise<MinuteView[]> {
    return (await this.request<{ minutes: MinuteView[] }>('GET', `/queues/${encodeURIComponent(queue)}/stats`)).minutes;
  }

  async watchJob(id: string, onUpdate: (update: WatchUpdate) => void, signal: AbortSignal): Promise<void> {
    let lastId: string | undefined;
    let connected = false;
    let failures = 0;
    while (!signal.aborted) {
      let res: Response;
      try {
        res = await fetch(this.url(`/jobs/${encodeURIComponent(id)}/events`), {
          headers: this.headers({ accept: 'text/event-stream', ...(lastId ? { 'last-event-id': lastId } : {}) }),
          signal,
        });
      } catch (err) {
        if (signal.aborted) return;
        // The first connection fails fast (server down); a dropped stream is retried a while.
        if (!connected || ++failures > MAX_RECONNECTS) throw toCliError(err, this.target);
        await sleep(1000, undefined, { signal }).catch(() => undefined);
        continue;
      }
      if (res.status === 404) throw notFound(`no job ${id}`);
      if (!res.ok || !res.body) throw await problemOf(res);
      failures = 0;
      connected = true;
      try {
        for await (const message of parseSse(res.body as unknown as AsyncIterable<Uint8Array>)) {
          if (message.id) lastId = message.id;
          if (message.event === 'job.snapshot') onUpdate({ kind: 'snapshot', job: JSON.parse(message.data) as JobView });
          else if (message.event === 'reset') {
            const job = await this.getJob(id);
            if (!job) throw notFound(`job ${id} no longer exists`);
            onUpdate({ kind: 'snapshot', job });
          } else if (message.event.startsWith('job.')) {
            const wire = JSON.parse(message.data) as { status?: JobState; attempt?: number; data?: unknown; at: string };
            onUpdate({ kind: 'event', type: message.event.slice(4), status: wire.status, attempt: wire.attempt, data: wire.data, at: wire.at });
          }
          if (signal.aborted) return;
        }
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof CliError) throw err;
        // The stream broke (server stopping or restarting): reconnect below.
      }
      if (!signal.aborted) await sleep(200, undefined, { signal }).catch(() => undefined);
    }
  }

  async listSchedules(queue?: string): Promise<ScheduleView[]> {
    const all: ScheduleView[] = [];
    for (let after: string | undefined; ; ) {
      const page = await this.request<{ schedules: ScheduleView[]; nextCursor: string | null }>('GET', '/schedules', { query: { queue, after, limit: 1000 } });
      all.push(...page.schedules);
      if (!page.nextCursor) return all;
      after = page.nextCursor;
    }
  }

  getSchedule(name: string): Promise<ScheduleDetailView | null> {
    return this.request('GET', `/schedules/${encodeURIComponent(name)}`, { nullOn404: true });
  }

  async putSchedule(name: string, request: ScheduleRequest): Promise<{ schedule: ScheduleView; created: boolean }> {
    let created = false;
    const schedule = await this.request<ScheduleView>('PUT', `/schedules/${encodeURIComponent(name)}`, { body: request, onStatus: (status) => (created = status === 201) });
    return { schedule, created };
  }

  scheduleAction(name: string, action: 'pause' | 'resume'): Promise<ScheduleView> {
    return this.request('POST', `/schedules/${encodeURIComponent(name)}/${action}`);
  }

  runSchedule(name: string): Promise<EnqueueResultView> {
    return this.request('POST', `/schedules/${encodeURIComponent(name)}/run`);
  }

  async removeSchedule(name: string): Promise<boolean> {
    const answer = await this.request<{ removed: boolean } | null>('DELETE', `/schedules/${encodeURIComponent(name)}`, { nullOn404: true });
    return answer !== null;
  }

  async createTopic(name: string, request: TopicRequest): Promise<{ topic: TopicView; created: boolean }> {
    let created = false;
    const topic = await this.request<TopicView>('POST', '/topics', { body: { name, ...request }, onStatus: (status) => (created = status === 201) });
    return { topic, created };
  }

  async listTopics(): Promise<TopicView[]> {
    return (await this.request<{ topics: TopicView[] }>('GET', '/topics')).topics;
  }

  getTopic(name: string): Promise<TopicView | null> {
    return this.request('GET', `/topics/${encodeURIComponent(name)}`, { nullOn404: true });
  }

  async publish(topic: string, messages: PublishMessage[]): Promise<PublishOutcomeView[]> {
    return (await this.request<{ messages: PublishOutcomeView[] }>('POST', `/topics/${encodeURIComponent(topic)}/messages`, { body: { messages } })).messages;
  }

  fetchMessages(topic: string, partition: number, offset: number, limit: number, waitMs?: number): Promise<FetchView> {
    return this.request('GET', `/topics/${encodeURIComponent(topic)}/partitions/${partition}/messages`, { query: { offset, limit, waitMs } });
  }

  async listTopicGroups(topic: string): Promise<TopicGroupView[]> {
    return (await this.request<{ groups: TopicGroupView[] }>('GET', `/topics/${encodeURIComponent(topic)}/groups`)).groups;
  }

  getTopicGroup(topic: string, group: string): Promise<TopicGroupView | null> {
    return this.request('GET', `/topics/${encodeURIComponent(topic)}/groups/${encodeURIComponent(group)}`, { nullOn404: true });
  }

  seekTopicGroup(topic: string, group: string, to: SeekRequest): Promise<TopicGroupView> {
    return this.request('POST', `/topics/${encodeURIComponent(topic)}/groups/${encodeURIComponent(group)}/seek`, { body: { to } });
  }

  async close(): Promise<void> {}
}

/** The server's problem+json answer as an error (or a generic one for a non-Spindle answer). */
async function problemOf(res: Response): Promise<HttpProblemError> {
  const body = (await res.json().catch(() => null)) as { code?: unknown; detail?: unknown } | null; // not JSON: e.g. a proxy's page
  const code = typeof body?.code === 'string' ? body.code : `http_${res.status}`;
  const detail = typeof body?.detail === 'string' ? body.detail : `the server answered ${res.status} ${res.statusText}`;
  return new HttpProblemError(res.status, code, detail);
}
