/**
 * Topics on PostgreSQL (core backend/topics.ts), tables of migration 0010: creating and growing
 * topics, their reads and fetching messages. Publishing is topic-publish.ts, retention
 * topic-retention.ts, consumer groups topic-groups.ts.
 *
 * Invariants:
 * - A partition's messages are exactly the offsets [start_offset, next_offset) of its
 *   topic_partitions row. Whatever changes them (publish, prune) holds that row's lock and writes
 *   messages and row in one transaction. Reads are single statements: they see a publish or a
 *   prune entirely or not at all.
 * - growTopic locks the topic row and, in the same transaction, adds the partitions and gives
 *   every group of the topic a new generation with the new partition count, and offset 0 in the
 *   new partitions. Creating a group (topic-groups.ts) holds the topic row FOR SHARE: no group
 *   misses a grow.
 * - An unknown topic is TopicNotFoundError, a partition outside [0, partitions) ValidationError,
 *   a read outside [start_offset, next_offset] OffsetOutOfRangeError.
 */
import {
  OffsetOutOfRangeError,
  TopicNotFoundError,
  ValidationError,
  type CreateTopicParams,
  type CreateTopicResult,
  type FetchParams,
  type FetchResult,
  type GrowTopicParams,
  type StoredMessage,
  type TopicInfo,
} from '@spindle/core';
import type pg from 'pg';
import type { SchemaNames } from './config.js';
import type { Ctx } from './context.js';
import type { Row } from './db.js';
import { perSchema } from './sql.js';

/** A statement runner: the pool (through Db) or a transaction's client. */
export type Query = (text: string, values: unknown[]) => Promise<Row[]>;

export const poolQuery = (ctx: Ctx, operation: string): Query => (text, values) => ctx.db.query(operation, { text, values });
export const clientQuery = (client: pg.ClientBase): Query => async (text, values) => (await client.query(text, values)).rows as Row[];

const topicSelect = (names: SchemaNames, where: string) => `SELECT t.name, t.partitions, t.max_age_ms, t.max_bytes, t.created_at,
    (SELECT json_agg(json_build_array(p.partition, p.start_offset, p.next_offset) ORDER BY p.partition)
       FROM ${names.topicPartitions} p WHERE p.topic = t.name) AS offsets
  FROM ${names.topics} t ${where}`;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toTopic(row: Row): TopicInfo {
  const offsets = (row.offsets as Array<[number, number, number]> | null) ?? [];
  return {
    name: row.name as string,
    partitions: row.partitions as number,
    retention: { maxAgeMs: num(row.max_age_ms), maxBytes: num(row.max_bytes) },
    createdAt: row.created_at as Date,
    offsets: offsets.map(([partition, startOffset, highWater]) => ({ partition, startOffset, highWater })),
  };
}

export async function readTopic(query: Query, names: SchemaNames, name: string): Promise<TopicInfo | null> {
  const rows = await query(topicSelect(names, 'WHERE t.name = $1'), [name]);
  return rows[0] ? toTopic(rows[0]) : null;
}

export function getTopic(ctx: Ctx, name: string): Promise<TopicInfo | null> {
  return readTopic(poolQuery(ctx, 'getTopic'), ctx.names, name);
}

export async function listTopics(ctx: Ctx): Promise<TopicInfo[]> {
  const rows = await ctx.db.query('listTopics', { text: topicSelect(ctx.names, 'ORDER BY t.name') });
  return rows.map(toTopic);
}

/** The topic's partition count; TopicNotFoundError when there is no such topic. */
export async function requireTopic(query: Query, names: SchemaNames, topic: string, lock = ''): Promise<number> {
  const rows = await query(`SELECT t.partitions FROM ${names.topics} t WHERE t.name = $1 ${lock}`, [topic]);
  if (!rows[0]) throw new TopicNotFoundError(topic);
  return rows[0].partitions as number;
}

/** ValidationError for a partition at or beyond the topic's `count`. */
export function partitionRangeError(path: string, partition: number, count: number): ValidationError {
  return new ValidationError([{ path, message: `partition ${partition} does not exist: the topic has ${count} partition${count === 1 ? '' : 's'}` }]);
}

