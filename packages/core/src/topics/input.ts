/**
 * Topic input as callers write it, its validation, and the partition a message goes to
 * (docs/decisions/0017-topics.md). Everything here is pure: a bad input is a ValidationError
 * naming every offending field, raised before anything is written.
 *
 * Partitioning: a keyed message goes to `fnv1a32(utf8(key)) mod partitions` — stable across
 * processes, machines and languages (FNV-1a is a few lines anywhere), so one key's messages stay
 * in one partition and keep their order. Growing a topic moves keys (the modulus changes): order
 * per key holds within each partition count. A message without a key goes round-robin, per
 * topic, per process.
 */
import type { MessageInsert, SeekTarget, TopicRetention } from '../backend/topics.js';
import { checkDate, checkIdentifier, checkInt, checkKnownKeys, checkPlainObject, describe, Issues, serializeJson } from '../validate.js';

export const MAX_PARTITIONS = 1024;
export const MAX_KEY_CHARS = 1024;
export const MAX_IDEMPOTENCY_KEY_CHARS = 512;
export const MAX_HEADERS = 64;
export const MAX_HEADER_CHARS = 4096;
export const MAX_PUBLISH_BATCH = 10_000;
export const MAX_FETCH = 10_000;
const MAX_RETENTION_MS = 10 * 365 * 86_400_000;
const MAX_RETENTION_BYTES = 2 ** 50;

export interface TopicOptions {
  /** 1..1024 (default 1). */
  partitions?: number;
  retention?: { maxAgeMs?: number | null; maxBytes?: number | null };
}

/** A message as a producer writes it. */
export interface PublishInput<V = unknown> {
  /** Messages with one key keep their order (one partition). */
  key?: string;
  value: V;
  headers?: Record<string, string>;
  /** A publish retried with the same key is stored once (per topic). */
  idempotencyKey?: string;
}

export function checkTopicName(issues: Issues, path: string, name: unknown): name is string {
  return checkIdentifier(issues, path, name);
}

export function checkTopicOptions(name: unknown, options: unknown): { name: string; partitions: number; retention: TopicRetention } {
  const issues = new Issues();
  checkTopicName(issues, 'name', name);
  const o = options === undefined ? {} : checkPlainObject(issues, 'options', options) ? options : {};
  checkKnownKeys(issues, 'options', o, ['partitions', 'retention']);
  const partitions = o.partitions === undefined ? 1 : o.partitions;
  checkInt(issues, 'options.partitions', partitions, 1, MAX_PARTITIONS);
  const retention: TopicRetention = { maxAgeMs: null, maxBytes: null };
  if (o.retention !== undefined && checkPlainObject(issues, 'options.retention', o.retention)) {
    const r = o.retention as Record<string, unknown>;
    checkKnownKeys(issues, 'options.retention', r, ['maxAgeMs', 'maxBytes']);
    if (r.maxAgeMs != null && checkInt(issues, 'options.retention.maxAgeMs', r.maxAgeMs, 1, MAX_RETENTION_MS)) retention.maxAgeMs = r.maxAgeMs;
    if (r.maxBytes != null && checkInt(issues, 'options.retention.maxBytes', r.maxBytes, 1, MAX_RETENTION_BYTES)) retention.maxBytes = r.maxBytes;
  }
  issues.throwIfAny();
  return { name: name as string, partitions: partitions as number, retention };
}

