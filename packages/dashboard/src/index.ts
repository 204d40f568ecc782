/**
 * @spindle/dashboard: the web dashboard served by `spindle serve` at `/` (ADR 0018).
 */
export { html, raw, url, escapeHtml, SafeHtml } from './html.js';
export type { DashboardContext, DashboardModule, DashboardSession, PageView, NavKey, ApiAnswer, ApiMethod } from './context.js';
export { dashboardPlugin, MODULES, CSP, type DashboardOptions } from './plugin.js';
export type { KeyInfo } from './session.js';
