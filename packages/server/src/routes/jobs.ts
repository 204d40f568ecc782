/**
 * Job routes: enqueue one or many into a queue, read one job, search jobs, and the operator
 * action every job has (cancel). The other actions (retry, promote, delete, edit, bulk) are in
 * job-actions.ts.
 *
 * Invariants:
 * - Enqueue answers after the job is durably committed (the client's group commit), 201 for a
 *   new job and 200 with `duplicate: true` when the id or unique key matched an existing one.
 * - A batch is all-or-nothing: validated as a whole before anything is written.
 */
import { newJobId, type AddResult, type JobOptions, type JobRecord } from '@spindle/core';
import { withIdempotency, type EnqueueItem } from '../http/idempotency.js';
import { webhookUrlProblem } from '../webhooks/options.js';
import { loadJob } from '../http/job-access.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { JobCountQuery, JobListQuery, listParams } from '../http/list-query.js';
import { ApiProblem } from '../http/problem.js';
import { EnqueueBatchBody, EnqueueBody, EnqueueResult, JobPageView, JobParams, JobView, PROBLEM_RESPONSES, QueueParams } from '../http/schemas.js';
import { childView, jobView } from '../http/views.js';

type EnqueueBodyItem = z.infer<typeof EnqueueBody>;

const CancelOutcomeSchema = z.enum(['cancelled', 'cancel_requested', 'not_found', 'already_final']);

