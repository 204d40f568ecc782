/**
 * Pure parts of the dead-letter-queue views (`/dlq`, `/dlq/:queue`): the DLQ filter (URL ⇄ API
 * list query ⇄ API action filter) and the rendering of the depth table, the groups by failure
 * reason, the search form, the dead jobs table and the action controls. API JSON in, SafeHtml out.
 *
 * Invariants:
 * - Every value from the API or the URL goes through `html`; links and hx-* URLs through `url`.
 * - Replay / resolve / purge controls render only when `canDlq` (the API's `dlq` action), and
 *   every one of them carries `hx-confirm` naming what it acts on.
 * - Actions post to `/ui/actions/dlq/:queue/:action` with a `scope` of `ids`, `group`, `filter`
 *   or `all`; the options (target queue, resolve note) ride along from `#dlq-options`.
 * - The list defaults to unresolved dead jobs (those counted in the DLQ depth).
 */
import { html, url, type SafeHtml } from './html.js';
import { fmtTime, formValue, jsonPreview, notice, toInstant, toLocalInput, type JobJson, type JobPageJson } from './jobs-common.js';

export type DlqAction = 'replay' | 'resolve' | 'purge';
export const DLQ_ACTIONS: readonly DlqAction[] = ['replay', 'resolve', 'purge'];
export const VERB: Record<DlqAction, string> = { replay: 'Replay', resolve: 'Resolve', purge: 'Purge' };
/** The most ids one selection action takes (the API's limit for `ids`). */
export const MAX_SELECTED = 1000;

export interface DlqGroupJson {
  reason: string;
  count: number;
  firstFailedAt: string;
  lastFailedAt: string;
  sampleJobId: string;
}

export interface DlqFilter {
  name?: string;
  q?: string;
  error?: string;
  /** The exact failure reason (a group's link); never empty. */
  reason?: string;
  from?: string;
  to?: string;
  /** 'false' (default: unresolved), 'true', or 'all'. */
  resolved: 'true' | 'false' | 'all';
  cursor?: string;
  limit: number;
}

const trimmed = (v: string | undefined, max = 500): string | undefined => {
  const t = v?.trim();
  return t ? t.slice(0, max) : undefined;
};

export function parseDlqFilter(source: unknown): DlqFilter {
  const r = formValue(source, 'resolved');
  const limitRaw = Number(formValue(source, 'limit'));
  const f: DlqFilter = { resolved: r === 'true' || r === 'all' ? r : 'false', limit: Number.isInteger(limitRaw) && limitRaw >= 1 && limitRaw <= 1000 ? limitRaw : 50 };
  const set = (k: 'name' | 'q' | 'error' | 'cursor', v: string | undefined) => {
    if (v) f[k] = v;
  };
  set('name', trimmed(formValue(source, 'name'), 128));
  set('q', trimmed(formValue(source, 'q')));
  set('error', trimmed(formValue(source, 'error')));
  set('cursor', trimmed(formValue(source, 'cursor'), 200));
  // Not trimmed: a reason is matched exactly, spaces included. Empty means "no reason filter"
  // (a cleared field); the group of jobs without a reason is acted on through its own button.
  const reason = formValue(source, 'reason');
  if (reason) f.reason = reason.slice(0, 200);
  const from = toInstant(formValue(source, 'from'));
  const to = toInstant(formValue(source, 'to'));
  if (from) f.from = from;
  if (to) f.to = to;
  return f;
}

/** The filter as link/hidden-field values. */
export function dlqQuery(f: DlqFilter, extra: Record<string, string | number | undefined> = {}): Record<string, string | number | undefined> {
  return { name: f.name, q: f.q, error: f.error, reason: f.reason, from: f.from, to: f.to, resolved: f.resolved === 'false' ? undefined : f.resolved, limit: f.limit === 50 ? undefined : f.limit, ...extra };
}

