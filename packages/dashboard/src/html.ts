/**
 * HTML templating for the dashboard: a tagged template that escapes every interpolated value.
 *
 * Invariants:
 * - `html\`…${value}…\`` escapes `value` (`& < > " '` and the backtick) unless it is a SafeHtml
 *   (the result of `html` or `raw`). Arrays render each item the same way, joined without a
 *   separator; `null`, `undefined` and `false` render as nothing. Nothing else is trusted:
 *   payloads, error messages, job/queue/topic names and stack traces always pass through here.
 * - Escaped text is safe in element content and in quoted attribute values. It is NOT enough for
 *   URLs (`href`, `src`, `hx-get` …: build them with `url()`, which encodes each path segment and
 *   query value, so a `javascript:` scheme cannot be injected) nor inside `<script>`/`<style>`
 *   (the dashboard has no inline scripts or styles: its Content-Security-Policy forbids them).
 * - `raw()` is for constant markup written in this package only, never for data.
 */

export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };
const NEEDS_ESCAPE = /[&<>"'`]/g;

/** `text` with the characters that matter in HTML content and quoted attributes escaped. */
export function escapeHtml(text: string): string {
  return text.replace(NEEDS_ESCAPE, (c) => ESCAPES[c]!);
}

function render(value: unknown): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** Markup with every interpolation escaped (see the header). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** Constant markup of this package, inserted as is. Never pass data. */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/**
 * A same-origin URL: `path` segments are encoded one by one (`url(['/jobs', id])` →
 * `/jobs/a%2Fb`), query values are encoded and empty ones (undefined, null, '') left out.
 * The first segment is a constant path of this package starting with `/`.
 */
export function url(path: string | ReadonlyArray<string>, query: Record<string, string | number | boolean | null | undefined> = {}): string {
  const parts = typeof path === 'string' ? [path] : path;
  const [head, ...rest] = parts;
  if (head === undefined || !head.startsWith('/')) throw new Error(`dashboard url must start with a constant '/…' path, got ${String(head)}`);
  let out = head.replace(/\/$/, '') + rest.map((s) => `/${encodeURIComponent(s)}`).join('');
  if (out === '') out = '/';
  const q = Object.entries(query)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return q.length ? `${out}?${q.join('&')}` : out;
}
