/**
 * The SQL of unique jobs modes on PostgreSQL (unique-insert.ts states the invariants and runs
 * it; docs/decisions/0016-unique-jobs.md). Every statement takes a batch as arrays, so a batch
 * costs the same number of round trips whatever its size; all run on the insert's transaction.
 */
import type { SchemaNames } from './config.js';
import { clockCte, jobEventSql, msSql, notifyCtes, NOTIFIED, nowSql, perSchema, recheckStateSql } from './sql.js';

const keys = (names: SchemaNames) => `${names.q}.unique_keys`;

/** $1 ids → the rows with those ids (`id`, `state`). */
export const existingIdsSql = perSchema(({ jobs }) => `SELECT id, state FROM ${jobs} WHERE id = ANY($1::text[])`);

/**
 * $1 queues, $2 keys → the live holder of each (queue, key) in jobs_unique_idx (the namespace of
 * `queued`/`active` keys and of `uniqueKey`), locked until the transaction ends: no claim takes it
 * (claims skip locked rows) and no other insert replaces it meanwhile. Locked in id order.
 */
export const indexHoldersSql = perSchema(({ jobs }) => `SELECT j.queue, j.unique_key AS key, j.id, j.state
  FROM unnest($1::text[], $2::text[]) AS g(queue, key)
  JOIN ${jobs} j ON j.queue = g.queue AND j.unique_key = g.key AND j.state NOT IN ('completed', 'dead', 'cancelled')
  ORDER BY j.id
  FOR UPDATE OF j`);

/**
 * $1 schema, $2 queues, $3 keys: takes the transaction-level advisory lock of each period key (a
 * 64-bit hash of schema, queue and key), in hash order. Every writer of a live period key takes
 * it first, so they serialise per key, and a statement run after the lock reads (READ COMMITTED:
 * a fresh snapshot) everything the previous holders of the lock committed. A hash collision only
 * serialises two keys that did not need it.
 */
export const lockPeriodKeysSql = `SELECT pg_advisory_xact_lock(s.k) FROM (
    SELECT DISTINCT hashtextextended($1::text || chr(1) || g.queue || chr(1) || g.key, 0) AS k
    FROM unnest($2::text[], $3::text[]) AS g(queue, key) ORDER BY 1) s`;

/**
 * $1 queues, $2 keys, $3 now → the holder of each period key: an unexpired row of unique_keys
 * whose job still exists, that job locked until the transaction ends. Run under the keys' locks.
 */
export const periodHoldersSql = perSchema((names) => `SELECT u.queue, u.key, j.id, j.state
  FROM unnest($1::text[], $2::text[]) AS g(queue, key)
  JOIN ${keys(names)} u ON u.queue = g.queue AND u.key = g.key
  JOIN ${names.jobs} j ON j.id = u.job_id
  WHERE u.expires_at > ${nowSql('$3')}
  ORDER BY j.id
  FOR UPDATE OF j`);

/**
 * $1 now, $2 queues, $3 keys, $4 job ids, $5 periods (ms) → the (queue, key) pairs taken. Run
 * under the keys' locks, for keys found free (no row, an expired row, or a row whose job is gone).
 */
export const takePeriodSql = perSchema((names) => `INSERT INTO ${keys(names)} AS u (queue, key, job_id, expires_at)
  SELECT g.queue, g.key, g.job_id, ${nowSql('$1')} + ${msSql('g.for_ms')}
  FROM unnest($2::text[], $3::text[], $4::text[], $5::float8[]) AS g(queue, key, job_id, for_ms)
  ON CONFLICT (queue, key) DO UPDATE SET job_id = EXCLUDED.job_id, expires_at = EXCLUDED.expires_at
  RETURNING u.queue, u.key`);

/** $1 queues, $2 keys, $3 job ids: gives back period keys taken for jobs that did not go in. */
export const releasePeriodSql = perSchema((names) => `DELETE FROM ${keys(names)} u
  USING unnest($1::text[], $2::text[], $3::text[]) AS g(queue, key, job_id)
  WHERE u.queue = g.queue AND u.key = g.key AND u.job_id = g.job_id`);

/**
 * `onConflict: 'replace'`: $1 now, $2 holder ids, $3 ids of the jobs replacing them, $4 names,
 * $5 payloads, $6 priorities, $7 delays (ms), $8 run times, $9 channel, $10 payload prefix. A
 * holder still `scheduled` or `queued` takes the name, payload, priority and run time (its state
 * follows the new due time, as an insert decides it); event `updated` with `{ replacedBy }`.
 */
export const replaceSql = perSchema(({ jobs }) => `WITH ${clockCte('$1')},
  src AS (
    SELECT i.*, c.now, coalesce(i.run_at, c.now + ${msSql('coalesce(i.delay_ms, 0)')}) AS due
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::float8[], $8::timestamptz[])
      WITH ORDINALITY AS i(holder, by_id, name, payload, priority, delay_ms, run_at, ord)
    CROSS JOIN clock c
  ), out AS (
    UPDATE ${jobs} j SET name = s.name, payload = s.payload, priority = s.priority, run_at = s.due,
      state = CASE WHEN s.due > s.now THEN 'scheduled' ELSE 'queued' END
    FROM src s
    WHERE j.id = s.holder AND j.id = ANY($2::text[]) AND ${recheckStateSql('j.state', ['scheduled', 'queued'])}
    RETURNING j.id, j.state, s.ord, ${jobEventSql({ type: `'updated'`, job: 'j', data: `json_build_object('replacedBy', s.by_id)` })} AS ev
  ), ${notifyCtes('out', '$9', '$10', '(SELECT at FROM clock)')}
  SELECT id, state, ev, (SELECT at FROM clock)::float8 AS at, ${NOTIFIED} AS notified FROM out ORDER BY ord`);

/** $1 ids, $2 scopes, $3 keys, $4 periods: records the mode and key of jobs just inserted. */
export const markSql = perSchema(({ jobs }) => `UPDATE ${jobs} j
  SET unique_scope = m.scope, unique_label = m.key, unique_for_ms = m.for_ms
  FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS m(id, scope, key, for_ms)
  WHERE j.id = m.id AND j.id = ANY($1::text[])`);

/** $1 now, $2 limit → how many expired period keys were deleted (the pruner's pass). */
export const pruneKeysSql = perSchema((names) => `WITH victims AS MATERIALIZED (
    SELECT queue, key FROM ${keys(names)} WHERE expires_at <= ${nowSql('$1')} ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
  ), gone AS (
    DELETE FROM ${keys(names)} u USING victims v
    WHERE u.queue = v.queue AND u.key = v.key AND u.expires_at <= ${nowSql('$1')} RETURNING 1
  )
  SELECT count(*)::int AS n FROM gone`);
