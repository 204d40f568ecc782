/**
 * Publishing to topics on PostgreSQL (core backend/topics.ts `publish`), tables of migration
 * 0010: dense offsets in commit order per partition, idempotency keys unique per topic.
 *
 * Invariants:
 * - Offsets come from the partition row only while its lock is held: the `advance` statement
 *   moves next_offset (and bytes, seek_time) with an UPDATE … RETURNING, whose row lock is held
 *   to the commit and whose values are those of the newest committed row version (READ
 *   COMMITTED re-reads a row it waited for), and inserts the messages at the offsets it moved
 *   past, in input order. A rolled-back publish takes no offset; a reader never sees offset n+1
 *   without n (messages and row commit together).
 * - A batch of one partition without idempotency keys is that one statement (its own
 *   transaction). Any other batch is a transaction: (1) with idempotency keys, a
 *   transaction-level advisory lock per distinct key, in ascending lock-key order — a concurrent
 *   publisher of the same key waits until ours commits and then finds the stored message; (2)
 *   the partition rows FOR UPDATE in ascending order, in a statement that also reads the stored
 *   messages of the batch's keys (its snapshot is taken after the key locks, so it sees every
 *   publish of those keys that committed); (3) duplicates — stored, or earlier in the batch —
 *   answered without a row, the rest stored by `advance`. Key locks are always taken before
 *   partition locks and each kind in one order: publishers never deadlock one another, and
 *   prune holds one partition lock at a time.
 * - Wake-ups (ADR 0017): a publish that stored anything has ONE topic event (naming the
 *   partitions written). Its NOTIFY rides in the `advance` statement when the publish is this
 *   instance's only one in flight, else follows the commit, coalesced (topic-notify.ts decides:
 *   overlapping notifying commits would queue on PostgreSQL's notify lock). Either way this
 *   instance's subscribers get it only after the commit (publishLocal, as job events). Only
 *   duplicates: nothing stored, no event, no NOTIFY (`advance` is not run).
 * - Time: published_at is the injected time, else the partition's new seek_time. seek_time =
 *   max(the injected time or clock_timestamp(), the partition's previous seek_time), computed in
 *   the UPDATE's SET and so re-evaluated after a wait for the row: it never decreases along a
 *   partition's offsets (seek-by-time binary-searches it), and without injected times neither
 *   does published_at.
 */
import type { MessageInsert, PublishOutcome, PublishParams, TopicEvent } from '@spindle/core';
import type { Ctx } from './context.js';
import type { Row } from './db.js';
import { topicEventPayload } from './events.js';
import { notifierOf } from './topic-notify.js';
import { NOTIFIED, perSchema } from './sql.js';
import { clientQuery, partitionRangeError, poolQuery, requireTopic, type Query } from './topics.js';

const keyLocksSql = perSchema(
  (names) => `SELECT pg_advisory_xact_lock(${names.topicKeyLockClass}, k.h) FROM (
    SELECT DISTINCT hashtext($1::text || ':' || u.k) AS h FROM unnest($2::text[]) u(k) ORDER BY 1
  ) k`,
);

/** Locks the batch's partition rows (ascending); `stored` (on every row): the stored messages of keys `$3`. */
const lockSql = perSchema(
  (names) => `SELECT p.partition, (SELECT json_agg(json_build_array(m.idempotency_key, m.partition, m."offset"))
      FROM ${names.topicMessages} m WHERE m.topic = $1 AND m.idempotency_key = ANY($3::text[])) AS stored
    FROM ${names.topicPartitions} p
    WHERE p.topic = $1 AND p.partition = ANY($2::int[]) ORDER BY p.partition FOR UPDATE`,
);

/**
 * Moves each partition of the batch (`$3`…`$8`: partition, key, value, headers, idempotency key,
 * bytes, in input order) past its messages and stores them there; when it moved any and `$10`
 * (the topic event's payload) is given, NOTIFYs it on channel `$9`. One row per partition moved:
 * its first new offset. A partition that does not exist moves nothing and stores nothing.
 */
const advanceSql = perSchema(
  (names) => `WITH batch AS MATERIALIZED (
    SELECT u.p, u.k, u.v, u.h, u.i, u.b, row_number() OVER (PARTITION BY u.p ORDER BY u.ord) AS r
    FROM unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[]) WITH ORDINALITY AS u(p, k, v, h, i, b, ord)
  ), moved AS (
    UPDATE ${names.topicPartitions} tp SET next_offset = tp.next_offset + a.n, bytes = tp.bytes + a.bytes,
      seek_time = greatest(coalesce($2::timestamptz, clock_timestamp()), tp.seek_time)
    FROM (SELECT b.p, count(*) AS n, sum(b.b) AS bytes FROM batch b GROUP BY b.p) a
    WHERE tp.topic = $1 AND tp.partition = a.p
    RETURNING tp.partition, tp.next_offset - a.n AS first, tp.seek_time
  ), stored AS (
    INSERT INTO ${names.topicMessages} (topic, partition, "offset", bytes, published_at, seek_time, key, idempotency_key, headers, value)
    SELECT $1, b.p, m.first + b.r - 1, b.b, coalesce($2::timestamptz, m.seek_time), m.seek_time, b.k, b.i, b.h, b.v
    FROM batch b JOIN moved m ON m.partition = b.p
    ORDER BY b.p, b.r
  ), notified AS (
    SELECT pg_notify($9, $10) WHERE $10::text IS NOT NULL AND EXISTS (SELECT 1 FROM moved)
  )
  SELECT m.partition, m.first, ${NOTIFIED} AS notified FROM moved m`,
);

const utf8Bytes = (text: string | null): number => (text === null ? 0 : Buffer.byteLength(text, 'utf8'));

