/**
 * The schedules view (issue 8 point 6; ADR 0011 schedules): `GET /schedules` lists cron and
 * interval schedules with their next runs, last run and its job's status, paused or active;
 * run now, pause/resume and delete, each confirmed first.
 *
 * Routes:
 *   GET  /schedules[?queue=&after=]                  the page (100 per page, by name)
 *   GET  /ui/fragments/schedules[?queue=&after=]     the table (refreshes on live ticks)
 *   POST /ui/actions/schedules/:name/(run|pause|resume|delete)   → the API; answers the table with a notice
 *
 * Invariants:
 * - Reads and changes only through `ctx.api` as the session's key: `GET /schedules`,
 *   `GET /schedules/:name` (the next runs), `GET /jobs?id=…` (the last runs' status; skipped
 *   when the key may not list every queue), `POST /schedules/:name/run|pause|resume`,
 *   `DELETE /schedules/:name`.
 * - Run now renders only with `enqueue`, pause/resume/delete only with `admin` (the API checks
 *   them per schedule queue anyway); every one carries `hx-confirm`.
 * - Payloads are shown as truncated JSON text; schedule, queue and job names are escaped.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DashboardContext, DashboardModule } from './context.js';
import { html, url, type SafeHtml } from './html.js';
import { formValue, jsonPreview, notice, problemText, ROUTE, statusBadge, type JobJson } from './jobs-common.js';
import { apiStatus, card, timeCell } from './ops-common.js';
import { fmtAge } from './queue-data.js';

export interface ScheduleJson {
  name: string;
  cron: string | null;
  everyMs: number | null;
  timezone: string;
  queue: string;
  jobName: string;
  payload?: unknown;
  backfill: number;
  paused: boolean;
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastJobId: string | null;
  upcoming?: string[];
}

const PAGE = 100;
const ACTIONS = ['run', 'pause', 'resume', 'delete'] as const;
type Action = (typeof ACTIONS)[number];

interface Listing {
  schedules: ScheduleJson[];
  nextCursor: string | null;
  lastJobs: Map<string, JobJson>;
  error: string | null;
}

async function readListing(ctx: DashboardContext, request: FastifyRequest, queue: string | undefined, after: string | undefined): Promise<Listing> {
  const list = await ctx.api<{ schedules: ScheduleJson[]; nextCursor: string | null }>(request, 'GET', url('/schedules', { queue, after, limit: PAGE }));
  if (list.status !== 200) return { schedules: [], nextCursor: null, lastJobs: new Map(), error: problemText(list) };
  const schedules = list.body.schedules;
  const ids = schedules.map((s) => s.lastJobId).filter((id): id is string => !!id);
  const [details, jobs] = await Promise.all([
    Promise.all(schedules.map((s) => ctx.api<ScheduleJson>(request, 'GET', url(['/schedules', s.name])))),
    ids.length ? ctx.api<{ jobs: JobJson[] }>(request, 'GET', url('/jobs', { id: ids.join(','), limit: ids.length })) : null,
  ]);
  details.forEach((d, i) => {
    if (d.status === 200) schedules[i]!.upcoming = d.body.upcoming;
  });
  const lastJobs = new Map<string, JobJson>();
  if (jobs?.status === 200) for (const j of jobs.body.jobs) lastJobs.set(j.id, j);
  return { schedules, nextCursor: list.body.nextCursor, lastJobs, error: null };
}

function every(s: ScheduleJson): SafeHtml {
  if (s.cron) return html`<code>${s.cron}</code>${s.timezone !== 'UTC' ? html` <span class="muted small">${s.timezone}</span>` : null}`;
  return html`every ${intervalText(s.everyMs)}`;
}

/** An interval as `15 min`, `2 h`, `1 d`, `90 s` (whole units when they divide it). */
export function intervalText(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms <= 0) return '—';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['min', 60_000], ['s', 1000]] as const) if (ms % size === 0) return `${ms / size} ${unit}`;
  return fmtAge(ms);
}

function controls(s: ScheduleJson, can: (a: string) => boolean, query: Record<string, string | undefined>): SafeHtml {
  const post = (action: Action, label: string, cls: string, confirm: string) =>
    html`<button type="button" class="${cls}" data-action="${action}" hx-post="${url(['/ui/actions/schedules', s.name, action], query)}" hx-target="#schedules-table" hx-swap="outerHTML" hx-confirm="${confirm}">${label}</button>`;
  return html`${can('enqueue') ? post('run', 'Run now', 'btn', `Enqueue one ${s.jobName} job into ${s.queue} now? The schedule itself is unchanged.`) : null}
${can('admin') ? (s.paused ? post('resume', 'Resume', 'btn', `Resume schedule ${s.name} from its next tick?`) : post('pause', 'Pause', 'btn btn-warn', `Pause schedule ${s.name}? Ticks that fall while it is paused are skipped.`)) : null}
${can('admin') ? post('delete', 'Delete', 'btn btn-danger', `Delete schedule ${s.name}? The jobs it enqueued stay.`) : null}`;
}

