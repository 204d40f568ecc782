/**
 * `GET /topics/:topic/stream?partition=&offset=`: a topic's messages over Server-Sent Events,
 * `event: message` with the message as JSON data and `id: <partition>:<offset>`.
 *
 * Invariants:
 * - Without `offset` each partition starts at its highWater when the stream opens (new messages
 *   only); with it, at that offset (clamped up to the partition's startOffset, so retention
 *   cannot make the stream fail). Without `partition`, every partition of the topic at open.
 * - Per partition messages come in offset order, none skipped. A partition's loop reads until it
 *   is caught up, then waits for a local publish or POLL_MS (publishes of other processes).
 * - A slow reader is not buffered without bound: a loop waits for the socket to drain once over
 *   MAX_UNSENT_BYTES. A comment line every `heartbeatMs` keeps proxies from closing the stream.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { ApiProblem } from '../http/problem.js';
import { NameSchema, PROBLEM_RESPONSES } from '../http/schemas.js';
import { messageView } from '../http/views.js';
import { loadTopic, POLL_MS } from './topics.js';

const MAX_UNSENT_BYTES = 1024 * 1024;
const BATCH = 500;

export function topicStreamRoute(ctx: RouteContext): FastifyPluginAsyncZod {
  const { client } = ctx;
  return async (app) => {
    app.get(
      '/topics/:topic/stream',
      {
        config: { access: { action: 'read-payload', queue: 'topic' } },
        schema: {
          tags: ['topics', 'push'],
          summary: "A topic's messages over SSE (event: message), from offset or from each partition's highWater",
          params: z.strictObject({ topic: NameSchema }),
          querystring: z.strictObject({
            partition: z.coerce.number().int().min(0).max(1023).optional().describe('Only this partition; default every partition.'),
            offset: z.coerce.number().int().min(0).optional().describe("Start offset (each streamed partition's); default its highWater (new messages only)."),
          }),
          response: { 200: z.string().describe('text/event-stream'), ...PROBLEM_RESPONSES },
        },
      },
      async (request, reply) => {
        const { topic } = request.params;
        const info = await loadTopic(client, topic);
        const { partition, offset } = request.query;
        if (partition !== undefined && partition >= info.partitions) {
          throw new ApiProblem(400, 'validation_failed', `partition: ${topic} has partitions 0..${info.partitions - 1} (got ${partition})`);
        }
        const starts = info.offsets
          .filter((p) => partition === undefined || p.partition === partition)
          .map((p) => ({ partition: p.partition, next: offset === undefined ? p.highWater : Math.min(Math.max(offset, p.startOffset), p.highWater) }));

        reply.hijack();
        const raw = reply.raw;
        raw.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        const gone = new AbortController();
        const wake = new Set<() => void>();
        const onPublish = () => {
          for (const w of [...wake]) w();
        };
        const event = `published:${topic}`;
        client.topics.local.on(event, onPublish);
        const heartbeat = setInterval(() => raw.write(': ping\n\n'), ctx.options.heartbeatMs);
        const close = () => {
          if (gone.signal.aborted) return;
          gone.abort();
          clearInterval(heartbeat);
          client.topics.local.off(event, onPublish);
          onPublish();
          ctx.streams.delete(close);
          raw.end();
        };
        ctx.streams.add(close);
        raw.once('close', close);
        raw.write('retry: 2000\n\n');

        const idle = (ms: number) =>
          new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              wake.delete(done);
              resolve();
            };
            const timer = setTimeout(done, ms);
            wake.add(done);
          });
        const drained = () => new Promise<void>((resolve) => {
          const done = () => {
            raw.off('drain', done);
            gone.signal.removeEventListener('abort', done);
            resolve();
          };
          raw.once('drain', done);
          gone.signal.addEventListener('abort', done, { once: true });
        });

        const follow = async (p: { partition: number; next: number }) => {
          while (!gone.signal.aborted) {
            let result;
            try {
              result = await client.topics.fetch(topic, p.partition, p.next, BATCH);
            } catch (err) {
              // Retention moved the start past us: skip ahead, as a consumer does.
              if ((err as { code?: string }).code === 'offset_out_of_range') {
                const { startOffset } = err as { startOffset: number };
                if (startOffset > p.next) {
                  p.next = startOffset;
                  continue;
                }
              }
              request.log.warn({ err, topic, partition: p.partition }, 'spindle: topic stream read failed');
              await idle(1000);
              continue;
            }
            if (gone.signal.aborted) return;
            for (const m of result.messages) raw.write(`id: ${m.partition}:${m.offset}\nevent: message\ndata: ${JSON.stringify(messageView(m))}\n\n`);
            if (result.messages.length > 0) p.next = result.messages.at(-1)!.offset + 1;
            if (raw.writableLength > MAX_UNSENT_BYTES) await drained();
            else if (result.messages.length < BATCH) await idle(POLL_MS);
          }
        };
        void Promise.all(starts.map(follow)).finally(close);
      },
    );
  };
}
