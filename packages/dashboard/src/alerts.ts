/**
 * The alerts view (issue 8 point 6): `GET /alerts` shows every alert rule of the server (the
 * built-in `dlq-not-empty` and the configured failure rate, oldest-job age and backlog rules;
 * server alerts/rules.ts, `GET /api/v1/alerts`), each rule's state per queue (firing / ok /
 * pending, value, threshold, since) and the recent transitions (`alert.firing` /
 * `alert.resolved`) this server saw.
 *
 * Routes:
 *   GET /alerts                   the page
 *   GET /ui/fragments/alerts      rules, states and history (refreshes on live alert events and every 10 s)
 *
 * Invariants:
 * - Reads only through `ctx.api` as the session's key: `GET /alerts` (read on every queue) and
 *   `GET /queues` (to list, under DLQ-depth rules, the queues that are ok and never fired).
 *   Read-only: no controls.
 * - Names and values are escaped (`html`); links are built with `url`.
 */
import type { FastifyRequest } from 'fastify';
import type { DashboardContext, DashboardModule } from './context.js';
import { html, url, type SafeHtml } from './html.js';
import { notice, problemText, ROUTE } from './jobs-common.js';
import { card, timeCell } from './ops-common.js';
import { fmtAge, fmtNum, fmtPercent, readQueues } from './queue-data.js';

type Kind = 'dlq_depth' | 'failure_rate' | 'oldest_queued_age' | 'backlog';

export interface AlertsJson {
  rules: Array<{ id: string; description: string; kind: Kind; queue: string; threshold: number; forMs: number; windowMs: number | null; source: 'builtin' | 'config' }>;
  checkedAt: string | null;
  queues: Array<{ queue: string; rule: string; kind: Kind; state: 'firing' | 'ok'; value: number; threshold: number; since: string | null; pendingSince: string | null }>;
  history: Array<{ type: 'alert.firing' | 'alert.resolved'; rule: string; kind: Kind; queue: string; value: number; threshold: number; at: string }>;
}

type StateRow = AlertsJson['queues'][number];

interface Read {
  alerts: AlertsJson | null;
  /** Per rule id, its queues (firing first). */
  states: Map<string, StateRow[]>;
  error: string | null;
}

const inScope = (pattern: string, queue: string) => pattern === '*' || (pattern.endsWith('*') ? queue.startsWith(pattern.slice(0, -1)) : queue === pattern);

async function read(ctx: DashboardContext, request: FastifyRequest): Promise<Read> {
  const [alerts, queues] = await Promise.all([ctx.api<AlertsJson>(request, 'GET', '/alerts'), readQueues(ctx, request)]);
  if (alerts.status !== 200) return { alerts: null, states: new Map(), error: problemText(alerts) };
  const states = new Map<string, StateRow[]>();
  for (const rule of alerts.body.rules) {
    const byQueue = new Map<string, StateRow>();
    // DLQ rules: every queue, with its depth from GET /queues (the API lists only queues whose DLQ was non-empty).
    if (rule.kind === 'dlq_depth' && queues.status === 200) {
      for (const q of queues.body.queues) {
        if (inScope(rule.queue, q.name)) byQueue.set(q.name, { queue: q.name, rule: rule.id, kind: rule.kind, state: q.dlqDepth > rule.threshold ? 'firing' : 'ok', value: q.dlqDepth, threshold: rule.threshold, since: null, pendingSince: null });
      }
    }
    for (const s of alerts.body.queues) if (s.rule === rule.id) byQueue.set(s.queue, s);
    states.set(rule.id, [...byQueue.values()].sort((a, b) => Number(b.state === 'firing') - Number(a.state === 'firing') || a.queue.localeCompare(b.queue)));
  }
  return { alerts: alerts.body, states, error: null };
}

/** A rule's value in its unit. */
function fmtValue(kind: Kind, v: number): string {
  if (kind === 'failure_rate') return fmtPercent(v);
  if (kind === 'oldest_queued_age') return v > 0 ? fmtAge(v) : '0';
  return fmtNum(v);
}

function stateTag(s: StateRow): SafeHtml {
  if (s.state === 'firing') return html`<span class="tag tag-bad">firing</span>`;
  return s.pendingSince ? html`<span class="tag tag-warn" title="above the threshold, not yet for long enough">pending</span>` : html`<span class="tag tag-ok">ok</span>`;
}

function valueCell(s: StateRow): SafeHtml | string {
  const text = fmtValue(s.kind, s.value);
  return s.kind === 'dlq_depth' && s.value > 0 ? html`<a href="${url(['/dlq', s.queue])}">${text}</a>` : text;
}

