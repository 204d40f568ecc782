/**
 * Topic routes (docs/decisions/0017-topics.md): create, list, read and grow topics; publish
 * messages; read a partition from an offset (optionally long-polling for the next message); and
 * an SSE stream of a topic's messages. Consumer groups are in topic-groups.ts.
 *
 * Invariants:
 * - Access follows the topic name, matched against the keys' scopes like a queue name: reading
 *   the topic needs `read`, reading messages `read-payload`, publishing `enqueue`, creating and
 *   growing `admin`. A key without the right on that name gets 404 like an unknown topic.
 * - Bad input is a 400 (zod shape here, the core's checks in `client.topics`) and writes nothing;
 *   an unknown topic is 404; an offset outside [startOffset, highWater] is 416 with both numbers.
 * - A long-poll (`waitMs`) only waits while nothing is at `offset`; it wakes on a publish through
 *   this server's client at once and polls every POLL_MS for publishes of other processes. It
 *   ends early when the request is closed or the server stops; its answer may be empty.
 */
import type { Client, FetchResult } from '@spindle/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { authorize } from '../auth/guard.js';
import { ApiProblem } from '../http/problem.js';
import { NameSchema, PROBLEM_RESPONSES, Problem } from '../http/schemas.js';
import { messageView, topicView } from '../http/views.js';
import { topicStreamRoute } from './topic-stream.js';

/** Longest long-poll of `GET …/messages?waitMs=`. */
export const MAX_FETCH_WAIT_MS = 30_000;
/** How often a long-poll re-reads for messages published by other processes. */
export const POLL_MS = 100;
const MAX_PARTITION = 1023;

export const TopicParams = z.strictObject({ topic: NameSchema });
const PartitionParams = z.strictObject({ topic: NameSchema, partition: z.coerce.number().int().min(0).max(MAX_PARTITION) });

const RetentionSchema = z.strictObject({
  maxAgeMs: z.int().min(1).nullable().optional().describe('Delete messages older than this; null or omitted: no age limit.'),
  maxBytes: z.int().min(1).nullable().optional().describe('Keep at most this many bytes per partition (key + value + headers); null or omitted: no limit.'),
});

const CreateBody = z.strictObject({
  name: NameSchema.describe('The topic name.'),
  partitions: z.int().min(1).max(MAX_PARTITION + 1).optional().describe('Partition count, default 1 (grow it later with POST /topics/:topic/grow).'),
  retention: RetentionSchema.optional(),
});

export const TopicView = z.object({
  name: z.string(),
  partitions: z.int(),
  retention: z.object({ maxAgeMs: z.int().nullable(), maxBytes: z.int().nullable() }),
  createdAt: z.string(),
  offsets: z.array(z.object({ partition: z.int(), startOffset: z.int().describe('The oldest offset retained.'), highWater: z.int().describe('The next offset to be assigned.') })),
});

export const MessageView = z.object({
  topic: z.string(),
  partition: z.int(),
  offset: z.int(),
  key: z.string().nullable(),
  value: z.unknown(),
  headers: z.record(z.string(), z.string()).nullable(),
  publishedAt: z.string(),
});

const MessageInput = z.strictObject({
  key: z.string().min(1).max(1024).optional().describe('Messages with one key go to one partition and keep their order.'),
  value: z.unknown().describe('Any JSON value (null is fine); required.'),
  headers: z.record(z.string(), z.string()).optional().describe('Up to 64 string headers.'),
  idempotencyKey: z.string().min(1).max(512).optional().describe('A publish repeated with this key (per topic) stores nothing and answers the stored message.'),
});

const PublishBody = z.strictObject({ messages: z.array(MessageInput).min(1).max(10_000) });

const FetchQuery = z.strictObject({
  offset: z.coerce.number().int().min(0).optional().describe("First offset to read; default the partition's startOffset."),
  limit: z.coerce.number().int().min(1).max(10_000).optional().describe('Most messages to answer, default 100.'),
  waitMs: z.coerce.number().int().min(0).max(MAX_FETCH_WAIT_MS).optional().describe('Long-poll: when nothing is at offset yet, wait up to this long for a message; default 0.'),
});

const OutOfRange = Problem.extend({ startOffset: z.int().optional(), highWater: z.int().optional() }).describe('offset_out_of_range: the available offsets are startOffset..highWater.');

/** The topic or a 404. */
export async function loadTopic(client: Client, name: string) {
  const topic = await client.topics.get(name);
  if (!topic) throw new ApiProblem(404, 'not_found', `No topic ${name}.`);
  return topic;
}

/**
 * Fetches from `offset`; while nothing is there, waits (a local publish or POLL_MS) until
 * `waitMs` has passed, the request is closed or the server stops.
 */
