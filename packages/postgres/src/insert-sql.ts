/**
 * The SQL of insertJobs (jobs-insert.ts states the invariants and runs it): the `input` rows of a
 * batch, the INSERT with or without direct dispatch, the fast path's and the general path's
 * statements, and their parameter arrays ($1..$19 for the batch, $20..$23 for dispatch).
 */
import type { DispatchRequest, JobInsert } from '@spindle/core';
import { dateArray, numberArray, textArray } from './array-literal.js';
import { clockCte, jobEventSql, msSql, notifyCtes, NOTIFIED, perSchema } from './sql.js';

/** The batch's columns ($1..$16, in order) and their element types. */
const INPUT_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['id', 'text'], ['queue', 'text'], ['name', 'text'], ['payload', 'text'], ['priority', 'int'], ['max_retries', 'int'],
  ['delay_ms', 'float8'], ['run_at', 'timestamptz'], ['unique_key', 'text'], ['timeout_ms', 'int'], ['backoff', 'text'],
  ['completed_keep_ms', 'bigint'], ['completed_keep_count', 'int'], ['dead_keep_ms', 'bigint'], ['dead_keep_count', 'int'],
  ['group_in', 'text'],
];

/**
 * The columns a batch may send as a one-element array when every job has the same value (all
 * but `id` and `payload`): the input CTE then gives every row that element (see insertValues).
 */
const BROADCAST = new Set(INPUT_COLUMNS.map(([name]) => name).filter((name) => name !== 'id' && name !== 'payload'));

/**
 * CTE `input`: the batch's columns ($1..$16) as rows, with `ord` (input order); a column sent as a
 * one-element array (BROADCAST: every job of the batch has that value) gives every row its
 * element, so a uniform batch of 1,000 jobs sends 2 arrays of 1,000 and 14 of one instead of
 * 16 of 1,000 (a third of the server time of a 1,000-row insert went to parsing them); then CTE
 * `grouped`: which of the batch's queues are grouped (groups.ts: their ungrouped jobs get ''). `sizeBlind` (the
 * dispatch statements) hides the first array behind a scalar subquery, so that the planner
 * estimates the batch at its default 10 rows whatever its size (the estimate is the largest of
 * the arrays'), in custom plans as in the generic one: their costs then agree and the plan cache
 * settles on the generic plan after its five custom ones instead of planning these larger
 * statements on every call (measured on the ON CONFLICT path: planning ~1.8 ms per call, which
 * made a dispatching insert slower than an insert plus a claim). A batch larger than 10 rows is
 * still estimated at its size by a custom plan; the generic plan serves every size (checked up
 * to 5,000 rows: linear).
 */
function inputCte(sizeBlind: boolean, queues: string): string {
  const GROUPED_CTE = `grouped AS MATERIALIZED (SELECT q.name FROM ${queues} q WHERE q.grouped AND q.name = ANY($2::text[]))`;
  const columns = INPUT_COLUMNS.map(([name, type], k) =>
    BROADCAST.has(name) ? `CASE WHEN cardinality($${k + 1}::${type}[]) = 1 THEN ($${k + 1}::${type}[])[1] ELSE t.${name} END AS ${name}` : `t.${name}`,
  );
  const arrays = INPUT_COLUMNS.map(([, type], k) => (k === 0 && sizeBlind ? `(SELECT $1::${type}[])` : `$${k + 1}::${type}[]`));
  return `input AS (
    SELECT ${columns.join(', ')}, t.ord FROM unnest(${arrays.join(', ')})
      WITH ORDINALITY AS t(${INPUT_COLUMNS.map(([name]) => name).join(', ')}, ord)
  ), ${GROUPED_CTE}`;
}

const INPUT = (queues: string) => inputCte(false, queues);

/** The group key a row stores (groups.ts): its own, '' for an ungrouped job of a grouped queue, else NULL. */
const groupKey = (p: string) => `coalesce(${p}.group_in, CASE WHEN EXISTS (SELECT 1 FROM grouped g WHERE g.name = ${p}.queue) THEN '' END)`;

/** The due time of input row `i` at clock row `c`. */
const DUE = (i: string, c: string) => `coalesce(${i}.run_at, ${c}.now + ${msSql(`coalesce(${i}.delay_ms, 0)`)})`;

/** How a dispatch statement predicts that an input row is not a duplicate (see the header). */
type Prediction = 'exact' | 'snapshot';

