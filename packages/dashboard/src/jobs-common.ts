/**
 * Shared pieces of the jobs, job-detail and DLQ views: the API's job shape (as much as the views
 * read), formatting of times, durations, states and JSON, reading htmx form bodies, problem
 * messages, the tracked-operation fragment (polled every second until the operation ends), and
 * `ROUTE`, the options of every route (`config.public`: the plugin, not the API guard, checks it).
 *
 * Invariants:
 * - Everything here returns SafeHtml built with `html`, or plain strings that callers interpolate
 *   through `html`; no function trusts a value from the API (names, payloads, errors, reasons).
 * - Links are built with `url()` only.
 * - An operation fragment that is still running carries `hx-trigger="every 1s"` and swaps itself
 *   (outerHTML); a finished one carries no trigger, so polling stops by itself.
 */
import { html, url, type SafeHtml } from './html.js';

export const JOB_STATES = ['scheduled', 'queued', 'running', 'retrying', 'waiting', 'completed', 'dead', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATES)[number];
/** The jobs list's default: every state that is not finished. */
export const PENDING_STATES: readonly JobStatus[] = ['scheduled', 'queued', 'running', 'retrying', 'waiting'];
export const TERMINAL: readonly JobStatus[] = ['completed', 'dead', 'cancelled'];

export interface AttemptErrorJson {
  attempt: number;
  round: number;
  kind: string;
  name: string;
  message: string;
  stack?: string;
  workerId?: string | null;
  at: string;
}

/** `GET /api/v1/jobs/:id` (the fields the views use). */
export interface JobJson {
  id: string;
  queue: string;
  name: string;
  status: JobStatus;
  payload?: unknown;
  priority: number;
  attempt: number;
  maxAttempts: number;
  progress: unknown;
  result: unknown;
  errors: AttemptErrorJson[];
  uniqueKey?: string | null;
  group?: string | null;
  timeoutMs?: number | null;
  round: number;
  createdAt: string;
  runAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  leaseExpiresAt?: string | null;
  workerId: string | null;
  cancelRequested: boolean;
  failureReason: string | null;
  firstFailedAt: string | null;
  lastFailedAt: string | null;
  resolution: { note: string; at: string } | null;
  parentId?: string | null;
  pendingChildren?: number | null;
  children?: Array<{ id: string; queue: string; name: string; status: JobStatus; failureReason: string | null }>;
}

export interface JobPageJson {
  jobs: JobJson[];
  nextCursor: string | null;
}

/** `GET /api/v1/operations/:id`. */
export interface OperationJson {
  id: string;
  kind: string;
  status: 'running' | 'succeeded' | 'failed';
  processed: number;
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  startedAt: string;
  finishedAt: string | null;
}

/** An ISO instant as `2026-01-31 09:00:00Z` (UTC, seconds); '—' for null. */
export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

/** Milliseconds as `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`, `3 d 4 h`. */
export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const neg = ms < 0 ? '-' : '';
  let v = Math.abs(ms);
  if (v < 1000) return `${neg}${Math.round(v)} ms`;
  if (v < 60_000) return `${neg}${(v / 1000).toFixed(1)} s`;
  v = Math.round(v / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (v < 3600) return `${neg}${Math.floor(v / 60)} min ${pad(v % 60)} s`;
  if (v < 86_400) return `${neg}${Math.floor(v / 3600)} h ${pad(Math.floor((v % 3600) / 60))} min`;
  return `${neg}${Math.floor(v / 86_400)} d ${Math.floor((v % 86_400) / 3600)} h`;
}

/** Milliseconds between two ISO instants, or null when one is missing. */
export function between(from: string | null | undefined, to: string | null | undefined): number | null {
  if (!from || !to) return null;
  const a = Date.parse(from);
  const b = Date.parse(to);
  return Number.isNaN(a) || Number.isNaN(b) ? null : b - a;
}

export function statusBadge(status: string): SafeHtml {
  const known = (JOB_STATES as readonly string[]).includes(status) ? status : 'unknown';
  return html`<span class="badge state-${known}" data-status="${status}">${status}</span>`;
}

