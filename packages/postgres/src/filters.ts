/**
 * JobFilter → SQL WHERE conditions, shared by job listing and the DLQ operations.
 *
 * Invariants:
 * - Every filter value is a bound parameter (collected in `Params`); the SQL text only varies
 *   with which fields are present, never with their values.
 * - Text searches are case-insensitive substring matches: `ILIKE $n ESCAPE '\'` with the value
 *   escaped by `likeContains()`. `errorContains` matches the failure reason or the message of
 *   any attempt error in the history.
 * - `resolved`, `failedAfter` and `failedBefore` concern dead jobs only, so they also require
 *   `state = 'dead'`. Time bounds are inclusive below (`>=`) and exclusive above (`<`).
 * - States are the one exception to binding: they are SQL literals (`stateSql`, checked against
 *   the JOB_STATES enum), so that the planner can prove the partial per-state indexes'
 *   predicates, also in generic plans (docs/decisions/0007).
 */
import { likeContains, type JobFilter } from '@spindle/core';
import { stateInSql, type Params } from './sql.js';

/**
 * The conditions of `filter` on alias `j` (empty array: no condition). With `omitStates` the
 * caller handles `filter.states` itself (listJobs queries each state separately).
 */
export function filterConditions(filter: JobFilter | undefined, p: Params, j = 'j', omitStates = false): string[] {
  const where: string[] = [];
  if (!filter) return where;
  if (filter.queue !== undefined) where.push(`${j}.queue = ${p.add(filter.queue)}`);
  if (filter.states !== undefined && !omitStates) where.push(stateInSql(`${j}.state`, filter.states));
  if (filter.name !== undefined) where.push(`${j}.name = ${p.add(filter.name)}`);
  if (filter.ids !== undefined) where.push(`${j}.id = ANY(${p.add(filter.ids)}::text[])`);
  if (filter.parentId !== undefined) where.push(`${j}.parent_id = ${p.add(filter.parentId)}`);
  if (filter.createdAfter !== undefined) where.push(`${j}.created_at >= ${p.add(filter.createdAfter)}::timestamptz`);
  if (filter.createdBefore !== undefined) where.push(`${j}.created_at < ${p.add(filter.createdBefore)}::timestamptz`);
  if (filter.payloadContains !== undefined) {
    where.push(`${j}.payload ILIKE ${p.add(likeContains(filter.payloadContains))} ESCAPE '\\'`);
  }
  if (filter.errorContains !== undefined) {
    const pattern = p.add(likeContains(filter.errorContains));
    where.push(`(${j}.failure_reason ILIKE ${pattern} ESCAPE '\\'
      OR EXISTS (SELECT 1 FROM jsonb_array_elements(${j}.errors) AS err(e) WHERE err.e->>'message' ILIKE ${pattern} ESCAPE '\\'))`);
  }
  if (filter.reason !== undefined) where.push(`coalesce(${j}.failure_reason, '') = ${p.add(filter.reason)}`);
  if (filter.resolved !== undefined) {
    where.push(`${j}.state = 'dead' AND ${j}.resolved_at IS ${filter.resolved ? 'NOT NULL' : 'NULL'}`);
  }
  if (filter.failedAfter !== undefined) {
    where.push(`${j}.state = 'dead' AND ${j}.last_failed_at >= ${p.add(filter.failedAfter)}::timestamptz`);
  }
  if (filter.failedBefore !== undefined) {
    where.push(`${j}.state = 'dead' AND ${j}.last_failed_at < ${p.add(filter.failedBefore)}::timestamptz`);
  }
  return where;
}

/** `WHERE a AND b …`, or an empty string when there is no condition. */
export function whereClause(conditions: string[]): string {
  return conditions.length === 0 ? '' : `WHERE ${conditions.map((c) => `(${c})`).join(' AND ')}`;
}
