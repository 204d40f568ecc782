/**
 * Prometheus metrics of a Spindle server (prom-client, one registry per server).
 *
 * - Counters and histograms are fed by the event log: the server sees the events of every
 *   process on the database (SQLite outbox, PostgreSQL NOTIFY), so a single server's counters
 *   describe the whole deployment. Events are best effort (DESIGN §8), so these are too.
 * - Gauges (jobs by state, DLQ depth, oldest job age, paused; per topic partition its high water
 *   — messages published so far — and retained start; per consumer group its committed offset —
 *   messages consumed — lag and members) are read from the database at scrape time, so they are
 *   exact and shared by every server.
 * - Two topic counters are read from the database the same way, for `rate()`:
 *   `spindle_topic_published_total` is the partition's high water (offsets are dense from 0, so
 *   it counts every message ever published, retention or not) and
 *   `spindle_topic_group_consumed_total` the group's committed offset (messages it committed;
 *   it goes down only when the group is sought back, which Prometheus reads as a reset).
 *
 * Invariants: labels are bounded sets — queue, topic and group names, partitions and states,
 * never job ids or names (job names are caller-chosen and unbounded). The start/enqueue times kept to compute durations are
 * capped (`MAX_TRACKED` jobs, oldest dropped first): memory does not grow with traffic.
 */
import { JOB_STATES, type Client, type DlqDepth, type GroupInfo, type JobState, type QueueInfo, type TopicInfo, type WorkerInfo } from '@spindle/core';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EventLog, WireEvent } from '../push/event-log.js';
import { oldestQueuedAgeMs } from '../http/queue-age.js';
import { BoundedMap } from './bounded-map.js';

const MAX_TRACKED = 50_000;
/** How long one database read serves scrapes (the gauges of one scrape share it). */
const SNAPSHOT_MS = 250;

interface Snapshot {
  counts: Record<string, Record<JobState, number>>;
  depths: DlqDepth[];
  queues: QueueInfo[];
  workers: WorkerInfo[];
  oldest: Map<string, number>;
  topics: TopicInfo[];
  groups: GroupInfo[];
}
/** OpenTelemetry's messaging duration buckets (seconds). */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 300];


export class ServerMetrics {
  readonly registry = new Registry();
  private readonly enqueued: Counter<'queue'>;
  private readonly completed: Counter<'queue'>;
  private readonly failed: Counter<'queue' | 'final'>;
  private readonly deadLettered: Counter<'queue'>;
  private readonly cancelled: Counter<'queue'>;
  private readonly processDuration: Histogram<'queue' | 'status'>;
  private readonly waitDuration: Histogram<'queue'>;
  private readonly queuedAt = new BoundedMap<number>(MAX_TRACKED);
  private readonly startedAt = new BoundedMap<number>(MAX_TRACKED);
  private unsubscribe: (() => void) | null = null;
  private current: Promise<Snapshot> | null = null;

