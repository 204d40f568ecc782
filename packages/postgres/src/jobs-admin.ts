/**
 * Operator actions on given jobs: retryJobs, promoteJobs, deleteJobs, updateJobPayloads
 * (the contract is in @spindle/core backend/job-actions.ts), one statement per batch.
 *
 * Invariants (docs/design/backend-semantics.md, "Operator actions"):
 * - Each write finds its rows by `id = ANY($ids)` (primary-key probes) and re-checks the allowed
 *   states in the form of recheckStateSql: a row that a concurrent transaction changed is judged
 *   on its newest version (compare-and-set), so two concurrent retries move a job once and a job
 *   that became `running` is never deleted nor edited.
 * - The statement's outcome of an item is read from its snapshot; an item whose job was in an
 *   allowed state there but was not written (it moved under the write) answers `moved`, and is
 *   re-examined in a fresh statement (a few rounds at most), which sees what moved it.
 * - Each statement receives distinct ids; a repeated id is folded in JS and answers as if it ran
 *   after the first occurrence (`settle`). For payload updates the last payload given wins.
 * - A retry is the DLQ replay's restart (dlq.ts: same SET list, same unique-key rule, same
 *   re-run on a unique violation), from any terminal state, in the job's own queue; the first of
 *   several jobs of the batch sharing a unique key (in input order) wins.
 * - Each statement carries its own NOTIFY (sql.ts); local subscribers get the events after
 *   commit (`changeJobs`), in input order. `removed` carries the state the job had.
 */
import {
  BackendError,
  DELETABLE_STATES,
  EDITABLE_STATES,
  PROMOTABLE_STATES,
  RETRYABLE_STATES,
  type DeleteJobsParams,
  type JobActionOutcome,
  type JobState,
  type PromoteJobsParams,
  type RetryJobsParams,
  type RetryOutcome,
  type UpdatePayloadsParams,
} from '@spindle/core';
import type { SchemaNames } from './config.js';
import { changeJobs, type Ctx } from './context.js';
import type { Row } from './db.js';
import { movableCtes, restartSetSql, retryOnUniqueViolation } from './dlq.js';
import { clockCte, jobEventSql, notifyCtes, NOTIFIED, perSchema, recheckStateSql, stateInSql } from './sql.js';

/** Rounds of re-examining jobs whose state moved under a statement. */
const MAX_ROUNDS = 5;

/** `input`: the statement's distinct ids ($2) with their position. */
const INPUT = 'input AS (SELECT * FROM unnest($2::text[]) WITH ORDINALITY AS t(id, ord))';

/**
 * The end of a statement whose CTE `out` (columns `id`, `ev`) holds the rows it wrote: the
 * NOTIFY of their events in input order, and one row per input id, in input order, with its
 * outcome — `moved` when the job was in an allowed state in the snapshot yet was not written.
 * With `movable` (retry: the CTE of movableCtes), an allowed job left out of it answers
 * `unique_conflict`.
 */
function tail(jobs: string, allowed: readonly JobState[], movable = false): string {
  return `events AS (SELECT o.ev, i.ord FROM out o JOIN input i ON i.id = o.id),
  ${notifyCtes('events', '$3', '$4', '(SELECT at FROM clock)')}
  SELECT i.ord, (SELECT at FROM clock)::float8 AS at, o.ev,
    CASE WHEN o.id IS NOT NULL THEN 'ok' WHEN e.id IS NULL THEN 'not_found'
      WHEN NOT ${stateInSql('e.state', allowed)} THEN 'wrong_state'
      ${movable ? `WHEN m.id IS NULL THEN 'unique_conflict'` : ''} ELSE 'moved' END AS outcome,
    ${NOTIFIED} AS notified
  FROM input i
  LEFT JOIN out o ON o.id = i.id
  LEFT JOIN ${jobs} e ON e.id = i.id
  ${movable ? 'LEFT JOIN movable m ON m.id = i.id' : ''}
  ORDER BY i.ord`;
}

const retrySql = perSchema(({ jobs }) => `WITH ${clockCte('$1')}, ${INPUT},
  selected AS MATERIALIZED (
    SELECT j.id, j.unique_key, j.queue AS target, i.ord FROM input i JOIN ${jobs} j ON j.id = i.id
    WHERE ${recheckStateSql('j.state', RETRYABLE_STATES)}
  ), ${movableCtes(jobs, 'ord')}, out AS (
    UPDATE ${jobs} j SET ${restartSetSql('j.queue', '$5')}
    FROM clock c
    WHERE j.id = ANY(ARRAY(SELECT id FROM movable)) AND ${recheckStateSql('j.state', RETRYABLE_STATES)}
    RETURNING j.id, ${jobEventSql({ type: `'retried'`, job: 'j' })} AS ev
  ), ${tail(jobs, RETRYABLE_STATES, true)}`);

const promoteSql = perSchema(({ jobs }) => `WITH ${clockCte('$1')}, ${INPUT},
  out AS (
    UPDATE ${jobs} j SET state = 'queued', run_at = c.now
    FROM clock c
    WHERE j.id = ANY($2::text[]) AND ${recheckStateSql('j.state', PROMOTABLE_STATES)}
    RETURNING j.id, ${jobEventSql({ type: `'promoted'`, job: 'j' })} AS ev
  ), ${tail(jobs, PROMOTABLE_STATES)}`);