/**
 * CTE `req`: the dispatch requests ($20..$23; one per queue, folded in JS) of queues that are not
 * paused, held, limited or grouped (a job inserted running would bypass a limit's count: queue-limits.ts). Size-blind like the input of a dispatch statement (see inputCte).
 */
const reqCte = (queues: string) => `req AS (
    SELECT r.* FROM unnest((SELECT $20::text[]), $21::text[], $22::float8[], $23::int[]) AS r(queue, worker_id, lease_ms, lim)
    WHERE NOT coalesce((SELECT q.paused OR q.concurrency_limit IS NOT NULL OR q.rate_max IS NOT NULL OR coalesce(q.held_until > now(), false)
        OR q.grouped OR q.fifo OR q.group_concurrency IS NOT NULL OR q.group_rate_max IS NOT NULL
      FROM ${queues} q WHERE q.name = r.queue), false)
  )`;

/**
 * The rows to insert with dispatch: every input column plus `now`, `due`, the request of the
 * row's queue (`worker_id`, `lease_ms`, `lim`; NULL for none), `eligible` (the row may take a
 * slot) and `rn` (its place among the eligible rows of its queue, in input order).
 * - `exact` (the fast path, which fails unless every row is new): eligible = a request names the
 *   queue and the row is due.
 * - `snapshot` (the ON CONFLICT path): also predicted new in the statement's snapshot: no job
 *   has its id; and with a unique key, no live job holds (queue, key) and no earlier row of the
 *   batch with that key has a new id (it takes the key). The earlier-row test is a window over
 *   (queue, key), not a per-row search of the batch (quadratic). The existence probes are scalar
 *   subqueries (primary-key / unique-index probes; see foundSql) behind CASEs, made only for rows
 *   of a requested queue that are due or carry a key (an undue row may still take a key). The
 *   `OFFSET 0` keeps the id probe's subquery from being pulled up, which would repeat the probe
 *   inside the window's argument.
 */
function dispatchSource(jobs: string, prediction: Prediction): string {
  const base = `SELECT i.*, c.now, d.due, r.worker_id, r.lease_ms, r.lim, r.queue IS NOT NULL AS requested
        FROM input i CROSS JOIN clock c CROSS JOIN LATERAL (SELECT ${DUE('i', 'c')} AS due) d
        LEFT JOIN req r ON r.queue = i.queue`;
  const eligible =
    prediction === 'exact'
      ? `SELECT b.*, b.requested AND b.due <= b.now AND b.group_in IS NULL AS eligible FROM (${base}) b`
      : `SELECT k.*, CASE WHEN NOT k.requested OR k.due > k.now OR NOT k.id_new OR k.group_in IS NOT NULL THEN false
            WHEN k.unique_key IS NULL THEN true
            WHEN k.key_taken THEN false
            ELSE (SELECT true FROM ${jobs} o WHERE o.queue = k.queue AND o.unique_key = k.unique_key
                  AND o.state NOT IN ('completed', 'dead', 'cancelled') LIMIT 1) IS NULL END AS eligible
        FROM (
          SELECT n.*, coalesce(bool_or(n.id_new) OVER (PARTITION BY n.queue, n.unique_key ORDER BY n.ord
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false) AS key_taken
          FROM (
            SELECT b.*, CASE WHEN b.requested AND (b.due <= b.now OR b.unique_key IS NOT NULL)
              THEN (SELECT true FROM ${jobs} e WHERE e.id = b.id) IS NULL ELSE false END AS id_new
            FROM (${base}) b
            OFFSET 0
          ) n
        ) k`;
  return `SELECT e.*, row_number() OVER (PARTITION BY e.queue, e.eligible ORDER BY e.ord) AS rn FROM (${eligible}) e`;
}

/**
 * The INSERT of every input row in input order (seq follows it); `conflict` is its ON CONFLICT
 * clause or ''. With `dispatch`, a row that is eligible and among the first `lim` eligible rows
 * of its queue goes in claimed, as claimJobs writes it (see dispatchSource).
 */
