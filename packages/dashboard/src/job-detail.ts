/**
 * The job detail view (issue 8 point 4).
 *
 * Routes:
 *   GET  /jobs/:id                       the page (jobs-detail-view.ts renders it)
 *   GET  /ui/jobs/:id/live?was=<status>  fragment: the live block (state, progress bar); when the
 *                                        state changed since the page was drawn it answers
 *                                        `HX-Refresh: true`, so attempts, result and actions redraw
 *   POST /ui/actions/job/:id/{retry,cancel,promote,delete}  → the API's single-job actions
 *   POST /ui/actions/job/:id/edit       payload=<JSON>: a dead job is replayed from the DLQ with
 *                                        it (POST /dlq/:queue/replay {ids:[id], payload}); a
 *                                        completed or cancelled one is retried with it
 *                                        (POST /jobs/:id/retry {payload}); a job not started yet
 *                                        gets it by PATCH /jobs/:id and, when delayed or retrying,
 *                                        is promoted
 *
 * Invariants: reads and changes only through `ctx.api` as the session's key; a successful action
 * answers `HX-Refresh: true` (or `HX-Redirect` to the list after a delete); failures are shown
 * as a notice (status 200 so htmx swaps it in). The payload text is parsed here only to send it
 * as JSON; the API validates it.
 */
import type { DashboardModule } from './context.js';
import { url } from './html.js';
import { formValue, notice, problemText, type JobJson, ROUTE } from './jobs-common.js';
import { renderJobDetail, renderLive, renderMissing } from './jobs-detail-view.js';

const SINGLE: Record<string, { method: 'POST' | 'DELETE'; path: (id: string) => string; done: string }> = {
  retry: { method: 'POST', path: (id) => `/jobs/${id}/retry`, done: 'Retried.' },
  cancel: { method: 'POST', path: (id) => `/jobs/${id}/cancel`, done: 'Cancelled.' },
  promote: { method: 'POST', path: (id) => `/jobs/${id}/promote`, done: 'Due now.' },
  delete: { method: 'DELETE', path: (id) => `/jobs/${id}`, done: 'Deleted.' },
};

const jobDetailModule: DashboardModule = (app, ctx) => {
  const load = (request: Parameters<typeof ctx.api>[0], id: string) => ctx.api<JobJson>(request, 'GET', `/jobs/${encodeURIComponent(id)}`);

  app.get<{ Params: { id: string } }>('/jobs/:id', ROUTE, async (request, reply) => {
    const { id } = request.params;
    const answer = await load(request, id);
    const session = ctx.session(request);
    if (answer.status !== 200) {
      reply.code(answer.status === 404 || answer.status === 400 ? 404 : answer.status);
      return ctx.page(request, reply, { title: `Job ${id}`, active: 'jobs', body: renderMissing(id, problemText(answer)) });
    }
    return ctx.page(request, reply, {
      title: `${answer.body.name} · ${answer.body.id}`,
      active: 'jobs',
      body: renderJobDetail(answer.body, { admin: session.can('admin'), dlq: session.can('dlq') }),
      live: { queues: [answer.body.queue], jobs: [answer.body.id] },
    });
  });

  app.get<{ Params: { id: string }; Querystring: { was?: string } }>('/ui/jobs/:id/live', ROUTE, async (request, reply) => {
    const answer = await load(request, request.params.id);
    if (answer.status !== 200) {
      // Gone (deleted) or no longer readable: redraw the page, which says so.
      reply.header('HX-Refresh', 'true');
      return ctx.fragment(reply, notice('error', problemText(answer)));
    }
    const was = typeof request.query.was === 'string' ? request.query.was : undefined;
    if (was !== undefined && was !== answer.body.status) reply.header('HX-Refresh', 'true');
    return ctx.fragment(reply, renderLive(answer.body));
  });

  app.post<{ Params: { id: string; action: string } }>('/ui/actions/job/:id/:action', ROUTE, async (request, reply) => {
    const { id, action } = request.params;
    const eid = encodeURIComponent(id);
    if (action === 'edit') {
      const text = formValue(request.body, 'payload') ?? 'null';
      let payload: unknown;
      try {
        payload = JSON.parse(text);
      } catch (err) {
        return ctx.fragment(reply, notice('error', `The payload is not valid JSON: ${(err as Error).message}`));
      }
      const job = await load(request, id);
      if (job.status !== 200) return ctx.fragment(reply, notice('error', problemText(job)));
      const { status, queue } = job.body;
      if (status === 'dead') {
        const answer = await ctx.api<{ replayed: number; skipped: string[] }>(request, 'POST', `/dlq/${encodeURIComponent(queue)}/replay`, { ids: [id], payload });
        if (answer.status !== 200) return ctx.fragment(reply, notice('error', problemText(answer)));
        if (answer.body.replayed !== 1) return ctx.fragment(reply, notice('error', answer.body.skipped.length ? 'Not replayed: a live job of this queue holds its unique key.' : 'Not replayed: the job is no longer dead.'));
      } else if (status === 'completed' || status === 'cancelled') {
        const answer = await ctx.api<{ outcome: string }>(request, 'POST', `/jobs/${eid}/retry`, { payload });
        if (answer.status !== 200) return ctx.fragment(reply, notice('error', problemText(answer)));
      } else {
        const patched = await patch(request, eid, payload);
        if (patched.status !== 200) return ctx.fragment(reply, notice('error', problemText(patched)));
        if (status === 'scheduled' || status === 'retrying') {
          const promoted = await ctx.api(request, 'POST', `/jobs/${eid}/promote`);
          if (promoted.status !== 200 && promoted.status !== 409) return ctx.fragment(reply, notice('error', problemText(promoted)));
        }
      }
      reply.header('HX-Refresh', 'true');
      return ctx.fragment(reply, notice('ok', 'Payload saved; the job runs again.'));
    }
    const spec = SINGLE[action];
    if (!spec) return ctx.fragment(reply, notice('error', 'Unknown action.'));
    const job = action === 'delete' ? await load(request, id) : null;
    const answer = await ctx.api<{ outcome: string }>(request, spec.method, spec.path(eid));
    if (answer.status !== 200) return ctx.fragment(reply, notice('error', problemText(answer)));
    if (action === 'delete') reply.header('HX-Redirect', url('/jobs', { queue: job?.status === 200 ? job.body.queue : undefined, state: 'all' }));
    else reply.header('HX-Refresh', 'true');
    return ctx.fragment(reply, notice('ok', answer.body.outcome === 'cancel_requested' ? 'Cancellation requested: the running attempt is asked to stop.' : spec.done));
  });

  /** `PATCH /jobs/:id`. ApiMethod has no 'PATCH'; the plugin passes the method through as is. */
  async function patch(request: Parameters<typeof ctx.api>[0], eid: string, payload: unknown) {
    return ctx.api<{ outcome: string }>(request, 'PATCH' as never, `/jobs/${eid}`, { payload });
  }
};

export default jobDetailModule;
