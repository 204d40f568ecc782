/**
 * Operator actions on jobs, one at a time and in bulk:
 *   POST /jobs/:id/retry     a finished job (completed, dead, cancelled) runs again (new round),
 *                            with `{payload}` under a new payload (edit and retry)
 *   POST /jobs/:id/promote   a delayed or retrying job is due now
 *   DELETE /jobs/:id         any job that is not running
 *   PATCH /jobs/:id          a new payload for a job that has not started
 *   POST /jobs/{cancel,retry,promote,delete}  with `{ids}` (≤ 1,000: 200 with an outcome per id)
 *                            or `{filter}` (202: an operation walks the matching jobs page by page)
 *
 * Invariants: every action is a compare-and-set in the backend, so a job changed meanwhile is
 * reported (`wrong_state`, 409 for a single job) and left alone; a running job is never deleted
 * or edited. Bulk by filter on a key limited to some queues needs `filter.queue`; bulk by ids
 * answers `not_found` for a job of a queue the key may not act on, as for an id that does not
 * exist (reliability S11).
 */
import type { Client, JobFilter } from '@spindle/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import type { Grant } from '../auth/api-keys.js';
import { hiddenJobIds, loadJob } from '../http/job-access.js';
import { ApiProblem } from '../http/problem.js';
import { InstantSchema, JobIdSchema, JobParams, NameSchema, PROBLEM_RESPONSES, StateSchema } from '../http/schemas.js';

type BulkAction = 'cancel' | 'retry' | 'promote' | 'delete';
const BULK_ACTIONS: BulkAction[] = ['cancel', 'retry', 'promote', 'delete'];
const PAGE = 500;

const BulkFilter = z.strictObject({
  queue: NameSchema.optional(),
  states: z.array(StateSchema).min(1).max(8).optional(),
  name: NameSchema.optional(),
  payloadContains: z.string().min(1).max(500).optional(),
  errorContains: z.string().min(1).max(500).optional(),
  reason: z.string().max(200).optional(),
  createdAfter: InstantSchema.optional(),
  createdBefore: InstantSchema.optional(),
});
const BulkBody = z.strictObject({ ids: z.array(JobIdSchema).min(1).max(1000).optional(), filter: BulkFilter.optional() });
const Outcome = z.object({ id: z.string(), outcome: z.string() });

/** Runs `action` on `ids` through the client; answers one outcome per id, in order. */
async function apply(client: Client, action: BulkAction, ids: string[]): Promise<string[]> {
  switch (action) {
    case 'cancel':
      return client.cancelMany(ids);
    case 'retry':
      return client.jobs.retry(ids);
    case 'promote':
      return client.jobs.promote(ids);
    case 'delete':
      return client.jobs.delete(ids);
  }
}

/** The answer for one job: 200, or the problem its outcome means. */
function single(id: string, outcome: string, ok: string[]): { id: string; outcome: string } {
  if (ok.includes(outcome)) return { id, outcome };
  if (outcome === 'not_found') throw new ApiProblem(404, 'not_found', `No job ${id}.`);
  if (outcome === 'unique_conflict') throw new ApiProblem(409, 'unique_conflict', `A live job of this queue holds job ${id}'s unique key.`);
  if (outcome === 'already_final') throw new ApiProblem(409, 'already_final', `Job ${id} has already finished.`);
  throw new ApiProblem(409, 'wrong_state', `Job ${id} is not in a state that allows this.`);
}

function toFilter(f: z.infer<typeof BulkFilter>): JobFilter {
  const filter: JobFilter = {};
  if (f.queue) filter.queue = f.queue;
  if (f.states) filter.states = f.states;
  if (f.name) filter.name = f.name;
  if (f.payloadContains) filter.payloadContains = f.payloadContains;
  if (f.errorContains) filter.errorContains = f.errorContains;
  if (f.reason !== undefined) filter.reason = f.reason;
  if (f.createdAfter) filter.createdAfter = new Date(f.createdAfter);
  if (f.createdBefore) filter.createdBefore = new Date(f.createdBefore);
  return filter;
}