/** `GET /api/v1/dlq/:queue/jobs` path. */
export function dlqListPath(queue: string, f: DlqFilter, override: { limit?: number; cursor?: string | null } = {}): string {
  const p = new URLSearchParams();
  if (f.resolved !== 'all') p.set('resolved', f.resolved);
  if (f.name) p.set('name', f.name);
  if (f.q) p.set('q', f.q);
  if (f.error) p.set('error', f.error);
  if (f.reason) p.set('reason', f.reason);
  if (f.from) p.set('from', f.from);
  if (f.to) p.set('to', f.to);
  const cursor = override.cursor === undefined ? f.cursor : override.cursor;
  if (cursor) p.set('cursor', cursor);
  p.set('limit', String(override.limit ?? f.limit));
  return `/dlq/${encodeURIComponent(queue)}/jobs?${p.toString()}`;
}

/** The API actions' `filter` for the DLQ filter. */
export function dlqActionFilter(f: DlqFilter): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (f.name) out.name = f.name;
  if (f.q) out.payloadContains = f.q;
  if (f.error) out.errorContains = f.error;
  if (f.reason) out.reason = f.reason;
  if (f.resolved !== 'all') out.resolved = f.resolved === 'true';
  if (f.from) out.createdAfter = f.from;
  if (f.to) out.createdBefore = f.to;
  return out;
}

export function describeDlqFilter(f: DlqFilter): string {
  const parts = [f.resolved === 'all' ? 'resolved or not' : f.resolved === 'true' ? 'resolved' : 'unresolved'];
  if (f.name) parts.push(`name ${f.name}`);
  if (f.q) parts.push(`payload contains "${f.q}"`);
  if (f.error) parts.push(`error contains "${f.error}"`);
  if (f.reason) parts.push(`failure reason "${f.reason}"`);
  if (f.from) parts.push(`created from ${f.from}`);
  if (f.to) parts.push(`created before ${f.to}`);
  return parts.join(', ');
}

/** `/dlq`: depth per queue. */
export function renderDlqIndex(queues: Array<{ queue: string; depth: number }>): SafeHtml {
  const rows = queues.map((q) => html`<tr data-queue="${q.queue}"><td><a href="${url(['/dlq', q.queue])}">${q.queue}</a></td><td class="num">${q.depth}</td></tr>`);
  return html`<section class="dlq panel">
<h1>Dead-letter queues</h1>
<form class="filters" method="get" action="/dlq" role="search">
  <label>Queue <input type="text" name="queue" required placeholder="queue name"></label>
  <label>Payload contains <input type="search" name="q"></label>
  <label>Error contains <input type="search" name="error"></label>
  <button type="submit">Search</button>
</form>
${queues.length === 0 ? html`<p class="empty">No unresolved dead job in any queue.</p>` : html`<table class="grid dlq-depths"><thead><tr><th>Queue</th><th>Depth (unresolved)</th></tr></thead><tbody>${rows}</tbody></table>`}
</section>`;
}

function actionButton(queue: string, action: DlqAction, scope: string, confirm: string, label: string, extra: SafeHtml | null = null, include = '#dlq-options'): SafeHtml {
  return html`<button type="button" class="dlq-${action} scope-${scope}${action === 'purge' ? ' btn-danger' : ''}" hx-post="${url(['/ui/actions/dlq', queue, action], { scope })}" hx-include="${include}" hx-target="#dlq-result" hx-confirm="${confirm}"${extra}>${label}</button>`;
}

/** The groups by failure reason (unresolved dead jobs, as the DLQ depth counts), each with its actions. */
export function renderGroups(queue: string, groups: DlqGroupJson[], canDlq: boolean): SafeHtml {
  if (groups.length === 0) return html`<section class="panel dlq-groups"><h2>By error</h2><p class="empty">No unresolved dead job.</p></section>`;
  const rows = groups.map(
    (g) => html`<tr class="dlq-group" data-reason="${g.reason}">
  <td class="error error-text"><a href="${g.reason ? url(['/dlq', queue], { reason: g.reason }) : url(['/dlq', queue])}">${g.reason || '(no reason)'}</a></td>
  <td class="num">${g.count}</td>
  <td><time datetime="${g.firstFailedAt}">${fmtTime(g.firstFailedAt)}</time></td>
  <td><time datetime="${g.lastFailedAt}">${fmtTime(g.lastFailedAt)}</time></td>
  <td><a href="${url(['/jobs', g.sampleJobId])}"><code>${g.sampleJobId}</code></a></td>
  ${canDlq
    ? html`<td class="actions">${DLQ_ACTIONS.map((a) =>
        actionButton(
          queue,
          a,
          'group',
          `${VERB[a]} the ${g.count.toLocaleString('en-US')} unresolved dead jobs of ${queue} failing with "${g.reason || '(no reason)'}"?`,
          VERB[a],
          html` hx-vals="${JSON.stringify({ reason: g.reason })}"`,
        ),
      )}</td>`
    : null}
</tr>`,
  );
  return html`<section class="panel dlq-groups"><h2>By error</h2>
<div class="scroll"><table class="grid"><thead><tr><th>Failure reason</th><th>Count</th><th>First seen</th><th>Last seen</th><th>Sample</th>${canDlq ? html`<th>Actions</th>` : null}</tr></thead><tbody>${rows}</tbody></table></div>
</section>`;
}

