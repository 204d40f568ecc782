/**
 * `spindle topics create|ls|publish|tail|lag|seek`: the message log (docs/decisions/0017-topics.md)
 * over a database (`--db`) or a server (`--url`).
 *
 * - `publish` sends one message (the value as an argument or `--data`), or with `--ndjson` one
 *   message per non-empty stdin line (each line a JSON value), in batches of PUBLISH_BATCH.
 * - `tail` prints a topic's messages from `--from` (earliest, latest or an offset) up to the
 *   high water at start and exits; with `--follow` it keeps printing new ones until Ctrl-C.
 *   With `--json` it prints one JSON document per message (NDJSON).
 *
 * Invariants:
 * - Arguments are checked before the database is opened or the server contacted (values are
 *   parsed as JSON, headers as k=v, `--to` as a seek target): bad input exits 2, writes nothing.
 * - An unknown topic or group exits 3; an offset out of range exits 2.
 * - Ctrl-C (or SIGTERM) ends `tail --follow` at once: the read in flight (a long-poll of up to
 *   FOLLOW_WAIT_MS) is not waited for, and what it would have printed is dropped.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { MAX_PARTITIONS } from '@spindle/core';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PublishMessage, SeekRequest, SpindleApi, TopicGroupView, TopicMessageView, TopicRequest, TopicView } from '../api/types.js';
import { Context } from '../context.js';
import { EXIT, Exit, notFound, usageError } from '../errors.js';
import { formatAge, formatDuration, snippet, type Output } from '../output.js';
import { checkName, intParser, readPayload } from '../parse.js';

const PUBLISH_BATCH = 1000;
const PAGE = 500;
/** A follow long-polls one partition this long (HTTP) or polls the partitions this often. */
const FOLLOW_WAIT_MS = 5000;
const FOLLOW_POLL_MS = 250;
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const TEN_YEARS_MS = 10 * 365 * 86_400_000;

/** `90s`, `12h`, `7d` or plain milliseconds. */
export function parseMaxAge(value: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  const ms = m ? Number(m[1]) * UNITS[m[2] ?? 'ms']! : NaN;
  if (!Number.isSafeInteger(ms) || ms < 1 || ms > TEN_YEARS_MS) throw new InvalidArgumentError('must be a duration such as 30m, 12h, 7d or milliseconds (up to 10 years)');
  return ms;
}

/** `k=v` (repeatable) into the headers collected so far. */
function parseHeader(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('must be name=value');
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

/** `earliest`, `latest` or an offset. */
function parseFrom(value: string): 'earliest' | 'latest' | number {
  if (value === 'earliest' || value === 'latest') return value;
  if (/^\d+$/.test(value) && Number.isSafeInteger(Number(value))) return Number(value);
  throw new InvalidArgumentError('must be earliest, latest or an offset');
}

/** `earliest`, `latest`, `0:120,3:7` (partition:offset) or an ISO 8601 time with a zone. */
export function parseSeekTarget(value: string): SeekRequest {
  if (value === 'earliest' || value === 'latest') return value;
  if (/^\d+:\d+(,\d+:\d+)*$/.test(value)) {
    const offsets: Record<string, number> = {};
    for (const pair of value.split(',')) {
      const [p, o] = pair.split(':').map(Number) as [number, number];
      if (p >= MAX_PARTITIONS || !Number.isSafeInteger(o)) throw new InvalidArgumentError(`${pair}: partitions are 0..${MAX_PARTITIONS - 1}`);
      offsets[String(p)] = o;
    }
    return { offsets };
  }
  if (/^\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)$/.test(value) && !Number.isNaN(Date.parse(value))) return { time: new Date(value).toISOString() };
  throw new InvalidArgumentError('must be earliest, latest, partition:offset[,…] or an ISO 8601 time with a zone (2026-01-31T09:00:00Z)');
}

function parseJson(text: string, origin: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw usageError(`${origin} is not valid JSON: ${(err as Error).message}`);
  }
}

interface PublishOptions {
  key?: string;
  header?: Record<string, string>;
  data?: string;
  ndjson?: boolean;
  idempotencyKey?: string;
}

