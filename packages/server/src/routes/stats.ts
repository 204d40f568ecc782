/**
 * `GET /stats`: throughput over a window for charts and summaries — the per-minute counters
 * (enqueued, completed, retried, dead, cancelled; they survive job deletion) summed over every
 * queue (or the `queue` filter) into `step`-sized buckets, with totals per queue and overall.
 * The dashboard's overview and queue pages read it; it never scans jobs. With it, wait and
 * run-time percentiles of the same window as this server observed them (`latency`, and p95 per
 * bucket and per queue; metrics/latency-window.ts: in memory, the last 24 h, since start).
 *
 * Invariants:
 * - The buckets cover [from, to) without gaps: a bucket with no counted outcome is all zeros.
 * - At most 1,500 buckets per answer (the step is raised to fit) and at most 31 days.
 * - Counters are approximate (best effort, flushed by each process every few seconds).
 */
import { STATS_FIELDS, type StatsRow } from '@spindle/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { ApiProblem } from '../http/problem.js';
import { csv, InstantSchema, NameSchema, PROBLEM_RESPONSES } from '../http/schemas.js';
import { percentiles } from '../metrics/latency-window.js';

const MAX_BUCKETS = 1500;
const MAX_RANGE_MS = 31 * 24 * 3_600_000;
const MINUTE = 60_000;

const Counts = z.object({ enqueued: z.int(), completed: z.int(), retried: z.int(), dead: z.int(), cancelled: z.int() });
const Ms = z.number().nullable();
const Percentiles = z.object({ count: z.int(), p50: Ms, p95: Ms, p99: Ms }).describe('Milliseconds; null without samples.');
const P95 = { waitP95Ms: Ms.describe('95th percentile of wait (due → started), ms.'), runP95Ms: Ms.describe('95th percentile of run time (started → outcome), ms.') };
type CountsBody = z.infer<typeof Counts>;

const zero = (): CountsBody => ({ enqueued: 0, completed: 0, retried: 0, dead: 0, cancelled: 0 });
function add(into: CountsBody, row: StatsRow): void {
  for (const f of STATS_FIELDS) into[f] += row[f];
}

export function statsRoutes({ client, latency }: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/stats',
      {
        config: { access: { action: 'read', queue: 'query' } },
        schema: {
          tags: ['queues'],
          summary: 'Throughput over a window: per-minute counters summed into buckets, with totals per queue (default: the last hour, 1-minute buckets)',
          querystring: z.strictObject({
            from: InstantSchema.optional(),
            to: InstantSchema.optional(),
            queue: csv(NameSchema).optional().describe('Only these queues (comma-separated).'),
            stepSeconds: z.coerce.number().int().min(60).max(86_400).multipleOf(60).optional().describe('Bucket size; default 60 (raised to keep at most 1,500 buckets).'),
          }),
          response: {
            200: z.object({
              from: z.string(),
              to: z.string(),
              stepSeconds: z.int(),
              totals: Counts,
              buckets: z.array(Counts.extend({ at: z.string().describe('Start of the bucket.'), ...P95 })),
              queues: z.array(Counts.extend({ queue: z.string(), ...P95 })),
              latency: z
                .object({ since: z.string().describe('When this server started observing (percentiles cover the window after it, at most 24 h).'), wait: Percentiles, run: Percentiles })
                .describe("Wait and run-time percentiles over the window, as this server observed them (in memory)."),
            }),
            ...PROBLEM_RESPONSES,
          },
        },
      },
      async (request) => {
        const q = request.query;
        const now = await client.now();
        const to = q.to ? new Date(q.to) : now;
        // Whole minutes: the counters are per minute.
        const toMs = Math.ceil(to.getTime() / MINUTE) * MINUTE;
        const fromMs = Math.floor((q.from ? Date.parse(q.from) : toMs - 3_600_000) / MINUTE) * MINUTE;
        if (fromMs >= toMs) throw new ApiProblem(400, 'validation_failed', 'from must be before to.', { issues: [{ path: 'querystring.from', message: 'must be before to' }] });
        if (toMs - fromMs > MAX_RANGE_MS) throw new ApiProblem(400, 'validation_failed', 'The window is at most 31 days.', { issues: [{ path: 'querystring.from', message: 'at most 31 days before to' }] });
        let stepMs = (q.stepSeconds ?? 60) * 1000;
        while ((toMs - fromMs) / stepMs > MAX_BUCKETS) stepMs += MINUTE;
        const only = q.queue ? new Set(q.queue) : null;
        const rows = await client.readStats({ ...(only?.size === 1 ? { queue: [...only][0]! } : {}), from: new Date(fromMs), to: new Date(toMs) });
        const count = Math.ceil((toMs - fromMs) / stepMs);
        const lat = latency.query({ fromMs, toMs, stepMs, queues: only });
        const p95 = (h: Parameters<typeof percentiles>[0]) => ({ waitP95Ms: percentiles(h, 'wait').p95, runP95Ms: percentiles(h, 'run').p95 });
        const buckets = Array.from({ length: count }, (_, i) => ({ at: new Date(fromMs + i * stepMs).toISOString(), ...zero(), ...p95(lat.buckets[i] ?? null) }));
        const totals = zero();
        const perQueue = new Map<string, CountsBody>();
        for (const row of rows) {
          if (only && !only.has(row.queue)) continue;
          const i = Math.floor((row.minute.getTime() - fromMs) / stepMs);
          if (i < 0 || i >= count) continue;
          add(buckets[i]!, row);
          add(totals, row);
          let pq = perQueue.get(row.queue);
          if (!pq) perQueue.set(row.queue, (pq = zero()));
          add(pq, row);
        }
        return {
          from: new Date(fromMs).toISOString(),
          to: new Date(toMs).toISOString(),
          stepSeconds: stepMs / 1000,
          totals,
          buckets,
          queues: [...new Set([...perQueue.keys(), ...lat.perQueue.keys()])].sort().map((queue) => ({ queue, ...(perQueue.get(queue) ?? zero()), ...p95(lat.perQueue.get(queue) ?? null) })),
          latency: { since: latency.since.toISOString(), wait: percentiles(lat.total, 'wait'), run: percentiles(lat.total, 'run') },
        };
      },
    );
  };
}
