/**
 * Overview `/`: cards (waiting, active, delayed, retrying, dead; throughput/min, failure rate,
 * p95 wait and run time over the last 5 minutes),
 * throughput charts over 1 h / 6 h / 24 h, and the problem queues (paused, DLQ non-empty,
 * oldest job waiting too long). Live: the cards and problem list refresh on `live:tick`, the
 * charts at most every 15 s.
 *
 * Invariants:
 * - Reads only aggregates (`GET /queues`, `GET /stats`): its cost does not grow with the number
 *   of jobs (ADR 0018; measured by bench/tools/dashboard-*.ts).
 * - Chart data travels as escaped JSON in a `data-chart` attribute; app.js draws it with
 *   uPlot (no inline script).
 * - Wait and run-time percentiles come from `GET /stats`'s `latency` (what the server observed
 *   in memory since it started, at most 24 h); the cards say "since" when it covers less.
 */
import type { FastifyRequest } from 'fastify';
import type { DashboardContext, DashboardModule } from './context.js';
import { html, url, type SafeHtml } from './html.js';
import { chartData, latencyChartData, failureRate, fmtAge, fmtMs, fmtNum, fmtPercent, catchUpDelayMs, OVERVIEW_MAX_AGE_MS, perMinute, tickTrigger, problemLine, problemsOf, RANGES, rangeOf, readQueues, readRecent, readStats, sum, type QueueJson, type RangeKey, type StatsJson } from './queue-data.js';

function card(label: string, value: string, opts: { href?: string; tone?: 'warn' | 'bad' | 'ok'; hint?: string } = {}): SafeHtml {
  const inner = html`<span class="card-label">${label}</span><span class="card-value">${value}</span>${opts.hint ? html`<span class="card-hint">${opts.hint}</span>` : ''}`;
  const cls = `card${opts.tone ? ` card-${opts.tone}` : ''}`;
  return opts.href ? html`<a class="${cls}" href="${opts.href}">${inner}</a>` : html`<div class="${cls}">${inner}</div>`;
}

/** The cards: current counts, and rates/percentiles of the last 5 minutes (`stats`). */
export function cardsFragment(queues: QueueJson[], stats: StatsJson | null, catchUpMs: number | null = null): SafeHtml {
  const dead = queues.reduce((s, q) => s + q.dlqDepth, 0);
  const windowMs = stats ? Date.parse(stats.to) - Date.parse(stats.from) : 0;
  const rate = stats ? failureRate(stats.totals) : null;
  const label = '5 min';
  return html`<section id="overview-cards" class="cards" hx-get="/ui/fragments/overview-cards" hx-trigger="${tickTrigger(catchUpMs)}" hx-swap="outerHTML">
  ${card('Waiting', fmtNum(sum(queues, 'queued')), { href: url('/jobs', { state: 'queued' }) })}
  ${card('Active', fmtNum(sum(queues, 'running')), { href: url('/jobs', { state: 'running' }) })}
  ${card('Delayed', fmtNum(sum(queues, 'scheduled')), { href: url('/jobs', { state: 'scheduled' }) })}
  ${card('Retrying', fmtNum(sum(queues, 'retrying')), { href: url('/jobs', { state: 'retrying' }), ...(sum(queues, 'retrying') > 0 ? { tone: 'warn' as const } : {}) })}
  ${card('Dead (DLQ)', fmtNum(dead), { href: '/dlq', ...(dead > 0 ? { tone: 'bad' as const } : {}) })}
  ${card('Throughput', stats ? `${fmtNum(perMinute(stats.totals.completed, windowMs))}/min` : '—', { hint: `completed, last ${label}` })}
  ${card('Failure rate', fmtPercent(rate), { hint: `failed attempts, last ${label}`, ...(rate !== null && rate > 0.05 ? { tone: 'warn' as const } : {}) })}
  ${card('p95 wait', stats?.latency ? fmtMs(stats.latency.wait.p95) : '—', { hint: latencyHint(stats, 'wait', label) })}
  ${card('p95 run time', stats?.latency ? fmtMs(stats.latency.run.p95) : '—', { hint: latencyHint(stats, 'run', label) })}
  ${card('Queues', fmtNum(queues.length), { href: '/queues', hint: `${queues.filter((q) => q.paused).length} paused` })}
</section>`;
}

function latencyHint(stats: StatsJson | null, kind: 'wait' | 'run', label: string): string {
  const l = stats?.latency;
  if (!l) return 'not available';
  const n = l[kind].count;
  const since = Date.parse(l.since);
  const partial = stats && since > Date.parse(stats.from);
  return `${fmtNum(n)} ${kind === 'wait' ? 'starts' : 'attempts'}, ${partial ? `since the server started` : `last ${label}`}`;
}