function insertInto(jobs: string, conflict: string, dispatch: Prediction | null = null): string {
  if (!dispatch) {
    return `INSERT INTO ${jobs} AS j (id, queue, name, payload, state, priority, max_retries, unique_key, timeout_ms,
      backoff, created_at, run_at, completed_keep_ms, completed_keep_count, dead_keep_ms, dead_keep_count, group_key)
    SELECT id, queue, name, payload, CASE WHEN due > now THEN 'scheduled' ELSE 'queued' END, priority,
      max_retries, unique_key, timeout_ms, backoff, now, due, completed_keep_ms, completed_keep_count,
      dead_keep_ms, dead_keep_count, ${groupKey('p')}
    FROM (SELECT i.*, c.now, ${DUE('i', 'c')} AS due
          FROM input i CROSS JOIN clock c) p
    ORDER BY ord
    ${conflict}`;
  }
  const claimed = 'p.eligible AND p.rn <= p.lim';
  return `INSERT INTO ${jobs} AS j (id, queue, name, payload, state, priority, max_retries, unique_key, timeout_ms,
      backoff, created_at, run_at, completed_keep_ms, completed_keep_count, dead_keep_ms, dead_keep_count,
      attempt, lease_token, lease_expires_at, started_at, worker_id, group_key)
    SELECT p.id, p.queue, p.name, p.payload,
      CASE WHEN ${claimed} THEN 'running' WHEN p.due > p.now THEN 'scheduled' ELSE 'queued' END,
      p.priority, p.max_retries, p.unique_key, p.timeout_ms, p.backoff, p.now, p.due, p.completed_keep_ms,
      p.completed_keep_count, p.dead_keep_ms, p.dead_keep_count,
      CASE WHEN ${claimed} THEN 1 ELSE 0 END,
      CASE WHEN ${claimed} THEN replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '') END,
      CASE WHEN ${claimed} THEN p.now + ${msSql('p.lease_ms')} END,
      CASE WHEN ${claimed} THEN p.now END,
      CASE WHEN ${claimed} THEN p.worker_id END, ${groupKey('p')}
    FROM (${dispatchSource(jobs, dispatch)}) p
    ORDER BY p.ord
    ${conflict}`;
}

/**
 * RETURNING columns of a dispatch statement beyond the plain ones: what the ClaimedJob needs
 * that the batch does not hold (all NULL for a row not dispatched), and `ev`: `added`, then for
 * a dispatched row `started`, as one comma-joined text (two events of the wire format's list).
 */
const DISPATCH_RETURNING = `j.lease_token, j.lease_expires_at,
      CASE WHEN j.lease_token IS NOT NULL THEN j.created_at END AS created_at,
      CASE WHEN j.lease_token IS NOT NULL THEN j.run_at END AS run_at,
      CASE WHEN j.lease_token IS NULL THEN ${jobEventSql({ type: `'added'`, job: 'j' })}
        ELSE ${jobEventSql({ type: `'added'`, job: 'j' })} || ',' || ${jobEventSql({ type: `'started'`, job: 'j' })} END AS ev`;

/**
 * Fast path: every row is new, or the statement fails (unique_violation). One row comes back:
 * how many were inserted and each input row's state as one letter in input order (`q` queued,
 * `s` scheduled: decided by the same due-time expression as the INSERT), instead of a row per
 * job for the driver to parse.
 */
export const plainInsertSql = perSchema(({ jobs, queues }) => `WITH ${clockCte('$17')},
  ${INPUT(queues)}, ins AS (
    ${insertInto(jobs, '')}
    RETURNING j.seq AS ord, ${jobEventSql({ type: `'added'`, job: 'j' })} AS ev
  ), ${notifyCtes('ins', '$18', '$19', '(SELECT at FROM clock)')}
  SELECT (SELECT count(*)::int FROM ins) AS n,
    (SELECT string_agg(CASE WHEN ${DUE('i', 'c')} > c.now THEN 's' ELSE 'q' END, '' ORDER BY i.ord)
     FROM input i CROSS JOIN clock c) AS states,
    (SELECT at FROM clock)::float8 AS at, ${NOTIFIED} AS notified`);

/** The fast path with dispatch ($20..$23). */
export const plainDispatchSql = perSchema(({ jobs, queues }) => `WITH ${clockCte('$17')},
  ${inputCte(true, queues)}, ${reqCte(queues)}, ins AS (
    ${insertInto(jobs, '', 'exact')}
    RETURNING j.id, j.state, j.seq AS ord, ${DISPATCH_RETURNING}
  ), ${notifyCtes('ins', '$18', '$19', '(SELECT at FROM clock)')}
  SELECT id, state, lease_token, lease_expires_at, created_at, run_at, (SELECT at FROM clock)::float8 AS at,
    ${NOTIFIED} AS notified FROM ins`);

