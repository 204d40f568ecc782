/**
 * The queue and throughput data the overview and queue pages share: API shapes (as much as the
 * views read), the reads (`GET /queues`, `GET /queues/:q`, `GET /stats`), and number/age
 * formatting.
 *
 * Invariants:
 * - Only aggregate endpoints are read (counts by state, per-minute counters): nothing here
 *   scans jobs, so the pages cost the same with 1,000 or 1,000,000 jobs.
 * - Every helper returns plain values or SafeHtml built with `html`; nothing trusts a name.
 */
import type { FastifyRequest } from 'fastify';
import type { ApiAnswer, DashboardContext } from './context.js';

export interface QueueJson {
  name: string;
  paused: boolean;
  counts: Record<string, number>;
  dlqDepth: number;
  oldestQueuedAgeMs: number;
  limits?: { concurrency: number | null; rate: { max: number; intervalMs: number } | null; groupConcurrency: number | null; fifo: boolean };
  heldUntil?: string | null;
}

export interface StatsCounts {
  enqueued: number;
  completed: number;
  retried: number;
  dead: number;
  cancelled: number;
}

export interface P95 {
  waitP95Ms: number | null;
  runP95Ms: number | null;
}

export interface PercentilesJson {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface StatsJson {
  from: string;
  to: string;
  stepSeconds: number;
  totals: StatsCounts;
  buckets: Array<StatsCounts & P95 & { at: string }>;
  queues: Array<StatsCounts & P95 & { queue: string }>;
  /** Wait/run percentiles as the server observed them (in memory, last 24 h, since it started). */
  latency?: { since: string; wait: PercentilesJson; run: PercentilesJson };
}

/** The chart ranges the pages offer, with their bucket size. */
export const RANGES = {
  '1h': { ms: 3_600_000, stepSeconds: 60, label: '1 hour' },
  '6h': { ms: 6 * 3_600_000, stepSeconds: 300, label: '6 hours' },
  '24h': { ms: 24 * 3_600_000, stepSeconds: 900, label: '24 hours' },
} as const;
export type RangeKey = keyof typeof RANGES;

export function rangeOf(value: unknown): RangeKey {
  return typeof value === 'string' && Object.hasOwn(RANGES, value) ? (value as RangeKey) : '1h';
}

/** A queue whose oldest due job has waited longer than this is a problem queue. */
export const OLDEST_WARN_MS = 5 * 60_000;

export const sum = (queues: QueueJson[], state: string) => queues.reduce((s, q) => s + (q.counts[state] ?? 0), 0);

/**
 * Every queue with its counts. `maxAgeMs` > 0 accepts counts read that long ago (shared with
 * other callers: `GET /queues?maxAgeMs`), for views without controls whose result must show at
 * once; 0 (the default) reads now.
 */
export function readQueues(ctx: DashboardContext, request: FastifyRequest, maxAgeMs = 0): Promise<ApiAnswer<{ queues: QueueJson[]; asOf?: string }>> {
  return ctx.api<{ queues: QueueJson[]; asOf?: string }>(request, 'GET', maxAgeMs > 0 ? `/queues?maxAgeMs=${maxAgeMs}` : '/queues');
}

/**
 * When counts read at `asOf` may miss a change the page was told about — the shared read
 * started before this request arrived (`requestedAt`), and a live tick comes once per change —
 * the delay after which the fragment refreshes itself once more, just past that read's expiry;
 * null when the read started after the request arrived (it saw everything before it).
 */
export function catchUpDelayMs(asOf: string | undefined, requestedAt: number): number | null {
  if (asOf === undefined) return null;
  const age = requestedAt - Date.parse(asOf);
  return Number.isFinite(age) && age > 0 ? Math.max(100, OVERVIEW_MAX_AGE_MS - age + 100) : null;
}

/** The hx-trigger of a fragment refreshed by live ticks, plus one catch-up refresh when due. */
export function tickTrigger(catchUpMs: number | null): string {
  return catchUpMs === null ? 'live:tick from:body' : `live:tick from:body, load delay:${Math.round(catchUpMs)}ms`;
}

/** How old the overview's counts may be: it refreshes every second or two, counting a million jobs costs a few hundred ms. */
export const OVERVIEW_MAX_AGE_MS = 2_000;

export function readStats(ctx: DashboardContext, request: FastifyRequest, range: RangeKey, queue?: string): Promise<ApiAnswer<StatsJson>> {
  const r = RANGES[range];
  const params = new URLSearchParams({ from: new Date(Date.now() - r.ms).toISOString(), stepSeconds: String(r.stepSeconds) });
  if (queue) params.set('queue', queue);
  return ctx.api<StatsJson>(request, 'GET', `/stats?${params}`);
}

/** The window of the "now" figures (cards, per-queue rates). */
export const RECENT_MS = 5 * 60_000;

/** Stats of the last 5 minutes (one bucket per minute): the cards' "now". */
export function readRecent(ctx: DashboardContext, request: FastifyRequest, queue?: string): Promise<ApiAnswer<StatsJson>> {
  const params = new URLSearchParams({ from: new Date(Date.now() - RECENT_MS).toISOString() });
  if (queue) params.set('queue', queue);
  return ctx.api<StatsJson>(request, 'GET', `/stats?${params}`);
}

/** Failed attempts (retried + dead) over all finished attempts, 0..1; null when none finished. */
export function failureRate(c: StatsCounts): number | null {
  const finished = c.completed + c.retried + c.dead;
  return finished === 0 ? null : (c.retried + c.dead) / finished;
}

/** Completed jobs per minute over the window. */
export function perMinute(count: number, windowMs: number): number {
  return windowMs <= 0 ? 0 : count / (windowMs / 60_000);
}

export function fmtNum(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  if (Math.abs(n) >= 10_000) return Math.round(n).toLocaleString('en-US');
  if (Number.isInteger(n)) return String(n);
  return n < 10 ? n.toFixed(2) : n.toFixed(1);
}

export function fmtPercent(x: number | null): string {
  return x === null ? '—' : `${(x * 100).toFixed(x < 0.1 ? 2 : 1)} %`;
}

/** Milliseconds as `850 ms`, `12 s`, `4 min 5 s`, `2 h 3 min`, `3 d 4 h`; `—` for 0/none. */
export function fmtAge(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms <= 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** A latency in milliseconds (`—` for none): `0.7 ms`, `85 ms`, `2.5 s`, then as fmtAge. */
export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return fmtAge(ms);
}

/** Why a queue needs attention (empty when it does not). */
export function problemsOf(q: QueueJson): string[] {
  const out: string[] = [];
  if (q.paused) out.push('paused');
  if (q.dlqDepth > 0) out.push(`${q.dlqDepth} in the DLQ`);
  if (q.oldestQueuedAgeMs > OLDEST_WARN_MS) out.push(`oldest job waiting ${fmtAge(q.oldestQueuedAgeMs)}`);
  return out;
}

/** The chart data of a stats answer for app.js: unix seconds and one array per series. */
export function chartData(stats: StatsJson): { t: number[]; series: Array<{ label: string; values: number[] }> } {
  const b = stats.buckets;
  return {
    t: b.map((x) => Date.parse(x.at) / 1000),
    series: [
      { label: 'completed', values: b.map((x) => x.completed) },
      { label: 'enqueued', values: b.map((x) => x.enqueued) },
      { label: 'failed', values: b.map((x) => x.retried + x.dead) },
    ],
  };
}

/** The latency chart's data: p95 wait and run time per bucket (null gaps where no sample). */
export function latencyChartData(stats: StatsJson): { t: number[]; series: Array<{ label: string; values: Array<number | null> }> } {
  const b = stats.buckets;
  return {
    t: b.map((x) => Date.parse(x.at) / 1000),
    series: [
      { label: 'p95 wait (ms)', values: b.map((x) => x.waitP95Ms ?? null) },
      { label: 'p95 run (ms)', values: b.map((x) => x.runP95Ms ?? null) },
    ],
  };
}

/** An API error answer as one line for the page. */
export function problemLine(answer: ApiAnswer<unknown>): string {
  const body = answer.body as { title?: unknown; detail?: unknown } | null;
  const detail = body && typeof body === 'object' ? (body.detail ?? body.title) : null;
  return `The API answered ${answer.status}${typeof detail === 'string' ? `: ${detail}` : ''}`;
}