const deleteSql = perSchema(({ jobs }) => `WITH ${clockCte('$1')}, ${INPUT},
  out AS (
    DELETE FROM ${jobs} j
    WHERE j.id = ANY($2::text[]) AND ${recheckStateSql('j.state', DELETABLE_STATES)}
    RETURNING j.id, ${jobEventSql({ type: `'removed'`, job: 'j' })} AS ev
  ), ${tail(jobs, DELETABLE_STATES)}`);

const updateSql = perSchema(({ jobs }) => `WITH ${clockCte('$1')},
  input AS (SELECT * FROM unnest($2::text[], $5::text[]) WITH ORDINALITY AS t(id, payload, ord)),
  out AS (
    UPDATE ${jobs} j SET payload = i.payload
    FROM input i
    WHERE j.id = ANY($2::text[]) AND j.id = i.id AND ${recheckStateSql('j.state', EDITABLE_STATES)}
    RETURNING j.id, ${jobEventSql({ type: `'updated'`, job: 'j' })} AS ev
  ), ${tail(jobs, EDITABLE_STATES)}`);

/**
 * Answers a batch: runs `statement` on the distinct ids (in order of first occurrence), re-runs
 * the ones it answers `moved` in a fresh statement, and answers every input position. A repeat
 * of an id answers as if it ran after its first occurrence: `afterOk` when that was `ok`, else
 * the same outcome.
 */
async function settle<O extends string>(
  operation: string,
  ids: string[],
  afterOk: O,
  statement: (ids: string[]) => Promise<Row[]>,
): Promise<O[]> {
  const slotOf = new Map<string, number>();
  const distinct: string[] = [];
  const slots = ids.map((id) => {
    let slot = slotOf.get(id);
    if (slot === undefined) {
      slot = distinct.length;
      slotOf.set(id, slot);
      distinct.push(id);
    }
    return slot;
  });
  const outcomes = new Array<O | undefined>(distinct.length);
  let pending = distinct.map((_, slot) => slot);
  for (let round = 0; round < MAX_ROUNDS && pending.length > 0; round++) {
    const rows = await statement(pending.map((slot) => distinct[slot]!));
    const moved: number[] = [];
    rows.forEach((row, k) => {
      const slot = pending[k]!;
      if (row.outcome === 'moved') moved.push(slot);
      else outcomes[slot] = row.outcome as O;
    });
    pending = moved;
  }
  if (pending.length > 0) throw new BackendError(`postgres: ${operation} could not settle ${pending.length} job(s); retry the call`);
  const answered = new Set<number>();
  return slots.map((slot) => {
    const outcome = outcomes[slot]!;
    if (!answered.has(slot)) {
      answered.add(slot);
      return outcome;
    }
    return outcome === 'ok' ? afterOk : outcome;
  });
}

/** Runs one statement of an action (`name`: its prepared statement) with its NOTIFY values. */
function run(ctx: Ctx, operation: string, name: string, text: (names: SchemaNames) => string, values: unknown[]): Promise<Row[]> {
  const [now, ids, ...rest] = values;
  return changeJobs(ctx, operation, {
    name: ctx.names.statement(name),
    text: text(ctx.names),
    values: [now, ids, ctx.names.channel, ctx.events.prefix, ...rest],
  });
}

export async function retryJobs(ctx: Ctx, params: RetryJobsParams): Promise<RetryOutcome[]> {
  ctx.db.assertOpen();
  if (params.ids.length === 0) return [];
  return settle<RetryOutcome>('retryJobs', params.ids, 'wrong_state', (ids) =>
    retryOnUniqueViolation('retryJobs', () => run(ctx, 'retryJobs', 'retry_jobs', retrySql, [params.now ?? null, ids, params.payload ?? null])),
  );
}

export async function promoteJobs(ctx: Ctx, params: PromoteJobsParams): Promise<JobActionOutcome[]> {
  ctx.db.assertOpen();
  if (params.ids.length === 0) return [];
  return settle<JobActionOutcome>('promoteJobs', params.ids, 'wrong_state', (ids) =>
    run(ctx, 'promoteJobs', 'promote_jobs', promoteSql, [params.now ?? null, ids]),
  );
}

export async function deleteJobs(ctx: Ctx, params: DeleteJobsParams): Promise<JobActionOutcome[]> {
  ctx.db.assertOpen();
  if (params.ids.length === 0) return [];
  return settle<JobActionOutcome>('deleteJobs', params.ids, 'not_found', (ids) =>
    run(ctx, 'deleteJobs', 'delete_jobs', deleteSql, [null, ids]),
  );
}

export async function updateJobPayloads(ctx: Ctx, params: UpdatePayloadsParams): Promise<JobActionOutcome[]> {
  ctx.db.assertOpen();
  if (params.items.length === 0) return [];
  // A repeated id ends with its last payload: as if the items were applied one after the other.
  const payloads = new Map<string, string>();
  for (const item of params.items) payloads.set(item.id, item.payload);
  return settle<JobActionOutcome>('updateJobPayloads', params.items.map((i) => i.id), 'ok', (ids) =>
    run(ctx, 'updateJobPayloads', 'update_payloads', updateSql, [params.now ?? null, ids, ids.map((id) => payloads.get(id)!)]),
  );
}
