/**
 * Topics on SQLite (core backend/topics.ts, docs/decisions/0017-topics.md): the topic, partition
 * and message tables of migration 0009 — defining and growing topics, publishing, reading a
 * partition, seeking a partition by time, and retention. Consumer groups are topic-groups.ts.
 *
 * Invariants:
 * - A partition's messages are exactly the offsets [start_offset, next_offset) of its
 *   spindle_topic_partitions row, and its `bytes` is their byte sum. A publish appends at
 *   next_offset and moves it in its own transaction; retention deletes a prefix from
 *   start_offset and moves it. Every write is BEGIN IMMEDIATE and SQLite has one writer, so
 *   offsets go out in commit order without gaps, across processes too.
 * - A publish that stores at least one message pushes ONE topic event (`published`, its
 *   partitions) into its transaction's events: one outbox row with it (events.ts) commits with the
 *   messages, and local subscribers get it after the commit. All duplicates: no event.
 * - An idempotency key is looked up, inside the publish's transaction, before its message is
 *   stored: a duplicate (also of a message earlier in the same call) takes no offset and answers
 *   the stored message. The partial unique index is the backstop. A key is known as long as its
 *   message is retained.
 * - `seek_time` is max(published_at, seek_time of the partition's previous retained message):
 *   non-decreasing in offset whatever the clock (or an injected `now`) does, so the first offset
 *   published at or after a time is a binary search over offsets (exact when times only grow).
 * - Reads of several statements run in one deferred transaction (`snapshot`): one WAL snapshot,
 *   never a partition's range and its messages from two different moments.
 * - An unknown topic is TopicNotFoundError, a partition outside [0, partitions) ValidationError,
 *   an offset outside [start_offset, next_offset] OffsetOutOfRangeError — raised before anything
 *   is written (a write's transaction rolls back whole).
 * - growTopic also touches topic-groups.ts's tables in its transaction: each consumer group of
 *   the topic gets an offset row per new partition (at 0, the new partition's start and end)
 *   and a new generation, since the assignment depends on the partition count.
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
  type PublishOutcome,
  type PublishParams,
  type StoredMessage,
  type TopicInfo,
  type ValidationIssue,
} from '@spindle/core';
import { nowMs } from './state-sql.js';
import type { Store } from './tx.js';

export interface TopicRow {
  name: string;
  partitions: number;
  retention_max_age_ms: number | null;
  retention_max_bytes: number | null;
  created_at: number;
}

export interface PartitionRow {
  partition: number;
  start_offset: number;
  next_offset: number;
  bytes: number;
}

const TOPIC_COLUMNS = 'name, partitions, retention_max_age_ms, retention_max_bytes, created_at';
const TOPIC = `SELECT ${TOPIC_COLUMNS} FROM spindle_topics WHERE name = ?`;
const TOPICS = `SELECT ${TOPIC_COLUMNS} FROM spindle_topics ORDER BY name`;
const PARTITION_COLUMNS = 'partition, start_offset, next_offset, bytes';
const PARTITIONS = `SELECT ${PARTITION_COLUMNS} FROM spindle_topic_partitions WHERE topic = ? ORDER BY partition`;
const PARTITION = `SELECT ${PARTITION_COLUMNS} FROM spindle_topic_partitions WHERE topic = ? AND partition = ?`;

const readers = new WeakMap<Store, (fn: () => unknown) => unknown>();

/** Runs several reads in one deferred transaction: they all see one snapshot of the database. */
export function snapshot<T>(store: Store, fn: () => T): T {
  let read = readers.get(store);
  if (read === undefined) {
    const tx = store.conn.db.transaction((inner: () => unknown) => inner());
    read = (inner) => tx.deferred(inner);
    readers.set(store, read);
  }
  return read(fn) as T;
}

export function findTopic(store: Store, name: string): TopicRow | undefined {
  return store.conn.stmt(TOPIC).get(name) as TopicRow | undefined;
}

export function requireTopic(store: Store, name: string): TopicRow {
  const row = findTopic(store, name);
  if (row === undefined) throw new TopicNotFoundError(name);
  return row;
}

export function partitionRows(store: Store, topic: string): PartitionRow[] {
  return store.conn.stmt(PARTITIONS).all(topic) as PartitionRow[];
}

