/**
 * SQL fragments every operation shares: the clock, millisecond intervals, retention expiry,
 * error-history append, the wire format of a job event, and the NOTIFY tail that publishes an
 * operation's events inside the operation's own statement.
 *
 * Invariants:
 * - Fragments only ever interpolate other fragments, column names and `$n` placeholders;
 *   values are bound by the caller.
 * - Event publishing: a statement that changes jobs exposes a CTE with columns `ev` (the event
 *   in the wire format of events.ts, JSON text, NULL for none) and `ord` (delivery order);
 *   `notifyCtes()` turns it into `pg_notify` calls, and the final SELECT must reference
 *   `NOTIFIED` so that they are actually evaluated. NOTIFY is transactional: listeners see it
 *   only on commit. The statement's clock (`clockCte`) gives every event of it the same `at`.
 * - A NOTIFY payload stays below 8,000 bytes (PostgreSQL's limit): a statement's events go out
 *   in one payload when they total at most NOTIFY_BYTES; otherwise they are grouped by a running
 *   byte sum (`CHUNK_BYTES`). An event's `data` is dropped when larger than `MAX_DATA_BYTES`, so
 *   one chunk is at most CHUNK_BYTES + one event + the envelope.
 */
import { JOB_STATES, ValidationError, type JobState } from '@spindle/core';
import type { SchemaNames } from './config.js';

/** Events of one statement up to this many bytes go out as one NOTIFY (no chunking). */
export const NOTIFY_BYTES = 7000;
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

/**
 * The clock of a statement as a CTE named `clock`: `now` (timestamptz; the injected time `param`,
 * else the database clock) and `at`, its epoch milliseconds (bigint), the `at` of every event the
 * statement publishes.
 */
export function clockCte(param: string): string {
  return `clock AS (SELECT n.now, ${epochMsSql('n.now')} AS at FROM (SELECT ${nowSql(param)} AS now) n)`;
}

/**
 * The `clock` of a claim statement: the injected time, else the time read while the statement
 * runs (`clock_timestamp()`, evaluated once, after the statement's snapshot) rather than
 * `now()`. `now()` is the transaction's start, which precedes the snapshot by the statement's
 * parse and plan time — tens of ms for a first use on a new connection under load — so a claim
 * could take a job inserted by a transaction that began after its own and record a start (and
 * lease) before the job's `run_at`/`created_at` (chaos C3 saw started_at 11 ms before
 * created_at after a restart). Read after the snapshot, the claim's time is never before the
 * commit of a job it sees. (The limited claim reads its time after its queue lock the same way.)
 */
export function claimClockCte(param: string): string {
  return `clock AS MATERIALIZED (SELECT n.now, ${epochMsSql('n.now')} AS at FROM (SELECT coalesce(${param}::timestamptz, clock_timestamp()) AS now) n)`;
}

export interface JobEventSqlParts {
  /** SQL text expression of the event type. */
  type: string;
  /** Alias of the job row (after the change). */
  job: string;
  /** SQL text expression of the state after the change, when not the row's `state` (a deleted row). */
  state?: string;
  /** json expression of `data`, SQL NULL for none; left out when larger than MAX_DATA_BYTES. */
  data?: string;
}

/**
 * One job event in the wire format of events.ts (`[type, id, queue, name, state, attempt(, data)]`,
 * as JSON text) built from a changed row (state and attempt after the change). The event's `at` is
 * the statement's, carried once per NOTIFY payload.
 */
export function jobEventSql(parts: JobEventSqlParts): string {
  const j = parts.job;
  const fields = `${parts.type}, ${j}.id, ${j}.queue, ${j}.name, ${parts.state ?? `${j}.state`}, ${j}.attempt`;
  if (!parts.data) return `json_build_array(${fields})::text`;
  const d = parts.data;
  return `(CASE WHEN ${d} IS NULL OR octet_length((${d})::text) > ${MAX_DATA_BYTES} THEN json_build_array(${fields})
    ELSE json_build_array(${fields}, ${d}) END)::text`;
}

/**
 * CTEs `ev_all` and `notified` that publish the events of CTE `source` (columns `ev`: wire-format
 * JSON text or NULL for none, `ord`: delivery order) on channel `channel`. `prefix` is the
 * payload's beginning up to its time (EventHub.prefix: `{"o":<origin>,"t":`), `at` an SQL
 * expression of the events' epoch ms. Events totalling at most NOTIFY_BYTES go out in one
 * NOTIFY, with no window function; larger batches are cut into chunks by a running byte sum.
 */
export function notifyCtes(source: string, channel: string, prefix: string, at: string): string {
  const payload = (events: string) => `${prefix}::text || ${at} || ',"c":[' || ${events} || ']}'`;
  return `ev_all AS (
    SELECT string_agg(ev, ',' ORDER BY ord) AS body, sum(octet_length(ev) + 1) AS bytes FROM ${source} WHERE ev IS NOT NULL
  ), notified AS (
    SELECT pg_notify(${channel}, ${payload('body')}) FROM ev_all WHERE bytes <= ${NOTIFY_BYTES}
    UNION ALL
    SELECT pg_notify(${channel}, ${payload(`string_agg(ev, ',' ORDER BY ord)`)})
    FROM (
      SELECT ev, ord, sum(octet_length(ev) + 1) OVER (ORDER BY ord ROWS UNBOUNDED PRECEDING) / ${CHUNK_BYTES} AS chunk
      FROM ${source} WHERE ev IS NOT NULL AND (SELECT bytes FROM ev_all) > ${NOTIFY_BYTES}
    ) chunks
    GROUP BY chunk
  )`;
}

/** Reference this in the final SELECT of a statement using `notifyCtes` (forces the NOTIFY). */
export const NOTIFIED = '(SELECT count(*)::int FROM notified)';

/**
 * Part of every claim's SET list (a job of alias `j` becoming `running`): a key held `while:
 * 'queued'` leaves `unique_key`, so jobs_unique_idx stops counting it (ADR 0016).
 */
export function releaseQueuedKeySql(j: string): string {
  return `unique_key = CASE WHEN ${j}.unique_scope = 'queued' THEN NULL ELSE ${j}.unique_key END`;
}

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