export function jobRoutes({ client, webhooks, options }: RouteContext): FastifyPluginAsyncZod {
  /**
   * Parks the callbacks of the items that ask for one, before their jobs exist (an item without
   * an id gets one here, so the callback can name it). Throws 400 when one cannot be honoured.
   */
  async function parkCallbacks(bodies: EnqueueBodyItem[], items: EnqueueItem[]): Promise<EnqueueItem[]> {
    const wanted = bodies.map((b, i) => ({ url: b.callbackUrl, i })).filter((c): c is { url: string; i: number } => c.url !== undefined);
    if (wanted.length === 0) return items;
    if (!webhooks) throw new ApiProblem(400, 'webhooks_not_configured', 'callbackUrl needs the server to be configured with webhooks (a signing secret).');
    for (const { url, i } of wanted) {
      const problem = webhookUrlProblem(url, options.webhooks?.allowedHosts ?? null);
      if (problem) throw new ApiProblem(400, 'validation_failed', `callbackUrl ${problem}.`, { issues: [{ path: bodies.length > 1 ? `body.jobs[${i}].callbackUrl` : 'body.callbackUrl', message: problem }] });
    }
    const withIds = items.map((item, i) => (bodies[i]!.callbackUrl !== undefined && item.opts.id === undefined ? { ...item, opts: { ...item.opts, id: newJobId() } } : item));
    await webhooks.park(wanted.map(({ url, i }) => ({ jobId: withIds[i]!.opts.id!, url })));
    return withIds;
  }


  const toBulk = (item: EnqueueBodyItem): EnqueueItem => ({ name: item.name, payload: item.payload ?? null, opts: (item.opts ?? {}) as JobOptions });
  const resultView = (r: AddResult) => ({ id: r.id, status: r.state, duplicate: !r.inserted, ...(r.replaced ? { replaced: true } : {}) });
  const replayView = (j: JobRecord) => ({ id: j.id, status: j.state, duplicate: true });

  return async (app) => {
    app.post(
      '/queues/:queue/jobs',
      {
        config: { access: { action: 'enqueue', queue: 'param' } },
        schema: {
          tags: ['jobs'],
          summary: 'Enqueue one job',
          params: QueueParams,
          body: EnqueueBody,
          response: { 201: EnqueueResult, 200: EnqueueResult, ...PROBLEM_RESPONSES },
        },
      },
      async (request, reply) => {
        const { queue } = request.params;
        const outcome = await withIdempotency(client, request.headers['idempotency-key'], `enqueue:${request.grant.keyId}:${queue}`, request.body, [toBulk(request.body)]);
        if (outcome.kind === 'replay') return reply.code(200).header('idempotent-replayed', 'true').send(replayView(outcome.jobs[0]!));
        const [result] = await client.queue(queue).addBulk(await parkCallbacks([request.body], outcome.items));
        await outcome.written();
        return reply.code(result!.inserted ? 201 : 200).send(resultView(result!));
      },
    );

    app.post(
      '/queues/:queue/jobs/batch',
      {
        config: { access: { action: 'enqueue', queue: 'param' } },
        schema: {
          tags: ['jobs'],
          summary: 'Enqueue up to 1,000 jobs at once',
          params: QueueParams,
          body: EnqueueBatchBody,
          response: { 201: z.object({ jobs: z.array(EnqueueResult) }), 200: z.object({ jobs: z.array(EnqueueResult) }), ...PROBLEM_RESPONSES },
        },
      },
      async (request, reply) => {
        const { queue } = request.params;
        const outcome = await withIdempotency(client, request.headers['idempotency-key'], `batch:${request.grant.keyId}:${queue}`, request.body, request.body.jobs.map(toBulk));
        if (outcome.kind === 'replay') return reply.code(200).header('idempotent-replayed', 'true').send({ jobs: outcome.jobs.map(replayView) });
        const results = await client.queue(queue).addBulk(await parkCallbacks(request.body.jobs, outcome.items));
        await outcome.written();
        return reply.code(results.some((r) => r.inserted) ? 201 : 200).send({ jobs: results.map(resultView) });
      },
    );

    app.get(
      '/jobs/:id',
      { config: { access: { action: 'read', queue: 'job' } }, schema: { tags: ['jobs'], summary: 'One job: status, progress, result, attempts, errors', params: JobParams, response: { 200: JobView, ...PROBLEM_RESPONSES } } },
      async (request) => {
        const job = await loadJob(client, request.params.id, request.grant, 'read');
        const view = jobView(job, { includePayload: request.grant.allows('read-payload', job.queue) });
        if (job.pendingChildren === null) return view;
        // Flows: a job with children lists them (only those in queues this key may read).
        const children = (await client.getChildren(job.id)).filter((c) => request.grant.allows('read', c.queue));
        return { ...view, children: children.map(childView) };
      },
    );

    app.get(
      '/jobs',
      { config: { access: { action: 'read', queue: 'query' } }, schema: { tags: ['jobs'], summary: 'Search jobs (newest first by default), cursor paging', querystring: JobListQuery, response: { 200: JobPageView, ...PROBLEM_RESPONSES } } },
      async (request) => {
        const q = request.query;
        const page = await client.listJobs(listParams(q, { ...(q.queue ? { queue: q.queue } : {}), ...(q.state ? { states: q.state } : {}), ...(q.parentId ? { parentId: q.parentId } : {}) }));
        return { jobs: page.jobs.map((j) => jobView(j, { includePayload: request.grant.allows('read-payload', j.queue) })), nextCursor: page.nextCursor };
      },
    );

    app.get(
      '/jobs/count',
      {
        config: { access: { action: 'read', queue: 'query' } },
        schema: { tags: ['jobs'], summary: 'How many jobs match the filters of GET /jobs (exact; what a bulk action by that filter selects now)', querystring: JobCountQuery, response: { 200: z.object({ count: z.int() }), ...PROBLEM_RESPONSES } },
      },
      async (request) => {
        const q = request.query;
        const { filter } = listParams(q, { ...(q.queue ? { queue: q.queue } : {}), ...(q.state ? { states: q.state } : {}), ...(q.parentId ? { parentId: q.parentId } : {}) });
        return { count: await client.countMatching(filter) };
      },
    );

    app.post(
      '/jobs/:id/cancel',
      {
        config: { access: { action: 'admin', queue: 'job' } },
        schema: {
          tags: ['jobs'],
          summary: 'Cancel a job (a running one is asked to stop)',
          params: JobParams,
          response: { 200: z.object({ id: z.string(), outcome: CancelOutcomeSchema }), ...PROBLEM_RESPONSES },
        },
      },
      async (request) => {
        await loadJob(client, request.params.id, request.grant, 'admin');
        const outcome = await client.cancel(request.params.id);
        if (outcome === 'not_found') throw new ApiProblem(404, 'not_found', `No job ${request.params.id}.`);
        if (outcome === 'already_final') throw new ApiProblem(409, 'already_final', `Job ${request.params.id} has already finished.`);
        return { id: request.params.id, outcome };
      },
    );
  };
}
