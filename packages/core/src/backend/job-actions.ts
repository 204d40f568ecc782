/**
 * Operator actions on individual jobs, as the Backend offers them (`retryJobs`, `promoteJobs`,
 * `deleteJobs`, `updateJobPayloads`): their parameters, per-item outcomes and the states each
 * action applies to. The HTTP API's `POST /jobs/:id/retry`, `/promote`, `DELETE /jobs/:id` and
 * `PATCH /jobs/:id` (and their bulk forms) are built on them.
 *
 * Invariants every backend keeps (docs/design/backend-semantics.md, "Operator actions"):
 * - Each call is atomic (one statement or one transaction) and answers per item, in input order.
 * - Each write is a compare-and-set on the job's state at the moment of the write: a job that
 *   moved meanwhile is judged by its new state, so two concurrent retries move a job once, and
 *   a job that became `running` is never deleted nor edited.
 * - A repeated id answers as if its items ran one after the other (a second retry of the same
 *   job finds it `queued`: `wrong_state`; a second delete finds nothing: `not_found`).
 * - Events are published after commit: `retried`, `promoted`, `removed`, `updated`.
 */
import type { JobState } from '../job/types.js';

/**
 * - `ok`: the action was applied.
 * - `not_found`: no job has this id.
 * - `wrong_state`: the job exists but its state (at the moment of the write) does not allow
 *   the action; nothing changed.
 */
export type JobActionOutcome = 'ok' | 'not_found' | 'wrong_state';

/** `unique_conflict`: the job's `uniqueKey` is held by a live job of its queue; it stays as it was. */
export type RetryOutcome = JobActionOutcome | 'unique_conflict';

/** States `retryJobs` starts a new round from (the terminal states). */
export const RETRYABLE_STATES: readonly JobState[] = ['completed', 'dead', 'cancelled'];

/** States `promoteJobs` moves to `queued` at once. */
export const PROMOTABLE_STATES: readonly JobState[] = ['scheduled', 'retrying'];

/** States in which `updateJobPayloads` may replace the payload (not claimed, not finished). */
export const EDITABLE_STATES: readonly JobState[] = ['scheduled', 'queued', 'retrying', 'waiting'];

/** States `deleteJobs` removes a job from: every state but `running` (cancel a running job first). */
export const DELETABLE_STATES: readonly JobState[] = ['scheduled', 'queued', 'retrying', 'waiting', 'completed', 'dead', 'cancelled'];

/**
 * A `completed`, `dead` or `cancelled` job goes back to `queued` with `runAt = now`,
 * `attempt = 0`, `round + 1`; lease, failure fields, resolution, result, finish and expiry
 * cleared; error history and queue kept, payload kept unless `payload` replaces it — what a DLQ
 * replay does to a dead job.
 * Event `retried`.
 */
export interface RetryJobsParams {
  ids: string[];
  now?: Date;
  /**
   * Edit and retry: the new payload (JSON text, validated by the core) stored with the restart,
   * in the same write; every listed job gets it (the core passes it with exactly one id).
   */
  payload?: string;
}

/** A `scheduled` or `retrying` job becomes `queued` with `runAt = now`. Event `promoted`. */
export interface PromoteJobsParams {
  ids: string[];
  now?: Date;
}

/**
 * Deletes jobs in any state but `running`. Event `removed`, whose `state` is the state the job
 * had when it was deleted.
 */
export interface DeleteJobsParams {
  ids: string[];
}

export interface PayloadUpdate {
  id: string;
  /** The new payload, already serialized to JSON text by the core (validated and size-checked). */
  payload: string;
}

/**
 * Replaces the payload of jobs that are `scheduled`, `queued`, `retrying` or `waiting`; nothing
 * else about them changes. Event `updated` (state unchanged). `now` is the events' time.
 */
export interface UpdatePayloadsParams {
  items: PayloadUpdate[];
  now?: Date;
}
