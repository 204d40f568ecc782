/**
 * The numbers `stats` and `top` show per queue: depth by state and DLQ depth (queue views),
 * live workers, throughput from the per-minute stats store (last 5 minutes as a rate, last hour
 * as totals), and latency — run time and wait time (due → started), p50/p95 — from a sample of
 * the most recently completed jobs still retained (the stats store holds counts, not durations).
 */
import type { MinuteView, QueueView, SpindleApi, WorkerView } from './api/types.js';

export function workersByQueue(workers: WorkerView[]): Map<string, { workers: number; busy: number; concurrency: number }> {
  const byQueue = new Map<string, { workers: number; busy: number; concurrency: number }>();
  for (const w of workers) {
    const entry = byQueue.get(w.queue) ?? { workers: 0, busy: 0, concurrency: 0 };
    entry.workers++;
    entry.busy += w.busy;
    entry.concurrency += w.concurrency;
    byQueue.set(w.queue, entry);
  }
  return byQueue;
}

const LATENCY_SAMPLE = 50;

export interface QueueStats extends QueueView {
  workers: number;
  throughput: {
    /** Completed per minute, averaged over the last 5 minutes (the current one included). */
    completedPerMin: number;
    /** Failed attempts (retried + dead) per minute over the same 5 minutes. */
    failedPerMin: number;
    lastHour: Omit<MinuteView, 'minute'>;
  };
  latency: { sample: number; runP50Ms: number | null; runP95Ms: number | null; waitP50Ms: number | null; waitP95Ms: number | null };
}

export interface StatsSnapshot {
  at: string;
  queues: QueueStats[];
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function throughput(rows: MinuteView[], now: number): QueueStats['throughput'] {
  const lastHour = { enqueued: 0, completed: 0, retried: 0, dead: 0, cancelled: 0 };
  const since = Math.floor(now / 60_000) * 60_000 - 4 * 60_000;
  let completed5 = 0;
  let failed5 = 0;
  for (const r of rows) {
    for (const k of Object.keys(lastHour) as Array<keyof typeof lastHour>) lastHour[k] += r[k];
    if (Date.parse(r.minute) >= since) {
      completed5 += r.completed;
      failed5 += r.retried + r.dead;
    }
  }
  return { completedPerMin: completed5 / 5, failedPerMin: failed5 / 5, lastHour };
}

async function latency(api: SpindleApi, queue: string): Promise<QueueStats['latency']> {
  const page = await api.listJobs({ queue, states: ['completed'], limit: LATENCY_SAMPLE });
  const run: number[] = [];
  const wait: number[] = [];
  for (const j of page.jobs) {
    if (!j.startedAt || !j.finishedAt) continue;
    run.push(Date.parse(j.finishedAt) - Date.parse(j.startedAt));
    wait.push(Math.max(0, Date.parse(j.startedAt) - Date.parse(j.runAt)));
  }
  run.sort((a, b) => a - b);
  wait.sort((a, b) => a - b);
  return { sample: run.length, runP50Ms: percentile(run, 50), runP95Ms: percentile(run, 95), waitP50Ms: percentile(wait, 50), waitP95Ms: percentile(wait, 95) };
}

/** One snapshot of every queue (or of `only`, which must exist: see requireQueue). */
export async function collectStats(api: SpindleApi, only?: string): Promise<StatsSnapshot> {
  const [queues, workers] = await Promise.all([only ? api.getQueue(only).then((q) => (q ? [q] : [])) : api.listQueues(), api.listWorkers()]);
  const byQueue = workersByQueue(workers);
  const now = Date.now();
  const stats = await Promise.all(
    queues.map(async (q) => {
      const [rows, lat] = await Promise.all([api.queueStats(q.name), latency(api, q.name)]);
      return { ...q, workers: byQueue.get(q.name)?.workers ?? 0, throughput: throughput(rows, now), latency: lat };
    }),
  );
  return { at: new Date(now).toISOString(), queues: stats };
}
