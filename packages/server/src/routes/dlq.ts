/**
 * Dead-letter queue routes: depth per queue, dead jobs of a queue (filters, paging), grouped by
 * failure reason, and replay / purge / resolve.
 *
 * Invariants:
 * - Every action is scoped to the queue in the path: ids of another queue's jobs are not
 *   touched (the selection always carries `queue`).
 * - A selection is exactly one of `ids` (≤ 1,000, answered at once with 200), `filter` or
 *   `all: true` (run as an operation: 202 and `GET /operations/:id`).
 */
import type { DlqFilter } from '@spindle/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { DlqListQuery, listParams } from '../http/list-query.js';
import { ApiProblem } from '../http/problem.js';
import { InstantSchema, JobIdSchema, JobPageView, NameSchema, PROBLEM_RESPONSES, QueueParams } from '../http/schemas.js';
import { jobView } from '../http/views.js';

const FilterSchema = z.strictObject({
  name: NameSchema.optional(),
  payloadContains: z.string().min(1).max(500).optional(),
  errorContains: z.string().min(1).max(500).optional(),
  reason: z.string().max(200).optional().describe('The exact failure reason of a group (empty: no reason).'),
  resolved: z.boolean().optional(),
  createdAfter: InstantSchema.optional(),
  createdBefore: InstantSchema.optional(),
  failedAfter: InstantSchema.optional(),
  failedBefore: InstantSchema.optional(),
});

const Selection = {
  ids: z.array(JobIdSchema).min(1).max(1000).optional(),
  filter: FilterSchema.optional(),
  all: z.literal(true).optional(),
};

const ReplayBody = z.strictObject({ ...Selection, toQueue: NameSchema.optional(), payload: z.unknown().optional().describe('New payload; only with exactly one id.') });
const PurgeBody = z.strictObject(Selection);
const ResolveBody = z.strictObject({ ...Selection, note: z.string().min(1).max(2000) });

const OperationAccepted = z.object({ operationId: z.string(), status: z.literal('running') });

type SelectionBody = { ids?: string[] | undefined; filter?: z.infer<typeof FilterSchema> | undefined; all?: true | undefined };

/** The body's selection as a DLQ filter confined to `queue`; whether it is by ids. */
function scoped(queue: string, body: SelectionBody): { filter: DlqFilter; byIds: boolean } {
  const given = [body.ids, body.filter, body.all].filter((x) => x !== undefined).length;
  if (given !== 1) throw new ApiProblem(400, 'validation_failed', 'Give exactly one of ids, filter or all: true.', { issues: [{ path: 'body', message: 'exactly one of ids, filter, all' }] });
  const filter: DlqFilter = { queue };
  if (body.ids) filter.ids = body.ids;
  const f = body.filter;
  if (f) {
    if (f.name) filter.name = f.name;
    if (f.payloadContains) filter.payloadContains = f.payloadContains;
    if (f.errorContains) filter.errorContains = f.errorContains;
    if (f.reason !== undefined) filter.reason = f.reason;
    if (f.resolved !== undefined) filter.resolved = f.resolved;
    for (const key of ['createdAfter', 'createdBefore', 'failedAfter', 'failedBefore'] as const) if (f[key]) filter[key] = new Date(f[key]);
  }
  return { filter, byIds: body.ids !== undefined };
}