/** The messages to publish, read and checked before anything is opened. */
function buildMessages(value: string | undefined, options: PublishOptions): PublishMessage[] {
  if (options.key !== undefined && (options.key.length === 0 || options.key.length > 1024)) throw usageError('--key must be 1 to 1024 characters');
  const common = { ...(options.key !== undefined ? { key: options.key } : {}), ...(options.header ? { headers: options.header } : {}) };
  if (options.ndjson) {
    if (value !== undefined || options.data !== undefined) throw usageError('--ndjson reads the values from stdin: give no value argument or --data');
    if (options.idempotencyKey !== undefined) throw usageError('--idempotency-key names one message: not with --ndjson');
    let text: string;
    try {
      text = readFileSync(0, 'utf8');
    } catch (err) {
      throw usageError(`cannot read stdin: ${(err as Error).message}`);
    }
    const messages = text
      .split('\n')
      .map((line, i) => [line.trim(), i + 1] as const)
      .filter(([line]) => line.length > 0)
      .map(([line, n]) => ({ ...common, value: parseJson(line, `stdin line ${n}`) }));
    if (messages.length === 0) throw usageError('--ndjson: stdin has no lines to publish');
    return messages;
  }
  if (value === undefined && options.data === undefined) throw usageError('give the message value (JSON) as an argument, with --data, or lines on stdin with --ndjson');
  const message: PublishMessage = { ...common, value: readPayload(value, options.data) };
  if (options.idempotencyKey !== undefined) message.idempotencyKey = options.idempotencyKey;
  return [message];
}

async function requireTopic(api: SpindleApi, name: string): Promise<TopicView> {
  const topic = await api.getTopic(name);
  if (!topic) throw notFound(`no topic ${name} (see \`spindle topics ls\`)`);
  return topic;
}

function retentionText(t: TopicView): string {
  const parts = [t.retention.maxAgeMs !== null ? `age ${formatDuration(t.retention.maxAgeMs)}` : null, t.retention.maxBytes !== null ? `${t.retention.maxBytes} B/partition` : null].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'forever';
}

function renderTopics(out: Output, topics: TopicView[]): void {
  if (topics.length === 0) return out.line('no topics (create one with `spindle topics create`)');
  out.table(
    ['NAME', 'PARTITIONS', 'MESSAGES', 'HIGH WATER', 'RETENTION', 'CREATED'],
    topics.map((t) => [
      t.name,
      String(t.partitions),
      String(t.offsets.reduce((n, o) => n + o.highWater - o.startOffset, 0)),
      String(t.offsets.reduce((n, o) => n + o.highWater, 0)),
      retentionText(t),
      formatAge(t.createdAt),
    ]),
  );
}

function renderMessage(out: Output, m: TopicMessageView): void {
  if (out.json) return void process.stdout.write(`${JSON.stringify(m)}\n`);
  const c = out.color;
  const headers = m.headers ? ` ${c.dim(snippet(m.headers, 120))}` : '';
  out.line(`${c.dim(`${m.partition}:${m.offset}`)} ${m.key === null ? c.dim('-') : c.bold(m.key)} ${JSON.stringify(m.value)}${headers}`);
}

function renderLag(out: Output, groups: TopicGroupView[]): void {
  if (groups.length === 0) return out.line('no consumer groups on this topic');
  out.table(
    ['GROUP', 'PARTITION', 'COMMITTED', 'HIGH WATER', 'LAG', 'MEMBER'],
    groups.flatMap((g) =>
      g.offsets.map((o) => [g.group, String(o.partition), String(o.committed), String(o.highWater), String(o.lag), g.members.find((m) => m.partitions.includes(o.partition))?.memberId ?? '-']),
    ),
  );
}

/**
 * The page, or null as soon as `signal` aborts. The SpindleApi read takes no signal, so the
 * request is abandoned rather than cancelled: its late answer or error is ignored, and the
 * process exits without waiting for it (bin.ts).
 */
function unlessAborted<T>(read: Promise<T>, signal: AbortSignal): Promise<T | null> {
  if (signal.aborted) {
    read.catch(() => undefined);
    return Promise.resolve(null);
  }
  return new Promise<T | null>((resolve, reject) => {
    const onAbort = () => resolve(null);
    signal.addEventListener('abort', onAbort, { once: true });
    read.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) resolve(null);
        else reject(err);
      },
    );
  });
}

