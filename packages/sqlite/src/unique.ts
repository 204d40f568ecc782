/**
 * Unique jobs modes on SQLite (docs/decisions/0016-unique-jobs.md): what an insert does with a
 * job that has a `uniqueMode` (insertJobs on both of its paths, and the root of insertFlow), and
 * the pruning of expired period keys. Jobs without a mode (`uniqueKey` alone) never come here:
 * the INSERT's ON CONFLICT against the unique index of 0001 settles them.
 *
 * Invariants:
 * - Everything runs inside the caller's write transaction, and SQLite has one writer: the holder
 *   found here is the holder at the moment of the write; nobody can take the key in between.
 * - Checks in order: the job's id (an existing job with that id is the answer, nothing else
 *   happens), then its key's holder — for `queued`/`active` the live job with that `unique_key`
 *   (the index's namespace, shared with `uniqueKey`), for `period` the unexpired row of
 *   spindle_unique_keys whose job still exists.
 * - `replace` changes only a holder that is `scheduled` or `queued` (name, payload, priority,
 *   run time and, by the new due time, state), event `updated` with `{ replacedBy }`; any other
 *   holder (running, retrying, waiting, finished) is kept as it is, as with `keep`.
 * - A free key: the caller inserts the job with its own statement (as any job), `unique_key`
 *   NULL for a period key; then `mark` records the mode and the key as given, releases a
 *   `queued` key at once when the job went in running (direct dispatch), and takes a period key.
 * - Jobs of one batch that meet the same job (the holder, or a job the batch added) all answer
 *   with its state after the batch (`finish`), as on PostgreSQL, which settles them together.
 */
import type { InsertOutcome, JobInsert, JobState, SpindleEvent } from '@spindle/core';
import { jobEvent, type EventRow } from './rows.js';
import { EVENT_COLUMNS, TERMINAL_SQL } from './state-sql.js';
import type { Store } from './tx.js';

const FIND_BY_ID = 'SELECT id, state FROM spindle_jobs WHERE id = ?';
const FIND_LIVE = `SELECT id, state FROM spindle_jobs
  WHERE queue = ? AND unique_key = ? AND unique_key IS NOT NULL AND state NOT IN ${TERMINAL_SQL}`;
const FIND_PERIOD = `SELECT j.id, j.state FROM spindle_unique_keys k JOIN spindle_jobs j ON j.id = k.job_id
  WHERE k.queue = ? AND k.key = ? AND k.expires_at > ?`;
const REPLACE = `UPDATE spindle_jobs SET name = @name, payload = @payload, priority = @priority, run_at = @runAt, state = @state
  WHERE id = @id AND state IN ('scheduled', 'queued')
  RETURNING ${EVENT_COLUMNS}`;
const MARK = `UPDATE spindle_jobs SET unique_scope = @scope, unique_label = @key, unique_for_ms = @forMs,
    unique_key = CASE WHEN @scope = 'queued' AND state = 'running' THEN NULL ELSE unique_key END
  WHERE id = @id`;
const TAKE_PERIOD = `INSERT INTO spindle_unique_keys (queue, key, job_id, expires_at) VALUES (?, ?, ?, ?)
  ON CONFLICT (queue, key) DO UPDATE SET job_id = excluded.job_id, expires_at = excluded.expires_at`;
const PRUNE = `DELETE FROM spindle_unique_keys WHERE (queue, key) IN (
  SELECT queue, key FROM spindle_unique_keys WHERE expires_at <= @now ORDER BY expires_at LIMIT @limit + 0)`;

/** The answer for a duplicate, or the job to insert (its `unique_key` as the row must hold it). */
export type UniqueDecision<J extends JobInsert> = { outcome: InsertOutcome } | { insert: J };

interface Found {
  id: string;
  state: JobState;
}

/** When a job inserted at `now` is due, and the state and run_at an insert gives it. */
export function dueOf(job: JobInsert, now: number): { state: JobState; runAt: number } {
  const requested = job.runAt !== null ? job.runAt.getTime() : job.delayMs !== null ? now + job.delayMs : now;
  const state: JobState = requested > now ? 'scheduled' : 'queued';
  return { state, runAt: state === 'scheduled' || job.runAt !== null ? requested : now };
}

/** Per insert transaction (a batch, or a flow's root): decides and records jobs with a `uniqueMode`. */
export class UniqueResolver {
  /** Jobs a `replace` of this batch changed, with their state after it. */
  private readonly replaced = new Map<string, JobState>();

  constructor(
    private readonly store: Store,
    private readonly events: SpindleEvent[],
    private readonly now: number,
  ) {}

  /** Decides a job with a `uniqueMode` (see the invariants); a replace publishes `updated`. */
  resolve<J extends JobInsert>(job: J): UniqueDecision<J> {
    const mode = job.uniqueMode!;
    const key = job.uniqueKey!;
    const { conn } = this.store;
    const byId = conn.stmt(FIND_BY_ID).get(job.id) as Found | undefined;
    if (byId !== undefined) return { outcome: { id: byId.id, inserted: false, state: byId.state } };
    const holder = (mode.scope === 'period' ? conn.stmt(FIND_PERIOD).get(job.queue, key, this.now) : conn.stmt(FIND_LIVE).get(job.queue, key)) as
      | Found
      | undefined;
    if (holder === undefined) return { insert: mode.scope === 'period' ? { ...job, uniqueKey: null } : job };
    if (mode.replace && (holder.state === 'scheduled' || holder.state === 'queued')) {
      const due = dueOf(job, this.now);
      const row = conn
        .stmt(REPLACE)
        .get({ id: holder.id, name: job.name, payload: job.payload, priority: job.priority, runAt: due.runAt, state: due.state }) as
        | EventRow
        | undefined;
      if (row !== undefined) {
        this.events.push(jobEvent('updated', row, this.now, { replacedBy: job.id }));
        this.replaced.set(holder.id, row.state);
        return { outcome: { id: holder.id, inserted: false, state: row.state, replaced: true } };
      }
    }
    return { outcome: { id: holder.id, inserted: false, state: holder.state } };
  }

  /** After `job` (with a `uniqueMode`, as given) was inserted: record its mode, release or take its key. */
  mark(job: JobInsert): void {
    const mode = job.uniqueMode!;
    const key = job.uniqueKey!;
    const { conn } = this.store;
    conn.stmt(MARK).run({ id: job.id, scope: mode.scope, key, forMs: mode.forMs });
    if (mode.scope === 'period') conn.stmt(TAKE_PERIOD).run(job.queue, key, job.id, this.now + mode.forMs!);
  }

  /** Answers naming a job that a later `replace` of the batch changed take its final state. */
  finish(outcomes: InsertOutcome[]): void {
    if (this.replaced.size === 0) return;
    for (const outcome of outcomes) {
      const state = this.replaced.get(outcome.id);
      if (state !== undefined) outcome.state = state;
    }
  }
}

/** Deletes up to `limit` period keys expired at `now` (the pruner's pass); returns how many. */
export function pruneUniqueKeys(store: Store, now: number, limit: number): number {
  return limit <= 0 ? 0 : store.conn.stmt(PRUNE).run({ now, limit }).changes;
}
