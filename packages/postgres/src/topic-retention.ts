/**
 * Retention of topics on PostgreSQL (core backend/topics.ts `pruneTopics`, the leader's job):
 * deletes each partition's messages older than the topic's max_age and the oldest beyond its
 * max_bytes, and advances the partition's start_offset past them.
 *
 * Invariants:
 * - A prune deletes a prefix of the partition (offsets start_offset … upto − 1) and moves
 *   start_offset to `upto` in the same statement, so the partition's messages stay exactly
 *   [start_offset, next_offset). Both conditions hold for a prefix (published_at grows with the
 *   offset, see topics.ts; the bytes left after a message shrink with its offset); the statement
 *   still cuts at the first message it keeps, whatever comes after.
 * - Each partition is pruned in its own short transaction holding the partition's row lock (the
 *   lock publishers take), so `bytes` stays the exact sum of the retained messages.
 * - At most `limit` messages per call, partitions visited in (topic, partition) order.
 */
import type { Ctx } from './context.js';
import { msSql, nowSql, perSchema } from './sql.js';

/** Partitions with something to delete at `$1`: bytes above the limit, or an oldest message past the age. */
const candidatesSql = perSchema(
  (names) => `WITH c AS (SELECT ${nowSql('$1')} AS now)
  SELECT p.topic, p.partition, CASE WHEN t.max_age_ms IS NOT NULL THEN c.now - ${msSql('t.max_age_ms')} END AS cutoff, t.max_bytes
  FROM ${names.topics} t JOIN ${names.topicPartitions} p ON p.topic = t.name CROSS JOIN c
  WHERE p.start_offset < p.next_offset AND (
    (t.max_bytes IS NOT NULL AND p.bytes > t.max_bytes)
    OR (t.max_age_ms IS NOT NULL AND (SELECT m.published_at FROM ${names.topicMessages} m
          WHERE m.topic = p.topic AND m.partition = p.partition AND m."offset" = p.start_offset) < c.now - ${msSql('t.max_age_ms')}))
  ORDER BY p.topic, p.partition`,
);

const lockSql = perSchema(
  (names) => `SELECT p.start_offset, p.bytes FROM ${names.topicPartitions} p WHERE p.topic = $1 AND p.partition = $2 FOR UPDATE`,
);

/**
 * Under the partition lock: `$3` start_offset, `$4` most messages, `$5` age cutoff (NULL: none),
 * `$6` max bytes (NULL: none), `$7` the partition's bytes. Returns how many were deleted.
 */
const pruneSql = perSchema(
  (names) => `WITH head AS (
    SELECT x."offset", x.published_at, x.bytes, sum(x.bytes) OVER (ORDER BY x."offset") - x.bytes AS before
    FROM (SELECT m."offset", m.bytes, m.published_at FROM ${names.topicMessages} m
          WHERE m.topic = $1 AND m.partition = $2 AND m."offset" >= $3 ORDER BY m."offset" LIMIT $4) x
  ), cut AS (
    SELECT coalesce(
      (SELECT min(h."offset") FROM head h
        WHERE NOT ((h.published_at < $5::timestamptz) IS TRUE OR ($7::bigint - h.before > $6::bigint) IS TRUE)),
      (SELECT max(h."offset") + 1 FROM head h),
      $3) AS upto
  ), gone AS (
    DELETE FROM ${names.topicMessages} m USING cut
    WHERE m.topic = $1 AND m.partition = $2 AND m."offset" >= $3 AND m."offset" < cut.upto
    RETURNING m.bytes
  )
  UPDATE ${names.topicPartitions} tp SET start_offset = cut.upto, bytes = tp.bytes - (SELECT coalesce(sum(g.bytes), 0) FROM gone g)
  FROM cut WHERE tp.topic = $1 AND tp.partition = $2 AND cut.upto > tp.start_offset
  RETURNING (cut.upto - $3)::int AS pruned`,
);

export async function pruneTopics(ctx: Ctx, params: { now?: Date; limit: number }): Promise<number> {
  const { names } = ctx;
  const candidates = await ctx.db.query('pruneTopics', { text: candidatesSql(names), values: [params.now ?? null] });
  let pruned = 0;
  for (const c of candidates) {
    if (pruned >= params.limit) break;
    pruned += await ctx.db.transaction('pruneTopics', async (client) => {
      const locked = (await client.query(lockSql(names), [c.topic, c.partition])).rows[0];
      if (!locked) return 0;
      const { rows } = await client.query(pruneSql(names), [
        c.topic,
        c.partition,
        locked.start_offset,
        params.limit - pruned,
        c.cutoff,
        c.max_bytes,
        locked.bytes,
      ]);
      return (rows[0]?.pruned as number | undefined) ?? 0;
    });
  }
  return pruned;
}
