/**
 * The workers view (issue 8 point 6): `GET /workers` lists the registered workers (library and
 * HTTP) with host and pid, queue, concurrency, busy slots, when they started and their last
 * heartbeat, and the jobs each one is running now.
 *
 * Routes:
 *   GET /workers[?queue=&all=true]             the page (`all`: also workers not seen for 30 s)
 *   GET /ui/fragments/workers[?queue=&all=]    the table (refreshes on live ticks and every 5 s)
 *
 * Invariants:
 * - Reads only through `ctx.api` as the session's key: `GET /workers` and `GET /jobs?state=running`
 *   (at most RUNNING_MAX jobs; left out when the key may not list them). Read-only: no controls.
 * - A running job belongs to a worker when its `workerId` is the worker's registry id, that id
 *   without its `@queue` suffix (a library worker on several queues), or, for an HTTP worker,
 *   the part after `http:<queue>:`.
 * - Hosts, ids and queue names are escaped (an HTTP worker's host is what its client reported).
 */
import type { FastifyRequest } from 'fastify';
import type { DashboardContext, DashboardModule } from './context.js';
import { html, url, type SafeHtml } from './html.js';
import { formValue, notice, problemText, ROUTE, type JobJson } from './jobs-common.js';
import { card, relative, timeCell } from './ops-common.js';
import { fmtNum } from './queue-data.js';

export interface WorkerJson {
  id: string;
  queue: string;
  kind: 'library' | 'http';
  host: string;
  pid: number | null;
  concurrency: number;
  busy: number;
  startedAt: string;
  lastSeenAt: string;
}

/** Most running jobs read to show each worker's current jobs. */
const RUNNING_MAX = 500;
/** A heartbeat older than this is flagged (library workers report every 5 s). */
const STALE_MS = 15_000;
/** Jobs listed per worker row. */
const JOBS_PER_ROW = 5;

/** The registry ids a job's `workerId` may appear under (see the header). */
export function workerKey(w: Pick<WorkerJson, 'id' | 'queue' | 'kind'>): string {
  if (w.kind === 'http') {
    const prefix = `http:${w.queue}:`;
    return w.id.startsWith(prefix) ? w.id.slice(prefix.length) : w.id;
  }
  const suffix = `@${w.queue}`;
  return w.id.endsWith(suffix) ? w.id.slice(0, -suffix.length) : w.id;
}

interface Reading {
  workers: WorkerJson[] | null;
  running: JobJson[] | null;
  error: string | null;
}

async function read(ctx: DashboardContext, request: FastifyRequest, queue: string | undefined, all: boolean): Promise<Reading> {
  const [workers, running] = await Promise.all([
    ctx.api<{ workers: WorkerJson[] }>(request, 'GET', url('/workers', { queue, all: all ? 'true' : undefined })),
    ctx.api<{ jobs: JobJson[] }>(request, 'GET', url('/jobs', { queue, state: 'running', limit: RUNNING_MAX })),
  ]);
  if (workers.status !== 200) return { workers: null, running: null, error: problemText(workers) };
  return { workers: workers.body.workers, running: running.status === 200 ? running.body.jobs : null, error: null };
}

function row(w: WorkerJson, jobs: JobJson[], now: number): SafeHtml {
  const age = now - Date.parse(w.lastSeenAt);
  const mine = jobs.filter((j) => j.queue === w.queue);
  return html`<tr data-worker="${w.id}" data-busy="${w.busy}" data-concurrency="${w.concurrency}">
  <td><code>${w.id}</code> <span class="tag">${w.kind}</span></td>
  <td>${w.host}${w.pid !== null ? html` <span class="muted">pid ${w.pid}</span>` : null}</td>
  <td><a href="${url(['/queues', w.queue])}">${w.queue}</a></td>
  <td class="num">${w.busy} / ${w.concurrency} <progress max="${Math.max(1, w.concurrency)}" value="${Math.min(w.busy, w.concurrency)}" aria-label="busy slots"></progress></td>
  <td>${age > STALE_MS ? html`<span class="tag tag-warn" title="${w.lastSeenAt}">${relative(w.lastSeenAt, now)}</span>` : timeCell(w.lastSeenAt, { relativeFirst: true, now })}</td>
  <td>${timeCell(w.startedAt, { relativeFirst: true, now })}</td>
  <td class="current-jobs">${
    mine.length
      ? html`${mine.slice(0, JOBS_PER_ROW).map((j, i) => html`${i ? ' ' : ''}<a href="${url(['/jobs', j.id])}" title="${j.name}"><code>${j.name}</code></a>`)}${mine.length > JOBS_PER_ROW ? html` <a href="${url('/jobs', { queue: w.queue, state: 'running' })}">+${mine.length - JOBS_PER_ROW}</a>` : null}`
      : w.busy > 0
        ? html`<span class="muted" title="The busy count is from the worker's last heartbeat; its jobs have finished since.">none now</span>`
        : html`<span class="muted">idle</span>`
  }</td>
</tr>`;
}