/**
 * Runs `advance` for `messages` (`inline`: with the NOTIFY of its topic event); answers their
 * offsets (input order) and that event, or null when a partition is missing.
 */
async function advance(
  run: (config: { name: string; text: string; values: unknown[] }) => Promise<Row[]>,
  ctx: Ctx,
  params: PublishParams,
  messages: MessageInsert[],
  inline: boolean,
): Promise<{ offsets: number[]; event: TopicEvent } | null> {
  const column = <T>(pick: (m: MessageInsert) => T) => messages.map(pick);
  const partitions = [...new Set(column((m) => m.partition))].sort((a, b) => a - b);
  const event: TopicEvent = { type: 'published', topic: params.topic, partitions, at: params.now?.getTime() ?? Date.now() };
  const rows = await run({
    name: ctx.names.statement('topic_advance'),
    text: advanceSql(ctx.names),
    values: [
      params.topic,
      params.now ?? null,
      column((m) => m.partition),
      column((m) => m.key),
      column((m) => m.value),
      column((m) => m.headers),
      column((m) => m.idempotencyKey),
      column((m) => utf8Bytes(m.key) + utf8Bytes(m.value) + utf8Bytes(m.headers)),
      ctx.names.channel,
      inline ? topicEventPayload(ctx.events.prefix, event) : null,
    ],
  });
  const next = new Map(rows.map((r) => [r.partition as number, Number(r.first)]));
  if (messages.some((m) => !next.has(m.partition))) return null;
  const offsets = messages.map((m) => {
    const offset = next.get(m.partition)!;
    next.set(m.partition, offset + 1);
    return offset;
  });
  return { offsets, event };
}

/** The error of a batch naming a partition that is not `present`: TopicNotFoundError, or ValidationError. */
async function missingPartition(query: Query, ctx: Ctx, params: PublishParams, present: (p: number) => boolean): Promise<Error> {
  const count = await requireTopic(query, ctx.names, params.topic);
  const index = Math.max(0, params.messages.findIndex((m) => !present(m.partition)));
  return partitionRangeError(`messages[${index}].partition`, params.messages[index]!.partition, count);
}

export async function publish(ctx: Ctx, params: PublishParams): Promise<PublishOutcome[]> {
  if (params.messages.length === 0) {
    await requireTopic(poolQuery(ctx, 'publish'), ctx.names, params.topic);
    return [];
  }
  const notifier = notifierOf(ctx);
  const inline = notifier.start();
  let committed: TopicEvent | null = null;
  try {
    const { outcomes, event } = await store(ctx, params, inline);
    committed = event;
    // After COMMIT: this instance's subscribers get the event as they get job events.
    if (event !== null) ctx.events.publishLocal([event]);
    return outcomes;
  } finally {
    notifier.finish(inline ? null : committed);
  }
}

/** Stores a publish (its statement, or its transaction); `event`: null when it stored nothing. */
async function store(ctx: Ctx, params: PublishParams, inline: boolean): Promise<{ outcomes: PublishOutcome[]; event: TopicEvent | null }> {
  const { topic, messages } = params;
  const { names } = ctx;
  const partitions = [...new Set(messages.map((m) => m.partition))].sort((a, b) => a - b);
  const keys = [...new Set(messages.flatMap((m) => (m.idempotencyKey === null ? [] : [m.idempotencyKey])))];
  if (partitions.length === 1 && keys.length === 0) {
    const advanced = await advance((config) => ctx.db.query('publish', config), ctx, params, messages, inline);
    if (advanced === null) throw await missingPartition(poolQuery(ctx, 'publish'), ctx, params, () => false);
    return { outcomes: advanced.offsets.map((offset, i) => ({ partition: messages[i]!.partition, offset, duplicate: false })), event: advanced.event };
  }
  let event: TopicEvent | null = null;
  const outcomes = await ctx.db.transaction('publish', async (client) => {
    if (keys.length > 0) await client.query({ name: names.statement('topic_key_locks'), text: keyLocksSql(names), values: [topic, keys] });
    const { rows } = await client.query({ name: names.statement('topic_lock'), text: lockSql(names), values: [topic, partitions, keys] });
    const locked = new Set(rows.map((r) => r.partition as number));
    if (locked.size < partitions.length) throw await missingPartition(clientQuery(client), ctx, params, (p) => locked.has(p));
    // Each key's message: stored already, or the first of the batch to carry it.
    const stored = new Map<string, { partition: number; offset: number }>();
    for (const [key, partition, offset] of (rows[0]?.stored as Array<[string, number, number]> | null) ?? []) stored.set(key, { partition, offset });
    const firstOfKey = new Map<string, number>();
    const fresh: MessageInsert[] = [];
    const plan = messages.map((m): { stored: { partition: number; offset: number } } | { fresh: number; duplicate: boolean } => {
      const key = m.idempotencyKey;
      const known = key === null ? undefined : stored.get(key);
      if (known) return { stored: known };
      const earlier = key === null ? undefined : firstOfKey.get(key);
      if (earlier !== undefined) return { fresh: earlier, duplicate: true };
      if (key !== null) firstOfKey.set(key, fresh.length);
      fresh.push(m);
      return { fresh: fresh.length - 1, duplicate: false };
    });
    const advanced = fresh.length === 0 ? null : (await advance(async (config) => (await client.query(config)).rows as Row[], ctx, params, fresh, inline))!;
    event = advanced?.event ?? null;
    const offsets = advanced?.offsets ?? [];
    return plan.map((p): PublishOutcome =>
      'stored' in p ? { ...p.stored, duplicate: true } : { partition: fresh[p.fresh]!.partition, offset: offsets[p.fresh]!, duplicate: p.duplicate },
    );
  });
  return { outcomes, event };
}