function stateRows(rule: AlertsJson['rules'][number], states: StateRow[]): SafeHtml {
  if (states.length === 0) return html`<p class="muted empty">No matching queue yet${rule.kind === 'dlq_depth' ? '' : ' (or not evaluated yet)'}.</p>`;
  const rows = states.map(
    (s) => html`<tr data-queue="${s.queue}" data-rule="${rule.id}" data-state="${s.state}" data-value="${s.value}"${s.kind === 'dlq_depth' ? html` data-depth="${s.value}"` : ''}>
  <td><a href="${url(['/queues', s.queue])}">${s.queue}</a></td>
  <td>${stateTag(s)}</td>
  <td class="num">${valueCell(s)}</td>
  <td>${s.since ? timeCell(s.since, { relativeFirst: true }) : html`<span class="muted">${s.state === 'firing' ? 'before this server started' : '—'}</span>`}${s.pendingSince ? html` <span class="muted small">(above since ${timeCell(s.pendingSince, { relativeFirst: true })})</span>` : ''}</td>
</tr>`,
  );
  return html`<div class="scroll"><table class="grid alert-states" data-rule="${rule.id}"><thead><tr><th>Queue</th><th>State</th><th class="num">Value</th><th>Since</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

function historyRows(history: AlertsJson['history']): SafeHtml {
  if (history.length === 0) return html`<p class="muted empty">No alert since this server started.</p>`;
  const rows = history.map(
    (h) => html`<tr class="alert-event" data-type="${h.type}" data-rule="${h.rule}" data-queue="${h.queue}">
  <td>${timeCell(h.at)}</td>
  <td>${h.type === 'alert.firing' ? html`<span class="tag tag-bad">firing</span>` : html`<span class="tag tag-ok">resolved</span>`}</td>
  <td>${h.rule}</td>
  <td><a href="${url(h.kind === 'dlq_depth' ? ['/dlq', h.queue] : ['/queues', h.queue])}">${h.queue}</a></td>
  <td class="num">${fmtValue(h.kind, h.value)}</td>
  <td class="num">${fmtValue(h.kind, h.threshold)}</td>
</tr>`,
  );
  return html`<div class="scroll"><table class="grid alert-history"><thead><tr><th>At</th><th>Event</th><th>Rule</th><th>Queue</th><th class="num">Value</th><th class="num">Threshold</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

export function renderAlerts(r: Read): SafeHtml {
  const attrs = html`id="alerts-body" hx-get="/ui/fragments/alerts" hx-trigger="live:alert-firing from:body, live:alert-resolved from:body, every 10s" hx-swap="outerHTML"`;
  if (!r.alerts) return html`<section ${attrs}>${notice('error', r.error ?? 'Could not read the alerts.')}</section>`;
  const firing = [...r.states.values()].flat().filter((s) => s.state === 'firing');
  const configured = r.alerts.rules.filter((x) => x.source === 'config').length;
  return html`<section ${attrs}>
<div class="cards">${card('Firing', firing.length, firing.length ? { tone: 'bad', hint: [...new Set(firing.map((s) => s.queue))].slice(0, 3).join(', ') } : { tone: 'ok', hint: 'every rule ok' })}${card('Rules', r.alerts.rules.length, { hint: `${r.alerts.rules.length - configured} built in, ${configured} configured` })}${card('Transitions', r.alerts.history.length, { hint: 'since this server started' })}</div>
<div class="panel">
<div class="panel-head"><h2>Rules</h2><span class="muted small">checked ${r.alerts.checkedAt ? timeCell(r.alerts.checkedAt, { relativeFirst: true }) : 'not yet'}</span></div>
<div class="scroll"><table class="grid alert-rules"><thead><tr><th>Rule</th><th>Condition</th><th>Scope</th><th>Source</th><th class="num">Firing</th></tr></thead><tbody>${r.alerts.rules.map(
    (x) => html`<tr data-rule="${x.id}" data-kind="${x.kind}" data-source="${x.source}"><td><strong>${x.id}</strong></td><td>${x.description}</td><td>${x.queue === '*' ? 'each queue' : html`<code>${x.queue}</code>`}</td><td>${x.source === 'builtin' ? 'built in' : 'config'}</td><td class="num">${(r.states.get(x.id) ?? []).filter((s) => s.state === 'firing').length}</td></tr>`,
  )}</tbody></table></div>
<p class="muted small">Transitions are published as <code>alert.firing</code> / <code>alert.resolved</code> events (SSE, WebSocket, webhooks); rules are set with the server option <code>alerts</code> or <code>spindle serve --alerts-file</code>.</p>
</div>
${r.alerts.rules.map((x) => html`<div class="panel alert-rule" data-rule="${x.id}"><div class="panel-head"><h2>${x.id} — ${x.description}</h2></div>${stateRows(x, r.states.get(x.id) ?? [])}</div>`)}
<div class="panel"><div class="panel-head"><h2>History</h2><span class="muted small">newest first, kept in memory by this server</span></div>${historyRows(r.alerts.history)}</div>
</section>`;
}

const alertsModule: DashboardModule = (app, ctx) => {
  app.get('/alerts', ROUTE, async (request, reply) => {
    const body = html`<section class="alerts"><h1>Alerts</h1>${renderAlerts(await read(ctx, request))}</section>`;
    return ctx.page(request, reply, { title: 'Alerts', active: 'alerts', body });
  });

  app.get('/ui/fragments/alerts', ROUTE, async (request, reply) => ctx.fragment(reply, renderAlerts(await read(ctx, request))));
};

export default alertsModule;
