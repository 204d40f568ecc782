/**
 * Queue routes: every queue with its counts by state, DLQ depth, oldest waiting job, paused
 * flag, limits and hold; one queue; pause and resume; set limits (PUT, replacing them).
 *
 * Invariants:
 * - A queue exists once it has jobs or a pause/resume record; `GET /queues/:queue` of any other
 *   name is a 404 (so names cannot be probed through it).
 * - `oldestQueuedAgeMs` is how long the oldest due job has waited since it became due (database
 *   clock), 0 when none waits.
 * - `GET /queues` is exact unless the caller passes `maxAgeMs`: then it may answer from a read
 *   that started at most that long ago (http/snapshot.ts; `asOf` says when), shared by callers.
 */
import { JOB_STATES, MAX_QUEUE_LIMIT, MAX_RATE_INTERVAL_MS, MIN_RATE_INTERVAL_MS, type Client, type JobState } from '@spindle/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { ApiProblem } from '../http/problem.js';
import { oldestQueuedAgeMs } from '../http/queue-age.js';
import { PROBLEM_RESPONSES, QueueParams } from '../http/schemas.js';
import { Snapshot } from '../http/snapshot.js';
import { queueView } from '../http/views.js';

const QueueView = z.object({
  name: z.string(),
  paused: z.boolean(),
  counts: z.record(z.string(), z.int()),
  dlqDepth: z.int().describe('Dead jobs not yet resolved.'),
  oldestQueuedAgeMs: z.int(),
  limits: z.object({
    concurrency: z.int().nullable().describe('Most jobs running at once across every process; null: no limit.'),
    rate: z.object({ max: z.int(), intervalMs: z.int() }).nullable().describe('Most jobs started per sliding interval; null: no limit.'),
    groupConcurrency: z.int().nullable().describe('Most jobs of one group running at once; null: no limit.'),
    groupRate: z.object({ max: z.int(), intervalMs: z.int() }).nullable().describe('Most jobs of one group started per sliding interval (a rate limit per key); null: no limit.'),
    fifo: z.boolean().describe('One job per group in flight (running or retrying), in submission order.'),
  }),
  heldUntil: z.string().nullable().describe('Claims skip the queue until then (a handler was rate limited); null when not held.'),
  grouped: z.boolean().describe('Its jobs carry groups: claims rotate across them.'),
});

const RateBody = z.strictObject({ max: z.int().min(1).max(MAX_QUEUE_LIMIT), intervalMs: z.int().min(MIN_RATE_INTERVAL_MS).max(MAX_RATE_INTERVAL_MS) });
const LimitsBody = z.strictObject({
  concurrency: z.int().min(1).max(MAX_QUEUE_LIMIT).nullable().optional(),
  rate: RateBody.nullable().optional(),
  groupConcurrency: z.int().min(1).max(MAX_QUEUE_LIMIT).nullable().optional(),
  groupRate: RateBody.nullable().optional(),
  fifo: z.boolean().optional(),
});
type QueueViewBody = z.infer<typeof QueueView>;

const zeroCounts = (): Record<JobState, number> => Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;

async function queueViews(client: Client, only?: string): Promise<QueueViewBody[]> {
  const [queues, counts, depths, now] = await Promise.all([
    client.listQueues(),
    client.counts(only ? { queue: only } : {}),
    client.dlq.depth(only ? { queue: only } : {}),
    client.now(),
  ]);
  const depthOf = new Map(depths.map((d) => [d.queue, d.depth]));
  const names = new Set([...queues.map((q) => q.name), ...Object.keys(counts)]);
  const info = new Map(queues.map((q) => [q.name, q]));
  const selected = [...names].filter((n) => only === undefined || n === only).sort();
  return Promise.all(
    selected.map(async (name) => {
      const c = counts[name] ?? zeroCounts();
      const age = c.queued > 0 ? await oldestQueuedAgeMs(client, name, now) : 0;
      return queueView(name, info.get(name), c, depthOf.get(name) ?? 0, age);
    }),
  );
}

export function queueRoutes({ client }: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    const everyQueue = new Snapshot(() => queueViews(client));
    app.get(
      '/queues',
      {
        config: { access: { action: 'read', queue: 'all' } },
        schema: {
          tags: ['queues'],
          summary: 'Every queue with counts, DLQ depth and oldest job age',
          querystring: z.strictObject({
            maxAgeMs: z.coerce.number().int().min(0).max(60_000).optional().describe(
              'Accept counts read up to this long ago (shared with other callers; default 0: read now). Counting a million retained jobs takes a few hundred ms: dashboards pass a few seconds.',
            ),
          }),
          response: { 200: z.object({ queues: z.array(QueueView), asOf: z.string().describe('When the read of these counts started.') }) },
        },
      },
      async (request) => {
        const { value, startedAt } = await everyQueue.get(request.query.maxAgeMs ?? 0);
        return { queues: value, asOf: new Date(startedAt).toISOString() };
      },
    );

    app.get('/queues/:queue', { config: { access: { action: 'read', queue: 'param' } }, schema: { tags: ['queues'], summary: 'One queue', params: QueueParams, response: { 200: QueueView, ...PROBLEM_RESPONSES } } }, async (request) => {
      const [view] = await queueViews(client, request.params.queue);
      if (!view) throw new ApiProblem(404, 'not_found', `No queue ${request.params.queue}.`);
      return view;
    });

    app.put(
      '/queues/:queue/limits',
      {
        config: { access: { action: 'admin', queue: 'param' } },
        schema: {
          tags: ['queues'],
          summary: 'Set a queue\'s limits across every process (replacing them: an omitted limit is removed)',
          params: QueueParams,
          body: LimitsBody,
          response: { 200: z.object({ name: z.string(), limits: QueueView.shape.limits }), ...PROBLEM_RESPONSES },
        },
      },
      async (request) => {
        const name = request.params.queue;
        const b = request.body;
        const limits = { concurrency: b.concurrency ?? null, rate: b.rate ?? null, groupConcurrency: b.groupConcurrency ?? null, groupRate: b.groupRate ?? null, fifo: b.fifo ?? false };
        await client.setQueueLimits(name, limits);
        return { name, limits };
      },
    );

    for (const action of ['pause', 'resume'] as const) {
      app.post(
        `/queues/:queue/${action}`,
        {
          config: { access: { action: 'admin', queue: 'param' } },
          schema: {
            tags: ['queues'],
            summary: action === 'pause' ? 'Pause a queue: claims skip it, enqueues continue' : 'Resume a paused queue',
            params: QueueParams,
            response: { 200: z.object({ name: z.string(), paused: z.boolean() }), ...PROBLEM_RESPONSES },
          },
        },
        async (request) => {
          const name = request.params.queue;
          if (action === 'pause') await client.pauseQueue(name);
          else await client.resumeQueue(name);
          return { name, paused: action === 'pause' };
        },
      );
    }
  };
}
