/**
 * The dead-letter-queue views (issue 8 point 5).
 *
 * Routes:
 *   GET  /dlq                      depth per queue (GET /api/v1/dlq); `?queue=…` redirects to that queue's page
 *   GET  /dlq/:queue               groups by failure reason, search, dead jobs with cursor paging
 *   POST /ui/actions/dlq/:queue/{replay,resolve,purge}?scope=ids|group|filter|all
 *        ids: ids=…            → {ids} (answered at once; `row=1` answers a replacement table row)
 *        group: reason=…       → {filter: {reason, resolved: false}} (202: a tracked operation)
 *        filter: <dlq filter>  → {filter} (202: a tracked operation)
 *        all                   → {all: true} (202: a tracked operation)
 *        with toQueue (replay) and note (resolve) from the options fields
 *   GET  /ui/dlq/operations/:id    fragment: an operation's progress, polling itself every 1 s while it runs
 *
 * Invariants: reads and changes only through `ctx.api` as the session's key; controls render only
 * with the `dlq` action; every action is confirmed in the browser (`hx-confirm`, dlq-render.ts).
 * A group's members are exactly the unresolved dead jobs whose failure reason equals the group's
 * (the API's `reason` filter; `error` is a substring match over reasons and attempt errors).
 */
import type { FastifyRequest } from 'fastify';
import type { DashboardContext, DashboardModule } from './context.js';
import { url } from './html.js';
import { formValue, formValues, notice, operationFragment, problemText, type JobPageJson, type OperationJson, ROUTE } from './jobs-common.js';
import {
  dlqActionFilter,
  dlqListPath,
  DLQ_ACTIONS,
  MAX_SELECTED,
  parseDlqFilter,
  renderDlqIndex,
  renderDlqQueuePage,
  renderRowDone,
  VERB,
  type DlqAction,
  type DlqGroupJson,
} from './dlq-render.js';

export const DLQ_OPERATIONS_PATH = '/ui/dlq/operations';
const OPERATION_ID = /^[0-9a-fA-F-]{36}$/;
const NAME = /^[A-Za-z0-9._-]{1,128}$/;

type ActionAnswer = { replayed?: number; ids?: string[]; skipped?: string[]; purged?: number; resolved?: number; operationId?: string };

function summary(action: DlqAction, body: ActionAnswer): string {
  if (action === 'replay') return `Replayed ${body.replayed ?? 0}${body.skipped?.length ? `, skipped ${body.skipped.length} (unique key held by a live job)` : ''}.`;
  if (action === 'purge') return `Purged ${body.purged ?? 0}.`;
  return `Resolved ${body.resolved ?? 0}.`;
}

