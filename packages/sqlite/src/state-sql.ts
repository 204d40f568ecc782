/**
 * SQL fragments every state transition shares, so that finalize, cancel, rescue and replay
 * write the same columns the same way (docs/design/backend-semantics.md).
 *
 * Invariants:
 * - FENCE is the whole fence of a post-claim write: id, attempt, lease token AND
 *   state = 'running'. The lease's expiry is deliberately not part of it.
 * - Fragments only reference named parameters (`@now`, `@id`, …); values are always bound.
 * - `expiresAt(keep)`: keep NULL or -1 → NULL (kept forever), otherwise now + keep.
 * - `APPEND_ERROR` / `ERRORS_APPENDED` keep the newest MAX_ERRORS_KEPT entries of the `errors` JSON array.
 */
import { CANCELLABLE_STATES, MAX_ERRORS_KEPT, TERMINAL_STATES, type RetentionDefaults } from '@spindle/core';

/** Binds `@id`, `@attempt`, `@leaseToken`. */
export const FENCE = "id = @id AND attempt = @attempt AND lease_token = @leaseToken AND state = 'running'";

export const CLEAR_LEASE = 'lease_token = NULL, lease_expires_at = NULL';

/**
 * Part of every claim's SET list (a job becoming `running`): a key held `while: 'queued'` is
 * released — it leaves `unique_key`, so the unique index stops counting it (ADR 0016).
 */
export const RELEASE_QUEUED_KEY = "unique_key = CASE WHEN unique_scope = 'queued' THEN NULL ELSE unique_key END";

/** `errors` with one more entry (an SQL JSON expression), the oldest dropped beyond the cap. */
export function errorsAppended(entrySql: string): string {
  return (
    `json_insert(CASE WHEN json_array_length(errors) >= ${MAX_ERRORS_KEPT} ` +
    `THEN json_remove(errors, '$[0]') ELSE errors END, '$[#]', ${entrySql})`
  );
}

/** `errors` with the JSON text bound as `@error` appended. */
export const ERRORS_APPENDED = errorsAppended('json(@error)');

export const APPEND_ERROR = `errors = ${ERRORS_APPENDED}`;

/** Failure times of a failed attempt (retry, dead, lease expiry). */
export const FAILURE_TIMES = 'last_failed_at = @now, first_failed_at = coalesce(first_failed_at, @now)';

/** `expires_at` for a job finishing now, given an SQL expression for its keepMs. */
export function expiresAt(keepMsSql: string): string {
  return `CASE WHEN (${keepMsSql}) IS NULL OR (${keepMsSql}) = -1 THEN NULL ELSE @now + (${keepMsSql}) END`;
}

/** keepMs per terminal state: the job's own rule, else the client default (cancelled: default only). */
export const KEEP_COMPLETED = 'coalesce(completed_keep_ms, @completedMs)';
export const KEEP_DEAD = 'coalesce(dead_keep_ms, @deadMs)';
export const KEEP_CANCELLED = '@cancelledMs';

export interface RetentionParams {
  completedMs: number | null;
  deadMs: number | null;
  cancelledMs: number | null;
}

/** Named parameters for the KEEP_* fragments. */
export function retentionParams(retention: RetentionDefaults): RetentionParams {
  return { completedMs: retention.completedMs, deadMs: retention.deadMs, cancelledMs: retention.cancelledMs };
}

/** States (a fixed enum, never caller input) as an SQL list of literals: `('a', 'b')`. */
export const sqlList = (states: readonly string[]): string => `(${states.map((s) => `'${s}'`).join(', ')})`;
/** The states that can be cancelled without interrupting a handler, as an SQL list. */
export const CANCELLABLE_SQL = sqlList(CANCELLABLE_STATES);
export const TERMINAL_SQL = sqlList(TERMINAL_STATES);

/**
 * The columns writes RETURN to build their events (see rows.ts EventRow), with the flow parent:
 * a write that finishes a child settles its parent in the same transaction (flows.ts).
 */
export const EVENT_COLUMNS = 'id, queue, name, state, attempt, parent_id AS parentId';

/** `now` of an operation: the injected time, else the host clock (SQLite is embedded). */
export function nowMs(now: Date | undefined): number {
  return now?.getTime() ?? Date.now();
}