export async function createTopic(ctx: Ctx, params: CreateTopicParams): Promise<CreateTopicResult> {
  const { topics, topicPartitions } = ctx.names;
  const rows = await ctx.db.query('createTopic', {
    text: `WITH t AS (
        INSERT INTO ${topics} (name, partitions, max_age_ms, max_bytes, created_at)
        VALUES ($1, $2, $3, $4, coalesce($5::timestamptz, now()))
        ON CONFLICT (name) DO NOTHING RETURNING name, partitions
      ), p AS (
        INSERT INTO ${topicPartitions} (topic, partition) SELECT t.name, g FROM t, generate_series(0, t.partitions - 1) g
      )
      SELECT count(*)::int AS created FROM t`,
    values: [params.name, params.partitions, params.retention.maxAgeMs, params.retention.maxBytes, params.now ?? null],
  });
  const topic = await getTopic(ctx, params.name);
  if (!topic) throw new TopicNotFoundError(params.name);
  return { created: rows[0]!.created === 1, topic };
}

export async function growTopic(ctx: Ctx, params: GrowTopicParams): Promise<TopicInfo> {
  const { topics, topicPartitions, consumerGroups, groupOffsets } = ctx.names;
  return ctx.db.transaction('growTopic', async (client) => {
    const query = clientQuery(client);
    const current = await requireTopic(query, ctx.names, params.name, 'FOR UPDATE');
    if (params.partitions < current) {
      throw new ValidationError([{ path: 'partitions', message: `must be at least ${current}, the topic's partition count (a topic never shrinks)` }]);
    }
    if (params.partitions > current) {
      await query(
        `WITH t AS (
            UPDATE ${topics} SET partitions = $2 WHERE name = $1
          ), p AS (
            INSERT INTO ${topicPartitions} (topic, partition) SELECT $1, g FROM generate_series($3::int, $2::int - 1) g
          ), g AS (
            UPDATE ${consumerGroups} SET generation = generation + 1, partitions = $2 WHERE topic = $1 RETURNING name
          )
          INSERT INTO ${groupOffsets} (topic, group_name, partition, committed, committed_at)
          SELECT $1, g.name, s, 0, now() FROM g, generate_series($3::int, $2::int - 1) s`,
        [params.name, params.partitions, current],
      );
    }
    return (await readTopic(query, ctx.names, params.name))!;
  });
}

// ---------------------------------------------------------------------------------------------
// Fetch

const fetchSql = perSchema(
  (names) => `SELECT tp.start_offset, tp.next_offset, m."offset", m.key, m.value, m.headers, m.published_at
  FROM ${names.topicPartitions} tp
  LEFT JOIN LATERAL (
    SELECT x."offset", x.key, x.value, x.headers, x.published_at FROM ${names.topicMessages} x
    WHERE x.topic = tp.topic AND x.partition = tp.partition AND x."offset" >= $3
      AND $3 BETWEEN tp.start_offset AND tp.next_offset
    ORDER BY x."offset" LIMIT $4
  ) m ON true
  WHERE tp.topic = $1 AND tp.partition = $2
  ORDER BY m."offset"`,
);

export async function fetchMessages(ctx: Ctx, params: FetchParams): Promise<FetchResult> {
  const { topic, partition, offset } = params;
  const rows = await ctx.db.query('fetchMessages', {
    name: ctx.names.statement('topic_fetch'),
    text: fetchSql(ctx.names),
    values: [topic, partition, offset, params.limit],
  });
  if (!rows[0]) {
    const count = await requireTopic(poolQuery(ctx, 'fetchMessages'), ctx.names, topic);
    throw partitionRangeError('partition', partition, count);
  }
  const startOffset = Number(rows[0].start_offset);
  const highWater = Number(rows[0].next_offset);
  if (offset < startOffset || offset > highWater) throw new OffsetOutOfRangeError(topic, partition, offset, startOffset, highWater);
  const messages = rows
    .filter((r) => r.offset !== null)
    .map(
      (r): StoredMessage => ({
        topic,
        partition,
        offset: Number(r.offset),
        key: r.key as string | null,
        value: JSON.parse(r.value as string),
        headers: r.headers === null ? null : (JSON.parse(r.headers as string) as Record<string, string>),
        publishedAt: r.published_at as Date,
      }),
    );
  return { messages, startOffset, highWater };
}
