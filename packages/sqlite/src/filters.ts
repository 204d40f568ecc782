/**
 * JobFilter → SQL: the WHERE clauses shared by job listing and the DLQ operations.
 *
 * Invariants:
 * - Every value is a bound named parameter (prefix `f`); lists (ids, states) are bound as one
 *   JSON array and read with json_each, so the SQL text depends only on which filters are set
 *   (a small, cacheable set of statements).
 * - Substring filters use `LIKE … ESCAPE '\'` with likeContains(): `%`, `_` and `\` in the
 *   needle are literal. SQLite's LIKE is case-insensitive for ASCII letters.
 * - `resolved`, `failedAfter` and `failedBefore` concern dead jobs only: setting one also
 *   restricts the result to `state = 'dead'`. Time bounds are "at or after" / "before".
 */
import { likeContains, type JobFilter } from '@spindle/core';

export interface SqlWhere {
  /** Conditions to AND together (possibly none). */
  clauses: string[];
  params: Record<string, unknown>;
}

export function filterWhere(filter: JobFilter | undefined): SqlWhere {
  const clauses: string[] = [];
  const params: Record<string, unknown> = {};
  if (filter === undefined) return { clauses, params };
  if (filter.queue !== undefined) {
    clauses.push('queue = @fQueue');
    params.fQueue = filter.queue;
  }
  if (filter.states !== undefined && filter.states.length === 1) {
    // One state: a plain equality lets (state, seq) / (queue, state, seq) serve the paging order.
    clauses.push('state = @fState');
    params.fState = filter.states[0];
  } else if (filter.states !== undefined) {
    clauses.push('state IN (SELECT value FROM json_each(@fStates))');
    params.fStates = JSON.stringify(filter.states);
  }
  if (filter.name !== undefined) {
    clauses.push('name = @fName');
    params.fName = filter.name;
  }
  if (filter.ids !== undefined) {
    clauses.push('id IN (SELECT value FROM json_each(@fIds))');
    params.fIds = JSON.stringify(filter.ids);
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
  const deadOnly = filter.resolved !== undefined || filter.failedAfter !== undefined || filter.failedBefore !== undefined;
  if (deadOnly) clauses.push("state = 'dead'");
  if (filter.resolved !== undefined) clauses.push(filter.resolved ? 'resolved_at IS NOT NULL' : 'resolved_at IS NULL');
  if (filter.failedAfter !== undefined) {
    clauses.push('last_failed_at >= @fFailedAfter');
    params.fFailedAfter = filter.failedAfter.getTime();
  }
  if (filter.failedBefore !== undefined) {
    clauses.push('last_failed_at < @fFailedBefore');
    params.fFailedBefore = filter.failedBefore.getTime();
  }
  return { clauses, params };
}

/**
 * The rows a DLQ operation acts on: `ids` when given (the filter is then ignored), else the
 * filter with its `states` replaced by `dead`. Always restricted to dead jobs.
 */
export function dlqWhere(selection: { ids?: string[]; filter?: JobFilter }): SqlWhere {
  if (selection.ids !== undefined) {
    return {
      clauses: ["state = 'dead'", 'id IN (SELECT value FROM json_each(@fIds))'],
      params: { fIds: JSON.stringify(selection.ids) },
    };
  }
  const { states: _ignored, ...rest } = selection.filter ?? {};
  const where = filterWhere(rest);
  return { clauses: ["state = 'dead'", ...where.clauses], params: where.params };
}

/** `WHERE a AND b …`, or '' when there is nothing to filter on. */
export function whereSql(clauses: string[]): string {
  return clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`;
}
