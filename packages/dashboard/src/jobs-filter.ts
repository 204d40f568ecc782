/**
 * The jobs list's filter: read from the URL's query (or a form body), turned into the API's list
 * query (`GET /api/v1/jobs`), into the bulk actions' `filter` (`POST /api/v1/jobs/{action}`), and
 * back into links. Also the count preview of a whole-filter action.
 *
 * Invariants:
 * - Unknown or malformed values are dropped, never forwarded: states must be known states, times
 *   must parse (a `datetime-local` value is read as UTC), ids and names are passed as given (the
 *   API validates them and its 400 is shown).
 * - The list query and the bulk filter select the same jobs: same queue, states, name, payload
 *   substring and creation range (the API maps `from`/`to` and `createdAfter`/`createdBefore` to
 *   the same core filter). An id filter has no bulk-filter form: whole-filter actions on it use
 *   the ids themselves.
 * - `state` absent means the default, the pending states; `state=all` means no state condition.
 */
import { formValue, formValues, JOB_STATES, PENDING_STATES, toInstant, type JobPageJson, type JobStatus } from './jobs-common.js';

export interface JobsFilter {
  queue?: string;
  /** 'pending' (default), 'all', or a comma-separated list of states. */
  state: string;
  name?: string;
  /** Comma-separated ids. */
  id?: string;
  /** Payload substring. */
  q?: string;
  /** Created at or after / before: ISO instants with an offset. */
  from?: string;
  to?: string;
  cursor?: string;
  limit: number;
}

export const PAGE_SIZES = [25, 50, 100, 250] as const;

const trimmed = (v: string | undefined, max = 500): string | undefined => {
  const t = v?.trim();
  return t ? t.slice(0, max) : undefined;
};

/** The filter in a query object or form body (fields as strings or string lists). */
export function parseFilter(source: unknown): JobsFilter {
  const states = formValues(source, 'state').flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  let state = 'pending';
  if (states.includes('all')) state = 'all';
  else {
    const known = states.filter((s) => (JOB_STATES as readonly string[]).includes(s));
    if (known.length > 0 && !states.includes('pending')) state = [...new Set(known)].join(',');
  }
  const limitRaw = Number(formValue(source, 'limit'));
  const limit = Number.isInteger(limitRaw) && limitRaw >= 1 && limitRaw <= 1000 ? limitRaw : 50;
  const ids = trimmed(formValue(source, 'id'), 2000)
    ?.split(/[\s,]+/)
    .filter(Boolean)
    .slice(0, 100)
    .join(',');
  const f: JobsFilter = { state, limit };
  const queue = trimmed(formValue(source, 'queue'), 128);
  const name = trimmed(formValue(source, 'name'), 128);
  const q = trimmed(formValue(source, 'q'));
  const from = toInstant(formValue(source, 'from'));
  const to = toInstant(formValue(source, 'to'));
  const cursor = trimmed(formValue(source, 'cursor'), 200);
  if (queue) f.queue = queue;
  if (name) f.name = name;
  if (ids) f.id = ids;
  if (q) f.q = q;
  if (from) f.from = from;
  if (to) f.to = to;
  if (cursor) f.cursor = cursor;
  return f;
}

/** The states the filter selects, or null for every state. */
export function filterStates(f: JobsFilter): JobStatus[] | null {
  if (f.state === 'all') return null;
  if (f.state === 'pending') return [...PENDING_STATES];
  return f.state.split(',') as JobStatus[];
}

/** The filter as link query values (the page's own URL, without the cursor unless asked). */
export function filterQuery(f: JobsFilter, extra: Record<string, string | number | undefined> = {}): Record<string, string | number | undefined> {
  return {
    queue: f.queue,
    state: f.state === 'pending' ? undefined : f.state,
    name: f.name,
    id: f.id,
    q: f.q,
    from: f.from,
    to: f.to,
    limit: f.limit === 50 ? undefined : f.limit,
    ...extra,
  };
}

/** `GET /api/v1/jobs` path for the filter (one page). */
export function apiListPath(f: JobsFilter, override: { limit?: number; cursor?: string | null } = {}): string {
  const p = new URLSearchParams();
  const states = filterStates(f);
  if (f.queue) p.set('queue', f.queue);
  if (states) p.set('state', states.join(','));
  if (f.name) p.set('name', f.name);
  if (f.id) p.set('id', f.id);
  if (f.q) p.set('q', f.q);
  if (f.from) p.set('from', f.from);
  if (f.to) p.set('to', f.to);
  const cursor = override.cursor === undefined ? f.cursor : override.cursor;
  if (cursor) p.set('cursor', cursor);
  p.set('limit', String(override.limit ?? f.limit));
  return `/jobs?${p.toString()}`;
}

/** The bulk endpoints' `filter` body for the filter, or null when it selects by ids. */
export function bulkFilter(f: JobsFilter): Record<string, unknown> | null {
  if (f.id) return null;
  const states = filterStates(f);
  const body: Record<string, unknown> = {};
  if (f.queue) body.queue = f.queue;
  if (states) body.states = states;
  if (f.name) body.name = f.name;
  if (f.q) body.payloadContains = f.q;
  if (f.from) body.createdAfter = f.from;
  if (f.to) body.createdBefore = f.to;
  return body;
}

/** A human description of the filter, for confirmations. */
export function describeFilter(f: JobsFilter): string {
  const parts: string[] = [];
  parts.push(f.state === 'all' ? 'any state' : f.state === 'pending' ? 'pending states' : `state ${f.state.replaceAll(',', ', ')}`);
  if (f.queue) parts.push(`queue ${f.queue}`);
  if (f.name) parts.push(`name ${f.name}`);
  if (f.id) parts.push(`ids ${f.id}`);
  if (f.q) parts.push(`payload contains "${f.q}"`);
  if (f.from) parts.push(`created from ${f.from}`);
  if (f.to) parts.push(`created before ${f.to}`);
  return parts.join(', ');
}

export type ApiGet = <T>(path: string) => Promise<{ status: number; body: T }>;

export interface MatchCount {
  /** Jobs the filter selects now, exactly. */
  count: number;
  /** The ids, when the filter selects by ids (whole-filter actions then act on these). */
  ids?: string[];
  error?: { status: number; body: unknown };
}

/** `GET /api/v1/jobs/count` path for the filter: the list query without its paging. */
export function apiCountPath(f: JobsFilter): string {
  const list = new URLSearchParams(apiListPath(f).slice('/jobs?'.length));
  list.delete('limit');
  list.delete('cursor');
  return `/jobs/count?${list.toString()}`;
}

/**
 * How many jobs the filter selects now: the API's exact count (one request). An id filter (at
 * most 100 ids) lists its jobs instead, since its actions need the ids that exist.
 */
export async function countMatching(get: ApiGet, f: JobsFilter): Promise<MatchCount> {
  if (f.id) {
    const answer = await get<JobPageJson>(apiListPath(f, { limit: 1000, cursor: null }));
    if (answer.status !== 200) return { count: 0, error: answer };
    const ids = answer.body.jobs.map((j) => j.id);
    return { count: ids.length, ids };
  }
  const answer = await get<{ count: number }>(apiCountPath(f));
  if (answer.status !== 200) return { count: 0, error: answer };
  return { count: answer.body.count };
}
