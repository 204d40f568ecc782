/**
 * Queues `/queues` (every queue: counts by state, oldest-job age, completed/min and p95 wait
 * and run time over the last 5 minutes, DLQ depth, paused) and `/queues/:queue` (one queue: the same with limits, throughput
 * chart and links into its jobs and DLQ); pause/resume with a confirmation, through the API.
 *
 * Invariants:
 * - Pause/resume buttons (per queue, and for all queues: one API call each) are rendered only
 *   for keys holding `admin`; the action routes
 *   (`POST /ui/actions/queues/:queue/pause|resume`, CSRF-checked by the plugin) call the API
 *   as the key, so a key without the right is refused there anyway (the answer is shown).
 * - Reads only aggregates (queue counts, per-minute counters): no per-job scan.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DashboardContext, DashboardModule } from './context.js';
import { html, url, type SafeHtml } from './html.js';
import { chartsFragment } from './overview.js';
import { failureRate, fmtAge, fmtMs, fmtNum, fmtPercent, perMinute, problemLine, rangeOf, readQueues, readRecent, readStats, type QueueJson, type StatsJson } from './queue-data.js';

const STATES = ['queued', 'scheduled', 'running', 'retrying', 'waiting', 'completed', 'dead', 'cancelled'] as const;
const STATE_LABELS: Record<string, string> = { queued: 'waiting', scheduled: 'delayed', running: 'active', retrying: 'retrying', waiting: 'children', completed: 'completed', dead: 'dead', cancelled: 'cancelled' };

function pauseButton(ctx: DashboardContext, request: FastifyRequest, q: QueueJson, target: string): SafeHtml {
  if (!ctx.session(request).can('admin')) return html``;
  const action = q.paused ? 'resume' : 'pause';
  const confirm = q.paused ? `Resume queue ${q.name}? Workers start claiming its jobs again.` : `Pause queue ${q.name}? Workers stop claiming its jobs until it is resumed; enqueues continue.`;
  return html`<button type="button" class="${q.paused ? 'btn' : 'btn btn-warn'}" data-action="${action}" hx-post="${url(['/ui/actions/queues', q.name, action], { view: target })}" hx-confirm="${confirm}" hx-target="${target === 'detail' ? '#queue-detail' : '#queues-table'}" hx-swap="outerHTML">${q.paused ? 'Resume' : 'Pause'}</button>`;
}

function stateLink(queue: string, state: string, n: number): SafeHtml {
  return n > 0 ? html`<a href="${url('/jobs', { queue, state })}">${fmtNum(n)}</a>` : html`<span class="muted">0</span>`;
}

/** Live workers per queue: how many, busy slots, slots. */
export type WorkerLoad = Map<string, { workers: number; busy: number; slots: number }>;

async function readWorkers(ctx: DashboardContext, request: FastifyRequest): Promise<WorkerLoad | null> {
  const answer = await ctx.api<{ workers: Array<{ queue: string; busy: number; concurrency: number }> }>(request, 'GET', '/workers');
  if (answer.status !== 200) return null;
  const load: WorkerLoad = new Map();
  for (const w of answer.body.workers) {
    const l = load.get(w.queue) ?? { workers: 0, busy: 0, slots: 0 };
    l.workers++;
    l.busy += w.busy;
    l.slots += w.concurrency;
    load.set(w.queue, l);
  }
  return load;
}

function bulkButtons(ctx: DashboardContext, request: FastifyRequest, queues: QueueJson[]): SafeHtml {
  if (!ctx.session(request).can('admin') || queues.length === 0) return html``;
  const running = queues.filter((q) => !q.paused).length;
  const paused = queues.length - running;
  return html`<div class="bulk">
    ${running > 0 ? html`<button type="button" class="btn btn-warn" data-action="pause-all" hx-post="/ui/actions/queues/pause-all" hx-confirm="${`Pause all ${running} running queues? Workers stop claiming their jobs until they are resumed.`}" hx-target="#queues-table" hx-swap="outerHTML">Pause all</button>` : ''}
    ${paused > 0 ? html`<button type="button" class="btn" data-action="resume-all" hx-post="/ui/actions/queues/resume-all" hx-confirm="${`Resume all ${paused} paused queues?`}" hx-target="#queues-table" hx-swap="outerHTML">Resume all</button>` : ''}
  </div>`;
}

