/**
 * Pure rendering of the jobs list (`/jobs`): the GET search form (filters live in the URL), the
 * table with checkboxes, cursor paging links, the bulk bar (selection or whole filter) and the
 * whole-filter count preview. API JSON in, SafeHtml out; no I/O.
 *
 * Invariants:
 * - Every value from the API or the URL goes through `html`; every link and hx-* URL through `url`.
 * - Mutating controls (checkboxes, bulk buttons, preview confirmations) appear only when
 *   `canAdmin` (the API's bulk job actions need the `admin` action).
 * - Each destructive button carries `hx-confirm`; the whole-filter buttons first fetch a count
 *   preview, whose confirm button posts the same filter and the previewed count.
 */
import { html, url, type SafeHtml } from './html.js';
import { fmtTime, JOB_STATES, jsonPreview, notice, statusBadge, toLocalInput, type JobJson, type JobPageJson } from './jobs-common.js';
import { describeFilter, filterQuery, PAGE_SIZES, type JobsFilter, type MatchCount } from './jobs-filter.js';

export type BulkAction = 'retry' | 'cancel' | 'delete';
export const BULK_ACTIONS: readonly BulkAction[] = ['retry', 'cancel', 'delete'];
const VERB: Record<BulkAction, string> = { retry: 'Retry', cancel: 'Cancel', delete: 'Delete' };

export function renderFilterForm(f: JobsFilter): SafeHtml {
  const stateOptions = [
    { value: 'pending', label: 'pending (not finished)' },
    { value: 'all', label: 'all states' },
    ...JOB_STATES.map((s) => ({ value: s, label: s })),
  ];
  const custom = !stateOptions.some((o) => o.value === f.state);
  return html`<form class="filters" method="get" action="/jobs" role="search">
  <label>Queue <input type="text" name="queue" value="${f.queue ?? ''}" placeholder="any"></label>
  <label>State <select name="state">${stateOptions.map((o) => html`<option value="${o.value}"${o.value === f.state ? html` selected` : null}>${o.label}</option>`)}${custom ? html`<option value="${f.state}" selected>${f.state}</option>` : null}</select></label>
  <label>Name <input type="text" name="name" value="${f.name ?? ''}" placeholder="job name"></label>
  <label>Id <input type="text" name="id" value="${f.id ?? ''}" placeholder="id, id…"></label>
  <label>Payload contains <input type="search" name="q" value="${f.q ?? ''}" placeholder="text in the payload"></label>
  <label>Created from (UTC) <input type="datetime-local" name="from" value="${toLocalInput(f.from)}"></label>
  <label>to (UTC) <input type="datetime-local" name="to" value="${toLocalInput(f.to)}"></label>
  <label>Per page <select name="limit">${PAGE_SIZES.map((n) => html`<option value="${n}"${n === f.limit ? html` selected` : null}>${n}</option>`)}</select></label>
  <button type="submit">Search</button>
  <a href="${url('/jobs', { queue: f.queue })}">Reset</a>
</form>`;
}

function jobRow(job: JobJson, canAdmin: boolean): SafeHtml {
  return html`<tr data-job-id="${job.id}">
  ${canAdmin ? html`<td><input type="checkbox" name="ids" value="${job.id}" aria-label="select ${job.id}"></td>` : null}
  <td><a href="${url(['/jobs', job.id])}"><code>${job.id}</code></a></td>
  <td><a href="${url('/jobs', { queue: job.queue, state: 'all' })}">${job.queue}</a></td>
  <td>${job.name}</td>
  <td>${statusBadge(job.status)}</td>
  <td>${job.attempt}/${job.maxAttempts}</td>
  <td><time datetime="${job.createdAt}">${fmtTime(job.createdAt)}</time></td>
  <td><time datetime="${job.runAt}">${fmtTime(job.runAt)}</time></td>
  <td class="payload-preview">${'payload' in job ? html`<code>${jsonPreview(job.payload)}</code>` : html`<em>hidden</em>`}${job.failureReason ? html`<div class="error error-text">${job.failureReason}</div>` : null}</td>
</tr>`;
}