export function dlqRoutes({ client, operations }: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/dlq',
      { config: { access: { action: 'read', queue: 'all' } }, schema: { tags: ['dlq'], summary: 'DLQ depth (unresolved dead jobs) per queue', response: { 200: z.object({ queues: z.array(z.object({ queue: z.string(), depth: z.int() })) }) } } },
      async () => ({ queues: await client.dlq.depth() }),
    );

    app.get(
      '/dlq/:queue/jobs',
      { config: { access: { action: 'read', queue: 'param' } }, schema: { tags: ['dlq'], summary: 'Dead jobs of a queue', params: QueueParams, querystring: DlqListQuery, response: { 200: JobPageView, ...PROBLEM_RESPONSES } } },
      async (request) => {
        const q = request.query;
        const filter: DlqFilter = { queue: request.params.queue };
        if (q.resolved) filter.resolved = q.resolved === 'true';
        const page = await client.dlq.list(listParams(q, filter));
        return { jobs: page.jobs.map((j) => jobView(j, { includePayload: request.grant.allows('read-payload', j.queue) })), nextCursor: page.nextCursor };
      },
    );

    app.get(
      '/dlq/:queue/groups',
      {
        config: { access: { action: 'read', queue: 'param' } },
        schema: {
          tags: ['dlq'],
          summary: 'Dead jobs of a queue grouped by failure reason',
          params: QueueParams,
          querystring: z.strictObject({
            limit: z.coerce.number().int().min(1).max(1000).optional(),
            resolved: z.enum(['true', 'false']).optional().describe('Only resolved (true) or unresolved (false) dead jobs; default both.'),
          }),
          response: {
            200: z.object({ groups: z.array(z.object({ reason: z.string(), count: z.int(), firstFailedAt: z.string(), lastFailedAt: z.string(), sampleJobId: z.string() })) }),
            ...PROBLEM_RESPONSES,
          },
        },
      },
      async (request) => {
        const filter: DlqFilter = { queue: request.params.queue };
        if (request.query.resolved) filter.resolved = request.query.resolved === 'true';
        const groups = await client.dlq.groups({ filter, limit: request.query.limit ?? 100 });
        return {
          groups: groups.map((g) => ({ reason: g.reason, count: g.count, firstFailedAt: g.firstFailedAt.toISOString(), lastFailedAt: g.lastFailedAt.toISOString(), sampleJobId: g.sampleJobId })),
        };
      },
    );

    app.post(
      '/dlq/:queue/replay',
      {
        config: { access: { action: 'dlq', queue: 'param' } },
        schema: {
          tags: ['dlq'],
          summary: 'Replay dead jobs into their queue (or toQueue): attempts reset, history kept',
          params: QueueParams,
          body: ReplayBody,
          response: { 200: z.object({ replayed: z.int(), ids: z.array(z.string()), skipped: z.array(z.string()) }), 202: OperationAccepted, ...PROBLEM_RESPONSES },
        },
      },
      async (request, reply) => {
        const { filter, byIds } = scoped(request.params.queue, request.body);
        const { toQueue, payload } = request.body;
        if (payload !== undefined) {
          // Replacing the payload needs a selection of one id of this queue.
          const id = request.body.ids?.length === 1 ? request.body.ids[0]! : null;
          const job = id ? await client.dlq.get(id) : null;
          if (!id) throw new ApiProblem(400, 'validation_failed', 'payload can only be replaced when replaying exactly one id.', { issues: [{ path: 'body.payload', message: 'needs ids: [one id]' }] });
          if (!job || job.queue !== request.params.queue) throw new ApiProblem(404, 'not_found', `No dead job ${id} in ${request.params.queue}.`);
          return client.dlq.replay({ ids: [id], payload, ...(toQueue ? { toQueue } : {}) });
        }
        if (byIds) return client.dlq.replay({ filter, ...(toQueue ? { toQueue } : {}) });
        const op = operations.start('dlq.replay', async (report) => {
          const summary = await client.dlq.replay({ filter, ...(toQueue ? { toQueue } : {}) }, report);
          return { replayed: summary.replayed, skipped: summary.skipped.length };
        });
        return reply.code(202).send({ operationId: op.id, status: 'running' as const });
      },
    );

    app.post(
      '/dlq/:queue/purge',
      {
        config: { access: { action: 'dlq', queue: 'param' } },
        schema: {
          tags: ['dlq'],
          summary: 'Delete dead jobs for good',
          params: QueueParams,
          body: PurgeBody,
          response: { 200: z.object({ purged: z.int() }), 202: OperationAccepted, ...PROBLEM_RESPONSES },
        },
      },
      async (request, reply) => {
        const { filter, byIds } = scoped(request.params.queue, request.body);
        if (byIds) return { purged: await client.dlq.purge({ filter }) };
        const op = operations.start('dlq.purge', async (report) => {
          const purged = await client.dlq.purge({ filter }, report);
          return { purged };
        });
        return reply.code(202).send({ operationId: op.id, status: 'running' as const });
      },
    );

    app.post(
      '/dlq/:queue/resolve',
      {
        config: { access: { action: 'dlq', queue: 'param' } },
        schema: {
          tags: ['dlq'],
          summary: 'Mark dead jobs as handled with a note (kept, but out of the DLQ depth)',
          params: QueueParams,
          body: ResolveBody,
          response: { 200: z.object({ resolved: z.int() }), 202: OperationAccepted, ...PROBLEM_RESPONSES },
        },
      },
      async (request, reply) => {
        const { filter, byIds } = scoped(request.params.queue, request.body);
        const note = request.body.note;
        if (byIds) return { resolved: await client.dlq.resolve({ filter, note }) };
        const op = operations.start('dlq.resolve', async (report) => {
          const resolved = await client.dlq.resolve({ filter, note }, report);
          return { resolved };
        });
        return reply.code(202).send({ operationId: op.id, status: 'running' as const });
      },
    );
  };
}