export function queuesTable(ctx: DashboardContext, request: FastifyRequest, queues: QueueJson[], stats: StatsJson | null, workers: WorkerLoad | null, notice?: SafeHtml): SafeHtml {
  const byQueue = new Map((stats?.queues ?? []).map((s) => [s.queue, s]));
  const windowMs = stats ? Date.parse(stats.to) - Date.parse(stats.from) : 0;
  const rows = queues.map(
    (q) => html`<tr data-queue="${q.name}">
  <td><a href="${url(['/queues', q.name])}">${q.name}</a>${q.paused ? html` <span class="tag tag-warn">paused</span>` : ''}</td>
  ${STATES.map((s) => html`<td class="num">${stateLink(q.name, s, q.counts[s] ?? 0)}</td>`)}
  <td class="num">${q.dlqDepth > 0 ? html`<a class="tag tag-bad" href="${url(['/dlq', q.name])}">${fmtNum(q.dlqDepth)}</a>` : html`<span class="muted">0</span>`}</td>
  <td class="num">${fmtAge(q.oldestQueuedAgeMs)}</td>
  <td class="num">${stats ? fmtNum(perMinute(byQueue.get(q.name)?.completed ?? 0, windowMs)) : '—'}</td>
  <td class="num">${fmtMs(byQueue.get(q.name)?.waitP95Ms)}</td>
  <td class="num">${fmtMs(byQueue.get(q.name)?.runP95Ms)}</td>
  <td class="num">${workerCell(workers, q.name)}</td>
  <td class="actions">${pauseButton(ctx, request, q, 'list')}</td>
</tr>`,
  );
  return html`<section id="queues-table" class="panel" hx-get="/ui/fragments/queues-table" hx-trigger="live:tick from:body" hx-swap="outerHTML">
  ${notice ?? ''}
  <div class="panel-head"><span class="muted">${queues.length} ${queues.length === 1 ? 'queue' : 'queues'}; rates and percentiles over the last 5 minutes</span>${bulkButtons(ctx, request, queues)}</div>
  ${
    queues.length === 0
      ? html`<p class="muted empty">No queues yet: a queue appears with its first job.</p>`
      : html`<div class="scroll"><table class="grid"><thead><tr><th>Queue</th>${STATES.map((s) => html`<th class="num">${STATE_LABELS[s]}</th>`)}<th class="num">DLQ</th><th class="num">Oldest waiting</th><th class="num" title="completed per minute over the last 5 minutes">Done/min</th><th class="num" title="last 5 minutes">p95 wait</th><th class="num" title="last 5 minutes">p95 run</th><th class="num" title="live workers: busy slots / slots">Workers</th><th></th></tr></thead><tbody>${rows}</tbody></table></div>`
  }
</section>`;
}

function workerCell(workers: WorkerLoad | null, queue: string): SafeHtml | string {
  if (!workers) return '—';
  const l = workers.get(queue);
  if (!l) return html`<span class="muted">0</span>`;
  return html`<span title="${`${l.workers} live ${l.workers === 1 ? 'worker' : 'workers'}`}">${l.workers} · ${l.busy}/${l.slots}</span>`;
}

function limitsText(q: QueueJson): string {
  const l = q.limits;
  if (!l) return '—';
  const parts: string[] = [];
  if (l.concurrency !== null) parts.push(`concurrency ${l.concurrency}`);
  if (l.rate) parts.push(`rate ${l.rate.max} per ${fmtAge(l.rate.intervalMs)}`);
  if (l.groupConcurrency !== null) parts.push(`group concurrency ${l.groupConcurrency}`);
  if (l.fifo) parts.push('FIFO per group');
  return parts.length ? parts.join(' · ') : 'none';
}