/** FNV-1a, 32 bits, over the UTF-8 bytes of `key`. */
export function fnv1a32(key: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export const partitionOfKey = (key: string, partitions: number): number => fnv1a32(key) % partitions;

/**
 * Validates a batch and turns it into MessageInserts. `nextPartition` gives the round-robin
 * partition of a message without a key (called only for valid ones).
 */
export function buildMessages(
  messages: unknown,
  partitions: number,
  maxValueBytes: number,
  nextPartition: () => number,
): MessageInsert[] {
  const issues = new Issues();
  if (!Array.isArray(messages) || messages.length === 0 || messages.length > MAX_PUBLISH_BATCH) {
    issues.add('messages', `must be an array of 1..${MAX_PUBLISH_BATCH} messages (got ${describe(messages)})`);
    issues.throwIfAny();
  }
  const out: MessageInsert[] = [];
  (messages as unknown[]).forEach((raw, i) => {
    const at = `messages[${i}]`;
    if (!checkPlainObject(issues, at, raw)) return;
    const m = raw as Record<string, unknown>;
    checkKnownKeys(issues, at, m, ['key', 'value', 'headers', 'idempotencyKey']);
    const before = issues.list.length;
    if (m.key !== undefined && (typeof m.key !== 'string' || m.key.length === 0 || m.key.length > MAX_KEY_CHARS)) {
      issues.add(`${at}.key`, `must be a string of 1..${MAX_KEY_CHARS} characters (got ${describe(m.key)})`);
    }
    if (m.idempotencyKey !== undefined && (typeof m.idempotencyKey !== 'string' || m.idempotencyKey.length === 0 || m.idempotencyKey.length > MAX_IDEMPOTENCY_KEY_CHARS)) {
      issues.add(`${at}.idempotencyKey`, `must be a string of 1..${MAX_IDEMPOTENCY_KEY_CHARS} characters (got ${describe(m.idempotencyKey)})`);
    }
    if (!('value' in m) || m.value === undefined) issues.add(`${at}.value`, 'is required (any JSON value; null is fine)');
    const value = 'value' in m && m.value !== undefined ? serializeJson(issues, `${at}.value`, m.value, maxValueBytes) : null;
    let headers: string | null = null;
    if (m.headers !== undefined && checkPlainObject(issues, `${at}.headers`, m.headers)) {
      const entries = Object.entries(m.headers as Record<string, unknown>);
      if (entries.length > MAX_HEADERS) issues.add(`${at}.headers`, `at most ${MAX_HEADERS} headers (got ${entries.length})`);
      for (const [k, v] of entries) {
        if (k.length === 0 || k.length > 256) issues.add(`${at}.headers`, `header names are 1..256 characters (got ${describe(k)})`);
        if (typeof v !== 'string' || v.length > MAX_HEADER_CHARS) issues.add(`${at}.headers.${k}`, `must be a string of at most ${MAX_HEADER_CHARS} characters`);
      }
      headers = JSON.stringify(m.headers);
    }
    if (issues.list.length > before || value === null) return;
    const key = (m.key as string | undefined) ?? null;
    out.push({
      partition: key === null ? -1 : partitionOfKey(key, partitions),
      key,
      value,
      headers,
      idempotencyKey: (m.idempotencyKey as string | undefined) ?? null,
    });
  });
  issues.throwIfAny();
  for (const m of out) if (m.partition === -1) m.partition = nextPartition();
  return out;
}

export function checkFetch(topic: unknown, partition: unknown, offset: unknown, limit: unknown): void {
  const issues = new Issues();
  checkTopicName(issues, 'topic', topic);
  checkInt(issues, 'partition', partition, 0, MAX_PARTITIONS - 1);
  checkInt(issues, 'offset', offset, 0, Number.MAX_SAFE_INTEGER);
  checkInt(issues, 'limit', limit, 1, MAX_FETCH);
  issues.throwIfAny();
}

/**
 * `consumer.commitOffsets([{ partition, offset }])`: 1..MAX_PARTITIONS entries, each a partition
 * (once) and the next offset the group reads there.
 */
export function checkCommitOffsets(offsets: unknown): Array<{ partition: number; offset: number }> {
  const issues = new Issues();
  const out: Array<{ partition: number; offset: number }> = [];
  if (!Array.isArray(offsets) || offsets.length === 0 || offsets.length > MAX_PARTITIONS) {
    issues.add('offsets', `must be an array of 1..${MAX_PARTITIONS} { partition, offset } (got ${describe(offsets)})`);
    issues.throwIfAny();
  }
  const seen = new Set<number>();
  (offsets as unknown[]).forEach((raw, i) => {
    const at = `offsets[${i}]`;
    if (!checkPlainObject(issues, at, raw)) return;
    checkKnownKeys(issues, at, raw, ['partition', 'offset']);
    const okPartition = checkInt(issues, `${at}.partition`, raw.partition, 0, MAX_PARTITIONS - 1);
    const okOffset = checkInt(issues, `${at}.offset`, raw.offset, 0, Number.MAX_SAFE_INTEGER);
    if (okPartition && seen.has(raw.partition as number)) issues.add(`${at}.partition`, `partition ${String(raw.partition)} is given twice`);
    if (okPartition && okOffset) {
      seen.add(raw.partition as number);
      out.push({ partition: raw.partition as number, offset: raw.offset as number });
    }
  });
  issues.throwIfAny();
  return out;
}

export function checkGroupName(issues: Issues, path: string, group: unknown): group is string {
  return checkIdentifier(issues, path, group);
}

/** `'earliest' | 'latest' | { offsets: {partition: offset} } | { time: Date | ISO string }` → SeekTarget. */
export function checkSeek(topic: unknown, group: unknown, to: unknown): { topic: string; group: string; to: SeekTarget } {
  const issues = new Issues();
  checkTopicName(issues, 'topic', topic);
  checkGroupName(issues, 'group', group);
  let target: SeekTarget | null = null;
  if (to === 'earliest' || to === 'latest') target = { kind: to };
  else if (checkPlainObject(issues, 'to', to)) {
    const t = to as Record<string, unknown>;
    checkKnownKeys(issues, 'to', t, ['offsets', 'time']);
    if ((t.offsets === undefined) === (t.time === undefined)) issues.add('to', "give 'earliest', 'latest', { offsets } or { time }");
    else if (t.time !== undefined) {
      const at = checkDate(issues, 'to.time', t.time);
      if (at) target = { kind: 'time', at };
    } else if (checkPlainObject(issues, 'to.offsets', t.offsets)) {
      const offsets: Array<{ partition: number; offset: number }> = [];
      for (const [p, off] of Object.entries(t.offsets as Record<string, unknown>)) {
        const partition = Number(p);
        if (checkInt(issues, `to.offsets.${p}`, partition, 0, MAX_PARTITIONS - 1) && checkInt(issues, `to.offsets.${p}`, off, 0, Number.MAX_SAFE_INTEGER)) {
          offsets.push({ partition, offset: off });
        }
      }
      target = { kind: 'offsets', offsets };
    }
  }
  issues.throwIfAny();
  return { topic: topic as string, group: group as string, to: target! };
}