export function jobActionRoutes({ client, operations }: RouteContext): FastifyPluginAsyncZod {
  const one = (path: string, method: 'POST' | 'DELETE', action: 'promote' | 'delete', summary: string) => ({ path, method, action, summary });
  const singles = [
    one('/jobs/:id/promote', 'POST', 'promote', 'Make a delayed or retrying job due now'),
    one('/jobs/:id', 'DELETE', 'delete', 'Delete a job that is not running'),
  ];

  return async (app) => {
    for (const s of singles) {
      app.route({
        method: s.method,
        url: s.path,
        config: { access: { action: 'admin', queue: 'job' } },
        schema: { tags: ['jobs'], summary: s.summary, params: JobParams, response: { 200: Outcome, ...PROBLEM_RESPONSES } },
        handler: async (request) => {
          const { id } = request.params as { id: string };
          await loadJob(client, id, request.grant, 'admin');
          const [outcome] = await apply(client, s.action, [id]);
          return single(id, outcome!, ['ok']);
        },
      });
    }

    app.post(
      '/jobs/:id/retry',
      {
        config: { access: { action: 'admin', queue: 'job' }, optionalBody: true },
        schema: {
          tags: ['jobs'],
          summary: 'Run a finished job (completed, dead, cancelled) again, as a new round; with `payload`, edit and retry',
          params: JobParams,
          body: z.strictObject({ payload: z.unknown().optional().describe('A new payload stored with the restart (checked like PATCH /jobs/:id).') }).nullish(),
          response: { 200: Outcome, ...PROBLEM_RESPONSES },
        },
      },
      async (request) => {
        const { id } = request.params;
        await loadJob(client, id, request.grant, 'admin');
        const payload = request.body?.payload;
        const [outcome] = await client.jobs.retry([id], payload === undefined ? undefined : { payload });
        return single(id, outcome!, ['ok']);
      },
    );

    app.patch(
      '/jobs/:id',
      {
        config: { access: { action: 'admin', queue: 'job' } },
        schema: {
          tags: ['jobs'],
          summary: 'Replace the payload of a job that has not started (scheduled, queued, retrying, waiting)',
          params: JobParams,
          body: z.strictObject({ payload: z.unknown() }),
          response: { 200: Outcome, ...PROBLEM_RESPONSES },
        },
      },
      async (request) => {
        const { id } = request.params;
        await loadJob(client, id, request.grant, 'admin');
        const outcome = await client.jobs.updatePayload(id, request.body.payload ?? null);
        return single(id, outcome, ['ok']);
      },
    );

    for (const action of BULK_ACTIONS) {
      app.post(
        `/jobs/${action}`,
        {
          config: { access: { action: 'admin', queue: 'job' } },
          schema: {
            tags: ['jobs'],
            summary: `${action[0]!.toUpperCase()}${action.slice(1)} jobs by ids (answered at once) or by filter (a background operation)`,
            body: BulkBody,
            response: { 200: z.object({ results: z.array(Outcome) }), 202: z.object({ operationId: z.string(), status: z.literal('running') }), ...PROBLEM_RESPONSES },
          },
        },
        async (request, reply) => {
          const { ids, filter } = request.body;
          if ((ids === undefined) === (filter === undefined)) {
            throw new ApiProblem(400, 'validation_failed', 'Give exactly one of ids or filter.', { issues: [{ path: 'body', message: 'exactly one of ids, filter' }] });
          }
          if (ids) {
            // Jobs of queues the key may not act on answer like missing ones (no existence oracle).
            const hidden = await hiddenJobIds(client, ids, request.grant, 'admin');
            const allowed = ids.filter((id) => !hidden.has(id));
            const outcomes = allowed.length > 0 ? await apply(client, action, allowed) : [];
            const byIndex = new Map<number, string>();
            let k = 0;
            ids.forEach((id, i) => {
              if (!hidden.has(id)) byIndex.set(i, outcomes[k++]!);
            });
            return { results: ids.map((id, i) => ({ id, outcome: byIndex.get(i) ?? 'not_found' })) };
          }
          const jobFilter = toFilter(filter!);
          checkFilterAccess(request.grant, jobFilter);
          const op = operations.start(`jobs.${action}`, async (report) => {
            const counts: Record<string, number> = {};
            let cursor: string | null = null;
            do {
              const page = await client.listJobs({ filter: jobFilter, limit: PAGE, order: 'oldest', ...(cursor ? { cursor } : {}) });
              if (page.jobs.length > 0) {
                const outcomes = await apply(client, action, page.jobs.map((j) => j.id));
                for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
                report(page.jobs.length);
              }
              cursor = page.nextCursor;
            } while (cursor);
            return { outcomes: counts };
          });
          return reply.code(202).send({ operationId: op.id, status: 'running' as const });
        },
      );
    }
  };
}

/** A filter walk touches whatever matches: a key limited to some queues must name one of them. */
function checkFilterAccess(grant: Grant, filter: JobFilter): void {
  if (filter.queue !== undefined ? grant.allows('admin', filter.queue) : grant.allowsAllQueues('admin')) return;
  throw new ApiProblem(filter.queue !== undefined ? 404 : 403, filter.queue !== undefined ? 'not_found' : 'queue_required', 'This key may only act on jobs of some queues: name one in filter.queue.');
}