interface TailOptions {
  partition?: number;
  from?: 'earliest' | 'latest' | number;
  follow?: boolean;
}

/** Prints messages until each partition's start high water (or, following, until Ctrl-C). */
async function tail(ctx: Context, api: SpindleApi, topic: TopicView, options: TailOptions, signal: AbortSignal): Promise<void> {
  if (options.partition !== undefined && options.partition >= topic.partitions) throw usageError(`--partition: ${topic.name} has partitions 0..${topic.partitions - 1}`);
  const from = options.from ?? (options.follow ? 'latest' : 'earliest');
  if (typeof from === 'number' && options.partition === undefined && topic.partitions > 1) throw usageError(`--from <offset> needs --partition: offsets are per partition (${topic.name} has ${topic.partitions})`);
  const cursors = topic.offsets
    .filter((o) => options.partition === undefined || o.partition === options.partition)
    .map((o) => ({ partition: o.partition, next: from === 'earliest' ? o.startOffset : from === 'latest' ? o.highWater : from, end: o.highWater }));
  // An offset outside a partition's range: let the store say so (out of range, exit 2).
  for (const c of cursors) {
    const o = topic.offsets[c.partition]!;
    if (c.next < o.startOffset || c.next > o.highWater) await api.fetchMessages(topic.name, c.partition, c.next, 1);
  }
  const wait = options.follow && cursors.length === 1 ? FOLLOW_WAIT_MS : 0;
  while (!signal.aborted) {
    let got = 0;
    for (const c of cursors) {
      if (!options.follow && c.next >= c.end) continue;
      const page = await unlessAborted(api.fetchMessages(topic.name, c.partition, c.next, PAGE, wait), signal);
      if (page === null) return;
      for (const m of page.messages) {
        if (!options.follow && m.offset >= c.end) break;
        renderMessage(ctx.out, m);
        c.next = m.offset + 1;
        got++;
      }
      if (!options.follow && page.messages.length === 0) c.next = c.end;
      if (signal.aborted) return;
    }
    if (!options.follow && cursors.every((c) => c.next >= c.end)) return;
    if (options.follow && got === 0 && wait === 0) await sleep(FOLLOW_POLL_MS, undefined, { signal }).catch(() => undefined);
  }
}