export function renderDlqFilterForm(queue: string, f: DlqFilter): SafeHtml {
  const opt = (v: DlqFilter['resolved'], label: string) => html`<option value="${v}"${f.resolved === v ? html` selected` : null}>${label}</option>`;
  return html`<form class="filters" method="get" action="${url(['/dlq', queue])}" role="search">
  <label>Name <input type="text" name="name" value="${f.name ?? ''}"></label>
  <label>Payload contains <input type="search" name="q" value="${f.q ?? ''}"></label>
  <label>Error contains <input type="search" name="error" value="${f.error ?? ''}"></label>
  ${f.reason ? html`<label>Failure reason (exact) <input type="search" name="reason" value="${f.reason}"></label>` : null}
  <label>Created from (UTC) <input type="datetime-local" name="from" value="${toLocalInput(f.from)}"></label>
  <label>to (UTC) <input type="datetime-local" name="to" value="${toLocalInput(f.to)}"></label>
  <label>Show <select name="resolved">${opt('false', 'unresolved')}${opt('true', 'resolved')}${opt('all', 'all')}</select></label>
  <button type="submit">Search</button>
  <a href="${url(['/dlq', queue])}">Reset</a>
</form>`;
}

/** Options shared by every action, and the buttons acting on the selection, the filter and everything. */
export function renderDlqControls(queue: string, f: DlqFilter): SafeHtml {
  const what = describeDlqFilter(f);
  const filterFields = Object.entries(dlqQuery(f, { limit: undefined, resolved: f.resolved }))
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => html`<input type="hidden" name="${k}" value="${String(v)}">`);
  return html`<div class="dlq-controls">
  <div id="dlq-options" class="dlq-options">
    <label>Replay to queue <input type="text" name="toQueue" placeholder="${queue} (source)"></label>
    <label>Resolve note <input type="text" name="note" value="Resolved in the dashboard" maxlength="2000"></label>
    <span id="dlq-filter-fields">${filterFields}</span>
  </div>
  <div class="bulk-bar">
    <span class="bulk-group">Selection: ${DLQ_ACTIONS.map((a) => actionButton(queue, a, 'ids', `${VERB[a]} the selected dead jobs of ${queue}?`, `${VERB[a]} selected`, null, '#dlq-options, #dlq-selection'))}</span>
    <span class="bulk-group">Filter: ${DLQ_ACTIONS.map((a) => actionButton(queue, a, 'filter', `${VERB[a]} every dead job of ${queue} matching (${what})?`, `${VERB[a]} matching`))}</span>
    <span class="bulk-group">All: ${DLQ_ACTIONS.map((a) => actionButton(queue, a, 'all', `${VERB[a]} ALL dead jobs of ${queue}?`, `${VERB[a]} all`))}</span>
  </div>
  <div id="dlq-result" aria-live="polite"></div>
</div>`;
}

