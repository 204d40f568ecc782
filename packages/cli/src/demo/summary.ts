/**
 * The demo's summary: a snapshot of the demo's queues read from the client (counts per state,
 * DLQ depth) plus what this demo instance did (uploads, emails, notifications), refreshed on a
 * timer so that `summary()` is synchronous and cheap; and its rendering as a small text table.
 *
 * The counts are the database's (every process, every run); the other numbers are this run's.
 */
import type { Client, JobState } from '@spindle/core';
import type { ResolvedDemoOptions } from './options.js';
import type { TranscoderPool } from './pool.js';
import type { Producer } from './producer.js';
import { QUEUE_ROLES, QUEUES, type Tier } from './scenario.js';
import type { DemoCounters } from './workers.js';

export interface DemoQueueSummary {
  name: string;
  role: string;
  queued: number;
  scheduled: number;
  /** Flow parents waiting for their children (notifications). */
  waiting: number;
  running: number;
  retrying: number;
  completed: number;
  dead: number;
}

/** The run's state; its DemoCounters say what this run's handlers did (a restarted demo counts
 *  from zero; the queue counts do not). */
export interface DemoSummary extends DemoCounters {
  seed: number;
  speed: number;
  startedAt: string;
  /** Time since start (frozen at stop). */
  uptimeMs: number;
  stopped: boolean;
  /** Uploads this run added, in how many bursts, numbered from `firstUpload`. */
  uploadsSubmitted: number;
  bursts: number;
  firstUpload: number;
  queues: DemoQueueSummary[];
  /** Unresolved dead jobs of the demo's queues (the DLQ alert fires while it is > 0). */
  dlqDepth: number;
  /** Uploads not started yet (queued, scheduled, or claimed and waiting for a transcoder), one sample per refresh. */
  backlogHistory: number[];
  /** The shared pool now: slots held per tier, and jobs claimed but waiting for a slot. */
  transcoders: { size: number; paidWeight: number; busy: Record<Tier, number>; waiting: Record<Tier, number> };
  /** When the counts were read (null before the first read). */
  countsAt: string | null;
}

const DEMO_QUEUES = [QUEUES.paid, QUEUES.free, QUEUES.transcode, QUEUES.moderation, QUEUES.notifications];
const HISTORY = 60;

export class SummaryTracker {
  private readonly startedAt = Date.now();
  private queues: DemoQueueSummary[] = DEMO_QUEUES.map((name) => ({ name, role: QUEUE_ROLES[name] ?? '', queued: 0, scheduled: 0, waiting: 0, running: 0, retrying: 0, completed: 0, dead: 0 }));
  private dlqDepth = 0;
  private history: number[] = [];
  private countsAt: Date | null = null;
  private timer: NodeJS.Timeout | null = null;
  private reading: Promise<void> | null = null;
  private stoppedAt: number | null = null;

  constructor(
    private readonly client: Client,
    private readonly o: ResolvedDemoOptions,
    private readonly sources: { producer: Producer; counters: DemoCounters; pool: TranscoderPool<Tier> },
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
    void this.refresh();
  }

  /** Reads the counts now (one read at a time; a failed read keeps the last snapshot). */
  refresh(): Promise<void> {
    this.reading ??= this.read()
      .catch(() => undefined)
      .finally(() => {
        this.reading = null;
      });
    return this.reading;
  }

  /** A last read, then no more. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.reading;
    await this.refresh();
    this.stoppedAt = Date.now();
  }

  private async read(): Promise<void> {
    const [counts, depths] = await Promise.all([this.client.counts(), this.client.dlq.depth()]);
    const get = (queue: string, state: JobState) => counts[queue]?.[state] ?? 0;
    this.queues = DEMO_QUEUES.map((name) => ({
      name,
      role: QUEUE_ROLES[name] ?? '',
      queued: get(name, 'queued'),
      scheduled: get(name, 'scheduled'),
      waiting: get(name, 'waiting'),
      running: get(name, 'running'),
      retrying: get(name, 'retrying'),
      completed: get(name, 'completed'),
      dead: get(name, 'dead'),
    }));
    this.dlqDepth = depths.filter((d) => DEMO_QUEUES.includes(d.queue as (typeof DEMO_QUEUES)[number])).reduce((n, d) => n + d.depth, 0);
    // Claimed jobs waiting for a transcoder have not started either: they are part of the backlog.
    const { waiting } = this.sources.pool.stats();
    const backlog = [QUEUES.paid, QUEUES.free].reduce((n, q) => n + get(q, 'queued') + get(q, 'scheduled'), waiting.paid + waiting.free);
    this.history = [...this.history, backlog].slice(-HISTORY);
    this.countsAt = new Date();
  }

  snapshot(): DemoSummary {
    const { producer, counters, pool } = this.sources;
    const { busy, waiting, size } = pool.stats();
    return {
      seed: this.o.seed,
      speed: this.o.speed,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeMs: (this.stoppedAt ?? Date.now()) - this.startedAt,
      stopped: this.stoppedAt !== null,
      uploadsSubmitted: producer.submitted,
      bursts: producer.bursts,
      firstUpload: producer.firstSeq,
      queues: this.queues.map((q) => ({ ...q })),
      dlqDepth: this.dlqDepth,
      backlogHistory: [...this.history],
      transcoders: { size, paidWeight: this.o.paidWeight, busy, waiting },
      ...counters,
      countsAt: this.countsAt?.toISOString() ?? null,
    };
  }
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

const BARS = '▁▂▃▄▅▆▇█';

function sparkline(values: number[]): string {
  const max = Math.max(1, ...values);
  return values.map((v) => (v === 0 ? ' ' : BARS[Math.min(BARS.length - 1, Math.floor((v / max) * (BARS.length - 1)))])).join('');
}

/** The summary as a compact plain-text table for a terminal. */
export function renderDemoSummary(s: DemoSummary): string {
  const lines: string[] = [];
  const state = s.stopped ? 'stopped' : 'running';
  lines.push(`Spindle demo (${state})  seed ${s.seed}  speed ${s.speed}x  up ${duration(s.uptimeMs)}  ${s.uploadsSubmitted} uploads in ${s.bursts} bursts (from #${s.firstUpload})`);
  const head = ['queue', 'queued', 'waiting', 'running', 'retrying', 'completed', 'dead'];
  const rows = s.queues.map((q) => [q.name, String(q.queued + q.scheduled), String(q.waiting), String(q.running), String(q.retrying), String(q.completed), String(q.dead)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  lines.push(`${fmt(head)}  role`);
  s.queues.forEach((q, i) => lines.push(`${fmt(rows[i]!)}  ${q.role}`));
  const t = s.transcoders;
  const busy = t.busy.paid + t.busy.free;
  lines.push(`transcoders ${busy}/${t.size} busy (paid ${t.busy.paid}, free ${t.busy.free}; paid weighted ${t.paidWeight}:1)  claimed, waiting for a slot: paid ${t.waiting.paid}, free ${t.waiting.free}`);
  const last = s.backlogHistory.at(-1) ?? 0;
  const peak = Math.max(0, ...s.backlogHistory);
  lines.push(`uploads waiting ${String(last).padStart(3)} |${sparkline(s.backlogHistory)}| peak ${peak}`);
  const alert = s.dlqDepth > 0 ? 'DLQ alert firing' : 'DLQ empty';
  lines.push(`DLQ ${s.dlqDepth} dead (${alert})  emails retried ${s.emailsRetried} (${s.emailFailures} failed attempts)  notifications sent ${s.notificationsSent}`);
  return lines.join('\n');
}
