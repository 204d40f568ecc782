/**
 * The `stats` / `top` table: one row per queue with the figures of stats.ts.
 */
import { formatDuration, type Output } from '../output.js';
import type { StatsSnapshot } from '../stats.js';

const rate = (n: number) => (n === 0 ? '0' : n < 10 ? n.toFixed(1) : String(Math.round(n)));

/** The stats table as lines (top redraws them; stats prints them). */
export function renderStats(out: Output, snapshot: StatsSnapshot): void {
  const c = out.color;
  if (snapshot.queues.length === 0) return out.line('no queues yet (enqueue a job to create one)');
  out.table(
    ['QUEUE', 'STATE', 'QUEUED', 'RUNNING', 'DELAYED', 'DEAD', 'DLQ', 'OLDEST', 'WORKERS', 'DONE/MIN', 'FAIL/MIN', 'IN 1H', 'DONE 1H', 'RUN P50', 'RUN P95', 'WAIT P50', 'WAIT P95'],
    snapshot.queues.map((q) => [
      q.name,
      q.paused ? c.yellow('paused') : 'active',
      q.counts.queued,
      q.counts.running,
      q.counts.scheduled + q.counts.retrying,
      q.counts.dead,
      q.dlqDepth > 0 ? c.red(String(q.dlqDepth)) : 0,
      q.oldestQueuedAgeMs > 0 ? formatDuration(q.oldestQueuedAgeMs) : '-',
      q.workers,
      rate(q.throughput.completedPerMin),
      q.throughput.failedPerMin > 0 ? c.red(rate(q.throughput.failedPerMin)) : '0',
      q.throughput.lastHour.enqueued,
      q.throughput.lastHour.completed,
      formatDuration(q.latency.runP50Ms),
      formatDuration(q.latency.runP95Ms),
      formatDuration(q.latency.waitP50Ms),
      formatDuration(q.latency.waitP95Ms),
    ]),
  );
}