  constructor(
    private readonly client: Client,
    streams: () => number,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // prom-client names these gauges with a counter's `_total` suffix; promtool rejects that.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    this.enqueued = new Counter({ name: 'spindle_jobs_enqueued_total', help: 'Jobs added.', labelNames: ['queue'], registers });
    this.completed = new Counter({ name: 'spindle_jobs_completed_total', help: 'Jobs completed.', labelNames: ['queue'], registers });
    this.failed = new Counter({ name: 'spindle_jobs_failed_total', help: 'Failed attempts; final="true" when the job went to the DLQ.', labelNames: ['queue', 'final'], registers });
    this.deadLettered = new Counter({ name: 'spindle_jobs_dead_lettered_total', help: 'Jobs moved to the dead-letter queue.', labelNames: ['queue'], registers });
    this.cancelled = new Counter({ name: 'spindle_jobs_cancelled_total', help: 'Jobs cancelled.', labelNames: ['queue'], registers });
    this.processDuration = new Histogram({ name: 'spindle_job_process_duration_seconds', help: 'Attempt duration, start to outcome.', labelNames: ['queue', 'status'], buckets: BUCKETS, registers });
    this.waitDuration = new Histogram({ name: 'spindle_job_wait_duration_seconds', help: 'Time from due (enqueued or runAt) to start.', labelNames: ['queue'], buckets: BUCKETS, registers });

    // Database-backed gauges: prom-client collects all metrics concurrently, so each gauge's
    // collector awaits one shared read of the database per scrape (snapshot()).
    const gauge = <L extends string>(name: string, help: string, labelNames: L[], fill: (g: Gauge<L>, s: Snapshot) => void) =>
      new Gauge<L>({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          const snap = await self.snapshot();
          this.reset();
          fill(this, snap);
        },
      });
    // The same, for the database-backed counters: a total the database keeps, set at each scrape.
    const total = <L extends string>(name: string, help: string, labelNames: L[], fill: (c: Counter<L>, s: Snapshot) => void) =>
      new Counter<L>({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          const snap = await self.snapshot();
          this.reset();
          fill(this, snap);
        },
      });
    const self = this;
    gauge('spindle_queue_jobs', 'Jobs by queue and state.', ['queue', 'state'], (g, s) => {
      for (const [queue, byState] of Object.entries(s.counts)) for (const state of JOB_STATES) g.set({ queue, state }, byState[state]);
    });
    gauge('spindle_dlq_depth', 'Unresolved dead jobs per queue.', ['queue'], (g, s) => {
      for (const d of s.depths) g.set({ queue: d.queue }, d.depth);
    });
    gauge('spindle_queue_oldest_job_age_seconds', 'How long the oldest due job has waited.', ['queue'], (g, s) => {
      for (const [queue, age] of s.oldest) g.set({ queue }, age);
    });
    gauge('spindle_queue_paused', '1 when the queue is paused.', ['queue'], (g, s) => {
      for (const q of s.queues) g.set({ queue: q.name }, q.paused ? 1 : 0);
    });
    gauge('spindle_workers', 'Live workers (seen within 30 s) per queue and kind.', ['queue', 'kind'], (g, s) => {
      for (const w of s.workers) g.inc({ queue: w.queue, kind: w.kind });
    });
    gauge('spindle_worker_busy_slots', 'Handler slots in use, per queue (live workers).', ['queue'], (g, s) => {
      for (const w of s.workers) g.inc({ queue: w.queue }, w.busy);
    });
    gauge('spindle_worker_slots', 'Handler slots (concurrency), per queue (live workers).', ['queue'], (g, s) => {
      for (const w of s.workers) g.inc({ queue: w.queue }, w.concurrency);
    });
    gauge('spindle_topic_high_water', 'Messages published to the partition so far (its next offset).', ['topic', 'partition'], (g, s) => {
      for (const t of s.topics) for (const p of t.offsets) g.set({ topic: t.name, partition: String(p.partition) }, p.highWater);
    });
    total('spindle_topic_published_total', 'Messages ever published to the partition: its high water (offsets are dense from 0).', ['topic', 'partition'], (c, s) => {
      for (const t of s.topics) for (const p of t.offsets) c.inc({ topic: t.name, partition: String(p.partition) }, p.highWater);
    });
    total(
      'spindle_topic_group_consumed_total',
      'Messages the consumer group has consumed (committed) in the partition: its committed offset; it goes down only when the group is sought back.',
      ['topic', 'group', 'partition'],
      (c, s) => {
        for (const gr of s.groups) for (const o of gr.offsets) c.inc({ topic: gr.topic, group: gr.group, partition: String(o.partition) }, o.committed);
      },
    );
    gauge('spindle_topic_start_offset', 'Oldest offset the partition retains.', ['topic', 'partition'], (g, s) => {
      for (const t of s.topics) for (const p of t.offsets) g.set({ topic: t.name, partition: String(p.partition) }, p.startOffset);
    });
    gauge('spindle_topic_group_committed_offset', 'Messages the consumer group has committed (consumed) in the partition.', ['topic', 'group', 'partition'], (g, s) => {
      for (const gr of s.groups) for (const o of gr.offsets) g.set({ topic: gr.topic, group: gr.group, partition: String(o.partition) }, o.committed);
    });
    gauge('spindle_topic_group_lag', 'Messages published and not yet committed by the consumer group.', ['topic', 'group', 'partition'], (g, s) => {
      for (const gr of s.groups) for (const o of gr.offsets) g.set({ topic: gr.topic, group: gr.group, partition: String(o.partition) }, o.lag);
    });
    gauge('spindle_topic_group_members', 'Live members of the consumer group.', ['topic', 'group'], (g, s) => {
      for (const gr of s.groups) g.set({ topic: gr.topic, group: gr.group }, gr.members.length);
    });
    new Gauge({
      name: 'spindle_push_clients',
      help: 'Open SSE and WebSocket streams.',
      registers,
      collect() {
        this.set(streams());
      },
    });
  }

  /** One read of the database shared by the gauges of a scrape (kept for SNAPSHOT_MS). */
  private snapshot(): Promise<Snapshot> {
    if (this.current) return this.current;
    const read = this.readDatabase();
    this.current = read;
    const forget = () => setTimeout(() => this.current === read && (this.current = null), SNAPSHOT_MS).unref();
    read.then(forget, forget);
    return read;
  }

  private async readDatabase(): Promise<Snapshot> {
    const [counts, depths, queues, now, workers, topics] = await Promise.all([
      this.client.counts(),
      this.client.dlq.depth(),
      this.client.listQueues(),
      this.client.now(),
      this.client.listWorkers({ seenWithinMs: 30_000 }),
      this.client.topics.list(),
    ]);
    const groups = (await Promise.all(topics.map((t) => this.client.topics.groups(t.name)))).flat();
    const oldest = new Map<string, number>();
    await Promise.all(
      Object.entries(counts)
        .filter(([, c]) => c.queued > 0)
        .map(async ([queue]) => oldest.set(queue, (await oldestQueuedAgeMs(this.client, queue, now)) / 1000)),
    );
    return { counts, depths, queues, workers, oldest, topics, groups };
  }

  attach(events: EventLog): void {
    this.unsubscribe = events.subscribe({}, (e) => this.observe(e));
  }

  detach(): void {
    this.unsubscribe?.();
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private observe(e: WireEvent): void {
    if (!e.jobId) return;
    const at = Date.parse(e.at);
    const queue = e.queue;
    switch (e.type) {
      case 'job.added':
        this.enqueued.inc({ queue });
        if (e.status === 'queued') this.queuedAt.set(e.jobId, at);
        else if (e.status === 'running') this.started(e.jobId, queue, at, at);
        break;
      case 'job.promoted':
      case 'job.released':
      case 'job.replayed':
      case 'job.rescued':
        if (e.status === 'queued') this.queuedAt.set(e.jobId, at);
        break;
      case 'job.started':
        this.started(e.jobId, queue, at, this.queuedAt.get(e.jobId));
        break;
      case 'job.completed':
        this.completed.inc({ queue });
        this.finished(e.jobId, queue, 'completed', at);
        break;
      case 'job.retrying':
        this.failed.inc({ queue, final: 'false' });
        this.finished(e.jobId, queue, 'failed', at);
        if (e.status === 'queued') this.queuedAt.set(e.jobId, at);
        break;
      case 'job.dead':
        this.failed.inc({ queue, final: 'true' });
        this.deadLettered.inc({ queue });
        this.finished(e.jobId, queue, 'failed', at);
        break;
      case 'job.cancelled':
        this.cancelled.inc({ queue });
        this.finished(e.jobId, queue, 'cancelled', at);
        break;
    }
  }

  private started(jobId: string, queue: string, at: number, dueAt: number | undefined): void {
    this.queuedAt.delete(jobId);
    this.startedAt.set(jobId, at);
    if (dueAt !== undefined) this.waitDuration.observe({ queue }, Math.max(0, at - dueAt) / 1000);
  }

  private finished(jobId: string, queue: string, status: string, at: number): void {
    const started = this.startedAt.get(jobId);
    if (started === undefined) return;
    this.startedAt.delete(jobId);
    this.processDuration.observe({ queue, status }, Math.max(0, at - started) / 1000);
  }
}