/** Pretty JSON text of a value (undefined → `undefined`); never throws. */
export function prettyJson(value: unknown): string {
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A short one-line preview of a JSON value. */
export function jsonPreview(value: unknown, max = 80): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? 'undefined';
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The percentage in a progress value: a number 0..100, or `{pct|percent|progress: n}`. */
export function progressPercent(progress: unknown): number | null {
  const inRange = (n: unknown): number | null => (typeof n === 'number' && Number.isFinite(n) && n >= 0 && n <= 100 ? n : null);
  if (typeof progress === 'number') return inRange(progress);
  if (progress && typeof progress === 'object' && !Array.isArray(progress)) {
    const o = progress as Record<string, unknown>;
    return inRange(o.pct) ?? inRange(o.percent) ?? inRange(o.progress);
  }
  return null;
}

/** A form body (urlencoded, parsed by the plugin) as lists of strings per field. */
export type FormBody = Record<string, string | string[] | undefined>;

/** All values of `key` in a parsed form body (or a query object), empty strings dropped. */
export function formValues(body: unknown, key: string): string[] {
  if (body === null || typeof body !== 'object') return [];
  const v = (body as Record<string, unknown>)[key] ?? (body as Record<string, unknown>)[`${key}[]`];
  const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  return list.filter((x): x is string => typeof x === 'string' && x.length > 0);
}

/** The first value of `key`, or undefined. */
export function formValue(body: unknown, key: string): string | undefined {
  return formValues(body, key)[0];
}

/** A human message for an API answer that is not 2xx (problem+json `detail`, or the status). */
export function problemText(answer: { status: number; body: unknown }): string {
  const b = answer.body as { detail?: unknown; title?: unknown; issues?: Array<{ path?: unknown; message?: unknown }> } | null;
  let text = typeof b?.detail === 'string' ? b.detail : typeof b?.title === 'string' ? b.title : `HTTP ${answer.status}`;
  if (Array.isArray(b?.issues) && b.issues.length > 0) text += ` (${b.issues.map((i) => `${String(i.path)}: ${String(i.message)}`).join('; ')})`;
  return text;
}

/** A result line in a fragment: `kind` is ok or error. */
export function notice(kind: 'ok' | 'error', text: string | SafeHtml): SafeHtml {
  return html`<div class="notice ${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${text}</div>`;
}

/** `{ok: 3, wrong_state: 1}` as `ok 3 · wrong_state 1`. */
export function countsText(counts: Record<string, unknown>): string {
  const parts = Object.entries(counts).map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return parts.length ? parts.join(' · ') : 'nothing';
}

/**
 * The fragment of a tracked operation. `pollPath` is the dashboard route answering this same
 * fragment for the operation (e.g. `/ui/jobs/operations`), the id is appended as a segment.
 */
export function operationFragment(op: OperationJson, pollPath: string, expected?: number | null): SafeHtml {
  const running = op.status === 'running';
  const known = typeof expected === 'number' && expected > 0;
  const progress = known ? html`<progress class="op-progress" max="${expected}" value="${Math.min(op.processed, expected)}"></progress>` : running ? html`<progress class="op-progress"></progress>` : null;
  const outcome = op.result as Record<string, unknown> | null;
  const detail = outcome ? (outcome.outcomes && typeof outcome.outcomes === 'object' ? countsText(outcome.outcomes as Record<string, unknown>) : countsText(outcome)) : null;
  const attrs = running ? html` hx-get="${url([pollPath, op.id], { expected: known ? expected : undefined })}" hx-trigger="every 1s" hx-swap="outerHTML"` : null;
  return html`<div class="operation operation-${op.status}" data-operation="${op.id}" data-status="${op.status}" data-processed="${op.processed}"${attrs}>
  <strong>${op.kind}</strong> — ${op.status}: ${op.processed}${known ? html` of ${expected}` : null} processed ${progress}
  ${detail ? html`<div class="operation-result" data-result="${JSON.stringify(outcome)}">${detail}</div>` : null}
  ${op.error ? notice('error', `${op.error.code}: ${op.error.message}`) : null}
</div>`;
}

/** Local datetime input (`2026-01-31T09:00`, meant as UTC) or an ISO instant → ISO with `Z`/offset; undefined if unusable. */
export function toInstant(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(v)) return `${v.length === 16 ? `${v}:00` : v}Z`;
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) return `${v}T00:00:00Z`;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v) && !Number.isNaN(Date.parse(v))) return v;
  return undefined;
}

/** An ISO instant as the value of a `datetime-local` input in UTC (`2026-01-31T09:00`). */
export function toLocalInput(value: string | undefined): string {
  const iso = toInstant(value);
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().slice(0, 16);
}

/** Route options of every dashboard route: the server's guard skips it, the plugin guards it. */
export const ROUTE = { config: { public: true } } as const;