export function partitionRow(store: Store, topic: string, partition: number): PartitionRow {
  const row = store.conn.stmt(PARTITION).get(topic, partition) as PartitionRow | undefined;
  // checkPartitions ran first: a missing row is a broken database, not bad input.
  if (row === undefined) throw new Error(`topic ${topic} has no row for partition ${partition}`);
  return row;
}

/** ValidationError naming every partition outside [0, partitions) (`path(i)`: where entry i is). */
export function checkPartitions(topic: TopicRow, partitions: readonly number[], path: (i: number) => string): void {
  const issues: ValidationIssue[] = [];
  partitions.forEach((p, i) => {
    if (!Number.isInteger(p) || p < 0 || p >= topic.partitions) {
      issues.push({ path: path(i), message: `must be a partition of topic "${topic.name}": an integer 0..${topic.partitions - 1} (got ${p})` });
    }
  });
  if (issues.length > 0) throw new ValidationError(issues);
}

function toInfo(store: Store, row: TopicRow): TopicInfo {
  return {
    name: row.name,
    partitions: row.partitions,
    retention: { maxAgeMs: row.retention_max_age_ms, maxBytes: row.retention_max_bytes },
    createdAt: new Date(row.created_at),
    offsets: partitionRows(store, row.name).map((p) => ({ partition: p.partition, startOffset: p.start_offset, highWater: p.next_offset })),
  };
}

export function getTopic(store: Store, name: string): TopicInfo | null {
  return snapshot(store, () => {
    const row = findTopic(store, name);
    return row === undefined ? null : toInfo(store, row);
  });
}

export function listTopics(store: Store): TopicInfo[] {
  return snapshot(store, () => (store.conn.stmt(TOPICS).all() as TopicRow[]).map((row) => toInfo(store, row)));
}

const INSERT_TOPIC = `INSERT INTO spindle_topics (${TOPIC_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`;
const INSERT_PARTITION = 'INSERT INTO spindle_topic_partitions (topic, partition, start_offset, next_offset, bytes) VALUES (?, ?, 0, 0, 0)';

function addPartitions(store: Store, topic: string, from: number, to: number): void {
  const insert = store.conn.stmt(INSERT_PARTITION);
  for (let p = from; p < to; p++) insert.run(topic, p);
}

/** Creates the topic unless it exists; an existing topic is left exactly as it is. */
export function createTopic(store: Store, params: CreateTopicParams): CreateTopicResult {
  return store.write(() => {
    const { name, partitions, retention } = params;
    const { changes } = store.conn.stmt(INSERT_TOPIC).run(name, partitions, retention.maxAgeMs, retention.maxBytes, nowMs(params.now));
    if (changes > 0) addPartitions(store, name, 0, partitions);
    return { created: changes > 0, topic: toInfo(store, requireTopic(store, name)) };
  });
}

const SET_PARTITION_COUNT = 'UPDATE spindle_topics SET partitions = ? WHERE name = ?';
/** Per new partition: an offset row at 0 for every group of the topic (topic-groups.ts's table). */
const GROUP_OFFSETS_FOR = `INSERT INTO spindle_consumer_offsets (topic, group_name, partition, committed, committed_at)
  SELECT topic, name, ?, 0, ? FROM spindle_consumer_groups WHERE topic = ?
  ON CONFLICT (topic, group_name, partition) DO NOTHING`;
const NEW_GENERATIONS = 'UPDATE spindle_consumer_groups SET generation = generation + 1 WHERE topic = ?';

/**
 * More partitions (existing ones keep their messages). Fewer is a ValidationError; the same
 * count changes nothing (a retried grow succeeds). Every group of the topic gets a new generation.
 */
export function growTopic(store: Store, params: GrowTopicParams): TopicInfo {
  return store.write(() => {
    const topic = requireTopic(store, params.name);
    if (params.partitions < topic.partitions) {
      throw new ValidationError([
        { path: 'partitions', message: `a topic never shrinks: "${topic.name}" has ${topic.partitions} partitions (got ${params.partitions})` },
      ]);
    }
    if (params.partitions > topic.partitions) {
      const now = Date.now();
      addPartitions(store, topic.name, topic.partitions, params.partitions);
      store.conn.stmt(SET_PARTITION_COUNT).run(params.partitions, topic.name);
      for (let p = topic.partitions; p < params.partitions; p++) store.conn.stmt(GROUP_OFFSETS_FOR).run(p, now, topic.name);
      store.conn.stmt(NEW_GENERATIONS).run(topic.name);
    }
    return toInfo(store, requireTopic(store, topic.name));
  });
}