function deadRow(queue: string, job: JobJson, canDlq: boolean): SafeHtml {
  const last = job.errors[job.errors.length - 1];
  return html`<tr class="dead-job" data-job-id="${job.id}">
  ${canDlq ? html`<td><input type="checkbox" name="ids" value="${job.id}" aria-label="select ${job.id}"></td>` : null}
  <td><a href="${url(['/jobs', job.id])}"><code>${job.id}</code></a></td>
  <td>${job.name}</td>
  <td class="error error-text">${job.failureReason ?? (last ? `${last.name}: ${last.message}` : '')}</td>
  <td>${job.attempt}/${job.maxAttempts}</td>
  <td><time datetime="${job.lastFailedAt ?? ''}">${fmtTime(job.lastFailedAt ?? job.finishedAt)}</time></td>
  <td class="payload-preview">${'payload' in job ? html`<code>${jsonPreview(job.payload)}</code>` : html`<em>hidden</em>`}</td>
  <td>${job.resolution ? html`<span class="badge">resolved</span> ${job.resolution.note}` : null}</td>
  ${canDlq
    ? html`<td class="actions">${DLQ_ACTIONS.map(
        (a) =>
          html`<button type="button" class="row-${a}${a === 'purge' ? ' btn-danger' : ''}" hx-post="${url(['/ui/actions/dlq', queue, a], { scope: 'ids', row: '1' })}" hx-vals="${JSON.stringify({ ids: job.id })}" hx-include="#dlq-options" hx-target="closest tr" hx-swap="outerHTML" hx-confirm="${VERB[a]} dead job ${job.id}?">${VERB[a]}</button>`,
      )}</td>`
    : null}
</tr>`;
}

/** The dead jobs of one page, with checkboxes and paging. */
export function renderDeadJobs(queue: string, page: JobPageJson, f: DlqFilter, canDlq: boolean): SafeHtml {
  const cols = canDlq ? 10 : 8;
  const next = page.nextCursor ? html`<a class="page-next" rel="next" href="${url(['/dlq', queue], dlqQuery(f, { cursor: page.nextCursor }))}">Next page →</a>` : null;
  const first = f.cursor ? html`<a class="page-first" href="${url(['/dlq', queue], dlqQuery(f))}">← First page</a>` : null;
  return html`<form id="dlq-selection" class="scroll"><table class="grid dead-jobs">
<thead><tr>${canDlq ? html`<th><input type="checkbox" class="select-all" aria-label="select every job on this page"></th>` : null}<th>Id</th><th>Name</th><th>Failure reason</th><th>Attempts</th><th>Last failed</th><th>Payload</th><th>Resolution</th>${canDlq ? html`<th>Actions</th>` : null}</tr></thead>
<tbody>${page.jobs.length ? page.jobs.map((j) => deadRow(queue, j, canDlq)) : html`<tr><td colspan="${cols}" class="empty">No dead job matches.</td></tr>`}</tbody>
</table></form>
<nav class="paging">${first} <span>${page.jobs.length} shown</span> ${next}</nav>`;
}

/** The row that replaces a dead job's row after a per-job action. */
export function renderRowDone(id: string, text: string, ok: boolean, cols: number): SafeHtml {
  return html`<tr class="dead-job-done" data-job-id="${id}"><td colspan="${cols}">${notice(ok ? 'ok' : 'error', html`<a href="${url(['/jobs', id])}"><code>${id}</code></a>: ${text}`)}</td></tr>`;
}

export function renderDlqQueuePage(queue: string, depth: number | null, groups: DlqGroupJson[] | null, page: JobPageJson | null, f: DlqFilter, canDlq: boolean, errors: string[]): SafeHtml {
  return html`<section class="dlq dlq-queue" data-queue="${queue}">
<div class="panel"><h1>Dead-letter queue of <a href="${url(['/queues', queue])}">${queue}</a></h1>
<p>Depth (unresolved): <strong class="dlq-depth">${depth ?? '?'}</strong> · <a href="${url('/jobs', { queue, state: 'dead' })}">as a job list</a> · <a href="/dlq">all DLQs</a></p></div>
${errors.map((e) => notice('error', e))}
${groups ? renderGroups(queue, groups, canDlq) : null}
<section class="panel dlq-jobs"><h2>Dead jobs</h2>
${renderDlqFilterForm(queue, f)}
${canDlq ? renderDlqControls(queue, f) : null}
${page ? renderDeadJobs(queue, page, f, canDlq) : null}
</section>
</section>`;
}