export function problemsFragment(queues: QueueJson[], catchUpMs: number | null = null): SafeHtml {
  const problems = queues.map((q) => ({ q, why: problemsOf(q) })).filter((p) => p.why.length > 0);
  const rows = problems.map(
    ({ q, why }) => html`<tr><td><a href="${url(['/queues', q.name])}">${q.name}</a></td><td>${why.map((w, i) => html`${i > 0 ? ' · ' : ''}<span class="${w === 'paused' ? 'tag tag-warn' : 'tag tag-bad'}">${w}</span>`)}</td><td class="num">${fmtNum(q.counts.queued ?? 0)}</td><td class="num">${fmtAge(q.oldestQueuedAgeMs)}</td></tr>`,
  );
  return html`<section id="problem-queues" class="panel" hx-get="/ui/fragments/problem-queues" hx-trigger="${tickTrigger(catchUpMs)}" hx-swap="outerHTML">
  <h2>Problem queues</h2>
  ${
    problems.length === 0
      ? html`<p class="muted empty">None: no queue is paused, has dead jobs, or has a job waiting over 5 minutes.</p>`
      : html`<table class="grid"><thead><tr><th>Queue</th><th>Why</th><th class="num">Waiting</th><th class="num">Oldest</th></tr></thead><tbody>${rows}</tbody></table>`
  }
</section>`;
}

function stepLabel(stats: StatsJson | null): string {
  const m = stats ? Math.round(stats.stepSeconds / 60) : 1;
  return m === 1 ? 'per minute' : `per ${m} minutes`;
}

export function chartsFragment(stats: StatsJson | null, range: RangeKey, queue?: string): SafeHtml {
  const base = queue ? ['/queues', queue] : ['/'];
  const tabs = (Object.keys(RANGES) as RangeKey[]).map((r) => html`<a href="${url(base, { range: r })}" class="${r === range ? 'seg active' : 'seg'}">${r}</a>`);
  const fragmentUrl = url('/ui/fragments/charts', { range, queue });
  return html`<section id="charts" class="panel" hx-get="${fragmentUrl}" hx-trigger="live:tick from:body throttle:15s" hx-swap="outerHTML">
  <div class="panel-head"><h2>Throughput ${stepLabel(stats)}</h2><nav class="segmented" aria-label="Range">${tabs}</nav></div>
  ${stats ? html`<div class="chart" data-chart="${JSON.stringify(chartData(stats))}" data-unit="jobs" role="img" aria-label="Completed, enqueued and failed jobs over the last ${RANGES[range].label}"></div>` : html`<p class="muted">No throughput data for this key.</p>`}
  ${stats?.latency ? html`<h2>Latency (p95)</h2><div class="chart" data-chart="${JSON.stringify(latencyChartData(stats))}" data-unit="ms" role="img" aria-label="p95 wait and run time over the last ${RANGES[range].label}"></div>` : ''}
  <p class="muted small">Throughput from the per-minute counters (they survive job deletion); latency as this server observed it since it started (at most 24 h).</p>
</section>`;
}

async function loadCards(ctx: DashboardContext, request: FastifyRequest) {
  const requestedAt = Date.now();
  const [queues, recent] = await Promise.all([readQueues(ctx, request, OVERVIEW_MAX_AGE_MS), readRecent(ctx, request)]);
  const catchUp = queues.status === 200 ? catchUpDelayMs(queues.body.asOf, requestedAt) : null;
  return { queues, recent: recent.status === 200 ? recent.body : null, catchUp };
}

const overview: DashboardModule = (app, ctx) => {
  app.get<{ Querystring: { range?: string } }>('/', { config: { public: true } }, async (request, reply) => {
    const range = rangeOf(request.query.range);
    const [{ queues, recent, catchUp }, ranged] = await Promise.all([loadCards(ctx, request), readStats(ctx, request, range)]);
    const stats = ranged.status === 200 ? ranged.body : null;
    if (queues.status !== 200) {
      return ctx.page(request, reply, { title: 'Overview', active: 'overview', body: html`<h1>Overview</h1><div class="notice error">${problemLine(queues)}. This key may be limited to some queues: open them from <a href="/jobs">Jobs</a>.</div>` });
    }
    const list = queues.body.queues;
    const body = html`<h1>Overview</h1>
${cardsFragment(list, recent, catchUp)}
${chartsFragment(stats, range)}
${problemsFragment(list, catchUp)}`;
    return ctx.page(request, reply, { title: 'Overview', active: 'overview', body });
  });

  app.get('/ui/fragments/overview-cards', { config: { public: true } }, async (request, reply) => {
    const { queues, recent, catchUp } = await loadCards(ctx, request);
    if (queues.status !== 200) return ctx.fragment(reply, html`<section id="overview-cards" class="notice error">${problemLine(queues)}</section>`);
    return ctx.fragment(reply, cardsFragment(queues.body.queues, recent, catchUp));
  });

  app.get('/ui/fragments/problem-queues', { config: { public: true } }, async (request, reply) => {
    const requestedAt = Date.now();
    const queues = await readQueues(ctx, request, OVERVIEW_MAX_AGE_MS);
    if (queues.status !== 200) return ctx.fragment(reply, html`<section id="problem-queues" class="notice error">${problemLine(queues)}</section>`);
    return ctx.fragment(reply, problemsFragment(queues.body.queues, catchUpDelayMs(queues.body.asOf, requestedAt)));
  });

  app.get<{ Querystring: { range?: string; queue?: string } }>('/ui/fragments/charts', { config: { public: true } }, async (request, reply) => {
    const range = rangeOf(request.query.range);
    const queue = typeof request.query.queue === 'string' && request.query.queue.length > 0 ? request.query.queue : undefined;
    const stats = await readStats(ctx, request, range, queue);
    return ctx.fragment(reply, chartsFragment(stats.status === 200 ? stats.body : null, range, queue));
  });
};

export default overview;