const BY_IDEMPOTENCY_KEY = 'SELECT partition, offset FROM spindle_topic_messages WHERE topic = ? AND idempotency_key = ?';
const SEEK_TIME_AT = 'SELECT seek_time FROM spindle_topic_messages WHERE topic = ? AND partition = ? AND offset = ?';
const INSERT_MESSAGE = `INSERT INTO spindle_topic_messages
    (topic, partition, offset, bytes, published_at, seek_time, key, idempotency_key, headers, value)
  VALUES (@topic, @partition, @offset, @bytes, @now, @seekTime, @key, @idempotencyKey, @headers, @value)`;
const ADVANCE = 'UPDATE spindle_topic_partitions SET next_offset = ?, bytes = bytes + ? WHERE topic = ? AND partition = ?';

const utf8Bytes = (text: string | null): number => (text === null ? 0 : Buffer.byteLength(text, 'utf8'));

/** Where a partition's appends stand during one publish (written back once at its end). */
interface Head {
  next: number;
  added: number;
  seekTime: number | null;
}

export function publish(store: Store, params: PublishParams): PublishOutcome[] {
  return store.write((events) => {
    const { conn } = store;
    const topic = requireTopic(store, params.topic);
    checkPartitions(topic, params.messages.map((m) => m.partition), (i) => `messages[${i}].partition`);
    // Read inside the transaction: another process may have held the write lock until now.
    const now = nowMs(params.now);
    const heads = new Map<number, Head>();
    const outcomes: PublishOutcome[] = [];
    for (const m of params.messages) {
      if (m.idempotencyKey !== null) {
        const stored = conn.stmt(BY_IDEMPOTENCY_KEY).get(topic.name, m.idempotencyKey) as { partition: number; offset: number } | undefined;
        if (stored !== undefined) {
          outcomes.push({ partition: stored.partition, offset: stored.offset, duplicate: true });
          continue;
        }
      }
      let head = heads.get(m.partition);
      if (head === undefined) {
        const p = partitionRow(store, topic.name, m.partition);
        const last = p.next_offset > p.start_offset ? (conn.stmt(SEEK_TIME_AT).get(topic.name, m.partition, p.next_offset - 1) as { seek_time: number } | undefined) : undefined;
        head = { next: p.next_offset, added: 0, seekTime: last?.seek_time ?? null };
        heads.set(m.partition, head);
      }
      const bytes = utf8Bytes(m.key) + utf8Bytes(m.value) + utf8Bytes(m.headers);
      const seekTime = head.seekTime === null ? now : Math.max(head.seekTime, now);
      conn.stmt(INSERT_MESSAGE).run({
        topic: topic.name,
        partition: m.partition,
        offset: head.next,
        bytes,
        now,
        seekTime,
        key: m.key,
        idempotencyKey: m.idempotencyKey,
        headers: m.headers,
        value: m.value,
      });
      outcomes.push({ partition: m.partition, offset: head.next, duplicate: false });
      head.next += 1;
      head.added += bytes;
      head.seekTime = seekTime;
    }
    for (const [partition, head] of heads) conn.stmt(ADVANCE).run(head.next, head.added, topic.name, partition);
    // One event for the transaction (not per message), in its outbox row: it exists iff this commits.
    if (heads.size > 0) events.push({ type: 'published', topic: topic.name, partitions: [...heads.keys()].sort((a, b) => a - b), at: now });
    return outcomes;
  });
}

const READ = `SELECT offset, key, value, headers, published_at FROM spindle_topic_messages
  WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?`;

interface MessageRow {
  offset: number;
  key: string | null;
  value: string;
  headers: string | null;
  published_at: number;
}

