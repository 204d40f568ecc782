/**
 * Pure rendering of the job detail page (`/jobs/:id`): summary, live block (state, progress bar,
 * attempt), timeline, attempts with collapsible stacks, DLQ facts, payload and result as pretty
 * JSON in `<details>`, flow links, and the actions the job's state allows.
 *
 * Invariants:
 * - API JSON in, SafeHtml out, no I/O; every value (payload, result, error message, stack,
 *   names) goes through `html`, inside `<pre>`/`<code>` for JSON and stacks.
 * - The live block re-fetches `/ui/jobs/:id/live?was=<status>` on the job's live events
 *   (`LIVE_EVENTS`, from the page's SSE stream) and every 5 s as a fallback, while the job is
 *   not finished; a finished job's block has no trigger.
 * - Action buttons appear only for states the API accepts them in, and only when the session
 *   holds the action (`admin` for job actions, `dlq` for a DLQ replay with a new payload).
 */
import { html, url, type SafeHtml } from './html.js';
import { between, fmtDuration, fmtTime, prettyJson, progressPercent, statusBadge, TERMINAL, type JobJson, type JobStatus } from './jobs-common.js';

export type JobAction = 'retry' | 'cancel' | 'promote' | 'delete' | 'edit';
/**
 * The live stream's DOM events (app.js re-dispatches the page's /ui/events stream on <body> as
 * `live:<type, dots as dashes>`) that refresh the live block; a slow poll covers a closed stream.
 */
export const LIVE_EVENTS = ['job-progress', 'job-started', 'job-completed', 'job-retrying', 'job-dead', 'job-cancelled', 'job-removed', 'reset'];
export const FALLBACK_POLL = 'every 5s';

export interface DetailPermissions {
  admin: boolean;
  dlq: boolean;
}

/** The actions `status` allows (the API's compare-and-set states), before permissions. */
export function actionsFor(status: JobStatus): JobAction[] {
  const out: JobAction[] = [];
  if (TERMINAL.includes(status)) out.push('retry');
  if (!TERMINAL.includes(status)) out.push('cancel');
  if (status === 'scheduled' || status === 'retrying') out.push('promote');
  if (status !== 'running') out.push('delete');
  // Dead: DLQ replay with a new payload. Completed or cancelled: retry with a new payload.
  // Not started yet: PATCH the payload (then promote). Only a running job has no edit.
  if (status !== 'running') out.push('edit');
  return out;
}

function allowed(action: JobAction, status: JobStatus, p: DetailPermissions): boolean {
  if (action === 'edit' && status === 'dead') return p.dlq;
  return p.admin;
}

/** The live block: state, attempt, progress bar, times; polls itself while unfinished. */
export function renderLive(job: JobJson, now = Date.now()): SafeHtml {
  const finished = TERMINAL.includes(job.status);
  const pct = progressPercent(job.progress);
  const startedMs = job.startedAt ? Date.parse(job.startedAt) : null;
  const running = job.status === 'running' && startedMs !== null ? now - startedMs : null;
  const trigger = finished ? null : html` hx-get="${url(['/ui/jobs', job.id, 'live'], { was: job.status })}" hx-trigger="${LIVE_EVENTS.map((e) => `live:${e} from:body`).join(', ')}, ${FALLBACK_POLL}" hx-swap="outerHTML"`;
  const progressText = job.progress === null || job.progress === undefined ? null : typeof job.progress === 'number' ? `${job.progress}%` : prettyJson(job.progress);
  return html`<div id="job-live" class="job-live" data-status="${job.status}" data-progress="${pct ?? ''}"${trigger}>
  <div>${statusBadge(job.status)} attempt ${job.attempt}/${job.maxAttempts}${job.cancelRequested ? html` <span class="badge">cancel requested</span>` : null}</div>
  <div class="progress-row"><progress id="job-progress" max="100"${pct !== null ? html` value="${pct}"` : null} aria-label="progress">${pct ?? ''}</progress> <span class="progress-text">${progressText ?? 'no progress reported'}</span></div>
  ${running !== null ? html`<div>running for ${fmtDuration(running)}</div>` : null}
</div>`;
}

interface TimelineEntry {
  at: string;
  label: SafeHtml | string;
}