export function queueDetail(ctx: DashboardContext, request: FastifyRequest, q: QueueJson, recent: StatsJson | null, notice?: SafeHtml): SafeHtml {
  const windowMs = recent ? Date.parse(recent.to) - Date.parse(recent.from) : 0;
  const mine = recent?.queues.find((x) => x.queue === q.name);
  const rate = recent ? failureRate(recent.totals) : null;
  const now = html`<div class="cards">
    <div class="card"><span class="card-label">Done/min</span><span class="card-value">${recent ? fmtNum(perMinute(recent.totals.completed, windowMs)) : '—'}</span><span class="card-hint">last 5 min</span></div>
    <div class="card"><span class="card-label">Failure rate</span><span class="card-value">${fmtPercent(rate)}</span><span class="card-hint">last 5 min</span></div>
    <div class="card"><span class="card-label">p95 wait</span><span class="card-value">${fmtMs(mine?.waitP95Ms)}</span><span class="card-hint">last 5 min</span></div>
    <div class="card"><span class="card-label">p95 run time</span><span class="card-value">${fmtMs(mine?.runP95Ms)}</span><span class="card-hint">last 5 min</span></div>
  </div>`;
  const counts = STATES.map((s) => html`<div class="card"><span class="card-label">${STATE_LABELS[s]}</span><span class="card-value">${stateLink(q.name, s, q.counts[s] ?? 0)}</span></div>`);
  return html`<section id="queue-detail" hx-get="${url(['/ui/fragments/queue', q.name])}" hx-trigger="live:tick from:body" hx-swap="outerHTML">
  ${notice ?? ''}
  <div class="panel-head"><h1>Queue <span class="name">${q.name}</span> ${q.paused ? html`<span class="tag tag-warn">paused</span>` : html`<span class="tag tag-ok">running</span>`}</h1><div>${pauseButton(ctx, request, q, 'detail')}</div></div>
  <div class="cards">${counts}
    <a class="${q.dlqDepth > 0 ? 'card card-bad' : 'card'}" href="${url(['/dlq', q.name])}"><span class="card-label">DLQ</span><span class="card-value">${fmtNum(q.dlqDepth)}</span></a>
    <div class="card"><span class="card-label">Oldest waiting</span><span class="card-value">${fmtAge(q.oldestQueuedAgeMs)}</span></div>
  </div>
  ${now}
  <p class="muted">Limits: ${limitsText(q)}${q.heldUntil ? html` · held until ${q.heldUntil}` : ''} · <a href="${url('/jobs', { queue: q.name })}">Jobs of this queue</a> · <a href="${url(['/dlq', q.name])}">Its DLQ</a></p>
</section>`;
}

async function listAnswer(ctx: DashboardContext, request: FastifyRequest) {
  const [queues, stats, workers] = await Promise.all([readQueues(ctx, request), readRecent(ctx, request), readWorkers(ctx, request)]);
  return { queues, stats: stats.status === 200 ? stats.body : null, workers };
}