function row(s: ScheduleJson, last: JobJson | undefined, can: (a: string) => boolean, query: Record<string, string | undefined>, now: number): SafeHtml {
  const upcoming = (s.upcoming ?? []).slice(1);
  return html`<tr data-schedule="${s.name}" data-paused="${s.paused ? 'true' : 'false'}">
  <td><strong>${s.name}</strong>${s.paused ? html` <span class="tag tag-warn">paused</span>` : html` <span class="tag tag-ok">active</span>`}</td>
  <td>${every(s)}</td>
  <td><a href="${url(['/queues', s.queue])}">${s.queue}</a> · ${s.jobName}${'payload' in s ? html`<div class="payload-preview small"><code>${jsonPreview(s.payload, 120)}</code></div>` : null}</td>
  <td class="next-run">${s.paused ? html`<span class="muted">paused</span>` : timeCell(s.nextRunAt, { now })}${upcoming.length ? html`<div class="muted small">then ${upcoming.map((u, i) => html`${i ? ', ' : ''}<time datetime="${u}">${u.slice(5, 10)} ${u.slice(11, 16)}</time>`)}</div>` : null}</td>
  <td class="last-run">${s.lastRunAt ? timeCell(s.lastRunAt, { relativeFirst: true, now }) : html`<span class="muted">never</span>`}${s.lastJobId ? html`<div><a href="${url(['/jobs', s.lastJobId])}"><code>${s.lastJobId.slice(0, 12)}…</code></a> ${last ? statusBadge(last.status) : null}</div>` : null}</td>
  <td class="actions">${controls(s, can, query)}</td>
</tr>`;
}

function renderTable(listing: Listing, can: (a: string) => boolean, queue: string | undefined, after: string | undefined, extra?: SafeHtml): SafeHtml {
  const query = { queue, after };
  const now = Date.now();
  const { schedules } = listing;
  const paused = schedules.filter((s) => s.paused).length;
  const failing = schedules.filter((s) => s.lastJobId && listing.lastJobs.get(s.lastJobId)?.status === 'dead').length;
  return html`<section id="schedules-table" hx-get="${url('/ui/fragments/schedules', query)}" hx-trigger="live:tick from:body" hx-swap="outerHTML">
${extra ?? null}
${listing.error ? notice('error', listing.error) : null}
<div class="cards">${card('Schedules', schedules.length + (listing.nextCursor ? '+' : ''))}${card('Paused', paused, paused ? { tone: 'warn' } : {})}${card('Last run dead', failing, failing ? { tone: 'bad' } : {})}</div>
<div class="panel">${
    schedules.length === 0
      ? html`<p class="muted empty">No schedules${queue ? html` for queue ${queue}` : null}: define one with <code>PUT /api/v1/schedules/:name</code> or <code>client.schedules.upsert</code>.</p>`
      : html`<div class="scroll"><table class="grid schedules-table"><thead><tr><th>Schedule</th><th>When</th><th>Queue · job</th><th>Next run</th><th>Last run</th><th></th></tr></thead>
<tbody>${schedules.map((s) => row(s, s.lastJobId ? listing.lastJobs.get(s.lastJobId) : undefined, can, query, now))}</tbody></table></div>`
  }
<nav class="paging">${after ? html`<a href="${url('/schedules', { queue })}">← First page</a>` : null} ${listing.nextCursor ? html`<a rel="next" href="${url('/schedules', { queue, after: listing.nextCursor })}">Next page →</a>` : null}</nav>
</div>
</section>`;
}

function queryOf(request: FastifyRequest): { queue: string | undefined; after: string | undefined } {
  return { queue: formValue(request.query, 'queue'), after: formValue(request.query, 'after') };
}

async function table(ctx: DashboardContext, request: FastifyRequest, reply: FastifyReply, extra?: SafeHtml) {
  const { queue, after } = queryOf(request);
  const listing = await readListing(ctx, request, queue, after);
  const session = ctx.session(request);
  return ctx.fragment(reply, renderTable(listing, (a) => session.can(a), queue, after, extra));
}

const VERBS: Record<Action, string> = { run: 'ran now', pause: 'paused', resume: 'resumed', delete: 'deleted' };

const schedulesModule: DashboardModule = (app, ctx) => {
  app.get('/schedules', ROUTE, async (request, reply) => {
    const { queue, after } = queryOf(request);
    const listing = await readListing(ctx, request, queue, after);
    const session = ctx.session(request);
    const body = html`<section class="schedules"><div class="panel-head"><h1>Schedules${queue ? html` of <a href="${url(['/queues', queue])}">${queue}</a>` : null}</h1>
<form method="get" action="/schedules" class="filters"><label>Queue <input type="text" name="queue" value="${queue ?? ''}" placeholder="any"></label><button type="submit">Filter</button></form></div>
${renderTable(listing, (a) => session.can(a), queue, after)}</section>`;
    return ctx.page(request, reply, { title: 'Schedules', active: 'schedules', body });
  });

  app.get('/ui/fragments/schedules', ROUTE, async (request, reply) => table(ctx, request, reply));

  app.post<{ Params: { name: string; action: string } }>('/ui/actions/schedules/:name/:action', ROUTE, async (request, reply) => {
    const { name } = request.params;
    const action = request.params.action as Action;
    if (!ACTIONS.includes(action)) {
      apiStatus(reply, 404);
      return table(ctx, request, reply, notice('error', 'Unknown action.'));
    }
    const answer =
      action === 'delete' ? await ctx.api(request, 'DELETE', url(['/schedules', name])) : await ctx.api<{ id?: string }>(request, 'POST', url(['/schedules', name, action]));
    apiStatus(reply, answer.status);
    const ok = answer.status === 200 || answer.status === 201;
    const jobId = action === 'run' && ok ? (answer.body as { id?: string }).id : undefined;
    const message = ok
      ? notice('ok', html`Schedule ${name} ${VERBS[action]}.${jobId ? html` Job <a class="run-job" href="${url(['/jobs', jobId])}"><code>${jobId}</code></a>.` : null}`)
      : notice('error', `Could not ${action} schedule ${name}: ${problemText(answer)}`);
    return table(ctx, request, reply, message);
  });
};

export default schedulesModule;