/**
 * General path: skips duplicates and names the job each skipped item ran into. Rows in input
 * order. With `dispatch`, also the columns of dispatched rows (see DISPATCH_RETURNING).
 */
function generalSql(jobs: string, queues: string, dispatch: boolean): string {
  const returning = dispatch
    ? `j.id, j.queue, j.unique_key, j.state, j.seq AS ord, ${DISPATCH_RETURNING}`
    : `j.id, j.queue, j.unique_key, j.state, j.seq AS ord, ${jobEventSql({ type: `'added'`, job: 'j' })} AS ev`;
  return `WITH ${clockCte('$17')},
  ${dispatch ? `${inputCte(true, queues)}, ${reqCte(queues)}` : INPUT(queues)}, ins AS (
    ${insertInto(jobs, 'ON CONFLICT DO NOTHING', dispatch ? 'snapshot' : null)}
    RETURNING ${returning}
  ), ${notifyCtes('ins', '$18', '$19', '(SELECT at FROM clock)')}
  SELECT ins.id IS NOT NULL AS inserted,
    coalesce(ins.id, ex.id, uk_new.id, uk_old.id) AS id,
    coalesce(ins.state, ex.state, uk_new.state, uk_old.state) AS state,${dispatch ? '\n    ins.lease_token, ins.lease_expires_at, ins.created_at, ins.run_at,' : ''}
    (SELECT at FROM clock)::float8 AS at, ${NOTIFIED} AS notified
  FROM input p
  LEFT JOIN ins ON ins.id = p.id
  LEFT JOIN LATERAL (SELECT e.id, e.state FROM ${jobs} e WHERE ins.id IS NULL AND e.id = p.id) ex ON true
  LEFT JOIN LATERAL (
    SELECT n.id, n.state FROM ins n
    WHERE ins.id IS NULL AND ex.id IS NULL AND n.queue = p.queue AND n.unique_key = p.unique_key LIMIT 1
  ) uk_new ON true
  LEFT JOIN LATERAL (
    SELECT o.id, o.state FROM ${jobs} o
    WHERE ins.id IS NULL AND ex.id IS NULL AND o.queue = p.queue AND o.unique_key = p.unique_key
      AND o.state NOT IN ('completed', 'dead', 'cancelled') LIMIT 1
  ) uk_old ON true
  ORDER BY p.ord`;
}

export const insertSql = perSchema(({ jobs, queues }) => generalSql(jobs, queues, false));
export const insertDispatchSql = perSchema(({ jobs, queues }) => generalSql(jobs, queues, true));

export function insertValues(jobs: JobInsert[], now: Date | undefined, channel: string, prefix: string): unknown[] {
  const texts = (pick: (j: JobInsert) => string | null): string => textArray(broadcast(jobs.map(pick)));
  const numbers = (pick: (j: JobInsert) => number | null): string => numberArray(broadcast(jobs.map(pick)));
  const runAts = jobs.map((j) => j.runAt);
  return [
    textArray(jobs.map((j) => j.id)),
    texts((j) => j.queue),
    texts((j) => j.name),
    textArray(jobs.map((j) => j.payload)),
    numbers((j) => j.priority),
    numbers((j) => j.maxRetries),
    numbers((j) => j.delayMs),
    dateArray(runAts.every((d) => (d?.getTime() ?? null) === (runAts[0]?.getTime() ?? null)) ? runAts.slice(0, 1) : runAts),
    texts((j) => j.uniqueKey),
    numbers((j) => j.timeoutMs),
    texts((j) => (j.backoff == null ? null : JSON.stringify(j.backoff))),
    numbers((j) => j.retention.completedKeepMs),
    numbers((j) => j.retention.completedKeepCount),
    numbers((j) => j.retention.deadKeepMs),
    numbers((j) => j.retention.deadKeepCount),
    texts((j) => j.group ?? null),
    now ?? null,
    channel,
    prefix,
  ];
}

/** `values` itself, or its first element alone when all are equal (a BROADCAST column; see inputCte). */
function broadcast<T>(values: T[]): T[] {
  const first = values[0];
  for (let i = 1; i < values.length; i++) if (values[i] !== first) return values;
  return values.length > 1 ? [first as T] : values;
}

/** Values $20..$23 of a dispatch statement. */
export function dispatchValues(requests: DispatchRequest[]): unknown[] {
  return [requests.map((r) => r.queue), requests.map((r) => r.workerId), requests.map((r) => r.leaseMs), requests.map((r) => r.limit)];
}
