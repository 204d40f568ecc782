/**
 * Wait and run-time percentiles over recent minutes, for `GET /stats` (the dashboard's p95
 * cards and latency chart). Fed by the event log like the Prometheus histograms
 * (metrics.ts): wait = due (enqueued, promoted, retried, released…) → started; run = started →
 * completed/retrying/dead/cancelled, from the events' timestamps.
 *
 * Each minute keeps two log-scale histograms (bucket bounds grow by √2 from 1 ms: ±19 % on a
 * percentile, 56 buckets up to ~3 days), for all queues together and per queue.
 *
 * Invariants:
 * - Memory is bounded whatever the traffic: minutes older than `retentionMs` (24 h) are
 *   dropped, per-queue minutes are capped (`MAX_QUEUE_MINUTES`, oldest first), and the start
 *   times kept to compute durations are capped like metrics.ts's (`MAX_TRACKED`).
 * - It is this server's view since it started (events are best effort, DESIGN §8): a restart
 *   begins empty; the per-minute throughput counters, not this, are the durable record.
 */
import type { EventLog, WireEvent } from '../push/event-log.js';
import { BoundedMap } from './bounded-map.js';

const BUCKETS = 56;
const MINUTE = 60_000;
const MAX_TRACKED = 50_000;
const MAX_QUEUE_MINUTES = 20_000;

export interface Percentiles {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

class Hist {
  readonly wait = new Uint32Array(BUCKETS);
  readonly run = new Uint32Array(BUCKETS);
  waitN = 0;
  runN = 0;
  add(other: Hist): void {
    for (let i = 0; i < BUCKETS; i++) {
      this.wait[i]! += other.wait[i]!;
      this.run[i]! += other.run[i]!;
    }
    this.waitN += other.waitN;
    this.runN += other.runN;
  }
}

function bucketOf(ms: number): number {
  if (!(ms >= 1)) return 0;
  return Math.min(BUCKETS - 1, 1 + Math.floor(Math.log2(ms) * 2));
}

/** The value a bucket stands for: the geometric middle of its bounds. */
function valueOf(i: number): number {
  if (i === 0) return 0.5;
  return 2 ** ((i - 0.5) / 2);
}

function quantile(counts: Uint32Array, n: number, q: number): number | null {
  if (n === 0) return null;
  const rank = Math.ceil(q * n);
  let seen = 0;
  for (let i = 0; i < BUCKETS; i++) {
    seen += counts[i]!;
    if (seen >= rank) return Math.round(valueOf(i) * 10) / 10;
  }
  return Math.round(valueOf(BUCKETS - 1));
}

export function percentiles(h: Hist | null, kind: 'wait' | 'run'): Percentiles {
  const counts = h ? h[kind] : new Uint32Array(BUCKETS);
  const n = h ? (kind === 'wait' ? h.waitN : h.runN) : 0;
  return { count: n, p50: quantile(counts, n, 0.5), p95: quantile(counts, n, 0.95), p99: quantile(counts, n, 0.99) };
}


export interface LatencyQuery {
  fromMs: number;
  toMs: number;
  stepMs: number;
  /** Only these queues; null: all. */
  queues: ReadonlySet<string> | null;
}

export interface LatencyAnswer {
  /** One per bucket of the query (null where no sample fell). */
  buckets: Array<Hist | null>;
  total: Hist;
  perQueue: Map<string, Hist>;
}

export class LatencyWindow {
  /** minute → histogram of every queue. */
  private readonly all = new Map<number, Hist>();
  /** `${minute}:${queue}` → histogram (insertion order ≈ time order). */
  private readonly byQueue = new BoundedMap<Hist>(MAX_QUEUE_MINUTES);
  private readonly dueAt = new BoundedMap<number>(MAX_TRACKED);
  private readonly startedAt = new BoundedMap<number>(MAX_TRACKED);
  private unsubscribe: (() => void) | null = null;
  private lastPrune = 0;
  readonly since = new Date();

  constructor(private readonly retentionMs = 24 * 3_600_000) {}

  attach(events: EventLog): void {
    this.unsubscribe = events.subscribe({}, (e) => this.observe(e));
  }

  detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  observe(e: WireEvent): void {
    if (!e.jobId) return;
    const at = Date.parse(e.at);
    switch (e.type) {
      case 'job.added':
        if (e.status === 'queued') this.dueAt.set(e.jobId, at);
        else if (e.status === 'running') this.started(e.jobId, e.queue, at, at);
        break;
      case 'job.promoted':
      case 'job.released':
      case 'job.replayed':
      case 'job.rescued':
      case 'job.retried':
        if (e.status === 'queued') this.dueAt.set(e.jobId, at);
        break;
      case 'job.started':
        this.started(e.jobId, e.queue, at, this.dueAt.get(e.jobId));
        break;
      case 'job.retrying':
        this.finished(e.jobId, e.queue, at);
        if (e.status === 'queued') this.dueAt.set(e.jobId, at);
        break;
      case 'job.completed':
      case 'job.dead':
      case 'job.cancelled':
        this.finished(e.jobId, e.queue, at);
        break;
    }
  }

  private started(jobId: string, queue: string, at: number, due: number | undefined): void {
    this.dueAt.delete(jobId);
    this.startedAt.set(jobId, at);
    if (due !== undefined) this.record(queue, at, 'wait', Math.max(0, at - due));
  }

  private finished(jobId: string, queue: string, at: number): void {
    const started = this.startedAt.get(jobId);
    if (started === undefined) return;
    this.startedAt.delete(jobId);
    this.record(queue, at, 'run', Math.max(0, at - started));
  }

  private record(queue: string, at: number, kind: 'wait' | 'run', ms: number): void {
    const minute = Math.floor(at / MINUTE) * MINUTE;
    this.prune(minute);
    const b = bucketOf(ms);
    for (const h of [this.hist(this.all, minute), this.queueHist(minute, queue)]) {
      h[kind][b]!++;
      if (kind === 'wait') h.waitN++;
      else h.runN++;
    }
  }

  private hist(map: Map<number, Hist>, minute: number): Hist {
    let h = map.get(minute);
    if (!h) map.set(minute, (h = new Hist()));
    return h;
  }

  private queueHist(minute: number, queue: string): Hist {
    const key = `${minute}:${queue}`;
    let h = this.byQueue.get(key);
    if (!h) this.byQueue.set(key, (h = new Hist()));
    return h;
  }

  private prune(nowMinute: number): void {
    if (nowMinute - this.lastPrune < MINUTE) return;
    this.lastPrune = nowMinute;
    const cutoff = nowMinute - this.retentionMs;
    for (const m of this.all.keys()) if (m < cutoff) this.all.delete(m);
    for (const key of this.byQueue.keys()) {
      if (Number(key.slice(0, key.indexOf(':'))) < cutoff) this.byQueue.delete(key);
      else break; // insertion order: the rest is newer
    }
  }

  /** Histograms of the query's buckets, total and per queue. */
  query(q: LatencyQuery): LatencyAnswer {
    const count = Math.ceil((q.toMs - q.fromMs) / q.stepMs);
    const buckets: Array<Hist | null> = Array.from({ length: count }, () => null);
    const total = new Hist();
    const perQueue = new Map<string, Hist>();
    const place = (minute: number, h: Hist) => {
      const i = Math.floor((minute - q.fromMs) / q.stepMs);
      if (i < 0 || i >= count) return false;
      (buckets[i] ??= new Hist()).add(h);
      total.add(h);
      return true;
    };
    if (q.queues === null) {
      for (const [minute, h] of this.all) place(minute, h);
    }
    for (const [key, h] of this.byQueue) {
      const colon = key.indexOf(':');
      const minute = Number(key.slice(0, colon));
      const queue = key.slice(colon + 1);
      if (q.queues !== null && !q.queues.has(queue)) continue;
      if (minute < q.fromMs || minute >= q.toMs) continue;
      if (q.queues !== null) place(minute, h);
      let pq = perQueue.get(queue);
      if (!pq) perQueue.set(queue, (pq = new Hist()));
      pq.add(h);
    }
    return { buckets, total, perQueue };
  }
}