const queues: DashboardModule = (app, ctx) => {
  app.get('/queues', { config: { public: true } }, async (request, reply) => {
    const { queues, stats, workers } = await listAnswer(ctx, request);
    const body =
      queues.status === 200
        ? html`<h1>Queues</h1>${queuesTable(ctx, request, queues.body.queues, stats, workers)}`
        : html`<h1>Queues</h1><div class="notice error">${problemLine(queues)}</div>`;
    return ctx.page(request, reply, { title: 'Queues', active: 'queues', body });
  });

  app.get('/ui/fragments/queues-table', { config: { public: true } }, async (request, reply) => {
    const { queues, stats, workers } = await listAnswer(ctx, request);
    if (queues.status !== 200) return ctx.fragment(reply, html`<section id="queues-table" class="notice error">${problemLine(queues)}</section>`);
    return ctx.fragment(reply, queuesTable(ctx, request, queues.body.queues, stats, workers));
  });

  app.get<{ Params: { queue: string }; Querystring: { range?: string } }>('/queues/:queue', { config: { public: true } }, async (request, reply) => {
    const name = request.params.queue;
    const range = rangeOf(request.query.range);
    const [q, stats, recent] = await Promise.all([ctx.api<QueueJson>(request, 'GET', url(['/queues', name])), readStats(ctx, request, range, name), readRecent(ctx, request, name)]);
    if (q.status !== 200) {
      const body = html`<h1>Queue <span class="name">${name}</span></h1><div class="notice error">${q.status === 404 || q.status === 400 ? `No queue named “${name}”.` : problemLine(q)}</div><p><a href="/queues">All queues</a></p>`;
      return ctx.page(request, reply.code(q.status === 400 ? 404 : q.status), { title: `Queue ${name}`, active: 'queues', body });
    }
    const body = html`${queueDetail(ctx, request, q.body, recent.status === 200 ? recent.body : null)}${chartsFragment(stats.status === 200 ? stats.body : null, range, name)}`;
    return ctx.page(request, reply, { title: `Queue ${name}`, active: 'queues', body, live: { queues: [name] } });
  });

  app.get<{ Params: { queue: string } }>('/ui/fragments/queue/:queue', { config: { public: true } }, async (request, reply) => {
    const [q, recent] = await Promise.all([ctx.api<QueueJson>(request, 'GET', url(['/queues', request.params.queue])), readRecent(ctx, request, request.params.queue)]);
    if (q.status !== 200) return ctx.fragment(reply, html`<section id="queue-detail" class="notice error">${problemLine(q)}</section>`);
    return ctx.fragment(reply, queueDetail(ctx, request, q.body, recent.status === 200 ? recent.body : null));
  });

  // Pause/resume every queue the key can see, one API call per queue (the API has no bulk form).
  for (const action of ['pause', 'resume'] as const) {
    app.post(`/ui/actions/queues/${action}-all`, { config: { public: true } }, async (request, reply) => {
      const list = await readQueues(ctx, request);
      if (list.status !== 200) return rerender(ctx, request, reply, null, html`<div class="notice error" role="alert">Could not list the queues: ${problemLine(list)}.</div>`, list.status);
      const targets = list.body.queues.filter((q) => q.paused === (action === 'resume'));
      const answers = await Promise.all(targets.map((q) => ctx.api(request, 'POST', url(['/queues', q.name, action]))));
      const failed = targets.filter((_, i) => answers[i]!.status !== 200);
      const done = targets.length - failed.length;
      const verb = action === 'pause' ? 'paused' : 'resumed';
      const notice = failed.length
        ? html`<div class="notice error" role="alert">${done} ${verb}; refused for ${failed.map((q) => q.name).join(', ')} (${problemLine(answers[targets.indexOf(failed[0]!)]!)}).</div>`
        : html`<div class="notice ok" role="status">${done} ${done === 1 ? 'queue' : 'queues'} ${verb}.</div>`;
      return rerender(ctx, request, reply, null, notice, failed.length ? answers[targets.indexOf(failed[0]!)]!.status : 200);
    });
  }

  for (const action of ['pause', 'resume'] as const) {
    app.post<{ Params: { queue: string }; Querystring: { view?: string } }>(`/ui/actions/queues/:queue/${action}`, { config: { public: true } }, async (request, reply) => {
      const name = request.params.queue;
      const answer = await ctx.api(request, 'POST', url(['/queues', name, action]));
      const notice =
        answer.status === 200
          ? html`<div class="notice ok" role="status">Queue ${name} ${action === 'pause' ? 'paused' : 'resumed'}.</div>`
          : html`<div class="notice error" role="alert">Could not ${action} ${name}: ${problemLine(answer)}.</div>`;
      return rerender(ctx, request, reply, request.query.view === 'detail' ? name : null, notice, answer.status === 200 ? 200 : answer.status);
    });
  }
};

/** The fragment an action's button targets, re-read after the action, with a notice. */
async function rerender(ctx: DashboardContext, request: FastifyRequest, reply: FastifyReply, detailOf: string | null, notice: SafeHtml, status: number): Promise<FastifyReply> {
  // htmx swaps only 2xx answers by default: an error is still shown (as the notice) with 200,
  // and its real status goes in a header for scripts and tests.
  reply.header('x-spindle-api-status', String(status));
  if (detailOf !== null) {
    const [q, recent] = await Promise.all([ctx.api<QueueJson>(request, 'GET', url(['/queues', detailOf])), readRecent(ctx, request, detailOf)]);
    if (q.status === 200) return ctx.fragment(reply, queueDetail(ctx, request, q.body, recent.status === 200 ? recent.body : null, notice));
    return ctx.fragment(reply, html`<section id="queue-detail">${notice}</section>`);
  }
  const { queues, stats, workers } = await listAnswer(ctx, request);
  if (queues.status !== 200) return ctx.fragment(reply, html`<section id="queues-table">${notice}</section>`);
  return ctx.fragment(reply, queuesTable(ctx, request, queues.body.queues, stats, workers, notice));
}

export default queues;