/** The job's known instants in order: created, due, attempt failures, started, finished, resolved. */
export function timeline(job: JobJson): TimelineEntry[] {
  const out: TimelineEntry[] = [{ at: job.createdAt, label: 'created' }];
  if (Date.parse(job.runAt) > Date.parse(job.createdAt) + 1) out.push({ at: job.runAt, label: job.status === 'scheduled' || job.status === 'retrying' ? 'due' : 'due (run at)' });
  for (const e of job.errors) out.push({ at: e.at, label: html`attempt ${e.attempt} (round ${e.round}) failed: <span class="error error-text">${e.name}: ${e.message}</span>` });
  if (job.startedAt) out.push({ at: job.startedAt, label: `attempt ${job.attempt} started` });
  if (job.finishedAt) out.push({ at: job.finishedAt, label: html`finished ${statusBadge(job.status)}` });
  if (job.resolution) out.push({ at: job.resolution.at, label: html`resolved: ${job.resolution.note}` });
  return out.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

function renderAttempts(job: JobJson): SafeHtml {
  if (job.errors.length === 0) return html`<p class="empty">No failed attempt.</p>`;
  const items = [...job.errors].reverse().map(
    (e) => html`<li class="attempt"><details>
  <summary>attempt ${e.attempt} · round ${e.round} · <span class="kind">${e.kind}</span> · <span class="error error-text"><strong>${e.name}</strong>: ${e.message}</span> · <time datetime="${e.at}">${fmtTime(e.at)}</time>${e.workerId ? html` · worker <code>${e.workerId}</code>` : null}</summary>
  ${e.stack ? html`<pre class="error-stack">${e.stack}</pre>` : html`<p class="empty">No stack.</p>`}
</details></li>`,
  );
  return html`<ol class="attempts">${items}</ol>`;
}

function renderActions(job: JobJson, p: DetailPermissions): SafeHtml | null {
  const actions = actionsFor(job.status).filter((a) => allowed(a, job.status, p));
  if (actions.length === 0) return null;
  const button = (a: 'retry' | 'cancel' | 'promote' | 'delete', label: string, confirm: string) =>
    actions.includes(a)
      ? html`<button type="button" class="action-${a}${a === 'delete' ? ' btn-danger' : ''}" hx-post="${url(['/ui/actions/job', job.id, a])}" hx-target="#job-action-result" hx-confirm="${confirm}">${label}</button>`
      : null;
  const editHint =
    job.status === 'dead'
      ? 'Replays the job from the DLQ with this payload.'
      : TERMINAL.includes(job.status)
        ? 'Runs the job again, as a new round, with this payload.'
        : 'Replaces the payload; a delayed or retrying job is then made due now.';
  return html`<section class="panel job-actions">
  <h2>Actions</h2>
  ${button('retry', 'Retry', `Run job ${job.id} again?`)} ${button('cancel', 'Cancel', `Cancel job ${job.id}?`)} ${button('promote', 'Run now', `Make job ${job.id} due now?`)} ${button('delete', 'Delete', `Delete job ${job.id} for good?`)}
  ${actions.includes('edit')
    ? html`<details class="edit-payload"><summary>Edit payload &amp; retry</summary>
  <form hx-post="${url(['/ui/actions/job', job.id, 'edit'])}" hx-target="#job-action-result" hx-confirm="Save the new payload of job ${job.id} and retry it?">
    <p>${editHint}</p>
    <textarea name="payload" rows="12" cols="80" spellcheck="false">${prettyJson(job.payload ?? null)}</textarea>
    <button type="submit">Save &amp; retry</button>
  </form></details>`
    : null}
  <div id="job-action-result" aria-live="polite"></div>
</section>`;
}

function row(label: string, value: SafeHtml | string | number | null | undefined): SafeHtml | null {
  if (value === null || value === undefined || value === '') return null;
  return html`<tr><th scope="row">${label}</th><td>${value}</td></tr>`;
}

function card(label: string, value: SafeHtml | string | number, cls = 'card'): SafeHtml {
  return html`<div class="${cls}"><span class="card-label">${label}</span><span class="card-value">${value}</span></div>`;
}

function jsonBlock(title: string, cls: string, present: boolean, value: unknown, open: boolean): SafeHtml {
  if (!present) return html`<details class="${cls}"><summary>${title}</summary><p class="empty">Hidden: this key may not read payloads.</p></details>`;
  return html`<details class="${cls}"${open ? html` open` : null}><summary>${title}</summary><pre class="json">${prettyJson(value)}</pre></details>`;
}

/** The whole detail page body. */
export function renderJobDetail(job: JobJson, p: DetailPermissions, now = Date.now()): SafeHtml {
  const due = Math.max(Date.parse(job.createdAt), Date.parse(job.runAt));
  const wait = job.startedAt ? Date.parse(job.startedAt) - due : job.status === 'queued' ? now - due : null;
  const duration = job.startedAt ? (job.finishedAt ? between(job.startedAt, job.finishedAt) : job.status === 'running' ? now - Date.parse(job.startedAt) : null) : null;
  const payloadVisible = 'payload' in job;
  const entries = timeline(job);
  return html`<section class="job-detail" data-job-id="${job.id}" data-status="${job.status}">
<div class="panel">
<div class="panel-head"><h1><span class="name job-name">${job.name}</span> ${statusBadge(job.status)}</h1>
<label class="small">Id <input class="copy-id mono" type="text" readonly value="${job.id}" aria-label="job id" size="${Math.min(Math.max(job.id.length, 10), 60)}"></label></div>
<div class="cards">
  ${card('Queue', html`<a href="${url('/jobs', { queue: job.queue, state: 'all' })}">${job.queue}</a>`)}
  ${card('Attempt', `${job.attempt} / ${job.maxAttempts}`, job.status === 'dead' ? 'card card-bad' : 'card')}
  ${card('Priority', job.priority)}
  ${card('Wait', wait === null ? '—' : fmtDuration(Math.max(0, wait)))}
  ${card('Duration', duration === null ? '—' : fmtDuration(duration))}
</div>
${renderLive(job, now)}
</div>
<div class="panel"><h2>Details</h2><div class="scroll"><table class="grid job-facts"><tbody>
  ${row('Queue', html`<a href="${url('/jobs', { queue: job.queue, state: 'all' })}">${job.queue}</a>`)}
  ${row('Name', job.name)}
  ${row('Id', html`<code>${job.id}</code>`)}
  ${row('Priority', job.priority)}
  ${row('Attempt', `${job.attempt} of ${job.maxAttempts} (round ${job.round})`)}
  ${row('Created', fmtTime(job.createdAt))}
  ${row('Run at', fmtTime(job.runAt))}
  ${row('Started', fmtTime(job.startedAt))}
  ${row('Finished', fmtTime(job.finishedAt))}
  ${row('Wait', wait === null ? '—' : fmtDuration(Math.max(0, wait)))}
  ${row('Duration', duration === null ? '—' : fmtDuration(duration))}
  ${row('Worker', job.workerId ? html`<code>${job.workerId}</code>` : null)}
  ${row('Timeout', job.timeoutMs ? fmtDuration(job.timeoutMs) : null)}
  ${row('Unique key', job.uniqueKey ? html`<code>${job.uniqueKey}</code>` : null)}
  ${row('Group', job.group ?? null)}
  ${row('Parent', job.parentId ? html`<a href="${url(['/jobs', job.parentId])}"><code>${job.parentId}</code></a>` : null)}
  ${row('Failure reason', job.failureReason ? html`<span class="error error-text">${job.failureReason}</span>` : null)}
  ${row('First failed', job.firstFailedAt ? fmtTime(job.firstFailedAt) : null)}
  ${row('Last failed', job.lastFailedAt ? fmtTime(job.lastFailedAt) : null)}
  ${row('Resolution', job.resolution ? `${job.resolution.note} (${fmtTime(job.resolution.at)})` : null)}
  ${job.status === 'dead' ? row('DLQ', html`<a href="${url(['/dlq', job.queue])}">dead-letter queue of ${job.queue}</a>`) : null}
</tbody></table></div></div>
${renderActions(job, p)}
<section class="panel job-timeline"><h2>Timeline</h2><ol class="timeline">${entries.map((e) => html`<li><time datetime="${e.at}">${fmtTime(e.at)}</time> ${e.label}</li>`)}</ol></section>
<section class="panel job-attempts"><h2>Failed attempts (${job.errors.length})</h2>${renderAttempts(job)}</section>
<section class="panel job-data"><h2>Data</h2>
${jsonBlock('Payload', 'job-payload', payloadVisible, job.payload, true)}
${jsonBlock('Result', 'job-result', payloadVisible, job.result, job.status === 'completed')}
</section>
${job.children?.length
  ? html`<section class="panel job-children"><h2>Children (${job.children.length}${job.pendingChildren ? `, ${job.pendingChildren} pending` : ''})</h2><ul>${job.children.map(
      (c) => html`<li><a href="${url(['/jobs', c.id])}"><code>${c.id}</code></a> ${c.queue} · ${c.name} ${statusBadge(c.status)}${c.failureReason ? html` <span class="error error-text">${c.failureReason}</span>` : null}</li>`,
    )}</ul></section>`
  : null}
</section>`;
}

/** The body of a missing job's page. */
export function renderMissing(id: string, message: string): SafeHtml {
  return html`<section class="job-detail panel"><h1>Job <code>${id}</code></h1><p class="notice error" role="alert">${message}</p><p><a href="/jobs">All jobs</a></p></section>`;
}
