/**
 * The contract between the dashboard's plugin (plugin.ts: sessions, CSRF, layout, assets) and
 * its view modules (one file per area: overview, queues, jobs, job detail, DLQ, topics,
 * schedules, workers, alerts). A view module registers its routes on the plugin's encapsulated
 * instance and reads and changes data ONLY through `ctx.api` — the public HTTP API, called as
 * the session's API key — so the dashboard can never do what the key may not (ADR 0018).
 *
 * Conventions every module follows:
 * - Pages are GET routes at the paths of ADR 0018 (`/`, `/queues`, `/jobs/:id`, …) and answer a
 *   whole page through `ctx.page`; an htmx request (header `HX-Request`) for a part of a page is
 *   answered with `ctx.fragment`.
 * - Changes are POST routes under `/ui/actions/…`; the plugin checks the session and the CSRF
 *   token of every non-GET request before the handler runs, so modules do not.
 * - Every value from the API goes through `html` (html.ts); every link through `url`.
 * - Mutating controls are rendered only when `ctx.session(request).can(action)` says the key
 *   holds that action; the API refuses the request anyway.
 *
 * Live updates (plugin.ts `/ui/events`, app.js): every page opens ONE EventSource on
 * `/ui/events` (filters from `PageView.live`: `?queue=a,b&job=id1,id2`), a proxy of the API's
 * `GET /api/v1/events` as the session's key. It forwards, with the API's ids and JSON data:
 *   - `queue.paused`, `queue.resumed`, `dlq.alert.fired`, `dlq.alert.cleared`, `alert.firing`,
 *     `alert.resolved`, `reset`;
 *   - `job.*` events (`job.added|started|progress|completed|retrying|dead|cancelled|…`, data
 *     = the API's WireEvent `{id,type,at,queue,jobId,name,status,attempt,data}`; for
 *     `job.progress`, `data.data` is the progress value) ONLY for the jobs named in `live.jobs`;
 *   - `tick` at most once a second while anything happened: `{"queues":["a","b"]}`.
 * app.js re-dispatches each one on <body> as the DOM event `live:<type with dots as dashes>`
 * (`live:tick`, `live:job-progress`, `live:dlq-alert-fired`, …) with `detail` = the parsed data,
 * so a fragment refreshes itself with
 *   `hx-get="…" hx-trigger="live:tick from:body" hx-swap="outerHTML"`
 * and a script reads `event.detail`. The stream is closed while the tab is hidden and reopened
 * (with a `live:tick`) when it is shown again.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SafeHtml } from './html.js';

export type ApiMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** An API answer: the status, and the parsed JSON body (a problem+json object on errors). */
export interface ApiAnswer<T = unknown> {
  status: number;
  body: T;
}

/** The API's actions a key may hold (the server's `Action`, as strings). */
export type ApiAction = string;

export interface DashboardSession {
  /** The key's name, or null when the server runs without auth (loopback, open). */
  readonly keyName: string | null;
  /** The CSRF token to send with every change (the layout puts it where htmx sends it). */
  readonly csrfToken: string;
  /** Whether the key holds `action` (on some queue); always true without auth. */
  can(action: ApiAction): boolean;
}

/** The tabs of the layout's navigation. */
export type NavKey = 'overview' | 'queues' | 'jobs' | 'dlq' | 'topics' | 'schedules' | 'workers' | 'alerts';

export interface PageView {
  title: string;
  active: NavKey;
  body: SafeHtml;
  /**
   * What the page's live stream follows (see "Live updates" above). Default: every queue's
   * `tick`, `queue.*`, `dlq.alert.*` and `alert.*` events. With `jobs`, those jobs' `job.*` events too.
   */
  live?: { queues?: string[]; jobs?: string[] };
}

export interface DashboardContext {
  /** Calls `API_PREFIX + path` (e.g. `/queues?limit=50`) as `request`'s session. Never throws for HTTP errors: check `status`. */
  api<T = unknown>(request: FastifyRequest, method: ApiMethod, path: string, body?: unknown): Promise<ApiAnswer<T>>;
  /** The session of a request that passed the plugin's checks. */
  session(request: FastifyRequest): DashboardSession;
  /** A whole page: layout, navigation, the DLQ banner, `view.body`. */
  page(request: FastifyRequest, reply: FastifyReply, view: PageView): FastifyReply;
  /** A fragment for an htmx swap (text/html, no layout). */
  fragment(reply: FastifyReply, body: SafeHtml, status?: number): FastifyReply;
}

/** A view module: registers its routes on the dashboard's instance. */
export type DashboardModule = (app: FastifyInstance, ctx: DashboardContext) => Promise<void> | void;
