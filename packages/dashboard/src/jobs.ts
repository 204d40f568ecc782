/**
 * The jobs list view (issue 8 point 3): `GET /jobs` (queue-scoped with `?queue=`), searching by
 * id, name, state, creation time range and payload text, with the filter in the URL and the
 * API's cursor paging; bulk retry / cancel / delete of the checked rows or of the whole filter.
 *
 * Routes:
 *   GET  /jobs                              the page
 *   GET  /ui/jobs/preview?action=…&<filter> fragment: how many jobs the filter selects, and a confirm
 *   POST /ui/actions/jobs/bulk/:action      ids=… → POST /api/v1/jobs/:action {ids}
 *   POST /ui/actions/jobs/filter/:action    <filter>, expected → POST /api/v1/jobs/:action {filter}
 *                                           (202: an operation, polled below)
 *   GET  /ui/jobs/operations/:id            fragment: an operation's progress, polling itself every 1 s while it runs
 *
 * Invariants: every read and change goes through `ctx.api` as the session's key (the API
 * enforces scopes); controls that change jobs render only when the session holds `admin`.
 * Error answers of fragments use status 200 so htmx swaps the message in.
 */
import type { FastifyRequest } from 'fastify';
import type { DashboardContext, DashboardModule } from './context.js';
import { notice, operationFragment, problemText, formValues, formValue, type JobPageJson, type OperationJson, ROUTE } from './jobs-common.js';
import { apiListPath, bulkFilter, countMatching, parseFilter, type ApiGet } from './jobs-filter.js';
import { BULK_ACTIONS, renderBulkResult, renderJobsPage, renderPreview, type BulkAction } from './jobs-render.js';

export const OPERATIONS_PATH = '/ui/jobs/operations';
const OPERATION_ID = /^[0-9a-fA-F-]{36}$/;

const isBulkAction = (a: unknown): a is BulkAction => typeof a === 'string' && (BULK_ACTIONS as readonly string[]).includes(a);

/** A GET through the session's key, for helpers that only read. */
export function apiGetter(ctx: DashboardContext, request: FastifyRequest): ApiGet {
  return <T>(path: string) => ctx.api<T>(request, 'GET', path);
}

/** Parses the expected count of a preview (`''` or junk: unknown). */
export function expectedCount(body: unknown): number | null {
  const n = Number(formValue(body, 'expected'));
  return Number.isInteger(n) && n >= 0 ? n : null;
}

const jobsModule: DashboardModule = (app, ctx) => {
  app.get('/jobs', ROUTE, async (request, reply) => {
    const f = parseFilter(request.query);
    const canAdmin = ctx.session(request).can('admin');
    const answer = await ctx.api<JobPageJson>(request, 'GET', apiListPath(f));
    const ok = answer.status === 200;
    return ctx.page(request, reply, {
      title: f.queue ? `Jobs · ${f.queue}` : 'Jobs',
      active: 'jobs',
      body: renderJobsPage(ok ? answer.body : { jobs: [], nextCursor: null }, f, canAdmin, ok ? null : problemText(answer)),
    });
  });

  app.get('/ui/jobs/preview', ROUTE, async (request, reply) => {
    const action = formValue(request.query, 'action');
    if (!isBulkAction(action)) return ctx.fragment(reply, notice('error', 'Unknown action.'));
    const f = parseFilter(request.query);
    const m = await countMatching(apiGetter(ctx, request), f);
    if (m.error) return ctx.fragment(reply, notice('error', problemText(m.error)));
    return ctx.fragment(reply, renderPreview(action, f, m));
  });

  app.post<{ Params: { action: string } }>('/ui/actions/jobs/bulk/:action', ROUTE, async (request, reply) => {
    const action = request.params.action;
    if (!isBulkAction(action)) return ctx.fragment(reply, notice('error', 'Unknown action.'));
    const ids = [...new Set(formValues(request.body, 'ids'))];
    if (ids.length === 0) return ctx.fragment(reply, notice('error', 'Select jobs first (the checkboxes of the table).'));
    if (ids.length > 1000) return ctx.fragment(reply, notice('error', 'At most 1,000 jobs at once; use the whole-filter action.'));
    const answer = await ctx.api<{ results: Array<{ id: string; outcome: string }> }>(request, 'POST', `/jobs/${action}`, { ids });
    if (answer.status !== 200) return ctx.fragment(reply, notice('error', problemText(answer)));
    return ctx.fragment(reply, renderBulkResult(action, answer.body.results));
  });

  app.post<{ Params: { action: string } }>('/ui/actions/jobs/filter/:action', ROUTE, async (request, reply) => {
    const action = request.params.action;
    if (!isBulkAction(action)) return ctx.fragment(reply, notice('error', 'Unknown action.'));
    const f = parseFilter(request.body);
    delete f.cursor;
    const filter = bulkFilter(f);
    if (filter === null) {
      // An id filter: the API's bulk filter has no ids; act on the ids it lists now.
      const m = await countMatching(apiGetter(ctx, request), f);
      if (m.error) return ctx.fragment(reply, notice('error', problemText(m.error)));
      if (!m.ids?.length) return ctx.fragment(reply, notice('ok', 'No job matches any more: nothing done.'));
      const answer = await ctx.api<{ results: Array<{ id: string; outcome: string }> }>(request, 'POST', `/jobs/${action}`, { ids: m.ids });
      if (answer.status !== 200) return ctx.fragment(reply, notice('error', problemText(answer)));
      return ctx.fragment(reply, renderBulkResult(action, answer.body.results));
    }
    const answer = await ctx.api<{ operationId: string }>(request, 'POST', `/jobs/${action}`, { filter });
    if (answer.status !== 202) return ctx.fragment(reply, notice('error', problemText(answer)));
    const op = await ctx.api<OperationJson>(request, 'GET', `/operations/${encodeURIComponent(answer.body.operationId)}`);
    if (op.status !== 200) return ctx.fragment(reply, notice('error', problemText(op)));
    return ctx.fragment(reply, operationFragment(op.body, OPERATIONS_PATH, expectedCount(request.body)));
  });

  app.get<{ Params: { id: string } }>(`${OPERATIONS_PATH}/:id`, ROUTE, async (request, reply) => {
    if (!OPERATION_ID.test(request.params.id)) return ctx.fragment(reply, notice('error', 'No such operation.'));
    const op = await ctx.api<OperationJson>(request, 'GET', `/operations/${request.params.id}`);
    if (op.status !== 200) return ctx.fragment(reply, notice('error', problemText(op)));
    return ctx.fragment(reply, operationFragment(op.body, OPERATIONS_PATH, expectedCount(request.query)));
  });
};

export default jobsModule;