export function renderWorkers(r: Reading, queue: string | undefined, all: boolean): SafeHtml {
  const query = { queue, all: all ? 'true' : undefined };
  const attrs = html`id="workers-table" hx-get="${url('/ui/fragments/workers', query)}" hx-trigger="live:tick from:body, every 5s" hx-swap="outerHTML"`;
  if (!r.workers) return html`<section ${attrs}>${notice('error', r.error ?? 'Could not read the workers.')}</section>`;
  const now = Date.now();
  const byWorker = new Map<string, JobJson[]>();
  for (const j of r.running ?? []) if (j.workerId) byWorker.set(j.workerId, [...(byWorker.get(j.workerId) ?? []), j]);
  const workers = [...r.workers].sort((a, b) => a.host.localeCompare(b.host) || (a.pid ?? 0) - (b.pid ?? 0) || a.id.localeCompare(b.id) || a.queue.localeCompare(b.queue));
  const slots = workers.reduce((s, w) => s + w.concurrency, 0);
  const busy = workers.reduce((s, w) => s + Math.min(w.busy, w.concurrency), 0);
  const hosts = new Set(workers.map((w) => `${w.host}\u0000${w.pid ?? ''}`)).size;
  const stale = workers.filter((w) => now - Date.parse(w.lastSeenAt) > STALE_MS).length;
  return html`<section ${attrs}>
<div class="cards">${card('Workers', workers.length, { hint: 'one per worker and queue' })}${card('Processes', hosts, { hint: 'host and pid' })}${card('Busy slots', `${fmtNum(busy)} / ${fmtNum(slots)}`, { hint: slots ? `${Math.round((busy / slots) * 100)} % busy` : 'no capacity' })}${card('Late heartbeat', stale, stale ? { tone: 'warn', hint: 'over 15 s' } : { hint: 'over 15 s' })}</div>
<div class="panel">${
    workers.length === 0
      ? html`<p class="muted empty">No worker${all ? '' : ' seen in the last 30 s'}${queue ? html` on queue ${queue}` : null}.</p>`
      : html`<div class="scroll"><table class="grid workers-table"><thead><tr><th>Worker</th><th>Host</th><th>Queue</th><th class="num">Busy / concurrency</th><th>Last heartbeat</th><th>Started</th><th>Running now</th></tr></thead>
<tbody>${workers.map((w) => row(w, byWorker.get(workerKey(w)) ?? [], now))}</tbody></table></div>`
  }
${r.running === null ? html`<p class="muted small">This key may not list running jobs, so current jobs are not shown.</p>` : null}
</div>
</section>`;
}

const workersModule: DashboardModule = (app, ctx) => {
  const params = (request: FastifyRequest) => ({ queue: formValue(request.query, 'queue'), all: formValue(request.query, 'all') === 'true' });

  app.get('/workers', ROUTE, async (request, reply) => {
    const { queue, all } = params(request);
    const r = await read(ctx, request, queue, all);
    const body = html`<section class="workers"><div class="panel-head"><h1>Workers</h1>
<form method="get" action="/workers" class="filters"><label>Queue <input type="text" name="queue" value="${queue ?? ''}" placeholder="any"></label>
<label><input type="checkbox" name="all" value="true"${all ? html` checked` : null}> include workers not seen for 30 s</label><button type="submit">Show</button></form></div>
${renderWorkers(r, queue, all)}</section>`;
    return ctx.page(request, reply, { title: 'Workers', active: 'workers', body });
  });

  app.get('/ui/fragments/workers', ROUTE, async (request, reply) => {
    const { queue, all } = params(request);
    return ctx.fragment(reply, renderWorkers(await read(ctx, request, queue, all), queue, all));
  });
};

export default workersModule;
