/**
 * Which partial index holds the jobs of each state, and the SQL that reaches them
 * (docs/decisions/0007-hot-path-indexes-and-durability.md). Used by listing, counts, queue
 * discovery and the DLQ selections.
 *
 * Invariants:
 * - There is no index on `state` itself: each state's rows are found through the partial index
 *   whose predicate names it. SQLite uses a partial index only when the query's WHERE implies its
 *   predicate, so every state condition here is a literal (`state = 'dead'`), never a bound
 *   parameter or a json_each list.
 * - Those literals come from the core's JOB_STATES enum (the table below is built from it); a
 *   state that is not a member of the enum is rejected (ValidationError), so no caller input ever
 *   reaches the SQL text. The core validates filters before a backend is called; this is the
 *   second line.
 * - Every per-state query names its index (INDEXED BY; the queue-by-queue walk also fixes its
 *   join order with CROSS JOIN): without statistics the planner often prefers walking the whole
 *   table in `seq` order, and after ANALYZE it may turn a rowid lookup into a scan. A query that
 *   cannot use the named index fails to prepare instead of silently scanning. The plans are
 *   checked, with and without statistics, by test/query-plans.test.ts.
 * - `waiting` (flow parents) has its (queue, seq) partial index since migration 0005 (flows),
 *   like the finished states.
 */
import { JOB_STATES, ValidationError, type JobState } from '@spindle/core';

/** A partial index of spindle_jobs that holds the rows of one or more states. */
interface StateIndex {
  name: string;
  /** The index's own WHERE, verbatim (so a query repeating it provably matches). */
  predicate: string;
  /**
   * `queue-seq`: (queue, seq) — one queue's rows in `seq` order; `queue-first`: led by queue
   * (claim_idx); `other`: not led by queue (due_idx, lease_idx).
   */
  shape: 'queue-seq' | 'queue-first' | 'other';
}

export interface StateAccess {
  state: JobState;
  /** A condition that selects exactly this state and implies `index.predicate`. */
  where: string;
  /** null: no index holds this state. */
  index: StateIndex | null;
}

const DUE: StateIndex = { name: 'spindle_jobs_due_idx', predicate: "state IN ('scheduled', 'retrying')", shape: 'other' };

function accessOf(state: JobState): StateAccess {
  const literal = `state = '${state}'`;
  switch (state) {
    case 'queued':
      return { state, where: literal, index: { name: 'spindle_jobs_claim_idx', predicate: literal, shape: 'queue-first' } };
    case 'scheduled':
    case 'retrying':
      return { state, where: `${DUE.predicate} AND ${literal}`, index: DUE };
    case 'running':
      return { state, where: literal, index: { name: 'spindle_jobs_lease_idx', predicate: literal, shape: 'other' } };
    case 'completed':
    case 'dead':
    case 'cancelled':
    case 'waiting':
      return { state, where: literal, index: { name: `spindle_jobs_${state}_idx`, predicate: literal, shape: 'queue-seq' } };
  }
}

const ACCESS = new Map<string, StateAccess>(JOB_STATES.map((state) => [state, accessOf(state)]));

/** How to reach the jobs of `state`; throws ValidationError for anything outside JOB_STATES. */
export function stateAccess(state: JobState): StateAccess {
  const access = ACCESS.get(state);
  if (access === undefined) throw new ValidationError([{ path: 'states', message: `unknown job state ${JSON.stringify(state)}` }]);
  return access;
}

/** The given states, validated, without duplicates, in JOB_STATES order. */
export function normalizeStates(states: readonly JobState[]): JobState[] {
  for (const state of states) stateAccess(state);
  return JOB_STATES.filter((state) => states.includes(state));
}

/**
 * One condition selecting exactly the given (validated) states: `state = 'x'` for one (in the
 * form that proves its index), `state IN ('x', 'y')` for several, `0` for none. For selections
 * that reach their rows through another index (ids) or aggregate over all of them.
 */
export function stateCondition(states: readonly JobState[]): string {
  const normalized = normalizeStates(states);
  if (normalized.length === 0) return '0';
  if (normalized.length === 1) return stateAccess(normalized[0]!).where;
  return `state IN (${normalized.map((s) => `'${stateAccess(s).state}'`).join(', ')})`;
}

/** The indexes holding indexed states, each once, with the states it holds (in JOB_STATES order). */
function indexedGroups(): Array<{ index: StateIndex; states: StateAccess[] }> {
  const groups = new Map<string, { index: StateIndex; states: StateAccess[] }>();
  for (const access of ACCESS.values()) {
    if (access.index === null) continue;
    const group = groups.get(access.index.name) ?? { index: access.index, states: [] };
    group.states.push(access);
    groups.set(access.index.name, group);
  }
  return [...groups.values()];
}

/**
 * A recursive CTE `name(name)` listing the distinct queues of a queue-led index by skip-scan
 * (one index probe per queue, not a pass over its rows); its last row is NULL.
 */
