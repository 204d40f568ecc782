/**
 * SQL fragments every operation shares: the clock, millisecond intervals, retention expiry,
 * error-history append, the jsonb shape of a job event, and the NOTIFY tail that publishes an
 * operation's events inside the operation's own statement.
 *
 * Invariants:
 * - Fragments only ever interpolate other fragments, column names and `$n` placeholders;
 *   values are bound by the caller.
 * - Event publishing: a statement that changes jobs exposes a CTE with columns `ev` (jsonb, the
 *   event, NULL for none) and `ord` (delivery order); `notifyCtes()` turns it into one
 *   `pg_notify` call per chunk, and the final SELECT must reference `NOTIFIED` so that the
 *   chunks are actually evaluated. NOTIFY is transactional: listeners see it only on commit.
 * - A NOTIFY payload stays below 7,000 bytes: events are grouped by a running byte sum
 *   (`CHUNK_BYTES`), and an event's `data` is dropped when larger than `MAX_DATA_BYTES`, so one
 *   chunk is at most CHUNK_BYTES + one event + the envelope.
 */

/** Running-sum width of one NOTIFY chunk (see the bound above). */
export const CHUNK_BYTES = 3500;
/** Event `data` larger than this (UTF-8 bytes of its JSON) is left out of the event. */
export const MAX_DATA_BYTES = 2500;

/** `now` for a statement: the injected time parameter, else the database clock. */
export function nowSql(param: string): string {
  return `coalesce(${param}::timestamptz, now())`;
}

/** An interval of `ms` milliseconds (`ms` is an SQL expression). */
export function msSql(ms: string): string {
  return `(${ms} * interval '1 millisecond')`;
}

/** Epoch milliseconds of a timestamptz expression, as bigint. */
export function epochMsSql(ts: string): string {
  return `floor(extract(epoch FROM ${ts}) * 1000)::bigint`;
}

/**
 * `expires_at` of a job that finishes now: `keep = rowKeep ?? defaultKeep`; NULL or negative
 * (-1 = keep forever) → NULL, else now + keep.
 */
export function expiresSql(now: string, keep: string): string {
  return `CASE WHEN ${keep} IS NULL OR ${keep} < 0 THEN NULL ELSE ${now} + ${msSql(keep)} END`;
}

/**
 * The error history with `error` (jsonb object) appended, keeping the newest `max` entries.
 * `errors` is the current history, `max` a placeholder of MAX_ERRORS_KEPT.
 */
export function appendErrorSql(errors: string, error: string, max: string): string {
  return `CASE WHEN jsonb_array_length(${errors}) < ${max}::int THEN ${errors} || jsonb_build_array(${error})
    ELSE (SELECT jsonb_agg(x.e ORDER BY x.n) FROM jsonb_array_elements(${errors} || jsonb_build_array(${error}))
          WITH ORDINALITY AS x(e, n) WHERE x.n > jsonb_array_length(${errors}) + 1 - ${max}::int) END`;
}

export interface JobEventSqlParts {
  /** SQL text expression of the event type. */
  type: string;
  /** Alias of the job row (after the change). */
  job: string;
  /** timestamptz expression of the change time. */
  at: string;
  /** jsonb expression of `data`, SQL NULL for none. */
  data?: string;
}

/** The jsonb of one JobEvent built from a changed row (state and attempt after the change). */
export function jobEventSql(parts: JobEventSqlParts): string {
  const j = parts.job;
  const base = `jsonb_build_object('type', ${parts.type}, 'jobId', ${j}.id, 'queue', ${j}.queue, 'name', ${j}.name,
    'state', ${j}.state, 'attempt', ${j}.attempt, 'at', ${epochMsSql(parts.at)})`;
  if (!parts.data) return base;
  const d = parts.data;
  return `(${base} || CASE WHEN ${d} IS NULL OR octet_length((${d})::text) > ${MAX_DATA_BYTES}
    THEN '{}'::jsonb ELSE jsonb_build_object('data', ${d}) END)`;
}

/**
 * CTEs `ev_chunks` and `notified` that publish the events of CTE `source` (columns ev, ord) on
 * channel `channel` with origin `origin` (both placeholders). Append after the source CTE.
 */
export function notifyCtes(source: string, channel: string, origin: string): string {
  return `ev_chunks AS (
    SELECT ev, ord,
      sum(octet_length(ev::text) + 2) OVER (ORDER BY ord ROWS UNBOUNDED PRECEDING) / ${CHUNK_BYTES} AS chunk
    FROM ${source} WHERE ev IS NOT NULL
  ), notified AS (
    SELECT pg_notify(${channel}, json_build_object('o', ${origin}::text, 'e', json_agg(ev ORDER BY ord))::text)
    FROM ev_chunks GROUP BY chunk
  )`;
}

/** Reference this in the final SELECT of a statement using `notifyCtes` (forces the NOTIFY). */
export const NOTIFIED = '(SELECT count(*) FROM notified)';

/** Builds a `$n` placeholder list while collecting the values, in order. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value === undefined ? null : value);
    return `$${this.values.length}`;
  }
}
