/**
 * The dead-letter-queue views (issue 8 point 5).
 *
 * Routes:
 *   GET  /dlq                      depth per queue (GET /api/v1/dlq); `?queue=…` redirects to that queue's page
 *   GET  /dlq/:queue               groups by failure reason, search, dead jobs with cursor paging
 *   POST /ui/actions/dlq/:queue/{replay,resolve,purge}?scope=ids|group|filter|all
 *        ids: ids=…            → {ids} (answered at once; `row=1` answers a replacement table row)
 *        group: reason=…       → the group's exact ids when it has ≤ 1,000 jobs, else {filter: {errorContains: reason}}
 *        filter: <dlq filter>  → {filter} (202: a tracked operation)
 *        all                   → {all: true} (202: a tracked operation)
 *        with toQueue (replay) and note (resolve) from the options fields
 *   GET  /ui/dlq/operations/:id    fragment: an operation's progress, polling itself every 1 s while it runs
 *
 * Invariants: reads and changes only through `ctx.api` as the session's key; controls render only
 * with the `dlq` action; every action is confirmed in the browser (`hx-confirm`, dlq-render.ts).
 * A group's exact members are the dead jobs whose failureReason equals the group's reason (the
 * API's `error` filter is a substring match over reasons and attempt errors, so it is narrowed here).
 */
import type { FastifyRequest } from 'fastify';
import type { DashboardContext, DashboardModule } from './context.js';
import { url } from './html.js';
import { formValue, formValues, notice, operationFragment, problemText, type JobPageJson, type OperationJson, ROUTE } from './jobs-common.js';
import {
  dlqActionFilter,
  dlqListPath,
  DLQ_ACTIONS,
  GROUP_EXACT_MAX,
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
const MAX_IDS = GROUP_EXACT_MAX;

type ActionAnswer = { replayed?: number; ids?: string[]; skipped?: string[]; purged?: number; resolved?: number; operationId?: string };

/** The ids of the dead jobs whose failure reason is exactly `reason`, or null when more than `MAX_IDS`. */
async function groupIds(ctx: DashboardContext, request: FastifyRequest, queue: string, reason: string): Promise<{ ids: string[] | null; error?: string }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  const base = parseDlqFilter({ resolved: 'all' });
  do {
    const answer: { status: number; body: JobPageJson } = await ctx.api<JobPageJson>(request, 'GET', dlqListPath(queue, base, { limit: 1000, cursor, ...(reason ? { error: reason.slice(0, 500) } : {}) }));
    if (answer.status !== 200) return { ids: null, error: problemText(answer) };
    for (const j of answer.body.jobs) if ((j.failureReason ?? '') === reason) ids.push(j.id);
    if (ids.length > MAX_IDS) return { ids: null };
    cursor = answer.body.nextCursor;
  } while (cursor);
  return { ids };
}

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
      ctx.api<{ groups: DlqGroupJson[] }>(request, 'GET', `/dlq/${eq}/groups?limit=50`),
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
      if (ids.length > MAX_IDS) return fail('At most 1,000 jobs at once; use the filter actions.');
      body.ids = ids;
    } else if (scope === 'group') {
      const reason = formValue(request.body, 'reason') ?? '';
      const exact = await groupIds(ctx, request, queue, reason);
      if (exact.error) return fail(exact.error);
      if (exact.ids && exact.ids.length === 0) return ctx.fragment(reply, notice('ok', 'No dead job left in this group.'));
      if (exact.ids) body.ids = exact.ids;
      else if (reason) {
        body.filter = { errorContains: reason.slice(0, 500) };
      } else return fail('This group is too large to select exactly; use the filter or all actions.');
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
