/**
 * The alerts view (issue 8 point 6): `GET /alerts` shows the alert rules and their history.
 * Today the server has one built-in rule, "DLQ depth > 0", evaluated per queue
 * (server push/dlq-alerts.ts, `GET /api/v1/alerts`): each queue's state (firing / ok, depth,
 * since), and the recent transitions (`dlq.alert.fired` / `dlq.alert.cleared`) this server saw.
 * Configurable rules (failure rate, oldest-job age, backlog) are not built (ADR 0018).
 *
 * Routes:
 *   GET /alerts                   the page
 *   GET /ui/fragments/alerts      rule state and history (refreshes on live DLQ alerts and every 10 s)
 *
 * Invariants:
 * - Reads only through `ctx.api` as the session's key: `GET /alerts` (read on every queue) and
 *   `GET /queues` (to list the queues whose rule is ok and never fired). Read-only: no controls.
 * - Queue names are escaped; links are built with `url`.
 */
import type { FastifyRequest } from 'fastify';
import type { DashboardContext, DashboardModule } from './context.js';
import { html, url, type SafeHtml } from './html.js';
import { notice, problemText, ROUTE } from './jobs-common.js';
import { card, timeCell } from './ops-common.js';
import { fmtNum, readQueues } from './queue-data.js';

export interface AlertsJson {
  rules: Array<{ id: string; description: string; threshold: number }>;
  checkedAt: string | null;
  queues: Array<{ queue: string; rule: string; depth: number; state: 'firing' | 'ok'; since: string | null }>;
  history: Array<{ type: 'dlq.alert.fired' | 'dlq.alert.cleared'; queue: string; depth: number; at: string }>;
}

interface QueueRuleState {
  queue: string;
  depth: number;
  firing: boolean;
  since: string | null;
}

async function read(ctx: DashboardContext, request: FastifyRequest): Promise<{ alerts: AlertsJson | null; states: QueueRuleState[]; error: string | null }> {
  const [alerts, queues] = await Promise.all([ctx.api<AlertsJson>(request, 'GET', '/alerts'), readQueues(ctx, request)]);
  if (alerts.status !== 200) return { alerts: null, states: [], error: problemText(alerts) };
  const byQueue = new Map<string, QueueRuleState>();
  if (queues.status === 200) for (const q of queues.body.queues) byQueue.set(q.name, { queue: q.name, depth: q.dlqDepth, firing: q.dlqDepth > 0, since: null });
  for (const q of alerts.body.queues) byQueue.set(q.queue, { queue: q.queue, depth: q.depth, firing: q.state === 'firing', since: q.since });
  const states = [...byQueue.values()].sort((a, b) => Number(b.firing) - Number(a.firing) || a.queue.localeCompare(b.queue));
  return { alerts: alerts.body, states, error: null };
}

function stateRows(states: QueueRuleState[], ruleId: string): SafeHtml {
  if (states.length === 0) return html`<p class="muted empty">No queues yet.</p>`;
  const rows = states.map(
    (s) => html`<tr data-queue="${s.queue}" data-rule="${ruleId}" data-state="${s.firing ? 'firing' : 'ok'}" data-depth="${s.depth}">
  <td><a href="${url(['/queues', s.queue])}">${s.queue}</a></td>
  <td>${s.firing ? html`<span class="tag tag-bad">firing</span>` : html`<span class="tag tag-ok">ok</span>`}</td>
  <td class="num">${s.depth > 0 ? html`<a href="${url(['/dlq', s.queue])}">${fmtNum(s.depth)}</a>` : '0'}</td>
  <td>${s.since ? timeCell(s.since, { relativeFirst: true }) : html`<span class="muted">${s.firing ? 'before this server started' : '—'}</span>`}</td>
</tr>`,
  );
  return html`<div class="scroll"><table class="grid alert-states"><thead><tr><th>Queue</th><th>State</th><th class="num">DLQ depth</th><th>Since</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

function historyRows(history: AlertsJson['history']): SafeHtml {
  if (history.length === 0) return html`<p class="muted empty">No alert since this server started.</p>`;
  const rows = history.map(
    (h) => html`<tr class="alert-event" data-type="${h.type}" data-queue="${h.queue}">
  <td>${timeCell(h.at)}</td>
  <td>${h.type === 'dlq.alert.fired' ? html`<span class="tag tag-bad">fired</span>` : html`<span class="tag tag-ok">cleared</span>`}</td>
  <td><a href="${url(['/dlq', h.queue])}">${h.queue}</a></td>
  <td class="num">${fmtNum(h.depth)}</td>
</tr>`,
  );
  return html`<div class="scroll"><table class="grid alert-history"><thead><tr><th>At</th><th>Event</th><th>Queue</th><th class="num">Depth</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

export function renderAlerts(r: Awaited<ReturnType<typeof read>>): SafeHtml {
  const attrs = html`id="alerts-body" hx-get="/ui/fragments/alerts" hx-trigger="live:dlq-alert-fired from:body, live:dlq-alert-cleared from:body, every 10s" hx-swap="outerHTML"`;
  if (!r.alerts) return html`<section ${attrs}>${notice('error', r.error ?? 'Could not read the alerts.')}</section>`;
  const firing = r.states.filter((s) => s.firing);
  const rule = r.alerts.rules[0] ?? { id: 'dlq-depth', description: 'DLQ depth > 0', threshold: 0 };
  return html`<section ${attrs}>
<div class="cards">${card('Firing', firing.length, firing.length ? { tone: 'bad', hint: firing.slice(0, 3).map((s) => s.queue).join(', ') } : { tone: 'ok', hint: 'every queue ok' })}${card('Rules', r.alerts.rules.length, { hint: 'built in' })}${card('Transitions', r.alerts.history.length, { hint: 'since this server started' })}</div>
<div class="panel">
<div class="panel-head"><h2>Rules</h2><span class="muted small">checked ${r.alerts.checkedAt ? timeCell(r.alerts.checkedAt, { relativeFirst: true }) : 'not yet'}</span></div>
<table class="grid alert-rules"><thead><tr><th>Rule</th><th>Scope</th><th>Notifies</th><th class="num">Firing</th></tr></thead><tbody>${r.alerts.rules.map(
    (x) => html`<tr data-rule="${x.id}"><td><strong>${x.description}</strong></td><td>each queue</td><td>banner on every page, <code>dlq.alert.*</code> events (SSE, WebSocket, webhooks)</td><td class="num">${firing.length}</td></tr>`,
  )}</tbody></table>
<p class="muted small">Not built yet: configurable thresholds (failure rate, oldest-job age, backlog size) — watch those through <a href="/metrics">/metrics</a> and your Prometheus alerting for now.</p>
</div>
<div class="panel"><div class="panel-head"><h2>${rule.description} — per queue</h2></div>${stateRows(r.states, rule.id)}</div>
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