const dlqModule: DashboardModule = (app, ctx) => {
  app.get('/dlq', ROUTE, async (request, reply) => {
    const queue = formValue(request.query, 'queue')?.trim();
    if (queue) {
      const q = request.query as Record<string, unknown>;
      return reply.redirect(url(['/dlq', queue], { q: typeof q.q === 'string' ? q.q : undefined, error: typeof q.error === 'string' ? q.error : undefined }), 303);
    }
    const answer = await ctx.api<{ queues: Array<{ queue: string; depth: number }> }>(request, 'GET', '/dlq');
    const body = answer.status === 200 ? renderDlqIndex(answer.body.queues) : notice('error', problemText(answer));
    return ctx.page(request, reply, { title: 'Dead-letter queues', active: 'dlq', body });
  });

  app.get<{ Params: { queue: string } }>('/dlq/:queue', ROUTE, async (request, reply) => {
    const { queue } = request.params;
    const f = parseDlqFilter(request.query);
    const eq = encodeURIComponent(queue);
    const [depths, groups, page] = await Promise.all([
      ctx.api<{ queues: Array<{ queue: string; depth: number }> }>(request, 'GET', '/dlq'),
      ctx.api<{ groups: DlqGroupJson[] }>(request, 'GET', `/dlq/${eq}/groups?limit=50&resolved=false`),
      ctx.api<JobPageJson>(request, 'GET', dlqListPath(queue, f)),
    ]);
    const errors = [groups, page].filter((a) => a.status !== 200).map(problemText);
    const depth = depths.status === 200 ? (depths.body.queues.find((d) => d.queue === queue)?.depth ?? 0) : null;
    if (page.status === 404) reply.code(404);
    return ctx.page(request, reply, {
      title: `DLQ · ${queue}`,
      active: 'dlq',
      body: renderDlqQueuePage(
        queue,
        depth,
        groups.status === 200 ? groups.body.groups : null,
        page.status === 200 ? page.body : null,
        f,
        ctx.session(request).can('dlq'),
        [...new Set(errors)],
      ),
    });
  });

  app.post<{ Params: { queue: string; action: string }; Querystring: { scope?: string; row?: string } }>('/ui/actions/dlq/:queue/:action', ROUTE, async (request, reply) => {
    const { queue } = request.params;
    const action = request.params.action as DlqAction;
    const scope = request.query.scope ?? formValue(request.body, 'scope');
    const asRow = request.query.row === '1';
    const fail = (text: string) => ctx.fragment(reply, asRow ? renderRowDone(formValues(request.body, 'ids')[0] ?? '?', text, false, 10) : notice('error', text));
    if (!DLQ_ACTIONS.includes(action)) return fail('Unknown action.');
    const body: Record<string, unknown> = {};
    const toQueue = formValue(request.body, 'toQueue')?.trim();
    if (action === 'replay' && toQueue) {
      if (!NAME.test(toQueue)) return fail('The target queue name may only use letters, digits, ".", "_" and "-" (at most 128).');
      body.toQueue = toQueue;
    }
    if (action === 'resolve') body.note = formValue(request.body, 'note')?.trim() || 'Resolved in the dashboard';
    if (scope === 'ids') {
      const ids = [...new Set(formValues(request.body, 'ids'))];
      if (ids.length === 0) return fail('Select dead jobs first (the checkboxes of the table).');
      if (ids.length > MAX_SELECTED) return fail('At most 1,000 jobs at once; use the filter actions.');
      body.ids = ids;
    } else if (scope === 'group') {
      // The group as the page shows it: its exact reason, unresolved jobs only.
      body.filter = { reason: (formValue(request.body, 'reason') ?? '').slice(0, 200), resolved: false };
    } else if (scope === 'filter') {
      body.filter = dlqActionFilter(parseDlqFilter(request.body));
    } else if (scope === 'all') {
      body.all = true;
    } else return fail('Unknown scope.');

    const answer = await ctx.api<ActionAnswer>(request, 'POST', `/dlq/${encodeURIComponent(queue)}/${action}`, body);
    if (answer.status === 202 && answer.body.operationId) {
      const op = await ctx.api<OperationJson>(request, 'GET', `/operations/${encodeURIComponent(answer.body.operationId)}`);
      if (op.status !== 200) return fail(problemText(op));
      return ctx.fragment(reply, operationFragment(op.body, DLQ_OPERATIONS_PATH));
    }
    if (answer.status !== 200) return fail(problemText(answer));
    const text = summary(action, answer.body);
    if (asRow) {
      const id = (body.ids as string[])[0]!;
      const moved = action === 'replay' && (answer.body.replayed ?? 0) > 0 ? ` Now in ${toQueue || queue}.` : '';
      return ctx.fragment(reply, renderRowDone(id, `${VERB[action]}: ${text}${moved}`, true, 10));
    }
    return ctx.fragment(reply, notice('ok', text));
  });

  app.get<{ Params: { id: string } }>(`${DLQ_OPERATIONS_PATH}/:id`, ROUTE, async (request, reply) => {
    if (!OPERATION_ID.test(request.params.id)) return ctx.fragment(reply, notice('error', 'No such operation.'));
    const op = await ctx.api<OperationJson>(request, 'GET', `/operations/${request.params.id}`);
    if (op.status !== 200) return ctx.fragment(reply, notice('error', problemText(op)));
    return ctx.fragment(reply, operationFragment(op.body, DLQ_OPERATIONS_PATH));
  });
};

export default dlqModule;