/** The table of one page, inside the selection form, with paging links. */
export function renderJobsTable(page: JobPageJson, f: JobsFilter, canAdmin: boolean): SafeHtml {
  const rows = page.jobs.map((j) => jobRow(j, canAdmin));
  const next = page.nextCursor ? html`<a class="page-next" rel="next" href="${url('/jobs', filterQuery(f, { cursor: page.nextCursor }))}">Next page →</a>` : null;
  const first = f.cursor ? html`<a class="page-first" href="${url('/jobs', filterQuery(f))}">← First page</a>` : null;
  return html`${canAdmin ? renderBulkBar(f) : null}
<form id="jobs-selection" class="jobs-selection scroll">
<table class="grid jobs-table">
  <thead><tr>${canAdmin ? html`<th><input type="checkbox" class="select-all" aria-label="select every job on this page"></th>` : null}<th>Id</th><th>Queue</th><th>Name</th><th>State</th><th>Attempt</th><th>Created</th><th>Run at</th><th>Payload</th></tr></thead>
  <tbody>${rows.length ? rows : html`<tr><td colspan="${canAdmin ? 9 : 8}" class="empty">No jobs match this filter.</td></tr>`}</tbody>
</table>
</form>
<nav class="paging">${first} <span>${page.jobs.length} shown</span> ${next}</nav>`;
}

/** The bulk bar: actions on the checked rows, and count previews for the whole filter. */
export function renderBulkBar(f: JobsFilter): SafeHtml {
  const selection = BULK_ACTIONS.map(
    (a) => html`<button type="button" class="bulk-selected" data-action="${a}" hx-post="${url(['/ui/actions/jobs/bulk', a])}" hx-include="#jobs-selection" hx-target="#bulk-result" hx-confirm="${VERB[a]} the selected jobs?">${VERB[a]} selected</button>`,
  );
  const whole = BULK_ACTIONS.map(
    (a) => html`<button type="button" class="bulk-filter" data-action="${a}" hx-get="${url('/ui/jobs/preview', { ...filterQuery(f), action: a, limit: undefined })}" hx-target="#bulk-result">${VERB[a]} all matching…</button>`,
  );
  return html`<div class="bulk-bar">
  <span class="bulk-group">Selection: ${selection}</span>
  <span class="bulk-group">Whole filter: ${whole}</span>
</div>
<div id="bulk-result" aria-live="polite"></div>`;
}

/** Hidden inputs carrying the filter in a POST. */
function filterInputs(f: JobsFilter): SafeHtml[] {
  return Object.entries(filterQuery(f, { limit: undefined }))
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => html`<input type="hidden" name="${k}" value="${String(v)}">`);
}

/** The count preview of a whole-filter action, with its confirm button. */
export function renderPreview(action: BulkAction, f: JobsFilter, m: MatchCount): SafeHtml {
  const what = describeFilter(f);
  const n = m.count.toLocaleString('en-US');
  if (m.count === 0) return html`<div class="preview" data-count="0">${notice('ok', `No job matches (${what}): nothing to ${action}.`)}</div>`;
  return html`<form class="preview" data-count="${m.count}" hx-post="${url(['/ui/actions/jobs/filter', action])}" hx-target="this" hx-swap="outerHTML" hx-confirm="${VERB[action]} ${n} jobs (${what})?">
  ${filterInputs(f)}
  <input type="hidden" name="expected" value="${m.count}">
  <p><strong class="preview-count">${n}</strong> jobs match (${what}).${action === 'retry' ? ' Only finished jobs (completed, dead, cancelled) can be retried.' : action === 'delete' ? ' Running jobs are skipped.' : ''}</p>
  <button type="submit" class="btn-danger">${VERB[action]} ${n} jobs</button>
</form>`;
}

/** The answer of a bulk action by ids: outcome counts. */
export function renderBulkResult(action: BulkAction, results: Array<{ id: string; outcome: string }>): SafeHtml {
  const counts = new Map<string, number>();
  for (const r of results) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
  const text = [...counts].map(([o, n]) => `${o} ${n}`).join(' · ');
  return html`<div class="bulk-result" data-action="${action}" data-ok="${counts.get('ok') ?? counts.get('cancelled') ?? 0}">${notice('ok', `${VERB[action]}: ${text || 'nothing selected'}`)} <a href="">Reload</a></div>`;
}

/** The whole page body. */
export function renderJobsPage(page: JobPageJson | null, f: JobsFilter, canAdmin: boolean, error: string | null): SafeHtml {
  return html`<section class="jobs">
<div class="panel">
<div class="panel-head"><h1>Jobs${f.queue ? html` of <a href="${url(['/queues', f.queue])}">${f.queue}</a>` : null}</h1></div>
${renderFilterForm(f)}
</div>
${error ? notice('error', error) : null}
${page ? html`<div class="panel">${renderJobsTable(page, f, canAdmin)}</div>` : null}
</section>`;
}
