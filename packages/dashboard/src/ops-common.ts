/**
 * Small pieces shared by the topics, schedules, workers and alerts views: a summary card, a
 * relative time ("12 s ago", "in 3 min"), a `<time>` element, and the outcome notice of an
 * action (with the API's real status in a header, since fragments answer 200 so htmx swaps them).
 *
 * Invariants: everything returns SafeHtml built with `html` or plain strings the callers pass
 * through `html`; nothing here trusts a value from the API.
 */
import type { FastifyReply } from 'fastify';
import { html, type SafeHtml } from './html.js';
import { fmtTime } from './jobs-common.js';
import { fmtAge } from './queue-data.js';

export function card(label: string, value: string | number, opts: { tone?: 'ok' | 'warn' | 'bad'; hint?: string; href?: string } = {}): SafeHtml {
  const inner = html`<span class="card-label">${label}</span><span class="card-value">${String(value)}</span>${opts.hint ? html`<span class="card-hint">${opts.hint}</span>` : null}`;
  const cls = `card${opts.tone ? ` card-${opts.tone}` : ''}`;
  return opts.href ? html`<a class="${cls}" href="${opts.href}">${inner}</a>` : html`<div class="${cls}">${inner}</div>`;
}

/** `iso` relative to `now`: `12 s ago`, `in 3 min 5 s`, `now`; '—' for null or junk. */
export function relative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '—';
  const d = t - now;
  if (Math.abs(d) < 1000) return 'now';
  return d > 0 ? `in ${fmtAge(d)}` : `${fmtAge(-d)} ago`;
}

/** A `<time>` with the UTC instant as text and the relative time as its title (or the reverse). */
export function timeCell(iso: string | null | undefined, opts: { relativeFirst?: boolean; now?: number } = {}): SafeHtml {
  if (!iso) return html`<span class="muted">—</span>`;
  const abs = fmtTime(iso);
  const rel = relative(iso, opts.now);
  return opts.relativeFirst ? html`<time datetime="${iso}" title="${abs}">${rel}</time>` : html`<time datetime="${iso}" title="${rel}">${abs}</time>`;
}

/** Records the API's status of an action on `reply` (fragments themselves answer 200). */
export function apiStatus(reply: FastifyReply, status: number): void {
  reply.header('x-spindle-api-status', String(status));
}