export function fetchMessages(store: Store, params: FetchParams): FetchResult {
  return snapshot(store, () => {
    const topic = requireTopic(store, params.topic);
    checkPartitions(topic, [params.partition], () => 'partition');
    const p = partitionRow(store, topic.name, params.partition);
    if (params.offset < p.start_offset || params.offset > p.next_offset) {
      throw new OffsetOutOfRangeError(topic.name, p.partition, params.offset, p.start_offset, p.next_offset);
    }
    const rows = store.conn.stmt(READ).all(topic.name, p.partition, params.offset, params.limit) as MessageRow[];
    const messages = rows.map(
      (row): StoredMessage => ({
        topic: topic.name,
        partition: p.partition,
        offset: row.offset,
        key: row.key,
        value: JSON.parse(row.value) as unknown,
        headers: row.headers === null ? null : (JSON.parse(row.headers) as Record<string, string>),
        publishedAt: new Date(row.published_at),
      }),
    );
    return { messages, startOffset: p.start_offset, highWater: p.next_offset };
  });
}

/**
 * The first retained offset of the partition whose seek_time is at or after `at` (the highWater
 * when none): a binary search of primary-key lookups, since seek_time never decreases.
 */
export function firstOffsetAt(store: Store, topic: string, p: PartitionRow, at: number): number {
  const lookup = store.conn.stmt(SEEK_TIME_AT);
  let lo = p.start_offset;
  let hi = p.next_offset;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const row = lookup.get(topic, p.partition, mid) as { seek_time: number } | undefined;
    if (row !== undefined && row.seek_time >= at) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

const RETAINED_TOPICS = `SELECT name, retention_max_age_ms AS maxAgeMs, retention_max_bytes AS maxBytes FROM spindle_topics
  WHERE retention_max_age_ms IS NOT NULL OR retention_max_bytes IS NOT NULL ORDER BY name`;
const OLDEST = `SELECT offset, bytes, published_at FROM spindle_topic_messages
  WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?`;
const DROP_PREFIX = 'DELETE FROM spindle_topic_messages WHERE topic = ? AND partition = ? AND offset >= ? AND offset < ?';
const MOVE_START = 'UPDATE spindle_topic_partitions SET start_offset = ?, bytes = bytes - ? WHERE topic = ? AND partition = ?';

/** Largest page of a partition's oldest messages read at once (pages start at 1 and double). */
const MAX_PAGE = 1024;

/**
 * Retention (leader-only): per topic with a rule, per partition, deletes from the oldest message
 * on while it was published more than maxAgeMs before `now` or the partition holds more than
 * maxBytes, and moves start_offset past them. Only a prefix is ever deleted: the walk stops at
 * the first message that is kept. At most `limit` messages per call.
 */
export function pruneTopics(store: Store, params: { now?: Date; limit: number }): number {
  const now = nowMs(params.now);
  return store.write(() => {
    let left = params.limit;
    const topics = store.conn.stmt(RETAINED_TOPICS).all() as Array<{ name: string; maxAgeMs: number | null; maxBytes: number | null }>;
    for (const t of topics) {
      const cutoff = t.maxAgeMs === null ? null : now - t.maxAgeMs;
      for (const p of partitionRows(store, t.name)) {
        if (left <= 0) return params.limit;
        left -= prunePartition(store, t.name, p, cutoff, t.maxBytes, left);
      }
    }
    return params.limit - left;
  });
}

function prunePartition(store: Store, topic: string, p: PartitionRow, cutoff: number | null, maxBytes: number | null, most: number): number {
  if (p.next_offset === p.start_offset) return 0;
  if (cutoff === null && (maxBytes === null || p.bytes <= maxBytes)) return 0;
  const end = Math.min(p.next_offset, p.start_offset + most);
  let start = p.start_offset;
  let bytes = p.bytes;
  let page = 1;
  walk: while (start < end) {
    const rows = store.conn.stmt(OLDEST).all(topic, p.partition, start, Math.min(page, end - start)) as Array<{ offset: number; bytes: number; published_at: number }>;
    if (rows.length === 0) break;
    for (const row of rows) {
      const tooOld = cutoff !== null && row.published_at < cutoff;
      const tooBig = maxBytes !== null && bytes > maxBytes;
      if (!tooOld && !tooBig) break walk;
      start = row.offset + 1;
      bytes -= row.bytes;
    }
    page = Math.min(page * 2, MAX_PAGE);
  }
  const deleted = start - p.start_offset;
  if (deleted === 0) return 0;
  store.conn.stmt(DROP_PREFIX).run(topic, p.partition, p.start_offset, start);
  store.conn.stmt(MOVE_START).run(start, p.bytes - bytes, topic, p.partition);
  return deleted;
}
