/**
 * Who is working and how much got done: `GET /workers` (library and HTTP workers from the shared
 * registry, live ones by default) and `GET /queues/:queue/stats` (per-minute throughput counters
 * that survive job deletion, for charts).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { InstantSchema, NameSchema, PROBLEM_RESPONSES, QueueParams } from '../http/schemas.js';
import { minuteView, workerView } from '../http/views.js';

/** A worker not seen for this long is left out unless `all=true` (library workers report every 5 s). */
const LIVE_WITHIN_MS = 30_000;

const WorkerView = z.object({
  id: z.string(),
  queue: z.string(),
  kind: z.enum(['library', 'http']),
  host: z.string(),
  pid: z.int().nullable(),
  concurrency: z.int(),
  busy: z.int(),
  startedAt: z.string(),
  lastSeenAt: z.string(),
});

const MinuteView = z.object({ minute: z.string(), enqueued: z.int(), completed: z.int(), retried: z.int(), dead: z.int(), cancelled: z.int() });

export function workerRoutes({ client }: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/workers',
      {
        config: { access: { action: 'read', queue: 'query' } },
        schema: {
          tags: ['workers'],
          summary: 'Workers (host, pid, queue, concurrency, busy slots, last heartbeat)',
          querystring: z.strictObject({ queue: NameSchema.optional(), all: z.enum(['true', 'false']).optional().describe('Include workers not seen for 30 s.') }),
          response: { 200: z.object({ workers: z.array(WorkerView) }), ...PROBLEM_RESPONSES },
        },
      },
      async (request) => {
        const { queue, all } = request.query;
        const workers = await client.listWorkers({ ...(queue ? { queue } : {}), ...(all === 'true' ? {} : { seenWithinMs: LIVE_WITHIN_MS }) });
        return { workers: workers.map(workerView) };
      },
    );

    app.get(
      '/queues/:queue/stats',
      {
        config: { access: { action: 'read', queue: 'param' } },
        schema: {
          tags: ['queues'],
          summary: 'Per-minute throughput of a queue (default: the last hour; at most 31 days)',
          params: QueueParams,
          querystring: z.strictObject({ from: InstantSchema.optional(), to: InstantSchema.optional() }),
          response: { 200: z.object({ minutes: z.array(MinuteView) }), ...PROBLEM_RESPONSES },
        },
      },
      async (request) => {
        const now = await client.now();
        const to = request.query.to ? new Date(request.query.to) : now;
        const from = request.query.from ? new Date(request.query.from) : new Date(to.getTime() - 3_600_000);
        const rows = await client.readStats({ queue: request.params.queue, from, to });
        return {
          minutes: rows.map(minuteView),
        };
      },
    );
  };
}