function queueSkipScan(cte: string, index: StateIndex): string {
  const from = `FROM spindle_jobs INDEXED BY ${index.name} WHERE ${index.predicate}`;
  return `${cte}(name) AS (
    SELECT (SELECT min(queue) ${from})
    UNION ALL
    SELECT (SELECT min(queue) ${from} AND queue > ${cte}.name) FROM ${cte} WHERE ${cte}.name IS NOT NULL)`;
}

/** What a selection filters on besides the state (see filters.ts). */
export interface Selection {
  /** Conditions to AND (no state conditions), with bound parameters only. */
  clauses: string[];
  /** null = any state. */
  states: JobState[] | null;
  /** The clauses include `queue = …`. */
  hasQueue: boolean;
  /** The clauses include an id list (then the id index is the way in, not the state indexes). */
  hasIds: boolean;
}

/**
 * SQL selecting the `seq` of the first `@limit` matching jobs, newest (DESC) or oldest (ASC)
 * first. Callers use it as `seq IN (…)` (and order the outer query themselves).
 *
 * One branch per state, each walking its own partial index and taking its first `@limit` rows;
 * the caller keeps the first `@limit` of their union. A (queue, seq) index without a queue
 * filter is walked queue by queue (skip-scan, then `@limit` rows of each queue), so listing the
 * DLQ of every queue costs queues × limit, not the size of the DLQ. The other indexes are not in
 * `seq` order: their state's matching rows are sorted (the running set is small; the queued,
 * scheduled and retrying sets of a deep backlog are not — ADR 0007's known cost).
 */
export function selectSeqs(selection: Selection, direction: 'ASC' | 'DESC'): string {
  const limited = (from: string, conditions: string[]): string =>
    `SELECT seq FROM ${from} ${conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')} `}ORDER BY seq ${direction} LIMIT @limit + 0`;
  const { states, clauses } = selection;
  if (states === null) return limited('spindle_jobs', clauses);
  const normalized = normalizeStates(states);
  if (normalized.length === 0) return 'SELECT seq FROM spindle_jobs WHERE 0';
  // An id list is at most 1000 ids: look them up by id, whatever their state.
  if (selection.hasIds) return limited('spindle_jobs', [stateCondition(normalized), ...clauses]);
  const perQueue = (state: JobState): boolean => stateAccess(state).index?.shape === 'queue-seq' && !selection.hasQueue;
  const only = normalized.length === 1 ? normalized[0] : undefined;
  if (only !== undefined && !perQueue(only)) return stateBranch(only);
  return `${normalized.map((state) => `SELECT seq FROM (${stateBranch(state)})`).join(' UNION ALL ')} ORDER BY seq ${direction} LIMIT @limit + 0`;

  function stateBranch(state: JobState): string {
    const { where, index } = stateAccess(state);
    if (index === null) return limited('spindle_jobs', [where, ...clauses]);
    const table = `spindle_jobs INDEXED BY ${index.name}`;
    if (!perQueue(state)) return limited(table, [where, ...clauses]);
    return `WITH RECURSIVE ${queueSkipScan('job_queues', index)}
      SELECT j.seq FROM job_queues CROSS JOIN spindle_jobs AS j
      WHERE job_queues.name IS NOT NULL AND j.seq IN (${limited(table, [where, 'queue = job_queues.name', ...clauses])})`;
  }
}

/**
 * Per (queue, state) counts as a UNION ALL of one aggregate per index, each walking only its
 * partial index. With `queue`, binds `@queue`. Rows ordered by queue, then state name.
 */
export function countSql(byQueue: boolean): string {
  const queue = byQueue ? ' AND queue = @queue' : '';
  const branches = indexedGroups().map(({ index, states }) => {
    const only = states.length === 1 ? states[0] : undefined;
    return only !== undefined
      ? `SELECT queue, '${only.state}' AS state, count(*) AS count FROM spindle_jobs INDEXED BY ${index.name} WHERE ${only.where}${queue} GROUP BY queue`
      : `SELECT queue, state, count(*) AS count FROM spindle_jobs INDEXED BY ${index.name} WHERE ${index.predicate}${queue} GROUP BY queue, state`;
  });
  return `${branches.join('\nUNION ALL ')}\nORDER BY queue, state`;
}

/**
 * The distinct queue names that have jobs (in an indexed state): a skip-scan of each queue-led
 * index and a pass over the (small or time-bounded) sets of the others. One column, `name`.
 */
export function jobQueuesSql(): { ctes: string; select: string } {
  const ctes: string[] = [];
  const selects: string[] = [];
  indexedGroups().forEach(({ index }, i) => {
    if (index.shape === 'other') {
      selects.push(`SELECT DISTINCT queue AS name FROM spindle_jobs INDEXED BY ${index.name} WHERE ${index.predicate}`);
    } else {
      const cte = `q${i}`;
      ctes.push(queueSkipScan(cte, index));
      selects.push(`SELECT name FROM ${cte} WHERE name IS NOT NULL`);
    }
  });
  return { ctes: ctes.join(',\n'), select: selects.join('\nUNION ALL ') };
}
