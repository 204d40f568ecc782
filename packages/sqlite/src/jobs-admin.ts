/**
 * Operator actions on given jobs: retryJobs, promoteJobs, deleteJobs, updateJobPayloads
 * (the contract is in @spindle/core backend/job-actions.ts).
 *
 * Invariants:
 * - Each call is one BEGIN IMMEDIATE transaction (store.write): SQLite's single write lock is
 *   held from the first read to the commit, so the state a job is judged by is the state it is
 *   written in — concurrent calls (threads, processes) serialise and each move a job at most once.
 *   Every write still names the allowed states in its WHERE clause (compare-and-set).
 * - Items are handled in input order, each seeing the effects of the earlier ones: a repeated id
 *   answers as if the calls were made one after the other.
 * - Jobs are reached by id (the primary key's unique index, then `seq`): no call scans
 *   spindle_jobs. A miss is told apart (`not_found` / `wrong_state`) by one more probe, only
 *   for the items that missed.
 * - A retry is the DLQ replay's write (`restartJob` in dlq.ts) from any terminal state, in the
 *   job's own queue, with its own payload or the one `payload` gives (edit and retry); a job
 *   whose unique key a live job of its queue holds is left as it is (`unique_conflict`).
 * - Events (`retried`, `promoted`, `removed`, `updated`) reach the outbox inside the transaction
 *   and local subscribers after COMMIT (tx.ts). `removed` carries the state the job had.
 * - Flows (flows.ts): deleting an unfinished child settles its waiting parent as a failed child;
 *   retrying a finished child makes its still-waiting parent wait for it again.
 */
import {
  EDITABLE_STATES,
  PROMOTABLE_STATES,
  RETRYABLE_STATES,
  TERMINAL_STATES,
  type DeleteJobsParams,
  type JobActionOutcome,
  type JobState,
  type PromoteJobsParams,
  type RetryJobsParams,
  type RetryOutcome,
  type UpdatePayloadsParams,
} from '@spindle/core';
import { restartJob, type RestartCandidate } from './dlq.js';
import { jobEvent, type EventRow } from './rows.js';
import { EVENT_COLUMNS, nowMs, sqlList } from './state-sql.js';
import type { Store } from './tx.js';
import { reopenChild, settleChildren } from './flows.js';

const FIND = 'SELECT seq, state, queue, unique_key FROM spindle_jobs WHERE id = ?';
const EXISTS = 'SELECT 1 FROM spindle_jobs WHERE id = ?';
const PROMOTE = `UPDATE spindle_jobs SET state = 'queued', run_at = @now
  WHERE id = @id AND state IN ${sqlList(PROMOTABLE_STATES)}
  RETURNING ${EVENT_COLUMNS}`;
const DELETE = `DELETE FROM spindle_jobs WHERE id = ? AND state <> 'running' RETURNING ${EVENT_COLUMNS}`;
const UPDATE_PAYLOAD = `UPDATE spindle_jobs SET payload = @payload
  WHERE id = @id AND state IN ${sqlList(EDITABLE_STATES)}
  RETURNING ${EVENT_COLUMNS}`;

/** The outcome of a write that changed nothing: the job is missing, or not in an allowed state. */
function missOutcome(store: Store, id: string): JobActionOutcome {
  return store.conn.stmt(EXISTS).get(id) === undefined ? 'not_found' : 'wrong_state';
}

export function retryJobs(store: Store, params: RetryJobsParams): RetryOutcome[] {
  const now = nowMs(params.now);
  return store.write((events) =>
    params.ids.map((id): RetryOutcome => {
      const job = store.conn.stmt(FIND).get(id) as (RestartCandidate & { state: JobState }) | undefined;
      if (job === undefined) return 'not_found';
      if (!RETRYABLE_STATES.includes(job.state)) return 'wrong_state';
      const row = restartJob(store, job, { from: 'finished', queue: job.queue, payload: params.payload ?? null, now });
      if (row === 'unique_conflict') return row;
      if (row === undefined) return 'wrong_state';
      events.push(jobEvent('retried', row, now));
      reopenChild(store, events, now, row);
      return 'ok';
    }),
  );
}

export function promoteJobs(store: Store, params: PromoteJobsParams): JobActionOutcome[] {
  const now = nowMs(params.now);
  return store.write((events) =>
    params.ids.map((id): JobActionOutcome => {
      const row = store.conn.stmt(PROMOTE).get({ id, now }) as EventRow | undefined;
      if (row === undefined) return missOutcome(store, id);
      events.push(jobEvent('promoted', row, now));
      return 'ok';
    }),
  );
}

export function deleteJobs(store: Store, params: DeleteJobsParams): JobActionOutcome[] {
  const now = Date.now();
  return store.write((events) =>
    params.ids.map((id): JobActionOutcome => {
      const row = store.conn.stmt(DELETE).get(id) as EventRow | undefined;
      if (row === undefined) return missOutcome(store, id);
      events.push(jobEvent('removed', row, now));
      // Flows: deleting a child that had not finished ends it for its parent (a failed child).
      if (row.parentId != null && !TERMINAL_STATES.includes(row.state)) {
        settleChildren(store, events, now, [{ parentId: row.parentId, id: row.id, queue: row.queue, name: row.name, outcome: 'deleted', reason: null }]);
      }
      return 'ok';
    }),
  );
}

export function updateJobPayloads(store: Store, params: UpdatePayloadsParams): JobActionOutcome[] {
  const now = nowMs(params.now);
  return store.write((events) =>
    params.items.map((item): JobActionOutcome => {
      const row = store.conn.stmt(UPDATE_PAYLOAD).get({ id: item.id, payload: item.payload }) as EventRow | undefined;
      if (row === undefined) return missOutcome(store, item.id);
      events.push(jobEvent('updated', row, now));
      return 'ok';
    }),
  );
}