export function registerTopics(program: Command): void {
  const topics = program.command('topics').description('topics (the message log): create, list, publish, tail, consumer group lag and seek');

  topics
    .command('create')
    .description('create a topic (an existing one is left as it is)')
    .argument('<name>', 'topic name')
    .option('--partitions <n>', `partition count, 1..${MAX_PARTITIONS} (default 1)`, intParser(1, MAX_PARTITIONS))
    .option('--max-age <duration>', 'delete messages older than this: 30m, 12h, 7d or milliseconds', parseMaxAge)
    .option('--max-bytes <n>', 'keep at most this many bytes per partition', intParser(1, 2 ** 50, 'a number of bytes'))
    .action(async (name: string, options: { partitions?: number; maxAge?: number; maxBytes?: number }, command: Command) => {
      const ctx = Context.from(command);
      checkName('topic name', name);
      const request: TopicRequest = {};
      if (options.partitions !== undefined) request.partitions = options.partitions;
      if (options.maxAge !== undefined || options.maxBytes !== undefined) {
        request.retention = { ...(options.maxAge !== undefined ? { maxAgeMs: options.maxAge } : {}), ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}) };
      }
      const { topic, created } = await ctx.withApi((api) => api.createTopic(name, request), { create: true });
      if (ctx.out.json) return ctx.out.printJson({ ...topic, created });
      ctx.out.line(created ? `created topic ${name} with ${topic.partitions} partition(s), retention ${retentionText(topic)}` : `topic ${name} exists (${topic.partitions} partition(s), retention ${retentionText(topic)}): unchanged`);
    });

  topics
    .command('ls')
    .description('every topic: partitions, messages retained, retention')
    .action(async (_options: unknown, command: Command) => {
      const ctx = Context.from(command);
      const list = await ctx.withApi((api) => api.listTopics());
      if (ctx.out.json) return ctx.out.printJson({ topics: list });
      renderTopics(ctx.out, list);
    });

  topics
    .command('publish')
    .description('publish a message (or, with --ndjson, one per stdin line) and print partition:offset')
    .argument('<topic>', 'topic name')
    .argument('[value]', 'the message value as JSON (or use --data)')
    .option('--key <key>', 'message key: messages with one key keep their order (one partition)')
    .option('--header <name=value>', 'a header (repeatable)', parseHeader)
    .option('--data <json|@file>', 'the value: inline JSON, @file.json, or @- for stdin')
    .option('--idempotency-key <key>', 'a retried publish with this key is stored once')
    .option('--ndjson', 'read newline-delimited JSON values from stdin, one message per line')
    .action(async (topic: string, value: string | undefined, options: PublishOptions, command: Command) => {
      const ctx = Context.from(command);
      checkName('topic name', topic);
      const messages = buildMessages(value, options);
      const outcomes = await ctx.withApi(
        async (api) => {
          const all = [];
          for (let i = 0; i < messages.length; i += PUBLISH_BATCH) all.push(...(await api.publish(topic, messages.slice(i, i + PUBLISH_BATCH))));
          return all;
        },
        { create: true },
      );
      if (ctx.out.json) return ctx.out.printJson({ messages: outcomes });
      for (const o of outcomes) ctx.out.line(`${o.partition}:${o.offset}${o.duplicate ? ' (duplicate: already stored)' : ''}`);
    });

  topics
    .command('tail')
    .description('print messages up to now (--follow: and new ones until Ctrl-C); --json prints one JSON line per message')
    .argument('<topic>', 'topic name')
    .option('--partition <p>', 'only this partition (default every partition)', intParser(0, MAX_PARTITIONS - 1))
    .option('--from <where>', 'earliest, latest or an offset (default earliest; latest with --follow)', parseFrom)
    .option('--follow', 'keep printing new messages')
    .action(async (topic: string, options: TailOptions, command: Command) => {
      const ctx = Context.from(command);
      checkName('topic name', topic);
      const controller = new AbortController();
      let interrupted = false;
      const onSignal = () => {
        interrupted = true;
        controller.abort();
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await ctx.withApi(async (api) => tail(ctx, api, await requireTopic(api, topic), options, controller.signal));
      } catch (err) {
        if (!interrupted) throw err;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      if (interrupted && !options.follow) throw new Exit(EXIT.interrupted);
    });

  topics
    .command('lag')
    .description("consumer groups' committed offsets and lag per partition (one group, or every group)")
    .argument('<topic>', 'topic name')
    .argument('[group]', 'consumer group')
    .action(async (topic: string, group: string | undefined, _options: unknown, command: Command) => {
      const ctx = Context.from(command);
      checkName('topic name', topic);
      if (group !== undefined) checkName('group name', group);
      const groups = await ctx.withApi(async (api) => {
        await requireTopic(api, topic);
        if (group === undefined) return api.listTopicGroups(topic);
        const found = await api.getTopicGroup(topic, group);
        if (!found) throw notFound(`no group ${group} on topic ${topic}`);
        return [found];
      });
      if (ctx.out.json) return ctx.out.printJson({ groups });
      renderLag(ctx.out, groups);
    });

  topics
    .command('seek')
    .description("move a consumer group: its members re-read from the new offsets")
    .argument('<topic>', 'topic name')
    .argument('<group>', 'consumer group')
    .requiredOption('--to <target>', 'earliest, latest, partition:offset[,…] or an ISO 8601 time (the first message at or after it)', parseSeekTarget)
    .action(async (topic: string, group: string, options: { to: SeekRequest }, command: Command) => {
      const ctx = Context.from(command);
      checkName('topic name', topic);
      checkName('group name', group);
      const moved = await ctx.withApi(async (api) => {
        await requireTopic(api, topic);
        if (!(await api.getTopicGroup(topic, group))) throw notFound(`no group ${group} on topic ${topic}`);
        return api.seekTopicGroup(topic, group, options.to);
      });
      if (ctx.out.json) return ctx.out.printJson(moved);
      ctx.out.line(`moved group ${group} of ${topic} (generation ${moved.generation}): ${moved.offsets.map((o) => `${o.partition}:${o.committed}`).join(' ')}; lag ${moved.lag}`);
    });
}
