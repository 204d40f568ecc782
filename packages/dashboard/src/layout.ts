/**
 * The page shell of every dashboard page: head (assets, htmx config, CSRF meta), navigation
 * tabs, the DLQ alert banner, the key's name with a logout button, and the view's body.
 *
 * Invariants:
 * - No inline script or style anywhere (the CSP forbids them): behaviour lives in app.js,
 *   configuration in `<meta>` tags and attributes (`hx-headers` on <body> carries the CSRF
 *   token to every htmx request; plain forms carry `_csrf` through `csrfField`).
 * - Every value comes through `html` (escaped); URLs through `url`.
 * - The banner is rendered server-side from the DLQ depths the plugin read for this request,
 *   and re-fetched live (`live:dlq-alert-fired` / `live:dlq-alert-cleared`, see plugin.ts).
 */
import type { Assets } from './assets.js';
import type { DashboardSession, NavKey, PageView } from './context.js';
import { html, raw, url, type SafeHtml } from './html.js';

export const NAV: ReadonlyArray<{ key: NavKey; label: string; path: string }> = [
  { key: 'overview', label: 'Overview', path: '/' },
  { key: 'queues', label: 'Queues', path: '/queues' },
  { key: 'jobs', label: 'Jobs', path: '/jobs' },
  { key: 'dlq', label: 'DLQ', path: '/dlq' },
  { key: 'topics', label: 'Topics', path: '/topics' },
  { key: 'schedules', label: 'Schedules', path: '/schedules' },
  { key: 'workers', label: 'Workers', path: '/workers' },
  { key: 'alerts', label: 'Alerts', path: '/alerts' },
];

/** Actions that change something: a key with none of them is read-only. */
export const MUTATING = ['admin', 'dlq', 'enqueue', 'work'] as const;

const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  historyCacheSize: 0,
  refreshOnHistoryMiss: true,
  selfRequestsOnly: true,
  scrollIntoViewOnBoost: false,
});

export interface DlqDepth {
  queue: string;
  depth: number;
}

/** A hidden form field with the session's CSRF token (for plain, non-htmx forms). */
export function csrfField(session: DashboardSession): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${session.csrfToken}">`;
}

/** The DLQ banner: shown while any DLQ holds unresolved dead jobs; re-fetched on DLQ alerts. */
export function dlqBanner(depths: DlqDepth[] | null): SafeHtml {
  const attrs = html`id="dlq-banner" hx-get="/ui/fragments/dlq-banner" hx-trigger="live:dlq-alert-fired from:body, live:dlq-alert-cleared from:body" hx-swap="outerHTML"`;
  const full = (depths ?? []).filter((d) => d.depth > 0);
  if (full.length === 0) return html`<div ${attrs} class="banner-slot"></div>`;
  const total = full.reduce((s, d) => s + d.depth, 0);
  const shown = full.slice(0, 5).map((d, i) => html`${i > 0 ? ', ' : ''}<a href="${url(['/dlq', d.queue])}">${d.queue}</a> (${d.depth})`);
  return html`<div ${attrs} class="banner banner-dlq" role="alert">
  <strong>${total} dead ${total === 1 ? 'job' : 'jobs'}</strong> waiting in the dead-letter queue of ${shown}${full.length > 5 ? ` and ${full.length - 5} more` : ''}.
  <a class="banner-link" href="/dlq">Open the DLQ</a>
</div>`;
}

export interface LayoutInput {
  view: PageView;
  session: DashboardSession;
  authEnabled: boolean;
  assets: Assets;
  depths: DlqDepth[] | null;
  /** The URL of this page's live stream (`/ui/events?…`). */
  liveUrl: string;
  version: string;
}

export function layout({ view, session, authEnabled, assets, depths, liveUrl, version }: LayoutInput): string {
  const nav = NAV.map((t) => html`<a href="${t.path}" class="${t.key === view.active ? 'tab active' : 'tab'}"${t.key === view.active ? raw(' aria-current="page"') : ''}>${t.label}</a>`);
  const who = authEnabled
    ? html`<span class="who" title="API key in use">${session.keyName ?? ''}${MUTATING.some((a) => session.can(a)) ? '' : html` <span class="badge">read-only</span>`}</span>
      <form method="post" action="/logout" class="logout">${csrfField(session)}<button type="submit" class="link">Log out</button></form>`
    : html`<span class="who muted" title="The server runs without API keys (loopback only)">open server</span>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${view.title} · Spindle</title>
<meta name="htmx-config" content="${HTMX_CONFIG}">
<meta name="csrf-token" content="${session.csrfToken}">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${assets.url('uPlot.min.css')}">
<link rel="stylesheet" href="${assets.url('app.css')}">
<script src="${assets.url('htmx.min.js')}" defer></script>
<script src="${assets.url('sse.js')}" defer></script>
<script src="${assets.url('uPlot.iife.min.js')}" defer></script>
<script src="${assets.url('app.js')}" defer></script>
</head>
<body hx-headers="${JSON.stringify({ 'X-CSRF-Token': session.csrfToken })}" data-live="${liveUrl}">
<header class="top">
  <a class="brand" href="/">Spindle</a>
  <nav class="tabs" aria-label="Sections">${nav}</nav>
  <div class="session">${who}</div>
</header>
${dlqBanner(depths)}
<div id="toast" class="toast" aria-live="polite"></div>
<main id="main">
${view.body}
</main>
<footer class="foot muted">Spindle ${version} · <a href="/docs">API docs</a> · <a href="/metrics">metrics</a> · <span class="live-state" id="live-state">live</span></footer>
</body>
</html>`.value;
}

/** The login page (auth on, no session). `error` is shown above the form. */
export function loginPage(assets: Assets, error: string | null): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · Spindle</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${assets.url('app.css')}">
</head>
<body class="login-body">
<main class="login">
  <h1>Spindle</h1>
  <p class="muted">Log in with an API key. It stays on the server: your browser only gets a session cookie.</p>
  ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
  <form method="post" action="/login" class="stack">
    <label for="key">API key</label>
    <input id="key" name="key" type="password" autocomplete="off" required placeholder="spk_…" autofocus>
    <button type="submit" class="primary">Log in</button>
  </form>
</main>
</body>
</html>`.value;
}

/** A page without navigation (no session): errors before login. */
export function standalonePage(assets: Assets, title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title} · Spindle</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${assets.url('app.css')}">
</head>
<body class="login-body"><main class="login">${body}</main></body>
</html>`.value;
}

/** A small error message block (the body of error pages). */
export function errorBody(status: number, message: string): SafeHtml {
  return html`<section class="error-page"><h1>${status}</h1><p>${message}</p><p><a href="/">Back to the overview</a></p></section>`;
}
