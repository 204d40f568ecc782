/**
 * JobFilter → SQL: the conditions shared by job listing and the DLQ operations.
 *
 * Invariants:
 * - Every value is a bound named parameter (prefix `f`); the id list is bound as one JSON array
 *   and read with json_each, so the SQL text depends only on which filters are set (a small,
 *   cacheable set of statements).
 * - States are not a condition here but `states` of the result: state-index.ts turns them into
 *   literal conditions, one partial index per state (literals from the JOB_STATES enum only).
 * - Substring filters use `LIKE … ESCAPE '\'` with likeContains(): `%`, `_` and `\` in the
 *   needle are literal. SQLite's LIKE is case-insensitive for ASCII letters.
 * - `resolved`, `failedAfter` and `failedBefore` concern dead jobs only: setting one also
 *   restricts the result to `dead` (intersected with `states` when given). Time bounds are
 *   "at or after" / "before".
 */
import { likeContains, type JobFilter, type JobState } from '@spindle/core';
import { normalizeStates, stateCondition, type Selection } from './state-index.js';

export interface SqlWhere extends Selection {
  params: Record<string, unknown>;
}

export function filterWhere(filter: JobFilter | undefined): SqlWhere {
  const clauses: string[] = [];
  const params: Record<string, unknown> = {};
  if (filter === undefined) return { clauses, params, states: null, hasQueue: false, hasIds: false };
  if (filter.queue !== undefined) {
    clauses.push('queue = @fQueue');
    params.fQueue = filter.queue;
  }
  if (filter.name !== undefined) {
    clauses.push('name = @fName');
    params.fName = filter.name;
  }
  if (filter.ids !== undefined) {
    clauses.push('id IN (SELECT value FROM json_each(@fIds))');
    params.fIds = JSON.stringify(filter.ids);
  }
  if (filter.parentId !== undefined) {
    clauses.push('parent_id = @fParentId');
    params.fParentId = filter.parentId;
  }
  if (filter.createdAfter !== undefined) {
    clauses.push('created_at >= @fCreatedAfter');
    params.fCreatedAfter = filter.createdAfter.getTime();
  }
  if (filter.createdBefore !== undefined) {
    clauses.push('created_at < @fCreatedBefore');
    params.fCreatedBefore = filter.createdBefore.getTime();
  }
  if (filter.payloadContains !== undefined) {
    clauses.push("payload LIKE @fPayload ESCAPE '\\'");
    params.fPayload = likeContains(filter.payloadContains);
  }
  if (filter.errorContains !== undefined) {
    clauses.push(
      "(failure_reason LIKE @fError ESCAPE '\\' OR EXISTS (SELECT 1 FROM json_each(spindle_jobs.errors) AS e " +
        "WHERE e.value ->> '$.message' LIKE @fError ESCAPE '\\'))",
    );
    params.fError = likeContains(filter.errorContains);
  }
  if (filter.reason !== undefined) {
    clauses.push("coalesce(failure_reason, '') = @fReason");
    params.fReason = filter.reason;
  }
  const deadOnly = filter.resolved !== undefined || filter.failedAfter !== undefined || filter.failedBefore !== undefined;
  let states: JobState[] | null = filter.states === undefined ? null : normalizeStates(filter.states);
  if (deadOnly) states = states === null || states.includes('dead') ? ['dead'] : [];
  if (filter.resolved !== undefined) clauses.push(filter.resolved ? 'resolved_at IS NOT NULL' : 'resolved_at IS NULL');
  if (filter.failedAfter !== undefined) {
    clauses.push('last_failed_at >= @fFailedAfter');
    params.fFailedAfter = filter.failedAfter.getTime();
  }
  if (filter.failedBefore !== undefined) {
    clauses.push('last_failed_at < @fFailedBefore');
    params.fFailedBefore = filter.failedBefore.getTime();
  }
  return { clauses, params, states, hasQueue: filter.queue !== undefined, hasIds: filter.ids !== undefined };
}

/**
 * The rows a DLQ operation acts on: `ids` when given (the filter is then ignored), else the
 * filter with its `states` replaced by `dead`. Always restricted to dead jobs.
 */
export function dlqWhere(selection: { ids?: string[]; filter?: JobFilter }): SqlWhere {
  if (selection.ids !== undefined) {
    return {
      clauses: ['id IN (SELECT value FROM json_each(@fIds))'],
      params: { fIds: JSON.stringify(selection.ids) },
      states: ['dead'],
      hasQueue: false,
      hasIds: true,
    };
  }
  const { states: _ignored, ...rest } = selection.filter ?? {};
  return { ...filterWhere(rest), states: ['dead'] };
}

/**
 * The clauses with the state restriction added as literals: for aggregates over every matching
 * row (one state: its partial index serves them; an id list: the id index does).
 */
export function withStates(where: SqlWhere): string[] {
  return where.states === null ? where.clauses : [stateCondition(where.states), ...where.clauses];
}

/** `WHERE a AND b …`, or '' when there is nothing to filter on. */
export function whereSql(clauses: string[]): string {
  return clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`;
}