async function longFetch(ctx: RouteContext, close: AbortSignal, topic: string, partition: number, offset: number, limit: number, waitMs: number): Promise<FetchResult> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const result = await ctx.client.topics.fetch(topic, partition, offset, limit);
    const left = deadline - Date.now();
    if (result.messages.length > 0 || left <= 0 || close.aborted) return result;
    await new Promise<void>((resolve) => {
      const event = `published:${topic}`;
      const done = () => {
        clearTimeout(timer);
        ctx.client.topics.local.off(event, done);
        close.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(left, POLL_MS));
      ctx.client.topics.local.on(event, done);
      close.addEventListener('abort', done, { once: true });
    });
  }
}

export function topicRoutes(ctx: RouteContext): FastifyPluginAsyncZod {
  const { client } = ctx;
  return async (app) => {
    app.get(
      '/topics',
      {
        config: { access: { action: 'read', queue: 'all' } },
        schema: { tags: ['topics'], summary: 'Every topic with its partitions and their offsets', response: { 200: z.object({ topics: z.array(TopicView) }) } },
      },
      async () => ({ topics: (await client.topics.list()).map(topicView) }),
    );

    app.post(
      '/topics',
      {
        config: { access: { action: 'admin', queue: 'any' } },
        schema: {
          tags: ['topics'],
          summary: 'Create a topic (201 created; 200 when it exists: it is left as it is)',
          body: CreateBody,
          response: { 201: TopicView, 200: TopicView, ...PROBLEM_RESPONSES },
        },
      },
      async (request, reply) => {
        const { name, partitions, retention } = request.body;
        authorize(request.grant, 'admin', name);
        const { created, topic } = await client.topics.create(name, { ...(partitions === undefined ? {} : { partitions }), ...(retention ? { retention } : {}) });
        return reply.code(created ? 201 : 200).send(topicView(topic));
      },
    );

    app.get(
      '/topics/:topic',
      {
        config: { access: { action: 'read', queue: 'topic' } },
        schema: { tags: ['topics'], summary: "One topic with each partition's startOffset and highWater", params: TopicParams, response: { 200: TopicView, ...PROBLEM_RESPONSES } },
      },
      async (request) => topicView(await loadTopic(client, request.params.topic)),
    );

    app.post(
      '/topics/:topic/grow',
      {
        config: { access: { action: 'admin', queue: 'topic' } },
        schema: {
          tags: ['topics'],
          summary: 'Grow a topic to more partitions (never fewer); keys move to the new modulus',
          params: TopicParams,
          body: z.strictObject({ partitions: z.int().min(2).max(MAX_PARTITION + 1).describe('The new partition count, above the current one.') }),
          response: { 200: TopicView, ...PROBLEM_RESPONSES },
        },
      },
      async (request) => topicView(await client.topics.grow(request.params.topic, request.body.partitions)),
    );

    app.post(
      '/topics/:topic/messages',
      {
        config: { access: { action: 'enqueue', queue: 'topic' } },
        schema: {
          tags: ['topics'],
          summary: 'Publish messages (one transaction: all are stored or none); partition by key hash, else round-robin',
          params: TopicParams,
          body: PublishBody,
          response: {
            201: z.object({ messages: z.array(z.object({ partition: z.int(), offset: z.int(), duplicate: z.boolean().describe('The idempotency key was stored before: this names the stored message.') })) }),
            ...PROBLEM_RESPONSES,
          },
        },
      },
      async (request, reply) => {
        const outcomes = await client.topics.publishBatch(request.params.topic, request.body.messages);
        return reply.code(201).send({ messages: outcomes });
      },
    );

    app.get(
      '/topics/:topic/partitions/:partition/messages',
      {
        config: { access: { action: 'read-payload', queue: 'topic' } },
        schema: {
          tags: ['topics'],
          summary: 'Read a partition from an offset (without a group); waitMs long-polls for the next message',
          params: PartitionParams,
          querystring: FetchQuery,
          response: {
            200: z.object({ messages: z.array(MessageView), startOffset: z.int(), highWater: z.int() }),
            416: OutOfRange,
            ...PROBLEM_RESPONSES,
          },
        },
      },
      async (request, reply) => {
        const { topic, partition } = request.params;
        const { limit = 100, waitMs = 0 } = request.query;
        let offset = request.query.offset;
        if (offset === undefined) {
          const info = await loadTopic(client, topic);
          const p = info.offsets.find((o) => o.partition === partition);
          if (!p) throw new ApiProblem(400, 'validation_failed', `partition: ${topic} has partitions 0..${info.partitions - 1} (got ${partition})`);
          offset = p.startOffset;
        }
        const gone = new AbortController();
        const abort = () => gone.abort();
        // The response's close: the client went away (the request's own close fires once it is read).
        reply.raw.once('close', abort);
        ctx.streams.add(abort);
        try {
          const result = await longFetch(ctx, gone.signal, topic, partition, offset, limit, waitMs);
          return { messages: result.messages.map(messageView), startOffset: result.startOffset, highWater: result.highWater };
        } finally {
          reply.raw.off('close', abort);
          ctx.streams.delete(abort);
        }
      },
    );

    await app.register(topicStreamRoute(ctx));
  };
}
