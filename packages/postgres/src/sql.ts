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
import { JOB_STATES, ValidationError, type JobState } from '@spindle/core';
import type { SchemaNames } from './config.js';

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

/**
 * `true` when a row with id `id` exists in `jobs`, else `false`: a scalar subquery, i.e. one
 * primary-key probe per evaluation. (An `EXISTS` here may be planned as a hashed subplan that
 * reads every id of the table.) Put it in a CASE branch so that it runs only when needed.
 */
export function foundSql(jobs: string, id: string): string {
  return `coalesce((SELECT true FROM ${jobs} e WHERE e.id = ${id}), false)`;
}

/**
 * A job state as an SQL literal. States are a fixed enum (JOB_STATES); naming them as literals
 * lets the planner prove the predicates of the partial per-state indexes, also in generic plans.
 * Anything outside the enum is refused: no caller input reaches SQL text unchecked.
 */
export function stateSql(state: JobState): string {
  if (!(JOB_STATES as readonly string[]).includes(state)) {
    throw new ValidationError([{ path: 'state', message: `must be one of ${JOB_STATES.join(', ')}` }]);
  }
  return `'${state}'`;
}

/** `column` is one of `states` (literals): `=` for one, an OR of `=` for several (each arm can use its index). */
export function stateInSql(column: string, states: readonly JobState[]): string {
  const distinct = [...new Set(states)];
  if (distinct.length === 0) return 'false';
  return distinct.length === 1 ? `${column} = ${stateSql(distinct[0]!)}` : `(${distinct.map((s) => `${column} = ${stateSql(s)}`).join(' OR ')})`;
}

/**
 * The compare-and-set recheck `column IN (states)` of a write that finds its rows by primary key
 * (fences, claim, DLQ, maintenance). Written as a CASE, which the planner cannot match against
 * an index predicate, so that the partial index of that state never serves the scan: with a low
 * (stale) estimate of that state's rows it would otherwise be scanned once per batch item —
 * measured: finalize of 500 leases through lease_idx in a nested loop 220 ms, by primary key
 * 22 ms. The CASE is the same test, evaluated on the row found (and re-evaluated on its newest
 * version when a concurrent write moved it).
 */
export function recheckStateSql(column: string, states: readonly JobState[]): string {
  return `(CASE WHEN ${column} IN (${states.map(stateSql).join(', ')}) THEN true ELSE false END)`;
}

/**
 * The text of a named statement, built once per schema: it never varies between calls, and the
 * driver then sees the very string it prepared (no rebuild and no long comparison per batch).
 */
export function perSchema(build: (names: SchemaNames) => string): (names: SchemaNames) => string {
  const cache = new WeakMap<SchemaNames, string>();
  return (names) => {
    let text = cache.get(names);
    if (text === undefined) {
      text = build(names);
      cache.set(names, text);
    }
    return text;
  };
}

/** Builds a `$n` placeholder list while collecting the values, in order. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value === undefined ? null : value);
    return `$${this.values.length}`;
  }
}
